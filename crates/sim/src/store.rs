//! The in-memory object store of one simulated cluster, with a change history for watches.
//!
//! Objects are kept per `group/resource` in a `BTreeMap` ordered by namespace and name (the
//! order etcd keys give kube-apiserver lists). One cluster-wide counter supplies every
//! `resourceVersion`. Each stored object keeps its serialised JSON next to the parsed value,
//! so a GET answers without serialising anything.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::watch;

use super::resources::GroupResource;

/// Namespace (empty for cluster-scoped objects) and name.
pub type ObjKey = (String, String);

/// How many changes a cluster remembers for watches that resume from a resourceVersion.
/// NB: kube-apiserver keeps a time window (etcd compaction, ~5 min); a count keeps the memory
/// of an idle 1,000-cluster fleet bounded while still covering any realistic resume gap.
pub const DEFAULT_HISTORY: usize = 1024;

/// One stored object version: its JSON bytes and the metadata every lookup needs.
///
/// NB: objects are kept as bytes, not as parsed `serde_json::Value`s: a parsed value costs
/// about eight times its JSON, and a 1,000-cluster fleet holds hundreds of thousands of
/// object versions. Code that needs the content calls [`Stored::parse`].
#[derive(Debug)]
pub struct Stored {
    pub json: Bytes,
    pub rv: u64,
    api_version: Box<str>,
    name: Box<str>,
    namespace: Box<str>,
    uid: Box<str>,
    labels: Box<[(Box<str>, Box<str>)]>,
    owner_uids: Box<[Box<str>]>,
    terminating: bool,
}

/// A stored object parsed for reading: its value, and the stored version it came from.
#[derive(Debug, Clone)]
pub struct Object {
    pub value: Value,
    pub stored: Arc<Stored>,
}

impl std::ops::Deref for Object {
    type Target = Stored;
    fn deref(&self) -> &Stored {
        &self.stored
    }
}

fn text(v: &Value, pointer: &str) -> Box<str> {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or_default().into()
}

impl Stored {
    /// Serialise `value` as the stored version `rv`.
    #[must_use]
    pub fn new(value: &Value, rv: u64) -> Arc<Self> {
        let json = Bytes::from(serde_json::to_vec(value).expect("a JSON value serialises"));
        let labels = value
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.as_str().into(), v.as_str().unwrap_or_default().into()))
                    .collect()
            })
            .unwrap_or_default();
        let owner_uids = value
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .map(|refs| refs.iter().map(|r| text(r, "/uid")).collect())
            .unwrap_or_default();
        Arc::new(Self {
            json,
            rv,
            api_version: text(value, "/apiVersion"),
            name: text(value, "/metadata/name"),
            namespace: text(value, "/metadata/namespace"),
            uid: text(value, "/metadata/uid"),
            labels,
            owner_uids,
            terminating: value
                .pointer("/metadata/deletionTimestamp")
                .is_some_and(|t| !t.is_null()),
        })
    }

    /// The object's content, parsed.
    #[must_use]
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.json).expect("stored JSON parses")
    }

    /// The object's content with the version it came from.
    #[must_use]
    pub fn parse(self: &Arc<Self>) -> Object {
        Object {
            value: self.value(),
            stored: self.clone(),
        }
    }

    /// `metadata.name`.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `apiVersion` as stored.
    #[must_use]
    pub fn api_version(&self) -> &str {
        &self.api_version
    }

    /// `metadata.namespace`, empty for cluster-scoped objects.
    #[must_use]
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// `metadata.uid`.
    #[must_use]
    pub fn uid(&self) -> &str {
        &self.uid
    }

    /// One label's value.
    #[must_use]
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.iter().find(|(k, _)| &**k == key).map(|(_, v)| &**v)
    }

    /// Whether an ownerReference names `uid`.
    #[must_use]
    pub fn owned_by(&self, uid: &str) -> bool {
        self.owner_uids.iter().any(|o| &**o == uid)
    }

    /// Whether `metadata.deletionTimestamp` is set.
    #[must_use]
    pub fn is_terminating(&self) -> bool {
        self.terminating
    }
}

/// What a change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

impl ChangeKind {
    /// The watch event `type` string.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One entry of the change history.
#[derive(Debug)]
pub struct Change {
    pub kind: ChangeKind,
    pub gr: GroupResource,
    pub object: Arc<Stored>,
    /// The version this change replaced (for watches whose selector stops or starts matching).
    pub previous: Option<Arc<Stored>>,
}

#[derive(Debug, Default)]
struct Inner {
    rv: u64,
    objects: HashMap<GroupResource, BTreeMap<ObjKey, Arc<Stored>>>,
    history: VecDeque<Arc<Change>>,
    /// Every change with a resourceVersion above this is still in `history`.
    history_floor: u64,
}

/// A watch asked to resume from a version whose changes are gone (answered as 410 Expired).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expired {
    pub requested: u64,
    pub oldest: u64,
}

/// The store of one cluster.
#[derive(Debug)]
pub struct Store {
    inner: RwLock<Inner>,
    history_cap: usize,
    latest: watch::Sender<u64>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new(DEFAULT_HISTORY)
    }
}

impl Store {
    /// An empty store remembering `history_cap` changes.
    #[must_use]
    pub fn new(history_cap: usize) -> Self {
        Self {
            inner: RwLock::new(Inner::default()),
            history_cap: history_cap.max(1),
            latest: watch::Sender::new(0),
        }
    }

    /// The current (highest) resourceVersion.
    #[must_use]
    pub fn resource_version(&self) -> u64 {
        self.inner.read().expect("store lock").rv
    }

    /// A receiver that changes whenever a write commits (for watches to wait on).
    #[must_use]
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.latest.subscribe()
    }

    /// One object.
    #[must_use]
    pub fn get(&self, gr: &GroupResource, namespace: &str, name: &str) -> Option<Arc<Stored>> {
        let inner = self.inner.read().expect("store lock");
        inner
            .objects
            .get(gr)
            .and_then(|m| m.get(&(namespace.to_string(), name.to_string())))
            .cloned()
    }

    /// Objects of a resource in key order, optionally in one namespace, starting after
    /// `after`, at most `limit` of those `keep` accepts. Returns them, whether more remain,
    /// and the store's resourceVersion at the time of the read.
    pub fn list(
        &self,
        gr: &GroupResource,
        namespace: Option<&str>,
        after: Option<&ObjKey>,
        limit: Option<usize>,
        mut keep: impl FnMut(&Stored) -> bool,
    ) -> (Vec<Arc<Stored>>, bool, u64) {
        let inner = self.inner.read().expect("store lock");
        let Some(map) = inner.objects.get(gr) else {
            return (Vec::new(), false, inner.rv);
        };
        let start = match (after, namespace) {
            (Some(k), _) => Bound::Excluded(k.clone()),
            (None, Some(ns)) => Bound::Included((ns.to_string(), String::new())),
            (None, None) => Bound::Unbounded,
        };
        let mut out = Vec::new();
        let mut more = false;
        for ((ns, _), obj) in map.range((start, Bound::Unbounded)) {
            if let Some(want) = namespace
                && ns != want
            {
                break;
            }
            if !keep(obj) {
                continue;
            }
            if limit.is_some_and(|l| out.len() >= l) {
                more = true;
                break;
            }
            out.push(obj.clone());
        }
        (out, more, inner.rv)
    }

    /// Every object of every resource (for garbage collection and namespace deletion).
    #[must_use]
    pub fn all_objects(&self) -> Vec<(GroupResource, Arc<Stored>)> {
        let inner = self.inner.read().expect("store lock");
        inner
            .objects
            .iter()
            .flat_map(|(gr, m)| m.values().map(move |o| (gr.clone(), o.clone())))
            .collect()
    }

    /// Changes after `since`, in order, or `Expired` when some are no longer remembered.
    ///
    /// # Errors
    /// [`Expired`] when `since` is older than the retained history.
    pub fn changes_since(&self, since: u64) -> Result<Vec<Arc<Change>>, Expired> {
        let inner = self.inner.read().expect("store lock");
        if since < inner.history_floor {
            return Err(Expired {
                requested: since,
                oldest: inner.history_floor,
            });
        }
        // History is ordered by rv, and the entry with rv = since + 1 (if any) is at
        // index (since + 1) - (first rv); find it by binary search to stay O(log n).
        let start = inner.history.partition_point(|c| c.object.rv <= since);
        Ok(inner.history.range(start..).cloned().collect())
    }

    /// Run `f` under the write lock; writes it makes are numbered, recorded and announced.
    pub fn transact<R>(&self, f: impl FnOnce(&mut Txn<'_>) -> R) -> R {
        let (result, changed, rv) = {
            let mut inner = self.inner.write().expect("store lock");
            let mut txn = Txn {
                inner: &mut inner,
                history_cap: self.history_cap,
                changed: false,
            };
            let r = f(&mut txn);
            let changed = txn.changed;
            (r, changed, inner.rv)
        };
        if changed {
            self.latest.send_replace(rv);
        }
        result
    }
}

/// Write access to the store inside [`Store::transact`].
pub struct Txn<'a> {
    inner: &'a mut Inner,
    history_cap: usize,
    changed: bool,
}

impl Txn<'_> {
    /// One object, as currently stored (including writes made earlier in this transaction).
    #[must_use]
    pub fn get(&self, gr: &GroupResource, namespace: &str, name: &str) -> Option<Arc<Stored>> {
        self.inner
            .objects
            .get(gr)
            .and_then(|m| m.get(&(namespace.to_string(), name.to_string())))
            .cloned()
    }

    /// Every object in a namespace, of any resource.
    #[must_use]
    pub fn keys_in_namespace(&self, namespace: &str) -> Vec<(GroupResource, ObjKey)> {
        let mut out = Vec::new();
        for (gr, map) in &self.inner.objects {
            let start = (namespace.to_string(), String::new());
            for (key, _) in map.range(start..).take_while(|((ns, _), _)| ns == namespace) {
                out.push((gr.clone(), key.clone()));
            }
        }
        out
    }

    /// Every object with an ownerReference to `uid`.
    #[must_use]
    pub fn dependents_of(&self, uid: &str) -> Vec<(GroupResource, ObjKey)> {
        let mut out = Vec::new();
        for (gr, map) in &self.inner.objects {
            for (key, obj) in map {
                if obj.owned_by(uid) {
                    out.push((gr.clone(), key.clone()));
                }
            }
        }
        out
    }

    fn record(&mut self, change: Change) {
        self.changed = true;
        self.inner.history.push_back(Arc::new(change));
        while self.inner.history.len() > self.history_cap {
            if let Some(old) = self.inner.history.pop_front() {
                self.inner.history_floor = old.object.rv;
            }
        }
    }

    /// Store `value` (created or replaced), giving it the next resourceVersion.
    pub fn put(&mut self, gr: &GroupResource, mut value: Value) -> Arc<Stored> {
        self.inner.rv += 1;
        let rv = self.inner.rv;
        value["metadata"]["resourceVersion"] = Value::String(rv.to_string());
        let stored = Stored::new(&value, rv);
        let key = (stored.namespace().to_string(), stored.name().to_string());
        let previous = self
            .inner
            .objects
            .entry(gr.clone())
            .or_default()
            .insert(key, stored.clone());
        let kind = if previous.is_some() {
            ChangeKind::Modified
        } else {
            ChangeKind::Added
        };
        self.record(Change {
            kind,
            gr: gr.clone(),
            object: stored.clone(),
            previous,
        });
        stored
    }

    /// Remove an object; the DELETED event carries it with the deletion's resourceVersion.
    pub fn remove(&mut self, gr: &GroupResource, namespace: &str, name: &str) -> Option<Arc<Stored>> {
        let map = self.inner.objects.get_mut(gr)?;
        let previous = map.remove(&(namespace.to_string(), name.to_string()))?;
        if map.is_empty() {
            self.inner.objects.remove(gr);
        }
        self.inner.rv += 1;
        let rv = self.inner.rv;
        let mut value = previous.value();
        value["metadata"]["resourceVersion"] = Value::String(rv.to_string());
        let stored = Stored::new(&value, rv);
        self.record(Change {
            kind: ChangeKind::Deleted,
            gr: gr.clone(),
            object: stored.clone(),
            previous: Some(previous),
        });
        Some(stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn gr() -> GroupResource {
        GroupResource {
            group: "".into(),
            resource: "configmaps".into(),
        }
    }

    fn cm(ns: &str, name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}})
    }

    #[test]
    fn versions_increase_and_lists_are_ordered() {
        let s = Store::default();
        s.transact(|t| {
            t.put(&gr(), cm("b", "x"));
            t.put(&gr(), cm("a", "z"));
            t.put(&gr(), cm("a", "y"));
        });
        let (all, more, rv) = s.list(&gr(), None, None, None, |_| true);
        assert!(!more);
        assert_eq!(rv, 3);
        let names: Vec<_> = all.iter().map(|o| format!("{}/{}", o.namespace(), o.name())).collect();
        assert_eq!(names, ["a/y", "a/z", "b/x"]);
        let (page, more, _) = s.list(&gr(), Some("a"), None, Some(1), |_| true);
        assert!(more);
        assert_eq!(page[0].name(), "y");
        let (rest, more, _) = s.list(&gr(), Some("a"), Some(&("a".into(), "y".into())), Some(1), |_| true);
        assert!(!more);
        assert_eq!(rest[0].name(), "z");
    }

    #[test]
    fn history_expires() {
        let s = Store::new(2);
        s.transact(|t| {
            for i in 0..4 {
                t.put(&gr(), cm("a", &format!("o{i}")));
            }
        });
        assert_eq!(s.changes_since(2).unwrap().len(), 2);
        assert_eq!(s.changes_since(3).unwrap().len(), 1);
        assert_eq!(
            s.changes_since(1).unwrap_err(),
            Expired {
                requested: 1,
                oldest: 2
            }
        );
    }

    #[test]
    fn delete_event_has_new_version() {
        let s = Store::default();
        s.transact(|t| t.put(&gr(), cm("a", "x")));
        let gone = s.transact(|t| t.remove(&gr(), "a", "x")).unwrap();
        assert_eq!(gone.rv, 2);
        assert_eq!(gone.value()["metadata"]["resourceVersion"], "2");
        let ch = s.changes_since(1).unwrap();
        assert_eq!(ch[0].kind, ChangeKind::Deleted);
        assert!(s.get(&gr(), "a", "x").is_none());
    }
}
