//! The seven fleet commands (`get`, `apply`, `scale`, `restart`, `delete`, `logs`, `exec`):
//! kubectl-shaped arguments become a [`Command`]; then policy, selection, plan (`--dry-run`),
//! confirmation, audit, the fan-out with a progress bar and Ctrl-C, and the rendered results.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use futures::StreamExt as _;
use tokio_util::sync::CancellationToken;

use super::render;
use super::source::SourceArgs;
use super::{CliError, exit};
use muster_core::command::{Action, Cascade, Command};
use muster_core::policy::Policy;
use muster_core::result::{ExecResult, Status};
use muster_fleet::audit::{self, AuditLog, Phase};
use muster_fleet::fanout::Fanout;
use muster_fleet::settings::Settings;

/// Output formats of fleet commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table with a CLUSTER column.
    Table,
    /// The table with more columns.
    Wide,
    /// Every cluster's ExecResult, sorted by cluster.
    Json,
    Yaml,
    /// One ExecResult per line, as each cluster finishes.
    Jsonl,
}

/// `--dry-run`: `client` (the default when given bare) lists the plan and touches nothing;
/// `server` sends the writes as server-side dry runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DryRun {
    None,
    Client,
    Server,
}

/// Arguments every fleet command takes, with its output format.
#[derive(Debug, Args)]
pub struct FanoutArgs {
    #[command(flatten)]
    pub run: RunArgs,

    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
    pub output: Format,

    /// Also write the cross-cluster report of the results to FILE (.json, .yaml, .md or .html).
    #[arg(long, value_name = "FILE")]
    pub report_out: Option<PathBuf>,
}

/// How a fleet command runs: sources, selection, policy, limits, audit.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    /// Namespace of the request (default: each context's namespace, else `default`).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,

    /// Policy file (action whitelist, namespace boundaries, exec allowlist, caps). Default:
    /// the built-in policy (every action but exec; writes to kube-system and friends denied).
    #[arg(long, env = "MUSTER_POLICY")]
    pub policy: Option<PathBuf>,

    /// Probe the selected clusters first; Unhealthy ones are not contacted.
    #[arg(long)]
    pub probe: bool,

    /// Do not ask before writing to more than one cluster.
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// `client`: list the clusters and what would run, touching nothing. `server`: send
    /// writes as server-side dry runs.
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "client", default_value_t = DryRun::None)]
    pub dry_run: DryRun,

    /// Audit log (JSON lines). Default: the fleet file's, else
    /// $XDG_STATE_HOME/muster/audit.log.
    #[arg(long, env = "MUSTER_AUDIT_LOG")]
    pub audit_log: Option<PathBuf>,

    /// Clusters worked on at once.
    #[arg(long, default_value_t = muster_fleet::settings::DEFAULT_CONCURRENCY, value_parser = at_least_one)]
    pub concurrency: usize,

    /// Timeout of each request (`30s`, `500ms`, `2m`; capped by the policy).
    #[arg(long, value_parser = positive_duration, default_value = "30s")]
    pub request_timeout: Duration,

    /// Deadline of the whole command, retries included.
    #[arg(long, value_parser = positive_duration, default_value = "120s")]
    pub deadline: Duration,

    /// Requests per call, the first included (transient failures only; never a duplicate
    /// write).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_attempts: u32,

    /// Run through the hub (`muster serve`) of this kubeconfig context (bare: the current
    /// context): submitted as a FleetCommand, followed, rendered as a local run.
    #[arg(long, value_name = "CONTEXT", num_args = 0..=1, default_missing_value = "")]
    pub hub: Option<String>,

    /// The namespace of the FleetCommand `--hub` creates (default: the context's); its
    /// FleetPolicy applies.
    #[arg(long, requires = "hub")]
    pub hub_namespace: Option<String>,

    /// Write even when a source (a kubeconfig file, the hub's Secrets) failed to load: by
    /// default a write stops, since the clusters it would have reached are unknown.
    #[arg(long)]
    pub ignore_failed_sources: bool,
}

/// A count of at least one.
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// A duration of more than zero (`30s`, `500ms`, `2m`).
pub(crate) fn positive_duration(s: &str) -> Result<Duration, String> {
    let d = muster_core::duration::parse(s).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err("must be more than 0".into());
    }
    Ok(d)
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// RESOURCE/NAME or RESOURCE (`deploy/web`, `pods`, `widgets.example.com`).
    pub target: String,
    /// Label selector over the objects.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Every namespace (the policy's boundary must allow `*`).
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    #[command(flatten)]
    pub common: FanoutArgs,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Manifest file, directory (its .yaml/.yml/.json files) or `-` for stdin (repeatable).
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
    /// Take ownership of fields other managers own.
    #[arg(long)]
    pub force_conflicts: bool,
    /// The largest manifest file read (bytes); nesting is bounded too.
    #[arg(long, env = "MUSTER_MAX_INPUT_BYTES", default_value_t = muster_core::yaml::DEFAULT_MAX_BYTES)]
    pub max_input_bytes: usize,
    #[command(flatten)]
    pub common: FanoutArgs,
}

#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// deploy/NAME, sts/NAME or rs/NAME.
    pub target: String,
    #[arg(long)]
    pub replicas: i32,
    #[command(flatten)]
    pub common: FanoutArgs,
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// deploy/NAME, sts/NAME or ds/NAME.
    pub target: String,
    #[command(flatten)]
    pub common: FanoutArgs,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// RESOURCE/NAME, or RESOURCE with -l.
    pub target: String,
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    #[arg(long, value_enum, default_value_t = CascadeArg::Background)]
    pub cascade: CascadeArg,
    #[command(flatten)]
    pub common: FanoutArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CascadeArg {
    Background,
    Foreground,
    Orphan,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// pod/NAME, or a workload (deploy/NAME, sts/NAME, ds/NAME, rs/NAME, job/NAME): its pods.
    pub target: String,
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    /// Lines from the end of each log (capped by the policy; default 100).
    #[arg(long, default_value_t = 100)]
    pub tail: u64,
    #[arg(long)]
    pub limit_bytes: Option<u64>,
    /// Only lines newer than this (`5m`, `1h`).
    #[arg(long, value_parser = muster_core::duration::parse)]
    pub since: Option<Duration>,
    /// The previous container's log.
    #[arg(short = 'p', long)]
    pub previous: bool,
    /// Stream new lines, prefixed with cluster and pod, until Ctrl-C.
    #[arg(short = 'f', long)]
    pub follow: bool,
    #[command(flatten)]
    pub common: FanoutArgs,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// pod/NAME, or a workload: its first ready pod.
    pub target: String,
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    #[command(flatten)]
    pub common: FanoutArgs,
    /// The command and its arguments, after `--` (never run through a shell).
    #[arg(last = true, required = true)]
    pub argv: Vec<String>,
}

fn with_target(action: Action, target: &str) -> Result<Command, CliError> {
    let mut c = super::new_command(action);
    c.target = Some(target.parse()?);
    Ok(c)
}

pub async fn get(a: GetArgs) -> Result<u8, CliError> {
    let mut c = with_target(Action::Get, &a.target)?;
    // NB: for people, each server prints its own Table (kubectl's columns for every kind).
    c.table = matches!(a.common.output, Format::Table | Format::Wide);
    c.label_selector = a.selector;
    c.all_namespaces = a.all_namespaces;
    run(c, a.common).await
}

pub async fn apply(a: ApplyArgs) -> Result<u8, CliError> {
    let mut c = super::new_command(Action::Apply);
    let limits = muster_core::yaml::Limits::default().max_bytes(a.max_input_bytes);
    for f in &a.files {
        c.manifests.extend(super::input::manifests(f, limits)?);
    }
    if c.manifests.is_empty() {
        return Err("apply: the files hold no objects".into());
    }
    c.force_conflicts = a.force_conflicts;
    run(c, a.common).await
}

pub async fn scale(a: ScaleArgs) -> Result<u8, CliError> {
    if a.replicas < 0 {
        return Err(format!("--replicas {}: must be 0 or more", a.replicas).into());
    }
    let mut c = with_target(Action::Scale, &a.target)?;
    c.replicas = Some(a.replicas);
    run(c, a.common).await
}

pub async fn restart(a: RestartArgs) -> Result<u8, CliError> {
    run(with_target(Action::Restart, &a.target)?, a.common).await
}

pub async fn delete(a: DeleteArgs) -> Result<u8, CliError> {
    let mut c = with_target(Action::Delete, &a.target)?;
    c.label_selector = a.selector;
    c.cascade = match a.cascade {
        CascadeArg::Background => Cascade::Background,
        CascadeArg::Foreground => Cascade::Foreground,
        CascadeArg::Orphan => Cascade::Orphan,
    };
    run(c, a.common).await
}

pub async fn logs(a: LogsArgs) -> Result<u8, CliError> {
    let mut c = with_target(Action::Logs, &a.target)?;
    c.container = a.container;
    c.tail_lines = Some(a.tail);
    c.limit_bytes = a.limit_bytes;
    c.since_seconds = a.since.map(|d| d.as_secs());
    c.previous = a.previous;
    c.follow = a.follow;
    run(c, a.common).await
}

pub async fn exec(a: ExecArgs) -> Result<u8, CliError> {
    let mut c = with_target(Action::Exec, &a.target)?;
    c.container = a.container;
    c.argv = a.argv;
    c.timeout_seconds = Some(a.common.run.request_timeout.as_secs().max(1));
    run(c, a.common).await
}

/// How a fleet command ended before rendering.
pub enum Execution {
    /// The policy refused it: every cluster `Rejected`, nothing sent.
    Rejected(Vec<ExecResult>),
    /// `--dry-run`: the plan was printed, nothing sent.
    Planned,
    /// The user did not confirm the write.
    NotConfirmed,
    /// It ran: one result per cluster, sorted by cluster.
    Ran(Vec<ExecResult>),
}

/// Run and render a fleet command: its exit code.
async fn run(command: Command, args: FanoutArgs) -> Result<u8, CliError> {
    let jsonl = args.output == Format::Jsonl;
    match execute(command, &args.run, jsonl).await? {
        Execution::Rejected(rejected) => {
            if matches!(args.output, Format::Json | Format::Yaml | Format::Jsonl) {
                print!("{}", render::results(&rejected, args.output)?);
            }
            Ok(exit::ERROR)
        }
        Execution::Planned => Ok(exit::OK),
        Execution::NotConfirmed => Ok(exit::ERROR),
        Execution::Ran(results) => {
            if !jsonl {
                print!("{}", render::results(&results, args.output)?);
            }
            render::report_failures(&results);
            if let Some(path) = &args.report_out {
                super::compare::write_report(path, &results, &super::compare::default_options())?;
            }
            // NB: a write the policy refused on what a cluster resolved is a policy error.
            Ok(if results.iter().all(|r| r.status == Status::Succeeded) {
                exit::OK
            } else if results.iter().any(|r| r.status == Status::Rejected) {
                exit::ERROR
            } else {
                exit::FAILED
            })
        }
    }
}

/// Policy, selection, plan, confirmation, audit and the fan-out (with progress, Ctrl-C and
/// followed log lines); `jsonl` prints each result as it arrives.
///
/// # Errors
/// Unreadable policy, sources or audit log; a selection that matches nothing.
pub async fn execute(command: Command, args: &RunArgs, jsonl: bool) -> Result<Execution, CliError> {
    execute_on(command, args, jsonl, None).await
}

/// [`execute`] over sources already loaded (several reads of one command share the
/// registry, its clients and connections); `None` loads them.
///
/// # Errors
/// As [`execute`].
pub async fn execute_on(
    mut command: Command,
    args: &RunArgs,
    jsonl: bool,
    loaded: Option<super::source::Loaded>,
) -> Result<Execution, CliError> {
    command.namespace = args
        .namespace
        .as_deref()
        .map(muster_core::name::Namespace::parse)
        .transpose()
        .map_err(|e| format!("-n: {e}"))?;
    command.server_dry_run = args.dry_run == DryRun::Server;
    if command.server_dry_run && !command.action.is_write() {
        return Err(format!("--dry-run=server applies to writes, not {}", command.action).into());
    }
    // NB: path-like exec arguments in normal form, so what the policy checks is what runs.
    command.argv = muster_core::exec_args::normalize_all(&command.argv);
    // Everything that can be known from the request alone, before any file or cluster.
    command.validate()?;
    if let Some(hub) = &args.hub {
        return super::hub::execute(command, args, hub).await;
    }
    let policy = match &args.policy {
        Some(p) => super::input::policy(p)?,
        None => Policy::default(),
    };
    let loaded = match loaded {
        Some(l) => l,
        None => args.source.load().await?,
    };
    if command.action.is_write() && !loaded.failed.is_empty() && !args.ignore_failed_sources {
        return Err(format!(
            "{} source(s) failed to load, so the clusters this {} would reach are unknown; nothing was changed (--ignore-failed-sources writes to the clusters that loaded)",
            loaded.failed.len(),
            command.action
        )
        .into());
    }
    let settings = Settings::default()
        .concurrency(args.concurrency)
        .call_timeout(args.request_timeout)
        .deadline(if command.follow {
            Duration::from_secs(u64::from(u32::MAX))
        } else {
            args.deadline
        })
        .max_attempts(args.max_attempts)
        .probe(args.probe);
    let fanout = Fanout::new(loaded.registry.clone(), policy, settings);
    let members = loaded.members;
    let names: Vec<String> = members.iter().map(|m| m.name.clone()).collect();
    let audit_path = args
        .audit_log
        .clone()
        .or(loaded.fleet.audit_log.clone())
        .unwrap_or_else(audit::default_path);
    let open_audit = || AuditLog::open(&audit_path, audit::current_user());

    if let Err(rejection) = fanout.check(&command, &members) {
        let log = open_audit()?;
        log.append(&log.record(Phase::Rejected, &command, &names, &rejection.results))?;
        for v in &rejection.violations {
            eprintln!("muster: rejected by policy ({}): {v}", v.rule);
        }
        return Ok(Execution::Rejected(rejection.results));
    }
    if args.dry_run == DryRun::Client {
        print!("{}", render::plan(&command, &members));
        return Ok(Execution::Planned);
    }
    if command.action.is_write() && members.len() > 1 && !args.yes && !confirm(&command, &names)? {
        eprintln!("muster: not confirmed; nothing was changed");
        return Ok(Execution::NotConfirmed);
    }
    let log = if audit::audited(&command) {
        let log = open_audit()?;
        log.append(&log.record(Phase::Started, &command, &names, &[]))?;
        Some(log)
    } else {
        None
    };

    let cancel = CancellationToken::new();
    let interrupt = tokio::spawn(watch_interrupts(cancel.clone()));
    // NB: a small buffer: a slow terminal slows the followed streams rather than growing memory.
    let (lines_tx, mut lines_rx) = tokio::sync::mpsc::channel(256);
    let printer = tokio::spawn(async move {
        while let Some(l) = lines_rx.recv().await {
            let l: muster_fleet::call::LogLine = l;
            let _ = writeln!(std::io::stdout().lock(), "[{} pod/{}] {}", l.cluster, l.pod, l.line);
        }
    });
    let command = Arc::new(command);
    let progress = render::Progress::new(members.len(), !jsonl && !command.follow);
    let mut stream = std::pin::pin!(fanout.run(
        command.clone(),
        members,
        cancel.clone(),
        command.follow.then_some(lines_tx)
    ));
    let mut results: Vec<ExecResult> = Vec::with_capacity(names.len());
    while let Some(r) = stream.next().await {
        progress.tick(&r);
        if jsonl {
            println!("{}", serde_json::to_string(&r)?);
        }
        results.push(r);
    }
    progress.finish();
    interrupt.abort();
    let _ = printer.await;
    results.sort_by(|a, b| a.cluster.cmp(&b.cluster));
    if let Some(log) = &log {
        log.append(&log.record(Phase::Finished, &command, &names, &results))?;
    }
    Ok(Execution::Ran(results))
}

/// Cancel on the first Ctrl-C (what finished is still shown); exit at once on the second.
async fn watch_interrupts(cancel: CancellationToken) {
    if tokio::signal::ctrl_c().await.is_ok() {
        eprintln!("\nmuster: interrupted; cancelling (Ctrl-C again to quit at once)");
        cancel.cancel();
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(130);
        }
    }
}

/// Ask on the terminal before a write to several clusters; refuse without a terminal.
fn confirm(command: &Command, names: &[String]) -> Result<bool, CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(format!(
            "{} would write to {} clusters; pass --yes to confirm (stdin is not a terminal)",
            command.action,
            names.len()
        )
        .into());
    }
    let shown: Vec<&str> = names.iter().take(8).map(String::as_str).collect();
    let more = if names.len() > 8 {
        format!(", and {} more", names.len() - 8)
    } else {
        String::new()
    };
    eprint!(
        "{} {} on {} clusters ({}{more})? [y/N] ",
        command.action,
        command.target_text(),
        names.len(),
        shown.join(", ")
    );
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
