//! `get`: one object (`deploy/web`), or every object of a kind with an optional label
//! selector, in one namespace or all; any resource the cluster serves.

use kube::api::{DynamicObject, ListParams};
use serde_json::Value;

use super::{Outcome, resolve, target};
use crate::fanout::call::Caller;
use crate::fanout::retry::{Failure, Idempotence};
use crate::result::Output;

/// Page size of list requests (kubectl uses 500 too).
const PAGE: u32 = 500;

pub async fn run(c: &Caller) -> Result<Outcome, Failure> {
    let t = target(c)?;
    let r = resolve::resource(c, &t.resource).await?;
    let ns = (!c.command.all_namespaces).then(|| c.namespace().to_string());
    let items = if let Some(name) = &t.name {
        let obj = c
            .call(Idempotence::Read, |client| {
                let api = r.api(client, ns.as_deref());
                async move { api.get(name).await }
            })
            .await?;
        vec![object_json(obj, &r)]
    } else {
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut lp = ListParams::default().limit(PAGE);
            if let Some(sel) = &c.command.label_selector {
                lp = lp.labels(sel);
            }
            lp.continue_token.clone_from(&token);
            let page = c
                .call(Idempotence::Read, |client| {
                    let api = r.api(client, ns.as_deref());
                    let lp = lp.clone();
                    async move { api.list(&lp).await }
                })
                .await?;
            token = page.metadata.continue_.clone().filter(|t| !t.is_empty());
            items.extend(page.items.into_iter().map(|o| object_json(o, &r)));
            if token.is_none() {
                break;
            }
        }
        items
    };
    let (items, truncated) = cap(items, c.settings.max_output_bytes);
    Ok(Outcome {
        output: Output::Objects { items, truncated },
        exit_code: None,
    })
}

/// An object as JSON, with the `apiVersion` and `kind` list items lack.
fn object_json(obj: DynamicObject, r: &resolve::Resolved) -> Value {
    let mut v = serde_json::to_value(obj).unwrap_or(Value::Null);
    if let Some(map) = v.as_object_mut() {
        map.entry("apiVersion")
            .or_insert_with(|| r.api.api_version.clone().into());
        map.entry("kind").or_insert_with(|| r.api.kind.clone().into());
    }
    v
}

/// Keep whole objects while their JSON fits in `max_bytes`.
fn cap(items: Vec<Value>, max_bytes: u64) -> (Vec<Value>, bool) {
    let mut used = 0u64;
    let total = items.len();
    let kept: Vec<Value> = items
        .into_iter()
        .take_while(|v| {
            used += serde_json::to_vec(v).map_or(0, |b| b.len() as u64);
            used <= max_bytes
        })
        .collect();
    let truncated = kept.len() < total;
    (kept, truncated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn output_is_capped_by_whole_objects() {
        let items: Vec<Value> = (0..10).map(|i| json!({"n": i, "pad": "x".repeat(90)})).collect();
        let one = serde_json::to_vec(&items[0]).unwrap().len() as u64;
        let (kept, truncated) = cap(items.clone(), one * 3);
        assert_eq!((kept.len(), truncated), (3, true));
        let (kept, truncated) = cap(items, 1 << 20);
        assert_eq!((kept.len(), truncated), (10, false));
    }
}
