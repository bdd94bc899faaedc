//! What to do, as pure data: the [`Action`] whitelist, the [`Target`] it addresses, and the
//! [`Command`] that the policy checks and the fan-out runs. Serde-serialisable: this is also
//! the wire form for the hub and MQTT later.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::kinds;
use crate::name::{Name, Namespace, check_container};
use crate::selector::LabelSelector;

/// The seven actions muster runs. Any other word is rejected when parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Get,
    Apply,
    Scale,
    Restart,
    Delete,
    Logs,
    Exec,
}

impl Action {
    pub const ALL: [Self; 7] = [
        Self::Get,
        Self::Apply,
        Self::Scale,
        Self::Restart,
        Self::Delete,
        Self::Logs,
        Self::Exec,
    ];

    /// Whether the action changes cluster state.
    #[must_use]
    pub fn is_write(self) -> bool {
        matches!(self, Self::Apply | Self::Scale | Self::Restart | Self::Delete)
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Apply => "apply",
            Self::Scale => "scale",
            Self::Restart => "restart",
            Self::Delete => "delete",
            Self::Logs => "logs",
            Self::Exec => "exec",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A word that is not one of the seven actions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown action {0:?}: muster runs only get, apply, scale, restart, delete, logs and exec")]
pub struct UnknownAction(pub String);

impl FromStr for Action {
    type Err = UnknownAction;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownAction(s.to_string()))
    }
}

/// What an action addresses, as typed: `deploy/web`, `deployments.apps`, `pod/x`, `cm`.
/// Serialised as that text and parsed back, so a target from the wire is validated too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Target {
    /// The resource as written (a kind, plural, short name, optionally `.group`), lowercase;
    /// resolved against each cluster's discovery by the action.
    pub resource: String,
    pub name: Option<Name>,
}

impl TryFrom<String> for Target {
    type Error = TargetError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Target> for String {
    fn from(t: Target) -> Self {
        t.to_string()
    }
}

/// A target that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid target {input:?}: {why}")]
pub struct TargetError {
    pub input: String,
    pub why: String,
}

impl FromStr for Target {
    type Err = TargetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |why: String| TargetError {
            input: s.to_string(),
            why,
        };
        let (resource, name) = match s.split_once('/') {
            Some((r, n)) => (r, Some(n)),
            None => (s, None),
        };
        let word = |w: &str| {
            !w.is_empty()
                && w.len() <= 253
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
                && !w.starts_with('.')
                && !w.ends_with('.')
        };
        if !resource.split(',').all(word) {
            return Err(err(
                "expected RESOURCE, RESOURCE/NAME or RESOURCE,RESOURCE, e.g. deploy/web or svc,cm".into(),
            ));
        }
        if resource.contains(',') && name.is_some() {
            return Err(err("several resources take no name (svc,cm lists both kinds)".into()));
        }
        let name = name
            .map(|n| Name::parse(n).map_err(|e| err(format!("the name {}", e.why))))
            .transpose()?;
        Ok(Self {
            resource: resource.to_ascii_lowercase(),
            name,
        })
    }
}

impl Target {
    /// The resources asked for: one, or several (`svc,cm`).
    pub fn resources(&self) -> impl Iterator<Item = &str> {
        self.resource.split(',')
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{}/{n}", self.resource),
            None => f.write_str(&self.resource),
        }
    }
}

/// How `delete` treats dependents (kubectl's `--cascade`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cascade {
    #[default]
    Background,
    Foreground,
    Orphan,
}

/// One command for the fleet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Command {
    /// Unique per command.
    pub id: String,
    /// When the command was issued (RFC 3339); the restart stamp, so a retried restart
    /// restarts once.
    pub issued_at: String,
    pub action: Action,
    /// Absent for `apply`, whose objects come in `manifests`.
    #[serde(default)]
    pub target: Option<Target>,
    /// The request's namespace (a member's kubeconfig default applies when absent).
    #[serde(default)]
    pub namespace: Option<Namespace>,
    #[serde(default)]
    pub all_namespaces: bool,
    /// `-l`: a label selector over the objects (get, delete, logs of a kind).
    #[serde(default)]
    pub label_selector: Option<String>,
    /// Objects to apply (parsed from `-f`).
    #[serde(default)]
    pub manifests: Vec<Value>,
    /// `--dry-run=server`: the API servers validate writes without persisting them.
    #[serde(default)]
    pub server_dry_run: bool,
    /// `apply --force-conflicts`.
    #[serde(default)]
    pub force_conflicts: bool,
    /// `scale --replicas`.
    #[serde(default)]
    pub replicas: Option<i32>,
    /// `delete --cascade`.
    #[serde(default)]
    pub cascade: Cascade,
    /// The argv of `exec` (never run through a shell).
    #[serde(default)]
    pub argv: Vec<String>,
    /// `logs`/`exec -c`.
    #[serde(default)]
    pub container: Option<String>,
    /// `get` for people: ask each server for kubectl's Table instead of the objects.
    #[serde(default)]
    pub table: bool,
    /// `logs --tail`.
    #[serde(default)]
    pub tail_lines: Option<u64>,
    /// `logs --limit-bytes`.
    #[serde(default)]
    pub limit_bytes: Option<u64>,
    /// `logs --since`, seconds.
    #[serde(default)]
    pub since_seconds: Option<u64>,
    /// `logs --previous`.
    #[serde(default)]
    pub previous: bool,
    /// `logs --follow`.
    #[serde(default)]
    pub follow: bool,
    /// Per-call timeout, seconds.
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

impl Command {
    /// A command with the caller's id and issue time (RFC 3339); everything else empty.
    #[must_use]
    pub fn new(id: impl Into<String>, issued_at: impl Into<String>, action: Action) -> Self {
        Self {
            id: id.into(),
            issued_at: issued_at.into(),
            action,
            target: None,
            namespace: None,
            all_namespaces: false,
            label_selector: None,
            manifests: Vec::new(),
            server_dry_run: false,
            force_conflicts: false,
            replicas: None,
            cascade: Cascade::default(),
            argv: Vec::new(),
            container: None,
            table: false,
            tail_lines: None,
            limit_bytes: None,
            since_seconds: None,
            previous: false,
            follow: false,
            timeout_seconds: None,
        }
    }

    /// The target as shown in results and audit: `deploy/web`, or `3 object(s)` for apply.
    #[must_use]
    pub fn target_text(&self) -> String {
        match (&self.target, self.action) {
            (Some(t), _) => t.to_string(),
            (None, _) => format!("{} object(s)", self.manifests.len()),
        }
    }
}

/// A command that can never run as given, found before any cluster is touched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct CommandError {
    /// The field at fault (`target`, `namespace`, `manifests[2].metadata.namespace`, ...).
    pub field: String,
    pub message: String,
}

impl CommandError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A stable short label.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        "InvalidCommand"
    }
}

/// Kinds `restart` accepts.
pub const RESTARTABLE: &[&str] = &["Deployment", "StatefulSet", "DaemonSet"];
/// Built-in kinds `scale` accepts (custom resources with a scale subresource also do).
pub const SCALABLE: &[&str] = &["Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"];
/// Built-in kinds whose pods `logs` and `exec` address.
pub const WITH_PODS: &[&str] = &["Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"];

impl Command {
    /// Check what can be checked without a cluster: the fields the action needs, the
    /// label selector, container and object names, each manifest's namespace against the
    /// command's (as kubectl refuses a mismatch), and the kinds an action can address.
    ///
    /// # Errors
    /// The first [`CommandError`], naming the field.
    pub fn validate(&self) -> Result<(), CommandError> {
        let action = self.action;
        if action == Action::Apply {
            if self.target.is_some() {
                return Err(CommandError::new("target", "apply takes manifests, not a target"));
            }
            if self.manifests.is_empty() {
                return Err(CommandError::new("manifests", "apply needs at least one object"));
            }
        } else if !self.manifests.is_empty() {
            return Err(CommandError::new(
                "manifests",
                format!("{action} takes a target, not manifests"),
            ));
        }
        for (i, m) in self.manifests.iter().enumerate() {
            self.check_manifest(i, m)?;
        }
        if let Some(t) = self.target.as_ref().filter(|t| t.resource.contains(','))
            && action != Action::Get
        {
            return Err(CommandError::new(
                "target",
                format!("{action} takes one resource, not {}", t.resource),
            ));
        }
        if self.table && action != Action::Get {
            return Err(CommandError::new("table", "only get prints tables"));
        }
        let builtin = self.target.as_ref().and_then(|t| kinds::lookup(&t.resource));
        let kind = builtin.map(|b| b.kind);
        if action != Action::Apply {
            let Some(target) = &self.target else {
                return Err(CommandError::new(
                    "target",
                    format!("{action} needs a target such as deploy/web"),
                ));
            };
            let needs_name = matches!(action, Action::Scale | Action::Restart | Action::Exec)
                || (action == Action::Logs && kind != Some("Pod"))
                || (action == Action::Delete && self.label_selector.is_none());
            if needs_name && target.name.is_none() {
                return Err(CommandError::new(
                    "target",
                    format!(
                        "{action} needs RESOURCE/NAME, e.g. deploy/web{}",
                        if action == Action::Delete { ", or -l" } else { "" }
                    ),
                ));
            }
            let allowed: Option<&[&str]> = match action {
                Action::Restart => Some(RESTARTABLE),
                Action::Scale => Some(SCALABLE),
                Action::Logs | Action::Exec => Some(WITH_PODS),
                _ => None,
            };
            if let Some(allowed) = allowed {
                // NB: a custom resource's kind is known only to its cluster; restart stamps a
                // pod template, which only the built-in workloads have.
                let fits = match kind {
                    Some(k) => allowed.contains(&k),
                    None => action == Action::Scale,
                };
                if !fits {
                    let names: Vec<String> = allowed.iter().map(|k| k.to_ascii_lowercase()).collect();
                    return Err(CommandError::new(
                        "target",
                        format!("{action} cannot address {target}: it takes {}", names.join(", ")),
                    ));
                }
            }
        }
        if let Some(sel) = &self.label_selector {
            LabelSelector::parse(sel).map_err(|e| CommandError::new("labelSelector", e.to_string()))?;
        }
        if self.all_namespaces && action != Action::Get {
            return Err(CommandError::new(
                "allNamespaces",
                format!("{action} works in one namespace"),
            ));
        }
        if let Some(c) = &self.container {
            check_container(c).map_err(|e| CommandError::new("container", e.to_string()))?;
        }
        match action {
            Action::Scale if self.replicas.is_none_or(|r| r < 0) => {
                return Err(CommandError::new("replicas", "scale needs replicas of 0 or more"));
            }
            Action::Exec if self.argv.is_empty() => {
                return Err(CommandError::new("argv", "exec needs a command"));
            }
            _ => {}
        }
        if let Some(i) = self.argv.iter().position(|a| a.contains('\0')) {
            return Err(CommandError::new(
                format!("argv[{i}]"),
                "an argument may not contain a NUL byte",
            ));
        }
        if self.timeout_seconds == Some(0) {
            return Err(CommandError::new("timeoutSeconds", "must be more than 0"));
        }
        if self.issued_at.parse::<jiff::Timestamp>().is_err() {
            return Err(CommandError::new(
                "issuedAt",
                format!("{:?} is not an RFC 3339 time", self.issued_at),
            ));
        }
        if self.id.is_empty() || self.id.len() > 253 || self.id.chars().any(char::is_control) {
            return Err(CommandError::new("id", "must be 1 to 253 printable characters"));
        }
        Ok(())
    }

    fn check_manifest(&self, i: usize, m: &Value) -> Result<(), CommandError> {
        let field = |f: &str| format!("manifests[{i}].{f}");
        for f in ["apiVersion", "kind"] {
            if m.get(f).and_then(Value::as_str).is_none_or(str::is_empty) {
                return Err(CommandError::new(field(f), "is missing"));
            }
        }
        let name = m.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
        Name::parse(name).map_err(|e| CommandError::new(field("metadata.name"), e.to_string()))?;
        let Some(ns) = m.pointer("/metadata/namespace") else {
            return Ok(());
        };
        let ns = ns
            .as_str()
            .ok_or_else(|| CommandError::new(field("metadata.namespace"), "must be a string"))?;
        let ns = Namespace::parse(ns).map_err(|e| CommandError::new(field("metadata.namespace"), e.to_string()))?;
        if let Some(want) = &self.namespace
            && *want != ns
        {
            return Err(CommandError::new(
                field("metadata.namespace"),
                format!(
                    "the namespace from the provided object {:?} does not match the namespace {:?}. You must pass '--namespace={ns}' to perform this operation.",
                    ns.as_str(),
                    want.as_str()
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_a_whitelist() {
        for a in Action::ALL {
            assert_eq!(a.as_str().parse::<Action>().unwrap(), a);
        }
        let e = "drain".parse::<Action>().unwrap_err().to_string();
        assert!(e.contains("\"drain\"") && e.contains("get, apply"), "{e}");
        assert!("Get".parse::<Action>().is_err(), "actions are lowercase words");
        assert!(Action::Scale.is_write() && !Action::Logs.is_write());
    }

    #[test]
    fn targets() {
        assert_eq!(
            "deploy/web".parse::<Target>().unwrap(),
            Target {
                resource: "deploy".into(),
                name: Some(Name::parse("web").unwrap())
            }
        );
        assert_eq!(
            "Deployments.apps".parse::<Target>().unwrap().resource,
            "deployments.apps"
        );
        assert_eq!("cm".parse::<Target>().unwrap().name, None);
        let two: Target = "svc,CM".parse().unwrap();
        assert_eq!(two.resources().collect::<Vec<_>>(), ["svc", "cm"]);
        for bad in [
            "",
            "/web",
            "deploy/",
            "deploy/a/b",
            "de ploy/x",
            "deploy/..",
            "deploy/a%2Fb",
            "cm/x?watch=true",
            ".deploy/x",
            "deploy/a b",
            "svc,cm/x",
            "svc,,cm",
        ] {
            assert!(bad.parse::<Target>().is_err(), "{bad:?}");
        }
        let c = Command::new("c-1", "2026-11-25T12:00:00Z", Action::Get);
        let wire: Command = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(wire, c);
    }
}
