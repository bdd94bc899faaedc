//! `get`: one object (`deploy/web`), or every object of a kind with an optional label
//! selector, in one namespace or all; any resource the cluster serves.

use kube::Resource as _;
use kube::api::{DynamicObject, GetParams, ListParams};
use serde_json::Value;

use super::{Outcome, resolve, target};
use crate::call::Caller;
use crate::failure::{Failure, Idempotence, failure_in_body, failure_in_text};
use muster_core::result::{Object, Output};

/// Page size of list requests (kubectl uses 500 too).
const PAGE: u32 = 500;

pub async fn run(c: &Caller) -> Result<Outcome, Failure> {
    let t = target(c)?;
    let r = resolve::resource(c, &t.resource).await?;
    let ns = (!c.command.all_namespaces).then(|| c.namespace().to_string());
    // NB: raw JSON requests: objects are kept as served, without a round trip through
    // `DynamicObject` (a third of a warm fan-out's client CPU). A request that cannot be
    // built (never, for a parsed target) fails as a non-transient `ClientError`.
    let url = DynamicObject::url_path(&r.api, if r.namespaced { ns.as_deref() } else { None });
    let items = if let Some(name) = &t.name {
        // NB: the object is kept as the text the server sent (checked to be JSON).
        let text = c
            .call(Idempotence::Read, |client| {
                let req = kube::core::Request::new(&url).get(name.as_str(), &GetParams::default());
                async move { client.request_text(req.map_err(kube::Error::BuildRequest)?).await }
            })
            .await?;
        if let Some(f) = failure_in_text(&text) {
            return Err(f.within(&format!("{}/{name}", r.display())));
        }
        let obj = Object::from_json(&text)
            .map_err(|e| Failure::invalid("InvalidResponse", format!("the server's answer is not JSON: {e}")))?;
        vec![obj]
    } else {
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut lp = ListParams::default().limit(PAGE);
            if let Some(sel) = &c.command.label_selector {
                lp = lp.labels(sel);
            }
            lp.continue_token.clone_from(&token);
            let mut page: Value = c
                .call(Idempotence::Read, |client| {
                    let req = kube::core::Request::new(&url).list(&lp);
                    async move { client.request::<Value>(req.map_err(kube::Error::BuildRequest)?).await }
                })
                .await?;
            if let Some(f) = failure_in_body(&page) {
                return Err(f.within(&r.display()));
            }
            token = page
                .pointer("/metadata/continue")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(String::from);
            if let Some(Value::Array(list)) = page.get_mut("items").map(Value::take) {
                items.extend(list.into_iter().map(|o| Object::from_value(&with_type(o, &r))));
            }
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

/// An object with the `apiVersion` and `kind` list items lack.
fn with_type(mut v: Value, r: &resolve::Resolved) -> Value {
    if let Some(map) = v.as_object_mut() {
        map.entry("apiVersion")
            .or_insert_with(|| r.api.api_version.clone().into());
        map.entry("kind").or_insert_with(|| r.api.kind.clone().into());
    }
    v
}

/// Keep whole objects while their JSON fits in `max_bytes`.
fn cap(items: Vec<Object>, max_bytes: u64) -> (Vec<Object>, bool) {
    let mut used = 0u64;
    let total = items.len();
    let kept: Vec<Object> = items
        .into_iter()
        .take_while(|o| {
            used += o.text().len() as u64;
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
        let items: Vec<Object> = (0..10)
            .map(|i| Object::from_value(&json!({"n": i, "pad": "x".repeat(90)})))
            .collect();
        let one = items[0].text().len() as u64;
        let (kept, truncated) = cap(items.clone(), one * 3);
        assert_eq!((kept.len(), truncated), (3, true));
        let (kept, truncated) = cap(items, 1 << 20);
        assert_eq!((kept.len(), truncated), (10, false));
    }
}
