//! The MQTT messages, in the seed's field names: a command down (`command_id`, `action`,
//! `namespace`, `resource`/`name`, `container`, `tail_lines`, `follow`, `command[]`,
//! `timeout`, `scale_count`, `yaml_content`, `output_format`, and the clusters), validated
//! into a FleetCommand spec or refused naming the field; and what goes up: one message per
//! cluster result, a summary, and the `Rejected` answer to a bad message.

use muster_core::command::{Action, Command};
use muster_core::result::{ExecResult, Output};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::crd::FleetCommandSpec;
use crate::crd::command::ClusterSelection;

/// The largest message accepted down (a manifest rides in `yaml_content`).
pub const MAX_DOWN_BYTES: usize = crate::broker::MAX_MESSAGE_BYTES;
/// The largest `output` sent up per cluster (the rest is cut, and said so).
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;

/// A command down, as sent. Unknown fields are refused (a typo must not be ignored).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Down {
    pub command_id: Option<String>,
    pub action: Option<String>,
    pub namespace: Option<String>,
    pub resource: Option<String>,
    pub name: Option<String>,
    pub container: Option<String>,
    pub tail_lines: Option<u64>,
    #[serde(default)]
    pub follow: bool,
    #[serde(default)]
    pub command: Vec<String>,
    /// Seconds, per request.
    pub timeout: Option<u64>,
    pub scale_count: Option<i32>,
    pub yaml_content: Option<String>,
    pub output_format: Option<String>,
    /// Cluster names or `*` patterns (default: every cluster the namespace may target).
    #[serde(default)]
    pub clusters: Vec<String>,
    /// A label selector over cluster labels.
    pub cluster_selector: Option<String>,
    /// `logs` with `follow`: stop after this many seconds (bounded by the hub's limit).
    pub follow_seconds: Option<u64>,
}

/// What a message down asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// Run a command (becomes a FleetCommand).
    Run {
        command_id: String,
        spec: Box<FleetCommandSpec>,
    },
    /// Follow logs until cancelled or the time limit.
    Follow {
        command_id: String,
        spec: Box<FleetCommandSpec>,
        seconds: Option<u64>,
    },
    /// Stop the follow session of `command_id`.
    Cancel { command_id: String },
}

/// A message refused: the field and why (sent up as `Rejected`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {why}")]
pub struct Refused {
    pub command_id: Option<String>,
    pub field: String,
    pub why: String,
}

/// A command id: 1-128 printable ASCII characters, no spaces or wildcards.
fn command_id(v: Option<&str>) -> Result<String, (String, String)> {
    let id = v.ok_or_else(|| ("command_id".to_string(), "is required".to_string()))?;
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '+' | '#' | '/' | '*'));
    if ok {
        Ok(id.to_string())
    } else {
        Err((
            "command_id".into(),
            "must be 1-128 printable ASCII characters without /, +, # or *".into(),
        ))
    }
}

/// Parse and validate a message down.
///
/// # Errors
/// [`Refused`] naming the field: not JSON, too large, an unknown action or field, a
/// missing or invalid value.
pub fn parse(bytes: &[u8]) -> Result<Request, Refused> {
    let refuse = |id: Option<String>, field: &str, why: String| Refused {
        command_id: id,
        field: field.to_string(),
        why,
    };
    if bytes.len() > MAX_DOWN_BYTES {
        return Err(refuse(
            None,
            "message",
            format!("{} bytes is over the {MAX_DOWN_BYTES}-byte limit", bytes.len()),
        ));
    }
    // NB: the id first, so that even a message with a bad field is answered by its id.
    let loose: Value = serde_json::from_slice(bytes).map_err(|e| refuse(None, "message", format!("not JSON: {e}")))?;
    let id_hint = loose
        .get("command_id")
        .and_then(Value::as_str)
        .and_then(|s| command_id(Some(s)).ok());
    let down: Down = serde_json::from_value(loose).map_err(|e| {
        let text = e.to_string();
        let field = text
            .split('`')
            .nth(1)
            .filter(|_| text.starts_with("unknown field"))
            .unwrap_or("message")
            .to_string();
        refuse(id_hint.clone(), &field, text)
    })?;
    let id = command_id(down.command_id.as_deref()).map_err(|(f, w)| refuse(id_hint.clone(), &f, w))?;
    let some = Some(id.clone());
    let action_text = down
        .action
        .as_deref()
        .ok_or_else(|| refuse(some.clone(), "action", "is required".into()))?;
    if action_text == "cancel" {
        return Ok(Request::Cancel { command_id: id });
    }
    let action: Action = action_text.parse().map_err(|_| {
        refuse(
            some.clone(),
            "action",
            format!("{action_text:?} is not one of get, apply, scale, restart, delete, logs, exec, cancel"),
        )
    })?;
    let mut c = Command::new(id.clone(), crate::members::now_rfc3339(), action);
    if let Some(ns) = &down.namespace {
        c.namespace = Some(
            ns.parse()
                .map_err(|e: muster_core::name::NameError| refuse(some.clone(), "namespace", e.to_string()))?,
        );
    }
    if let Some(r) = &down.resource {
        let text = match &down.name {
            Some(n) => format!("{r}/{n}"),
            None => r.clone(),
        };
        c.target = Some(
            text.parse()
                .map_err(|e: muster_core::command::TargetError| refuse(some.clone(), "resource", e.to_string()))?,
        );
    } else if down.name.is_some() {
        return Err(refuse(some, "resource", "is required with name".into()));
    }
    c.container.clone_from(&down.container);
    c.tail_lines = down.tail_lines;
    c.follow = down.follow;
    c.argv.clone_from(&down.command);
    c.timeout_seconds = down.timeout;
    c.replicas = down.scale_count;
    if let Some(y) = &down.yaml_content {
        c.manifests = muster_core::manifest::parse_with(
            "yaml_content",
            y,
            muster_core::yaml::Limits::default().max_bytes(MAX_DOWN_BYTES),
        )
        .map_err(|e| refuse(some.clone(), "yaml_content", e))?;
    }
    if let Some(f) = &down.output_format
        && !matches!(f.as_str(), "json" | "yaml" | "text" | "table")
    {
        return Err(refuse(
            some,
            "output_format",
            format!("{f:?} is not json, yaml, text or table"),
        ));
    }
    c.table = matches!(down.output_format.as_deref(), Some("table" | "text")) && action == Action::Get;
    if down.follow && action != Action::Logs {
        return Err(refuse(some, "follow", "only logs can follow".into()));
    }
    c.validate().map_err(|e| {
        let field = match e.field.as_str() {
            "target" => "resource".to_string(),
            f if f.starts_with("manifests") => "yaml_content".to_string(),
            "argv" => "command".to_string(),
            "replicas" => "scale_count".to_string(),
            other => other.to_string(),
        };
        refuse(some.clone(), &field, e.to_string())
    })?;
    for (i, n) in down.clusters.iter().enumerate() {
        if n.trim().is_empty() || n.contains(',') || n.len() > 253 || n.chars().any(char::is_control) {
            return Err(refuse(
                some,
                &format!("clusters[{i}]"),
                format!("{n:?} is not a cluster name or pattern"),
            ));
        }
    }
    let mut spec = FleetCommandSpec::from_command(
        &c,
        ClusterSelection {
            names: down.clusters.clone(),
            selector: down.cluster_selector.clone(),
            allow_unmatched: false,
        },
    );
    spec.ttl_seconds_after_finished = Some(24 * 3600);
    if down.follow {
        return Ok(Request::Follow {
            command_id: id,
            spec: Box::new(spec),
            seconds: down.follow_seconds,
        });
    }
    Ok(Request::Run {
        command_id: id,
        spec: Box::new(spec),
    })
}

/// One message up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Up {
    /// `result`, `summary`, `log` or `rejected`.
    #[serde(rename = "type")]
    pub kind: String,
    pub command_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<u64>,
    /// A summary's counts by status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<std::collections::BTreeMap<String, u64>>,
    /// A log batch's lines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<String>,
}

impl Up {
    fn new(kind: &str, command_id: Option<String>, status: &str) -> Self {
        Self {
            kind: kind.into(),
            command_id,
            cluster: None,
            status: status.into(),
            exit_code: None,
            output: None,
            error: None,
            duration: None,
            counts: None,
            lines: Vec::new(),
        }
    }

    /// The answer to a refused message.
    #[must_use]
    pub fn rejected(r: &Refused) -> Self {
        let mut u = Self::new("rejected", r.command_id.clone(), "Rejected");
        u.error = Some(r.to_string());
        u
    }

    /// One cluster's result.
    #[must_use]
    pub fn result(command_id: &str, r: &ExecResult) -> Self {
        let mut u = Self::new("result", Some(command_id.to_string()), &format!("{:?}", r.status));
        u.cluster = Some(r.cluster.clone());
        u.exit_code = r.exit_code;
        u.output = output_text(&r.output);
        u.error = r.error.as_ref().map(|e| format!("{}: {}", e.reason, e.message));
        u.duration = Some(r.duration_ms);
        u
    }

    /// The summary after every cluster's result.
    #[must_use]
    pub fn summary(command_id: &str, phase: &str, counts: std::collections::BTreeMap<String, u64>, ms: u64) -> Self {
        let mut u = Self::new("summary", Some(command_id.to_string()), phase);
        u.counts = Some(counts);
        u.duration = Some(ms);
        u
    }

    /// A batch of followed log lines of one cluster.
    #[must_use]
    pub fn log(command_id: &str, cluster: &str, lines: Vec<String>) -> Self {
        let mut u = Self::new("log", Some(command_id.to_string()), "Streaming");
        u.cluster = Some(cluster.to_string());
        u.lines = lines;
        u
    }

    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// A result's output as text, cut at [`MAX_OUTPUT_BYTES`].
fn output_text(o: &Output) -> Option<String> {
    let text = match o {
        Output::None => return None,
        Output::Objects { items, .. } => {
            let values: Vec<Value> = items.iter().map(muster_core::result::Object::value).collect();
            serde_json::to_string(&values).unwrap_or_default()
        }
        Output::Lines { lines, .. } => lines.join("\n"),
        Output::Streams { stdout, stderr, .. } => {
            if stderr.is_empty() {
                stdout.clone()
            } else {
                format!("{stdout}{stderr}")
            }
        }
        Output::Summary { text } => text.clone(),
        other => serde_json::to_string(other).unwrap_or_default(),
    };
    if text.len() <= MAX_OUTPUT_BYTES {
        return Some(text);
    }
    let mut cut = MAX_OUTPUT_BYTES;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    Some(format!("{}\n... (cut at {MAX_OUTPUT_BYTES} bytes)", &text[..cut]))
}

/// The FleetCommand name of a command id: readable, a DNS label, and distinct per id (a
/// hash of the whole id), so a command delivered twice names the same FleetCommand.
#[must_use]
pub fn fleet_command_name(command_id: &str) -> String {
    let mut readable: String = command_id
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    readable.truncate(40);
    let readable = readable.trim_matches('-');
    let d = ring::digest::digest(&ring::digest::SHA256, command_id.as_bytes());
    let hash: String = d.as_ref()[..5].iter().map(|b| format!("{b:02x}")).collect();
    if readable.is_empty() {
        format!("mqtt-{hash}")
    } else {
        format!("mqtt-{readable}-{hash}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> Refused {
        parse(text.as_bytes()).unwrap_err()
    }

    #[test]
    fn good_commands() {
        let r = parse(br#"{"command_id": "c-1", "action": "get", "namespace": "shop", "resource": "deploy", "name": "web", "clusters": ["prod-*"]}"#).unwrap();
        let Request::Run { command_id, spec } = r else { panic!() };
        assert_eq!(command_id, "c-1");
        assert_eq!(spec.target.as_deref(), Some("deploy/web"));
        assert_eq!(spec.clusters.names, vec!["prod-*"]);
        let r = parse(br#"{"command_id": "c-2", "action": "apply", "namespace": "shop", "yaml_content": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"}"#).unwrap();
        assert!(matches!(r, Request::Run { spec, .. } if spec.manifests.len() == 1));
        let r = parse(br#"{"command_id": "c-3", "action": "logs", "namespace": "shop", "resource": "deploy", "name": "web", "follow": true, "tail_lines": 5}"#).unwrap();
        assert!(matches!(r, Request::Follow { .. }));
        assert_eq!(
            parse(br#"{"command_id": "c-3", "action": "cancel"}"#).unwrap(),
            Request::Cancel {
                command_id: "c-3".into()
            }
        );
        let r = parse(br#"{"command_id": "c-4", "action": "exec", "namespace": "shop", "resource": "deploy", "name": "web", "command": ["ls", "-l"], "timeout": 10}"#).unwrap();
        assert!(matches!(r, Request::Run { spec, .. } if spec.argv == vec!["ls", "-l"]));
    }

    #[test]
    fn bad_messages_name_the_field() {
        assert_eq!(refused("not json").field, "message");
        assert_eq!(refused(&"x".repeat(MAX_DOWN_BYTES + 1)).field, "message");
        let r = refused(r#"{"command_id": "c-1", "action": "reboot"}"#);
        assert_eq!((r.field.as_str(), r.command_id.as_deref()), ("action", Some("c-1")));
        assert_eq!(refused(r#"{"action": "get", "resource": "pods"}"#).field, "command_id");
        assert_eq!(refused(r#"{"command_id": "a/b", "action": "get"}"#).field, "command_id");
        assert_eq!(
            refused(r#"{"command_id": "c", "action": "get", "resourse": "pods"}"#).field,
            "resourse"
        );
        assert_eq!(
            refused(r#"{"command_id": "c", "action": "scale", "resource": "deploy", "name": "web"}"#).field,
            "scale_count"
        );
        assert_eq!(
            refused(r#"{"command_id": "c", "action": "get", "resource": "pods", "namespace": "Bad_NS"}"#).field,
            "namespace"
        );
        assert_eq!(
            refused(r#"{"command_id": "c", "action": "get", "resource": "../etc"}"#).field,
            "resource"
        );
        assert_eq!(
            refused(r#"{"command_id": "c", "action": "apply", "yaml_content": "kind: [oops"}"#).field,
            "yaml_content"
        );
        assert_eq!(
            refused(r#"{"command_id": "c", "action": "get", "resource": "pods", "follow": true}"#).field,
            "follow"
        );
        assert_eq!(
            refused(r#"{"command_id": "c", "action": "get", "resource": "pods", "clusters": ["a,b"]}"#).field,
            "clusters[0]"
        );
        assert_eq!(
            refused(r#"{"command_id": "c", "action": "get", "resource": "pods", "output_format": "xml"}"#).field,
            "output_format"
        );
        assert_eq!(refused(r#"{"command_id": 7, "action": "get"}"#).field, "message");
        // Absurd shapes: deep nesting in the JSON and in the YAML, control characters.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(refused(&deep).field, "message");
        let deep_yaml = format!(
            r#"{{"command_id": "c", "action": "apply", "yaml_content": "a: {}1{}"}}"#,
            "[".repeat(5000),
            "]".repeat(5000)
        );
        assert_eq!(refused(&deep_yaml).field, "yaml_content");
        assert_eq!(
            refused("{\"command_id\": \"a\\u0000b\", \"action\": \"get\"}").field,
            "command_id"
        );
        assert_eq!(
            refused(r#"{"command_id": "c", "action": "get", "resource": "pods", "namespace": "../kube-system"}"#).field,
            "namespace"
        );
        assert_eq!(
            refused(r#"{"command_id": "c", "action": "exec", "resource": "deploy", "name": "web"}"#).field,
            "command"
        );
    }

    #[test]
    fn names_are_stable_labels() {
        let a = fleet_command_name("Order#42 / retry");
        assert_eq!(a, fleet_command_name("Order#42 / retry"));
        assert_ne!(a, fleet_command_name("Order#42 / retrz"));
        assert!(a.len() <= 63 && a.starts_with("mqtt-order-42"), "{a}");
        assert!(fleet_command_name("----").starts_with("mqtt-"));
    }
}
