//! A custom resource checked against its CRD's structural schema (`openAPIV3Schema`), as
//! kube-apiserver checks it before storing: types (and `int32`/`int64` ranges), `enum`,
//! `required`, `minimum`/`maximum`, `nullable`, `x-kubernetes-int-or-string`, nested
//! `properties`, `additionalProperties` and `items`. Messages follow kube-apiserver's. (Unknown
//! fields are kept rather than pruned; see the README.)

use serde_json::Value;

/// Every problem of `v` under `schema`, as (`field`, message) causes.
#[must_use]
pub fn check(schema: &Value, v: &Value) -> Vec<(String, String)> {
    let mut causes = Vec::new();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, sub) in props {
            if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            if let Some(child) = v.get(k) {
                walk(sub, child, k, &mut causes);
            }
        }
    }
    required(schema, v, "", &mut causes);
    causes
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn required(schema: &Value, v: &Value, path: &str, causes: &mut Vec<(String, String)>) {
    let (Some(req), Some(obj)) = (schema.get("required").and_then(Value::as_array), v.as_object()) else {
        return;
    };
    for r in req.iter().filter_map(Value::as_str) {
        if !obj.contains_key(r) {
            let field = if path.is_empty() {
                r.to_string()
            } else {
                format!("{path}.{r}")
            };
            causes.push((field, "Required value".into()));
        }
    }
}

fn walk(schema: &Value, v: &Value, path: &str, causes: &mut Vec<(String, String)>) {
    if v.is_null() && schema.get("nullable").and_then(Value::as_bool) == Some(true) {
        return;
    }
    if schema.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true) {
        if !matches!(type_name(v), "integer" | "string") {
            causes.push((
                path.into(),
                format!(
                    "Invalid value: \"{}\": {path} in body must be of type int-or-string",
                    type_name(v)
                ),
            ));
        }
        return;
    }
    let got = type_name(v);
    if let Some(want) = schema.get("type").and_then(Value::as_str) {
        let fits = want == got || (want == "number" && got == "integer");
        if !fits {
            causes.push((
                path.into(),
                format!("Invalid value: \"{got}\": {path} in body must be of type {want}: \"{got}\""),
            ));
            return;
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array)
        && !values.contains(v)
    {
        let supported: Vec<String> = values.iter().map(Value::to_string).collect();
        causes.push((
            path.into(),
            format!("Unsupported value: {v}: supported values: {}", supported.join(", ")),
        ));
    }
    if let Some(n) = v.as_f64() {
        let range = match schema.get("format").and_then(Value::as_str) {
            Some("int32") => Some((f64::from(i32::MIN), f64::from(i32::MAX))),
            _ => None,
        };
        if let Some((lo, hi)) = range
            && (n < lo || n > hi)
        {
            causes.push((
                path.into(),
                format!("Invalid value: {v}: {path} in body should be a 32-bit integer"),
            ));
        }
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            causes.push((
                path.into(),
                format!("Invalid value: {v}: {path} in body should be greater than or equal to {min}"),
            ));
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            causes.push((
                path.into(),
                format!("Invalid value: {v}: {path} in body should be less than or equal to {max}"),
            ));
        }
    }
    match v {
        Value::Object(m) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let extra = schema.get("additionalProperties").filter(|a| a.is_object());
            for (k, child) in m {
                let sub = props.and_then(|p| p.get(k)).or(extra);
                if let Some(sub) = sub {
                    walk(sub, child, &format!("{path}.{k}"), causes);
                }
            }
            required(schema, v, path, causes);
        }
        Value::Array(items) => {
            if let Some(sub) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    walk(sub, item, &format!("{path}[{i}]"), causes);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn structural_checks() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "required": ["action"], "properties": {
            "action": {"type": "string", "enum": ["get", "apply"]},
            "replicas": {"type": "integer", "format": "int32", "minimum": 0.0, "nullable": true},
            "argv": {"type": "array", "items": {"type": "string"}},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "port": {"x-kubernetes-int-or-string": true},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
        }}}});
        let ok = json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "a"},
            "spec": {"action": "get", "replicas": null, "argv": ["a"], "labels": {"a": "b"}, "port": "http", "free": {"x": [1]}}});
        assert!(check(&schema, &ok).is_empty(), "{:?}", check(&schema, &ok));
        let bad =
            json!({"spec": {"action": "drain", "replicas": -1, "argv": ["a", 2], "labels": {"a": 1}, "port": true}});
        let causes = check(&schema, &bad);
        let fields: Vec<&str> = causes.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.action",
                "spec.replicas",
                "spec.argv[1]",
                "spec.labels.a",
                "spec.port"
            ],
            "{causes:?}"
        );
        assert!(
            causes[0]
                .1
                .starts_with("Unsupported value: \"drain\": supported values: \"get\", \"apply\"")
        );
        let missing = check(&schema, &json!({"spec": {}}));
        assert_eq!(missing, [("spec.action".to_string(), "Required value".to_string())]);
    }
}
