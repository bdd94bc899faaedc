//! The CLI against a hub: `muster <action> --hub[=CONTEXT]` submits the command as a
//! FleetCommand and renders its results as a local run would; `muster report get NS/NAME`
//! fetches a stored report. The hub's client comes from a kubeconfig context.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::CliError;
use super::actions::{DryRun, Execution, RunArgs};
use muster_core::command::Command;
use muster_core::report::render::{self, Format};
use muster_hub::crd::command::ClusterSelection;
use muster_hub::crd::{FleetCommand, FleetCommandSpec, Phase};
use muster_hub::remote;

/// A client of the hub cluster: `context` of the kubeconfig (the first `--kubeconfig`, else
/// `$KUBECONFIG`, else `~/.kube/config`), or its current context when empty or absent, and
/// that context's namespace.
///
/// # Errors
/// No kubeconfig, no such context, a client that cannot be built.
pub async fn client(context: Option<&str>, kubeconfig: &[PathBuf]) -> Result<(kube::Client, String), CliError> {
    let kc = match kubeconfig.first() {
        Some(p) => kube::config::Kubeconfig::read_from(p).map_err(|e| format!("{}: {e}", p.display()))?,
        None => kube::config::Kubeconfig::read().map_err(|e| format!("the hub's kubeconfig: {e}"))?,
    };
    let options = kube::config::KubeConfigOptions {
        context: context.filter(|c| !c.is_empty()).map(String::from),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kc, &options)
        .await
        .map_err(|e| format!("hub context {}: {e}", context.unwrap_or("(current)")))?;
    let namespace = config.default_namespace.clone();
    Ok((kube::Client::try_from(config)?, namespace))
}

/// Run a command through the hub: one FleetCommand, followed to its end.
///
/// # Errors
/// Options the hub cannot take, the hub's errors, a run that does not finish in time.
pub async fn execute(command: Command, args: &RunArgs, hub: &str) -> Result<Execution, CliError> {
    if command.follow {
        return Err("logs --follow cannot go through the hub (it streams); drop --hub or --follow".into());
    }
    if args.dry_run == DryRun::Client {
        return Err("--dry-run=client lists the plan from local sources; with --hub use --dry-run=server".into());
    }
    if command.action.is_write() && !args.yes {
        return Err(format!(
            "{} through the hub writes to every cluster it selects; pass --yes to confirm",
            command.action
        )
        .into());
    }
    let (client, context_ns) = client(Some(hub), &args.source.kubeconfig).await?;
    let namespace = args.hub_namespace.clone().unwrap_or(context_ns);
    // NB: the same parsing as a local run's --clusters.
    let names = muster_fleet::registry::Selection::parse(args.source.clusters.as_deref(), None)?.names;
    let mut spec = FleetCommandSpec::from_command(
        &command,
        ClusterSelection {
            names,
            selector: args.source.cluster_selector.clone(),
            allow_unmatched: args.source.allow_unmatched,
        },
    );
    spec.deadline_seconds = Some(args.deadline.as_secs().max(1));
    spec.timeout_seconds = Some(args.request_timeout.as_secs().max(1));
    spec.ttl_seconds_after_finished = Some(24 * 3600);
    let fc = remote::submit(&client, &namespace, &format!("muster-{}-", command.action), spec).await?;
    let name = fc.metadata.name.clone().unwrap_or_default();
    eprintln!("muster: FleetCommand {namespace}/{name} submitted to the hub");
    let mut shown = 0;
    let fc = remote::wait_finished(
        &client,
        &namespace,
        &name,
        args.deadline + Duration::from_secs(120),
        |fc| {
            if let Some(s) = &fc.status {
                let done: u64 = s.counts.values().sum();
                if done > shown && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                    eprint!("\r{done}/{} clusters", s.clusters);
                    shown = done;
                }
            }
        },
    )
    .await?;
    if shown > 0 {
        eprintln!();
    }
    let status = fc.status.clone().unwrap_or_default();
    let results = remote::results(&client, &fc).await?;
    if status.phase == Phase::Rejected {
        let why = status
            .conditions
            .iter()
            .find(|c| c.type_ == "Accepted" && c.status == "False")
            .map(|c| format!("{} ({})", c.message, c.reason))
            .unwrap_or_default();
        eprintln!("muster: rejected by the hub: {why}");
        return Ok(Execution::Rejected(results));
    }
    Ok(Execution::Ran(results))
}

#[derive(Debug, Args)]
pub struct ReportGetArgs {
    /// The FleetCommand, as NAMESPACE/NAME (or NAME in the context's namespace).
    pub command: String,
    /// The hub's kubeconfig context (default: the current one).
    #[arg(long)]
    pub hub: Option<String>,
    #[arg(long = "kubeconfig", value_name = "FILE")]
    pub kubeconfig: Vec<PathBuf>,
    /// The run (its start time, as in the status), for a scheduled command's older reports.
    #[arg(long)]
    pub run: Option<String>,
    #[arg(short = 'o', long, value_enum, default_value_t = super::compare::ReportFormat::Terminal)]
    pub output: super::compare::ReportFormat,
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `muster report get`: a stored report in any format; exit codes as `compare`.
///
/// # Errors
/// No such command or report.
pub async fn report_get(a: ReportGetArgs) -> Result<u8, CliError> {
    let (client, context_ns) = client(a.hub.as_deref(), &a.kubeconfig).await?;
    let (namespace, name) = match a.command.split_once('/') {
        Some((ns, n)) => (ns.to_string(), n.to_string()),
        None => (context_ns, a.command.clone()),
    };
    let api: kube::Api<FleetCommand> = kube::Api::namespaced(client.clone(), &namespace);
    let fc = api
        .get(&name)
        .await
        .map_err(|e| format!("FleetCommand {namespace}/{name}: {e}"))?;
    let json = remote::report_json(&client, &fc, a.run.as_deref()).await?;
    let report: muster_core::report::Report =
        serde_json::from_str(&json).map_err(|e| format!("FleetCommand {namespace}/{name}: stored report: {e}"))?;
    let format: Format = a.output.into();
    let text = render::report(&report, format, super::compare::use_color() && a.out.is_none())?;
    match &a.out {
        Some(p) => muster_fleet::files::write_private(p, &text)?,
        None => print!("{text}"),
    }
    Ok(if report.agrees() {
        super::exit::OK
    } else {
        super::exit::FAILED
    })
}
