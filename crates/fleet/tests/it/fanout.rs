//! The fan-out against simulated fleets over HTTPS: every action checked against the
//! clusters' state, a fault matrix on 100 clusters with write counters, policy rejections
//! that send no request, cancellation, fail-fast on Unhealthy members, followed logs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::{Api, ListParams};
use muster_core::command::{Action, Command};
use muster_core::policy::Policy;
use muster_core::result::{ExecResult, Output, Status};
use muster_fleet::fanout::Fanout;
use muster_fleet::registry::{FleetConfig, Registry};
use muster_fleet::settings::Settings;
use muster_sim::faults::Faults;
use muster_sim::{Fleet, FleetOptions};
use tokio_util::sync::CancellationToken;

use muster_testkit::{APP_YAML, CRD_YAML, WIDGET_YAML, kube_client};

use crate::support::registry_of;

const NS_YAML: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n";

fn policy(text: &str) -> Policy {
    Policy::parse("test-policy.yaml", text).expect("policy parses")
}

/// A policy that allows what the action tests need.
fn open_policy() -> Policy {
    policy(
        "clusterScopedKinds: [Namespace, CustomResourceDefinition]\nexec:\n  enabled: true\n  allow: [{command: echo}, {command: exit}]\n",
    )
}

fn command(action: Action, target: Option<&str>, namespace: Option<&str>) -> Command {
    let mut c = muster_testkit::command(action);
    c.target = target.map(|t| t.parse().expect("target"));
    c.namespace = namespace.map(|n| n.parse().unwrap());
    c
}

fn apply(yaml: &str) -> Command {
    let mut c = muster_testkit::command(Action::Apply);
    c.manifests = muster_core::manifest::parse("test.yaml", yaml).expect("manifests");
    c
}

async fn run_all(fanout: &Fanout, registry: &Registry, c: Command) -> Vec<ExecResult> {
    let members = registry.members();
    let mut results: Vec<ExecResult> = fanout
        .run(Arc::new(c), members, CancellationToken::new(), None)
        .collect()
        .await;
    results.sort_by(|a, b| a.cluster.cmp(&b.cluster));
    results
}

fn assert_all(results: &[ExecResult], status: Status) {
    for r in results {
        assert_eq!(r.status, status, "{}: {:?}", r.cluster, r.error);
    }
}

#[tokio::test]
async fn every_action_on_a_fleet() {
    let fleet = Fleet::start(FleetOptions::default().clusters(3)).await.unwrap();
    let (registry, _dir) = registry_of(&fleet, &FleetConfig::default());
    let fanout = Fanout::new(registry.clone(), open_policy(), Settings::default());

    // apply: namespace, then the app, then a CRD and a custom object.
    let r = run_all(&fanout, &registry, apply(&format!("{NS_YAML}---\n{APP_YAML}"))).await;
    assert_all(&r, Status::Succeeded);
    assert!(
        matches!(&r[0].output, Output::Summary { text } if text.contains("deployment.apps/web serverside-applied"))
    );
    let r = run_all(&fanout, &registry, apply(CRD_YAML)).await;
    assert_all(&r, Status::Succeeded);
    let r = run_all(&fanout, &registry, apply(WIDGET_YAML)).await;
    assert_all(&r, Status::Succeeded);
    for c in fleet.clusters() {
        let client = kube_client(&fleet, c.name()).await;
        let d: Deployment = Api::namespaced(client, "shop").get("web").await.unwrap();
        let managers: Vec<_> = d
            .metadata
            .managed_fields
            .unwrap()
            .into_iter()
            .filter_map(|m| m.manager)
            .collect();
        assert!(managers.contains(&"muster".to_string()), "{managers:?}");
    }

    // get: one object, a kind with a label selector, a custom resource by short name.
    let r = run_all(
        &fanout,
        &registry,
        command(Action::Get, Some("deploy/web"), Some("shop")),
    )
    .await;
    assert_all(&r, Status::Succeeded);
    let Output::Objects { items, .. } = &r[0].output else {
        panic!("{:?}", r[0].output)
    };
    assert_eq!(items[0].value()["kind"], "Deployment");
    assert_eq!(items[0].value()["spec"]["replicas"], 3);
    let mut by_label = command(Action::Get, Some("cm"), Some("shop"));
    by_label.label_selector = Some("app=web".into());
    let r = run_all(&fanout, &registry, by_label).await;
    assert_all(&r, Status::Succeeded);
    let Output::Objects { items, .. } = &r[0].output else {
        panic!()
    };
    assert_eq!(items.len(), 1, "only web-config has app=web");
    assert_eq!(items[0].value()["kind"], "ConfigMap", "list items carry their kind");
    let r = run_all(&fanout, &registry, command(Action::Get, Some("wd/w1"), Some("shop"))).await;
    assert_all(&r, Status::Succeeded);
    let Output::Objects { items, .. } = &r[0].output else {
        panic!()
    };
    assert_eq!(items[0].value()["spec"]["color"], "blue");
    let r = run_all(&fanout, &registry, command(Action::Get, Some("gizmos"), Some("shop"))).await;
    assert_all(&r, Status::Failed);
    assert_eq!(r[0].error.as_ref().unwrap().reason, "UnknownResource");

    // scale
    let mut scale = command(Action::Scale, Some("deploy/web"), Some("shop"));
    scale.replicas = Some(5);
    assert_all(&run_all(&fanout, &registry, scale).await, Status::Succeeded);
    for c in fleet.clusters() {
        let d: Deployment = Api::namespaced(kube_client(&fleet, c.name()).await, "shop")
            .get("web")
            .await
            .unwrap();
        assert_eq!(d.spec.replicas, Some(5), "{}", c.name());
    }

    // restart, twice with the same command (a retry): one new ReplicaSet, not two.
    let restart = command(Action::Restart, Some("deploy/web"), Some("shop"));
    let rs_count = |client: kube::Client| async move {
        let rs: Api<ReplicaSet> = Api::namespaced(client, "shop");
        rs.list(&ListParams::default()).await.unwrap().items.len()
    };
    let client0 = kube_client(&fleet, "sim-000").await;
    let generation = |client: kube::Client| async move {
        let d: Deployment = Api::namespaced(client, "shop").get("web").await.unwrap();
        let observed = d.status.and_then(|s| s.observed_generation);
        (d.metadata.generation.unwrap_or_default(), observed)
    };
    let before = rs_count(client0.clone()).await;
    let (gen_before, _) = generation(client0.clone()).await;
    assert_all(&run_all(&fanout, &registry, restart.clone()).await, Status::Succeeded);
    assert_all(&run_all(&fanout, &registry, restart.clone()).await, Status::Succeeded);
    // NB: wait for the deployment controller to have seen the last change, not a fixed time.
    let gen_after = muster_testkit::eventually("the controller observes the restart", Duration::from_secs(10), || {
        let c = client0.clone();
        async move {
            let (g, observed) = generation(c).await;
            (observed == Some(g)).then_some(g)
        }
    })
    .await;
    assert_eq!(gen_after, gen_before + 1, "the second restart changed nothing");
    assert_eq!(
        rs_count(client0.clone()).await,
        before + 1,
        "a repeated restart restarts once"
    );
    let d: Deployment = Api::namespaced(client0.clone(), "shop").get("web").await.unwrap();
    let stamp = d.spec.template.metadata.unwrap().annotations.unwrap()["muster.dev/restartedAt"].clone();
    assert_eq!(stamp, restart.issued_at);

    // logs and exec, once the pods are ready.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let d: Deployment = Api::namespaced(client0.clone(), "shop").get("web").await.unwrap();
        let s = d.status.unwrap_or_default();
        if s.ready_replicas == Some(5) && s.updated_replicas == Some(5) && s.replicas == Some(5) {
            break;
        }
        assert!(Instant::now() < deadline, "rollout did not finish: {s:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut logs = command(Action::Logs, Some("deploy/web"), Some("shop"));
    logs.tail_lines = Some(2);
    let r = run_all(&fanout, &registry, logs).await;
    assert_all(&r, Status::Succeeded);
    let Output::Lines { lines, truncated } = &r[0].output else {
        panic!()
    };
    assert!(
        !truncated && !lines.is_empty() && lines.iter().all(|l| l.starts_with("[pod/web-")),
        "{lines:?}"
    );
    let mut exec = command(Action::Exec, Some("deploy/web"), Some("shop"));
    exec.argv = vec!["echo".into(), "hi".into()];
    let r = run_all(&fanout, &registry, exec.clone()).await;
    assert_all(&r, Status::Succeeded);
    assert_eq!(r[0].exit_code, Some(0));
    assert!(matches!(&r[0].output, Output::Streams { stdout, .. } if stdout == "hi\n"));
    exec.argv = vec!["exit".into(), "3".into()];
    let r = run_all(&fanout, &registry, exec).await;
    assert_all(&r, Status::Failed);
    assert_eq!(
        (r[0].exit_code, r[0].error.as_ref().unwrap().reason.as_str()),
        (Some(3), "NonZeroExitCode")
    );

    // delete: server dry run changes nothing; then for real; then again: 404 is a failure
    // when no earlier attempt could have deleted it.
    let mut dry = command(Action::Delete, Some("deploy/web"), Some("shop"));
    dry.server_dry_run = true;
    assert_all(&run_all(&fanout, &registry, dry).await, Status::Succeeded);
    assert!(
        Api::<Deployment>::namespaced(client0.clone(), "shop")
            .get("web")
            .await
            .is_ok()
    );
    let delete = command(Action::Delete, Some("deploy/web"), Some("shop"));
    assert_all(&run_all(&fanout, &registry, delete.clone()).await, Status::Succeeded);
    for c in fleet.clusters() {
        let api: Api<Deployment> = Api::namespaced(kube_client(&fleet, c.name()).await, "shop");
        assert!(api.get_opt("web").await.unwrap().is_none(), "{}", c.name());
    }
    let r = run_all(&fanout, &registry, delete).await;
    assert_all(&r, Status::Failed);
    assert_eq!(r[0].error.as_ref().unwrap().code, Some(404));
    fleet.shutdown().await;
}

#[tokio::test]
async fn fault_matrix_on_100_clusters() {
    let fleet = Fleet::start(FleetOptions::default().clusters(100).seed(7))
        .await
        .unwrap();
    let (registry, _dir) = registry_of(&fleet, &FleetConfig::default());
    let names: Vec<String> = fleet.clusters().iter().map(|c| c.name().to_string()).collect();
    // NB: 10% answer 503 and 10% 429 (Retry-After: 1) to half their requests, so retries
    // can succeed; 5% hang; 5% refuse connections; the rest are healthy.
    for (i, c) in fleet.clusters().iter().enumerate() {
        let f = match i {
            0..10 => Faults {
                error_rate: 0.5,
                error_code: Some(503),
                ..Faults::default()
            },
            10..20 => Faults {
                error_rate: 0.5,
                error_code: Some(429),
                retry_after_seconds: Some(1),
                ..Faults::default()
            },
            20..25 => Faults {
                hang: true,
                ..Faults::default()
            },
            25..30 => Faults {
                refuse: true,
                ..Faults::default()
            },
            _ => Faults::default(),
        };
        c.set_faults(f).unwrap();
        c.settled(Duration::from_secs(5)).await.unwrap();
    }
    let deadline = Duration::from_secs(10);
    let settings = Settings::default()
        .call_timeout(Duration::from_secs(2))
        .deadline(deadline)
        .max_attempts(6);
    let fanout = Fanout::new(registry.clone(), Policy::default(), settings);
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fleet-marker, namespace: default}\ndata: {v: '1'}\n";
    let started = Instant::now();
    let results = run_all(&fanout, &registry, apply(cm)).await;
    let took = started.elapsed();
    assert!(
        took < deadline + Duration::from_secs(2),
        "the deadline bounds the command: {took:?}"
    );
    let got: Vec<&str> = results.iter().map(|r| r.cluster.as_str()).collect();
    assert_eq!(
        got,
        names.iter().map(String::as_str).collect::<Vec<_>>(),
        "one result per cluster"
    );

    let key = "PATCH /api/v1/namespaces/default/configmaps/fleet-marker";
    let mut retried = 0;
    for (i, (r, c)) in results.iter().zip(fleet.clusters()).enumerate() {
        let applied = c.counters().applied_by_target.get(key).copied().unwrap_or(0);
        let ctx = format!("{} ({:?}, {} attempts, {:?})", r.cluster, r.status, r.attempts, r.error);
        match i {
            0..20 => {
                // Retried through the faults; a success landed exactly once.
                let (ok_status, fail_status) = if i < 10 {
                    (Status::Succeeded, Status::Failed)
                } else {
                    (Status::Succeeded, Status::Throttled)
                };
                assert!(r.status == ok_status || r.status == fail_status, "{ctx}");
                assert_eq!(applied, u64::from(r.status == ok_status), "{ctx}");
                if r.attempts > 1 {
                    retried += 1;
                }
            }
            20..25 => {
                assert_eq!(r.status, Status::TimedOut, "{ctx}");
                assert_eq!(applied, 0, "{ctx}");
            }
            25..30 => {
                assert_eq!(r.status, Status::Unreachable, "{ctx}");
                assert_eq!(r.error.as_ref().unwrap().reason, "ConnectionFailed", "{ctx}");
                assert!(r.attempts > 1, "connection failures are retried: {ctx}");
            }
            _ => {
                assert_eq!(r.status, Status::Succeeded, "{ctx}");
                assert_eq!((r.attempts, applied), (1, 1), "{ctx}");
            }
        }
    }
    assert!(retried >= 5, "the faults made the fan-out retry ({retried} clusters)");
    let throttled_ok = results[10..20]
        .iter()
        .filter(|r| r.status == Status::Succeeded && r.attempts > 1);
    for r in throttled_ok {
        assert!(
            r.duration_ms >= 900,
            "Retry-After: 1 was honoured: {} took {} ms",
            r.cluster,
            r.duration_ms
        );
    }
    fleet.shutdown().await;
}

#[tokio::test]
async fn policy_rejections_send_no_request() {
    let fleet = Fleet::start(FleetOptions::default().clusters(2)).await.unwrap();
    let config = FleetConfig::parse("fleet.yaml", "labels:\n- {match: '*', labels: {env: prod}}\n").unwrap();
    let (registry, _dir) = registry_of(&fleet, &config);
    let p = policy(
        "actions: [get, apply, scale, exec, logs]\nnamespaces:\n- {selector: env=prod, allow: [shop, team-*]}\nexec:\n  enabled: true\n  allow: [{command: cat, args: ['/etc/*']}]\ncaps: {maxTailLines: 50}\n",
    );
    let fanout = Fanout::new(registry.clone(), p, Settings::default());
    let mut exec_cat = command(Action::Exec, Some("deploy/web"), Some("shop"));
    exec_cat.argv = vec!["cat".into(), "/root/.ssh/id_rsa".into()];
    let mut exec_sh = command(Action::Exec, Some("deploy/web"), Some("shop"));
    exec_sh.argv = vec!["sh".into(), "-c".into(), "id".into()];
    let mut tail = command(Action::Logs, Some("deploy/web"), Some("shop"));
    tail.tail_lines = Some(500);
    let hidden_crb = apply(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: shop}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: sneaky}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\n",
    );
    let hidden_secret = apply(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: shop}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: billing}\nstringData: {k: v}\n",
    );
    let mut scale_protected = command(Action::Scale, Some("deploy/coredns"), Some("kube-system"));
    scale_protected.replicas = Some(1);
    let cases = [
        (
            command(Action::Delete, Some("deploy/web"), Some("shop")),
            "ActionNotAllowed",
        ),
        (
            command(Action::Get, Some("deploy/web"), Some("billing")),
            "NamespaceNotAllowed",
        ),
        (scale_protected, "ProtectedNamespace"),
        (exec_cat, "ExecCommandNotAllowed"),
        (exec_sh, "ExecShellDenied"),
        (tail, "CapExceeded"),
        (hidden_crb, "ClusterScopedDenied"),
        (hidden_secret, "NamespaceNotAllowed"),
    ];
    for c in fleet.clusters() {
        c.state().counters.reset();
    }
    for (cmd, rule) in cases {
        let r = run_all(&fanout, &registry, cmd).await;
        assert_eq!(r.len(), 2);
        for x in &r {
            assert_eq!(x.status, Status::Rejected);
            assert_eq!(x.error.as_ref().unwrap().reason, rule, "{:?}", x.error);
            assert_eq!(x.attempts, 0);
        }
    }
    for c in fleet.clusters() {
        assert_eq!(
            c.counters().requests,
            0,
            "{}: a rejected command made a request",
            c.name()
        );
    }
    // The passing side of the same rules.
    let r = run_all(&fanout, &registry, command(Action::Get, Some("cm"), Some("team-a"))).await;
    assert_all(&r, Status::Succeeded);
    assert!(fleet.clusters().iter().all(|c| c.counters().requests > 0));
    fleet.shutdown().await;
}

#[tokio::test]
async fn cancellation_and_unhealthy_members() {
    let fleet = Fleet::start(FleetOptions::default().clusters(4)).await.unwrap();
    let (registry, _dir) = registry_of(&fleet, &FleetConfig::default());
    for c in &fleet.clusters()[..3] {
        c.set_faults(Faults {
            hang: true,
            ..Faults::default()
        })
        .unwrap();
    }
    let fanout = Fanout::new(registry.clone(), Policy::default(), Settings::default());
    let cancel = CancellationToken::new();
    let stream = fanout.run(
        Arc::new(command(Action::Get, Some("ns/default"), None)),
        registry.members(),
        cancel.clone(),
        None,
    );
    let started = Instant::now();
    // NB: cancel as soon as the one answering cluster's result is in (the others hang).
    let mut results: Vec<ExecResult> = stream
        .inspect(|r| {
            if r.status == Status::Succeeded {
                cancel.cancel();
            }
        })
        .collect()
        .await;
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    results.sort_by(|a, b| a.cluster.cmp(&b.cluster));
    assert_eq!(results.len(), 4);
    assert_all(&results[..3], Status::Cancelled);
    assert_eq!(results[3].status, Status::Succeeded, "what finished is kept");

    // --probe: a refusing member is found Unhealthy and not contacted again.
    fleet.clusters()[0]
        .set_faults(Faults {
            refuse: true,
            ..Faults::default()
        })
        .unwrap();
    for c in &fleet.clusters()[..3] {
        if c.name() != "sim-000" {
            c.set_faults(Faults::default()).unwrap();
        }
        c.settled(Duration::from_secs(5)).await.unwrap();
    }
    let probing = Fanout::new(registry.clone(), Policy::default(), Settings::default().probe(true));
    let r = run_all(&probing, &registry, command(Action::Get, Some("ns/default"), None)).await;
    assert_eq!(r[0].status, Status::Unreachable);
    assert_eq!(
        (r[0].error.as_ref().unwrap().reason.as_str(), r[0].attempts),
        ("Unhealthy", 0)
    );
    assert_all(&r[1..], Status::Succeeded);
    fleet.shutdown().await;
}

#[tokio::test]
async fn followed_logs_stream_until_cancelled_and_close() {
    let fleet = Fleet::start(FleetOptions::default().clusters(2)).await.unwrap();
    let (registry, _dir) = registry_of(&fleet, &FleetConfig::default());
    let fanout = Fanout::new(registry.clone(), open_policy(), Settings::default());
    let r = run_all(&fanout, &registry, apply(&format!("{NS_YAML}---\n{APP_YAML}"))).await;
    assert_all(&r, Status::Succeeded);
    // Wait for running pods.
    let deadline = Instant::now() + Duration::from_secs(10);
    for c in fleet.clusters() {
        let api: Api<Deployment> = Api::namespaced(kube_client(&fleet, c.name()).await, "shop");
        while api.get("web").await.unwrap().status.and_then(|s| s.ready_replicas) != Some(3) {
            assert!(Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let mut follow = command(Action::Logs, Some("deploy/web"), Some("shop"));
    follow.follow = true;
    follow.tail_lines = Some(1);
    let cancel = CancellationToken::new();
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let stream = fanout.run(Arc::new(follow), registry.members(), cancel.clone(), Some(tx));
    let collector = tokio::spawn(stream.collect::<Vec<ExecResult>>());
    let mut seen = BTreeMap::<String, usize>::new();
    while seen.len() < 2 {
        let line = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("lines arrive")
            .unwrap();
        assert!(line.pod.starts_with("web-"));
        *seen.entry(line.cluster).or_default() += 1;
    }
    let live = || {
        fleet
            .clusters()
            .iter()
            .map(|c| c.state().log_streams.active())
            .sum::<usize>()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while live() < 6 {
        assert!(
            Instant::now() < deadline,
            "one stream per pod per cluster: {} open",
            live()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cancel.cancel();
    let results = tokio::time::timeout(Duration::from_secs(5), collector)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(results.len(), 2);
    assert_all(&results, Status::Succeeded);
    assert!(
        results
            .iter()
            .all(|r| matches!(&r.output, Output::Summary { text } if text.contains("stream ended"))),
        "a stopped follow is a normal end: {results:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if live() == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{} log streams left open", live());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    fleet.shutdown().await;
}
