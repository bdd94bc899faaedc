//! FleetRollouts on an in-process hub over simulated members: waves that reach Succeeded
//! with every revision applied exactly once per cluster, a broken canary rolled back with
//! the later waves untouched, an unreachable cluster deferred without holding its wave,
//! approval and pause, a stale status that must not pass a gate, and a progress deadline.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::api::Api;
use muster_hub::crd::{FleetRollout, RolloutPhase};
use muster_hub::rollouts::ledger;
use muster_hub::store::Store;
use muster_testkit::hub::{RunningHub, SimHub, create_namespace};
use muster_testkit::{Kubectl, eventually};

use crate::serve::event_reasons;

/// A hub whose members are all Healthy.
async fn hub(members: usize) -> (SimHub, RunningHub, Kubectl) {
    crate::logs();
    let sim = SimHub::start(members).await;
    let mut config = SimHub::config("hub-r");
    config.probe_interval = Duration::from_millis(500);
    let hub = sim.serve(config).await;
    sim.all_healthy().await;
    create_namespace(&sim.client, "team-a").await;
    for m in &sim.members {
        create_namespace(&sim.member_client(m).await, "shop").await;
    }
    let kubectl = Kubectl::new(&sim.kubeconfig).expect("kubectl");
    (sim, hub, kubectl)
}

/// A rollout of Deployment `web` running `image` to namespace `shop`.
pub fn rollout_yaml(name: &str, image: &str, strategy: &str) -> String {
    format!(
        "apiVersion: muster.dev/v1alpha1\nkind: FleetRollout\nmetadata: {{name: {name}, namespace: team-a}}\nspec:\n  namespace: shop\n  resources:\n  - apiVersion: apps/v1\n    kind: Deployment\n    metadata: {{name: web}}\n    spec:\n      replicas: 2\n      selector: {{matchLabels: {{app: web}}}}\n      template:\n        metadata: {{labels: {{app: web}}}}\n        spec: {{containers: [{{name: web, image: '{image}'}}]}}\n  strategy:\n{strategy}"
    )
}

/// Applies of the Deployment per member (PATCHes the API carried out).
pub fn deployment_applies(sim: &SimHub) -> BTreeMap<String, u64> {
    sim.members
        .iter()
        .cloned()
        .zip(sim.applies("/namespaces/shop/deployments/web"))
        .collect()
}

/// Write requests that reached the members.
fn received(sim: &SimHub) -> u64 {
    sim.members
        .iter()
        .map(|m| sim.member(m).counters.snapshot().writes_received)
        .sum()
}

fn writes(sim: &SimHub) -> BTreeMap<String, u64> {
    sim.members
        .iter()
        .map(|m| (m.clone(), sim.member(m).counters.snapshot().writes_applied))
        .collect()
}

/// Wait for the rollout's phase (of whichever revision).
pub async fn phase(api: &Api<FleetRollout>, name: &str, want: RolloutPhase, within: Duration) -> FleetRollout {
    wait_for(api, name, None, want, within).await
}

/// Wait for revision `revision` of the rollout to reach `want`.
pub async fn phase_at(
    api: &Api<FleetRollout>,
    name: &str,
    revision: u32,
    want: RolloutPhase,
    within: Duration,
) -> FleetRollout {
    wait_for(api, name, Some(revision), want, within).await
}

async fn wait_for(
    api: &Api<FleetRollout>,
    name: &str,
    revision: Option<u32>,
    want: RolloutPhase,
    within: Duration,
) -> FleetRollout {
    let mut last = None;
    let r = tokio::time::timeout(within, async {
        loop {
            if let Ok(fr) = api.get(name).await {
                if fr
                    .status
                    .as_ref()
                    .is_some_and(|s| s.phase == want && revision.is_none_or(|r| s.revision == r))
                {
                    return fr;
                }
                last = Some(fr);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    r.unwrap_or_else(|_| {
        panic!(
            "rollout {name} revision {revision:?} did not reach {want:?}; last: {:#?}",
            last.and_then(|l| l.status)
        )
    })
}

/// The image of `web` on a member.
async fn image_on(sim: &SimHub, member: &str) -> Option<String> {
    let c = sim.member_client(member).await;
    let api: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(c, "shop");
    api.get_opt("web")
        .await
        .ok()
        .flatten()
        .and_then(|d| d.spec.template.spec?.containers.first().and_then(|c| c.image.clone()))
}

fn three_waves(extra: &str) -> String {
    format!(
        "    waves:\n    - {{name: canary, count: 1}}\n    - {{name: ten, percent: 10}}\n    - {{name: rest}}\n{extra}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_waves_reach_succeeded_applying_each_cluster_once() {
    let _machine = crate::shared().await;
    if muster_testkit::kubectl_binary().is_none() {
        return;
    }
    let (sim, hub, kubectl) = hub(30).await;
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        &rollout_yaml("web", "nginx:1.0", &three_waves("")),
    );
    let api: Api<FleetRollout> = Api::namespaced(sim.client.clone(), "team-a");
    let fr = phase(&api, "web", RolloutPhase::Succeeded, Duration::from_secs(120)).await;
    let s = fr.status.unwrap();
    assert_eq!((s.revision, s.total, s.updated), (1, 30, 30));
    assert_eq!(s.stable_revision, Some(1));
    let sizes: Vec<u64> = s.waves.iter().map(|w| w.clusters).collect();
    assert_eq!(sizes, vec![1, 3, 26]);
    assert!(s.waves.iter().all(|w| w.passed == w.clusters && w.finished.is_some()));
    // Waves in order: each started after the one before finished.
    for pair in s.waves.windows(2) {
        assert!(pair[1].started >= pair[0].finished, "{pair:?}");
    }
    let applies = deployment_applies(&sim);
    assert!(applies.values().all(|n| *n == 1), "one apply per cluster: {applies:?}");
    for m in &sim.members {
        assert_eq!(image_on(&sim, m).await.as_deref(), Some("nginx:1.0"));
    }
    let reasons = event_reasons(&sim.client, "team-a", "web").await;
    for r in ["Started", "WaveStarted", "WaveCompleted", "Succeeded"] {
        assert!(reasons.iter().any(|x| x == r), "{r} in {reasons:?}");
    }
    let listed = kubectl.ok(&["get", "fleetrollouts", "-n", "team-a"]);
    for col in ["REVISION", "WAVE", "UPDATED", "TOTAL", "PHASE", "AGE"] {
        assert!(listed.contains(col), "{col} in {listed}");
    }
    assert!(listed.contains("Succeeded") && listed.contains("30"), "{listed}");
    // The ledger holds every cluster, Passed at revision 1.
    let store = Store::owned_by(sim.client.clone(), &api.get("web").await.unwrap());
    let l = ledger::load(&store).await.unwrap().expect("a ledger");
    assert_eq!(l.clusters.len(), 30);
    assert!(l.clusters.values().all(|e| e.revision == 1 && e.passed.is_some()));
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_canary_rolls_back_and_later_waves_are_never_touched() {
    let _machine = crate::shared().await;
    if muster_testkit::kubectl_binary().is_none() {
        return;
    }
    let (sim, hub, kubectl) = hub(6).await;
    let strategy = "    onFailure: Rollback\n    waves:\n    - {name: canary, count: 1}\n    - {name: rest}\n";
    kubectl.ok_stdin(&["apply", "-f", "-"], &rollout_yaml("web", "nginx:1.0", strategy));
    let api: Api<FleetRollout> = Api::namespaced(sim.client.clone(), "team-a");
    phase(&api, "web", RolloutPhase::Succeeded, Duration::from_secs(60)).await;
    // Revision 2 also brings two ConfigMaps: one new, one the canary already had (made by
    // someone else). A rollback deletes only the one the rollout created.
    let canary = sim.members[0].clone();
    let cms = |c: kube::Client| Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(c, "shop");
    let theirs: k8s_openapi::api::core::v1::ConfigMap =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "theirs"}, "data": {"a": "1"}})).unwrap();
    cms(sim.member_client(&canary).await)
        .create(&kube::api::PostParams::default(), &theirs)
        .await
        .unwrap();
    let before = writes(&sim);
    let broken = rollout_yaml("web", "nginx:broken", strategy).replace(
        "  strategy:\n",
        "  - {apiVersion: v1, kind: ConfigMap, metadata: {name: added}, data: {b: '2'}}\n  - {apiVersion: v1, kind: ConfigMap, metadata: {name: theirs}, data: {a: '1'}}\n  strategy:\n",
    );
    kubectl.ok_stdin(&["apply", "-f", "-"], &broken);
    let fr = phase_at(&api, "web", 2, RolloutPhase::RolledBack, Duration::from_secs(90)).await;
    let s = fr.status.unwrap();
    assert_eq!(s.revision, 2);
    assert_eq!(s.stable_revision, Some(1));
    let canary = &canary;
    assert_eq!(image_on(&sim, canary).await.as_deref(), Some("nginx:1.0"), "restored");
    let on_canary = cms(sim.member_client(canary).await);
    assert!(
        on_canary.get_opt("added").await.unwrap().is_none(),
        "what revision 2 created is gone"
    );
    assert!(
        on_canary.get_opt("theirs").await.unwrap().is_some(),
        "what it did not create stays"
    );
    for m in &sim.members[1..] {
        assert!(
            cms(sim.member_client(m).await)
                .get_opt("added")
                .await
                .unwrap()
                .is_none()
        );
    }
    let after = writes(&sim);
    for m in &sim.members[1..] {
        assert_eq!(after[m], before[m], "{m} is in a later wave: nothing was written to it");
    }
    assert!(after[canary] > before[canary]);
    let cond = s.conditions.iter().find(|c| c.type_ == "Progressing").unwrap();
    assert!(cond.message.contains("failed in canary"), "{cond:?}");
    let reasons = event_reasons(&sim.client, "team-a", "web").await;
    assert!(
        reasons.iter().any(|r| r == "RollingBack") && reasons.iter().any(|r| r == "RolledBack"),
        "{reasons:?}"
    );
    // The gate named the cause.
    let store = Store::owned_by(sim.client.clone(), &api.get("web").await.unwrap());
    let l = ledger::load(&store).await.unwrap().unwrap();
    let e = &l.clusters[canary];
    assert_eq!(e.state, ledger::State::RolledBack);
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_cluster_is_deferred_and_completed_when_it_returns() {
    let _machine = crate::shared().await;
    if muster_testkit::kubectl_binary().is_none() {
        return;
    }
    let (sim, hub, kubectl) = hub(5).await;
    let down = sim.members[1].clone();
    let member = sim.member(&down).clone();
    member.faults.send_modify(|f| f.refuse = true);
    // The prober notices.
    let registry = hub.ctx.registry.clone();
    let d = down.clone();
    eventually("the member unhealthy", Duration::from_secs(20), || {
        let h = registry.get(&d).map(|m| m.health().state);
        async move { (h == Some(muster_fleet::registry::health::HealthState::Unhealthy)).then_some(()) }
    })
    .await;
    // Another answers 503 to everything for a while: retried, never failed.
    let flaky = sim.members[3].clone();
    sim.member(&flaky).faults.send_modify(|f| {
        f.error_rate = 1.0;
        f.error_code = Some(503);
    });
    let strategy = "    waves:\n    - {name: canary, count: 1}\n    - {name: rest}\n";
    kubectl.ok_stdin(&["apply", "-f", "-"], &rollout_yaml("web", "nginx:1.0", strategy));
    let api: Api<FleetRollout> = Api::namespaced(sim.client.clone(), "team-a");
    let retrying = eventually("the flaky cluster retried", Duration::from_secs(60), || {
        let (api, flaky) = (api.clone(), flaky.clone());
        async move {
            let s = api.get("web").await.ok()?.status?;
            s.not_ready
                .into_iter()
                .find(|c| c.cluster == flaky && c.message.starts_with("retrying"))
        }
    })
    .await;
    assert_eq!(retrying.state, "Pending", "{retrying:?}");
    assert!(
        retrying.message.contains("503") || retrying.message.contains("ServiceUnavailable"),
        "{retrying:?}"
    );
    sim.member(&flaky).faults.send_modify(|f| f.error_rate = 0.0);
    // Every wave finishes without the unreachable one.
    let held = eventually("the waves done without it", Duration::from_secs(60), || {
        let api = api.clone();
        async move {
            let s = api.get("web").await.ok()?.status?;
            (s.waves.len() == 2 && s.waves.iter().all(|w| w.finished.is_some())).then_some(s)
        }
    })
    .await;
    assert_eq!(held.phase, RolloutPhase::Progressing);
    assert_eq!(held.updated, 4);
    let listed = held.not_ready.iter().find(|c| c.cluster == down).expect("listed");
    assert_eq!(listed.state, "Deferred");
    assert_eq!(image_on(&sim, &sim.members[2]).await.as_deref(), Some("nginx:1.0"));
    member.faults.send_modify(|f| f.refuse = false);
    let fr = phase(&api, "web", RolloutPhase::Succeeded, Duration::from_secs(60)).await;
    assert_eq!(fr.status.unwrap().updated, 5);
    assert_eq!(image_on(&sim, &down).await.as_deref(), Some("nginx:1.0"));
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_and_pause_hold_the_next_wave() {
    let _machine = crate::shared().await;
    if muster_testkit::kubectl_binary().is_none() {
        return;
    }
    let (sim, hub, kubectl) = hub(4).await;
    let strategy = "    waves:\n    - {name: canary, count: 1}\n    - {name: rest, approval: true}\n";
    kubectl.ok_stdin(&["apply", "-f", "-"], &rollout_yaml("web", "nginx:1.0", strategy));
    let api: Api<FleetRollout> = Api::namespaced(sim.client.clone(), "team-a");
    let fr = phase(&api, "web", RolloutPhase::WaitingForApproval, Duration::from_secs(60)).await;
    assert_eq!(fr.status.unwrap().updated, 1);
    let rest = &sim.members[1..];
    let untouched = |sim: &SimHub| rest.iter().all(|m| deployment_applies(sim)[m] == 0);
    assert!(untouched(&sim));
    // Pause, then approve: nothing moves while paused.
    kubectl.ok(&[
        "patch",
        "fleetrollout",
        "web",
        "-n",
        "team-a",
        "--type",
        "merge",
        "-p",
        "{\"spec\":{\"paused\":true}}",
    ]);
    kubectl.ok(&[
        "annotate",
        "fleetrollout",
        "web",
        "-n",
        "team-a",
        "muster.dev/approve=1/2",
    ]);
    // NB: the hub says it saw the approval while paused: the turn that would have started
    // the wave has passed, and it did not.
    eventually("the approval seen while paused", Duration::from_secs(20), || {
        let api = api.clone();
        async move {
            let s = api.get("web").await.ok()?.status?;
            let c = s.conditions.iter().find(|c| c.type_ == "Paused")?;
            (s.phase == RolloutPhase::Paused && c.message.contains("rest is approved and starts on resume"))
                .then_some(())
        }
    })
    .await;
    assert!(untouched(&sim), "paused: the approved wave waits");
    kubectl.ok(&[
        "patch",
        "fleetrollout",
        "web",
        "-n",
        "team-a",
        "--type",
        "merge",
        "-p",
        "{\"spec\":{\"paused\":false}}",
    ]);
    let fr = phase(&api, "web", RolloutPhase::Succeeded, Duration::from_secs(60)).await;
    assert_eq!(fr.status.unwrap().updated, 4);
    assert!(deployment_applies(&sim).values().all(|n| *n == 1));
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_status_does_not_pass_a_gate_and_a_deadline_expires_into_on_failure() {
    let _machine = crate::shared().await;
    if muster_testkit::kubectl_binary().is_none() {
        return;
    }
    let (sim, hub, kubectl) = hub(2).await;
    let strategy = "    waves:\n    - {name: canary, count: 1}\n    - {name: rest}\n";
    kubectl.ok_stdin(&["apply", "-f", "-"], &rollout_yaml("web", "nginx:1.0", strategy));
    let api: Api<FleetRollout> = Api::namespaced(sim.client.clone(), "team-a");
    phase(&api, "web", RolloutPhase::Succeeded, Duration::from_secs(60)).await;
    // Revision 2 while the controllers lag: the old status (all ready) stays for 2 s.
    let lag = 2000;
    for m in &sim.members {
        sim.member(m).faults.send_modify(|f| f.status_lag_ms = lag);
    }
    kubectl.ok_stdin(&["apply", "-f", "-"], &rollout_yaml("web", "nginx:1.1", strategy));
    let fr = phase_at(&api, "web", 2, RolloutPhase::Succeeded, Duration::from_secs(60)).await;
    let store = Store::owned_by(sim.client.clone(), &fr);
    let l = ledger::load(&store).await.unwrap().unwrap();
    for (name, e) in &l.clusters {
        let waited = e.passed.unwrap() - e.applied.unwrap();
        assert!(
            waited >= i64::try_from(lag).unwrap() - 100,
            "{name} passed {waited} ms after its apply"
        );
        assert!(e.generations.contains("deployment.apps/web=2"), "{e:?}");
    }
    // Revision 3 with a deadline shorter than the lag: the canary fails into Pause.
    for m in &sim.members {
        sim.member(m).faults.send_modify(|f| f.status_lag_ms = 30_000);
    }
    let strategy = "    progressDeadlineSeconds: 1\n    onFailure: Pause\n    waves:\n    - {name: canary, count: 1}\n    - {name: rest}\n";
    kubectl.ok_stdin(&["apply", "-f", "-"], &rollout_yaml("web", "nginx:1.2", strategy));
    let fr = phase_at(&api, "web", 3, RolloutPhase::Paused, Duration::from_secs(30)).await;
    assert!(fr.spec.paused, "the hub paused it");
    let s = fr.status.unwrap();
    let failed = s
        .not_ready
        .iter()
        .find(|c| c.state == "Failed")
        .expect("a failed cluster");
    assert!(failed.message.contains("ProgressDeadlineExceeded"), "{failed:?}");
    assert!(failed.message.contains("generation"), "{failed:?}");
    assert_eq!(
        deployment_applies(&sim)[&sim.members[1]],
        2,
        "the second wave never got revision 3"
    );
    for m in &sim.members {
        sim.member(m).faults.send_modify(|f| f.status_lag_ms = 0);
    }
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_rollouts_are_rejected_naming_the_field() {
    let _machine = crate::shared().await;
    if muster_testkit::kubectl_binary().is_none() {
        return;
    }
    let (sim, hub, kubectl) = hub(2).await;
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: muster.dev/v1alpha1\nkind: FleetPolicy\nmetadata: {name: team-a, namespace: team-a}\nspec:\n  clusters: {names: [sim-001]}\n",
    );
    let before = received(&sim);
    let api: Api<FleetRollout> = Api::namespaced(sim.client.clone(), "team-a");
    // NB: on the one cluster team-a may target, so the refusal is about the rest of the spec.
    let on1 = |y: String| y.replacen("  resources:\n", "  clusters: {names: [sim-001]}\n  resources:\n", 1);
    let cases = [
        ("bad-percent", rollout_yaml("bad-percent", "nginx:1.0", "    waves:\n    - {percent: 300}\n"), "percent"),
        ("outside", rollout_yaml("outside", "nginx:1.0", "    waves: []\n").replace("  namespace: shop\n", "  namespace: shop\n  clusters: {names: [sim-002]}\n"), "ClusterNotAllowed"),
        ("empty", "apiVersion: muster.dev/v1alpha1\nkind: FleetRollout\nmetadata: {name: empty, namespace: team-a}\nspec: {}\n".to_string(), "spec.resources"),
        ("kube-system", on1(rollout_yaml("kube-system", "nginx:1.0", "    waves: []\n").replace("namespace: shop", "namespace: kube-system")), "kube-system"),
        ("cluster-role", on1(rollout_yaml("cluster-role", "nginx:1.0", "    waves: []\n").replace(
            "  strategy:\n",
            "  - {apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRole, metadata: {name: admin-too}, rules: [{apiGroups: ['*'], resources: ['*'], verbs: ['*']}]}\n  strategy:\n",
        )), "ClusterRole"),
        ("elsewhere", on1(rollout_yaml("elsewhere", "nginx:1.0", "    waves: []\n").replace("metadata: {name: web}", "metadata: {name: web, namespace: payments}")), "payments"),
        ("bad-gate", on1(rollout_yaml("bad-gate", "nginx:1.0", "    gates: [{object: 'widgets/../x', path: .status.phase, equals: Ready}]\n")), "spec.strategy.gates[0].object"),
        ("bad-selector", rollout_yaml("bad-selector", "nginx:1.0", "    waves: []\n").replace("  namespace: shop\n", "  namespace: shop\n  clusters: {selector: 'env in ('}\n"), "spec.clusters.selector"),
    ];
    for (name, yaml, needle) in &cases {
        kubectl.ok_stdin(&["apply", "-f", "-"], yaml);
        let fr = phase(&api, name, RolloutPhase::Rejected, Duration::from_secs(20)).await;
        let c = fr
            .status
            .unwrap()
            .conditions
            .into_iter()
            .find(|c| c.type_ == "Accepted")
            .unwrap();
        assert!(c.message.contains(needle) || c.reason.contains(needle), "{name}: {c:?}");
    }
    assert_eq!(received(&sim), before, "no write reached any member");
    hub.shutdown().await;
}
