//! `muster clusters`: the registry as a table (NAME, SOURCE, SERVER, LABELS, HEALTH,
//! VERSION, CERT-EXPIRY) or as JSON/YAML, optionally probing the selected members first.

use std::sync::Arc;

use clap::{Args, ValueEnum};
use futures::StreamExt as _;
use serde::Serialize;

use super::source::SourceArgs;
use super::{CliError, exit};
use muster_fleet::registry::{Member, health};

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
    #[command(flatten)]
    pub source: SourceArgs,

    /// Probe the selected clusters (GET /readyz and /version) before listing them.
    #[arg(long)]
    pub probe: bool,

    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// The machine-readable view of a member (never credentials).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct View {
    name: String,
    source: muster_fleet::registry::Source,
    server: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    labels: std::collections::BTreeMap<String, String>,
    health: muster_fleet::registry::Health,
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
        namespace: m.namespace.as_ref().map(ToString::to_string),
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
    super::render::columns(&rows)
}

pub async fn run(args: ClustersArgs) -> Result<u8, CliError> {
    let members = match args.source.load().await {
        Ok(loaded) => loaded.members,
        Err(e) if e.is::<super::source::StrictFailure>() => return Ok(exit::ERROR),
        Err(e) => return Err(e),
    };
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
            muster_core::yaml::to_string(&members.iter().map(|m| view(m)).collect::<Vec<_>>())?
        ),
    }
    Ok(exit::OK)
}
