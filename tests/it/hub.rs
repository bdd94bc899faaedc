//! `muster serve` as separate processes against a simulated hub: killed with SIGKILL in the
//! middle of a command and started again, it resumes without running an exec twice or
//! applying a write twice; with two replicas, killing the leader lets the standby finish.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams};
use muster_hub::crd::{FleetCommand, Phase};
use muster_testkit::hub::{HUB_NAMESPACE, SimHub, create_namespace};
use muster_testkit::{APP_YAML, eventually};

/// A `muster serve` process; killed (SIGKILL) when dropped.
pub struct Serve {
    child: Child,
    log: PathBuf,
}

impl Serve {
    pub fn start(sim: &SimHub, identity: &str, dir: &Path) -> Self {
        Self::start_with(sim, identity, dir, &[])
    }

    /// With more arguments (`--mqtt-url ...`).
    pub fn start_with(sim: &SimHub, identity: &str, dir: &Path, extra: &[&str]) -> Self {
        let log = dir.join(format!("{identity}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_muster"))
            .args([
                "serve",
                "--kubeconfig",
                sim.kubeconfig.to_str().unwrap(),
                "--namespace",
                HUB_NAMESPACE,
                "--metrics-addr",
                "127.0.0.1:0",
                "--identity",
                identity,
                "--lease-duration",
                "3s",
                "--sync-interval",
                "200ms",
                "--flush-interval",
                "100ms",
                "--probe-interval",
                "1h",
                "--concurrency",
                "2",
                "--audit-log",
                dir.join("audit.log").to_str().unwrap(),
            ])
            .args(extra)
            .env("RUST_LOG", "info,kube_client=off")
            .env("MUSTER_LOG_FORMAT", "text")
            .env("HOME", dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("muster serve starts");
        Self { child, log }
    }

    /// SIGKILL: no shutdown, no Lease released.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Members with the app (one replica of `web` in `shop`, its pod Ready) and a FleetPolicy
/// in team-a allowing `restart` and `exec sleep` there.
async fn prepared(members: usize) -> SimHub {
    let sim = SimHub::start(members).await;
    for m in &sim.members {
        let c = sim.member_client(m).await;
        create_namespace(&c, "shop").await;
        let mut d: serde_json::Value = serde_saphyr::from_str(APP_YAML.split("\n---\n").next().unwrap()).unwrap();
        d["spec"]["replicas"] = 1.into();
        let deploys: Api<Deployment> = Api::namespaced(c.clone(), "shop");
        deploys
            .patch("web", &PatchParams::apply("test"), &Patch::Apply(d))
            .await
            .unwrap();
        let pods: Api<Pod> = Api::namespaced(c.clone(), "shop");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let l = pods.list(&ListParams::default()).await.unwrap();
            if l.items
                .iter()
                .any(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            {
                break;
            }
            if std::time::Instant::now() > deadline {
                let d = deploys.get("web").await.unwrap();
                let rs = Api::<ReplicaSet>::namespaced(c.clone(), "shop")
                    .list(&ListParams::default())
                    .await
                    .unwrap();
                panic!(
                    "{m}: no Running pod of web: pods {:?}\ndeploy {:?}\nrs {:?}",
                    l.items
                        .iter()
                        .map(|p| (&p.metadata.name, &p.status))
                        .collect::<Vec<_>>(),
                    d.status,
                    rs.items
                        .iter()
                        .map(|r| (&r.metadata.name, &r.status))
                        .collect::<Vec<_>>()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    create_namespace(&sim.client, "team-a").await;
    let policy: serde_json::Value = serde_json::json!({
        "apiVersion": "muster.dev/v1alpha1", "kind": "FleetPolicy",
        "metadata": {"name": "team-a", "namespace": "team-a"},
        "spec": {"actions": ["get", "logs", "restart", "exec"], "namespaces": [{"clusters": "*", "allow": ["shop"]}],
                 "exec": {"enabled": true, "allow": [{"command": "sleep"}]}}});
    let api: Api<muster_hub::crd::FleetPolicy> = Api::namespaced(sim.client.clone(), "team-a");
    api.patch("team-a", &PatchParams::apply("test"), &Patch::Apply(policy))
        .await
        .unwrap();
    sim
}

async fn create(sim: &SimHub, name: &str, spec: serde_json::Value) -> Api<FleetCommand> {
    let api: Api<FleetCommand> = Api::namespaced(sim.client.clone(), "team-a");
    let fc = serde_json::json!({"apiVersion": "muster.dev/v1alpha1", "kind": "FleetCommand",
        "metadata": {"name": name, "namespace": "team-a"}, "spec": spec});
    api.patch(name, &PatchParams::apply("test"), &Patch::Apply(fc))
        .await
        .unwrap();
    api
}

fn execs(sim: &SimHub) -> Vec<u64> {
    sim.members
        .iter()
        .map(|m| sim.member(m).counters.snapshot().execs_started)
        .collect()
}

async fn done(api: &Api<FleetCommand>, name: &str) -> u64 {
    api.get(name)
        .await
        .ok()
        .and_then(|f| f.status)
        .map_or(0, |s| s.counts.values().sum())
}

async fn finished(api: &Api<FleetCommand>, name: &str, within: Duration) -> FleetCommand {
    eventually(&format!("{name} to finish"), within, || async {
        let fc = api.get(name).await.ok()?;
        fc.status.as_ref()?.phase.is_finished().then_some(fc)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_hub_resumes_without_repeating_an_exec_or_a_write() {
    let dir = tempfile::tempdir().unwrap();
    let sim = prepared(6).await;
    let mut a = Serve::start(&sim, "hub-a", dir.path());
    sim.all_healthy().await;

    // exec: two clusters at a time, two seconds each; killed while the second pair runs.
    let api = create(
        &sim,
        "sleepy",
        serde_json::json!({"action": "exec", "target": "deploy/web", "namespace": "shop", "argv": ["sleep", "2"], "timeoutSeconds": 30}),
    )
    .await;
    eventually(
        "the first pair done and the second started",
        Duration::from_secs(30),
        || {
            let api = api.clone();
            let started: u64 = execs(&sim).iter().sum();
            async move { (done(&api, "sleepy").await >= 2 && started >= 3).then_some(()) }
        },
    )
    .await;
    a.kill9();
    let at_kill = execs(&sim);
    let mut b = Serve::start(&sim, "hub-b", dir.path());
    let fc = finished(&api, "sleepy", Duration::from_secs(60)).await;
    let results = muster_hub::remote::results(&sim.client, &fc).await.unwrap();
    assert_eq!(results.len(), 6, "{results:?}");
    assert_eq!(
        execs(&sim),
        vec![1; 6],
        "every exec started exactly once (at the kill: {at_kill:?})\n{}",
        b.log()
    );
    let restarted: Vec<&str> = results
        .iter()
        .filter(|r| r.error.as_ref().is_some_and(|e| e.reason == "HubRestarted"))
        .map(|r| r.cluster.as_str())
        .collect();
    assert!(
        !restarted.is_empty(),
        "the exec in flight at the kill is reported, not re-run: {results:?}"
    );
    for r in &results {
        let was_running = at_kill[sim.members.iter().position(|m| m == &r.cluster).unwrap()] == 1;
        if r.error.as_ref().is_some_and(|e| e.reason == "HubRestarted") {
            assert!(
                was_running,
                "{}: HubRestarted only where the exec had started",
                r.cluster
            );
        } else {
            assert_eq!(r.status, muster_core::result::Status::Succeeded, "{r:?}");
        }
    }
    assert_eq!(fc.status.as_ref().unwrap().phase, Phase::PartiallySucceeded);

    // restart (a write): slow members, killed half-way; every workload restarts once.
    for m in &sim.members {
        sim.member(m).faults.send_modify(|f| f.latency_ms = 400);
    }
    let api = create(
        &sim,
        "roll",
        serde_json::json!({"action": "restart", "target": "deploy/web", "namespace": "shop"}),
    )
    .await;
    eventually("some restarts done", Duration::from_secs(30), || {
        let api = api.clone();
        async move { (done(&api, "roll").await >= 2).then_some(()) }
    })
    .await;
    b.kill9();
    let _c = Serve::start(&sim, "hub-c", dir.path());
    let fc = finished(&api, "roll", Duration::from_secs(60)).await;
    assert_eq!(fc.status.as_ref().unwrap().phase, Phase::Succeeded, "{:?}", fc.status);
    for m in &sim.members {
        sim.member(m).faults.send_modify(|f| f.latency_ms = 0);
        let c = sim.member_client(m).await;
        let d = Api::<Deployment>::namespaced(c.clone(), "shop")
            .get("web")
            .await
            .unwrap();
        assert_eq!(d.metadata.generation, Some(2), "{m}: restarted exactly once");
        let rs = Api::<ReplicaSet>::namespaced(c, "shop")
            .list(&ListParams::default())
            .await
            .unwrap();
        assert_eq!(rs.items.len(), 2, "{m}: one rollout");
    }
    let audit = std::fs::read_to_string(dir.path().join("audit.log")).unwrap();
    assert!(audit.contains("\"origin\":\"FleetCommand team-a/roll\""), "{audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_leader_dies_the_standby_finishes_the_work() {
    let dir = tempfile::tempdir().unwrap();
    let sim = prepared(4).await;
    let mut replicas = [
        Serve::start(&sim, "hub-1", dir.path()),
        Serve::start(&sim, "hub-2", dir.path()),
    ];
    sim.all_healthy().await;
    let leases: Api<Lease> = Api::namespaced(sim.client.clone(), HUB_NAMESPACE);
    let leader = eventually("a leader", Duration::from_secs(20), || async {
        leases.get("muster-hub").await.ok()?.spec?.holder_identity
    })
    .await;
    let api = create(
        &sim,
        "sleepy",
        serde_json::json!({"action": "exec", "target": "deploy/web", "namespace": "shop", "argv": ["sleep", "2"], "timeoutSeconds": 30}),
    )
    .await;
    eventually("the leader to run it", Duration::from_secs(20), || {
        let api = api.clone();
        async move { (done(&api, "sleepy").await >= 2).then_some(()) }
    })
    .await;
    let i = if leader == "hub-1" { 0 } else { 1 };
    replicas[i].kill9();
    let killed = std::time::Instant::now();
    let fc = finished(&api, "sleepy", Duration::from_secs(60)).await;
    let took = killed.elapsed();
    let new_leader = leases
        .get("muster-hub")
        .await
        .unwrap()
        .spec
        .unwrap()
        .holder_identity
        .unwrap();
    assert_ne!(new_leader, leader, "the standby took the Lease");
    assert_eq!(muster_hub::remote::results(&sim.client, &fc).await.unwrap().len(), 4);
    assert!(
        execs(&sim).iter().all(|&n| n == 1),
        "no exec repeated: {:?}",
        execs(&sim)
    );
    // NB: a 3 s lease, then at most two more 2 s execs.
    assert!(
        took < Duration::from_secs(15),
        "the standby finished {took:?} after the kill\n{}",
        replicas[1 - i].log()
    );
}

pub fn muster(args: &[&str], home: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(args)
        .env("HOME", home)
        .env("MUSTER_AUDIT_LOG", home.join("audit.log"))
        .env_remove("KUBECONFIG")
        .env_remove("MUSTER_POLICY")
        .env_remove("MUSTER_FINGERPRINT_KEY")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("muster runs")
}

/// An ExecResult list without what differs between two runs of one command.
fn comparable(json: &[u8]) -> serde_json::Value {
    let mut v: serde_json::Value =
        serde_json::from_slice(json).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(json)));
    for r in v.as_array_mut().unwrap() {
        for k in ["commandId", "durationMs", "attempts"] {
            r.as_object_mut().unwrap().remove(k);
        }
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_runs_through_the_hub_as_it_runs_locally() {
    let sim = prepared(3).await;
    let hub = sim.serve(SimHub::config("hub-cli")).await;
    sim.all_healthy().await;
    let home = sim.fleet.dir.path();
    let hub_kc = sim.kubeconfig.to_str().unwrap().to_string();
    let fleet_kc = sim.fleet.kubeconfig.to_str().unwrap().to_string();
    let members = "--clusters=sim-001,sim-002,sim-003";
    for args in [
        vec!["get", "deploy/web", "-n", "shop", "-o", "json"],
        vec!["get", "deploy/nope", "-n", "shop", "-o", "json"],
        vec!["logs", "deploy/web", "-n", "shop", "-o", "json"],
    ] {
        let local = muster(&[&args[..], &["--kubeconfig", &fleet_kc, members]].concat(), home);
        let remote = muster(
            &[
                &args[..],
                &["--kubeconfig", &hub_kc, members, "--hub", "--hub-namespace", "team-a"],
            ]
            .concat(),
            home,
        );
        assert_eq!(
            local.status.code(),
            remote.status.code(),
            "{args:?}: {}",
            String::from_utf8_lossy(&remote.stderr)
        );
        assert_eq!(comparable(&local.stdout), comparable(&remote.stdout), "{args:?}");
    }
    // Tables, for people, as a local run prints them.
    let table = muster(
        &[
            "get",
            "deploy",
            "-n",
            "shop",
            "--kubeconfig",
            &hub_kc,
            members,
            "--hub",
            "--hub-namespace",
            "team-a",
        ],
        home,
    );
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("CLUSTER") && text.contains("READY") && text.matches("web").count() == 3,
        "{text}"
    );

    // Writes need --yes; a write the namespace's policy refuses exits 2, naming the rule.
    let no = muster(
        &[
            "restart",
            "deploy/web",
            "-n",
            "shop",
            "--kubeconfig",
            &hub_kc,
            "--hub",
            "--hub-namespace",
            "team-a",
        ],
        home,
    );
    assert_eq!(no.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no.stderr).contains("--yes"));
    let refused = muster(
        &[
            "restart",
            "deploy/web",
            "-n",
            "kube-system",
            "--yes",
            "--kubeconfig",
            &hub_kc,
            members,
            "--hub",
            "--hub-namespace",
            "team-a",
        ],
        home,
    );
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("rejected by the hub") && err.contains("FleetPolicy team-a/team-a"),
        "{err}"
    );
    let ok = muster(
        &[
            "restart",
            "deploy/web",
            "-n",
            "shop",
            "--yes",
            "--kubeconfig",
            &hub_kc,
            members,
            "--hub",
            "--hub-namespace",
            "team-a",
        ],
        home,
    );
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
    assert_eq!(String::from_utf8_lossy(&ok.stdout).matches("Succeeded").count(), 3);

    // The stored report, fetched by name in any format.
    let submitted = String::from_utf8_lossy(&ok.stderr).to_string();
    let name = submitted
        .split_whitespace()
        .find(|w| w.starts_with("team-a/"))
        .unwrap_or_else(|| panic!("{submitted}"))
        .to_string();
    let report = muster(&["report", "get", &name, "--kubeconfig", &hub_kc, "-o", "json"], home);
    assert_eq!(
        report.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(r["summary"]["clusters"], 3);
    assert_eq!(r["action"], "restart");
    let md = muster(
        &["report", "get", &name, "--kubeconfig", &hub_kc, "-o", "markdown"],
        home,
    );
    assert!(String::from_utf8_lossy(&md.stdout).starts_with('#'));
    let missing = muster(&["report", "get", "team-a/nope", "--kubeconfig", &hub_kc], home);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("team-a/nope"));
    hub.shutdown().await;
}
