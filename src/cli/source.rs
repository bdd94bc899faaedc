//! Where the CLI finds its clusters (kubeconfig files, the fleet file, Cluster API Secrets
//! in a hub) and which of them a command selects: the arguments every fleet command shares.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use tracing::warn;

use super::CliError;
use muster_fleet::registry::capi::ClusterApiSource;
use muster_fleet::registry::{FleetConfig, Member, Registry, Selection, kubeconfig};

#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// Kubeconfig file (repeatable). Default: $KUBECONFIG, else ~/.kube/config.
    #[arg(long = "kubeconfig", value_name = "FILE", global = true)]
    pub kubeconfig: Vec<PathBuf>,

    /// Fleet configuration: sources, labels by name pattern, limits, allowed exec plugins,
    /// the audit log.
    #[arg(long, env = "MUSTER_FLEET", global = true)]
    pub fleet: Option<PathBuf>,

    /// Read Cluster API `<cluster>-kubeconfig` Secrets from the hub cluster of this context.
    #[arg(long, global = true)]
    pub hub_context: Option<String>,

    /// Namespace of Cluster API Secrets (repeatable; default: all).
    #[arg(long = "capi-namespace", global = true)]
    pub capi_namespaces: Vec<String>,

    /// Fail (exit 2) when any source cannot be read.
    #[arg(long, global = true)]
    pub strict: bool,

    /// Cluster names or `*` globs, comma separated (`prod-*,stage-1`).
    #[arg(long, global = true)]
    pub clusters: Option<String>,

    /// Label selector over cluster labels (`env=prod,region in (eu,us),!canary`).
    #[arg(long = "cluster-selector", global = true)]
    pub cluster_selector: Option<String>,

    /// Let a `*` pattern of --clusters match no cluster (an exact name never may).
    #[arg(long, global = true)]
    pub allow_unmatched: bool,
}

/// The loaded registry, the fleet file, and the selected members.
#[derive(Clone)]
pub struct Loaded {
    pub registry: Arc<Registry>,
    pub fleet: FleetConfig,
    pub members: Vec<Arc<Member>>,
    /// Sources that could not be read (already reported on stderr).
    pub failed: Vec<String>,
}

/// A source that could not be read, with `--strict`.
#[derive(Debug, thiserror::Error)]
#[error("{0} (without --strict the others would be used)")]
pub struct StrictFailure(String);

impl SourceArgs {
    /// Read every source into a registry and select members.
    ///
    /// # Errors
    /// An unreadable fleet file, a selection that parses badly or matches nothing, or (with
    /// `--strict`) any source that failed.
    pub async fn load(&self) -> Result<Loaded, CliError> {
        let fleet = self
            .fleet
            .as_deref()
            .map(FleetConfig::load)
            .transpose()?
            .unwrap_or_default();
        // NB: parse the selection before reading anything: a typo fails fast.
        let selection = Selection::parse(self.clusters.as_deref(), self.cluster_selector.as_deref())?
            .allow_unmatched(self.allow_unmatched);
        let explicit: Vec<PathBuf> = self.kubeconfig.iter().chain(&fleet.kubeconfigs).cloned().collect();
        let files = kubeconfig::paths(
            &explicit,
            std::env::var_os("KUBECONFIG"),
            std::env::var_os("HOME").map(PathBuf::from),
        );
        let registry = Arc::new(Registry::with_config(&fleet));
        let report = kubeconfig::load_with(&registry, &files, &fleet);
        for w in &report.warnings {
            warn!("{w}");
        }
        let mut failed: Vec<String> = report.failed.iter().map(ToString::to_string).collect();
        let capi = fleet.cluster_api.clone().unwrap_or_default();
        let hub_context = self.hub_context.clone().or(capi.hub_context.clone());
        let hub = match (&hub_context, capi.in_cluster) {
            (Some(ctx), _) => {
                let member = registry
                    .get(ctx)
                    .ok_or_else(|| format!("--hub-context {ctx}: no such kubeconfig context"))?;
                Some(member.client().await?)
            }
            (None, true) => Some(kube::Client::try_from(kube::Config::incluster()?)?),
            (None, false) => None,
        };
        if let Some(hub) = hub {
            let namespaces = if self.capi_namespaces.is_empty() {
                capi.namespaces.clone()
            } else {
                self.capi_namespaces.clone()
            };
            let source = ClusterApiSource::new(hub, namespaces, Arc::new(fleet.clone()));
            if let Err(e) = source.sync(&registry).await {
                failed.push(format!(
                    "Cluster API Secrets in the hub ({}): {e}",
                    hub_context.as_deref().unwrap_or("in-cluster")
                ));
            }
        }
        if !failed.is_empty() {
            let n = failed.len();
            eprintln!("muster: {n} source{} failed:", if n == 1 { "" } else { "s" });
            for f in &failed {
                eprintln!("  {f}");
            }
            if self.strict {
                return Err(StrictFailure(format!("{n} source(s) failed")).into());
            }
        }
        let members = selection.select(&registry)?;
        Ok(Loaded {
            registry,
            fleet,
            members,
            failed,
        })
    }
}
