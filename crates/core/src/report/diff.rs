//! Differences between two values: field-level (path, baseline value, other value), with
//! arrays of named objects (containers, env) matched by name so a reordering or an inserted
//! element reads as what it is; and unified text diffs of YAML or plain text.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One field that differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Difference {
    /// `spec.template.spec.containers[web].image`, `metadata.labels["app.kubernetes.io/name"]`.
    pub path: String,
    /// Absent when the field is missing on the baseline side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Value>,
    /// Absent when the field is missing on this side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// Every field where `other` differs from `base`, in path order.
#[must_use]
pub fn fields(base: &Value, other: &Value) -> Vec<Difference> {
    let mut out = Vec::new();
    walk(String::new(), Some(base), Some(other), &mut out);
    out
}

fn key_path(parent: &str, key: &str) -> String {
    let plain = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (parent.is_empty(), plain) {
        (true, true) => key.to_string(),
        (false, true) => format!("{parent}.{key}"),
        (_, false) => format!("{parent}[{}]", Value::from(key)),
    }
}

/// The `name` of every element, if all are objects with distinct string names.
fn names(items: &[Value]) -> Option<Vec<&str>> {
    let names: Vec<&str> = items
        .iter()
        .map(|i| i.get("name").and_then(Value::as_str))
        .collect::<Option<_>>()?;
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    (unique.len() == names.len()).then_some(names)
}

fn walk(path: String, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<Difference>) {
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                walk(key_path(&path, k), x.get(k), y.get(k), out);
            }
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) => {
            if let (Some(nx), Some(ny)) = (names(x), names(y)) {
                let mut all: Vec<&str> = nx.iter().chain(&ny).copied().collect();
                all.sort_unstable();
                all.dedup();
                for n in all {
                    let a = nx.iter().position(|m| *m == n).map(|i| &x[i]);
                    let b = ny.iter().position(|m| *m == n).map(|i| &y[i]);
                    walk(format!("{path}[{n}]"), a, b, out);
                }
            } else {
                for i in 0..x.len().max(y.len()) {
                    walk(format!("{path}[{i}]"), x.get(i), y.get(i), out);
                }
            }
        }
        (a, b) if a != b => out.push(Difference {
            path,
            baseline: a.cloned(),
            value: b.cloned(),
        }),
        _ => {}
    }
}

/// A unified diff of two texts (empty when equal), with `old`/`new` as file labels.
#[must_use]
pub fn unified(old: &str, new: &str, old_label: &str, new_label: &str) -> String {
    if old == new {
        return String::new();
    }
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(old_label, new_label)
        .to_string()
}

/// A value as YAML for people (and for line diffs).
#[must_use]
pub fn yaml(v: &Value) -> String {
    crate::yaml::to_string(v).unwrap_or_default()
}

/// A value inline: `"nginx:1.27"`, `3`, `{"a":1}`, or `(absent)`.
#[must_use]
pub fn inline(v: Option<&Value>) -> String {
    v.map_or_else(
        || "(absent)".to_string(),
        |v| serde_json::to_string(v).unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_differences_match_named_elements() {
        let base = json!({"spec": {"replicas": 3, "containers": [
            {"name": "web", "image": "nginx:1.27", "env": [{"name": "A", "value": "1"}]},
            {"name": "side", "image": "envoy"}]},
            "metadata": {"labels": {"app.kubernetes.io/name": "web"}}});
        let other = json!({"spec": {"replicas": 5, "containers": [
            {"name": "side", "image": "envoy"},
            {"name": "web", "image": "nginx:1.26", "env": [{"name": "A", "value": "1"}, {"name": "DEBUG", "value": "1"}]}]},
            "metadata": {"labels": {"app.kubernetes.io/name": "web", "extra": "x"}}});
        let d = fields(&base, &other);
        let paths: Vec<&str> = d.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "metadata.labels.extra",
                "spec.containers[web].env[DEBUG]",
                "spec.containers[web].image",
                "spec.replicas"
            ]
        );
        assert_eq!(d[0].baseline, None);
        assert_eq!(d[2].baseline, Some(json!("nginx:1.27")));
        assert_eq!(d[2].value, Some(json!("nginx:1.26")));
        assert!(fields(&base, &base).is_empty());
        assert_eq!(
            key_path("metadata.labels", "app.kubernetes.io/name"),
            "metadata.labels[\"app.kubernetes.io/name\"]"
        );
        let u = unified("a\nb\n", "a\nc\n", "baseline", "variant B");
        assert!(
            u.contains("--- baseline") && u.contains("-b") && u.contains("+c"),
            "{u}"
        );
        assert_eq!(unified("x", "x", "a", "b"), "");
    }
}
