//! `muster diagnose` of a Deployment over 1,000 simulated clusters where 5% fail in one of
//! four ways (an image that cannot be pulled, a crash loop, OOMKilled, an init container's
//! exit 127), against `muster compare` of the same Deployment run side by side: wall time
//! and peak RSS, median of 3.
//!
//! `cargo bench --bench diagnose` (env: `DIAGNOSE_CLUSTERS`, default 1000).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::{measure, start_sim};

fn deployment(image: &str, init: Option<&str>) -> Value {
    let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": image}]}}}});
    if let Some(i) = init {
        d["spec"]["template"]["spec"]["initContainers"] = json!([{"name": "migrate", "image": i}]);
    }
    d
}

fn muster(sim: &common::SimProcess, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_muster"));
    c.args(args)
        .arg("--kubeconfig")
        .arg(&sim.kubeconfig)
        .env("RUST_LOG", "error")
        .env("HOME", sim.dir.path())
        .env_remove("KUBECONFIG");
    c
}

fn apply(sim: &common::SimProcess, d: &Value, clusters: Option<&str>) {
    let file = sim.dir.path().join("web.json");
    std::fs::write(&file, d.to_string()).unwrap();
    let mut args = vec!["apply", "--yes", "-f", file.to_str().unwrap()];
    let sel;
    if let Some(c) = clusters {
        sel = format!("--clusters={c}");
        args.push(&sel);
    }
    let (_, _, code, _) = measure(&mut muster(sim, &args));
    assert_eq!(code, Some(0), "apply failed");
}

fn median(mut v: Vec<(Duration, u64)>) -> (Duration, u64) {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let n: usize = std::env::var("DIAGNOSE_CLUSTERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let sim = start_sim(n, None);
    apply(&sim, &deployment("web:1.1", None), None);
    let failing = n / 20;
    let causes = [
        ("web:1.2-missing", None),
        ("web:broken", None),
        ("web:2.0-oom", None),
        ("web:1.1", Some("tools:notfound")),
    ];
    for (i, (image, init)) in causes.iter().enumerate() {
        let names: Vec<String> = (0..failing)
            .filter(|k| k % causes.len() == i)
            .map(|k| format!("sim-{:03}", k * (n / failing)))
            .collect();
        apply(&sim, &deployment(image, *init), Some(&names.join(",")));
    }
    // Until every failure shows and every other cluster is healthy.
    let started = Instant::now();
    loop {
        let (_, _, _, out) = measure(&mut muster(
            &sim,
            &["diagnose", "deploy/web", "-n", "default", "-o", "json"],
        ));
        if let Ok(d) = serde_json::from_slice::<Value>(&out) {
            let sick: usize = d["causes"]
                .as_array()
                .map(|cs| {
                    cs.iter()
                        .map(|c| c["clusters"].as_object().map_or(0, |o| o.len()))
                        .sum()
                })
                .unwrap_or(0);
            if sick == failing && d["healthy"].as_array().map_or(0, Vec::len) == n - failing {
                println!(
                    "settled after {:.1}s: {} causes on {failing} clusters, {} healthy",
                    started.elapsed().as_secs_f64(),
                    d["causes"].as_array().map_or(0, Vec::len),
                    n - failing
                );
                break;
            }
        }
        assert!(started.elapsed() < Duration::from_secs(300), "the fleet did not settle");
        std::thread::sleep(Duration::from_millis(500));
    }
    let (mut compare, mut diagnose) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let (t, rss, code, _) = measure(&mut muster(
            &sim,
            &["compare", "deploy/web", "-n", "default", "-o", "json"],
        ));
        assert!(matches!(code, Some(0 | 1)));
        compare.push((t, rss));
        let (t, rss, code, _) = measure(&mut muster(
            &sim,
            &["diagnose", "deploy/web", "-n", "default", "-o", "json"],
        ));
        assert_eq!(code, Some(1));
        diagnose.push((t, rss));
    }
    let (ct, crss) = median(compare);
    let (dt, drss) = median(diagnose);
    println!(
        "{n} clusters, {failing} failing in 4 ways: diagnose {:.2}s / {:.1} MiB peak RSS, compare {:.2}s / {:.1} MiB: {:.2}x time, {:.2}x RSS (diagnose reads the workload and its pods everywhere, and the events where a pod is not Ready: three fan-outs to compare's one)",
        dt.as_secs_f64(),
        drss as f64 / 1024.0,
        ct.as_secs_f64(),
        crss as f64 / 1024.0,
        dt.as_secs_f64() / ct.as_secs_f64(),
        drss as f64 / crss as f64
    );
}
