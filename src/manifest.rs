//! Manifests for `apply`: `-f FILE|DIR|-`, multi-document YAML or JSON (and `kind: List`),
//! each document checked for `apiVersion`, `kind` and `metadata.name`, errors naming the file
//! and the document.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Read `-f`: a file, a directory's manifest files (sorted), or `-` (stdin). Every document
/// must have `apiVersion`, `kind` and `metadata.name`; errors name the file and document.
///
/// # Errors
/// The first unreadable file or invalid document.
pub fn read(path: &Path) -> Result<Vec<Value>, String> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|e| format!("<stdin>: {e}"))?;
        return parse("<stdin>", &text);
    }
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml" || x == "json"))
            .collect();
        files.sort();
        let mut all = Vec::new();
        for f in files {
            all.extend(read(&f)?);
        }
        return Ok(all);
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&path.display().to_string(), &text)
}

/// Parse multi-document YAML (or JSON) manifests; `origin` names them in errors.
///
/// # Errors
/// A message naming the origin, the document and the problem.
pub fn parse(origin: &str, text: &str) -> Result<Vec<Value>, String> {
    use serde::Deserialize as _;
    let mut out = Vec::new();
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let n = i + 1;
        let v = Value::deserialize(doc).map_err(|e| format!("{origin}: document {n}: {e}"))?;
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
