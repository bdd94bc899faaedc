//! Manifests for `apply`: multi-document YAML or JSON (and `kind: List`), each document
//! checked for `apiVersion`, `kind` and `metadata.name`, errors naming the origin (a file,
//! a ConfigMap, a message) and the document. Reading files is the caller's business.

use serde_json::Value;

use crate::yaml;

/// Parse multi-document YAML (or JSON) manifests; `origin` names them in errors.
///
/// # Errors
/// A message naming the origin, the document and the problem.
pub fn parse(origin: &str, text: &str) -> Result<Vec<Value>, String> {
    parse_with(origin, text, yaml::Limits::default())
}

/// [`parse`] within `limits` (size, nesting).
///
/// # Errors
/// A message naming the origin, the document and the problem.
pub fn parse_with(origin: &str, text: &str, limits: yaml::Limits) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for doc in yaml::documents(text, limits).map_err(|e| format!("{origin}: {e}"))? {
        let n = doc.number;
        let v: Value = yaml::parse_with(doc.text, limits)
            .map_err(|e| format!("{origin}: document {n}: {}", e.shifted(doc.first_line)))?;
        if v.is_null() {
            continue; // an empty document (`---` at the end)
        }
        if let Some(items) = v.get("items").and_then(Value::as_array).filter(|_| {
            v.get("kind")
                .and_then(Value::as_str)
                .is_some_and(|k| k.ends_with("List"))
        }) {
            out.extend(items.iter().cloned());
            continue;
        }
        for field in ["/apiVersion", "/kind", "/metadata/name"] {
            if v.pointer(field).and_then(Value::as_str).is_none_or(str::is_empty) {
                return Err(format!(
                    "{origin}: document {n}: {} is missing",
                    field.trim_start_matches('/').replace('/', ".")
                ));
            }
        }
        out.push(v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_are_checked_per_document() {
        let ok = parse(
            "app.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n",
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
        let e = parse(
            "app.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nkind: Secret\nmetadata: {name: s}\n",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(e, "app.yaml: document 2: apiVersion is missing");
        let e = parse("app.yaml", "a: [\n").unwrap_err().to_string();
        assert!(e.starts_with("app.yaml: document 1:") && e.contains("line"), "{e}");
    }
}
