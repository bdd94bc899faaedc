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
use muster_core::result::{ExecResult, Output, Status};
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
        Action::Get => objects_table(results, wide),
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

fn objects_table(results: &[ExecResult], wide: bool) -> String {
    let items: Vec<(&str, Value)> = results
        .iter()
        .filter_map(|r| match &r.output {
            Output::Objects { items, .. } => Some(items.iter().map(move |i| (r.cluster.as_str(), i.value()))),
            _ => None,
        })
        .flatten()
        .collect();
    let Some((_, first)) = items.first() else {
        if results.iter().any(|r| r.status == Status::Succeeded) {
            eprintln!("No resources found.");
        }
        return String::new();
    };
    let kind = first.get("kind").and_then(Value::as_str).unwrap_or_default();
    let namespaces = items
        .iter()
        .filter_map(|(_, i)| i.pointer("/metadata/namespace").and_then(Value::as_str))
        .collect::<std::collections::BTreeSet<_>>()
        .len()
        > 1;
    let mut header = vec!["CLUSTER"];
    if namespaces {
        header.push("NAMESPACE");
    }
    header.push("NAME");
    let (extra, extra_wide) = kind_columns(kind);
    header.extend(extra);
    if wide {
        header.extend(extra_wide);
    }
    let mut rows = vec![header.into_iter().map(String::from).collect::<Vec<_>>()];
    let now = jiff::Timestamp::now();
    for (cluster, item) in &items {
        let text = |p: &str| item.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
        let mut row = vec![cluster.to_string()];
        if namespaces {
            row.push(text("/metadata/namespace"));
        }
        row.push(text("/metadata/name"));
        row.extend(kind_values(kind, item, wide, now));
        rows.push(row);
    }
    columns(&rows)
}

/// kubectl's columns for common kinds (then the `-o wide` ones).
fn kind_columns(kind: &str) -> (Vec<&'static str>, Vec<&'static str>) {
    match kind {
        "Deployment" => (
            vec!["READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
            vec!["CONTAINERS", "IMAGES"],
        ),
        "StatefulSet" => (vec!["READY", "AGE"], vec!["CONTAINERS", "IMAGES"]),
        "ReplicaSet" | "DaemonSet" => (vec!["DESIRED", "CURRENT", "READY", "AGE"], vec!["CONTAINERS", "IMAGES"]),
        "Pod" => (vec!["READY", "STATUS", "RESTARTS", "AGE"], vec!["IP", "NODE"]),
        _ => (vec!["AGE"], vec![]),
    }
}

fn kind_values(kind: &str, o: &Value, wide: bool, now: jiff::Timestamp) -> Vec<String> {
    let n = |p: &str| o.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let text = |p: &str| o.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
    let age = age(&text("/metadata/creationTimestamp"), now);
    let containers = |field: &str| {
        o.pointer("/spec/template/spec/containers")
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .filter_map(|c| c.get(field).and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default()
    };
    let (mut values, wide_values) = match kind {
        "Deployment" => (
            vec![
                format!("{}/{}", n("/status/readyReplicas"), n("/spec/replicas")),
                n("/status/updatedReplicas").to_string(),
                n("/status/availableReplicas").to_string(),
                age,
            ],
            vec![containers("name"), containers("image")],
        ),
        "StatefulSet" => (
            vec![format!("{}/{}", n("/status/readyReplicas"), n("/spec/replicas")), age],
            vec![containers("name"), containers("image")],
        ),
        "ReplicaSet" | "DaemonSet" => {
            let (desired, current) = if kind == "DaemonSet" {
                ("/status/desiredNumberScheduled", "/status/currentNumberScheduled")
            } else {
                ("/spec/replicas", "/status/replicas")
            };
            let ready = if kind == "DaemonSet" {
                "/status/numberReady"
            } else {
                "/status/readyReplicas"
            };
            (
                vec![
                    n(desired).to_string(),
                    n(current).to_string(),
                    n(ready).to_string(),
                    age,
                ],
                vec![containers("name"), containers("image")],
            )
        }
        "Pod" => {
            let statuses = o
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let ready = statuses
                .iter()
                .filter(|s| s.get("ready") == Some(&Value::Bool(true)))
                .count();
            let restarts: i64 = statuses
                .iter()
                .filter_map(|s| s.get("restartCount").and_then(Value::as_i64))
                .sum();
            let waiting = statuses
                .iter()
                .find_map(|s| s.pointer("/state/waiting/reason").and_then(Value::as_str));
            let total = o
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .map_or(statuses.len(), Vec::len);
            (
                vec![
                    format!("{ready}/{total}"),
                    waiting.map_or_else(|| text("/status/phase"), String::from),
                    restarts.to_string(),
                    age,
                ],
                vec![text("/status/podIP"), text("/spec/nodeName")],
            )
        }
        _ => (vec![age], vec![]),
    };
    if wide {
        values.extend(wide_values);
    }
    values
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
