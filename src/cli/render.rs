//! Rendering fleet results for people: tables with a CLUSTER column (kubectl's columns for
//! common kinds), log and exec output prefixed by cluster, the `--dry-run` plan, the
//! progress bar, and the failure summary on stderr. JSON and YAML are the `ExecResult`s.

use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::sync::Arc;

use serde_json::Value;

use super::CliError;
use super::actions::Format;
use muster_core::command::{Action, Command};
use muster_core::result::{ExecResult, Output, Status, Table, TableColumn};
use muster_fleet::registry::Member;

/// Results in `format` (sorted by cluster by the caller).
///
/// # Errors
/// Serialisation failures.
pub fn results(results: &[ExecResult], format: Format) -> Result<String, CliError> {
    Ok(match format {
        Format::Json => serde_json::to_string_pretty(results)? + "\n",
        Format::Yaml => muster_core::yaml::to_string(&results)?,
        Format::Jsonl => results
            .iter()
            .map(|r| serde_json::to_string(r).map(|s| s + "\n"))
            .collect::<Result<String, _>>()?,
        Format::Table | Format::Wide => human(results, format == Format::Wide),
    })
}

fn human(results: &[ExecResult], wide: bool) -> String {
    let Some(first) = results.first() else {
        return String::new();
    };
    match first.action {
        Action::Get => tables(results, wide),
        Action::Logs => prefixed(results, |o| match o {
            Output::Lines { lines, .. } => lines.clone(),
            _ => Vec::new(),
        }),
        Action::Exec => prefixed(results, |o| match o {
            Output::Streams { stdout, .. } => stdout.lines().map(String::from).collect(),
            _ => Vec::new(),
        }),
        _ => writes_table(results),
    }
}

/// Each cluster's lines, prefixed `[cluster] `.
fn prefixed(results: &[ExecResult], lines: impl Fn(&Output) -> Vec<String>) -> String {
    let mut out = String::new();
    for r in results {
        for l in lines(&r.output) {
            let _ = writeln!(out, "[{}] {l}", r.cluster);
        }
        if let Output::Streams { stderr, .. } = &r.output {
            for l in stderr.lines() {
                eprintln!("[{}] {l}", r.cluster);
            }
        }
        if matches!(
            &r.output,
            Output::Lines { truncated: true, .. } | Output::Streams { truncated: true, .. }
        ) {
            let _ = writeln!(out, "[{}] ... (truncated at the policy's output cap)", r.cluster);
        }
    }
    out
}

fn writes_table(results: &[ExecResult]) -> String {
    let mut rows = vec![
        ["CLUSTER", "STATUS", "ATTEMPTS", "DURATION", "RESULT"]
            .map(String::from)
            .to_vec(),
    ];
    for r in results {
        let text = match (&r.output, &r.error) {
            (_, Some(e)) => e.message.clone(),
            (Output::Summary { text }, None) => text.replace('\n', "; "),
            _ => String::new(),
        };
        rows.push(vec![
            r.cluster.clone(),
            format!("{:?}", r.status),
            r.attempts.to_string(),
            muster_core::duration::human(std::time::Duration::from_millis(r.duration_ms)),
            text,
        ]);
    }
    columns(&rows)
}

/// The servers' Tables, one per kind asked for, each cluster's rows with a CLUSTER column in
/// front (and NAMESPACE when the rows span several); `wide` shows every column, as `-o
/// wide` does. The first cluster that answered sets a kind's columns; the others' cells
/// follow them by name (a CRD may print different columns in another version).
fn tables(results: &[ExecResult], wide: bool) -> String {
    let mut kinds: Vec<String> = Vec::new();
    let mut by_kind: std::collections::HashMap<String, Vec<(&str, &Table)>> = std::collections::HashMap::new();
    for r in results {
        if let Output::Tables { tables, .. } = &r.output {
            for t in tables {
                if !by_kind.contains_key(&t.resource) {
                    kinds.push(t.resource.clone());
                }
                by_kind
                    .entry(t.resource.clone())
                    .or_default()
                    .push((r.cluster.as_str(), t));
            }
        }
    }
    let total_rows: usize = by_kind.values().flatten().map(|(_, t)| t.rows.len()).sum();
    if total_rows == 0 {
        if results.iter().any(|r| r.status == Status::Succeeded) {
            eprintln!("No resources found.");
        }
        return String::new();
    }
    let several = kinds.len() > 1;
    let now = jiff::Timestamp::now();
    let mut out = String::new();
    for kind in kinds {
        let answers = &by_kind[&kind];
        if answers.iter().all(|(_, t)| t.rows.is_empty()) {
            continue;
        }
        let Some((_, first)) = answers.iter().find(|(_, t)| !t.columns.is_empty()) else {
            continue;
        };
        let shown: Vec<&TableColumn> = first.columns.iter().filter(|c| wide || c.priority == 0).collect();
        let namespaces = answers
            .iter()
            .flat_map(|(_, t)| t.rows.iter().filter_map(|r| r.namespace.as_deref()))
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            > 1;
        let mut header = vec!["CLUSTER".to_string()];
        if namespaces {
            header.push("NAMESPACE".into());
        }
        header.extend(shown.iter().map(|c| c.name.to_ascii_uppercase()));
        let mut rows = vec![header];
        for (cluster, t) in answers {
            let index: Vec<Option<usize>> = shown
                .iter()
                .map(|c| t.columns.iter().position(|tc| tc.name == c.name))
                .collect();
            for row in &t.rows {
                let mut line = vec![(*cluster).to_string()];
                if namespaces {
                    line.push(row.namespace.clone().unwrap_or_default());
                }
                for (n, (col, at)) in shown.iter().zip(&index).enumerate() {
                    let cell = at.and_then(|i| row.cells.get(i)).unwrap_or(&Value::Null);
                    let mut text = cell_text(cell, &col.type_, now);
                    // NB: as kubectl does when several kinds are listed: `service/web`.
                    if several && n == 0 && col.name.eq_ignore_ascii_case("name") {
                        text = format!("{kind}/{text}");
                    }
                    line.push(text);
                }
                rows.push(line);
            }
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&columns(&rows));
    }
    out
}

/// A Table cell as kubectl prints it: a `date` as an age, nothing as `<none>`.
fn cell_text(cell: &Value, kind: &str, now: jiff::Timestamp) -> String {
    match cell {
        Value::Null => "<none>".into(),
        Value::String(s) if kind == "date" => age(s, now),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

/// `45s`, `12m`, `3h`, `5d` since an RFC 3339 time.
fn age(created: &str, now: jiff::Timestamp) -> String {
    let Ok(t) = created.parse::<jiff::Timestamp>() else {
        return "<unknown>".into();
    };
    let s = (now.as_second() - t.as_second()).max(0);
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        7200..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

/// Left-aligned columns separated by three spaces.
#[must_use]
pub fn columns(rows: &[Vec<String>]) -> String {
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..width)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
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

/// What `--dry-run` would do: the command and the selected clusters.
#[must_use]
pub fn plan(command: &Command, members: &[Arc<Member>]) -> String {
    let mut out = format!(
        "would {} {} on {} cluster(s) (dry run: nothing was sent):\n",
        command.action,
        command.target_text(),
        members.len()
    );
    for m in &command.manifests {
        let text = |p: &str| m.pointer(p).and_then(Value::as_str).unwrap_or("?").to_string();
        let _ = writeln!(out, "  object {}/{}", text("/kind"), text("/metadata/name"));
    }
    let mut rows = vec![["CLUSTER", "NAMESPACE", "SERVER", "HEALTH"].map(String::from).to_vec()];
    for m in members {
        rows.push(vec![
            m.name.clone(),
            command
                .namespace
                .as_ref()
                .or(m.namespace.as_ref())
                .map_or_else(|| "default".into(), ToString::to_string),
            m.server.clone(),
            if m.invalid.is_some() {
                "Invalid".into()
            } else {
                format!("{:?}", m.health().state)
            },
        ]);
    }
    out + &columns(&rows)
}

/// On stderr: each failed cluster's error, and a count by status.
pub fn report_failures(results: &[ExecResult]) {
    let failed: Vec<&ExecResult> = results.iter().filter(|r| r.status != Status::Succeeded).collect();
    if failed.is_empty() {
        return;
    }
    if results.first().is_some_and(|r| !r.action.is_write()) {
        for r in &failed {
            if let Some(e) = &r.error {
                eprintln!("muster: {:?}: {}", r.status, e.message);
            }
        }
    }
    let mut by_status = std::collections::BTreeMap::<String, usize>::new();
    for r in &failed {
        *by_status.entry(format!("{:?}", r.status)).or_default() += 1;
    }
    let counts: Vec<String> = by_status.iter().map(|(s, n)| format!("{n} {s}")).collect();
    eprintln!(
        "muster: {} of {} clusters did not succeed ({})",
        failed.len(),
        results.len(),
        counts.join(", ")
    );
}

/// The progress bar on a terminal: done/total and failures.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    failed: std::cell::Cell<u64>,
}

impl Progress {
    #[must_use]
    pub fn new(total: usize, enabled: bool) -> Self {
        let bar = (enabled && std::io::stderr().is_terminal() && total >= 2).then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} clusters {msg} [{elapsed}]")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        Self {
            bar,
            failed: std::cell::Cell::new(0),
        }
    }

    pub fn tick(&self, r: &ExecResult) {
        if let Some(bar) = &self.bar {
            if r.status != Status::Succeeded {
                self.failed.set(self.failed.get() + 1);
                bar.set_message(format!("{} failed", self.failed.get()));
            }
            bar.inc(1);
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_columns() {
        let now: jiff::Timestamp = "2026-11-22T10:00:00Z".parse().unwrap();
        assert_eq!(age("2026-11-22T09:59:15Z", now), "45s");
        assert_eq!(age("2026-11-22T09:00:00Z", now), "60m");
        assert_eq!(age("2026-11-20T10:00:00Z", now), "2d");
        assert_eq!(age("", now), "<unknown>");
        let t = columns(&[
            vec!["CLUSTER".into(), "NAME".into()],
            vec!["sim-1".into(), "web".into()],
        ]);
        assert_eq!(t, "CLUSTER   NAME\nsim-1     web\n");
    }
}
