//! Deletion as kube-apiserver and the garbage collector perform it: finalizers keep an
//! object terminating, owner references cascade (background, foreground or orphan), and a
//! namespace takes everything in it along.

use std::sync::Arc;

use serde_json::{Value, json};

use super::cluster::now_rfc3339;
use super::resources::GroupResource;
use super::store::{Stored, Txn};

/// `propagationPolicy` of a delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Background,
    Foreground,
    Orphan,
}

pub enum Deleted {
    /// Still stored (finalizers pending), now with a `deletionTimestamp`.
    Kept(Arc<Stored>),
    /// Removed; the final state.
    Gone(Arc<Stored>),
}

/// Delete one object inside a transaction, honouring finalizers, cascading to dependents
/// (owner references) and, for a namespace, to everything in it.
pub fn delete_object(t: &mut Txn<'_>, gr: &GroupResource, obj: &Arc<Stored>, policy: Propagation) -> Deleted {
    let uid = obj.uid().to_string();
    let is_namespace = gr.group.is_empty() && gr.resource == "namespaces";
    if is_namespace {
        let ns = obj.name().to_string();
        for (dep_gr, key) in t.keys_in_namespace(&ns) {
            if let Some(dep) = t.get(&dep_gr, &key.0, &key.1) {
                delete_object(t, &dep_gr, &dep, Propagation::Background);
            }
        }
        if !t.keys_in_namespace(&ns).is_empty() {
            return Deleted::Kept(mark_terminating(t, gr, obj, true));
        }
    }
    let has_finalizers = obj
        .parse()
        .value
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty());
    if has_finalizers {
        return Deleted::Kept(mark_terminating(t, gr, obj, is_namespace));
    }
    let gone = t
        .remove(gr, obj.namespace(), obj.name())
        .expect("the object was just read in this transaction");
    collect_garbage(t, &uid, policy);
    Deleted::Gone(gone)
}

fn mark_terminating(t: &mut Txn<'_>, gr: &GroupResource, obj: &Arc<Stored>, namespace_phase: bool) -> Arc<Stored> {
    if obj.is_terminating() {
        return t
            .get(gr, obj.namespace(), obj.name())
            .expect("the object was just read in this transaction");
    }
    let mut v = obj.value();
    v["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
    v["metadata"]["deletionGracePeriodSeconds"] = json!(0);
    if namespace_phase {
        v["status"]["phase"] = json!("Terminating");
    }
    t.put(gr, v)
}

/// Delete (or orphan) every object whose ownerReferences name `owner_uid`.
pub fn collect_garbage(t: &mut Txn<'_>, owner_uid: &str, policy: Propagation) {
    if owner_uid.is_empty() {
        return;
    }
    for (dep_gr, key) in t.dependents_of(owner_uid) {
        let Some(dep) = t.get(&dep_gr, &key.0, &key.1) else {
            continue;
        };
        if policy == Propagation::Orphan {
            let mut v = dep.value();
            if let Some(refs) = v.pointer_mut("/metadata/ownerReferences").and_then(Value::as_array_mut) {
                refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(owner_uid));
            }
            t.put(&dep_gr, v);
        } else {
            delete_object(t, &dep_gr, &dep, Propagation::Background);
        }
    }
}
