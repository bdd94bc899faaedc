//! Conversions between a resource's served shape and its storage shape, for resources that
//! kube-apiserver serves from another resource's storage: `events.k8s.io/v1` Events are core
//! `v1` Events seen through different field names.

use serde_json::{Map, Value, json};

/// How a resource's objects relate to what is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    /// Served as stored.
    None,
    /// `events.k8s.io/v1` Event over core `v1` Event storage.
    EventsV1,
}

/// (events.k8s.io/v1 name, core v1 name) for fields that are renamed.
const EVENT_RENAMES: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

/// Fields with the same name in both shapes.
const EVENT_SHARED: &[&str] = &[
    "metadata",
    "reason",
    "type",
    "action",
    "related",
    "series",
    "eventTime",
    "reportingInstance",
];

fn move_fields(
    from: &Map<String, Value>,
    pairs: impl Iterator<Item = (&'static str, &'static str)>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (src, dst) in pairs {
        if let Some(v) = from.get(src).filter(|v| !v.is_null()) {
            out.insert(dst.to_string(), v.clone());
        }
    }
    out
}

impl Conversion {
    /// Stored shape -> the shape served at this resource's group-version.
    #[must_use]
    pub fn to_served(self, stored: Value) -> Value {
        match (self, stored) {
            (Self::EventsV1, Value::Object(core)) => {
                let mut out = Map::new();
                out.insert("apiVersion".into(), json!("events.k8s.io/v1"));
                out.insert("kind".into(), json!("Event"));
                out.extend(move_fields(&core, EVENT_SHARED.iter().map(|f| (*f, *f))));
                out.extend(move_fields(&core, EVENT_RENAMES.iter().map(|(v1, core)| (*core, *v1))));
                // Served Events always carry eventTime (null for legacy ones).
                out.entry("eventTime").or_insert(Value::Null);
                Value::Object(out)
            }
            (_, v) => v,
        }
    }

    /// The served shape -> what is stored.
    #[must_use]
    pub fn to_storage(self, served: Value) -> Value {
        match (self, served) {
            (Self::EventsV1, Value::Object(v1)) => {
                let mut out = Map::new();
                out.insert("apiVersion".into(), json!("v1"));
                out.insert("kind".into(), json!("Event"));
                out.extend(move_fields(&v1, EVENT_SHARED.iter().map(|f| (*f, *f))));
                out.extend(move_fields(&v1, EVENT_RENAMES.iter().map(|(v1, core)| (*v1, *core))));
                // A new-style event names its reporter; core clients read it from `source`.
                if !out.contains_key("source")
                    && let Some(c) = v1.get("reportingController")
                {
                    out.insert("source".into(), json!({"component": c}));
                }
                Value::Object(out)
            }
            (_, v) => v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip() {
        let core = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e", "namespace": "shop"},
            "involvedObject": {"kind": "Pod", "name": "p"}, "reason": "Started", "message": "Started container web",
            "source": {"component": "kubelet", "host": "n0"}, "firstTimestamp": "2026-01-01T00:00:00Z",
            "lastTimestamp": "2026-01-01T00:00:01Z", "count": 2, "type": "Normal", "reportingComponent": "kubelet", "reportingInstance": "n0"});
        let v1 = Conversion::EventsV1.to_served(core.clone());
        assert_eq!(v1["apiVersion"], "events.k8s.io/v1");
        assert_eq!(v1["regarding"]["name"], "p");
        assert_eq!(v1["note"], "Started container web");
        assert_eq!(v1["deprecatedCount"], 2);
        assert_eq!(v1["reportingController"], "kubelet");
        assert!(v1["eventTime"].is_null());
        let back = Conversion::EventsV1.to_storage(v1);
        for k in [
            "involvedObject",
            "message",
            "source",
            "firstTimestamp",
            "lastTimestamp",
            "count",
            "reason",
            "type",
            "reportingComponent",
        ] {
            assert_eq!(back[k], core[k], "{k}");
        }
        let fresh = Conversion::EventsV1.to_storage(json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "x"},
            "regarding": {"kind": "Deployment", "name": "web"}, "note": "hi", "reportingController": "muster", "eventTime": "2026-01-01T00:00:00.000000Z"}));
        assert_eq!(fresh["source"]["component"], "muster");
        assert_eq!(fresh["message"], "hi");
        assert_eq!(Conversion::None.to_served(json!({"a": 1})), json!({"a": 1}));
    }
}
