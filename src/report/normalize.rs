//! Normalisation before comparing: strip what always differs between clusters (server-set
//! metadata, the last-applied annotation, revision and pod-template-hash markers, restart
//! stamps, `status` unless asked for) and any configured ignore rules, then sort every map's
//! keys so equal objects serialise to equal bytes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::selector::glob_match;

/// Always stripped (JSON pointers; `*` matches one segment).
const ALWAYS: &[&str] = &[
    "/metadata/managedFields",
    "/metadata/resourceVersion",
    "/metadata/uid",
    "/metadata/creationTimestamp",
    "/metadata/generation",
    "/metadata/selfLink",
    "/metadata/ownerReferences/*/uid",
    "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration",
    "/metadata/annotations/deployment.kubernetes.io~1revision",
    "/metadata/labels/pod-template-hash",
    "/spec/selector/matchLabels/pod-template-hash",
    "/spec/template/metadata/labels/pod-template-hash",
    "/spec/template/metadata/annotations/muster.dev~1restartedAt",
];

/// What to strip besides the fixed list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Normalize {
    /// Keep `status` (stripped by default).
    pub include_status: bool,
    /// More JSON pointers to strip; a segment may be a `*` glob (`/metadata/annotations/example.com~1*`).
    pub ignore: Vec<String>,
}

/// An ignore rule that is not a JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ignore rule {rule:?}: {why}")]
pub struct IgnoreError {
    pub rule: String,
    pub why: String,
}

impl Normalize {
    /// Check the ignore rules.
    ///
    /// # Errors
    /// [`IgnoreError`] for a rule that does not start with `/`.
    pub fn validate(&self) -> Result<(), IgnoreError> {
        for r in &self.ignore {
            if !r.starts_with('/') || r.len() < 2 {
                return Err(IgnoreError {
                    rule: r.clone(),
                    why: "expected a JSON pointer such as /spec/replicas or /metadata/labels/team*".into(),
                });
            }
        }
        Ok(())
    }

    /// The normalised copy of an object.
    #[must_use]
    pub fn apply(&self, object: &Value) -> Value {
        let mut v = object.clone();
        if !self.include_status
            && let Some(map) = v.as_object_mut()
        {
            map.remove("status");
        }
        for rule in ALWAYS.iter().copied().chain(self.ignore.iter().map(String::as_str)) {
            let segments: Vec<String> = rule.split('/').skip(1).map(unescape).collect();
            strip(&mut v, &segments);
        }
        prune_empty_metadata(&mut v);
        sorted(v)
    }
}

fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

/// Remove every value at `segments` (each a glob over keys or array indexes).
fn strip(v: &mut Value, segments: &[String]) {
    let Some((first, rest)) = segments.split_first() else {
        return;
    };
    match v {
        Value::Object(map) => {
            if rest.is_empty() {
                map.retain(|k, _| !glob_match(first, k));
            } else {
                for (k, child) in map.iter_mut() {
                    if glob_match(first, k) {
                        strip(child, rest);
                    }
                }
            }
        }
        Value::Array(items) => {
            if rest.is_empty() {
                let mut i = 0;
                items.retain(|_| {
                    let keep = !glob_match(first, &i.to_string());
                    i += 1;
                    keep
                });
            } else {
                for (i, child) in items.iter_mut().enumerate() {
                    if glob_match(first, &i.to_string()) {
                        strip(child, rest);
                    }
                }
            }
        }
        _ => {}
    }
}

/// Drop `annotations`/`labels` maps that stripping left empty.
fn prune_empty_metadata(v: &mut Value) {
    for meta in ["/metadata", "/spec/template/metadata"] {
        if let Some(Value::Object(m)) = v.pointer_mut(meta) {
            for k in ["annotations", "labels"] {
                if m.get(k).and_then(Value::as_object).is_some_and(Map::is_empty) {
                    m.remove(k);
                }
            }
        }
    }
}

/// The same value with every map's keys sorted (recursively).
#[must_use]
pub fn sorted(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strips_what_always_differs() {
        let obj = json!({
            "kind": "Deployment", "apiVersion": "apps/v1",
            "metadata": {"name": "web", "namespace": "shop", "uid": "u-1", "resourceVersion": "9",
                "generation": 4, "creationTimestamp": "2026-01-01T00:00:00Z", "managedFields": [{}],
                "annotations": {"deployment.kubernetes.io/revision": "3",
                    "kubectl.kubernetes.io/last-applied-configuration": "{}"},
                "labels": {"app": "web"},
                "ownerReferences": [{"kind": "X", "name": "x", "uid": "u-2"}]},
            "spec": {"replicas": 3, "template": {"metadata": {"labels": {"app": "web", "pod-template-hash": "abc"},
                "annotations": {"muster.dev/restartedAt": "2026-11-22T10:00:00Z"}}}},
            "status": {"readyReplicas": 3}
        });
        let n = Normalize::default().apply(&obj);
        assert_eq!(
            n,
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"labels": {"app": "web"}, "name": "web", "namespace": "shop",
                    "ownerReferences": [{"kind": "X", "name": "x"}]},
                "spec": {"replicas": 3, "template": {"metadata": {"labels": {"app": "web"}}}}})
        );
        let keys: Vec<&String> = n.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["apiVersion", "kind", "metadata", "spec"], "keys are sorted");
        let with_status = Normalize {
            include_status: true,
            ignore: vec!["/spec/replicas".into(), "/metadata/labels/ap*".into()],
        };
        with_status.validate().unwrap();
        let n = with_status.apply(&obj);
        assert_eq!(n["status"]["readyReplicas"], 3);
        assert!(n["spec"].get("replicas").is_none() && n["metadata"].get("labels").is_none());
        assert!(
            Normalize {
                include_status: false,
                ignore: vec!["spec.replicas".into()]
            }
            .validate()
            .is_err()
        );
    }
}
