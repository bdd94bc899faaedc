//! What to do, as pure data: the [`Action`] whitelist, the [`Target`] it addresses, and the
//! [`Command`] that the policy checks and the fan-out runs. Serde-serialisable: this is also
//! the wire form for the hub and MQTT later.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// The resource as written (a kind, plural, short name, optionally `.group`); resolved
    /// against each cluster's discovery by the action.
    pub resource: String,
    pub name: Option<String>,
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
        let err = |why: &str| TargetError {
            input: s.to_string(),
            why: why.to_string(),
        };
        let (resource, name) = match s.split_once('/') {
            Some((r, n)) => (r, Some(n)),
            None => (s, None),
        };
        let ok = |x: &str| {
            !x.is_empty()
                && x.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        };
        if !ok(resource) {
            return Err(err("expected RESOURCE or RESOURCE/NAME, e.g. deploy/web"));
        }
        if let Some(n) = name
            && (!ok(n) || n.contains('/'))
        {
            return Err(err("the name must be a DNS-1123 name"));
        }
        Ok(Self {
            resource: resource.to_ascii_lowercase(),
            name: name.map(String::from),
        })
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
    pub namespace: Option<String>,
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
                name: Some("web".into())
            }
        );
        assert_eq!(
            "Deployments.apps".parse::<Target>().unwrap().resource,
            "deployments.apps"
        );
        assert_eq!("cm".parse::<Target>().unwrap().name, None);
        for bad in ["", "/web", "deploy/", "deploy/a/b", "de ploy/x", "deploy/we$b"] {
            assert!(bad.parse::<Target>().is_err(), "{bad:?}");
        }
        let c = Command::new("c-1", "2026-11-25T12:00:00Z", Action::Get);
        let wire: Command = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(wire, c);
    }
}
