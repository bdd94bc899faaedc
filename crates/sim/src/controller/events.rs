//! Events as the simulated controllers and kubelet record them (core/v1 Events, repeated
//! occurrences folded into `count` as client-go's event correlator does).

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{Controller, gr, new_uid, now_rfc3339};

/// Remembers which events were already recorded, to fold repeats.
#[derive(Debug, Default)]
pub struct EventRecorder {
    /// (involved uid, reason, message) -> (namespace, event name, latest occurrence)
    recorded: HashMap<(String, String, String), (String, String, u32)>,
    counter: u64,
}

/// Normal or Warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

impl Controller {
    /// Record an event about `involved` from `component` (and `host`, for kubelet events),
    /// once: passes recompute state, so recording the same event again is a no-op.
    pub(super) fn event(
        &mut self,
        involved: &Value,
        kind: EventType,
        reason: &str,
        message: &str,
        component: (&str, Option<&str>),
    ) {
        self.event_occurrence(involved, kind, reason, message, component, 0);
    }

    /// Record occurrence `occurrence` of a repeating event: a later occurrence than the last
    /// one recorded bumps the event's `count` and `lastTimestamp`.
    pub(super) fn event_occurrence(
        &mut self,
        involved: &Value,
        kind: EventType,
        reason: &str,
        message: &str,
        component: (&str, Option<&str>),
        occurrence: u32,
    ) {
        let meta = &involved["metadata"];
        let (ns, name, uid) = (
            meta["namespace"].as_str().unwrap_or("default").to_string(),
            meta["name"].as_str().unwrap_or_default().to_string(),
            meta["uid"].as_str().unwrap_or_default().to_string(),
        );
        let now = now_rfc3339();
        let events = gr("", "events");
        let key = (uid.clone(), reason.to_string(), message.to_string());
        if let Some((ens, ename, last)) = self.events.recorded.get(&key).cloned() {
            if occurrence <= last {
                return;
            }
            if let Some(existing) = self.cluster.store.get(&events, &ens, &ename) {
                let existing = existing.parse();
                let mut v = existing.value.clone();
                v["count"] = json!(v["count"].as_i64().unwrap_or(1) + i64::from(occurrence - last));
                v["lastTimestamp"] = json!(now);
                self.update(&events, &existing, v);
            }
            self.events.recorded.insert(key, (ens, ename, occurrence));
            return;
        }
        self.events.counter += 1;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let event_name = format!("{name}.{:x}", nanos + u128::from(self.events.counter));
        let mut source = json!({"component": component.0});
        if let Some(host) = component.1 {
            source["host"] = json!(host);
        }
        let ev = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": event_name, "namespace": ns, "uid": new_uid()},
            "involvedObject": {"apiVersion": involved["apiVersion"], "kind": involved["kind"], "name": name,
                "namespace": ns, "uid": uid, "resourceVersion": meta["resourceVersion"]},
            "reason": reason, "message": message, "source": source,
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
            "type": match kind { EventType::Normal => "Normal", EventType::Warning => "Warning" },
            "eventTime": null, "reportingComponent": component.0, "reportingInstance": component.1.unwrap_or_default(),
        });
        if self.create(&events, ev).is_some() {
            self.events.recorded.insert(key, (ns, event_name, occurrence));
        }
    }

    /// Forget what was recorded about objects that no longer exist.
    pub(super) fn forget_events(&mut self, live_uids: &std::collections::HashSet<String>) {
        self.events.recorded.retain(|(uid, _, _), _| live_uids.contains(uid));
    }
}
