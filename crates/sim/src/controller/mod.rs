//! The simulated control plane of one cluster: the namespace publishers (default
//! ServiceAccount, `kube-root-ca.crt`), deployment, replica set, stateful set and daemon set
//! controllers and a kubelet, driven by store changes and timers only.
//!
//! One task per cluster waits on the store's change signal and on the earliest pending
//! timer (a pod becoming ready, a crash-loop restart, a progress deadline). An idle cluster
//! has no timers and its task sleeps, so an idle fleet costs no CPU. Each wake runs
//! reconcile passes until one makes no write; controllers write only what changed, so the
//! passes converge.

mod endpointslices;
mod events;
mod kubelet;
mod namespaces;
mod scheduling;
mod workloads;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::debug;

use super::cluster::{Cluster, gr, new_uid, now_rfc3339};
use super::gc::{Propagation, delete_object};
use super::resources::GroupResource;
use super::store::{Object, Stored};

pub use events::EventRecorder;

/// Passes per wake before giving up on convergence (a bug guard; normal wakes need 1-4).
const MAX_PASSES: usize = 16;

/// Per-cluster controller memory that does not live in the store.
pub struct Controller {
    cluster: Arc<Cluster>,
    /// When each pod (by uid) was first seen, in wall-clock and monotonic time.
    first_seen: HashMap<String, (SystemTime, Instant)>,
    /// The earliest time a pass must run again, if any.
    next_wake: Option<Instant>,
    events: EventRecorder,
    rng: fastrand::Rng,
    writes: usize,
    /// Pods in the cluster, counted at the start of each pass.
    pods: i64,
    /// When each workload's current generation was first seen (by uid), for the status lag.
    generation_seen: HashMap<String, (i64, Instant)>,
}

impl Controller {
    fn new(cluster: Arc<Cluster>) -> Self {
        let rng = fastrand::Rng::with_seed(cluster.seed);
        Self {
            events: EventRecorder::default(),
            cluster,
            first_seen: HashMap::new(),
            next_wake: None,
            rng,
            writes: 0,
            pods: 0,
            generation_seen: HashMap::new(),
        }
    }

    /// Whether a workload's controller holds off its new generation for now (the
    /// `statusLagMs` fault); wakes again when the lag is over.
    fn lagging(&mut self, obj: &Object) -> bool {
        let lag = self.cluster.faults.borrow().status_lag_ms;
        let generation = obj
            .value
            .pointer("/metadata/generation")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0);
        let now = Instant::now();
        let seen = self
            .generation_seen
            .entry(obj.uid().to_string())
            .or_insert((generation, now));
        if seen.0 != generation {
            *seen = (generation, now);
        }
        let observed = obj
            .value
            .pointer("/status/observedGeneration")
            .and_then(serde_json::Value::as_i64);
        if lag == 0 || observed.is_none_or(|o| o >= generation) {
            return false;
        }
        let due = seen.1 + Duration::from_millis(lag);
        if now < due {
            self.wake_at(due);
            return true;
        }
        false
    }

    fn wake_at(&mut self, at: Instant) {
        // NB: a timer further out than a day is re-armed by a later pass anyway.
        let at = at.min(Instant::now() + Duration::from_secs(86_400));
        self.next_wake = Some(self.next_wake.map_or(at, |w| w.min(at)));
    }

    fn list(&self, resource: &GroupResource) -> Vec<Object> {
        let (objects, _, _) = self
            .cluster
            .store
            .list(resource, None, None, None, |o| !o.is_terminating());
        objects.iter().map(Stored::parse).collect()
    }

    /// The live objects of a namespace owned by `owner_uid` (only those are parsed).
    fn owned(&self, resource: &GroupResource, namespace: &str, owner_uid: &str) -> Vec<Object> {
        let (objects, _, _) = self.cluster.store.list(resource, Some(namespace), None, None, |o| {
            !o.is_terminating() && o.owned_by(owner_uid)
        });
        objects.iter().map(Stored::parse).collect()
    }

    /// Replace `old` with `new` unless nothing changed or someone else changed it meanwhile
    /// (then the next pass sees their version).
    fn update(&mut self, resource: &GroupResource, old: &Object, mut new: Value) -> bool {
        if new == old.value {
            return false;
        }
        stamp(resource, Some(&old.value), &mut new);
        let written = self
            .cluster
            .store
            .transact(|t| match t.get(resource, old.namespace(), old.name()) {
                Some(cur) if cur.rv == old.rv => {
                    t.put(resource, new);
                    true
                }
                _ => false,
            });
        self.writes += usize::from(written);
        written
    }

    fn create(&mut self, resource: &GroupResource, mut obj: Value) -> Option<Object> {
        if resource.resource == "pods" && self.pods >= self.cluster.behavior.max_pods {
            return None; // NB: the simulator's cap (Behavior::max_pods); the workload stays short
        }
        stamp(resource, None, &mut obj);
        let now = now_rfc3339();
        obj["metadata"]["uid"] = json!(new_uid());
        obj["metadata"]["creationTimestamp"] = json!(now);
        let (ns, name) = (
            obj["metadata"]["namespace"].as_str().unwrap_or_default().to_string(),
            obj["metadata"]["name"].as_str().unwrap_or_default().to_string(),
        );
        let created = self.cluster.store.transact(|t| {
            // Objects cannot appear in a namespace that is gone or going.
            let ns_ok = ns.is_empty()
                || t.get(&gr("", "namespaces"), "", &ns)
                    .is_some_and(|n| !n.is_terminating());
            (ns_ok && t.get(resource, &ns, &name).is_none()).then(|| t.put(resource, obj))
        });
        self.writes += usize::from(created.is_some());
        if created.is_some() && resource.resource == "pods" {
            self.pods += 1;
        }
        created.map(|s| s.parse())
    }

    fn delete(&mut self, resource: &GroupResource, obj: &Stored) {
        self.cluster.store.transact(|t| {
            if let Some(cur) = t.get(resource, obj.namespace(), obj.name()) {
                delete_object(t, resource, &cur, Propagation::Background);
            }
        });
        self.writes += 1;
    }

    /// A random name suffix as apiserver's `generateName` makes.
    fn suffix(&mut self) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..5)
            .map(|_| ALPHABET[self.rng.usize(..ALPHABET.len())] as char)
            .collect()
    }

    /// One reconcile pass over every controller; returns the number of writes it made.
    fn pass(&mut self) -> usize {
        self.writes = 0;
        self.next_wake = None;
        let (pods, _, _) = self.cluster.store.list(&gr("", "pods"), None, None, None, |_| true);
        self.pods = i64::try_from(pods.len()).unwrap_or(i64::MAX);
        namespaces::publish(self);
        workloads::deployments(self);
        workloads::replica_sets(self);
        workloads::stateful_sets(self);
        workloads::daemon_sets(self);
        kubelet::pods(self);
        endpointslices::reconcile(self);
        self.writes
    }
}

/// Record a control-plane write in the object's `managedFields`, as kube-apiserver does for
/// every write: `kube-controller-manager` for what controllers create and change, with
/// `subresource: status` for status updates, and `kubelet` for a pod's status. (Events are
/// left out: nobody compares them.)
fn stamp(resource: &GroupResource, old: Option<&Value>, new: &mut Value) {
    if resource.resource == "events" {
        return;
    }
    let status_only = old.is_some_and(|o| same_but_status(o, new));
    let manager = if status_only && resource.resource == "pods" {
        "kubelet"
    } else {
        "kube-controller-manager"
    };
    let api_version = new
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("v1")
        .to_string();
    let now = now_rfc3339();
    let ctx = crate::apply::WriteCtx {
        manager,
        api_version: &api_version,
        subresource: status_only.then_some("status"),
        builtin: true,
        part: if status_only {
            crate::apply::Part::Status
        } else {
            crate::apply::Part::Main { include_status: false }
        },
        now: &now,
    };
    crate::apply::track_update(old, new, &ctx);
}

/// Whether two versions of an object differ only in `status` (and server-set metadata).
fn same_but_status(a: &Value, b: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return false;
    };
    let keys = |m: &serde_json::Map<String, Value>| m.keys().filter(|k| *k != "status").cloned().collect::<Vec<_>>();
    keys(a) == keys(b)
        && a.iter()
            .filter(|(k, _)| *k != "status" && *k != "metadata")
            .all(|(k, v)| b.get(k) == Some(v))
        && {
            let meta = |m: &serde_json::Map<String, Value>| {
                let mut meta = m.get("metadata").cloned().unwrap_or(Value::Null);
                if let Some(mm) = meta.as_object_mut() {
                    for k in ["managedFields", "resourceVersion"] {
                        mm.remove(k);
                    }
                }
                meta
            };
            meta(a) == meta(b)
        }
}

/// Run the control plane of `cluster` until `shutdown` turns true.
pub async fn run(cluster: Arc<Cluster>, mut shutdown: watch::Receiver<bool>) {
    let mut changes = cluster.store.subscribe();
    let mut ctl = Controller::new(cluster);
    loop {
        // The resourceVersion the last pass started from: a write after it (by anyone but
        // that pass) is news, even when it lands before the change signal is marked seen.
        let mut looked_at = ctl.cluster.store.resource_version();
        for pass in 0.. {
            looked_at = ctl.cluster.store.resource_version();
            if ctl.pass() == 0 {
                break;
            }
            if pass + 1 == MAX_PASSES {
                debug!(cluster = %ctl.cluster.name, "controller did not converge in {MAX_PASSES} passes");
                looked_at = ctl.cluster.store.resource_version();
                break;
            }
        }
        changes.borrow_and_update();
        if ctl.cluster.store.resource_version() != looked_at {
            continue;
        }
        let sleep = async {
            match ctl.next_wake {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            () = sleep => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// RFC 3339 (seconds) of a wall-clock time.
fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    jiff::Timestamp::from_second(i64::try_from(secs).unwrap_or(0)).map_or_else(|_| now_rfc3339(), |t| t.to_string())
}

/// An owner reference to `owner` (as its controller).
fn owner_ref(owner: &Object) -> Value {
    json!({
        "apiVersion": owner.value["apiVersion"], "kind": owner.value["kind"], "name": owner.name(),
        "uid": owner.value.pointer("/metadata/uid"), "controller": true, "blockOwnerDeletion": true,
    })
}

/// Whether `obj` is controlled by the object with `uid`.
fn owned_by(obj: &Stored, uid: &str) -> bool {
    obj.owned_by(uid)
}

fn uid(obj: &Stored) -> &str {
    obj.uid()
}

/// An integer field, clamped to the 32-bit range the real API gives these fields, so the
/// controllers' arithmetic cannot overflow on any value that reaches them.
fn int(v: &Value, pointer: &str) -> i64 {
    v.pointer(pointer)
        .and_then(Value::as_i64)
        .unwrap_or(0)
        .clamp(i64::from(i32::MIN), i64::from(i32::MAX))
}
