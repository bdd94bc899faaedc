//! `muster clusters`: the registry as a table (NAME, SOURCE, SERVER, LABELS, HEALTH,
//! VERSION, CERT-EXPIRY) or as JSON/YAML, optionally probing the selected members first.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, ValueEnum};
use futures::StreamExt as _;
use serde::Serialize;
use tracing::warn;

use super::{CliError, exit};
use crate::registry::capi::ClusterApiSource;
use crate::registry::{FleetConfig, Member, Registry, Selection, health, kubeconfig};

/// How many members are probed at once.
const PROBE_CONCURRENCY: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
    Yaml,
}

#[derive(Debug, Args)]
pub struct ClustersArgs {
    /// Kubeconfig file (repeatable). Default: $KUBECONFIG, else ~/.kube/config.
    #[arg(long = "kubeconfig", value_name = "FILE")]
    pub kubeconfig: Vec<PathBuf>,

    /// Cluster names or `*` globs, comma separated (`prod-*,stage-1`).
    #[arg(long)]
    pub clusters: Option<String>,

    /// Label selector over cluster labels (`env=prod,region in (eu,us),!canary`).
    #[arg(long = "cluster-selector")]
    pub cluster_selector: Option<String>,

    /// Probe the selected clusters (GET /readyz and /version) before listing them.
    #[arg(long)]
    pub probe: bool,

    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Table)]
    pub output: Output,

    /// Fail (exit 2) when any source cannot be read.
    #[arg(long)]
    pub strict: bool,

    /// Fleet configuration: sources, labels by name pattern, limits, allowed exec plugins.
    #[arg(long, env = "MUSTER_FLEET")]
    pub fleet: Option<PathBuf>,

    /// Read Cluster API `<cluster>-kubeconfig` Secrets from the hub cluster of this context.
    #[arg(long)]
    pub hub_context: Option<String>,

    /// Namespace of Cluster API Secrets (repeatable; default: all).
    #[arg(long = "capi-namespace")]
    pub capi_namespaces: Vec<String>,
}

/// The machine-readable view of a member (never credentials).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct View {
    name: String,
    source: crate::registry::Source,
    server: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    labels: std::collections::BTreeMap<String, String>,
    health: crate::registry::Health,
    #[serde(skip_serializing_if = "Option::is_none")]
    invalid: Option<String>,
    insecure_skip_tls_verify: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    cert_expiry: Option<String>,
}

fn view(m: &Member) -> View {
    View {
        name: m.name.clone(),
        source: m.source.clone(),
        server: m.server.clone(),
        namespace: m.namespace.clone(),
        labels: m.labels.clone(),
        health: m.health(),
        invalid: m.invalid.as_ref().map(|i| i.reason.clone()),
        insecure_skip_tls_verify: m.insecure,
        cert_expiry: m.cert_expiry.clone(),
    }
}

/// Render members as the `muster clusters` table.
#[must_use]
pub fn table(members: &[Arc<Member>]) -> String {
    let mut rows = vec![
        ["NAME", "SOURCE", "SERVER", "LABELS", "HEALTH", "VERSION", "CERT-EXPIRY"]
            .map(String::from)
            .to_vec(),
    ];
    for m in members {
        let h = m.health();
        let labels = if m.labels.is_empty() {
            "<none>".to_string()
        } else {
            m.labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let health = if m.invalid.is_some() {
            "Invalid".to_string()
        } else {
            format!("{:?}", h.state)
        };
        rows.push(vec![
            m.name.clone(),
            m.source.to_string(),
            m.server.clone(),
            labels,
            health,
            h.version.unwrap_or_else(|| "-".into()),
            m.cert_expiry.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, cell)| format!("{cell:<w$}", w = widths[c]))
            .collect();
        out.push_str(line.join("   ").trim_end());
        out.push('\n');
    }
    out
}

pub async fn run(args: ClustersArgs) -> Result<u8, CliError> {
    let fleet = args
        .fleet
        .as_deref()
        .map(FleetConfig::load)
        .transpose()?
        .unwrap_or_default();
    let explicit: Vec<PathBuf> = args.kubeconfig.iter().chain(&fleet.kubeconfigs).cloned().collect();
    let files = kubeconfig::paths(
        &explicit,
        std::env::var_os("KUBECONFIG"),
        std::env::var_os("HOME").map(PathBuf::from),
    );
    let registry = Registry::with_config(&fleet);
    let report = kubeconfig::load_with(&registry, &files, &fleet);
    for w in &report.warnings {
        warn!("{w}");
    }
    if !report.failed.is_empty() {
        let n = report.failed.len();
        eprintln!("muster: {n} source{} failed:", if n == 1 { "" } else { "s" });
        for f in &report.failed {
            eprintln!("  {f}");
        }
        if args.strict {
            return Ok(exit::ERROR);
        }
    }
    let capi = fleet.cluster_api.clone().unwrap_or_default();
    let hub_context = args.hub_context.clone().or(capi.hub_context.clone());
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
        let namespaces = if args.capi_namespaces.is_empty() {
            capi.namespaces.clone()
        } else {
            args.capi_namespaces.clone()
        };
        let source = ClusterApiSource::new(hub, namespaces, Arc::new(fleet.clone()));
        if let Err(e) = source.sync(&registry).await {
            eprintln!(
                "muster: 1 source failed:\n  Cluster API Secrets in the hub ({}): {e}",
                hub_context.as_deref().unwrap_or("in-cluster")
            );
            if args.strict {
                return Ok(exit::ERROR);
            }
        }
    }
    let selection = Selection::parse(args.clusters.as_deref(), args.cluster_selector.as_deref())?;
    let members = selection.select(&registry)?;
    if args.probe {
        futures::stream::iter(members.iter().filter(|m| m.invalid.is_none()).cloned())
            .map(|m| async move { health::probe(&m, 1).await })
            .buffer_unordered(PROBE_CONCURRENCY)
            .collect::<Vec<_>>()
            .await;
    }
    match args.output {
        Output::Table => {
            print!("{}", table(&members));
            for m in &members {
                if let Some(inv) = &m.invalid {
                    eprintln!("muster: cluster {} is invalid: {}", m.name, inv.reason);
                }
                if m.insecure {
                    eprintln!(
                        "muster: warning: cluster {} skips TLS verification (insecure-skip-tls-verify)",
                        m.name
                    );
                }
                if let Some(e) = m.health().last_error.filter(|_| args.probe) {
                    eprintln!("muster: {e}");
                }
            }
        }
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&members.iter().map(|m| view(m)).collect::<Vec<_>>())?
        ),
        Output::Yaml => print!(
            "{}",
            serde_yaml::to_string(&members.iter().map(|m| view(m)).collect::<Vec<_>>())?
        ),
    }
    Ok(exit::OK)
}
