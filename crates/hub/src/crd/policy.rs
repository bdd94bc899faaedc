//! `FleetPolicy` (namespaced): the policy FleetCommands of its namespace are checked against
//! (muster's policy schema), plus which clusters that namespace may target at all. A
//! namespace without one gets the hub's default policy.
// NB: kube's `printcolumn(...)` repeats `type_ =` per column; clippy reads that as duplicates.
#![allow(clippy::duplicated_attributes)]

use kube::CustomResource;
use muster_core::policy::{Policy, PolicyError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::command::ClusterSelection;

/// A namespace boundary rule: for the clusters it matches, the namespaces allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clusters: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    pub allow: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecRule {
    pub command: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecPolicy {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<ExecRule>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Caps {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tail_lines: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_timeout_seconds: Option<u64>,
}

/// The policy of one namespace's FleetCommands.
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "muster.dev",
    version = "v1alpha1",
    kind = "FleetPolicy",
    namespaced,
    shortname = "fpol",
    category = "muster",
    printcolumn(name = "Actions", type_ = "string", json_path = ".spec.actions"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct FleetPolicySpec {
    /// The clusters this namespace may target (none listed: every cluster). Others are
    /// `Rejected`, nothing sent.
    #[serde(default)]
    pub clusters: ClusterSelection,
    /// Allowed actions (default: all but exec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<super::command::ActionName>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<NamespaceRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protected_namespaces: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_scoped_kinds: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caps: Option<Caps>,
}

impl FleetPolicySpec {
    /// The policy the checks run (defaults filled in as a policy file's are); `origin`
    /// names it in errors.
    ///
    /// # Errors
    /// [`PolicyError`] for a rule that does not parse.
    pub fn to_policy(&self, origin: &str) -> Result<Policy, PolicyError> {
        let mut v = serde_json::to_value(self).map_err(|e| PolicyError {
            path: origin.to_string(),
            message: e.to_string(),
        })?;
        if let Some(m) = v.as_object_mut() {
            m.remove("clusters");
            if let Some(caps) = m.get_mut("caps").and_then(serde_json::Value::as_object_mut) {
                let defaults = muster_core::policy::Caps::default();
                caps.entry("maxTailLines").or_insert(defaults.max_tail_lines.into());
                caps.entry("maxOutputBytes").or_insert(defaults.max_output_bytes.into());
                caps.entry("maxTimeoutSeconds")
                    .or_insert(defaults.max_timeout_seconds.into());
            }
            if m.is_empty() {
                return Ok(Policy::default());
            }
        }
        Policy::parse(origin, &v.to_string())
    }
}
