//! The audit log: append-only JSON lines, one record when a write or exec starts, one when it
//! finishes (with every cluster's status and duration), and one for every rejection. Records
//! name objects, never their content: a Secret manifest appears as `Secret/ns/name`, and exec
//! arguments pass through [`crate::redact`].

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;
use serde_json::Value;

use muster_core::command::{Action, Command};
use muster_core::result::{ExecResult, Status};

/// An audit log that could not be opened or written.
#[derive(Debug, thiserror::Error)]
#[error("audit log {path}: {source}")]
pub struct AuditError {
    pub path: String,
    #[source]
    pub source: std::io::Error,
}

/// Which part of a command's life a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Started,
    Finished,
    Rejected,
    /// Stopped before it finished (a deleted FleetCommand).
    Cancelled,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub time: String,
    pub phase: Phase,
    pub user: String,
    /// What asked for the command when it was not a person at a terminal
    /// (`FleetCommand team-a/web-rollout`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    pub command_id: String,
    pub action: Action,
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `apply`: the objects, as `Kind/namespace/name` (never their content).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<String>,
    /// `exec`: the argv, redacted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub argv: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub server_dry_run: bool,
    pub clusters: Vec<String>,
    /// Per cluster, when finished or rejected.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<ClusterRecord>,
}

/// One cluster's outcome in a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRecord {
    pub cluster: String,
    pub status: Status,
    pub duration_ms: u64,
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Whether a command is audited when it runs (writes and exec; rejections always are).
#[must_use]
pub fn audited(command: &Command) -> bool {
    command.action.is_write() || command.action == Action::Exec
}

/// The user running muster: `$USER`, else `$LOGNAME`, else the name of the process's uid
/// in `/etc/passwd`, else `uid:N`.
#[must_use]
pub fn current_user() -> String {
    if let Some(u) = ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
    {
        return u;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        if let Ok(uid) = std::fs::metadata("/proc/self").map(|m| m.uid()) {
            let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
            let name = passwd.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_string())
            });
            return name.unwrap_or_else(|| format!("uid:{uid}"));
        }
    }
    "unknown".into()
}

/// `$XDG_STATE_HOME/muster/audit.log`, else `~/.local/state/muster/audit.log`.
#[must_use]
pub fn default_path() -> PathBuf {
    crate::files::state_dir().join("audit.log")
}

/// The audit log file, opened for appending (created `0600`, its directory `0700`).
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<File>,
    user: String,
}

impl AuditLog {
    /// Open (or create) the log at `path`, recording as `user`.
    ///
    /// # Errors
    /// [`AuditError`] naming the file; a command that must be audited does not run without it.
    pub fn open(path: &Path, user: String) -> Result<Self, AuditError> {
        let fail = |source| AuditError {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let mut b = std::fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
            b.create(dir).map_err(fail)?;
        }
        let mut o = OpenOptions::new();
        o.append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        let file = o.open(path).map_err(fail)?;
        Ok(Self {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            user,
        })
    }

    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The record for `command` on `clusters` in `phase`, with `results` (if any).
    #[must_use]
    pub fn record(&self, phase: Phase, command: &Command, clusters: &[String], results: &[ExecResult]) -> Record {
        let mut results: Vec<ClusterRecord> = results
            .iter()
            .map(|r| ClusterRecord {
                cluster: r.cluster.clone(),
                status: r.status,
                duration_ms: r.duration_ms,
                attempts: r.attempts,
                reason: r.error.as_ref().map(|e| e.reason.clone()),
            })
            .collect();
        results.sort_by(|a, b| a.cluster.cmp(&b.cluster));
        Record {
            time: jiff::Timestamp::now().to_string(),
            phase,
            user: self.user.clone(),
            origin: None,
            command_id: command.id.clone(),
            action: command.action,
            target: command.target_text(),
            namespace: command.namespace.as_ref().map(ToString::to_string),
            objects: command.manifests.iter().map(object_name).collect(),
            argv: crate::redact::argv(&command.argv),
            server_dry_run: command.server_dry_run,
            clusters: clusters.to_vec(),
            results,
        }
    }

    /// Append one record as one line (one `write` on an append-mode file).
    ///
    /// # Errors
    /// [`AuditError`] naming the file.
    pub fn append(&self, record: &Record) -> Result<(), AuditError> {
        let mut line = serde_json::to_vec(record).map_err(|e| AuditError {
            path: self.path.display().to_string(),
            source: std::io::Error::other(e),
        })?;
        line.push(b'\n');
        let mut f = self.file.lock().expect("audit lock");
        f.write_all(&line)
            .and_then(|()| f.flush())
            .map_err(|source| AuditError {
                path: self.path.display().to_string(),
                source,
            })
    }
}

/// `Kind/namespace/name` (or `Kind/name`) of a manifest: never its content.
fn object_name(m: &Value) -> String {
    let text = |p: &str| m.pointer(p).and_then(Value::as_str).unwrap_or("?");
    match m.pointer("/metadata/namespace").and_then(Value::as_str) {
        Some(ns) => format!("{}/{ns}/{}", text("/kind"), text("/metadata/name")),
        None => format!("{}/{}", text("/kind"), text("/metadata/name")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_name_objects_never_their_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/muster/audit.log");
        let log = AuditLog::open(&path, "alice".into()).unwrap();
        let mut cmd = Command::new("c-1", "2026-11-25T12:00:00Z", Action::Apply);
        cmd.namespace = Some("shop".parse().unwrap());
        cmd.manifests = vec![json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "namespace": "shop"},
            "stringData": {"password": "hunter2-very-secret"}})];
        let clusters = vec!["a".to_string(), "b".to_string()];
        log.append(&log.record(Phase::Started, &cmd, &clusters, &[])).unwrap();
        let mut exec = Command::new("c-1", "2026-11-25T12:00:00Z", Action::Exec);
        exec.argv = vec!["app".into(), "--token".into(), "s3cr3t".into()];
        log.append(&log.record(Phase::Rejected, &exec, &clusters, &[])).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("hunter2") && !text.contains("s3cr3t"), "{text}");
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["objects"], json!(["Secret/shop/db"]));
        assert_eq!(lines[0]["user"], "alice");
        assert_eq!(lines[1]["argv"], json!(["app", "--token", "<redacted>"]));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
