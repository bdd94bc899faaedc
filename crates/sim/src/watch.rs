//! Watch streams: newline-delimited `WatchEvent`s from a resourceVersion, with bookmarks,
//! `sendInitialEvents`, server timeouts, Table rows, and 410 Expired for history that is gone.
//!
//! A watch is a `futures::stream::unfold` over [`WatchState`], not a spawned task: when the
//! client goes away hyper drops the response body and with it the whole watch.

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures::Stream;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use super::cluster::Cluster;
use super::resources::ResourceDef;
use super::status::ApiError;
use super::store::{Change, ChangeKind, Stored};
use super::table::{self, IncludeObject};
use muster_core::selector::{FieldSelector, LabelSelector};

/// How often a watch that asked for bookmarks gets one while nothing happens.
/// NB: kube-apiserver sends them about once a minute; a shorter period keeps tests quick
/// and costs one small write per idle watch per period.
pub const BOOKMARK_INTERVAL: Duration = Duration::from_secs(5);

/// Default server-side watch timeout when the client gives none (apiserver: 30-60 min).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

/// Which objects a watch or list selects.
#[derive(Debug, Clone)]
pub struct Filter {
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Filter {
    #[must_use]
    pub fn matches(&self, obj: &Stored) -> bool {
        // NB: name, namespace and labels come from the stored metadata; only a selector on
        // another field pays for parsing the object.
        let mut parsed: Option<Value> = None;
        self.namespace.as_deref().is_none_or(|ns| obj.namespace() == ns)
            && self.labels.matches(|k| obj.label(k))
            && self.fields.matches_by(|field| match field {
                "metadata.name" => obj.name().to_string(),
                "metadata.namespace" => obj.namespace().to_string(),
                other => {
                    let v =
                        parsed.get_or_insert_with(|| serde_json::from_slice(&obj.json).expect("stored JSON parses"));
                    muster_core::selector::field_text(v, other)
                }
            })
    }
}

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Synthetic ADDED events for current objects, then changes (`resourceVersion` unset or 0).
    CurrentState { initial_events_end_bookmark: bool },
    /// Changes after this resourceVersion.
    After(u64),
}

/// Everything a watch needs.
pub struct WatchRequest {
    pub cluster: Arc<Cluster>,
    pub def: Arc<ResourceDef>,
    pub filter: Filter,
    pub start: Start,
    pub bookmarks: bool,
    pub timeout: Duration,
    pub table: Option<IncludeObject>,
}

/// The state of one watch stream between chunks.
struct WatchState {
    req: WatchRequest,
    pending: Option<Bytes>,
    cursor: u64,
    rx: watch::Receiver<u64>,
    deadline: Instant,
    next_bookmark: Instant,
    columns_sent: bool,
    done: bool,
    /// Injected: delay before each chunk, and when the watch is dropped.
    delay: Duration,
    drop_at: Option<Instant>,
}

impl WatchState {
    fn render(&mut self, kind: &str, obj: &Stored, out: &mut BytesMut) {
        out.put_slice(b"{\"type\":\"");
        out.put_slice(kind.as_bytes());
        out.put_slice(b"\",\"object\":");
        match self.req.table {
            Some(include) => {
                let now = jiff::Timestamp::now().as_second();
                let value: Value = serde_json::from_slice(&obj.json).expect("stored JSON parses");
                let row = table::row(&self.req.def, &value, include, now);
                let mut t = table::table(&self.req.def, vec![row], &obj.rv.to_string(), None);
                if self.columns_sent {
                    t["columnDefinitions"] = Value::Null;
                }
                self.columns_sent = true;
                out.put_slice(t.to_string().as_bytes());
            }
            None => out.put_slice(&self.req.cluster.present(&self.req.def, obj)),
        }
        out.put_slice(b"}\n");
    }

    fn event_for(&self, change: &Change) -> Option<&'static str> {
        if change.gr != self.req.def.group_resource() {
            return None;
        }
        let now = self.req.filter.matches(&change.object);
        let before = change.previous.as_ref().is_some_and(|p| self.req.filter.matches(p));
        match change.kind {
            ChangeKind::Added => now.then_some("ADDED"),
            ChangeKind::Deleted => (now || before).then_some("DELETED"),
            ChangeKind::Modified => match (before, now) {
                (true, true) => Some("MODIFIED"),
                (false, true) => Some("ADDED"),
                (true, false) => Some("DELETED"),
                (false, false) => None,
            },
        }
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let ev = json!({"type": "BOOKMARK", "object": {
            "kind": self.req.def.kind, "apiVersion": self.req.def.api_version(), "metadata": meta,
        }});
        Bytes::from(format!("{ev}\n"))
    }

    /// The next chunk to send, or `None` when the watch ends.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if self.drop_at.is_some_and(|at| Instant::now() >= at) {
            self.req.cluster.counters.watch_dropped();
            return None;
        }
        let chunk = self.produce().await;
        if chunk.is_some() && !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        chunk
    }

    async fn produce(&mut self) -> Option<Bytes> {
        if let Some(p) = self.pending.take() {
            return Some(p);
        }
        loop {
            if self.done || Instant::now() >= self.deadline {
                return None;
            }
            match self.req.cluster.store.changes_since(self.cursor) {
                Err(expired) => {
                    self.done = true;
                    let status = ApiError::expired(format!(
                        "too old resource version: {} ({})",
                        expired.requested, expired.oldest
                    ))
                    .to_status();
                    return Some(Bytes::from(format!("{}\n", json!({"type": "ERROR", "object": status}))));
                }
                Ok(changes) if !changes.is_empty() => {
                    let mut out = BytesMut::new();
                    for change in &changes {
                        if let Some(kind) = self.event_for(change) {
                            self.render(kind, &change.object, &mut out);
                        }
                    }
                    self.cursor = changes.last().map_or(self.cursor, |c| c.object.rv);
                    if !out.is_empty() {
                        return Some(out.freeze());
                    }
                }
                Ok(_) => {}
            }
            let mut wake = if self.req.bookmarks {
                self.deadline.min(self.next_bookmark)
            } else {
                self.deadline
            };
            if let Some(at) = self.drop_at {
                wake = wake.min(at);
            }
            tokio::select! {
                changed = self.rx.changed() => {
                    if changed.is_err() {
                        return None; // the cluster shut down
                    }
                }
                () = tokio::time::sleep_until(wake) => {
                    if self.drop_at.is_some_and(|at| Instant::now() >= at) {
                        self.req.cluster.counters.watch_dropped();
                        return None;
                    }
                    if self.req.bookmarks && Instant::now() >= self.next_bookmark {
                        self.next_bookmark = Instant::now() + BOOKMARK_INTERVAL;
                        return Some(self.bookmark(self.cursor, false));
                    }
                }
            }
        }
    }
}

/// Start a watch; the first chunk (initial events, if any) is computed before returning so
/// that a client which receives the response headers already sees a consistent start.
pub fn stream(req: WatchRequest) -> impl Stream<Item = Bytes> + Send {
    let rx = req.cluster.store.subscribe();
    let now = Instant::now();
    let faults = req.cluster.faults.borrow().clone();
    let mut state = WatchState {
        delay: Duration::from_millis(faults.watch_delay_ms),
        drop_at: faults.watch_drop_after_ms.map(|ms| now + Duration::from_millis(ms)),
        deadline: now + req.timeout,
        next_bookmark: now + BOOKMARK_INTERVAL,
        pending: None,
        cursor: 0,
        rx,
        columns_sent: false,
        done: false,
        req,
    };
    match state.req.start {
        Start::After(rv) => state.cursor = rv,
        Start::CurrentState {
            initial_events_end_bookmark,
        } => {
            let filter = state.req.filter.clone();
            let (objects, _, rv) = state.req.cluster.store.list(
                &state.req.def.group_resource(),
                filter.namespace.as_deref(),
                None,
                None,
                |o| filter.matches(o),
            );
            let mut out = BytesMut::new();
            for o in &objects {
                state.render("ADDED", o, &mut out);
            }
            if initial_events_end_bookmark {
                out.put_slice(&state.bookmark(rv, true));
            }
            state.cursor = rv;
            if !out.is_empty() {
                state.pending = Some(out.freeze());
            }
        }
    }
    futures::stream::unfold(state, |mut s| async move { s.next_chunk().await.map(|c| (c, s)) })
}
