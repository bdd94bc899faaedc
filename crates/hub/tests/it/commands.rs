//! FleetCommands on an in-process hub: tenant isolation (nothing sent outside a namespace's
//! FleetPolicy), invalid specs refused with the field named, cordoned clusters left out,
//! deletion cancelling a run, scheduled comparisons raising drift Events, and TTLs.

use std::time::Duration;

use kube::api::{Api, DeleteParams, Patch, PatchParams};
use muster_hub::crd::{FleetCluster, FleetCommand, Phase};
use muster_testkit::hub::{RunningHub, SimHub, create_namespace};
use muster_testkit::{Kubectl, eventually};

use crate::serve::{event_reasons, finished};

/// A hub whose members are all Healthy (and probed no more for an hour: requests to the
/// members after this are the commands' own).
async fn quiet_hub(members: usize, audit: &std::path::Path) -> (SimHub, RunningHub, Kubectl) {
    crate::logs();
    let sim = SimHub::start(members).await;
    let mut config = SimHub::config("hub-a");
    config.probe_interval = Duration::from_secs(3600);
    config.audit_log = Some(audit.to_path_buf());
    let hub = sim.serve(config).await;
    sim.all_healthy().await;
    create_namespace(&sim.client, "team-a").await;
    let kubectl = Kubectl::new(&sim.kubeconfig).expect("kubectl");
    (sim, hub, kubectl)
}

fn member_requests(sim: &SimHub) -> u64 {
    sim.members
        .iter()
        .map(|m| sim.member(m).counters.snapshot().requests)
        .sum()
}

fn command_yaml(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: muster.dev/v1alpha1\nkind: FleetCommand\nmetadata: {{name: {name}, namespace: team-a}}\nspec:\n{spec}"
    )
}

fn condition(fc: &FleetCommand, type_: &str) -> (String, String, String) {
    fc.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == type_))
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_never_reaches_clusters_or_namespaces_its_policy_does_not_allow() {
    let _machine = crate::shared().await;
    if muster_testkit::kubectl_binary().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.log");
    let (sim, hub, kubectl) = quiet_hub(3, &audit).await;
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: muster.dev/v1alpha1\nkind: FleetPolicy\nmetadata: {name: team-a, namespace: team-a}\nspec:\n  clusters: {names: [sim-001]}\n  namespaces: [{clusters: '*', allow: [team-a]}]\n",
    );
    let attacks = [
        (
            "named",
            "  action: scale\n  target: deploy/web\n  replicas: 0\n  namespace: team-a\n  clusters: {names: [sim-002]}\n",
            "ClusterNotAllowed",
        ),
        (
            "glob",
            "  action: scale\n  target: deploy/web\n  replicas: 0\n  namespace: team-a\n  clusters: {names: ['sim-00*']}\n",
            "ClusterNotAllowed",
        ),
        (
            "everything",
            "  action: get\n  target: pods\n  namespace: team-a\n",
            "ClusterNotAllowed",
        ),
        (
            "by-label",
            "  action: get\n  target: pods\n  namespace: team-a\n  clusters: {selector: '!nonexistent'}\n",
            "ClusterNotAllowed",
        ),
        (
            "other-namespace",
            "  action: delete\n  target: cm/kube-root-ca.crt\n  namespace: team-b\n  clusters: {names: [sim-001]}\n",
            "NamespaceNotAllowed",
        ),
        (
            "protected",
            "  action: delete\n  target: cm/kube-root-ca.crt\n  namespace: kube-system\n  clusters: {names: [sim-001]}\n",
            "ProtectedNamespace",
        ),
        (
            "manifest-elsewhere",
            "  action: apply\n  manifests: [{apiVersion: v1, kind: ConfigMap, metadata: {name: x, namespace: team-b}}]\n  clusters: {names: [sim-001]}\n",
            "NamespaceNotAllowed",
        ),
        (
            "all-namespaces",
            "  action: get\n  target: secrets\n  allNamespaces: true\n  clusters: {names: [sim-001]}\n",
            "AllNamespacesDenied",
        ),
        (
            "exec",
            "  action: exec\n  target: deploy/web\n  namespace: team-a\n  argv: [sh, -c, id]\n  clusters: {names: [sim-001]}\n",
            "ExecDisabled",
        ),
    ];
    let before = member_requests(&sim);
    let others = |sim: &SimHub| {
        sim.member("sim-002").counters.snapshot().requests + sim.member("sim-003").counters.snapshot().requests
    };
    let others_before = others(&sim);
    for (name, spec, reason) in attacks {
        kubectl.ok_stdin(&["apply", "-f", "-"], &command_yaml(name, spec));
        let fc = finished(&sim.client, "team-a", name, Duration::from_secs(20)).await;
        let s = fc.status.clone().unwrap();
        assert_eq!(s.phase, Phase::Rejected, "{name}: {s:?}");
        let (status, got, message) = condition(&fc, "Accepted");
        assert_eq!((status.as_str(), got.as_str()), ("False", reason), "{name}: {message}");
        assert!(
            message.contains("FleetPolicy team-a/team-a"),
            "{name}: names the policy: {message}"
        );
        eventually(&format!("{name}: a Rejected Event"), Duration::from_secs(10), || {
            let c = sim.client.clone();
            async move {
                event_reasons(&c, "team-a", name)
                    .await
                    .contains(&"Rejected".to_string())
                    .then_some(())
            }
        })
        .await;
    }
    assert_eq!(
        member_requests(&sim),
        before,
        "a rejected command sends nothing to any member"
    );
    let log = std::fs::read_to_string(&audit).unwrap();
    for (name, _, _) in attacks.iter().filter(|(_, s, _)| !s.contains("action: get")) {
        assert!(
            log.lines()
                .any(|l| l.contains("\"phase\":\"rejected\"") && l.contains(&format!("FleetCommand team-a/{name}\""))),
            "{name}: no audit record of the rejection in:\n{log}"
        );
    }
    assert!(
        log.contains("\"user\":\"muster-hub/hub-a\""),
        "the hub's identity: {log}"
    );

    // The control: what the policy allows is sent.
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        &command_yaml(
            "allowed",
            "  action: get\n  target: cm/kube-root-ca.crt\n  namespace: team-a\n  clusters: {names: [sim-001]}\n",
        ),
    );
    let fc = finished(&sim.client, "team-a", "allowed", Duration::from_secs(20)).await;
    assert_ne!(fc.status.unwrap().phase, Phase::Rejected);
    assert!(member_requests(&sim) > before, "the allowed command reached sim-001");
    assert_eq!(others(&sim), others_before, "and only sim-001");
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_fleet_commands_are_refused_naming_the_field() {
    let _machine = crate::shared().await;
    if muster_testkit::kubectl_binary().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (sim, hub, kubectl) = quiet_hub(2, &dir.path().join("audit.log")).await;
    // The CRD schema refuses what it can describe.
    for (spec, needle) in [
        ("  action: reboot\n  target: deploy/web\n", "spec.action"),
        ("  action: get\n  target: 7\n  replicas: lots\n", "spec.replicas"),
        (
            "  action: scale\n  target: deploy/web\n  cascade: sideways\n",
            "spec.cascade",
        ),
    ] {
        let out = kubectl.run_stdin(&["apply", "-f", "-"], &command_yaml("schema", spec));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(needle), "{spec}: {err}");
    }
    let api: Api<FleetCommand> = Api::namespaced(sim.client.clone(), "team-a");
    assert!(api.get_opt("schema").await.unwrap().is_none());
    // The hub refuses the rest, naming the field; nothing is sent.
    let before = member_requests(&sim);
    let cases = [
        (
            "bad-selector",
            "  action: get\n  target: pods\n  clusters: {selector: 'env in (prod'}\n",
            "InvalidSelector",
            "spec.clusters.selector",
        ),
        (
            "bad-target",
            "  action: get\n  target: 'deploy/web/extra'\n",
            "InvalidSpec",
            "spec.target",
        ),
        (
            "bad-namespace",
            "  action: get\n  target: pods\n  namespace: Team_A\n",
            "InvalidSpec",
            "spec.namespace",
        ),
        (
            "no-replicas",
            "  action: scale\n  target: deploy/web\n",
            "InvalidSpec",
            "spec.replicas",
        ),
        ("apply-nothing", "  action: apply\n", "InvalidSpec", "spec.manifests"),
        (
            "bad-manifest-ns",
            "  action: apply\n  namespace: team-a\n  manifests: [{apiVersion: v1, kind: ConfigMap, metadata: {name: x, namespace: kube-system}}]\n",
            "InvalidSpec",
            "spec.manifests[0]",
        ),
        (
            "missing-configmap",
            "  action: apply\n  manifestsFrom: {configMap: nope}\n",
            "ManifestsNotFound",
            "spec.manifestsFrom",
        ),
        (
            "unknown-cluster",
            "  action: get\n  target: pods\n  clusters: {names: [sim-009]}\n",
            "NothingSelected",
            "sim-009",
        ),
        (
            "bad-schedule",
            "  action: get\n  target: pods\n  schedule: 'every tuesday'\n",
            "InvalidSpec",
            "spec.schedule",
        ),
        (
            "shell-exec",
            "  action: exec\n  target: deploy/web\n  argv: []\n",
            "InvalidSpec",
            "spec.argv",
        ),
    ];
    for (name, spec, reason, field) in cases {
        kubectl.ok_stdin(&["apply", "-f", "-"], &command_yaml(name, spec));
        let fc = finished(&sim.client, "team-a", name, Duration::from_secs(20)).await;
        assert_eq!(fc.status.as_ref().unwrap().phase, Phase::Rejected, "{name}");
        let (_, got, message) = condition(&fc, "Accepted");
        assert_eq!(got, reason, "{name}: {message}");
        assert!(message.contains(field), "{name}: the message names {field}: {message}");
    }
    assert_eq!(member_requests(&sim), before, "nothing was sent");
    // Fixing the spec runs it (a new generation).
    api.patch(
        "bad-target",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"target": "cm/kube-root-ca.crt", "namespace": "default"}})),
    )
    .await
    .unwrap();
    eventually("the fixed command to succeed", Duration::from_secs(20), || {
        let api = api.clone();
        async move {
            let s = api.get("bad-target").await.ok()?.status?;
            (s.phase == Phase::Succeeded).then_some(())
        }
    })
    .await;
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cordoned_clusters_are_left_out_and_deleting_a_running_command_cancels_it() {
    let _machine = crate::shared().await;
    if muster_testkit::kubectl_binary().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.log");
    let (sim, hub, kubectl) = quiet_hub(3, &audit).await;
    kubectl.ok(&[
        "patch",
        "fleetcluster",
        "sim-003",
        "--type=merge",
        "-p",
        "{\"spec\":{\"cordoned\":true}}",
    ]);
    kubectl.ok(&["label", "fleetcluster", "sim-002", "tier=gold"]);
    let fcs: Api<FleetCluster> = Api::all(sim.client.clone());
    eventually(
        "the hub to see the cordon and the label",
        Duration::from_secs(10),
        || {
            let (fcs, ctx) = (fcs.clone(), hub.ctx.clone());
            async move {
                let m3 = ctx.registry.get("sim-003")?;
                let m2 = ctx.registry.get("sim-002")?;
                let seen = ctx.overlay(&m3).1 && ctx.overlay(&m2).0.get("tier").map(String::as_str) == Some("gold");
                let labels = fcs.get("sim-002").await.ok()?.status?.labels;
                (seen && labels.get("tier").map(String::as_str) == Some("gold")).then_some(())
            }
        },
    )
    .await;
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        &command_yaml(
            "roots",
            "  action: get\n  target: cm/kube-root-ca.crt\n  namespace: default\n",
        ),
    );
    let fc = finished(&sim.client, "team-a", "roots", Duration::from_secs(20)).await;
    assert_eq!(
        fc.status.as_ref().unwrap().clusters,
        2,
        "the cordoned cluster is left out"
    );
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        &command_yaml(
            "gold",
            "  action: get\n  target: cm/kube-root-ca.crt\n  namespace: default\n  clusters: {selector: tier=gold}\n",
        ),
    );
    let fc = finished(&sim.client, "team-a", "gold", Duration::from_secs(20)).await;
    let results = muster_hub::remote::results(&sim.client, &fc).await.unwrap();
    assert_eq!(
        results.iter().map(|r| r.cluster.as_str()).collect::<Vec<_>>(),
        ["sim-002"],
        "a FleetCluster's own labels select"
    );
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        &command_yaml(
            "named-cordoned",
            "  action: get\n  target: pods\n  clusters: {names: [sim-003]}\n",
        ),
    );
    let fc = finished(&sim.client, "team-a", "named-cordoned", Duration::from_secs(20)).await;
    assert_eq!(condition(&fc, "Accepted").1, "Cordoned");

    // A slow command, deleted while it runs: cancelled, recorded, gone.
    for m in &sim.members {
        sim.member(m).faults.send_modify(|f| f.latency_ms = 3000);
    }
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        &command_yaml("slow", "  action: scale\n  target: deploy/web\n  replicas: 2\n  namespace: default\n  clusters: {names: [sim-001, sim-002]}\n"),
    );
    let api: Api<FleetCommand> = Api::namespaced(sim.client.clone(), "team-a");
    eventually("the slow command to run", Duration::from_secs(10), || {
        let api = api.clone();
        async move { (api.get("slow").await.ok()?.status?.phase == Phase::Running).then_some(()) }
    })
    .await;
    api.delete("slow", &DeleteParams::default()).await.unwrap();
    eventually("the deleted command to be gone", Duration::from_secs(15), || {
        let api = api.clone();
        async move { api.get_opt("slow").await.ok()?.is_none().then_some(()) }
    })
    .await;
    let log = std::fs::read_to_string(&audit).unwrap();
    let cancelled = log
        .lines()
        .find(|l| l.contains("\"phase\":\"cancelled\"") && l.contains("FleetCommand team-a/slow"))
        .unwrap_or_else(|| panic!("no cancellation in the audit log:\n{log}"));
    assert!(cancelled.contains("Cancelled"), "{cancelled}");
    assert!(hub.ctx.runs.is_empty());
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_comparison_raises_drift_and_keeps_its_last_reports() {
    let _machine = crate::shared().await;
    if muster_testkit::kubectl_binary().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (sim, hub, kubectl) = quiet_hub(3, &dir.path().join("audit.log")).await;
    let cm = |v: &str| serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "default"}, "data": {"mode": v}});
    for m in &sim.members {
        let c = sim.member_client(m).await;
        let api: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(c, "default");
        api.patch("settings", &PatchParams::apply("test"), &Patch::Apply(cm("fast")))
            .await
            .unwrap();
    }
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        &command_yaml("drift", "  action: get\n  target: cm/settings\n  namespace: default\n  schedule: '*/1 * * * * *'\n  keepReports: 2\n"),
    );
    let api: Api<FleetCommand> = Api::namespaced(sim.client.clone(), "team-a");
    let status_when = |what: &'static str, ok: fn(&muster_hub::crd::FleetCommandStatus) -> bool| {
        let api = api.clone();
        eventually(what, Duration::from_secs(30), move || {
            let api = api.clone();
            async move {
                let s = api.get("drift").await.ok()?.status?;
                ok(&s).then_some(s)
            }
        })
    };
    status_when("a first run", |s| s.runs >= 1 && s.phase == Phase::Succeeded).await;
    let c2 = sim.member_client("sim-002").await;
    let api2: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(c2, "default");
    api2.patch("settings", &PatchParams::apply("test"), &Patch::Apply(cm("slow")))
        .await
        .unwrap();
    let s = status_when("sim-002 to drift", |s| s.drifted == ["sim-002"]).await;
    assert!(s.previous_reports.len() <= 1, "keepReports 2: {:?}", s.previous_reports);
    eventually("a DriftDetected Event", Duration::from_secs(10), || {
        let c = sim.client.clone();
        async move {
            event_reasons(&c, "team-a", "drift")
                .await
                .contains(&"DriftDetected".to_string())
                .then_some(())
        }
    })
    .await;
    assert!(
        hub.ctx
            .metrics
            .encode()
            .contains("muster_drifted_clusters{namespace=\"team-a\",name=\"drift\"} 1")
    );
    api2.patch("settings", &PatchParams::apply("test"), &Patch::Apply(cm("fast")))
        .await
        .unwrap();
    let s = status_when("the drift to resolve", |s| s.drifted.is_empty() && s.runs >= 3).await;
    eventually("a DriftResolved Event", Duration::from_secs(10), || {
        let c = sim.client.clone();
        async move {
            event_reasons(&c, "team-a", "drift")
                .await
                .contains(&"DriftResolved".to_string())
                .then_some(())
        }
    })
    .await;
    // Older reports are deleted: only the kept ones' ConfigMaps remain.
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(sim.client.clone(), "team-a");
    let stored: Vec<String> = cms
        .list(&kube::api::ListParams::default().labels("muster.dev/fleetcommand=drift"))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .filter(|n| n.contains("report"))
        .collect();
    assert!(
        stored.len() <= 3,
        "at most keepReports reports (and one being written): {stored:?}"
    );
    assert!(s.next_run.is_some());
    kubectl.ok(&["delete", "fleetcommand", "drift", "-n", "team-a"]);
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_command_goes_after_its_ttl_with_its_configmaps() {
    let _machine = crate::shared().await;
    if muster_testkit::kubectl_binary().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (sim, hub, kubectl) = quiet_hub(1, &dir.path().join("audit.log")).await;
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        &command_yaml(
            "brief",
            "  action: get\n  target: cm/kube-root-ca.crt\n  namespace: default\n  ttlSecondsAfterFinished: 1\n",
        ),
    );
    let api: Api<FleetCommand> = Api::namespaced(sim.client.clone(), "team-a");
    eventually("the command to run and go", Duration::from_secs(20), || {
        let api = api.clone();
        async move { api.get_opt("brief").await.ok()?.is_none().then_some(()) }
    })
    .await;
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(sim.client.clone(), "team-a");
    eventually("its ConfigMaps to be collected", Duration::from_secs(10), || {
        let cms = cms.clone();
        async move {
            cms.list(&kube::api::ListParams::default().labels("muster.dev/fleetcommand=brief"))
                .await
                .ok()?
                .items
                .is_empty()
                .then_some(())
        }
    })
    .await;
    hub.shutdown().await;
}
