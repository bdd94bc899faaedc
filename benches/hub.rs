//! The hub at scale, a `muster serve` process (release build) against `muster sim` fleets:
//!
//! - a FleetCommand `get` over 1,000 members, from create to Succeeded, against the CLI's
//!   local fan-out of the same command run side by side (target: at most 1.5x + 1 s);
//! - a FleetRollout in 3 waves (1 cluster, 10%, the rest; soak 0) of a Deployment over the
//!   1,000 members, from create to Succeeded (every cluster's gates passed), and the hub's
//!   RSS after it, against the CLI's plain `apply` of the same Deployment run side by side
//!   (target: at most 30 s);
//! - MQTT (when mosquitto is installed): the same `get` published down, until its summary
//!   is received up, against the FleetCommand created through the API; messages per second
//!   through the broker; and the outbox's cost: 10,000 results pending while the broker is
//!   down, drained when it returns (time, the hub's RSS);
//! - the hub with 1,000 and with 10,000 members: time to register every member at start
//!   (every FleetCluster created with a Healthy status), RSS, idle CPU, and FleetCluster
//!   status writes per probe cycle when no health changes (target 0).
//!
//! `cargo bench --bench hub` (env: `HUB_BENCH_MEMBERS`, default 10000).

mod common;

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kube::api::{Api, ListParams, Patch, PatchParams};
use muster_hub::crd::{FleetCluster, FleetCommand};
use muster_testkit::hub::{
    HUB_NAMESPACE as HUB_NS, Registration, create_namespace, kubeconfig_of, parse_kubeconfig, prepare_hub,
};
use serde_json::json;

use common::{SimProcess, start_sim};

const TEAM: &str = "bench";
const PROBE_INTERVAL: &str = "10s";

/// A fleet with its hub (sim-000) prepared: CRDs, namespaces, a Secret per member.
struct Prepared {
    sim: SimProcess,
    client: kube::Client,
    hub_kubeconfig: PathBuf,
    members_kubeconfig: PathBuf,
    members: usize,
}

async fn prepare(members: usize) -> Prepared {
    let sim = start_sim(members + 1, None);
    let text = std::fs::read_to_string(&sim.kubeconfig).unwrap();
    let parsed = parse_kubeconfig(&text);
    let hub_kubeconfig = sim.dir.path().join("hub.kubeconfig");
    let hub_text = kubeconfig_of(&parsed, "sim-000");
    std::fs::write(&hub_kubeconfig, &hub_text).unwrap();
    let mut only_members = parsed.clone();
    for list in ["contexts", "clusters", "users"] {
        if let Some(a) = only_members[list].as_array_mut() {
            a.retain(|e| !e["name"].as_str().unwrap_or_default().starts_with("sim-000"));
        }
    }
    only_members["current-context"] = json!("sim-001");
    let members_kubeconfig = sim.dir.path().join("members.kubeconfig");
    std::fs::write(&members_kubeconfig, serde_json::to_string(&only_members).unwrap()).unwrap();
    let client = muster_testkit::kube_client_from(&hub_text, "sim-000", true).await;
    let names: Vec<String> = (1..=members).map(|i| format!("sim-{i:03}")).collect();
    prepare_hub(&client, &parsed, &names, Registration::Labelled).await;
    create_namespace(&client, TEAM).await;
    Prepared {
        sim,
        client,
        hub_kubeconfig,
        members_kubeconfig,
        members,
    }
}

/// A `muster serve` process and where its metrics are.
struct Serve {
    child: Child,
    metrics: std::net::SocketAddr,
    started: Instant,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(p: &Prepared) -> Serve {
    serve_with(p, &[])
}

fn serve_with(p: &Prepared, extra: &[&str]) -> Serve {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(["serve", "--kubeconfig"])
        .arg(&p.hub_kubeconfig)
        .args([
            "--namespace",
            HUB_NS,
            "--identity",
            "bench",
            "--probe-interval",
            PROBE_INTERVAL,
        ])
        .arg("--metrics-addr")
        .arg(port.to_string())
        .args(extra)
        .env("RUST_LOG", "warn")
        .env("HOME", p.sim.dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("muster serve starts");
    Serve {
        child,
        metrics: port,
        started,
    }
}

fn scrape(addr: std::net::SocketAddr) -> String {
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.trim().parse().ok()))
        .unwrap_or(0.0)
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = after.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    // NB: fields 14 and 15 of stat; after the command name they are the 12th and 13th.
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

fn status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Until every member has a Healthy FleetCluster.
async fn registered(p: &Prepared, s: &Serve) -> Duration {
    let api: Api<FleetCluster> = Api::all(p.client.clone());
    loop {
        if let Ok(l) = api.list(&ListParams::default()).await
            && l.items.len() == p.members
            && l.items
                .iter()
                .all(|f| f.status.as_ref().is_some_and(|s| s.health == "Healthy"))
        {
            return s.started.elapsed();
        }
        assert!(
            s.started.elapsed() < Duration::from_secs(1200),
            "members not registered in 20 minutes"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

struct Idle {
    registration: Duration,
    rss_mib: f64,
    peak_mib: f64,
    cpu_percent: f64,
    writes_per_cycle: f64,
    cycle_seconds: f64,
}

/// Two full probe cycles of a settled hub: CPU, memory, status writes.
async fn idle(p: &Prepared, s: &Serve) -> Idle {
    let registration = registered(p, s).await;
    let cycles = |t: &str| metric(t, "muster_probe_cycle_seconds_count");
    let wait_cycle = |after: f64| async move {
        loop {
            let t = scrape(s.metrics);
            if cycles(&t) > after {
                return t;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    // NB: from the end of a cycle that started after registration.
    let c0 = cycles(&scrape(s.metrics));
    let t0 = wait_cycle(c0 + 1.0).await;
    let (cpu0, w0, at0, n0) = (
        cpu_seconds(s.child.id()),
        metric(&t0, "muster_fleetcluster_status_writes_total"),
        Instant::now(),
        cycles(&t0),
    );
    let t1 = wait_cycle(n0 + 1.0).await;
    let t1 = wait_cycle(cycles(&t1)).await;
    let (cpu1, w1, secs) = (
        cpu_seconds(s.child.id()),
        metric(&t1, "muster_fleetcluster_status_writes_total"),
        at0.elapsed().as_secs_f64(),
    );
    let n = cycles(&t1) - n0;
    Idle {
        registration,
        rss_mib: status_kib(s.child.id(), "VmRSS:") as f64 / 1024.0,
        peak_mib: status_kib(s.child.id(), "VmHWM:") as f64 / 1024.0,
        cpu_percent: 100.0 * (cpu1 - cpu0) / secs,
        writes_per_cycle: (w1 - w0) / n,
        cycle_seconds: metric(&t1, "muster_probe_cycle_seconds_sum") / cycles(&t1),
    }
}

/// The CLI over the members (the local fan-out), timed; it must succeed.
fn local(p: &Prepared, args: &[&str]) -> Duration {
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(args)
        .arg("--kubeconfig")
        .arg(&p.members_kubeconfig)
        .env("RUST_LOG", "error")
        .env("HOME", p.sim.dir.path())
        .env_remove("KUBECONFIG")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(out.success(), "muster {args:?} failed: {out}");
    t.elapsed()
}

fn local_get(p: &Prepared) -> Duration {
    local(p, &["get", "cm/kube-root-ca.crt", "-n", "default", "-o", "json"])
}

async fn hub_get(p: &Prepared, round: usize) -> Duration {
    let api: Api<FleetCommand> = Api::namespaced(p.client.clone(), TEAM);
    let name = format!("get-{round}");
    let fc = json!({"apiVersion": "muster.dev/v1alpha1", "kind": "FleetCommand",
        "metadata": {"name": name, "namespace": TEAM},
        "spec": {"action": "get", "target": "cm/kube-root-ca.crt", "namespace": "default"}});
    let t = Instant::now();
    api.patch(&name, &PatchParams::apply("bench"), &Patch::Apply(fc))
        .await
        .unwrap();
    loop {
        if let Ok(fc) = api.get(&name).await
            && let Some(s) = fc.status
            && s.phase.is_finished()
        {
            assert_eq!(
                s.counts.get("Succeeded").copied().unwrap_or(0) as usize,
                p.members,
                "{s:?}"
            );
            return t.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A Deployment `name` of one replica.
fn deployment(name: &str) -> serde_json::Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app", "image": "nginx:1.0"}]}}}})
}

/// The CLI's plain apply of a Deployment to every member.
fn local_apply(p: &Prepared) -> Duration {
    let file = p.sim.dir.path().join("base.json");
    std::fs::write(&file, deployment("base-web").to_string()).unwrap();
    local(p, &["apply", "--yes", "-f", file.to_str().unwrap()])
}

/// A FleetRollout of a Deployment in 3 waves, from create to Succeeded.
async fn hub_rollout(p: &Prepared) -> Duration {
    use muster_hub::crd::{FleetRollout, RolloutPhase};
    let api: Api<FleetRollout> = Api::namespaced(p.client.clone(), TEAM);
    let fr = json!({"apiVersion": "muster.dev/v1alpha1", "kind": "FleetRollout",
        "metadata": {"name": "roll", "namespace": TEAM},
        "spec": {"namespace": "default", "resources": [deployment("roll-web")],
            "strategy": {"waves": [{"name": "canary", "count": 1}, {"name": "ten", "percent": 10}, {"name": "rest"}]}}});
    let t = Instant::now();
    api.patch("roll", &PatchParams::apply("bench"), &Patch::Apply(fr))
        .await
        .unwrap();
    loop {
        if let Ok(fr) = api.get("roll").await
            && let Some(s) = fr.status
        {
            if s.phase == RolloutPhase::Succeeded {
                assert_eq!(s.updated as usize, p.members, "{s:?}");
                return t.elapsed();
            }
            assert!(
                !s.phase.is_settled() && t.elapsed() < Duration::from_secs(600),
                "the rollout did not succeed: {s:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const UP: &str = "wdd/RDMC/message/up";
const DOWN: &str = "muster/bench/commands/down";

/// Messages of `command_id` received so far, and whether its summary is among them.
fn received(sub: &muster_testkit::mqtt::Subscriber, command_id: &str) -> (usize, bool) {
    let all = sub.all();
    let mine: Vec<_> = all.iter().filter(|m| m["command_id"] == command_id).collect();
    (mine.len(), mine.iter().any(|m| m["type"] == "summary"))
}

/// A `get` published down, until its summary is up; and the messages per second of its
/// results (first result to summary).
async fn mqtt_get(p: &Prepared, sub: &muster_testkit::mqtt::Subscriber, broker: u16, round: usize) -> (Duration, f64) {
    let id = format!("bench-get-{round}");
    let msg = json!({"command_id": id, "action": "get", "namespace": "default", "resource": "cm", "name": "kube-root-ca.crt"});
    let t = Instant::now();
    muster_testkit::mqtt::publish(broker, DOWN, msg.to_string().as_bytes()).await;
    let mut first = None;
    loop {
        let (n, done) = received(sub, &id);
        if n > 0 && first.is_none() {
            first = Some(Instant::now());
        }
        if done && n > p.members {
            let took = t.elapsed();
            let span = first.map_or(took, |f| f.elapsed()).as_secs_f64().max(0.001);
            return (took, n as f64 / span);
        }
        assert!(t.elapsed() < Duration::from_secs(300), "no summary for {id}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// 10 commands over every member finished while the broker is down (10,000 results
/// pending in the outbox), then the broker back: how long until all are up.
async fn outbox_drain(
    p: &Prepared,
    s: &Serve,
    sub: &muster_testkit::mqtt::Subscriber,
    broker: &mut muster_testkit::mqtt::Broker,
) -> (Duration, f64, f64) {
    let api: Api<FleetCommand> = Api::namespaced(p.client.clone(), TEAM);
    broker.stop_gracefully();
    let n = 10;
    for i in 0..n {
        let name = format!("outbox-{i}");
        let fc = json!({"apiVersion": "muster.dev/v1alpha1", "kind": "FleetCommand",
            "metadata": {"name": name, "namespace": TEAM, "labels": {"muster.dev/source": "mqtt"},
                "annotations": {"muster.dev/mqtt-command-id": name}},
            "spec": {"action": "get", "target": "cm/kube-root-ca.crt", "namespace": "default"}});
        api.patch(&name, &PatchParams::apply("bench"), &Patch::Apply(fc))
            .await
            .unwrap();
    }
    loop {
        let l = api
            .list(&ListParams::default().labels("muster.dev/source=mqtt"))
            .await
            .unwrap();
        let done = l
            .items
            .iter()
            .filter(|f| {
                f.metadata.name.as_deref().is_some_and(|x| x.starts_with("outbox-"))
                    && f.status.as_ref().is_some_and(|s| s.phase.is_finished())
            })
            .count();
        if done == n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // NB: let the bridge find them and fail to publish while the broker is down.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_pending = status_kib(s.child.id(), "VmRSS:") as f64 / 1024.0;
    let t = Instant::now();
    broker.resume();
    loop {
        let all = sub.all();
        let summaries = all
            .iter()
            .filter(|m| m["type"] == "summary" && m["command_id"].as_str().is_some_and(|c| c.starts_with("outbox-")))
            .count();
        if summaries >= n {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(600), "the outbox did not drain");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (
        t.elapsed(),
        rss_pending,
        status_kib(s.child.id(), "VmHWM:") as f64 / 1024.0,
    )
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn report(members: usize, i: &Idle) {
    println!(
        "{members:>6} members: registered in {:>6.1}s | RSS {:>6.1} MiB (peak {:>6.1}) | idle CPU {:>5.1}% of a core | probe cycle {:>5.1}s | FleetCluster status writes per probe cycle {}",
        i.registration.as_secs_f64(),
        i.rss_mib,
        i.peak_mib,
        i.cpu_percent,
        i.cycle_seconds,
        i.writes_per_cycle
    );
}

fn main() {
    let big: usize = std::env::var("HUB_BENCH_MEMBERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        println!("hub benchmark: muster serve (release) against muster sim fleets; probe interval {PROBE_INTERVAL}");
        let p = prepare(1000).await;
        let mut broker = muster_testkit::mqtt::Broker::start(&muster_testkit::mqtt::BrokerOptions::default());
        let mqtt_url = broker.as_ref().map(|b| b.url(false));
        let mqtt_args: Vec<&str> = match &mqtt_url {
            Some(u) => vec!["--mqtt-url", u, "--mqtt-namespace", TEAM, "--mqtt-hub-name", "bench"],
            None => Vec::new(),
        };
        let s = serve_with(&p, &mqtt_args);
        let small = idle(&p, &s).await;
        report(1000, &small);
        let (mut local, mut hub) = (Vec::new(), Vec::new());
        for round in 0..3 {
            local.push(local_get(&p));
            hub.push(hub_get(&p, round).await);
        }
        let (l, h) = (median(local.clone()), median(hub.clone()));
        let target = l.mul_f64(1.5) + Duration::from_secs(1);
        println!(
            "get over 1000 members, median of 3: local fan-out {:.2}s, FleetCommand create->Succeeded {:.2}s: {:.2}x (target <= 1.5x + 1s = {:.2}s: {})",
            l.as_secs_f64(),
            h.as_secs_f64(),
            h.as_secs_f64() / l.as_secs_f64(),
            target.as_secs_f64(),
            if h <= target { "met" } else { "MISSED" }
        );
        println!("  rounds: local {local:?}, hub {hub:?}");
        if let Some(b) = broker.as_mut() {
            let sub = muster_testkit::mqtt::Subscriber::start(b.port, UP, "bench-up").await;
            let mut runs = Vec::new();
            let mut rates = Vec::new();
            for round in 0..3 {
                let (t, rate) = mqtt_get(&p, &sub, b.port, round).await;
                runs.push(t);
                rates.push(rate);
            }
            let m = median(runs.clone());
            println!(
                "get over 1000 members through MQTT, median of 3: published down -> summary received up {:.2}s, against the FleetCommand through the API {:.2}s ({:.2}x); {:.0} messages/s up through the broker (rounds {runs:?})",
                m.as_secs_f64(),
                h.as_secs_f64(),
                m.as_secs_f64() / h.as_secs_f64(),
                rates.iter().copied().fold(0.0, f64::max)
            );
            let (drain, rss_pending, peak) = outbox_drain(&p, &s, &sub, b).await;
            println!(
                "MQTT outbox: 10,000 results pending while the broker was down (hub RSS {rss_pending:.1} MiB): drained {:.2}s after it returned ({:.0} results/s); hub peak RSS {peak:.1} MiB",
                drain.as_secs_f64(),
                10_000.0 / drain.as_secs_f64()
            );
        } else {
            println!("MQTT: skipped (mosquitto not installed)");
        }
        let apply = local_apply(&p);
        let rollout = hub_rollout(&p).await;
        println!(
            "rollout over 1000 members in 3 waves (1, 10%, rest; soak 0), create->Succeeded: {:.2}s (target <= 30s: {}); the CLI's plain apply of the same Deployment: {:.2}s ({:.1}x); hub RSS after {:.1} MiB (peak {:.1})",
            rollout.as_secs_f64(),
            if rollout <= Duration::from_secs(30) { "met" } else { "MISSED" },
            apply.as_secs_f64(),
            rollout.as_secs_f64() / apply.as_secs_f64(),
            status_kib(s.child.id(), "VmRSS:") as f64 / 1024.0,
            status_kib(s.child.id(), "VmHWM:") as f64 / 1024.0,
        );
        drop(s);
        drop(p);
        let p = prepare(big).await;
        let s = serve(&p);
        let large = idle(&p, &s).await;
        report(big, &large);
        println!(
            "ratios {big} vs 1000 members: registration {:.1}x, RSS {:.1}x, idle CPU {:.1}x; status writes per cycle {} (target 0)",
            large.registration.as_secs_f64() / small.registration.as_secs_f64(),
            large.rss_mib / small.rss_mib,
            large.cpu_percent / small.cpu_percent.max(0.01),
            large.writes_per_cycle
        );
    });
}
