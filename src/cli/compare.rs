//! `muster compare` (how the selected clusters differ: an object, a kind, logs or exec
//! output) and `muster report diff` (what changed between two saved reports). Exit codes as
//! `kubectl diff`: 0 all agree / nothing changed, 1 they differ / something changed, 2 error.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};

use super::actions::{Execution, RunArgs, execute};
use super::{CliError, exit};
use muster_core::command::Action;
use muster_core::report::compare::{self, Options};
use muster_core::report::normalize::{Normalize, SecretKey};
use muster_core::report::render::{self, Format};
use muster_core::report::{Report, SCHEMA_VERSION, changes};
use muster_core::result::ExecResult;
use muster_fleet::registry::FleetConfig;

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// RESOURCE/NAME (one object) or RESOURCE (every object of the kind).
    pub target: String,
    /// Label selector over the objects (kind comparisons).
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Compare the logs of the target's pods instead of the object.
    #[arg(long)]
    pub logs: bool,
    /// With --logs: lines from the end of each log.
    #[arg(long, default_value_t = 20)]
    pub tail: u64,
    /// With --logs or a command: the container.
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    /// The cluster whose variant is the baseline (default: the largest variant).
    #[arg(long)]
    pub baseline: Option<String>,
    /// Compare `status` too (stripped by default).
    #[arg(long)]
    pub include_status: bool,
    /// More fields to ignore: JSON pointers, `*` matching one segment (repeatable); added to
    /// the fleet file's `ignore`.
    #[arg(long = "ignore", value_name = "POINTER")]
    pub ignore: Vec<String>,
    /// Compare what each API server allocates or defaults per cluster too (cluster IPs,
    /// node ports, the kube-root-ca.crt content, ...; the list is in the README).
    #[arg(long)]
    pub include_server_fields: bool,
    /// Compare only the fields a non-controller field manager owns (from managedFields):
    /// what people set, never what the servers or controllers filled in.
    #[arg(long)]
    pub owned_only: bool,
    /// Keep the per-run timings section in JSON/YAML (two runs then differ in it).
    #[arg(long)]
    pub timings: bool,
    /// Report format.
    #[arg(short = 'o', long, value_enum, default_value_t = ReportFormat::Terminal)]
    pub output: ReportFormat,
    /// Write the report to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Compare each group of clusters (by this cluster label's value) within itself, then
    /// the groups' baselines against each other; exit 1 only for differences within a group.
    #[arg(long, value_name = "LABEL")]
    pub group_by: Option<String>,
    #[command(flatten)]
    pub run: RunArgs,
    /// Compare the output of this command (after `--`, run with exec) instead.
    #[arg(last = true)]
    pub argv: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub command: ReportCommand,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// What changed between two saved reports (`compare -o json --out FILE`).
    Diff(ReportDiffArgs),
    /// A report the hub stored for a FleetCommand (`NAMESPACE/NAME`), in any format.
    Get(super::hub::ReportGetArgs),
}

#[derive(Debug, Args)]
pub struct ReportDiffArgs {
    pub old: PathBuf,
    pub new: PathBuf,
    #[arg(short = 'o', long, value_enum, default_value_t = ReportFormat::Terminal)]
    pub output: ReportFormat,
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Output formats of `compare` and `report diff` (the report's own [`Format`], as flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Variants and coloured diffs for people (colour only on a terminal, never with NO_COLOR).
    Terminal,
    Json,
    Yaml,
    Markdown,
    Html,
}

impl From<ReportFormat> for Format {
    fn from(f: ReportFormat) -> Self {
        match f {
            ReportFormat::Terminal => Self::Terminal,
            ReportFormat::Json => Self::Json,
            ReportFormat::Yaml => Self::Yaml,
            ReportFormat::Markdown => Self::Markdown,
            ReportFormat::Html => Self::Html,
        }
    }
}

/// The key that fingerprints Secret values in reports (`$XDG_STATE_HOME/muster/fingerprint.key`,
/// made on first use; `MUSTER_FINGERPRINT_KEY` names another file). Without one, Secret
/// values are replaced by `<redacted>` and differences in them do not show.
#[must_use]
pub fn secret_key() -> Option<SecretKey> {
    let path = std::env::var_os("MUSTER_FINGERPRINT_KEY").map_or_else(
        || muster_fleet::files::state_dir().join("fingerprint.key"),
        PathBuf::from,
    );
    match muster_fleet::files::fingerprint_key(&path) {
        Ok(bytes) => SecretKey::new(&bytes),
        Err(e) => {
            tracing::warn!("Secret values will show as <redacted>: {e}");
            None
        }
    }
}

/// Report options with the fingerprint key and nothing else set.
#[must_use]
pub fn default_options() -> Options {
    Options {
        normalize: Normalize {
            secret_key: secret_key(),
            ..Normalize::default()
        },
        ..Options::default()
    }
}

/// Colour only on a terminal, and never with `NO_COLOR` set (<https://no-color.org>).
#[must_use]
pub fn use_color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Write `text` to `out`, or print it.
fn emit(text: &str, out: Option<&Path>) -> Result<(), CliError> {
    match out {
        Some(p) => muster_fleet::files::write_private(p, text).map_err(Into::into),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

/// The format a file name asks for: `.json`, `.yaml`/`.yml`, `.md`, `.html`.
fn format_of(path: &Path) -> Result<Format, CliError> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => Ok(Format::Json),
        Some("yaml" | "yml") => Ok(Format::Yaml),
        Some("md") => Ok(Format::Markdown),
        Some("html" | "htm") => Ok(Format::Html),
        _ => Err(format!("{}: use a .json, .yaml, .md or .html file name", path.display()).into()),
    }
}

/// Build the report of `results` and write it to `path` (format by extension).
///
/// # Errors
/// An unknown extension, a write failure.
pub fn write_report(path: &Path, results: &[ExecResult], options: &Options) -> Result<Report, CliError> {
    let format = format_of(path)?;
    let report = compare::build(results, options)?;
    emit(&render::report(&report, format, false)?, Some(path))?;
    Ok(report)
}

pub async fn run(a: CompareArgs) -> Result<u8, CliError> {
    let action = match (a.logs, a.argv.is_empty()) {
        (true, true) => Action::Logs,
        (false, false) => Action::Exec,
        (false, true) => Action::Get,
        (true, false) => return Err("give --logs or a command after --, not both".into()),
    };
    let mut c = super::new_command(action);
    c.target = Some(a.target.parse()?);
    c.label_selector.clone_from(&a.selector);
    c.container.clone_from(&a.container);
    if action == Action::Logs {
        c.tail_lines = Some(a.tail);
    }
    c.argv.clone_from(&a.argv);
    let fleet = a
        .run
        .source
        .fleet
        .as_deref()
        .map(FleetConfig::load)
        .transpose()?
        .unwrap_or_default();
    let normalize = Normalize {
        include_status: a.include_status,
        ignore: fleet.ignore.iter().chain(&a.ignore).cloned().collect(),
        include_server_fields: a.include_server_fields,
        server_fields: fleet.server_fields.clone(),
        owned_only: a.owned_only,
        controllers: fleet.controllers.clone(),
        secret_key: secret_key(),
    };
    normalize.validate()?;
    let options = Options {
        normalize,
        baseline: a.baseline.clone(),
        timings: a.timings,
    };
    let namespace = a.run.namespace.clone();
    let results = match execute(c, &a.run, false).await? {
        Execution::Ran(results) => results,
        Execution::Planned => return Ok(exit::OK),
        Execution::Rejected(_) | Execution::NotConfirmed => return Ok(exit::ERROR),
    };
    if let Some(label) = &a.group_by {
        return grouped(&a, label, &results, &options).await;
    }
    let mut report = compare::build(&results, &options)?;
    report.namespace = namespace;
    emit(
        &render::report(&report, a.output.into(), use_color() && a.out.is_none())?,
        a.out.as_deref(),
    )?;
    Ok(if report.agrees() { exit::OK } else { exit::FAILED })
}

/// `compare --group-by LABEL`: within each group, then across the groups' baselines.
async fn grouped(a: &CompareArgs, label: &str, results: &[ExecResult], options: &Options) -> Result<u8, CliError> {
    let loaded = a.run.source.load().await?;
    let labels = loaded
        .members
        .iter()
        .map(|m| (m.name.clone(), m.labels.clone()))
        .collect();
    let g = muster_core::report::grouped::build(results, label, &labels, options)?;
    let format: Format = a.output.into();
    let color = use_color() && a.out.is_none();
    let text = match format {
        Format::Json => serde_json::to_string_pretty(&g)? + "\n",
        Format::Yaml => muster_core::yaml::to_string(&g)?,
        Format::Html => render::html::grouped(&g),
        Format::Terminal | Format::Markdown => {
            let heading = |t: &str| {
                if format == Format::Markdown {
                    format!("# {t}\n\n")
                } else {
                    format!("=== {t}\n")
                }
            };
            let mut out = String::new();
            for (group, r) in &g.groups {
                out.push_str(&heading(&format!("{group}: {} cluster(s)", r.summary.clusters)));
                out.push_str(&render::report(r, format, color)?);
                out.push('\n');
            }
            out.push_str(&heading("The groups' baselines against each other"));
            out.push_str(&render::report(&g.baselines, format, color)?);
            out
        }
    };
    emit(&text, a.out.as_deref())?;
    Ok(if g.agrees() { exit::OK } else { exit::FAILED })
}

/// Read a saved report (JSON or YAML), naming the file in errors.
///
/// # Errors
/// Unreadable, unparsable or of another schema version.
pub fn read_report(path: &Path) -> Result<Report, CliError> {
    let text = muster_fleet::files::read_text(path, muster_core::yaml::DEFAULT_MAX_BYTES)?;
    let report: Report =
        muster_core::yaml::parse(&text).map_err(|e| format!("{}: not a muster report: {e}", path.display()))?;
    if report.schema_version != SCHEMA_VERSION {
        return Err(format!(
            "{}: schemaVersion {} (this muster reads {SCHEMA_VERSION})",
            path.display(),
            report.schema_version
        )
        .into());
    }
    Ok(report)
}

pub async fn report(a: ReportArgs) -> Result<u8, CliError> {
    let d = match a.command {
        ReportCommand::Diff(d) => d,
        ReportCommand::Get(g) => return super::hub::report_get(g).await,
    };
    let (old, new) = (read_report(&d.old)?, read_report(&d.new)?);
    if old.target != new.target || old.action != new.action {
        return Err(format!(
            "{} is a report of {} {} and {} of {} {}: compare reports of the same command",
            d.old.display(),
            old.action,
            old.target,
            d.new.display(),
            new.action,
            new.target
        )
        .into());
    }
    let ch = changes::between(&old, &new);
    emit(
        &render::changes(&ch, d.output.into(), use_color() && d.out.is_none())?,
        d.out.as_deref(),
    )?;
    Ok(if ch.is_empty() { exit::OK } else { exit::FAILED })
}
