//! Normalisation before comparing: strip what always differs between clusters (server-set
//! metadata, the last-applied annotation, revision and pod-template-hash markers, restart
//! stamps, `status` unless asked for) and any configured ignore rules, writing the result as
//! JSON with sorted keys, so equal objects serialise to equal bytes (without building a copy).

use serde::{Deserialize, Serialize};
use serde_json::Value;

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

    /// The normalised copy of an object (keys sorted).
    #[must_use]
    pub fn apply(&self, object: &Value) -> Value {
        let mut bytes = Vec::new();
        self.compile().canonical(object, &mut bytes);
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    }

    /// The rules, compiled for [`Compiled::canonical`].
    #[must_use]
    pub fn compile(&self) -> Compiled {
        let mut rules: Vec<Vec<String>> = ALWAYS
            .iter()
            .copied()
            .chain(self.ignore.iter().map(String::as_str))
            .map(|r| r.split('/').skip(1).map(unescape).collect())
            .collect();
        if !self.include_status {
            rules.push(vec!["status".into()]);
        }
        Compiled { rules }
    }
}

/// Compiled strip rules: JSON pointer segments, each a glob.
#[derive(Debug, Clone)]
pub struct Compiled {
    rules: Vec<Vec<String>>,
}

/// Maps dropped when stripping leaves them empty.
const PRUNED_WHEN_EMPTY: &[(&[&str], &str)] = &[
    (&["metadata"], "annotations"),
    (&["metadata"], "labels"),
    (&["spec", "template", "metadata"], "annotations"),
    (&["spec", "template", "metadata"], "labels"),
];

impl Compiled {
    /// Write the normalised object as compact JSON with sorted keys, without building it:
    /// equal normalised objects give equal bytes.
    pub fn canonical(&self, v: &Value, out: &mut Vec<u8>) {
        let live: Vec<usize> = (0..self.rules.len()).collect();
        self.write(v, &mut Vec::new(), &live, out);
    }

    /// Whether nothing below this point is stripped: the subtree is written with sorted
    /// keys only.
    fn write_plain(v: &Value, out: &mut Vec<u8>) {
        match v {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort_unstable();
                out.push(b'{');
                for (n, k) in keys.into_iter().enumerate() {
                    if n > 0 {
                        out.push(b',');
                    }
                    let _ = serde_json::to_writer(&mut *out, k);
                    out.push(b':');
                    Self::write_plain(&map[k.as_str()], out);
                }
                out.push(b'}');
            }
            Value::Array(items) => {
                out.push(b'[');
                for (n, item) in items.iter().enumerate() {
                    if n > 0 {
                        out.push(b',');
                    }
                    Self::write_plain(item, out);
                }
                out.push(b']');
            }
            scalar => {
                let _ = serde_json::to_writer(&mut *out, scalar);
            }
        }
    }

    /// Whether `key` at `path` is stripped by a rule still alive at this depth.
    fn dropped(&self, depth: usize, key: &str, live: &[usize]) -> bool {
        live.iter()
            .any(|&r| self.rules[r].len() == depth + 1 && glob_match(&self.rules[r][depth], key))
    }

    fn descend(&self, depth: usize, key: &str, live: &[usize]) -> Vec<usize> {
        live.iter()
            .copied()
            .filter(|&r| self.rules[r].len() > depth + 1 && glob_match(&self.rules[r][depth], key))
            .collect()
    }

    fn write<'v>(&self, v: &'v Value, path: &mut Vec<&'v str>, live: &[usize], out: &mut Vec<u8>) {
        if live.is_empty() {
            return Self::write_plain(v, out);
        }
        let depth = path.len();
        match v {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().filter(|k| !self.dropped(depth, k, live)).collect();
                keys.sort_unstable();
                out.push(b'{');
                let mut first = true;
                for k in keys {
                    let child = &map[k.as_str()];
                    let child_live = self.descend(depth, k, live);
                    if let Value::Object(m) = child
                        && PRUNED_WHEN_EMPTY
                            .iter()
                            .any(|(p, key)| key == k && path.iter().copied().eq(p.iter().copied()))
                        && m.keys().all(|ck| self.dropped(depth + 1, ck, &child_live))
                    {
                        continue;
                    }
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    let _ = serde_json::to_writer(&mut *out, k);
                    out.push(b':');
                    path.push(k.as_str());
                    self.write(child, path, &child_live, out);
                    path.pop();
                }
                out.push(b'}');
            }
            Value::Array(items) => {
                out.push(b'[');
                let mut first = true;
                for (i, item) in items.iter().enumerate() {
                    let index = i.to_string();
                    if self.dropped(depth, &index, live) {
                        continue;
                    }
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    let child_live = self.descend(depth, &index, live);
                    // NB: array indexes only matter to rules, which never reach past them
                    // by name; the path keeps a placeholder.
                    path.push("*");
                    self.write(item, path, &child_live, out);
                    path.pop();
                }
                out.push(b']');
            }
            scalar => {
                let _ = serde_json::to_writer(&mut *out, scalar);
            }
        }
    }
}

fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
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
