//! Revisions of a rollout: each distinct content of its resources (by hash) is a numbered,
//! immutable snapshot in a ConfigMap the rollout owns, as ControllerRevisions are for
//! Deployments. Returning to an earlier content reuses its number's snapshot under a new
//! number, so history reads in order. Objects muster applies carry the revision's hash and
//! the rollout's name, which is how a resumed rollout knows an apply already landed and a
//! rollback knows which objects it created.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::store::{Store, StoreError, gunzip, gzip};

/// On every applied object: the content hash of the revision that wrote it.
pub const REVISION_ANNOTATION: &str = "muster.dev/revision";
/// On objects a rollout created (absent before its first apply): `namespace/name` of the
/// rollout. A rollback deletes only objects with this mark.
pub const ROLLOUT_ANNOTATION: &str = "muster.dev/rollout";
/// The label that numbers a snapshot.
const NUMBER_LABEL: &str = "muster.dev/revision";

/// One revision: its number, content hash and objects (namespaces filled in).
#[derive(Debug, Clone, PartialEq)]
pub struct Revision {
    pub number: u32,
    pub hash: String,
    pub manifests: Arc<Vec<Value>>,
    /// When its snapshot was made (RFC 3339).
    pub created: String,
}

/// JSON with object keys sorted (a hash must not depend on key order).
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(keys.into_iter().map(|k| (k.clone(), canonical(&m[k]))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// The content hash of a set of manifests (16 hex digits of SHA-256).
#[must_use]
pub fn hash(manifests: &[Value]) -> String {
    let text = canonical(&Value::Array(manifests.to_vec())).to_string();
    let d = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    d.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The manifests as muster applies them: each annotated with the revision.
#[must_use]
pub fn annotated(manifests: &[Value], hash: &str) -> Vec<Value> {
    manifests
        .iter()
        .map(|m| {
            let mut m = m.clone();
            if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
                let ann = meta
                    .entry("annotations")
                    .or_insert_with(|| Value::Object(serde_json::Map::new()));
                if let Some(a) = ann.as_object_mut() {
                    a.insert(REVISION_ANNOTATION.into(), hash.into());
                }
            }
            m
        })
        .collect()
}

/// `kind.group/name` of a manifest, as muster's targets are written, and its namespace.
#[must_use]
pub fn target_of(m: &Value) -> Option<(String, Option<String>)> {
    let text = |p: &str| m.pointer(p).and_then(Value::as_str);
    let (api_version, kind, name) = (text("/apiVersion")?, text("/kind")?, text("/metadata/name")?);
    let kind = kind.to_ascii_lowercase();
    let resource = match api_version.rsplit_once('/') {
        Some((group, _)) => format!("{kind}.{group}"),
        None => kind,
    };
    Some((
        format!("{resource}/{name}"),
        text("/metadata/namespace").map(String::from),
    ))
}

fn snapshot_name(store: &Store, number: u32) -> String {
    crate::store::child_name(store.base(), &format!("rev-{number}"))
}

fn parse(cm: &k8s_openapi::api::core::v1::ConfigMap) -> Result<Revision, StoreError> {
    let name = cm.metadata.name.clone().unwrap_or_default();
    let corrupt = |why: String| StoreError::Corrupt {
        name: name.clone(),
        why,
    };
    let data = cm.data.clone().unwrap_or_default();
    let number = data
        .get("number")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| corrupt("no number".into()))?;
    let packed = cm
        .binary_data
        .as_ref()
        .and_then(|b| b.get("manifests.json.gz"))
        .ok_or_else(|| corrupt("no manifests.json.gz".into()))?;
    let bytes = gunzip(&packed.0, 64 * 1024 * 1024).map_err(&corrupt)?;
    let manifests: Vec<Value> = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    Ok(Revision {
        number,
        hash: data.get("hash").cloned().unwrap_or_default(),
        manifests: Arc::new(manifests),
        created: data.get("created").cloned().unwrap_or_default(),
    })
}

/// Every revision of the rollout, oldest first.
///
/// # Errors
/// The hub's answer, or a damaged snapshot.
pub async fn history(store: &Store) -> Result<Vec<Revision>, StoreError> {
    let mut out = Vec::new();
    for cm in store.list(NUMBER_LABEL).await? {
        out.push(parse(&cm)?);
    }
    out.sort_by_key(|r| r.number);
    Ok(out)
}

/// Revision `number`, if its snapshot exists.
///
/// # Errors
/// The hub's answer, or a damaged snapshot.
pub async fn get(store: &Store, number: u32) -> Result<Option<Revision>, StoreError> {
    match store.read(&snapshot_name(store, number)).await? {
        Some(cm) => parse(&cm).map(Some),
        None => Ok(None),
    }
}

/// The revision of `manifests`: the latest one when its content is the same, else a new
/// snapshot numbered after the highest.
///
/// # Errors
/// The hub's answer to a write.
pub async fn ensure(store: &Store, manifests: &[Value]) -> Result<Revision, StoreError> {
    let h = hash(manifests);
    let all = history(store).await?;
    if let Some(last) = all.last()
        && last.hash == h
    {
        return Ok(last.clone());
    }
    let number = all.last().map_or(1, |r| r.number + 1);
    let created = crate::members::now_rfc3339();
    store
        .put_labelled(
            &snapshot_name(store, number),
            BTreeMap::from([(NUMBER_LABEL.to_string(), number.to_string())]),
            BTreeMap::from([
                ("number".to_string(), number.to_string()),
                ("hash".to_string(), h.clone()),
                ("created".to_string(), created.clone()),
            ]),
            BTreeMap::from([(
                "manifests.json.gz".to_string(),
                gzip(&serde_json::to_vec(manifests).unwrap_or_default()),
            )]),
            true,
        )
        .await?;
    Ok(Revision {
        number,
        hash: h,
        manifests: Arc::new(manifests.to_vec()),
        created,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hashes_ignore_key_order_and_targets_name_the_kind() {
        let a =
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}});
        let b =
            json!({"metadata": {"namespace": "shop", "name": "web"}, "kind": "Deployment", "apiVersion": "apps/v1"});
        assert_eq!(hash(std::slice::from_ref(&a)), hash(&[b]));
        assert_ne!(hash(std::slice::from_ref(&a)), hash(&[json!({"kind": "ConfigMap"})]));
        assert_eq!(hash(std::slice::from_ref(&a)).len(), 16);
        assert_eq!(target_of(&a), Some(("deployment.apps/web".into(), Some("shop".into()))));
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        assert_eq!(target_of(&cm), Some(("configmap/c".into(), None)));
        let out = annotated(&[cm], "h1");
        assert_eq!(out[0]["metadata"]["annotations"][REVISION_ANNOTATION], "h1");
    }
}
