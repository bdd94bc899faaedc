//! The fleet configuration file (`--fleet FILE`, example `config/fleet.example.yaml`): which
//! sources to read, labels for kubeconfig contexts by name pattern, rate limits per member or
//! label group, and the exec credential plugins that may run.
//!
//! A schema error names the file, the line and the field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::limits::LimitSpec;
use muster_core::selector::{LabelSelector, check_scope, glob_match, scope_matches};

/// The whole fleet file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FleetConfig {
    #[serde(default)]
    pub api_version: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    /// Kubeconfig files to read (besides `--kubeconfig`); relative to the fleet file.
    #[serde(default)]
    pub kubeconfigs: Vec<PathBuf>,
    /// Labels by cluster-name pattern; every matching rule adds its labels, later rules win.
    #[serde(default)]
    pub labels: Vec<LabelRule>,
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Exec credential plugins allowed to run (by command, as written in kubeconfigs).
    #[serde(default)]
    pub exec_plugins: Vec<ExecPlugin>,
    /// Cluster API Secrets in a hub cluster, as a second source.
    #[serde(default)]
    pub cluster_api: Option<ClusterApiConfig>,
    /// The audit log (JSON lines); relative to the fleet file. `--audit-log` overrides it.
    #[serde(default)]
    pub audit_log: Option<PathBuf>,
    /// Fields `compare` ignores besides the built-in list (JSON pointers, `*` per segment,
    /// optionally scoped: `Service:/spec/type`, `ConfigMap/name:/data/key`).
    #[serde(default)]
    pub ignore: Vec<String>,
    /// Replaces the built-in list of server-allocated and server-defaulted fields that
    /// `compare` leaves out (same rule syntax).
    #[serde(default)]
    pub server_fields: Option<Vec<String>>,
    /// Field managers that `compare --owned-only` counts as controllers, besides the
    /// control plane's own.
    #[serde(default)]
    pub controllers: Vec<String>,
}

/// Where the Cluster API source reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterApiConfig {
    /// A kubeconfig context for the hub cluster.
    #[serde(default)]
    pub hub_context: Option<String>,
    /// Use the in-cluster service account (muster running in a pod of the hub).
    #[serde(default)]
    pub in_cluster: bool,
    /// Namespaces to read; empty means all.
    #[serde(default)]
    pub namespaces: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelRule {
    /// A cluster name or `*` pattern.
    #[serde(rename = "match")]
    pub pattern: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LimitsConfig {
    /// Limits of every member without a group.
    #[serde(default)]
    pub default: LimitSpec,
    /// A fleet-wide QPS limit over all members (0: none).
    #[serde(default)]
    pub fleet_qps: u32,
    #[serde(default)]
    pub fleet_burst: u32,
    /// The first group whose `clusters` pattern or `selector` matches sets a member's limits.
    #[serde(default)]
    pub groups: Vec<LimitGroup>,
}

/// NB: spelled out rather than `#[serde(flatten)]` of [`LimitSpec`], because serde cannot
/// deny unknown fields through a flatten, and a misspelt limit must be an error.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LimitGroup {
    #[serde(default)]
    pub clusters: Option<String>,
    #[serde(default)]
    pub selector: Option<String>,
    #[serde(default)]
    pub qps: Option<u32>,
    #[serde(default)]
    pub burst: Option<u32>,
    #[serde(default)]
    pub in_flight: Option<u32>,
}

impl LimitGroup {
    /// This group's limits, falling back to `base` for what it does not set.
    #[must_use]
    pub fn spec(&self, base: LimitSpec) -> LimitSpec {
        LimitSpec {
            qps: self.qps.unwrap_or(base.qps),
            burst: self.burst.unwrap_or(base.burst),
            in_flight: self.in_flight.unwrap_or(base.in_flight),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExecPlugin {
    pub command: String,
    /// How long one run may take (default 10 s).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// Environment variables the plugin may receive: from muster's own environment, and set
    /// by a kubeconfig's `exec.env`. Nothing else reaches it but `PATH`, `HOME`, `USER`,
    /// `LOGNAME`, `LANG`, `LC_ALL` and `TMPDIR` from muster's own environment.
    #[serde(default)]
    pub env: Vec<String>,
}

/// A fleet file that could not be read or is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fleet config {path}: {message}")]
pub struct FleetError {
    pub path: String,
    pub message: String,
}

impl FleetConfig {
    /// Parse and check a fleet file's text; `origin` names it in errors.
    ///
    /// # Errors
    /// [`FleetError`] with the line, column and field.
    pub fn parse(origin: &str, text: &str) -> Result<Self, FleetError> {
        let err = |message: String| FleetError {
            path: origin.to_string(),
            message,
        };
        let cfg: Self = muster_core::yaml::parse(text).map_err(|e| err(e.to_string()))?;
        if let Some(kind) = cfg.kind.as_deref().filter(|k| *k != "Fleet") {
            return Err(err(format!("kind {kind:?} is not a muster Fleet configuration")));
        }
        for (i, g) in cfg.limits.groups.iter().enumerate() {
            check_scope(g.clusters.as_deref(), g.selector.as_deref())
                .map_err(|m| err(format!("limits.groups[{i}]: {m}")))?;
        }
        for (i, r) in cfg.labels.iter().enumerate() {
            for (k, v) in &r.labels {
                LabelSelector::parse(&format!("{k}={v}")).map_err(|e| err(format!("labels[{i}].labels: {e}")))?;
            }
        }
        Ok(cfg)
    }

    /// Read a fleet file; relative kubeconfig paths become relative to it.
    ///
    /// # Errors
    /// [`FleetError`] naming the file.
    pub fn load(path: &Path) -> Result<Self, FleetError> {
        let text = crate::files::read_text(path, muster_core::yaml::DEFAULT_MAX_BYTES).map_err(|e| FleetError {
            path: path.display().to_string(),
            message: e.problem,
        })?;
        let mut cfg = Self::parse(&path.display().to_string(), &text)?;
        let base = path.parent().unwrap_or(Path::new("."));
        for k in cfg.kubeconfigs.iter_mut().chain(cfg.audit_log.as_mut()) {
            if k.is_relative() {
                *k = base.join(&*k);
            }
        }
        Ok(cfg)
    }

    /// The labels the rules give a cluster name.
    #[must_use]
    pub fn labels_for(&self, name: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for r in self.labels.iter().filter(|r| glob_match(&r.pattern, name)) {
            out.extend(r.labels.clone());
        }
        out
    }

    /// The limits of a member with this name and labels.
    #[must_use]
    pub fn limits_for(&self, name: &str, labels: &BTreeMap<String, String>) -> LimitSpec {
        self.limits
            .groups
            .iter()
            .find(|g| scope_matches(g.clusters.as_deref(), g.selector.as_deref(), name, labels))
            .map_or(self.limits.default, |g| g.spec(self.limits.default))
    }

    /// How long an allowed exec plugin may run.
    #[must_use]
    pub fn exec_timeout(&self, command: &str) -> std::time::Duration {
        self.exec_plugins
            .iter()
            .find(|p| p.command == command)
            .and_then(|p| p.timeout_seconds)
            .map_or(super::exec_plugin::DEFAULT_TIMEOUT, std::time::Duration::from_secs)
    }

    /// The environment variables an allowed exec plugin may receive.
    #[must_use]
    pub fn exec_env(&self, command: &str) -> Vec<String> {
        self.exec_plugins
            .iter()
            .find(|p| p.command == command)
            .map(|p| p.env.clone())
            .unwrap_or_default()
    }

    /// Whether an exec plugin command may run.
    #[must_use]
    pub fn exec_allowed(&self, command: &str) -> bool {
        self.exec_plugins.iter().any(|p| p.command == command)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_is_valid() {
        let cfg = FleetConfig::parse(
            "config/fleet.example.yaml",
            include_str!("../../../../config/fleet.example.yaml"),
        )
        .unwrap();
        let labels = cfg.labels_for("sim-003");
        assert_eq!(labels.get("env").map(String::as_str), Some("prod"));
        assert_eq!(cfg.limits_for("sim-000", &labels).qps, 10);
        assert!(cfg.exec_allowed("aws"));
        assert!(!cfg.exec_allowed("sh"));
    }

    #[test]
    fn errors_name_line_and_field() {
        let e = FleetConfig::parse("f.yaml", "labels:\n- match: 'a*'\n  lables: {x: y}\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("f.yaml") && e.contains("line 3") && e.contains("lables"),
            "{e}"
        );
        let e = FleetConfig::parse("f.yaml", "limits:\n  groups:\n  - {qps: 1}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("limits.groups[0]"), "{e}");
        let e = FleetConfig::parse("f.yaml", "limits:\n  default: {qps: many}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("qps"), "{e}");
    }
}
