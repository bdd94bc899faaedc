//! Benchmark: registering 10,000 members from one kubeconfig (targets: at most 1 s and at
//! most 16 KiB of RSS per member), with kube's own `Kubeconfig::read_from` on the same file
//! timed side by side as the baseline. `cargo bench --bench registry_load` (env:
//! `REGISTRY_MEMBERS`, default 10000).

use std::fmt::Write as _;
use std::time::Instant;

use muster_fleet::registry::{Registry, kubeconfig};

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let n: usize = std::env::var("REGISTRY_MEMBERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    // A realistic entry: server, inline CA (about 1 KiB of base64) and a token per member.
    let ca = "LS0tLS1CRUdJTi".repeat(70);
    let mut text = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
    for i in 0..n {
        let _ = write!(
            text,
            "- name: c{i}\n  cluster:\n    server: https://10.{}.{}.1:6443\n    certificate-authority-data: {ca}\n",
            i / 256 % 256,
            i % 256
        );
    }
    text.push_str("users:\n");
    for i in 0..n {
        let _ = write!(
            text,
            "- name: u{i}\n  user:\n    token: tok-{i:08}-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
        );
    }
    text.push_str("contexts:\n");
    for i in 0..n {
        let _ = write!(
            text,
            "- name: cluster-{i:05}\n  context:\n    cluster: c{i}\n    user: u{i}\n    namespace: default\n"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, &text).unwrap();
    drop(text);

    // Baseline: parsing the same file as plain untyped YAML (the floor of any loader).
    // NB: kube's own `Kubeconfig::read_from` cannot be the baseline: its YAML parser's default
    // budget stops at 250,000 nodes ("budget breached"), below a 10,000-context kubeconfig;
    // muster's parser (the same serde-saphyr) bounds nodes by the input size instead.
    let t = Instant::now();
    let raw: serde_json::Value = muster_core::yaml::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let yaml_parse = t.elapsed();
    drop(raw);
    let kube_refuses = kube::config::Kubeconfig::read_from(&path).is_err();

    let before = rss_kib();
    let t = Instant::now();
    let registry = Registry::new();
    let report = kubeconfig::load(&registry, std::slice::from_ref(&path));
    let load = t.elapsed();
    let after = rss_kib();
    assert!(report.failed.is_empty() && registry.len() == n);
    assert!(
        registry
            .members()
            .iter()
            .all(|m| m.invalid.is_none() && !m.client_built())
    );
    let per_member = after.saturating_sub(before) as f64 / n as f64;
    println!(
        "registry_load: {n} members registered in {:.3}s (target <= 1 s); plain YAML parse of the same file: {:.3}s (ratio {:.2}x); kube's Kubeconfig::read_from refuses the file: {kube_refuses}",
        load.as_secs_f64(),
        yaml_parse.as_secs_f64(),
        load.as_secs_f64() / yaml_parse.as_secs_f64()
    );
    println!(
        "registry_load: RSS {before} KiB before, {after} KiB after: {per_member:.2} KiB per member (target <= 16 KiB); no client built"
    );
}
