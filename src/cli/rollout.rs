//! `muster rollout ...` (also `kubectl muster rollout ...`): rollouts run by the hub.
//! `apply` creates or updates a FleetRollout from manifests and a strategy file; `status`
//! shows its waves and the clusters not yet in the desired state (live with `-w`: redrawn
//! on a terminal, a line per change otherwise); `pause`, `resume`, `approve`, `abort`,
//! `undo` and `history` act on it through the hub's API.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use muster_hub::crd::command::ClusterSelection;
use muster_hub::crd::rollout::{FleetRolloutSpec, FleetRolloutStatus, RolloutPhase, Strategy};
use muster_hub::rollouts::control::Control;

use super::{CliError, exit};

#[derive(Debug, Args)]
pub struct RolloutArgs {
    #[command(subcommand)]
    pub command: RolloutCommand,
    /// The hub's kubeconfig context (bare or absent: the current one).
    #[arg(long, value_name = "CONTEXT", num_args = 0..=1, default_missing_value = "", global = true)]
    pub hub: Option<String>,
    /// The FleetRollout's namespace in the hub (default: the context's); its FleetPolicy applies.
    #[arg(long, global = true)]
    pub hub_namespace: Option<String>,
    #[arg(long = "kubeconfig", value_name = "FILE", global = true)]
    pub kubeconfig: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Create or update a rollout from manifests (`-f FILE|DIR|-`); a change is a new revision.
    Apply(ApplyArgs),
    /// Waves, counts and the clusters not in the desired state (`-w`: follow until it settles).
    Status {
        name: String,
        #[arg(short = 'w', long)]
        watch: bool,
        /// `html`: one page with a cell per cluster by wave and state.
        #[arg(short = 'o', long, default_value = "text", value_parser = ["text", "html"])]
        output: String,
        /// With `-o html`: write the page to FILE.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Give up watching after this long.
        #[arg(long, value_parser = super::actions::positive_duration, default_value = "1h")]
        timeout: Duration,
    },
    /// Stop starting new work at once.
    Pause { name: String },
    /// Continue exactly where it stopped (also after a wave paused on failures).
    Resume { name: String },
    /// Let the wave that waits for approval start.
    Approve { name: String },
    /// Stop the current revision for good; clusters keep what they have.
    Abort { name: String },
    /// Roll the current revision back on every cluster that received it.
    Undo { name: String },
    /// The revisions, oldest first.
    History { name: String },
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Manifests: a file, a directory or `-`.
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
    /// The rollout's name (default: the first object's name).
    #[arg(long)]
    pub name: Option<String>,
    /// The strategy (YAML: waves, progressDeadlineSeconds, onFailure, unreachable, ...).
    #[arg(long, value_name = "FILE")]
    pub strategy: Option<PathBuf>,
    /// The namespace on the member clusters of objects that name none.
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Clusters by names or `*` patterns, comma-separated.
    #[arg(long)]
    pub clusters: Option<String>,
    /// Clusters by label selector.
    #[arg(long = "cluster-selector")]
    pub cluster_selector: Option<String>,
}

/// Run a `muster rollout` subcommand.
///
/// # Errors
/// Unreadable input or the hub's errors.
pub async fn run(a: RolloutArgs) -> Result<u8, CliError> {
    let (client, context_ns) = super::hub::client(a.hub.as_deref(), &a.kubeconfig).await?;
    let namespace = a.hub_namespace.clone().unwrap_or(context_ns);
    let control = |name: &str| Control::new(&client, &namespace, name);
    match a.command {
        RolloutCommand::Apply(args) => apply(&client, &namespace, args).await,
        RolloutCommand::Status { name, output, out, .. } if output == "html" => {
            let page = control(&name).picture().await?;
            match out {
                Some(p) => muster_fleet::files::write_private(&p, &page)?,
                None => print!("{page}"),
            }
            Ok(exit::OK)
        }
        RolloutCommand::Status {
            name, watch, timeout, ..
        } => status(&control(&name), watch, timeout).await,
        RolloutCommand::Pause { name } => {
            control(&name).set_paused(true).await?;
            println!("fleetrollout {namespace}/{name} paused");
            Ok(exit::OK)
        }
        RolloutCommand::Resume { name } => {
            control(&name).set_paused(false).await?;
            println!("fleetrollout {namespace}/{name} resumed");
            Ok(exit::OK)
        }
        RolloutCommand::Approve { name } => {
            let c = control(&name);
            let token = c.approve().await?;
            let (revision, wave) = token.split_once('/').unwrap_or_default();
            c.acknowledged(Duration::from_secs(30), |s| s.phase != RolloutPhase::WaitingForApproval)
                .await?;
            println!("fleetrollout {namespace}/{name}: wave {wave} of revision {revision} approved");
            Ok(exit::OK)
        }
        RolloutCommand::Abort { name } => {
            let r = control(&name).abort().await?;
            println!("fleetrollout {namespace}/{name}: revision {r} aborted");
            Ok(exit::OK)
        }
        RolloutCommand::Undo { name } => {
            let r = control(&name).undo(Duration::from_secs(30)).await?;
            println!("fleetrollout {namespace}/{name}: revision {r} is being rolled back");
            Ok(exit::OK)
        }
        RolloutCommand::History { name } => {
            let c = control(&name);
            let status = c.get().await?.status.unwrap_or_default();
            println!("{:<9} {:<17} {:<26} NOTE", "REVISION", "HASH", "CREATED");
            for r in c.history().await? {
                let note = match (r.number == status.revision, status.stable_revision == Some(r.number)) {
                    (true, true) => format!("current, stable ({:?})", status.phase),
                    (true, false) => format!("current ({:?})", status.phase),
                    (false, true) => "stable".to_string(),
                    (false, false) => String::new(),
                };
                println!("{:<9} {:<17} {:<26} {note}", r.number, r.hash, r.created);
            }
            Ok(exit::OK)
        }
    }
}

async fn apply(client: &kube::Client, namespace: &str, a: ApplyArgs) -> Result<u8, CliError> {
    let mut resources = Vec::new();
    for f in &a.files {
        resources.extend(super::input::manifests(f, muster_core::yaml::Limits::default())?);
    }
    let strategy: Strategy = match &a.strategy {
        Some(p) => {
            // NB: bounded like every file muster reads (a strategy is a few lines).
            let text = muster_fleet::files::read_text(p, 1024 * 1024)?;
            muster_core::yaml::parse(&text).map_err(|e| format!("{}: {e}", p.display()))?
        }
        None => Strategy::default(),
    };
    let name = match &a.name {
        Some(n) => n.clone(),
        None => resources
            .first()
            .and_then(|m| m.pointer("/metadata/name"))
            .and_then(serde_json::Value::as_str)
            .ok_or("the rollout needs a name (--name)")?
            .to_string(),
    };
    let names = muster_fleet::registry::Selection::parse(a.clusters.as_deref(), None)?.names;
    let spec = FleetRolloutSpec {
        resources,
        resources_from: Vec::new(),
        namespace: a.namespace.clone(),
        clusters: ClusterSelection {
            names,
            selector: a.cluster_selector.clone(),
            allow_unmatched: false,
        },
        strategy,
        paused: false,
    };
    let fr = Control::new(client, namespace, &name).apply(&spec).await?;
    println!(
        "fleetrollout {namespace}/{name} applied (generation {})",
        fr.metadata.generation.unwrap_or_default()
    );
    Ok(exit::OK)
}

/// The status as lines: the header, the waves, the clusters not in the desired state.
#[must_use]
pub(crate) fn render(key: &str, s: &FleetRolloutStatus) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "fleetrollout {key}: revision {} ({}) {:?}, wave {}, {}/{} cluster(s) updated",
        s.revision, s.revision_hash, s.phase, s.wave, s.updated, s.total
    );
    if let Some(c) = s
        .conditions
        .iter()
        .find(|c| c.type_ == "Progressing" && !c.message.is_empty())
    {
        let _ = writeln!(out, "  {}", c.message);
    }
    if !s.waves.is_empty() {
        let _ = writeln!(
            out,
            "  {:<12} {:>8} {:>8} {:>7} {:>7} {:>9}  STATE",
            "WAVE", "CLUSTERS", "UPDATED", "PASSED", "FAILED", "DEFERRED"
        );
        for w in &s.waves {
            let state = match (&w.started, &w.finished) {
                (_, Some(_)) => "done",
                (Some(_), None) if s.phase.is_settled() => "stopped",
                (Some(_), None) => "running",
                (None, None) if s.phase.is_settled() => "-",
                (None, None) => "waiting",
            };
            let _ = writeln!(
                out,
                "  {:<12} {:>8} {:>8} {:>7} {:>7} {:>9}  {state}",
                w.name, w.clusters, w.updated, w.passed, w.failed, w.deferred
            );
        }
    }
    for c in &s.not_ready {
        let _ = writeln!(out, "  {:<24} {:<14} {}", c.cluster, c.state, c.message);
    }
    if s.not_ready_more > 0 {
        let _ = writeln!(out, "  ... and {} more", s.not_ready_more);
    }
    out
}

fn exit_of(phase: RolloutPhase) -> u8 {
    match phase {
        RolloutPhase::Failed | RolloutPhase::RolledBack | RolloutPhase::Aborted | RolloutPhase::Rejected => {
            exit::FAILED
        }
        _ => exit::OK,
    }
}

async fn status(c: &Control, watch: bool, timeout: Duration) -> Result<u8, CliError> {
    let fr = c.get().await?;
    let key = format!(
        "{}/{}",
        fr.metadata.namespace.as_deref().unwrap_or_default(),
        fr.metadata.name.as_deref().unwrap_or_default()
    );
    let mut s = fr.status.unwrap_or_default();
    if !watch {
        print!("{}", render(&key, &s));
        return Ok(exit_of(s.phase));
    }
    let terminal = std::io::stdout().is_terminal();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = String::new();
    loop {
        let text = render(&key, &s);
        if text != last {
            if terminal {
                // NB: clear the screen and redraw: a live view of the waves.
                print!("\x1b[H\x1b[2J{text}");
            } else {
                // Plain lines: only the header line per change, so logs stay readable.
                println!("{}", text.lines().next().unwrap_or_default());
            }
            last = text;
        }
        if s.phase.is_settled() {
            if !terminal {
                print!("{}", last.lines().skip(1).map(|l| format!("{l}\n")).collect::<String>());
            }
            return Ok(exit_of(s.phase));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("fleetrollout {key}: still {:?} after {timeout:?}", s.phase).into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        s = c.get().await?.status.unwrap_or_default();
    }
}
