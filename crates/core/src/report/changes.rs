//! `muster report diff OLD NEW`: what changed between two reports of the same command:
//! clusters that drifted from or converged to the baseline, objects that appeared or
//! disappeared, fields that changed (grouped over the clusters where they changed alike),
//! and clusters that failed or recovered. Timings are ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::diff::fields;
use super::{Report, SCHEMA_VERSION};

/// What changed between two reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Changes {
    pub schema_version: u32,
    pub target: String,
    /// Per object: clusters that agreed with the baseline and now differ.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drifted: Vec<Group>,
    /// Per object: clusters that differed and now agree.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub converged: Vec<Group>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub appeared: Vec<Group>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disappeared: Vec<Group>,
    /// Fields whose value changed, with the clusters where it changed that way.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    /// Clusters that answered before and failed now, or the reverse.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failing: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recovered: Vec<String>,
}

/// An object and the clusters something happened to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub object: String,
    pub clusters: Vec<String>,
}

/// One field's change on some clusters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    pub object: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
    pub clusters: Vec<String>,
}

impl Changes {
    /// Whether nothing changed (exit code 0).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.drifted.is_empty()
            && self.converged.is_empty()
            && self.appeared.is_empty()
            && self.disappeared.is_empty()
            && self.fields.is_empty()
            && self.failing.is_empty()
            && self.recovered.is_empty()
    }
}

/// One cluster's view of one object in a report: (agrees with the baseline, content).
type View<'a> = (bool, Option<&'a Value>);

/// Per object, per cluster.
fn views(r: &Report) -> BTreeMap<&str, BTreeMap<&str, View<'_>>> {
    let mut out: BTreeMap<&str, BTreeMap<&str, View<'_>>> = BTreeMap::new();
    for o in &r.objects {
        let per = out.entry(o.object.as_str()).or_default();
        for v in &o.variants {
            for c in &v.clusters {
                per.insert(c.as_str(), (v.id == o.baseline, v.content.as_ref()));
            }
        }
    }
    if let Some(t) = &r.text {
        let per = out.entry("(output)").or_default();
        for v in &t.variants {
            for c in &v.clusters {
                per.insert(c.as_str(), (v.id == t.baseline, None));
            }
        }
    }
    out
}

/// Compare two reports.
#[must_use]
pub fn between(old: &Report, new: &Report) -> Changes {
    let mut ch = Changes {
        schema_version: SCHEMA_VERSION,
        target: new.target.clone(),
        ..Changes::default()
    };
    let (vo, vn) = (views(old), views(new));
    let mut objects: Vec<&str> = vo.keys().chain(vn.keys()).copied().collect();
    objects.sort_unstable();
    objects.dedup();
    let empty = BTreeMap::new();
    // NB: keyed by object, path and the values' JSON text (a `Value` is not `Ord`).
    let mut field_groups: BTreeMap<(String, String, String, String), FieldChange> = BTreeMap::new();
    for object in objects {
        let (po, pn) = (vo.get(object).unwrap_or(&empty), vn.get(object).unwrap_or(&empty));
        let mut clusters: Vec<&str> = po.keys().chain(pn.keys()).copied().collect();
        clusters.sort_unstable();
        clusters.dedup();
        let mut groups: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for c in clusters {
            let (Some(&(agree_old, before)), Some(&(agree_new, after))) = (po.get(c), pn.get(c)) else {
                continue; // failed in one of the runs: reported below
            };
            let kind = match (before.is_some(), after.is_some(), agree_old, agree_new) {
                (false, true, ..) if object != "(output)" => Some("appeared"),
                (true, false, ..) => Some("disappeared"),
                (.., true, false) => Some("drifted"),
                (.., false, true) => Some("converged"),
                _ => None,
            };
            if let Some(k) = kind {
                groups.entry(k).or_default().push(c.to_string());
            }
            if let (Some(b), Some(a)) = (before, after) {
                for d in fields(b, a) {
                    let key = (
                        object.to_string(),
                        d.path.clone(),
                        super::diff::inline(d.baseline.as_ref()),
                        super::diff::inline(d.value.as_ref()),
                    );
                    field_groups
                        .entry(key)
                        .or_insert_with(|| FieldChange {
                            object: object.to_string(),
                            path: d.path,
                            old: d.baseline,
                            new: d.value,
                            clusters: Vec::new(),
                        })
                        .clusters
                        .push(c.to_string());
                }
            }
        }
        for (k, clusters) in groups {
            let g = Group {
                object: object.to_string(),
                clusters,
            };
            match k {
                "appeared" => ch.appeared.push(g),
                "disappeared" => ch.disappeared.push(g),
                "drifted" => ch.drifted.push(g),
                _ => ch.converged.push(g),
            }
        }
    }
    ch.fields = field_groups.into_values().collect();
    let failed = |r: &Report| {
        r.failed
            .iter()
            .map(|f| f.cluster.clone())
            .collect::<std::collections::BTreeSet<_>>()
    };
    let (fo, fnew) = (failed(old), failed(new));
    ch.failing = fnew.difference(&fo).cloned().collect();
    ch.recovered = fo.difference(&fnew).cloned().collect();
    ch
}
