//! The hub end to end, in this process, on a simulated hub with simulated members: a
//! FleetCommand created with the real kubectl runs once and stores its report, FleetClusters
//! follow the registry, health and metrics answer.

use std::time::Duration;

use kube::api::{Api, ListParams};
use muster_hub::crd::{FleetCluster, FleetCommand, Phase};
use muster_testkit::hub::{Registration, SimHub, create_namespace};
use muster_testkit::{Kubectl, eventually};

/// Wait until a FleetCommand has finished; its final state.
pub async fn finished(client: &kube::Client, ns: &str, name: &str, within: Duration) -> FleetCommand {
    let api: Api<FleetCommand> = Api::namespaced(client.clone(), ns);
    eventually(&format!("FleetCommand {ns}/{name} to finish"), within, || {
        let api = api.clone();
        async move {
            let fc = api.get(name).await.ok()?;
            let s = fc.status.as_ref()?;
            (s.phase.is_finished() && s.observed_generation == fc.metadata.generation).then_some(fc)
        }
    })
    .await
}

/// The reasons of the Events about an object, oldest first.
pub async fn event_reasons(client: &kube::Client, ns: &str, name: &str) -> Vec<String> {
    let api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), ns);
    let mut events: Vec<_> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .collect();
    events.sort_by_key(|e| e.event_time.clone().map(|t| t.0));
    events.into_iter().filter_map(|e| e.reason).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_command_from_kubectl_runs_once_and_stores_its_report() {
    let _machine = crate::shared().await;
    crate::logs();
    if muster_testkit::kubectl_binary().is_none() {
        return;
    }
    let sim = SimHub::start_with(3, Registration::ClusterApi).await;
    let kubectl = Kubectl::new(&sim.kubeconfig).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = SimHub::config("hub-a");
    config.audit_log = Some(dir.path().join("audit.log"));
    config.capi_namespaces = Some(vec!["capi".into()]);
    config.secret_key = muster_core::report::normalize::SecretKey::new(&[9; 32]);
    // A Secret on every member: its value must never reach the hub.
    for m in &sim.members {
        let c = sim.member_client(m).await;
        let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(c, "default");
        let s = serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "stringData": {"password": "hunter2-s3cret"}});
        secrets
            .patch(
                "db",
                &kube::api::PatchParams::apply("test"),
                &kube::api::Patch::Apply(s),
            )
            .await
            .unwrap();
    }
    let hub = sim.serve(config).await;
    create_namespace(&sim.client, "team-a").await;

    // FleetClusters follow the registry, and kubectl shows them.
    let fcs: Api<FleetCluster> = Api::all(sim.client.clone());
    sim.all_healthy().await;
    let table = kubectl.ok(&["get", "fleetclusters"]);
    assert!(
        table.contains("MEMBER") && table.contains("HEALTH") && table.contains("sim-002"),
        "{table}"
    );

    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: muster.dev/v1alpha1\nkind: FleetCommand\nmetadata: {name: roots, namespace: team-a}\nspec:\n  action: get\n  target: cm/kube-root-ca.crt\n  namespace: default\n",
    );
    let fc = finished(&sim.client, "team-a", "roots", Duration::from_secs(30)).await;
    let s = fc.status.clone().unwrap();
    assert_eq!(s.phase, Phase::Succeeded, "{s:?}");
    assert_eq!(s.clusters, 3);
    assert_eq!(s.counts.get("Succeeded"), Some(&3));
    assert_eq!(
        s.variants.as_ref().map(|v| v.variants),
        Some(1),
        "server-filled CA bundles are not drift"
    );
    let report = muster_hub::remote::report_json(&sim.client, &fc, None).await.unwrap();
    let report: muster_core::report::Report = serde_json::from_str(&report).unwrap();
    assert_eq!(report.summary.clusters, 3);
    let results = muster_hub::remote::results(&sim.client, &fc).await.unwrap();
    assert_eq!(
        results.iter().map(|r| r.cluster.as_str()).collect::<Vec<_>>(),
        ["capi/sim-001", "capi/sim-002", "capi/sim-003"]
    );
    let listed = kubectl.ok(&["get", "fleetcommands", "-n", "team-a"]);
    assert!(
        listed.contains("Succeeded") && listed.contains("cm/kube-root-ca.crt"),
        "{listed}"
    );
    eventually("Started and Completed Events", Duration::from_secs(10), || {
        let c = sim.client.clone();
        async move {
            let r = event_reasons(&c, "team-a", "roots").await;
            (r.contains(&"Started".to_string()) && r.contains(&"Completed".to_string())).then_some(())
        }
    })
    .await;

    assert_eq!(s.runs, 1);

    // Secrets: fingerprints in the stored results and report; never the value, anywhere.
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: muster.dev/v1alpha1\nkind: FleetCommand\nmetadata: {name: secrets, namespace: team-a}\nspec:\n  action: get\n  target: secret/db\n  namespace: default\n",
    );
    let fc = finished(&sim.client, "team-a", "secrets", Duration::from_secs(30)).await;
    let stored = muster_hub::remote::results(&sim.client, &fc).await.unwrap();
    let report = muster_hub::remote::report_json(&sim.client, &fc, None).await.unwrap();
    let everything = format!(
        "{}\n{report}\n{}\n{}",
        serde_json::to_string(&stored).unwrap(),
        kubectl.ok(&["get", "fleetcommand", "secrets", "-n", "team-a", "-o", "yaml"]),
        kubectl.ok(&["get", "events", "-A", "-o", "yaml"])
    );
    for leak in ["hunter2-s3cret", "aHVudGVyMi1zM2NyZXQ="] {
        assert!(!everything.contains(leak), "{leak} reached the hub");
    }
    assert!(serde_json::to_string(&stored).unwrap().contains("fingerprint:"));
    let audit = std::fs::read_to_string(dir.path().join("audit.log")).unwrap_or_default();
    assert!(!audit.contains("hunter2"));

    // Hot reload: a Cluster API Secret deleted, its member and FleetCluster go.
    kubectl.ok(&["delete", "secret", "sim-003-kubeconfig", "-n", "capi"]);
    eventually(
        "the FleetCluster of the removed member to go",
        Duration::from_secs(20),
        || {
            let fcs = fcs.clone();
            async move { fcs.get_opt("capi.sim-003").await.ok()?.is_none().then_some(()) }
        },
    )
    .await;

    // Health and metrics.
    let http = |path: &'static str| {
        let addr = hub.http;
        async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        }
    };
    assert!(http("/healthz").await.starts_with("HTTP/1.1 200"));
    assert!(http("/readyz").await.starts_with("HTTP/1.1 200"));
    let needles = [
        "muster_commands_total{action=\"get\",outcome=\"Succeeded\"} 2",
        "muster_members{health=\"Healthy\"} 2",
        "muster_leader 1",
        "muster_requests_total{cluster=\"capi/sim-001\",action=\"get\",code=\"200\"}",
        "muster_request_duration_seconds_bucket{action=\"get\",code=\"200\",le=",
    ];
    eventually("the metrics", Duration::from_secs(10), || {
        let m = http("/metrics");
        async move {
            let m = m.await;
            needles.iter().all(|n| m.contains(n)).then_some(())
        }
    })
    .await;
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_changes_are_events_and_a_healthy_fleet_writes_nothing() {
    let _machine = crate::shared().await;
    crate::logs();
    let sim = SimHub::start(2).await;
    let mut config = SimHub::config("hub-h");
    config.probe_interval = Duration::from_millis(200);
    let hub = sim.serve(config).await;
    let fcs: Api<FleetCluster> = Api::all(sim.client.clone());
    let health = |name: &'static str, want: &'static str| {
        let fcs = fcs.clone();
        async move {
            eventually(&format!("{name} {want}"), Duration::from_secs(20), move || {
                let fcs = fcs.clone();
                async move { (fcs.get(name).await.ok()?.status?.health == want).then_some(()) }
            })
            .await;
        }
    };
    health("sim-001", "Healthy").await;
    health("sim-002", "Healthy").await;
    let cycles = |m: &muster_hub::metrics::Metrics| {
        m.encode()
            .lines()
            .find_map(|l| {
                l.strip_prefix("muster_probe_cycle_seconds_count ")
                    .and_then(|v| v.parse::<u64>().ok())
            })
            .unwrap_or(0)
    };
    let (m, c0) = (hub.ctx.metrics.clone(), cycles(&hub.ctx.metrics));
    let w0 = m.status_writes();
    eventually("three more probe cycles", Duration::from_secs(20), || {
        let m = m.clone();
        async move { (cycles(&m) >= c0 + 3).then_some(()) }
    })
    .await;
    assert_eq!(
        m.status_writes(),
        w0,
        "probe cycles over a healthy fleet write no status"
    );
    // sim-002 stops answering: Unhealthy (a Warning Event), then back: Recovered.
    sim.member("sim-002").faults.send_modify(|f| f.refuse = true);
    health("sim-002", "Unhealthy").await;
    let fc = fcs.get("sim-002").await.unwrap();
    let s = fc.status.unwrap();
    assert!(s.reason.as_deref().is_some_and(|r| r.contains("sim-002")), "{s:?}");
    assert_eq!(s.conditions[0].status, "False");
    sim.member("sim-002").faults.send_modify(|f| f.refuse = false);
    health("sim-002", "Healthy").await;
    eventually("Unhealthy and Recovered Events", Duration::from_secs(10), || {
        let c = sim.client.clone();
        async move {
            let r = event_reasons(&c, "default", "sim-002").await;
            (r.contains(&"Unhealthy".to_string()) && r.contains(&"Recovered".to_string())).then_some(())
        }
    })
    .await;
    hub.shutdown().await;
}
