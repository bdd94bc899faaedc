//! `get`: one object (`deploy/web`), or every object of one or more kinds (`svc,cm`) with an
//! optional label selector, in one namespace or all; any resource the cluster serves. For
//! people, each server prints its own Table (`as=Table`, as kubectl asks), so every kind,
//! a CRD's printer columns included, gets kubectl's columns.

use kube::Resource as _;
use kube::api::{DynamicObject, GetParams, ListParams};
use serde_json::Value;

use super::{Outcome, resolve, target};
use crate::call::Caller;
use crate::failure::{Failure, Idempotence, failure_in_body, failure_in_text};
use muster_core::name::Name;
use muster_core::result::{Object, Output, Table, TableColumn, TableRow};

/// Page size of list requests (kubectl uses 500 too).
const PAGE: u32 = 500;

/// What kubectl accepts when it prints: a Table, else plain JSON.
const ACCEPT_TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

pub async fn run(c: &Caller) -> Result<Outcome, Failure> {
    let t = target(c)?;
    if c.command.table {
        let mut tables = Vec::new();
        for resource in t.resources() {
            tables.push(table(c, resource, t.name.as_ref()).await?);
        }
        let (tables, truncated) = cap_tables(tables, c.settings.max_output_bytes);
        return Ok(Outcome {
            output: Output::Tables { tables, truncated },
            exit_code: None,
        });
    }
    let mut items = Vec::new();
    for resource in t.resources() {
        items.extend(objects(c, resource, t.name.as_ref()).await?);
    }
    let (items, truncated) = cap(items, c.settings.max_output_bytes);
    Ok(Outcome {
        output: Output::Objects { items, truncated },
        exit_code: None,
    })
}

/// The URL path of a resource in the command's namespace (or all namespaces).
fn url_of(c: &Caller, r: &resolve::Resolved) -> String {
    let ns = (!c.command.all_namespaces).then(|| c.namespace().to_string());
    DynamicObject::url_path(&r.api, if r.namespaced { ns.as_deref() } else { None })
}

/// The objects of one resource: the named one, or every one matching `-l`.
async fn objects(c: &Caller, resource: &str, name: Option<&Name>) -> Result<Vec<Object>, Failure> {
    let r = resolve::resource(c, resource).await?;
    // NB: raw JSON requests: objects are kept as served, without a round trip through
    // `DynamicObject` (a third of a warm fan-out's client CPU). A request that cannot be
    // built (never, for a parsed target) fails as a non-transient `ClientError`.
    let url = url_of(c, &r);
    if let Some(name) = name {
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
        return Ok(vec![obj]);
    }
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = list_page(c, &url, token.as_deref(), None).await?;
        token = continue_token(&page);
        if let Some(Value::Array(list)) = page.get("items").cloned() {
            items.extend(list.into_iter().map(|o| Object::from_value(&with_type(o, &r))));
        }
        if token.is_none() {
            return Ok(items);
        }
    }
}

/// One page of a list (as a Table when `accept` says so).
async fn list_page(c: &Caller, url: &str, token: Option<&str>, accept: Option<&str>) -> Result<Value, Failure> {
    let mut lp = ListParams::default().limit(PAGE);
    if let Some(sel) = &c.command.label_selector {
        lp = lp.labels(sel);
    }
    lp.continue_token = token.map(String::from);
    let page: Value = c
        .call(Idempotence::Read, |client| {
            let req = kube::core::Request::new(url).list(&lp).map(|mut req| {
                if let Some(a) = accept.and_then(|a| http::HeaderValue::from_str(a).ok()) {
                    req.headers_mut().insert(http::header::ACCEPT, a);
                }
                req
            });
            async move { client.request::<Value>(req.map_err(kube::Error::BuildRequest)?).await }
        })
        .await?;
    if let Some(f) = failure_in_body(&page) {
        return Err(f);
    }
    Ok(page)
}

fn continue_token(page: &Value) -> Option<String> {
    page.pointer("/metadata/continue")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(String::from)
}

/// One resource as the server prints it: the named object's row, or every matching one.
async fn table(c: &Caller, resource: &str, name: Option<&Name>) -> Result<Table, Failure> {
    let r = resolve::resource(c, resource).await?;
    let url = url_of(c, &r);
    let mut out = Table {
        resource: r.display(),
        columns: Vec::new(),
        rows: Vec::new(),
    };
    let mut token: Option<String> = None;
    loop {
        let page = match name {
            Some(name) => {
                let text = c
                    .call(Idempotence::Read, |client| {
                        let req = kube::core::Request::new(&url)
                            .get(name.as_str(), &GetParams::default())
                            .map(|mut req| {
                                req.headers_mut()
                                    .insert(http::header::ACCEPT, http::HeaderValue::from_static(ACCEPT_TABLE));
                                req
                            });
                        async move { client.request_text(req.map_err(kube::Error::BuildRequest)?).await }
                    })
                    .await?;
                if let Some(f) = failure_in_text(&text) {
                    return Err(f.within(&format!("{}/{name}", r.display())));
                }
                serde_json::from_str::<Value>(&text)
                    .map_err(|e| Failure::invalid("InvalidResponse", format!("the server's answer is not JSON: {e}")))?
            }
            None => list_page(c, &url, token.as_deref(), Some(ACCEPT_TABLE)).await?,
        };
        add_page(&mut out, &page);
        token = continue_token(&page).filter(|_| name.is_none());
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// Add a Table page's columns (once) and rows; a server that answered with plain objects
/// (no Table support) gets NAME and AGE as kubectl would print them.
fn add_page(out: &mut Table, page: &Value) {
    if page.get("kind").and_then(Value::as_str) == Some("Table") {
        if out.columns.is_empty()
            && let Some(cols) = page.get("columnDefinitions").and_then(Value::as_array)
        {
            out.columns = cols
                .iter()
                .map(|c| TableColumn {
                    name: c.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
                    type_: c.get("type").and_then(Value::as_str).unwrap_or_default().to_string(),
                    priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                })
                .collect();
        }
        for row in page.get("rows").and_then(Value::as_array).into_iter().flatten() {
            let meta = |k: &str| {
                row.pointer(&format!("/object/metadata/{k}"))
                    .and_then(Value::as_str)
                    .map(String::from)
            };
            out.rows.push(TableRow {
                namespace: meta("namespace"),
                name: meta("name").unwrap_or_default(),
                cells: row.get("cells").and_then(Value::as_array).cloned().unwrap_or_default(),
            });
        }
        return;
    }
    if out.columns.is_empty() {
        out.columns = ["Name", "Created At"]
            .iter()
            .map(|n| TableColumn {
                name: (*n).to_string(),
                type_: if *n == "Name" { "string" } else { "date" }.into(),
                priority: 0,
            })
            .collect();
    }
    let objects: Vec<&Value> = match page.get("items").and_then(Value::as_array) {
        Some(items) => items.iter().collect(),
        None => vec![page],
    };
    for o in objects {
        let meta = |k: &str| {
            o.pointer(&format!("/metadata/{k}"))
                .and_then(Value::as_str)
                .map(String::from)
        };
        let name = meta("name").unwrap_or_default();
        out.rows.push(TableRow {
            namespace: meta("namespace"),
            cells: vec![
                Value::String(name.clone()),
                meta("creationTimestamp").map_or(Value::Null, Value::String),
            ],
            name,
        });
    }
}

/// Keep whole rows while their JSON fits in `max_bytes`.
fn cap_tables(mut tables: Vec<Table>, max_bytes: u64) -> (Vec<Table>, bool) {
    let mut used = 0u64;
    let mut truncated = false;
    for t in &mut tables {
        let before = t.rows.len();
        t.rows.retain(|row| {
            used += serde_json::to_string(&row.cells).map_or(0, |s| s.len() as u64);
            used <= max_bytes
        });
        truncated |= t.rows.len() < before;
    }
    (tables, truncated)
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
