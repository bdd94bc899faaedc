//! What people set, from `metadata.managedFields`: an object projected onto the fields some
//! non-controller field manager owns (kubectl, helm, muster, an operator's own manager),
//! leaving out what the API server defaulted and what controllers wrote. Server-side apply
//! records ownership as `fieldsV1` trees: `f:<field>` for a map key, `k:{...}` for a list
//! element by its key fields, `v:<value>` for a set element, `i:<n>` for a position, and
//! `.` for the element itself.

use serde_json::{Map, Value};

/// `v` with only the fields owned by managers not in `controllers` (status updates never
/// count), plus its identity (`apiVersion`, `kind`, `metadata.name`, `metadata.namespace`).
/// An object without `managedFields` is kept whole: there is nothing to tell by.
#[must_use]
pub fn project(v: &Value, controllers: &[String]) -> Value {
    let Some(entries) = v.pointer("/metadata/managedFields").and_then(Value::as_array) else {
        return v.clone();
    };
    let mut owned = Map::new();
    for e in entries {
        let manager = e.get("manager").and_then(Value::as_str).unwrap_or_default();
        let status = e.get("subresource").and_then(Value::as_str) == Some("status");
        if status || controllers.iter().any(|c| c == manager) {
            continue;
        }
        if let Some(tree) = e.get("fieldsV1").and_then(Value::as_object) {
            merge(&mut owned, tree);
        }
    }
    let mut out = match project_value(v, &owned) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    for key in ["apiVersion", "kind"] {
        if let Some(x) = v.get(key) {
            out.insert(key.into(), x.clone());
        }
    }
    let meta = out.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    for key in ["name", "namespace"] {
        if let (Some(x), Some(m)) = (v.pointer(&format!("/metadata/{key}")), meta.as_object_mut()) {
            m.insert(key.into(), x.clone());
        }
    }
    Value::Object(out)
}

/// Union of two ownership trees.
fn merge(into: &mut Map<String, Value>, from: &Map<String, Value>) {
    for (k, sub) in from {
        let slot = into.entry(k.clone()).or_insert_with(|| Value::Object(Map::new()));
        if let (Value::Object(a), Some(b)) = (slot, sub.as_object()) {
            merge(a, b);
        }
    }
}

/// The owned part of `v` under the ownership tree `tree` (an empty tree owns all of `v`).
fn project_value(v: &Value, tree: &Map<String, Value>) -> Value {
    let children = tree.keys().any(|k| k != ".");
    if !children {
        return v.clone();
    }
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, child) in m {
                if let Some(sub) = tree.get(&format!("f:{k}")).and_then(Value::as_object) {
                    out.insert(k.clone(), project_value(child, sub));
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    tree.iter()
                        .find(|(key, _)| element_matches(key, item, i))
                        .and_then(|(_, sub)| sub.as_object())
                        .map(|sub| project_value(item, sub))
                })
                .collect(),
        ),
        scalar => scalar.clone(),
    }
}

/// Whether a list element at `index` is the one an ownership key names.
fn element_matches(key: &str, item: &Value, index: usize) -> bool {
    if let Some(fields) = key.strip_prefix("k:") {
        let Ok(Value::Object(want)) = serde_json::from_str::<Value>(fields) else {
            return false;
        };
        return want.iter().all(|(k, v)| item.get(k) == Some(v));
    }
    if let Some(value) = key.strip_prefix("v:") {
        return serde_json::from_str::<Value>(value).is_ok_and(|v| v == *item);
    }
    key.strip_prefix("i:").and_then(|n| n.parse::<usize>().ok()) == Some(index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_what_people_set() {
        let svc = json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"},
                "managedFields": [
                    {"manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": {
                        "f:metadata": {"f:labels": {"f:app": {}}},
                        "f:spec": {"f:selector": {}, "f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}, "f:targetPort": {}}}}}},
                    {"manager": "kube-controller-manager", "operation": "Update", "fieldsType": "FieldsV1", "fieldsV1": {
                        "f:metadata": {"f:annotations": {"f:x": {}}}}},
                    {"manager": "kubectl", "operation": "Update", "subresource": "status", "fieldsType": "FieldsV1",
                        "fieldsV1": {"f:status": {}}}
                ]},
            "spec": {"clusterIP": "10.96.3.4", "clusterIPs": ["10.96.3.4"], "type": "ClusterIP",
                "selector": {"app": "web"}, "sessionAffinity": "None",
                "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080, "name": "http"}]},
            "status": {"loadBalancer": {}}
        });
        let p = project(&svc, &["kube-controller-manager".to_string()]);
        assert_eq!(
            p,
            json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
                "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}})
        );
        let no_fields = json!({"kind": "ConfigMap", "data": {"a": "1"}});
        assert_eq!(project(&no_fields, &[]), no_fields, "nothing to go by: kept whole");
        assert!(element_matches("v:\"x\"", &json!("x"), 3) && element_matches("i:2", &json!(1), 2));
        assert!(!element_matches("k:{\"name\":\"a\"}", &json!({"name": "b"}), 0));
    }
}
