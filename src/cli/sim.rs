//! `muster sim`: start simulated clusters, write their kubeconfig, serve until Ctrl-C.

use std::path::PathBuf;

use clap::Args;
use tracing::info;

use super::{CliError, exit};
use muster_sim::fleet::write_private;
use muster_sim::{Fleet, FleetOptions, Scenario};

#[derive(Debug, Args)]
pub struct SimArgs {
    /// Number of clusters to start.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20_000))]
    pub clusters: u32,

    /// First port; cluster i listens on base-port + i. Default: free ports.
    #[arg(long)]
    pub base_port: Option<u16>,

    /// Where to write the kubeconfig (mode 0600). Default: muster-sim.kubeconfig in the
    /// system temporary directory.
    #[arg(long)]
    pub kubeconfig_out: Option<PathBuf>,

    /// Seed for the simulation's randomness (not for credentials).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Kubernetes version the clusters report.
    #[arg(long, default_value = "v1.32.4")]
    pub kubernetes_version: String,

    /// Context/cluster name prefix.
    #[arg(long, default_value = "sim")]
    pub name_prefix: String,

    /// Scenario file (YAML): workload behaviour and faults per cluster at start.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
}

pub async fn run(args: SimArgs) -> Result<u8, CliError> {
    let scenario = args.scenario.as_deref().map(Scenario::load).transpose()?;
    let mut options = FleetOptions::default()
        .clusters(args.clusters as usize)
        .base_port(args.base_port)
        .seed(args.seed)
        .name_prefix(args.name_prefix)
        .kubernetes_version(args.kubernetes_version);
    if let Some(s) = scenario {
        options = options.scenario(s);
    }
    let started = std::time::Instant::now();
    let fleet = Fleet::start(options).await?;
    let path = args
        .kubeconfig_out
        .unwrap_or_else(|| std::env::temp_dir().join("muster-sim.kubeconfig"));
    fleet
        .write_kubeconfig(&path)
        .map_err(|e| format!("writing kubeconfig {}: {e}", path.display()))?;
    // The admin endpoint's tokens (faults, counters) go next to the kubeconfig.
    let admin_path = path.with_extension("sim-admin.json");
    let admin: Vec<serde_json::Value> = fleet
        .clusters()
        .iter()
        .map(
            |c| serde_json::json!({"cluster": c.name(), "server": c.url(), "adminToken": c.sim_admin_token().expose()}),
        )
        .collect();
    write_private(&admin_path, &serde_json::to_vec_pretty(&admin)?)
        .map_err(|e| format!("writing {}: {e}", admin_path.display()))?;
    let clusters = fleet.clusters();
    let first = clusters.first().map(|c| c.url()).unwrap_or_default();
    let last = clusters.last().map(|c| c.name()).unwrap_or_default();
    println!(
        "muster sim: {} clusters ({}..{last}) from {first} in {:.1}s; kubeconfig {}; admin tokens {}; Ctrl-C to stop",
        clusters.len(),
        clusters.first().map(|c| c.name()).unwrap_or_default(),
        started.elapsed().as_secs_f64(),
        path.display(),
        admin_path.display(),
    );
    shutdown_signal().await;
    info!("shutting down");
    // NB: a second Ctrl-C during shutdown exits at once.
    tokio::spawn(async {
        shutdown_signal().await;
        std::process::exit(130);
    });
    fleet.shutdown().await;
    Ok(exit::OK)
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
