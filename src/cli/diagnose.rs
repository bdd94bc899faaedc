//! `muster diagnose TARGET`: why a pod, a workload's pods or `pods -l ...` are not Ready,
//! on every selected cluster at once, with the same cause on many clusters as one line.
//! Reads only: the workload (for its selector and the pods it should have), its pods, and
//! the namespace's events. Exit 1 when a cause is found.

use std::collections::{BTreeMap, BTreeSet};

use clap::Args;
use serde_json::Value;

use super::actions::{Execution, RunArgs, execute_on};
use super::compare::ReportFormat;
use super::source::Loaded;
use super::{CliError, exit};
use muster_core::command::{Action, Target};
use muster_core::report::diagnose::{self, ClusterInput};
use muster_core::report::render;
use muster_core::result::{ExecResult, Output, Status};

#[derive(Debug, Args)]
pub struct DiagnoseArgs {
    /// `deploy/NAME`, `sts/NAME`, `ds/NAME`, `rs/NAME`, `job/NAME`, `pod/NAME`, or `pods`
    /// with `-l`.
    pub target: String,
    /// Label selector over the pods (with `pods`).
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    #[arg(short = 'o', long, value_enum, default_value_t = ReportFormat::Terminal)]
    pub output: ReportFormat,
    /// Write the report to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Workload kinds whose pods are found by their selector.
fn is_workload(resource: &str) -> bool {
    let r = resource.split('.').next().unwrap_or_default();
    matches!(
        r,
        "deploy"
            | "deployment"
            | "deployments"
            | "sts"
            | "statefulset"
            | "statefulsets"
            | "ds"
            | "daemonset"
            | "daemonsets"
            | "rs"
            | "replicaset"
            | "replicasets"
            | "job"
            | "jobs"
    )
}

fn selector_of(workload: &Value) -> Option<String> {
    let labels = workload.pointer("/spec/selector/matchLabels")?.as_object()?;
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    parts.sort();
    (!parts.is_empty()).then(|| parts.join(","))
}

fn matches(pod: &Value, selector: &str) -> bool {
    selector.split(',').all(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        pod.pointer("/metadata/labels")
            .and_then(|l| l.get(k))
            .and_then(Value::as_str)
            == Some(v)
    })
}

pub(crate) fn objects(r: &ExecResult) -> Vec<Value> {
    match &r.output {
        Output::Objects { items, .. } => items
            .iter()
            .map(|o| {
                let mut v = o.value();
                // NB: field ownership is most of a pod's bytes and none of its diagnosis.
                if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
                    m.remove("managedFields");
                }
                v
            })
            .collect(),
        _ => Vec::new(),
    }
}

pub(crate) fn why(r: &ExecResult) -> String {
    r.error
        .as_ref()
        .map_or_else(|| format!("{:?}", r.status), |e| format!("{}: {}", e.reason, e.message))
}

/// One read over the fleet (over `loaded`'s members): its results, or the exit code a
/// refused run ends with (the fleet views `topology` and `tree` read the same way).
pub(crate) async fn read(
    args: &RunArgs,
    loaded: &Loaded,
    target: &str,
    selector: Option<&str>,
) -> Result<Result<Vec<ExecResult>, u8>, CliError> {
    let mut c = super::new_command(Action::Get);
    c.target = Some(target.parse::<Target>()?);
    c.label_selector = selector.map(String::from);
    Ok(match execute_on(c, args, false, Some(loaded.clone())).await? {
        Execution::Ran(results) => Ok(results),
        // NB: the policy refusal was printed when it was made.
        Execution::Rejected(_) => Err(exit::ERROR),
        Execution::Planned | Execution::NotConfirmed => Err(exit::OK),
    })
}

pub async fn run(a: DiagnoseArgs) -> Result<u8, CliError> {
    let target: Target = a.target.parse()?;
    let workload = is_workload(&target.resource) && target.name.is_some();
    // NB: loaded once: the reads share the registry, its clients and their connections.
    let loaded = a.run.source.load().await?;
    let mut failed: BTreeMap<String, String> = BTreeMap::new();
    let mut inputs: BTreeMap<String, ClusterInput> = BTreeMap::new();
    // The pods (and the workload they belong to).
    let pods_results = if workload {
        let ws = match read(&a.run, &loaded, &a.target, None).await? {
            Ok(r) => r,
            Err(code) => return Ok(code),
        };
        let mut selectors: BTreeMap<String, String> = BTreeMap::new();
        for r in &ws {
            match (r.status, objects(r).into_iter().next()) {
                (Status::Succeeded, Some(w)) => {
                    if let Some(s) = selector_of(&w) {
                        selectors.insert(r.cluster.clone(), s);
                    }
                    inputs.entry(r.cluster.clone()).or_default().workload = Some(w);
                }
                _ => {
                    failed.insert(r.cluster.clone(), why(r));
                }
            }
        }
        let distinct: BTreeSet<&String> = selectors.values().collect();
        // NB: one selector everywhere (the usual case) asks each server for just those pods;
        // otherwise every pod of the namespace is read and each cluster's own selector applied.
        let shared = (distinct.len() == 1)
            .then(|| distinct.iter().next().map(|s| (*s).clone()))
            .flatten();
        let results = match read(&a.run, &loaded, "pods", shared.as_deref()).await? {
            Ok(r) => r,
            Err(code) => return Ok(code),
        };
        results
            .into_iter()
            .map(|mut r| {
                if let (Some(sel), Output::Objects { items, .. }) = (selectors.get(&r.cluster), &mut r.output) {
                    items.retain(|o| matches(&o.value(), sel));
                }
                r
            })
            .filter(|r| !failed.contains_key(&r.cluster))
            .collect()
    } else {
        match read(&a.run, &loaded, &a.target, a.selector.as_deref()).await? {
            Ok(r) => r,
            Err(code) => return Ok(code),
        }
    };
    // NB: each result is dropped once read: the pods are held once, as parsed JSON.
    for r in pods_results {
        if r.status == Status::Succeeded {
            inputs.entry(r.cluster.clone()).or_default().pods = objects(&r);
        } else if r.error.as_ref().is_some_and(|e| e.code == Some(404)) {
            inputs.entry(r.cluster.clone()).or_default();
        } else {
            failed.insert(r.cluster.clone(), why(&r));
        }
    }
    for cluster in failed.keys() {
        inputs.remove(cluster);
    }
    // The namespace's events, read only where something is not Ready.
    let sick: Vec<String> = inputs
        .iter()
        .filter(|(_, i)| diagnose::needs_events(i))
        .map(|(c, _)| c.clone())
        .collect();
    if !sick.is_empty() {
        let mut only = loaded.clone();
        only.members.retain(|m| sick.contains(&m.name));
        match read(&a.run, &only, "events", None).await? {
            Ok(events) => {
                for r in events {
                    if let Some(input) = inputs.get_mut(&r.cluster) {
                        input.events = objects(&r);
                    }
                }
            }
            Err(code) => return Ok(code),
        }
    }
    let d = diagnose::build(&a.target, a.run.namespace.as_deref(), &inputs, failed);
    let text = render::diagnosis(&d, a.output.into())?;
    match &a.out {
        Some(p) => muster_fleet::files::write_private(p, &text)?,
        None => print!("{text}"),
    }
    Ok(if d.found() { exit::FAILED } else { exit::OK })
}
