//! `FleetCommand` (namespaced): one command for the fleet, as people write it in the hub
//! (the raw side), and its status. [`FleetCommandSpec::to_command`] validates it into the
//! `muster_core::command::Command` the rest of muster trusts; the status stays small at any
//! fleet size (the full report lives in ConfigMaps the command owns).
// NB: kube's `printcolumn(...)` repeats `type_ =` per column; clippy reads that as duplicates.
#![allow(clippy::duplicated_attributes)]

use std::collections::BTreeMap;

use super::Condition;
use kube::CustomResource;
use muster_core::command::{Action, Cascade, Command, CommandError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The most not-succeeded clusters the status lists by name (the rest are counted).
pub const MAX_LISTED_CLUSTERS: usize = 100;

/// The seven actions (the CRD schema refuses any other word).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ActionName {
    #[default]
    Get,
    Apply,
    Scale,
    Restart,
    Delete,
    Logs,
    Exec,
}

impl From<ActionName> for Action {
    fn from(a: ActionName) -> Self {
        match a {
            ActionName::Get => Self::Get,
            ActionName::Apply => Self::Apply,
            ActionName::Scale => Self::Scale,
            ActionName::Restart => Self::Restart,
            ActionName::Delete => Self::Delete,
            ActionName::Logs => Self::Logs,
            ActionName::Exec => Self::Exec,
        }
    }
}

/// `delete`'s propagation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CascadeName {
    #[default]
    Background,
    Foreground,
    Orphan,
}

/// Which clusters: names or `*` globs, and/or a label selector over cluster labels (a
/// FleetCluster's own labels count).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSelection {
    /// Cluster names or `*` patterns (`capi/prod-*`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// A label selector over cluster labels (`env=prod,region in (eu,us)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// A `*` pattern may match no cluster.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_unmatched: bool,
}

/// A ConfigMap of the FleetCommand's namespace holding manifests (multi-document YAML).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManifestsFrom {
    pub config_map: String,
    /// The data key (default: every key, in key order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// One command for the fleet.
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "muster.dev",
    version = "v1alpha1",
    kind = "FleetCommand",
    namespaced,
    status = "FleetCommandStatus",
    shortname = "fcmd",
    category = "muster",
    printcolumn(name = "Action", type_ = "string", json_path = ".spec.action"),
    printcolumn(name = "Target", type_ = "string", json_path = ".spec.target"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Clusters", type_ = "integer", json_path = ".status.clusters"),
    printcolumn(name = "Succeeded", type_ = "integer", json_path = ".status.counts.Succeeded"),
    printcolumn(name = "Schedule", type_ = "string", json_path = ".spec.schedule", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct FleetCommandSpec {
    pub action: ActionName,
    /// `deploy/web`, `pods`, `svc,cm` (not for apply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The namespace on the member clusters (default: each cluster's default, else `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all_namespaces: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
    /// `get`: keep each server's Table (what `muster get` prints) instead of the objects.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub table: bool,
    #[serde(default)]
    pub clusters: ClusterSelection,
    /// Objects to apply, inline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "preserved_list")]
    pub manifests: Vec<Value>,
    /// Objects to apply, from a ConfigMap of this namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifests_from: Option<ManifestsFrom>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cascade: Option<CascadeName>,
    /// `exec`: the command and its arguments (never run through a shell).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub argv: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail_lines: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub previous: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub server_dry_run: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force_conflicts: bool,
    /// Per-call timeout, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    /// The whole command's deadline, seconds (default 120).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_seconds: Option<u64>,
    /// A cron schedule (`*/10 * * * *`, UTC): run again at each tick, keeping the last
    /// `keepReports` reports and raising `DriftDetected`/`DriftResolved` as they change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// Reports kept for a scheduled command (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_reports: Option<u32>,
    /// Delete the command this long after it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds_after_finished: Option<u64>,
}

pub(crate) fn preserved_list(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
    })
}

/// Where a command is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum Phase {
    #[default]
    Pending,
    Running,
    Succeeded,
    PartiallySucceeded,
    Failed,
    Rejected,
}

impl Phase {
    /// Whether the command has finished (for now: a scheduled one runs again).
    #[must_use]
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::PartiallySucceeded | Self::Failed | Self::Rejected
        )
    }
}

/// A cluster that did not succeed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterOutcome {
    pub cluster: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// The first 200 characters of the message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// How the clusters compare (reads).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VariantsSummary {
    pub variants: u64,
    pub agree: u64,
    pub differ: u64,
    /// Every answering cluster lacks the object.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub found_nowhere: bool,
}

/// The stored report: gzipped JSON split over ConfigMaps the command owns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportRef {
    /// The ConfigMaps, in order.
    pub config_maps: Vec<String>,
    /// Size of the uncompressed report JSON.
    pub bytes: u64,
    /// When the run that made it started (RFC 3339).
    pub run: String,
    /// The ConfigMaps holding the run's per-cluster results (JSON lines), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<String>,
}

/// A FleetCommand's status: small whatever the fleet size.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FleetCommandStatus {
    #[serde(default)]
    pub phase: Phase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Clusters selected.
    #[serde(default)]
    pub clusters: u64,
    /// Clusters by `ExecResult` status (`Succeeded`, `Failed`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counts: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variants: Option<VariantsSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_time: Option<String>,
    /// At most [`MAX_LISTED_CLUSTERS`] clusters that did not succeed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_succeeded: Vec<ClusterOutcome>,
    /// How many more did not succeed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub not_succeeded_more: u64,
    /// The latest report (a scheduled command keeps older ones too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<ReportRef>,
    /// Older reports of a scheduled command, newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_reports: Vec<ReportRef>,
    /// A scheduled command's drifted clusters at its last run (at most 100, then counted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drifted: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub drifted_more: u64,
    /// When a scheduled command runs next (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run: Option<String>,
    /// Runs so far (a scheduled command).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub runs: u64,
    /// The hub replica that runs (or last ran) it: it claimed the run with a conditional
    /// write, so two replicas never run one command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<String>,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // NB: serde's skip_serializing_if passes a reference
fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl From<Action> for ActionName {
    fn from(a: Action) -> Self {
        match a {
            Action::Get => Self::Get,
            Action::Apply => Self::Apply,
            Action::Scale => Self::Scale,
            Action::Restart => Self::Restart,
            Action::Delete => Self::Delete,
            Action::Logs => Self::Logs,
            Action::Exec => Self::Exec,
        }
    }
}

impl FleetCommandSpec {
    /// The spec that asks the hub to run `c` on `clusters` (what `muster <action> --hub`
    /// submits).
    #[must_use]
    pub fn from_command(c: &Command, clusters: ClusterSelection) -> Self {
        Self {
            action: c.action.into(),
            target: c.target.as_ref().map(ToString::to_string),
            namespace: c.namespace.as_ref().map(ToString::to_string),
            all_namespaces: c.all_namespaces,
            label_selector: c.label_selector.clone(),
            table: c.table,
            clusters,
            manifests: c.manifests.clone(),
            replicas: c.replicas,
            cascade: match c.cascade {
                Cascade::Background => None,
                Cascade::Foreground => Some(CascadeName::Foreground),
                Cascade::Orphan => Some(CascadeName::Orphan),
            },
            argv: c.argv.clone(),
            container: c.container.clone(),
            tail_lines: c.tail_lines,
            limit_bytes: c.limit_bytes,
            since_seconds: c.since_seconds,
            previous: c.previous,
            server_dry_run: c.server_dry_run,
            force_conflicts: c.force_conflicts,
            timeout_seconds: c.timeout_seconds,
            ..Self::default()
        }
    }

    /// The validated command (id and issue time from the hub); manifests from a ConfigMap
    /// are passed in already read.
    ///
    /// # Errors
    /// [`CommandError`] naming the field.
    pub fn to_command(&self, id: &str, issued_at: &str, manifests: Vec<Value>) -> Result<Command, CommandError> {
        let err = |field: &str, message: String| CommandError {
            field: format!("spec.{field}"),
            message,
        };
        let mut c = Command::new(id, issued_at, self.action.into());
        c.target = self
            .target
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e: muster_core::command::TargetError| err("target", e.to_string()))?;
        c.namespace = self
            .namespace
            .as_deref()
            .map(muster_core::name::Namespace::parse)
            .transpose()
            .map_err(|e| err("namespace", e.to_string()))?;
        c.all_namespaces = self.all_namespaces;
        c.label_selector.clone_from(&self.label_selector);
        c.table = self.table && c.action == Action::Get;
        c.manifests = self.manifests.iter().cloned().chain(manifests).collect();
        c.server_dry_run = self.server_dry_run;
        c.force_conflicts = self.force_conflicts;
        c.replicas = self.replicas;
        c.cascade = match self.cascade.unwrap_or_default() {
            CascadeName::Background => Cascade::Background,
            CascadeName::Foreground => Cascade::Foreground,
            CascadeName::Orphan => Cascade::Orphan,
        };
        c.argv = muster_core::exec_args::normalize_all(&self.argv);
        c.container.clone_from(&self.container);
        c.tail_lines = self.tail_lines.or((c.action == Action::Logs).then_some(100));
        c.limit_bytes = self.limit_bytes;
        c.since_seconds = self.since_seconds;
        c.previous = self.previous;
        c.timeout_seconds = self.timeout_seconds;
        c.validate().map_err(|e| CommandError {
            field: format!("spec.{}", e.field),
            message: e.message,
        })?;
        if let Some(s) = &self.schedule {
            s.parse::<croner::Cron>()
                .map_err(|e| err("schedule", format!("{s:?} is not a cron schedule: {e}")))?;
        }
        Ok(c)
    }
}
