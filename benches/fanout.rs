//! Benchmark of the fan-out against a separate `muster sim` process (default 1,000 clusters):
//!
//! - a GET of one Deployment on every cluster, cold (new clients: TLS handshakes) and warm
//!   (p50/p95 over repeated runs), side by side with a sequential `kubectl` loop over the
//!   contexts and `xargs -P 8 kubectl`, printed as ratios;
//! - rate limiter accuracy: one member limited to 10 QPS (burst 5) for 10 s of requests;
//! - isolation: the other clusters' p99 with and without one cluster answering every request
//!   with 429 (`Retry-After: 1`), rounds interleaved.
//!
//! `cargo bench --bench fanout` (env: `FANOUT_CLUSTERS` default 1000, `KUBECTL_SAMPLE`
//! contexts for the sequential loop, default 100, `XARGS_SAMPLE` default 1000).

mod common;

use std::io::Write as _;
use std::process::{Command as Process, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use muster_core::command::{Action, Command};
use muster_core::policy::Policy;
use muster_core::result::{ExecResult, Status};
use muster_fleet::fanout::Fanout;
use muster_fleet::registry::{FleetConfig, LimitSpec, Member, Registry, kubeconfig};
use muster_fleet::settings::Settings;
use tokio_util::sync::CancellationToken;

use common::{SimProcess, start_sim};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// NB: sim-000 throttles every request (the isolation check); the rest are healthy.
const SCENARIO: &str = "faults:\n  clusters:\n    sim-000: {errorRate: 1.0, errorCode: 429, retryAfterSeconds: 1}\n";

fn registry(sim: &SimProcess, config: &FleetConfig) -> Arc<Registry> {
    let r = Arc::new(Registry::with_config(config));
    let report = kubeconfig::load_with(&r, std::slice::from_ref(&sim.kubeconfig), config);
    assert!(report.failed.is_empty());
    r
}

fn get_web() -> Command {
    let mut c = muster_testkit::command(Action::Get);
    c.target = Some("deploy/web".parse().unwrap());
    c.namespace = Some("shop".parse().expect("a namespace"));
    c
}

async fn fan(fanout: &Fanout, command: Command, members: Vec<Arc<Member>>) -> (Duration, Vec<ExecResult>) {
    let started = Instant::now();
    let results: Vec<ExecResult> = fanout
        .run(Arc::new(command), members, CancellationToken::new(), None)
        .collect()
        .await;
    (started.elapsed(), results)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn kubectl_get(kubeconfig: &std::path::Path, cache: &std::path::Path, contexts: &[String]) -> Duration {
    let started = Instant::now();
    for ctx in contexts {
        let out = tokio::process::Command::new("kubectl")
            .args(["--context", ctx, "get", "deploy", "web", "-n", "shop", "-o", "name"])
            .env("KUBECONFIG", kubeconfig)
            .env("KUBECACHEDIR", cache)
            .output()
            .await
            .expect("kubectl runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    started.elapsed()
}

fn xargs_get(kubeconfig: &std::path::Path, cache: &std::path::Path, contexts: &[String]) -> Duration {
    let started = Instant::now();
    let mut child = Process::new("xargs")
        .args([
            "-P",
            "8",
            "-I",
            "{}",
            "kubectl",
            "--context",
            "{}",
            "get",
            "deploy",
            "web",
            "-n",
            "shop",
            "-o",
            "name",
        ])
        .env("KUBECONFIG", kubeconfig)
        .env("KUBECACHEDIR", cache)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("xargs runs");
    let mut stdin = child.stdin.take().unwrap();
    for c in contexts {
        writeln!(stdin, "{c}").unwrap();
    }
    drop(stdin);
    assert!(child.wait().unwrap().success(), "xargs kubectl failed");
    started.elapsed()
}

#[tokio::main]
async fn main() {
    let n = env_usize("FANOUT_CLUSTERS", 1000);
    let sim = start_sim(n, Some(SCENARIO));
    let setup = registry(&sim, &FleetConfig::default());
    let all = setup.members();
    let healthy: Vec<Arc<Member>> = all.iter().filter(|m| m.name != "sim-000").cloned().collect();
    let open = Policy::parse("bench", "clusterScopedKinds: [Namespace]\n").unwrap();
    let loader = Fanout::new(setup.clone(), open, Settings::default());
    let mut apply = muster_testkit::command(Action::Apply);
    apply.manifests = muster_core::manifest::parse(
        "bench",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: 'nginx:1.27'}]}\n",
    )
    .unwrap();
    let (took, results) = fan(&loader, apply, healthy.clone()).await;
    let ok = results.iter().filter(|r| r.status == Status::Succeeded).count();
    assert_eq!(ok, healthy.len(), "workload applied everywhere");
    println!(
        "setup: applied a namespace and a Deployment to {ok} clusters in {:.0} ms",
        ms(took)
    );

    // 1. GET fan-out: cold (fresh registry: clients built, TLS handshakes), then warm (a
    // process that keeps its members' connections between commands, as a hub may).
    let fresh = registry(&sim, &FleetConfig::default());
    let keep = Settings::default().release_connections(false);
    let fanout = Fanout::new(fresh.clone(), Policy::default(), keep.clone());
    let members: Vec<Arc<Member>> = fresh.members().into_iter().filter(|m| m.name != "sim-000").collect();
    let (cold, results) = fan(&fanout, get_web(), members.clone()).await;
    assert!(results.iter().all(|r| r.status == Status::Succeeded));
    let mut warm: Vec<f64> = Vec::new();
    for _ in 0..30 {
        let (d, results) = fan(&fanout, get_web(), members.clone()).await;
        assert!(results.iter().all(|r| r.status == Status::Succeeded));
        warm.push(ms(d));
    }
    warm.sort_by(f64::total_cmp);
    let (p50, p95) = (percentile(&warm, 0.5), percentile(&warm, 0.95));
    println!(
        "GET deploy/web on {} clusters (concurrency {}): cold {:.0} ms (target <= 1000), warm p50 {p50:.1} ms (target <= 50), p95 {p95:.1} ms",
        members.len(),
        muster_fleet::settings::DEFAULT_CONCURRENCY,
        ms(cold)
    );

    for concurrency in [16, 256] {
        let other = Fanout::new(fresh.clone(), Policy::default(), keep.clone().concurrency(concurrency));
        let mut runs: Vec<f64> = Vec::new();
        for _ in 0..20 {
            runs.push(ms(fan(&other, get_web(), members.clone()).await.0));
        }
        runs.sort_by(f64::total_cmp);
        println!(
            "  warm p50 with concurrency {concurrency}: {:.1} ms",
            percentile(&runs, 0.5)
        );
    }

    // 2. The same GET with kubectl: a sequential loop and xargs -P 8.
    let contexts: Vec<String> = members.iter().map(|m| m.name.clone()).collect();
    let cache = sim.dir.path().join("kube-cache");
    let seq_n = env_usize("KUBECTL_SAMPLE", 100).min(contexts.len());
    let xargs_n = env_usize("XARGS_SAMPLE", 1000).min(contexts.len());
    if seq_n == 0 || xargs_n == 0 {
        println!("kubectl comparison skipped (KUBECTL_SAMPLE or XARGS_SAMPLE is 0)");
    } else if Process::new("kubectl").arg("version").arg("--client").output().is_ok() {
        let _ = kubectl_get(&sim.kubeconfig, &cache, &contexts[..1]).await; // warm the discovery cache
        let seq = kubectl_get(&sim.kubeconfig, &cache, &contexts[..seq_n]).await;
        let seq_all = seq.as_secs_f64() * contexts.len() as f64 / seq_n as f64;
        let par = xargs_get(&sim.kubeconfig, &cache, &contexts[..xargs_n]);
        let par_all = par.as_secs_f64() * contexts.len() as f64 / xargs_n as f64;
        println!(
            "kubectl loop: {seq_n} contexts in {:.1} s ({:.1} ms each; {seq_all:.1} s for all {}): muster warm is {:.0}x faster, cold {:.0}x",
            seq.as_secs_f64(),
            ms(seq) / seq_n as f64,
            contexts.len(),
            seq_all * 1000.0 / p50,
            seq_all * 1000.0 / ms(cold)
        );
        println!(
            "xargs -P 8 kubectl: {xargs_n} contexts in {:.1} s ({par_all:.1} s for all): muster warm is {:.0}x faster, cold {:.0}x",
            par.as_secs_f64(),
            par_all * 1000.0 / p50,
            par_all * 1000.0 / ms(cold)
        );
    } else {
        println!("kubectl not found: the kubectl comparison was skipped");
    }

    // 3. Rate limiter accuracy: one member at 10 QPS, burst 5, 10 s of requests from 8 workers.
    let limited_cfg = FleetConfig::parse(
        "bench",
        "limits:\n  groups:\n  - {clusters: sim-001, qps: 10, burst: 5, inFlight: 16}\n",
    )
    .unwrap();
    let limited = registry(&sim, &limited_cfg);
    let member = limited.get("sim-001").unwrap();
    assert_eq!(
        member.limits.spec,
        LimitSpec {
            qps: 10,
            burst: 5,
            in_flight: 16
        }
    );
    let client = member.client().await.unwrap();
    let stamps = Arc::new(std::sync::Mutex::new(Vec::<Instant>::new()));
    let start = Instant::now();
    let window = Duration::from_secs(10);
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (limited, member, client, stamps) = (limited.clone(), member.clone(), client.clone(), stamps.clone());
            tokio::spawn(async move {
                loop {
                    let permit = limited.acquire(&member).await;
                    let now = Instant::now();
                    if now > start + window {
                        break;
                    }
                    stamps.lock().unwrap().push(now);
                    let _ = client.apiserver_version().await;
                    drop(permit);
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let stamps = stamps.lock().unwrap().clone();
    let steady = (stamps.len() as f64 - 5.0) / window.as_secs_f64();
    let mut worst = 0usize;
    for (i, t) in stamps.iter().enumerate() {
        let in_window = stamps[i..]
            .iter()
            .take_while(|s| s.duration_since(*t) < Duration::from_secs(1))
            .count();
        worst = worst.max(in_window);
    }
    println!(
        "rate limiter: {} requests in 10 s at 10 QPS burst 5: steady rate {steady:.2}/s ({:+.1}% of 10, target within 3%); busiest 1 s window {worst} (limit qps + burst = 15)",
        stamps.len(),
        (steady - 10.0) * 10.0
    );

    // 4. Isolation: the healthy clusters' p99 with and without sim-000 throttling, interleaved.
    let settings = Settings::default().max_attempts(2);
    let iso = Fanout::new(fresh.clone(), Policy::default(), settings);
    let with_throttled: Vec<Arc<Member>> = fresh.members();
    let (mut base, mut with) = (Vec::new(), Vec::new());
    let mut throttled_status = None;
    for round in 0..40 {
        let (target, set) = if round % 2 == 0 {
            (&mut base, &members)
        } else {
            (&mut with, &with_throttled)
        };
        let (_, results) = fan(&iso, get_web(), set.clone()).await;
        for r in results {
            if r.cluster == "sim-000" {
                throttled_status = Some((r.status, r.attempts, r.duration_ms));
            } else {
                target.push(r.duration_ms as f64);
            }
        }
    }
    base.sort_by(f64::total_cmp);
    with.sort_by(f64::total_cmp);
    let (b99, w99) = (percentile(&base, 0.99), percentile(&with, 0.99));
    let (b50, w50) = (percentile(&base, 0.5), percentile(&with, 0.5));
    println!(
        "isolation: other clusters' p50 {b50:.1}/{w50:.1} ms, p99 {b99:.1} ms without and {w99:.1} ms with one cluster answering 429 ({:+.1}%, target <= +10%); the throttled cluster: {throttled_status:?} (status, attempts, ms)",
        if b99 > 0.0 { (w99 - b99) / b99 * 100.0 } else { 0.0 }
    );
}
