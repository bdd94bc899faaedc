//! Server-side apply and `managedFields`: field ownership, conflicts, and what an applier
//! stops owning when it drops a field from its configuration.
//!
//! Field sets use the `FieldsV1` encoding kube-apiserver writes (`f:spec`, `k:{"name":"web"}`,
//! `v:"finalizer"`, `.`). List semantics come from [`super::patch::list_type`], so strategic
//! merge patch and apply agree on which lists merge by key.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::patch::{ListType, list_type};
use super::status::ApiError;

/// One element of a field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pe {
    /// A map field.
    Field(String),
    /// An associative-list element, by the canonical JSON of its key fields.
    Key(String),
    /// A set element, by its canonical JSON.
    Value(String),
}

pub type FieldPath = Vec<Pe>;
pub type FieldSet = BTreeSet<FieldPath>;

/// Which part of an object a write addresses (the main resource or its `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The main resource; `status` is excluded when the kind has a status subresource.
    Main { include_status: bool },
    /// Only `status`.
    Status,
}

const SYSTEM_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
];

/// The set of fields `value` sets, as server-side apply tracks them.
#[must_use]
pub fn field_set(value: &Value, builtin: bool, part: Part) -> FieldSet {
    let mut out = FieldSet::new();
    let Value::Object(top) = value else {
        return out;
    };
    for (k, v) in top {
        let keep = match (k.as_str(), part) {
            ("apiVersion" | "kind", _) => false,
            ("status", Part::Main { include_status }) => include_status,
            ("status", Part::Status) => true,
            (_, Part::Status) => false,
            _ => true,
        };
        if !keep {
            continue;
        }
        let mut path = vec![Pe::Field(k.clone())];
        let mut names = vec![k.clone()];
        if k == "metadata" {
            if let Value::Object(meta) = v {
                for (mk, mv) in meta {
                    if SYSTEM_METADATA.contains(&mk.as_str()) {
                        continue;
                    }
                    path.push(Pe::Field(mk.clone()));
                    names.push(mk.clone());
                    collect(mv, builtin, &mut names, &mut path, &mut out);
                    path.pop();
                    names.pop();
                }
            }
            continue;
        }
        collect(v, builtin, &mut names, &mut path, &mut out);
    }
    out
}

/// The key fields of an associative list for server-side apply, with the defaults a
/// missing key field takes (the schema's `x-kubernetes-list-map-keys`): ports are keyed by
/// number AND protocol, as kube-apiserver keys them (`k:{"port":80,"protocol":"TCP"}`).
fn apply_keys(key: &'static str) -> &'static [(&'static str, Option<&'static str>)] {
    match key {
        "containerPort" => &[("containerPort", None), ("protocol", Some("TCP"))],
        "port" => &[("port", None), ("protocol", Some("TCP"))],
        "name" => &[("name", None)],
        "uid" => &[("uid", None)],
        "type" => &[("type", None)],
        "mountPath" => &[("mountPath", None)],
        "devicePath" => &[("devicePath", None)],
        "conditionType" => &[("conditionType", None)],
        "ip" => &[("ip", None)],
        "topologyKey" => &[("topologyKey", None)],
        _ => &[],
    }
}

/// An element's key as the canonical JSON of its key fields (defaults filled in).
fn key_of(item: &Value, key: &'static str) -> Option<String> {
    let keys = apply_keys(key);
    if keys.is_empty() {
        return item.get(key).map(|kv| {
            let mut m = Map::new();
            m.insert(key.to_string(), kv.clone());
            Value::Object(m).to_string()
        });
    }
    let mut m = Map::new();
    for (k, default) in keys {
        let v = match (item.get(*k), default) {
            (Some(v), _) => v.clone(),
            (None, Some(d)) => json!(d),
            (None, None) => return None,
        };
        m.insert((*k).to_string(), v);
    }
    Some(Value::Object(m).to_string())
}

fn collect(v: &Value, builtin: bool, names: &mut Vec<String>, path: &mut FieldPath, out: &mut FieldSet) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                path.push(Pe::Field(k.clone()));
                names.push(k.clone());
                collect(child, builtin, names, path, out);
                names.pop();
                path.pop();
            }
        }
        Value::Array(items) => match list_type(builtin, names) {
            ListType::Map(key) if items.iter().all(|i| key_of(i, key).is_some()) => {
                names.push("[]".into());
                for item in items {
                    path.push(Pe::Key(key_of(item, key).unwrap_or_default()));
                    out.insert(path.clone());
                    collect(item, builtin, names, path, out);
                    path.pop();
                }
                names.pop();
            }
            ListType::Set => {
                for item in items {
                    path.push(Pe::Value(item.to_string()));
                    out.insert(path.clone());
                    path.pop();
                }
            }
            _ => {
                out.insert(path.clone());
            }
        },
        _ => {
            out.insert(path.clone());
        }
    }
}

/// The value at a field path, if present.
#[must_use]
pub fn get_at<'a>(value: &'a Value, path: &[Pe]) -> Option<&'a Value> {
    let mut cur = value;
    for pe in path {
        cur = match pe {
            Pe::Field(f) => cur.get(f)?,
            Pe::Key(k) => {
                let want: Map<String, Value> = serde_json::from_str(k).ok()?;
                cur.as_array()?.iter().find(|item| key_matches(&want, item))?
            }
            Pe::Value(v) => {
                let want: Value = serde_json::from_str(v).ok()?;
                cur.as_array()?.iter().find(|item| **item == want)?
            }
        };
    }
    Some(cur)
}

/// Remove the field at `path` (a map key, a list element by key, or a set element).
pub fn remove_at(value: &mut Value, path: &[Pe]) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let mut cur = value;
    for pe in parent_path {
        let next = match pe {
            Pe::Field(f) => cur.get_mut(f),
            Pe::Key(_) | Pe::Value(_) => {
                let idx = index_of(cur, pe);
                match (idx, cur.as_array_mut()) {
                    (Some(i), Some(a)) => a.get_mut(i),
                    _ => None,
                }
            }
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    match last {
        Pe::Field(f) => {
            if let Some(m) = cur.as_object_mut() {
                m.remove(f);
            }
        }
        pe => {
            if let Some(i) = index_of(cur, pe)
                && let Some(a) = cur.as_array_mut()
            {
                a.remove(i);
            }
        }
    }
}

/// After a removal, drop map fields the removal left empty (Go's `omitempty` would not
/// serialise them either), stopping at the first non-empty ancestor.
fn prune_empty_parents(value: &mut Value, path: &[Pe]) {
    for k in (1..path.len()).rev() {
        let parent = &path[..k];
        let empty = get_at(value, parent).is_some_and(|v| v.as_object().is_some_and(serde_json::Map::is_empty));
        if !empty || !matches!(parent.last(), Some(Pe::Field(_))) {
            break;
        }
        remove_at(value, parent);
    }
}

/// Whether a list element has the key fields `want`; a key field the element leaves to its
/// default (a port's protocol) matches the default.
fn key_matches(want: &Map<String, Value>, item: &Value) -> bool {
    want.iter()
        .all(|(wk, wv)| item.get(wk) == Some(wv) || (item.get(wk).is_none() && wk == "protocol" && wv == "TCP"))
}

fn index_of(list: &Value, pe: &Pe) -> Option<usize> {
    let items = list.as_array()?;
    match pe {
        Pe::Key(k) => {
            let want: Map<String, Value> = serde_json::from_str(k).ok()?;
            items.iter().position(|item| key_matches(&want, item))
        }
        Pe::Value(v) => {
            let want: Value = serde_json::from_str(v).ok()?;
            items.iter().position(|item| *item == want)
        }
        Pe::Field(_) => None,
    }
}

/// A path as kube-apiserver prints it in conflict messages: `.spec.containers[name="web"].image`.
#[must_use]
pub fn display_path(path: &[Pe]) -> String {
    let mut s = String::new();
    for pe in path {
        match pe {
            Pe::Field(f) => {
                s.push('.');
                s.push_str(f);
            }
            Pe::Key(k) => {
                let m: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
                let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
                s.push_str(&format!("[{}]", parts.join(",")));
            }
            Pe::Value(v) => s.push_str(&format!("[={v}]")),
        }
    }
    s
}

#[derive(Default)]
struct Node {
    owned: bool,
    children: BTreeMap<String, Node>,
}

fn encode_pe(pe: &Pe) -> String {
    match pe {
        Pe::Field(f) => format!("f:{f}"),
        Pe::Key(k) => format!("k:{k}"),
        Pe::Value(v) => format!("v:{v}"),
    }
}

/// Encode a field set as `FieldsV1`.
#[must_use]
pub fn encode(set: &FieldSet) -> Value {
    let mut root = Node::default();
    for path in set {
        let mut node = &mut root;
        for pe in path {
            node = node.children.entry(encode_pe(pe)).or_default();
        }
        node.owned = true;
    }
    fn to_json(node: &Node) -> Value {
        let mut m = Map::new();
        if node.owned && !node.children.is_empty() {
            m.insert(".".into(), json!({}));
        }
        for (k, child) in &node.children {
            m.insert(k.clone(), to_json(child));
        }
        Value::Object(m)
    }
    to_json(&root)
}

/// Decode `FieldsV1` into a field set (unknown prefixes are ignored).
#[must_use]
pub fn decode(fields: &Value) -> FieldSet {
    fn walk(v: &Value, path: &mut FieldPath, out: &mut FieldSet) {
        let Some(m) = v.as_object() else { return };
        if m.is_empty() && !path.is_empty() {
            out.insert(path.clone());
        }
        for (k, child) in m {
            if k == "." {
                out.insert(path.clone());
                continue;
            }
            let pe = if let Some(f) = k.strip_prefix("f:") {
                Pe::Field(f.to_string())
            } else if let Some(key) = k.strip_prefix("k:") {
                Pe::Key(key.to_string())
            } else if let Some(val) = k.strip_prefix("v:") {
                Pe::Value(val.to_string())
            } else {
                continue;
            };
            path.push(pe);
            walk(child, path, out);
            path.pop();
        }
    }
    let mut out = FieldSet::new();
    walk(fields, &mut Vec::new(), &mut out);
    out
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub time: String,
    pub subresource: Option<String>,
    pub set: FieldSet,
}

impl Entry {
    fn same_owner(&self, manager: &str, operation: &str, subresource: Option<&str>) -> bool {
        self.manager == manager && self.operation == operation && self.subresource.as_deref() == subresource
    }
}

/// Read an object's `metadata.managedFields`.
#[must_use]
pub fn read_entries(obj: &Value) -> Vec<Entry> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|e| Entry {
                    manager: e.get("manager").and_then(Value::as_str).unwrap_or_default().to_string(),
                    operation: e
                        .get("operation")
                        .and_then(Value::as_str)
                        .unwrap_or("Update")
                        .to_string(),
                    api_version: e
                        .get("apiVersion")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    time: e.get("time").and_then(Value::as_str).unwrap_or_default().to_string(),
                    subresource: e.get("subresource").and_then(Value::as_str).map(String::from),
                    set: e.get("fieldsV1").map(decode).unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Write `metadata.managedFields` (entries with empty sets are dropped, as apiserver does).
pub fn write_entries(obj: &mut Value, entries: &[Entry]) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.set.is_empty())
        .map(|e| {
            let mut m = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": encode(&e.set),
            });
            if let Some(s) = &e.subresource {
                m["subresource"] = json!(s);
            }
            m
        })
        .collect();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

/// Who is writing and how.
#[derive(Debug, Clone)]
pub struct WriteCtx<'a> {
    pub manager: &'a str,
    pub api_version: &'a str,
    pub subresource: Option<&'a str>,
    pub builtin: bool,
    pub part: Part,
    pub now: &'a str,
}

/// Merge an applied configuration into an object, structurally (maps by key, associative
/// lists by their key, atomic lists and scalars replaced).
fn merge_applied(current: &mut Value, applied: &Value, builtin: bool, names: &mut Vec<String>) {
    match (current, applied) {
        (Value::Object(cur), Value::Object(app)) => {
            for (k, av) in app {
                names.push(k.clone());
                match cur.get_mut(k) {
                    Some(cv) => merge_applied(cv, av, builtin, names),
                    None => {
                        cur.insert(k.clone(), av.clone());
                    }
                }
                names.pop();
            }
        }
        (Value::Array(cur), Value::Array(app)) => match list_type(builtin, names) {
            ListType::Map(key) => {
                names.push("[]".into());
                for item in app {
                    let wanted = key_of(item, key);
                    match wanted
                        .as_ref()
                        .and_then(|w| cur.iter().position(|c| key_of(c, key).as_ref() == Some(w)))
                    {
                        Some(i) => merge_applied(&mut cur[i], item, builtin, names),
                        None => cur.push(item.clone()),
                    }
                }
                names.pop();
            }
            ListType::Set => {
                for item in app {
                    if !cur.contains(item) {
                        cur.push(item.clone());
                    }
                }
            }
            ListType::Atomic => *cur = app.clone(),
        },
        (cur, app) => *cur = app.clone(),
    }
}

/// Strip what an apply request may not set for the part it addresses.
fn applied_part(applied: &Value, part: Part) -> Value {
    let mut v = applied.clone();
    if let Some(m) = v.as_object_mut() {
        match part {
            Part::Main { include_status: false } => {
                m.remove("status");
            }
            Part::Status => m.retain(|k, _| matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status")),
            Part::Main { .. } => {}
        }
        if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
            meta.remove("resourceVersion");
            if part == Part::Status {
                meta.retain(|k, _| k == "name" || k == "namespace");
            }
        }
    }
    v
}

/// Server-side apply `applied` onto `current` (absent for a create) for `ctx.manager`.
///
/// # Errors
/// 409 `Conflict` listing every field another manager owns with a different value, unless
/// `force` takes them over.
pub fn apply(current: Option<&Value>, applied: &Value, force: bool, ctx: &WriteCtx<'_>) -> Result<Value, ApiError> {
    let applied = applied_part(applied, ctx.part);
    let new_set = field_set(&applied, ctx.builtin, ctx.part);
    let Some(current) = current else {
        let mut obj = applied;
        write_entries(
            &mut obj,
            &[Entry {
                manager: ctx.manager.into(),
                operation: "Apply".into(),
                api_version: ctx.api_version.into(),
                time: ctx.now.into(),
                subresource: ctx.subresource.map(String::from),
                set: new_set,
            }],
        );
        return Ok(obj);
    };
    let mut entries = read_entries(current);
    let mine = |e: &Entry| e.same_owner(ctx.manager, "Apply", ctx.subresource);

    // Conflicts: fields another manager owns whose value would change.
    let mut conflicts: Vec<(usize, FieldPath)> = Vec::new();
    for (i, e) in entries.iter().enumerate().filter(|(_, e)| !mine(e)) {
        for p in e.set.intersection(&new_set) {
            if matches!(p.last(), Some(Pe::Key(_))) {
                continue; // owning a list element is not a value conflict
            }
            if get_at(current, p) != get_at(&applied, p) {
                conflicts.push((i, p.clone()));
            }
        }
    }
    if !conflicts.is_empty() {
        if !force {
            return Err(conflict_error(&conflicts, &entries));
        }
        for e in entries.iter_mut().filter(|e| !mine(e)) {
            for (_, p) in &conflicts {
                e.set.remove(p);
            }
        }
    }

    // Fields this applier owned before but no longer sets, and nobody else owns: removed.
    let mut obj = current.clone();
    let previous: FieldSet = entries
        .iter()
        .filter(|e| mine(e))
        .flat_map(|e| e.set.iter().cloned())
        .collect();
    let others: Vec<&FieldPath> = entries.iter().filter(|e| !mine(e)).flat_map(|e| e.set.iter()).collect();
    for p in previous.difference(&new_set) {
        if !others.iter().any(|o| o.starts_with(p)) {
            remove_at(&mut obj, p);
            prune_empty_parents(&mut obj, p);
        }
    }
    let mut names = Vec::new();
    merge_applied(&mut obj, &applied, ctx.builtin, &mut names);

    match entries.iter_mut().find(|e| mine(e)) {
        Some(e) => {
            // NB: a no-op apply must leave the object byte-identical (no new
            // resourceVersion), so the timestamp moves only when ownership does.
            if e.set != new_set || e.api_version != ctx.api_version {
                e.time = ctx.now.into();
            }
            e.set = new_set;
            e.api_version = ctx.api_version.into();
        }
        None => entries.push(Entry {
            manager: ctx.manager.into(),
            operation: "Apply".into(),
            api_version: ctx.api_version.into(),
            time: ctx.now.into(),
            subresource: ctx.subresource.map(String::from),
            set: new_set,
        }),
    }
    write_entries(&mut obj, &entries);
    Ok(obj)
}

/// How kube-apiserver names a manager in a conflict (`printManager`): `"kubectl"` for an
/// applier, `"kubectl-edit" using apps/v1 at 2026-01-01T00:00:00Z` for an updater, with
/// ` with subresource "status"` when it wrote a subresource.
fn print_manager(e: &Entry) -> String {
    let mut s = format!("{:?}", e.manager);
    if let Some(sub) = &e.subresource {
        s.push_str(&format!(" with subresource {sub:?}"));
    }
    if e.operation == "Update" {
        if e.time.is_empty() {
            s.push_str(&format!(" using {}", e.api_version));
        } else {
            s.push_str(&format!(" using {} at {}", e.api_version, e.time));
        }
    }
    s
}

/// The 409 kube-apiserver answers for apply conflicts, with its exact message: one conflict
/// inline, several grouped by manager (sorted), one path per line.
fn conflict_error(conflicts: &[(usize, FieldPath)], entries: &[Entry]) -> ApiError {
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(i, p)| json!({"reason": "FieldManagerConflict", "message": format!("conflict with {}", print_manager(&entries[*i])), "field": display_path(p)}))
        .collect();
    let message = if let [(i, p)] = conflicts {
        format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            print_manager(&entries[*i]),
            display_path(p)
        )
    } else {
        let mut by_manager: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (i, p) in conflicts {
            by_manager
                .entry(print_manager(&entries[*i]))
                .or_default()
                .push(display_path(p));
        }
        let lines: Vec<String> = by_manager
            .into_iter()
            .flat_map(|(m, paths)| {
                std::iter::once(format!("conflicts with {m}:")).chain(paths.into_iter().map(|p| format!("- {p}")))
            })
            .collect();
        format!("Apply failed with {} conflicts: {}", conflicts.len(), lines.join("\n"))
    };
    ApiError::new(409, "Conflict", message).with_details(json!({"causes": causes}))
}

/// Record an `Update` (create, update or non-apply patch) in `new`'s managedFields: the
/// manager takes the fields it changed, and other managers lose them.
pub fn track_update(old: Option<&Value>, new: &mut Value, ctx: &WriteCtx<'_>) {
    let new_set = field_set(new, ctx.builtin, ctx.part);
    let (mut entries, changed, removed) = match old {
        None => (Vec::new(), new_set.clone(), FieldSet::new()),
        Some(old) => {
            let old_set = field_set(old, ctx.builtin, ctx.part);
            let changed: FieldSet = new_set
                .iter()
                // A list element's own marker changes hands only when the element is new;
                // editing a field inside it changes that field's owner, not the element's.
                .filter(|p| {
                    !old_set.contains(*p) || (!matches!(p.last(), Some(Pe::Key(_))) && get_at(old, p) != get_at(new, p))
                })
                .cloned()
                .collect();
            let removed: FieldSet = old_set.difference(&new_set).cloned().collect();
            (read_entries(old), changed, removed)
        }
    };
    let is_mine = |e: &Entry| e.same_owner(ctx.manager, "Update", ctx.subresource);
    for e in entries.iter_mut() {
        e.set.retain(|p| !removed.iter().any(|r| p.starts_with(r)));
        if !is_mine(e) {
            e.set.retain(|p| !changed.contains(p));
        }
    }
    if !changed.is_empty() {
        match entries.iter_mut().find(|e| is_mine(e)) {
            Some(e) => {
                e.set.extend(changed);
                e.time = ctx.now.into();
                e.api_version = ctx.api_version.into();
            }
            None => entries.push(Entry {
                manager: ctx.manager.into(),
                operation: "Update".into(),
                api_version: ctx.api_version.into(),
                time: ctx.now.into(),
                subresource: ctx.subresource.map(String::from),
                set: changed,
            }),
        }
    }
    write_entries(new, &entries);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(manager: &str) -> WriteCtx<'_> {
        WriteCtx {
            manager,
            api_version: "apps/v1",
            subresource: None,
            builtin: true,
            part: Part::Main { include_status: false },
            now: "2026-01-01T00:00:00Z",
        }
    }

    fn cfg(replicas: i64, image: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "web", "image": image}]}}}})
    }

    #[test]
    fn encode_decode_round_trip() {
        let set = field_set(&cfg(1, "a"), true, Part::Main { include_status: false });
        let enc = encode(&set);
        assert!(enc["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"]["."].is_object());
        assert_eq!(decode(&enc), set);
    }

    #[test]
    fn apply_conflicts_and_force() {
        let created = apply(None, &cfg(1, "a"), false, &ctx("alice")).unwrap();
        // Same manager, new value: no conflict.
        let updated = apply(Some(&created), &cfg(2, "a"), false, &ctx("alice")).unwrap();
        assert_eq!(updated["spec"]["replicas"], 2);
        // Another manager, same values: shared ownership, no conflict.
        let shared = apply(Some(&updated), &cfg(2, "a"), false, &ctx("bob")).unwrap();
        assert_eq!(read_entries(&shared).len(), 2);
        // Another manager changes a field: conflict naming the field and owner.
        let err = apply(Some(&shared), &cfg(3, "a"), false, &ctx("carol")).unwrap_err();
        assert_eq!(err.code, 409);
        // kube-apiserver's exact text: grouped by manager, sorted, one path per line.
        assert_eq!(
            err.message,
            "Apply failed with 2 conflicts: conflicts with \"alice\":\n- .spec.replicas\nconflicts with \"bob\":\n- .spec.replicas"
        );
        let alone = apply(Some(&updated), &cfg(3, "a"), false, &ctx("carol")).unwrap_err();
        assert_eq!(
            alone.message,
            "Apply failed with 1 conflict: conflict with \"alice\": .spec.replicas"
        );
        // Forced: carol takes over; alice and bob lose .spec.replicas.
        let forced = apply(Some(&shared), &cfg(3, "a"), true, &ctx("carol")).unwrap();
        assert_eq!(forced["spec"]["replicas"], 3);
        for e in read_entries(&forced) {
            let owns = e
                .set
                .contains(&vec![Pe::Field("spec".into()), Pe::Field("replicas".into())]);
            assert_eq!(owns, e.manager == "carol", "{}", e.manager);
        }
    }

    #[test]
    fn dropped_fields_are_removed_unless_shared() {
        let created = apply(None, &cfg(1, "a"), false, &ctx("alice")).unwrap();
        let mut smaller = cfg(1, "a");
        smaller["metadata"].as_object_mut().unwrap().remove("labels");
        let after = apply(Some(&created), &smaller, false, &ctx("alice")).unwrap();
        assert!(after["metadata"].get("labels").is_none());
    }

    #[test]
    fn updates_take_ownership() {
        let created = apply(None, &cfg(1, "a"), false, &ctx("alice")).unwrap();
        let mut edited = created.clone();
        edited["spec"]["replicas"] = json!(5);
        track_update(Some(&created), &mut edited, &ctx("kubectl-edit"));
        let entries = read_entries(&edited);
        let edit = entries.iter().find(|e| e.manager == "kubectl-edit").unwrap();
        assert_eq!(edit.operation, "Update");
        assert!(
            edit.set
                .contains(&vec![Pe::Field("spec".into()), Pe::Field("replicas".into())])
        );
        let alice = entries.iter().find(|e| e.manager == "alice").unwrap();
        assert!(
            !alice
                .set
                .contains(&vec![Pe::Field("spec".into()), Pe::Field("replicas".into())])
        );
        // Now alice re-applying replicas=1 conflicts with kubectl-edit.
        assert_eq!(
            apply(Some(&edited), &cfg(1, "a"), false, &ctx("alice"))
                .unwrap_err()
                .code,
            409
        );
    }
}
