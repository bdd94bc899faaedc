//! Patches as kube-apiserver applies them: JSON merge patch (RFC 7386), JSON patch
//! (RFC 6902) and strategic merge patch with per-field list semantics.
//!
//! Strategic merge needs to know, for each list, whether it is merged by a key
//! (`containers` by `name`), treated as a set (`finalizers`) or replaced whole. Built-in
//! kinds get the Kubernetes Go struct tags' answers from [`list_type`]; server-side apply
//! (`apply.rs`) uses the same table so the two agree.

use serde_json::{Map, Value};

use super::status::{ApiError, ApiResult};

/// How a list field merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListType {
    /// Elements are maps identified by this key field.
    Map(&'static str),
    /// Elements are scalars merged as a set.
    Set,
    /// The list is replaced whole.
    Atomic,
}

/// The list semantics of the field at `path` (field names, with `[]` for list items).
/// `builtin` is false for custom resources, where only `metadata` lists are known.
#[must_use]
pub fn list_type(builtin: bool, path: &[String]) -> ListType {
    let Some(last) = path.last() else {
        return ListType::Atomic;
    };
    let in_metadata = path.len() == 2 && path[0] == "metadata";
    if in_metadata {
        return match last.as_str() {
            "ownerReferences" => ListType::Map("uid"),
            "finalizers" => ListType::Set,
            _ => ListType::Atomic,
        };
    }
    if !builtin {
        return ListType::Atomic;
    }
    let parent_is_item = path.len() >= 2 && path[path.len() - 2] == "[]";
    match last.as_str() {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "secrets"
        | "resourceClaims" => ListType::Map("name"),
        "readinessGates" => ListType::Map("conditionType"),
        "volumeMounts" => ListType::Map("mountPath"),
        "volumeDevices" => ListType::Map("devicePath"),
        "ports" if parent_is_item => ListType::Map("containerPort"),
        "ports" => ListType::Map("port"),
        "conditions" => ListType::Map("type"),
        "hostAliases" => ListType::Map("ip"),
        "topologySpreadConstraints" => ListType::Map("topologyKey"),
        "finalizers" => ListType::Set,
        _ => ListType::Atomic,
    }
}

/// Apply an RFC 7386 JSON merge patch.
///
/// # Errors
/// `BadRequest` when the patch is not a JSON object.
pub fn merge_patch(target: &mut Value, patch: &Value) -> ApiResult<()> {
    if !patch.is_object() {
        return Err(ApiError::bad_request("json merge patch must be a JSON object"));
    }
    json_patch::merge(target, patch);
    Ok(())
}

/// Apply an RFC 6902 JSON patch.
///
/// # Errors
/// `BadRequest` for a malformed patch; `Invalid`-like 422 when an operation cannot apply
/// (kube-apiserver answers 422 for a failed `test` or a missing path).
pub fn json_patch(target: &mut Value, patch: &Value) -> ApiResult<()> {
    let ops: json_patch::Patch =
        serde_json::from_value(patch.clone()).map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
    // NB: kube-apiserver's JSON patch (evanphx/json-patch) treats a missing path as null in a
    // `test`: `test /metadata/finalizers == null` passes on an object without finalizers
    // (kube-rs's finalizer helper relies on it). Applied op by op on a copy: all or nothing.
    let mut work = target.clone();
    for (i, op) in ops.0.into_iter().enumerate() {
        if let json_patch::PatchOperation::Test(t) = &op
            && t.value.is_null()
            && work.pointer(t.path.as_str()).is_none_or(Value::is_null)
        {
            continue;
        }
        json_patch::patch(&mut work, &[op]).map_err(|e| {
            ApiError::new(
                422,
                "Invalid",
                format!(
                    "the server rejected our request due to an error in our request: {}",
                    e.to_string()
                        .replacen("operation '/0'", &format!("operation '/{i}'"), 1)
                ),
            )
        })?;
    }
    *target = work;
    Ok(())
}

/// Apply a strategic merge patch to a built-in object.
///
/// # Errors
/// `BadRequest` when the patch is not an object or a directive is malformed.
pub fn strategic_merge_patch(target: &mut Value, patch: &Value) -> ApiResult<()> {
    let Value::Object(p) = patch else {
        return Err(ApiError::bad_request("strategic merge patch must be a JSON object"));
    };
    let mut path = Vec::new();
    let merged = merge_map(target.take(), p, &mut path)?;
    *target = merged.unwrap_or(Value::Object(Map::new()));
    Ok(())
}

const SET_ORDER: &str = "$setElementOrder/";
const DELETE_FROM: &str = "$deleteFromPrimitiveList/";

/// Merge a patch map into a target; `None` means the map itself was deleted.
fn merge_map(target: Value, patch: &Map<String, Value>, path: &mut Vec<String>) -> ApiResult<Option<Value>> {
    let mut target = match target {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    match patch.get("$patch").map(|v| v.as_str()) {
        None => {}
        Some(Some("replace")) => {
            let mut m = patch.clone();
            m.remove("$patch");
            return Ok(Some(Value::Object(strip_directives(m))));
        }
        Some(Some("delete")) => return Ok(None),
        Some(Some("merge")) => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown patch directive {other:?} at {}",
                path.join(".")
            )));
        }
    }
    if let Some(retain) = patch.get("$retainKeys") {
        let keep: Vec<&str> = retain
            .as_array()
            .ok_or_else(|| ApiError::bad_request("$retainKeys must be a list of strings"))?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        target.retain(|k, _| keep.contains(&k.as_str()));
    }
    for (key, pv) in patch {
        if key == "$patch" || key == "$retainKeys" || key.starts_with(SET_ORDER) {
            continue;
        }
        if let Some(field) = key.strip_prefix(DELETE_FROM) {
            if let (Some(Value::Array(list)), Some(remove)) = (target.get_mut(field), pv.as_array()) {
                list.retain(|v| !remove.contains(v));
            }
            continue;
        }
        path.push(key.clone());
        match pv {
            Value::Null => {
                target.remove(key);
            }
            Value::Object(pm) => {
                let cur = target.remove(key).unwrap_or(Value::Null);
                if let Some(v) = merge_map(cur, pm, path)? {
                    target.insert(key.clone(), v);
                }
            }
            Value::Array(items) => {
                let cur = target.remove(key);
                let order = patch.get(&format!("{SET_ORDER}{key}")).and_then(Value::as_array);
                let merged = merge_list(cur, items, order, path)?;
                target.insert(key.clone(), merged);
            }
            scalar => {
                target.insert(key.clone(), scalar.clone());
            }
        }
        path.pop();
    }
    Ok(Some(Value::Object(target)))
}

fn strip_directives(mut m: Map<String, Value>) -> Map<String, Value> {
    m.retain(|k, _| !k.starts_with('$'));
    for v in m.values_mut() {
        if let Value::Object(inner) = v {
            *inner = strip_directives(std::mem::take(inner));
        }
    }
    m
}

fn merge_list(
    current: Option<Value>,
    patch: &[Value],
    order: Option<&Vec<Value>>,
    path: &mut Vec<String>,
) -> ApiResult<Value> {
    let current = match current {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    // NB: only built-in objects reach strategic merge (custom resources get 415).
    let merged = match list_type(true, path) {
        ListType::Atomic => patch.to_vec(),
        ListType::Set => {
            let mut out = current;
            for v in patch {
                if !out.contains(v) {
                    out.push(v.clone());
                }
            }
            out
        }
        ListType::Map(key) => {
            if patch
                .iter()
                .any(|p| p.get("$patch").and_then(Value::as_str) == Some("replace"))
            {
                let items = patch
                    .iter()
                    .filter(|p| p.get("$patch").is_none())
                    .map(|p| match p {
                        Value::Object(m) => Value::Object(strip_directives(m.clone())),
                        other => other.clone(),
                    })
                    .collect();
                return Ok(Value::Array(items));
            }
            let mut out = current;
            path.push("[]".into());
            for p in patch {
                let Value::Object(pm) = p else {
                    path.pop();
                    return Err(ApiError::bad_request(format!(
                        "{}: list elements must be objects with merge key {key:?}",
                        path.join(".")
                    )));
                };
                let Some(kv) = pm.get(key) else {
                    path.pop();
                    return Err(ApiError::bad_request(format!(
                        "{}: element is missing merge key {key:?}",
                        path.join(".")
                    )));
                };
                let pos = out.iter().position(|e| e.get(key) == Some(kv));
                let deleting = pm.get("$patch").and_then(Value::as_str) == Some("delete");
                match (pos, deleting) {
                    (Some(i), true) => {
                        out.remove(i);
                    }
                    (None, true) => {}
                    (Some(i), false) => {
                        let cur = std::mem::take(&mut out[i]);
                        match merge_map(cur, pm, path)? {
                            Some(v) => out[i] = v,
                            None => {
                                out.remove(i);
                            }
                        }
                    }
                    (None, false) => {
                        if let Some(v) = merge_map(Value::Null, pm, path)? {
                            out.push(v);
                        }
                    }
                }
            }
            path.pop();
            out
        }
    };
    Ok(Value::Array(match order {
        Some(order) => reorder(merged, order, list_type(true, path)),
        None => merged,
    }))
}

/// Order a merged list as `$setElementOrder` asks; elements it does not name keep their
/// relative order after those it does.
fn reorder(items: Vec<Value>, order: &[Value], lt: ListType) -> Vec<Value> {
    let ident = |v: &Value| -> Value {
        match lt {
            ListType::Map(key) => v.get(key).cloned().unwrap_or(Value::Null),
            _ => v.clone(),
        }
    };
    let order_ids: Vec<Value> = order.iter().map(ident).collect();
    let mut ranked: Vec<(usize, usize, Value)> = items
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let rank = order_ids.iter().position(|o| *o == ident(&v)).unwrap_or(usize::MAX);
            (rank, i, v)
        })
        .collect();
    ranked.sort_by_key(|(rank, i, _)| (*rank, *i));
    ranked.into_iter().map(|(_, _, v)| v).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy() -> Value {
        json!({"metadata": {"name": "web", "labels": {"app": "web"}, "finalizers": ["a"]},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [
            {"name": "web", "image": "nginx:1", "env": [{"name": "A", "value": "1"}], "ports": [{"containerPort": 80}]},
            {"name": "side", "image": "busybox"}
        ]}}}})
    }

    #[test]
    fn strategic_merges_containers_by_name() {
        let mut d = deploy();
        strategic_merge_patch(
            &mut d,
            &json!({"spec": {"template": {"spec": {"containers": [
                {"name": "web", "image": "nginx:2", "env": [{"name": "B", "value": "2"}]}
            ]}}}}),
        )
        .unwrap();
        let c = &d["spec"]["template"]["spec"]["containers"];
        assert_eq!(c.as_array().unwrap().len(), 2);
        assert_eq!(c[0]["image"], "nginx:2");
        assert_eq!(c[0]["env"].as_array().unwrap().len(), 2);
        assert_eq!(c[0]["ports"][0]["containerPort"], 80);
        assert_eq!(c[1]["name"], "side");
    }

    #[test]
    fn strategic_directives() {
        let mut d = deploy();
        strategic_merge_patch(
            &mut d,
            &json!({
                "metadata": {"labels": {"app": null, "tier": "fe"}, "finalizers": ["b"]},
                "spec": {"template": {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}}}
            }),
        )
        .unwrap();
        assert_eq!(d["metadata"]["labels"], json!({"tier": "fe"}));
        assert_eq!(d["metadata"]["finalizers"], json!(["a", "b"]));
        assert_eq!(d["spec"]["template"]["spec"]["containers"].as_array().unwrap().len(), 1);

        let mut d = deploy();
        strategic_merge_patch(
            &mut d,
            &json!({"spec": {"template": {"spec": {"containers": [
            {"name": "only", "image": "x"}, {"$patch": "replace"}]}}}}),
        )
        .unwrap();
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"],
            json!([{"name": "only", "image": "x"}])
        );

        let mut d = deploy();
        strategic_merge_patch(
            &mut d,
            &json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
        )
        .unwrap();
        assert_eq!(d["metadata"]["finalizers"], json!([]));

        let mut d = deploy();
        strategic_merge_patch(&mut d, &json!({"spec": {"$patch": "replace", "replicas": 5}})).unwrap();
        assert_eq!(d["spec"], json!({"replicas": 5}));
    }

    #[test]
    fn strategic_rejects_keyless_elements() {
        let mut d = deploy();
        let e = strategic_merge_patch(
            &mut d,
            &json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}),
        )
        .unwrap_err();
        assert_eq!(e.code, 400);
        assert!(e.message.contains("merge key"));
        assert!(strategic_merge_patch(&mut d, &json!([1])).is_err());
    }

    #[test]
    fn merge_and_json_patch() {
        let mut d = deploy();
        merge_patch(&mut d, &json!({"spec": {"replicas": 3}})).unwrap();
        assert_eq!(d["spec"]["replicas"], 3);
        json_patch(
            &mut d,
            &json!([{"op": "replace", "path": "/spec/replicas", "value": 4}]),
        )
        .unwrap();
        assert_eq!(d["spec"]["replicas"], 4);
        assert_eq!(
            json_patch(&mut d, &json!([{"op": "test", "path": "/spec/replicas", "value": 1}]))
                .unwrap_err()
                .code,
            422
        );
        assert_eq!(json_patch(&mut d, &json!({"op": "x"})).unwrap_err().code, 400);
        // A missing path tests as null (kube-rs adds its first finalizer this way), and a
        // failed patch changes nothing.
        let mut d = json!({"metadata": {"name": "x"}, "spec": {"replicas": 1}});
        json_patch(
            &mut d,
            &json!([{"op": "test", "path": "/metadata/finalizers", "value": null},
                    {"op": "add", "path": "/metadata/finalizers", "value": ["a/b"]}]),
        )
        .unwrap();
        assert_eq!(d["metadata"]["finalizers"], json!(["a/b"]));
        let before = d.clone();
        let e = json_patch(
            &mut d,
            &json!([{"op": "replace", "path": "/spec/replicas", "value": 9},
                    {"op": "test", "path": "/metadata/finalizers", "value": null}]),
        )
        .unwrap_err();
        assert_eq!(e.code, 422);
        assert!(e.message.contains("operation '/1'"), "{}", e.message);
        assert_eq!(d, before);
    }
}
