//! Command-line interface: argument definitions, logging setup, and the subcommands.

mod actions;
mod clusters;
mod compare;
#[cfg(feature = "sim")]
mod demo;
mod diagnose;
mod hub;
mod input;
mod logging;
mod render;
mod rollout;
mod serve;
#[cfg(feature = "sim")]
mod sim;
mod source;
mod topology;
mod tree;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// muster: run batch actions across many Kubernetes clusters, safely, and see how they differ.
#[derive(Debug, Parser)]
#[command(name = "muster", version, about, long_about = None)]
pub struct Cli {
    /// Log format on stderr (level from RUST_LOG, default `info`).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "MUSTER_LOG_FORMAT")]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the clusters muster knows (kubeconfig contexts), optionally probing them.
    Clusters(clusters::ClustersArgs),
    /// Get objects from every selected cluster (`deploy/web`, `pods -l app=web`).
    Get(actions::GetArgs),
    /// Server-side apply manifests (`-f FILE|DIR|-`) to every selected cluster.
    Apply(actions::ApplyArgs),
    /// Scale a Deployment, StatefulSet or ReplicaSet on every selected cluster.
    Scale(actions::ScaleArgs),
    /// Rolling-restart a Deployment, StatefulSet or DaemonSet on every selected cluster.
    Restart(actions::RestartArgs),
    /// Delete objects on every selected cluster.
    Delete(actions::DeleteArgs),
    /// Print (or follow) the logs of a pod or a workload's pods on every selected cluster.
    Logs(actions::LogsArgs),
    /// Run a command (after `--`, never through a shell) in a pod on every selected cluster.
    Exec(actions::ExecArgs),
    /// Run muster's main job on 24 simulated clusters: fleet, compare, scale, restart, report diff.
    #[cfg(feature = "sim")]
    Demo(demo::DemoArgs),
    /// How the selected clusters differ: an object, a kind, logs or a command's output.
    Compare(Box<compare::CompareArgs>),
    /// Why pods are not Ready on the selected clusters: root causes grouped across clusters
    /// (`deploy/web`, `pod/x`, `pods -l app=web`); exit 1 when a cause is found.
    Diagnose(Box<diagnose::DiagnoseArgs>),
    /// A Service across the fleet: endpoints, nodes and zones per cluster; the clusters with
    /// no ready endpoint or fewer nodes or zones than usual stand out (exit 1).
    Topology(Box<topology::TopologyArgs>),
    /// An object's ownership tree on every cluster (Deployment -> ReplicaSets -> Pods), with
    /// finalizers and deletions, grouped by shape (exit 1 when they differ).
    Tree(Box<tree::TreeArgs>),
    /// Saved reports: `report diff OLD.json NEW.json`, `report get NS/NAME` (from the hub).
    Report(compare::ReportArgs),
    /// Run the hub: FleetCommands, FleetClusters, FleetPolicies and FleetRollouts in a hub
    /// cluster, leader election, health and metrics.
    Serve(Box<serve::ServeArgs>),
    /// Rollouts in waves run by the hub: apply, status, pause, resume, approve, abort, undo,
    /// history.
    Rollout(rollout::RolloutArgs),
    /// Start simulated Kubernetes clusters on 127.0.0.1 and write a kubeconfig for them.
    #[cfg(feature = "sim")]
    Sim(sim::SimArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completion { shell: clap_complete::Shell },
}

/// Exit codes, as `kubectl diff`: 0 success, 1 differences or some clusters failed,
/// 2 usage, policy or internal error.
pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILED: u8 = 1;
    pub const ERROR: u8 = 2;
}

/// Parse arguments, run the command, and map the outcome to an exit code.
#[must_use]
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    raise_open_files_limit();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("muster: cannot start the async runtime: {error}");
            return ExitCode::from(exit::ERROR);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Clusters(args) => clusters::run(args).await,
            Command::Get(args) => actions::get(args).await,
            Command::Apply(args) => actions::apply(args).await,
            Command::Scale(args) => actions::scale(args).await,
            Command::Restart(args) => actions::restart(args).await,
            Command::Delete(args) => actions::delete(args).await,
            Command::Logs(args) => actions::logs(args).await,
            Command::Exec(args) => actions::exec(args).await,
            #[cfg(feature = "sim")]
            Command::Demo(args) => demo::run(args).await,
            Command::Compare(args) => compare::run(*args).await,
            Command::Report(args) => compare::report(args).await,
            Command::Diagnose(args) => diagnose::run(*args).await,
            Command::Topology(args) => topology::run(*args).await,
            Command::Tree(args) => tree::run(*args).await,
            Command::Serve(args) => serve::run(*args).await,
            Command::Rollout(args) => rollout::run(args).await,
            #[cfg(feature = "sim")]
            Command::Sim(args) => sim::run(args).await,
            Command::Completion { shell } => {
                let mut cmd = <Cli as clap::CommandFactory>::command();
                clap_complete::generate(shell, &mut cmd, "muster", &mut std::io::stdout());
                Ok(exit::OK)
            }
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("muster: {error}");
            let mut source = std::error::Error::source(&*error);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::from(exit::ERROR)
        }
    }
}

/// Raise the soft limit on open files to the hard limit, as servers do: a fan-out holds one
/// connection per cluster in flight (and `muster sim` one listener per cluster).
fn raise_open_files_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::debug!(%e, "could not raise the open-files limit");
        }
    }
}

/// A new command: a fresh id, issued now (to the second; restart stamps it).
#[must_use]
pub fn new_command(action: muster_core::command::Action) -> muster_core::command::Command {
    let now = jiff::Timestamp::now();
    let issued_at = now.round(jiff::Unit::Second).unwrap_or(now).to_string();
    muster_core::command::Command::new(uuid::Uuid::new_v4().to_string(), issued_at, action)
}

/// The error type subcommands return to [`main`].
pub type CliError = Box<dyn std::error::Error + Send + Sync>;
