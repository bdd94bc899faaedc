//! Reports: one command's `ExecResult`s turned into what people want to know ("21 clusters
//! agree, 3 run nginx:1.26 instead of nginx:1.27, here is the diff"). A [`Report`] is plain,
//! deterministic data (clusters and keys sorted, timings in a separate optional section), so
//! two runs on the same fleet state serialise to the same bytes and `report diff` can say
//! what changed between them.
//!
//! `normalize.rs` strips what always differs, `compare.rs` groups clusters into variants,
//! `diff.rs` finds field and text differences, `changes.rs` compares two reports, and
//! `render/` writes terminal, Markdown and HTML views.

pub mod changes;
pub mod compare;
pub mod diagnose;
pub mod diff;
pub mod grouped;
pub mod normalize;
pub mod owned;
pub mod render;
pub mod topology;
pub mod tree;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::command::Action;
use diff::Difference;

/// The version of the report JSON; bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// One command's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub schema_version: u32,
    pub action: Action,
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub summary: Summary,
    /// `get` of a kind: which objects exist on which clusters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inventory: Vec<Presence>,
    /// `get`: per object, its variants.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<ObjectReport>,
    /// `logs` and `exec`: variants of the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<TextReport>,
    /// Writes: clusters by status.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub statuses: BTreeMap<String, Vec<String>>,
    /// Clusters whose part failed (they are not differences).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<Failed>,
    /// Per-run facts that differ between identical runs; `report diff` ignores them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timings: Option<Timings>,
}

/// Counts over the selected clusters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub clusters: usize,
    /// Clusters whose every object (or text) is in the baseline variant; for writes, the
    /// clusters that succeeded.
    pub agree: usize,
    /// Clusters that answered but differ from the baseline somewhere.
    pub differ: usize,
    pub failed: usize,
    /// Variants of the object (or text) with the most; 1 means everyone agrees.
    pub variants: usize,
    /// Every answering cluster lacks the object (or has no object of the kind).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub found_nowhere: bool,
}

/// Where one object exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Presence {
    pub object: String,
    pub present: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

/// One object's variants across clusters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReport {
    /// `namespace/name` (or `name` when cluster-scoped).
    pub object: String,
    pub kind: String,
    /// The baseline's variant id.
    pub baseline: String,
    pub variants: Vec<Variant>,
}

/// Clusters whose normalised object is the same.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Variant {
    /// `A` (the baseline), `B`, `C`, ...
    pub id: String,
    pub clusters: Vec<String>,
    /// The object does not exist on these clusters.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub missing: bool,
    /// The normalised object (absent when missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Value>,
    /// Against the baseline (empty for the baseline).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<Difference>,
}

impl ObjectReport {
    /// The baseline variant's object as YAML (empty when the object is missing there).
    #[must_use]
    pub fn baseline_yaml(&self) -> String {
        self.variants
            .iter()
            .find(|v| v.id == self.baseline)
            .and_then(|v| v.content.as_ref())
            .map(diff::yaml)
            .unwrap_or_default()
    }

    /// A variant's object as YAML when it is compared with the baseline (not for the
    /// baseline itself, nor where the object is missing).
    #[must_use]
    pub fn compared_yaml(&self, v: &Variant) -> Option<String> {
        v.content.as_ref().filter(|_| v.id != self.baseline).map(diff::yaml)
    }

    /// The unified diff of a variant against `baseline_yaml` (see [`Self::compared_yaml`]).
    #[must_use]
    pub fn unified_diff(&self, baseline_yaml: &str, v: &Variant) -> Option<String> {
        self.compared_yaml(v)
            .map(|y| diff::unified(baseline_yaml, &y, "baseline (A)", &format!("variant {}", v.id)))
    }

    /// How a variant relates to the baseline: `baseline`, `missing` or `differs`.
    #[must_use]
    pub fn role(&self, v: &Variant) -> &'static str {
        if v.id == self.baseline {
            "baseline"
        } else if v.missing {
            "missing"
        } else {
            "differs"
        }
    }
}

/// Variants of logs or exec output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TextReport {
    pub baseline: String,
    pub variants: Vec<TextVariant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TextVariant {
    pub id: String,
    pub clusters: Vec<String>,
    pub text: String,
    /// Unified diff against the baseline's text (empty for the baseline).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub diff: String,
}

/// A cluster whose part failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failed {
    pub cluster: String,
    pub status: crate::result::Status,
    pub reason: String,
    pub message: String,
}

/// The run's own facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Timings {
    pub command_id: String,
    pub duration_ms: BTreeMap<String, u64>,
    pub attempts: BTreeMap<String, u32>,
}

impl Report {
    /// Whether every cluster agrees (and none failed): exit code 0 as `kubectl diff`.
    #[must_use]
    pub fn agrees(&self) -> bool {
        self.summary.failed == 0 && self.summary.differ == 0 && !self.summary.found_nowhere
    }

    /// Deterministic JSON (pretty, newline-terminated).
    ///
    /// # Errors
    /// Serialisation failures.
    pub fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string_pretty(self).map(|s| s + "\n")
    }
}
