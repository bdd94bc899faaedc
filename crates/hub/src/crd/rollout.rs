//! `FleetRollout` (namespaced): a change rolled across the fleet in waves that verify the
//! new revision, soak, wait for approval, defer unreachable clusters and roll back. Its
//! status stays small at any fleet size: the per-cluster ledger lives in ConfigMaps the
//! rollout owns, as do the immutable snapshots of its revisions.
// NB: kube's `printcolumn(...)` repeats `type_ =` per column; clippy reads that as duplicates.
#![allow(clippy::duplicated_attributes)]

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Condition;
use super::command::{ClusterSelection, ManifestsFrom};

/// The most clusters not in the desired state the status lists by name.
pub const MAX_LISTED: usize = 100;

/// A change rolled out across the fleet in waves.
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "muster.dev",
    version = "v1alpha1",
    kind = "FleetRollout",
    namespaced,
    status = "FleetRolloutStatus",
    shortname = "fro",
    category = "muster",
    printcolumn(name = "Revision", type_ = "integer", json_path = ".status.revision"),
    printcolumn(name = "Wave", type_ = "string", json_path = ".status.wave"),
    printcolumn(name = "Updated", type_ = "integer", json_path = ".status.updated"),
    printcolumn(name = "Total", type_ = "integer", json_path = ".status.total"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct FleetRolloutSpec {
    /// The objects rolled out, inline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "super::command::preserved_list")]
    pub resources: Vec<Value>,
    /// The objects rolled out, from ConfigMaps of this namespace (after `resources`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources_from: Vec<ManifestsFrom>,
    /// The namespace on the member clusters for objects that name none (default `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Which clusters receive the change.
    #[serde(default)]
    pub clusters: ClusterSelection,
    #[serde(default)]
    pub strategy: Strategy,
    /// Stop starting new work at once; `false` resumes where it stopped.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
}

/// How the change moves through the fleet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[serde(deny_unknown_fields)]
pub struct Strategy {
    /// In order; empty: one canary cluster, then 10%, then 50%, then the rest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waves: Vec<Wave>,
    /// How long one cluster may take from its apply to passing its gates (default 600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_deadline_seconds: Option<u64>,
    #[serde(default)]
    pub on_failure: OnFailure,
    #[serde(default)]
    pub unreachable: Unreachable,
    /// At most this many clusters (or `N%` of the selected ones) between apply and gate
    /// passed at once, across waves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<IntOrPercent>,
    /// Wait this long after a wave completes before the next starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave_delay_seconds: Option<u64>,
    /// Extra gates checked on every cluster besides the workloads' own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<Gate>,
}

/// One wave: which clusters, how many at once, how long they soak, how many may fail, and
/// whether a person approves it first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[serde(deny_unknown_fields)]
pub struct Wave {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Clusters by names/globs and labels (among those not in an earlier wave).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clusters: Option<ClusterSelection>,
    /// This many of the remaining clusters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// This percentage of all selected clusters (rounded up, at least one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<u32>,
    /// Order the remaining clusters by this label's value, then by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_by: Option<String>,
    /// Clusters of this wave in flight at once (a number or `N%` of the wave).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<IntOrPercent>,
    /// How long every cluster of the wave must stay healthy after passing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soak_seconds: Option<u64>,
    /// Failed clusters this wave tolerates before `onFailure`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failures: Option<u32>,
    /// Wait for `muster rollout approve` before starting.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub approval: bool,
}

/// A number, or a percentage as `"N%"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(schema_with = "int_or_string")]
pub enum IntOrPercent {
    Int(u32),
    Percent(String),
}

impl IntOrPercent {
    /// The count it stands for out of `total` (percentages round up; at least 1).
    ///
    /// # Errors
    /// Text that is not `N%` with N in 1..=100.
    pub fn of(&self, total: usize) -> Result<usize, String> {
        match self {
            Self::Int(n) => Ok((*n as usize).max(1)),
            Self::Percent(s) => {
                let pct: usize = s
                    .strip_suffix('%')
                    .and_then(|n| n.trim().parse().ok())
                    .filter(|n| (1..=100).contains(n))
                    .ok_or_else(|| format!("{s:?} is not a number or a percentage such as \"10%\""))?;
                Ok((total * pct).div_ceil(100).max(1))
            }
        }
    }
}

/// What a failed wave does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum OnFailure {
    /// Stop; a person decides (`resume`, `undo` or `abort`).
    #[default]
    Pause,
    /// Put the previous revision back on every cluster that received this one.
    Rollback,
    /// Count the failure and go on.
    Continue,
}

/// What happens to a cluster that cannot be reached when its turn comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum Unreachable {
    /// Move it to the end and apply when it is healthy again, without holding its wave.
    #[default]
    Defer,
    /// Hold the wave until it is back.
    Block,
    /// Leave it out of this revision.
    Skip,
}

/// A user-given gate: the JSON path on an object's status equals a value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Gate {
    /// `kind.group/name` as muster's targets are written (`widgets.example.com/w1`).
    pub object: String,
    /// A JSON pointer or dotted path into the object (`.status.phase`).
    pub path: String,
    /// The value it must equal (a string compares with a string, a number with a number).
    #[schemars(schema_with = "any_value")]
    pub equals: Value,
}

fn int_or_string(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"x-kubernetes-int-or-string": true, "description": "A number, or a percentage as \"N%\"."})
}

fn any_value(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"x-kubernetes-preserve-unknown-fields": true})
}

/// Where a rollout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum RolloutPhase {
    #[default]
    Pending,
    Progressing,
    Paused,
    WaitingForApproval,
    Succeeded,
    Failed,
    RollingBack,
    RolledBack,
    Aborted,
    /// The spec cannot be rolled out (the condition names the field).
    Rejected,
}

impl RolloutPhase {
    /// No more work for this revision unless a person acts.
    #[must_use]
    pub fn is_settled(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::RolledBack | Self::Aborted | Self::Rejected
        )
    }
}

/// One wave's counts and times.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WaveStatus {
    pub name: String,
    pub clusters: u64,
    #[serde(default)]
    pub updated: u64,
    #[serde(default)]
    pub passed: u64,
    #[serde(default)]
    pub failed: u64,
    #[serde(default)]
    pub deferred: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
}

/// A cluster not in the desired state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterState {
    pub cluster: String,
    pub state: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// What the hub observed of a rollout.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FleetRolloutStatus {
    #[serde(default)]
    pub phase: RolloutPhase,
    /// The revision being rolled out (1, 2, ...).
    #[serde(default)]
    pub revision: u32,
    /// Its content hash.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub revision_hash: String,
    /// The last revision that completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_revision: Option<u32>,
    /// `2/4 (10%)`: the wave in progress.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub wave: String,
    #[serde(default)]
    pub current_wave: u32,
    #[serde(default)]
    pub total: u64,
    /// Clusters at this revision that passed their gates.
    #[serde(default)]
    pub updated: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waves: Vec<WaveStatus>,
    /// At most [`MAX_LISTED`] clusters not in the desired state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_ready: Vec<ClusterState>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub not_ready_more: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_time: Option<String>,
    /// The hub replica running it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
