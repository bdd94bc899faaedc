//! The hub's custom resources (group `muster.dev`, version `v1alpha1`): Rust types with
//! kube's `CustomResource` derive, from which `manifests/crds/` is generated (a test fails
//! when the committed file is stale; `hack/crdgen` rewrites it).

pub mod cluster;
pub mod command;
pub mod policy;
pub mod rollout;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt as _;

pub use cluster::{FleetCluster, FleetClusterSpec, FleetClusterStatus};
pub use command::{FleetCommand, FleetCommandSpec, FleetCommandStatus, Phase};
pub use policy::{FleetPolicy, FleetPolicySpec};
pub use rollout::{FleetRollout, FleetRolloutSpec, FleetRolloutStatus, RolloutPhase};

/// A status condition, as `metav1.Condition` (its own type so the schema is derived here).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub last_transition_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

impl Condition {
    /// A condition set now.
    #[must_use]
    pub fn new(type_: &str, ok: bool, reason: &str, message: impl Into<String>, now: &str) -> Self {
        Self {
            type_: type_.into(),
            status: if ok { "True" } else { "False" }.into(),
            reason: reason.into(),
            message: message.into(),
            last_transition_time: now.into(),
            observed_generation: None,
        }
    }
}

/// The API group.
pub const GROUP: &str = "muster.dev";

/// Every CRD the hub needs.
#[must_use]
pub fn all() -> Vec<CustomResourceDefinition> {
    vec![
        FleetCluster::crd(),
        FleetCommand::crd(),
        FleetPolicy::crd(),
        FleetRollout::crd(),
    ]
}

/// The CRDs as one multi-document YAML file (what `manifests/crds/muster.dev.yaml` holds).
#[must_use]
pub fn yaml() -> String {
    let mut out = String::from("# Generated from crates/hub/src/crd by hack/crdgen; do not edit.\n");
    for crd in all() {
        out.push_str("---\n");
        let v = serde_json::to_value(&crd).unwrap_or_default();
        out.push_str(&muster_core::yaml::to_string(&v).unwrap_or_default());
    }
    out
}

#[cfg(test)]
mod tests {
    /// The committed CRDs match the Rust types (`MUSTER_UPDATE_CRDS=1` rewrites them).
    #[test]
    fn committed_crds_are_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../manifests/crds/muster.dev.yaml");
        let want = super::yaml();
        if std::env::var("MUSTER_UPDATE_CRDS").as_deref() == Ok("1") {
            std::fs::write(path, &want).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(have == want, "manifests/crds/muster.dev.yaml is stale: run hack/crdgen");
    }
}
