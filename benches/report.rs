//! Benchmark of reports: build and render a report for 1,000 clusters x 100 objects
//! (synthetic `get` results of Deployments with server-set fields, held as fan-out results
//! hold them, a few variants), with
//! time and peak RSS, and a baseline measured side by side: serialising the same results to
//! JSON once.
//!
//! `cargo bench --bench report` (env: `REPORT_CLUSTERS` default 1000, `REPORT_OBJECTS` 100).

use std::time::Instant;

use muster_core::command::Action;
use muster_core::report::compare::{Options, build};
use muster_core::report::render::{Format, report as render};
use muster_core::result::{ExecResult, Object, Output, Status};
use serde_json::{Value, json};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn rss_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Object `j` on cluster `i`: a Deployment with what servers add (uid, resourceVersion,
/// managedFields, status), and drift on a few clusters.
fn deployment(i: usize, j: usize) -> Value {
    let image = if i % 97 == 3 && j.is_multiple_of(10) {
        "nginx:1.26"
    } else {
        "nginx:1.27"
    };
    let replicas = if i % 250 == 7 { 5 } else { 3 };
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {
            "name": format!("app-{j:03}"), "namespace": "shop",
            "uid": format!("{i:08}-{j:04}-4000-8000-000000000000"), "resourceVersion": format!("{}", 1000 + i * 7 + j),
            "generation": 2, "creationTimestamp": "2026-11-01T10:00:00Z",
            "labels": {"app": format!("app-{j:03}"), "team": "shop"},
            "annotations": {"deployment.kubernetes.io/revision": "2"},
            "managedFields": [{"manager": "muster", "operation": "Apply", "apiVersion": "apps/v1",
                "time": "2026-11-01T10:00:00Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {}}}}}}]
        },
        "spec": {
            "replicas": replicas, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
            "selector": {"matchLabels": {"app": format!("app-{j:03}")}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": format!("app-{j:03}")}},
                "spec": {"containers": [{"name": "web", "image": image, "imagePullPolicy": "IfNotPresent",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "env": [{"name": "MODE", "value": "prod"}],
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}],
                    "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst"}
            }
        },
        "status": {"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
            "observedGeneration": 2, "conditions": [{"type": "Available", "status": "True"}]}
    })
}

fn main() {
    let clusters = env_usize("REPORT_CLUSTERS", 1000);
    let objects = env_usize("REPORT_OBJECTS", 100);
    let rss_start = rss_kib("VmRSS:");
    let t = Instant::now();
    let mut results: Vec<ExecResult> = (0..clusters)
        .map(|i| ExecResult {
            command_id: "bench".into(),
            cluster: format!("c-{i:04}"),
            action: Action::Get,
            target: "deploy".into(),
            status: Status::Succeeded,
            exit_code: None,
            output: Output::Objects {
                items: (0..objects).map(|j| Object::from_value(&deployment(i, j))).collect(),
                truncated: false,
            },
            error: None,
            duration_ms: 5,
            attempts: 1,
        })
        .collect();
    // A few clusters fail; they are listed, not compared.
    for r in results.iter_mut().skip(11).step_by(200) {
        r.status = Status::Unreachable;
        r.output = Output::None;
    }
    let generated = t.elapsed();
    let rss_input = rss_kib("VmRSS:");

    let t = Instant::now();
    let bytes: usize = results
        .iter()
        .map(|r| serde_json::to_vec(r).map_or(0, |b| b.len()))
        .sum();
    let baseline = t.elapsed();

    let t = Instant::now();
    let report = build(&results, &Options::default()).expect("report");
    let built = t.elapsed();
    let mut rendered = Vec::new();
    for format in [Format::Json, Format::Terminal, Format::Markdown, Format::Html] {
        let t = Instant::now();
        let text = render(&report, format, false).expect("render");
        rendered.push((format, t.elapsed(), text.len()));
    }
    let total = built + rendered.iter().map(|r| r.1).sum::<std::time::Duration>();
    let peak = rss_kib("VmHWM:");
    println!(
        "input: {clusters} clusters x {objects} objects ({:.0} MiB of JSON; generated in {:.2} s; RSS {:.0} MiB, {:.0} MiB before)",
        bytes as f64 / 1048576.0,
        generated.as_secs_f64(),
        rss_input as f64 / 1024.0,
        rss_start as f64 / 1024.0
    );
    println!(
        "baseline: serialising the results to JSON once: {:.0} ms",
        baseline.as_secs_f64() * 1000.0
    );
    println!(
        "build: {:.0} ms ({:.2}x the baseline); {} objects, {} variants at most, {} failed clusters",
        built.as_secs_f64() * 1000.0,
        built.as_secs_f64() / baseline.as_secs_f64(),
        report.objects.len(),
        report.summary.variants,
        report.summary.failed
    );
    for (format, took, len) in &rendered {
        println!(
            "render {format:?}: {:.1} ms, {:.0} KiB",
            took.as_secs_f64() * 1000.0,
            *len as f64 / 1024.0
        );
    }
    println!(
        "build + render all four: {:.0} ms (target <= 1000 ms, {:.2}x the baseline); peak RSS {:.0} MiB (target <= 500), of which the input is {:.0} MiB",
        total.as_secs_f64() * 1000.0,
        total.as_secs_f64() / baseline.as_secs_f64(),
        peak as f64 / 1024.0,
        (rss_input - rss_start) as f64 / 1024.0
    );
}
