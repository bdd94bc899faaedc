//! The policy (`--policy FILE`, example `config/policy.example.yaml`): pure checks of a
//! [`Command`] against one target cluster, made before any API call. A violation carries a
//! stable rule label (for results, audit and metrics) and a message naming the cluster and
//! the target.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::command::{Action, Command};
use crate::exec_args;
use crate::name::Namespace;
use crate::result::{ExecError, ExecResult, Output, Status};
use crate::selector::{check_scope, glob_match, scope_matches};

/// The `apiVersion` of policy files (optional in the file).
pub const API_VERSION: &str = "muster.dev/v1alpha1";

/// Programs that run arbitrary code and are denied for exec unless the policy names them.
const SHELLS_AND_INTERPRETERS: &[&str] = &[
    "sh",
    "bash",
    "zsh",
    "dash",
    "ash",
    "ksh",
    "mksh",
    "csh",
    "tcsh",
    "fish",
    "busybox",
    "toybox",
    "python",
    "python2",
    "python3",
    "perl",
    "ruby",
    "node",
    "nodejs",
    "deno",
    "bun",
    "php",
    "lua",
    "luajit",
    "tclsh",
    "wish",
    "awk",
    "gawk",
    "mawk",
    "nawk",
    "jshell",
    "pwsh",
    "osascript",
    "expect",
    "gdb",
    "vi",
    "vim",
    "nvim",
    "emacs",
    "ed",
    "ex",
];

/// Programs that run other programs (or commands of their own). Denied like shells unless the
/// policy lists them WITH argument patterns: listed bare, `env sh` or `find / -exec sh` would
/// walk out of the allowlist.
const WRAPPERS: &[&str] = &[
    "env",
    "xargs",
    "nice",
    "nohup",
    "timeout",
    "stdbuf",
    "setsid",
    "sudo",
    "su",
    "doas",
    "runuser",
    "chroot",
    "nsenter",
    "unshare",
    "strace",
    "ltrace",
    "ionice",
    "chrt",
    "taskset",
    "flock",
    "watch",
    "parallel",
    "script",
    "find",
    "time",
    "command",
    "exec",
    "sed",
    "tar",
    "git",
    "less",
    "more",
    "man",
    "ssh",
    "rsync",
    "make",
    "crontab",
    "at",
    "systemd-run",
    "kubectl",
    "docker",
    "crictl",
    "ctr",
    "nerdctl",
    "socat",
    "nc",
    "ncat",
    "openssl",
];

/// The whole policy file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Policy {
    pub api_version: Option<String>,
    pub kind: Option<String>,
    /// Allowed actions (exec additionally needs `exec.enabled`).
    pub actions: Vec<Action>,
    /// Namespace boundaries; the first rule whose `clusters` match applies. With no rules
    /// every namespace is allowed; with rules, a cluster no rule matches gets none.
    pub namespaces: Vec<NamespaceRule>,
    /// Namespaces no write may touch.
    pub protected_namespaces: Vec<String>,
    /// Cluster-scoped kinds that may be written (none by default).
    pub cluster_scoped_kinds: Vec<String>,
    pub exec: ExecPolicy,
    pub caps: Caps,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            api_version: None,
            kind: None,
            actions: Action::ALL.to_vec(),
            namespaces: Vec::new(),
            protected_namespaces: vec!["kube-system".into(), "kube-public".into(), "kube-node-lease".into()],
            cluster_scoped_kinds: Vec::new(),
            exec: ExecPolicy::default(),
            caps: Caps::default(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamespaceRule {
    /// Cluster names or `*` patterns, comma separated.
    #[serde(default)]
    pub clusters: Option<String>,
    /// Or a label selector over cluster labels.
    #[serde(default)]
    pub selector: Option<String>,
    /// Namespace names or `*` patterns.
    pub allow: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ExecPolicy {
    /// Exec is off unless enabled.
    pub enabled: bool,
    pub allow: Vec<ExecRule>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExecRule {
    /// `argv[0]`, exactly as sent.
    pub command: String,
    /// If set, every further argument must match one of these `*` patterns.
    #[serde(default)]
    pub args: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Caps {
    pub max_tail_lines: u64,
    pub max_output_bytes: u64,
    pub max_timeout_seconds: u64,
}

impl Default for Caps {
    fn default() -> Self {
        Self {
            max_tail_lines: 1000,
            max_output_bytes: 1024 * 1024,
            max_timeout_seconds: 300,
        }
    }
}

/// A command the policy refuses for a cluster.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cluster {cluster}: {action} {target}: {message}")]
pub struct Violation {
    /// Stable label: `ActionNotAllowed`, `ExecDisabled`, `ExecCommandNotAllowed`,
    /// `ExecShellDenied`, `ExecWrapperDenied`, `NamespaceNotAllowed`, `ProtectedNamespace`,
    /// `ClusterScopedDenied`, `ScopeUnknown`, `AllNamespacesDenied`, `CapExceeded`,
    /// `InvalidCommand`.
    pub rule: &'static str,
    pub cluster: String,
    pub action: Action,
    pub target: String,
    pub message: String,
}

impl Violation {
    /// The result of the cluster the policy refused: no request was made.
    #[must_use]
    pub fn to_result(&self, command_id: &str) -> ExecResult {
        ExecResult {
            command_id: command_id.to_string(),
            cluster: self.cluster.clone(),
            action: self.action,
            target: self.target.clone(),
            status: Status::Rejected,
            exit_code: None,
            output: Output::None,
            error: Some(ExecError {
                reason: self.rule.to_string(),
                code: None,
                message: self.to_string(),
            }),
            duration_ms: 0,
            attempts: 0,
        }
    }
}

/// A policy file that could not be read or is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy {path}: {message}")]
pub struct PolicyError {
    pub path: String,
    pub message: String,
}

/// The cluster a check is for: its name, labels and default namespace.
#[derive(Debug, Clone, Copy)]
pub struct ClusterRef<'a> {
    pub name: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    pub default_namespace: Option<&'a Namespace>,
}

/// What a write resolved to on one cluster, by its discovery: checked again before the write.
#[derive(Debug, Clone, Copy)]
pub struct Resolved<'a> {
    pub kind: &'a str,
    /// Empty for the core group.
    pub group: &'a str,
    /// `None` when the cluster did not say (fails closed).
    pub namespaced: Option<bool>,
    /// The namespace the write goes to (`None` for a cluster-scoped object).
    pub namespace: Option<&'a Namespace>,
    /// `Kind/name` or `deployment.apps/web`, for messages.
    pub what: &'a str,
}

impl Policy {
    /// Parse and check a policy's text; `origin` names it in errors.
    ///
    /// # Errors
    /// [`PolicyError`] with the line, column and field.
    pub fn parse(origin: &str, text: &str) -> Result<Self, PolicyError> {
        let err = |message: String| PolicyError {
            path: origin.to_string(),
            message,
        };
        let blank = text
            .lines()
            .map(str::trim)
            .all(|l| l.is_empty() || l.starts_with('#') || l == "---");
        if blank {
            return Err(err(
                "the policy is empty (an empty file would allow everything by default)".into(),
            ));
        }
        // NB: the kind first, so a kubeconfig or a manifest given by mistake says what it is.
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Header {
            api_version: Option<String>,
            kind: Option<String>,
        }
        if let Ok(h) = crate::yaml::parse::<Header>(text) {
            if let Some(kind) = h.kind.as_deref().filter(|k| *k != "Policy") {
                return Err(err(format!("kind {kind:?} is not a muster Policy")));
            }
            if let Some(v) = h.api_version.as_deref().filter(|v| *v != API_VERSION) {
                return Err(err(format!("apiVersion {v:?}: this muster reads {API_VERSION}")));
            }
        }
        let p: Self = crate::yaml::parse(text).map_err(|e| err(e.to_string()))?;
        for (i, r) in p.namespaces.iter().enumerate() {
            check_scope(r.clusters.as_deref(), r.selector.as_deref())
                .map_err(|m| err(format!("namespaces[{i}]: {m}")))?;
        }
        Ok(p)
    }

    fn allowed_namespaces(&self, cluster: &ClusterRef<'_>) -> Option<&[String]> {
        if self.namespaces.is_empty() {
            return None; // no boundary configured
        }
        let rule = self.namespaces.iter().find(|r| {
            scope_matches(
                r.clusters.as_deref(),
                r.selector.as_deref(),
                cluster.name,
                cluster.labels,
            )
        });
        Some(rule.map_or(&[][..], |r| r.allow.as_slice()))
    }

    /// Check `cmd` for one cluster.
    ///
    /// # Errors
    /// The first [`Violation`] found.
    pub fn check(&self, cmd: &Command, cluster: &ClusterRef<'_>) -> Result<(), Violation> {
        let target = cmd.target_text();
        let deny = |rule: &'static str, message: String| Violation {
            rule,
            cluster: cluster.name.to_string(),
            action: cmd.action,
            target: target.clone(),
            message,
        };
        cmd.validate().map_err(|e| deny("InvalidCommand", e.to_string()))?;
        if !self.actions.contains(&cmd.action) {
            return Err(deny(
                "ActionNotAllowed",
                format!(
                    "the policy allows only {}",
                    self.actions.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        if cmd.action == Action::Exec {
            self.check_exec(cmd).map_err(|(rule, m)| deny(rule, m))?;
        }
        if let Some(t) = cmd.tail_lines.filter(|t| *t > self.caps.max_tail_lines) {
            return Err(deny(
                "CapExceeded",
                format!("--tail {t} is over the policy's {} lines", self.caps.max_tail_lines),
            ));
        }
        if let Some(t) = cmd.timeout_seconds.filter(|t| *t > self.caps.max_timeout_seconds) {
            return Err(deny(
                "CapExceeded",
                format!(
                    "a timeout of {t}s is over the policy's {}s",
                    self.caps.max_timeout_seconds
                ),
            ));
        }
        let allowed = self.allowed_namespaces(cluster);
        if cmd.all_namespaces && allowed.is_some_and(|a| !a.iter().any(|p| p == "*")) {
            return Err(deny(
                "AllNamespacesDenied",
                "--all-namespaces crosses the policy's namespace boundary".into(),
            ));
        }
        // Every namespace the command touches, with what touches it.
        let default_ns = Namespace::default_namespace();
        let request_ns = cmd
            .namespace
            .as_ref()
            .or(cluster.default_namespace)
            .unwrap_or(&default_ns);
        let mut touched: Vec<(Namespace, String)> = Vec::new();
        let builtin = cmd.target.as_ref().and_then(|t| crate::kinds::lookup(&t.resource));
        if let Some(b) = builtin.filter(|b| !b.namespaced && cmd.action.is_write())
            && !self.cluster_scoped_kinds.iter().any(|k| k == b.kind)
        {
            return Err(deny(
                "ClusterScopedDenied",
                format!("{target} is cluster-scoped and the policy allows no {}", b.kind),
            ));
        }
        if cmd.manifests.is_empty() {
            if !cmd.all_namespaces && builtin.is_none_or(|b| b.namespaced) {
                touched.push((request_ns.clone(), target.clone()));
            }
        } else {
            for m in &cmd.manifests {
                let kind = m.get("kind").and_then(Value::as_str).unwrap_or_default();
                let name = m.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
                let what = format!("{kind}/{name}");
                if crate::kinds::is_cluster_scoped(kind) {
                    if !self.cluster_scoped_kinds.iter().any(|k| k == kind) {
                        return Err(deny(
                            "ClusterScopedDenied",
                            format!("{what} is cluster-scoped and the policy allows no {kind}"),
                        ));
                    }
                    continue;
                }
                // NB: validated above; a manifest without a namespace goes to the request's.
                let ns = match m.pointer("/metadata/namespace").and_then(Value::as_str) {
                    Some(ns) => Namespace::parse(ns).map_err(|e| deny("InvalidCommand", e.to_string()))?,
                    None => request_ns.clone(),
                };
                touched.push((ns, what));
            }
        }
        for (ns, what) in touched {
            self.check_namespace(cmd.action, &ns, &what, allowed)
                .map_err(|(rule, m)| deny(rule, m))?;
        }
        Ok(())
    }

    fn check_namespace(
        &self,
        action: Action,
        ns: &Namespace,
        what: &str,
        allowed: Option<&[String]>,
    ) -> Result<(), (&'static str, String)> {
        if action.is_write() && self.protected_namespaces.iter().any(|p| glob_match(p, ns.as_str())) {
            return Err((
                "ProtectedNamespace",
                format!("{what} is in namespace {ns}, which the policy protects from writes"),
            ));
        }
        if let Some(allow) = allowed
            && !allow.iter().any(|p| glob_match(p, ns.as_str()))
        {
            return Err((
                "NamespaceNotAllowed",
                format!(
                    "{what} is in namespace {ns}, outside the allowed set [{}]",
                    allow.join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// Check one write again on what the cluster's discovery resolved it to (its kind, group
    /// and scope), just before it is sent: a custom resource may be cluster-scoped where the
    /// request alone could not tell. An unknown scope fails closed.
    ///
    /// # Errors
    /// The [`Violation`].
    pub fn check_resolved(
        &self,
        cmd: &Command,
        cluster: &ClusterRef<'_>,
        object: &Resolved<'_>,
    ) -> Result<(), Violation> {
        let deny = |rule: &'static str, message: String| Violation {
            rule,
            cluster: cluster.name.to_string(),
            action: cmd.action,
            target: cmd.target_text(),
            message,
        };
        if !cmd.action.is_write() {
            return Ok(());
        }
        match (object.namespaced, object.namespace) {
            (None, _) => Err(deny(
                "ScopeUnknown",
                format!(
                    "{}: the cluster did not say whether {} is namespaced; muster does not write what it cannot scope",
                    object.what, object.kind
                ),
            )),
            (Some(false), _) => {
                let allowed = self.cluster_scoped_kinds.iter().any(|k| {
                    k == object.kind || (!object.group.is_empty() && *k == format!("{}.{}", object.kind, object.group))
                });
                if allowed {
                    Ok(())
                } else {
                    Err(deny(
                        "ClusterScopedDenied",
                        format!(
                            "{} is cluster-scoped on this cluster ({}{}) and the policy allows no {}",
                            object.what,
                            object.kind,
                            if object.group.is_empty() {
                                String::new()
                            } else {
                                format!(".{}", object.group)
                            },
                            object.kind
                        ),
                    ))
                }
            }
            (Some(true), None) => Err(deny(
                "ScopeUnknown",
                format!("{}: a namespaced write without a namespace", object.what),
            )),
            (Some(true), Some(ns)) => self
                .check_namespace(cmd.action, ns, object.what, self.allowed_namespaces(cluster))
                .map_err(|(rule, m)| deny(rule, m)),
        }
    }

    fn check_exec(&self, cmd: &Command) -> Result<(), (&'static str, String)> {
        if !self.exec.enabled {
            return Err(("ExecDisabled", "exec is disabled by the policy".into()));
        }
        let Some((program, args)) = cmd.argv.split_first() else {
            return Err(("ExecCommandNotAllowed", "exec needs a command".into()));
        };
        let rule = self.exec.allow.iter().find(|r| r.command == *program);
        let base = program.rsplit('/').next().unwrap_or(program);
        let base = base.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.' || c == '-');
        if rule.is_none() && SHELLS_AND_INTERPRETERS.contains(&base) {
            return Err((
                "ExecShellDenied",
                format!("{program} runs arbitrary code and is not listed in the policy"),
            ));
        }
        if WRAPPERS.contains(&base) && rule.is_none_or(|r| r.args.is_none()) {
            return Err((
                "ExecWrapperDenied",
                format!("{program} runs other programs; the policy must list it with argument patterns"),
            ));
        }
        let rule = rule.ok_or_else(|| {
            (
                "ExecCommandNotAllowed",
                format!("{program} is not in the policy's exec allowlist"),
            )
        })?;
        if let Some(bad) = args.iter().find(|a| exec_args::normalize(a) != **a) {
            return Err((
                "ExecCommandNotAllowed",
                format!("argument {bad:?} of {program} has '.' or '..' segments or repeated slashes"),
            ));
        }
        if let Some(patterns) = &rule.args
            && let Some(bad) = args.iter().find(|a| !patterns.iter().any(|p| exec_args::matches(p, a)))
        {
            return Err((
                "ExecCommandNotAllowed",
                format!("argument {bad:?} of {program} matches none of the allowed patterns"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cluster<'a>(name: &'a str, labels: &'a BTreeMap<String, String>) -> ClusterRef<'a> {
        ClusterRef {
            name,
            labels,
            default_namespace: None,
        }
    }

    fn policy() -> Policy {
        Policy::parse("p.yaml", include_str!("../../../config/policy.example.yaml")).unwrap()
    }

    fn cmd(action: Action, target: &str, ns: &str) -> Command {
        let mut c = Command::new("c-1", "2026-11-25T12:00:00Z", action);
        c.target = Some(target.parse().unwrap());
        c.namespace = Some(ns.parse().unwrap());
        if action == Action::Scale {
            c.replicas = Some(2);
        }
        if action == Action::Exec {
            c.argv = vec!["echo".into()];
        }
        c
    }

    #[test]
    fn each_rule_passes_and_rejects() {
        let p = policy();
        let prod = BTreeMap::from([("env".to_string(), "prod".to_string())]);
        let stage = BTreeMap::from([("env".to_string(), "stage".to_string())]);
        let on =
            |c: &Command, labels: &BTreeMap<String, String>| p.check(c, &cluster("c1", labels)).map_err(|v| v.rule);

        // Namespace boundary per label group.
        assert_eq!(on(&cmd(Action::Scale, "deploy/web", "shop"), &prod), Ok(()));
        assert_eq!(
            on(&cmd(Action::Scale, "deploy/web", "billing"), &prod),
            Err("NamespaceNotAllowed")
        );
        assert_eq!(on(&cmd(Action::Scale, "deploy/web", "billing"), &stage), Ok(()));
        // Protected namespaces: reads pass, writes do not.
        assert_eq!(on(&cmd(Action::Get, "pods", "kube-system"), &stage), Ok(()));
        assert_eq!(
            on(&cmd(Action::Delete, "pod/x", "kube-system"), &stage),
            Err("ProtectedNamespace")
        );
        // Caps.
        let mut logs = cmd(Action::Logs, "deploy/web", "shop");
        logs.tail_lines = Some(100);
        assert_eq!(on(&logs, &prod), Ok(()));
        logs.tail_lines = Some(5000);
        assert_eq!(on(&logs, &prod), Err("CapExceeded"));
        // All namespaces only where the boundary is "*".
        let mut all = cmd(Action::Get, "pods", "shop");
        all.all_namespaces = true;
        assert_eq!(on(&all, &stage), Ok(()));
        assert_eq!(on(&all, &prod), Err("AllNamespacesDenied"));
        // Without a catch-all rule, a cluster that no rule matches gets no namespace at all.
        let strict = Policy::parse("p.yaml", "namespaces:\n- {selector: env=prod, allow: [shop]}\n").unwrap();
        let none = BTreeMap::new();
        assert_eq!(
            strict
                .check(&cmd(Action::Get, "pods", "shop"), &cluster("lab-1", &none))
                .map_err(|v| v.rule),
            Err("NamespaceNotAllowed")
        );
        assert_eq!(
            strict
                .check(&cmd(Action::Get, "pods", "shop"), &cluster("prod-1", &prod))
                .map_err(|v| v.rule),
            Ok(())
        );
    }

    #[test]
    fn exec_rules() {
        let p = policy();
        let labels = BTreeMap::from([("env".to_string(), "stage".to_string())]);
        let exec = |argv: &[&str]| {
            let mut c = cmd(Action::Exec, "deploy/web", "shop");
            c.argv = argv.iter().map(|s| (*s).to_string()).collect();
            p.check(&c, &cluster("c", &labels)).map_err(|v| v.rule)
        };
        assert_eq!(exec(&["echo", "hi"]), Ok(()));
        assert_eq!(exec(&["cat", "/etc/app/config.yaml"]), Ok(()));
        assert_eq!(exec(&["cat", "/root/.ssh/id_rsa"]), Err("ExecCommandNotAllowed"));
        assert_eq!(exec(&["sh", "-c", "id"]), Err("ExecShellDenied"));
        assert_eq!(exec(&["/usr/bin/python3.11", "-c", "1"]), Err("ExecShellDenied"));
        assert_eq!(exec(&["rm", "-rf", "/"]), Err("ExecCommandNotAllowed"));
        let off = Policy::default();
        let mut c = cmd(Action::Exec, "deploy/web", "shop");
        c.argv = vec!["echo".into()];
        assert_eq!(
            off.check(&c, &cluster("c", &labels)).map_err(|v| v.rule),
            Err("ExecDisabled")
        );
    }

    #[test]
    fn manifests_cannot_hide_objects() {
        let p = policy();
        let labels = BTreeMap::from([("env".to_string(), "prod".to_string())]);
        let apply = |docs: Vec<Value>| {
            let mut c = Command::new("c-1", "2026-11-25T12:00:00Z", Action::Apply);
            c.namespace = Some("shop".parse().unwrap());
            c.manifests = docs;
            p.check(&c, &cluster("prod-1", &labels))
        };
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}});
        assert_eq!(apply(vec![cm.clone()]), Ok(()));
        let crb = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "sneaky-admin"}});
        let v = apply(vec![cm.clone(), crb]).unwrap_err();
        assert_eq!(v.rule, "ClusterScopedDenied");
        assert!(
            v.to_string()
                .contains("cluster prod-1: apply 2 object(s): ClusterRoleBinding/sneaky-admin"),
            "{v}"
        );
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "billing"}});
        let mut billing = Command::new("c-1", "2026-11-25T12:00:00Z", Action::Apply);
        billing.manifests = vec![cm.clone(), secret];
        assert_eq!(
            p.check(&billing, &cluster("prod-1", &labels)).unwrap_err().rule,
            "NamespaceNotAllowed"
        );
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "new"}});
        assert_eq!(apply(vec![ns]).unwrap_err().rule, "ClusterScopedDenied");
    }

    #[test]
    fn action_whitelist_and_errors() {
        let p = Policy::parse("p.yaml", "actions: [get, logs]\n").unwrap();
        let labels = BTreeMap::new();
        assert!(
            p.check(&cmd(Action::Get, "pods", "shop"), &cluster("c", &labels))
                .is_ok()
        );
        assert_eq!(
            p.check(&cmd(Action::Delete, "pod/x", "shop"), &cluster("c", &labels))
                .unwrap_err()
                .rule,
            "ActionNotAllowed"
        );
        for (text, says) in [
            ("", "empty"),
            ("  \n# only a comment\n", "empty"),
            ("apiVersion: v1\nkind: Config\n", "kind \"Config\""),
            ("kind: Policy\napiVersion: muster.dev/v9\n", "apiVersion"),
            ("clusters: []\n", "clusters"),
            (
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n",
                "Deployment",
            ),
        ] {
            let e = Policy::parse("p.yaml", text).unwrap_err().to_string();
            assert!(e.starts_with("policy p.yaml: ") && e.contains(says), "{text:?}: {e}");
        }
        let e = Policy::parse("p.yaml", "actions: [get, drain]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("p.yaml") && e.contains("line 1") && e.contains("drain"),
            "{e}"
        );
    }

    #[test]
    fn results_round_trip_json_and_yaml() {
        let v = Violation {
            rule: "ExecShellDenied",
            cluster: "prod-1".into(),
            action: Action::Exec,
            target: "deploy/web".into(),
            message: "sh runs arbitrary code".into(),
        };
        let r = v.to_result("c-1");
        assert_eq!(r.status, Status::Rejected);
        assert!(
            r.error
                .as_ref()
                .unwrap()
                .message
                .starts_with("cluster prod-1: exec deploy/web:")
        );
        let json = serde_json::to_string(&r).unwrap();
        assert!(
            json.contains("\"status\":\"Rejected\"") && json.contains("\"action\":\"exec\""),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<ExecResult>(&json).unwrap(), r);
        let yaml = crate::yaml::to_string(&r).unwrap();
        assert_eq!(crate::yaml::parse::<ExecResult>(&yaml).unwrap(), r);
        let ok = ExecResult {
            status: Status::Succeeded,
            output: Output::Streams {
                stdout: "hi\n".into(),
                stderr: String::new(),
                truncated: false,
            },
            exit_code: Some(0),
            error: None,
            attempts: 1,
            ..r
        };
        assert!(ok.status.is_success());
        assert_eq!(
            serde_json::from_str::<ExecResult>(&serde_json::to_string(&ok).unwrap()).unwrap(),
            ok
        );
    }
}
