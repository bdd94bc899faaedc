//! Open files are bounded by the concurrency, not by the fleet: `muster get ns/default` over
//! 10,000 simulated clusters under `ulimit -n 1024` (soft and hard, so muster cannot raise
//! it) must succeed on every cluster. Prints the peak open descriptors and peak RSS of the
//! muster process, with the same command over 1,000 clusters side by side as the baseline:
//! the descriptor peak should not grow with the fleet.
//!
//! `cargo bench --bench open_files` (env: `OPEN_FILES_CLUSTERS`, default 10000). The fleet
//! is a separate `muster sim` process.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::start_sim;

struct Run {
    clusters: usize,
    wall: Duration,
    peak_fds: usize,
    peak_rss_kib: u64,
    succeeded: usize,
}

/// Run muster under the descriptor limit and sample /proc while it runs.
fn run(kubeconfig: &std::path::Path, out: &std::path::Path) -> Run {
    let script = format!(
        "ulimit -n 1024; exec {} get ns/default --kubeconfig {} -o json --concurrency 64 --deadline 900s > {}",
        env!("CARGO_BIN_EXE_muster"),
        kubeconfig.display(),
        out.display()
    );
    let started = Instant::now();
    let mut child = Command::new("bash")
        .args(["-c", &script])
        .env("RUST_LOG", "error")
        .env_remove("KUBECONFIG")
        .stderr(Stdio::inherit())
        .spawn()
        .expect("muster runs");
    let pid = child.id();
    let (mut peak_fds, mut peak_rss) = (0usize, 0u64);
    loop {
        if let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
            peak_fds = peak_fds.max(entries.count());
        }
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status"))
            && let Some(kib) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        {
            peak_rss = peak_rss.max(kib);
        }
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success() || status.code() == Some(1), "muster failed: {status}");
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let wall = started.elapsed();
    let results: Vec<Value> = serde_json::from_slice(&std::fs::read(out).expect("results")).expect("JSON results");
    Run {
        clusters: results.len(),
        wall,
        peak_fds,
        peak_rss_kib: peak_rss,
        succeeded: results.iter().filter(|r| r["status"] == "Succeeded").count(),
    }
}

fn main() {
    let n: usize = std::env::var("OPEN_FILES_CLUSTERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let sim = start_sim(n, None);
    println!(
        "open_files: {n} simulated clusters started in {:.1} s (a separate process)",
        sim.startup.as_secs_f64()
    );
    // The baseline: the first tenth of the same fleet, from its own kubeconfig.
    let mut doc: Value = muster_core::yaml::parse(&std::fs::read_to_string(&sim.kubeconfig).unwrap()).unwrap();
    let tenth = (n / 10).max(1);
    for key in ["clusters", "users", "contexts"] {
        if let Some(list) = doc[key].as_array_mut() {
            list.truncate(tenth);
        }
    }
    let small = sim.dir.path().join("tenth.kubeconfig");
    std::fs::write(&small, muster_core::yaml::to_string(&doc).unwrap()).unwrap();

    let base = run(&small, &sim.dir.path().join("tenth.json"));
    let full = run(&sim.kubeconfig, &sim.dir.path().join("all.json"));
    for r in [&base, &full] {
        println!(
            "  {:>6} clusters under ulimit -n 1024: {} succeeded in {:.1} s; peak open files {}, peak RSS {:.1} MiB",
            r.clusters,
            r.succeeded,
            r.wall.as_secs_f64(),
            r.peak_fds,
            r.peak_rss_kib as f64 / 1024.0
        );
    }
    println!(
        "  ratio {}x clusters: open files {:.2}x, RSS {:.2}x, wall {:.2}x",
        full.clusters / base.clusters.max(1),
        full.peak_fds as f64 / base.peak_fds.max(1) as f64,
        full.peak_rss_kib as f64 / base.peak_rss_kib.max(1) as f64,
        full.wall.as_secs_f64() / base.wall.as_secs_f64()
    );
    assert_eq!(full.succeeded, n, "every cluster succeeds under the limit");
    assert!(full.peak_fds < 1024);
}
