//! kube-rs against simulated workloads: pod logs (whole and streamed, with no stream left
//! behind), exec with `AttachParams`, and `Api::<Deployment>::restart`.

use std::time::{Duration, Instant};

use futures::{AsyncBufReadExt as _, StreamExt as _};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, AttachParams, ListParams, LogParams, Patch, PatchParams, PostParams};
use muster_sim::Fleet;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

async fn fleet_with_app() -> (Fleet, Client) {
    let (fleet, client) = muster_testkit::fleet_with_namespace("shop").await;
    let d: serde_json::Value = serde_saphyr::from_str(muster_testkit::APP_YAML.split("---").next().unwrap()).unwrap();
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "shop");
    deploys
        .patch("web", &PatchParams::apply("test"), &Patch::Apply(d))
        .await
        .unwrap();
    wait_rolled_out(&deploys, 1).await;
    (fleet, client)
}

/// Wait until the deployment reports every replica updated and available at `generation`.
async fn wait_rolled_out(deploys: &Api<Deployment>, generation: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let d = deploys.get("web").await.unwrap();
        let s = d.status.unwrap_or_default();
        let want = d.spec.replicas.unwrap_or(1);
        if s.observed_generation == Some(generation)
            && s.updated_replicas == Some(want)
            && s.available_replicas == Some(want)
            && s.replicas == Some(want)
        {
            return;
        }
        assert!(Instant::now() < deadline, "deployment did not roll out: {s:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn first_pod(client: &Client) -> String {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "shop");
    pods.list(&ListParams::default().labels("app=web")).await.unwrap().items[0]
        .metadata
        .name
        .clone()
        .unwrap()
}

#[tokio::test]
async fn logs_whole_and_streamed() {
    let (fleet, client) = fleet_with_app().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "shop");
    let pod = first_pod(&client).await;
    let text = pods
        .logs(
            &pod,
            &LogParams {
                tail_lines: Some(3),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    let limited = pods
        .logs(
            &pod,
            &LogParams {
                limit_bytes: Some(10),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(limited.len(), 10);
    let err = pods
        .logs(
            &pod,
            &LogParams {
                previous: true,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("previous terminated container"), "{err}");

    let state = fleet.cluster("sim-000").unwrap().state().clone();
    {
        let stream = pods
            .log_stream(
                &pod,
                &LogParams {
                    follow: true,
                    tail_lines: Some(1),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let mut lines = stream.lines();
        let first = lines.next().await.unwrap().unwrap();
        let second = tokio::time::timeout(Duration::from_secs(5), lines.next())
            .await
            .expect("a new line within 5 s")
            .unwrap()
            .unwrap();
        assert_ne!(first, second);
        assert_eq!(state.log_streams.active(), 1);
    }
    // The client went away: the server-side stream must end too.
    let deadline = Instant::now() + Duration::from_secs(5);
    while state.log_streams.active() != 0 {
        assert!(Instant::now() < deadline, "a follow stream outlived its client");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    fleet.shutdown().await;
}

#[tokio::test]
async fn exec_with_attach_params() {
    let (fleet, client) = fleet_with_app().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "shop");
    let pod = first_pod(&client).await;

    let mut p = pods
        .exec(
            &pod,
            ["sh", "-c", "echo out; echo err >&2; exit 4"],
            &AttachParams::default().stderr(true),
        )
        .await
        .unwrap();
    let (mut out, mut err) = (String::new(), String::new());
    let mut stdout = p.stdout().unwrap();
    let mut stderr = p.stderr().unwrap();
    let status = p.take_status().unwrap();
    let (r1, r2) = tokio::join!(stdout.read_to_string(&mut out), stderr.read_to_string(&mut err));
    r1.unwrap();
    r2.unwrap();
    let status = status.await.expect("a status");
    assert_eq!((out.as_str(), err.as_str()), ("out\n", "err\n"));
    assert_eq!(status.reason.as_deref(), Some("NonZeroExitCode"));
    assert_eq!(status.details.unwrap().causes.unwrap()[0].message.as_deref(), Some("4"));
    p.join().await.unwrap();

    // stdin is forwarded and closing it ends `cat`.
    let mut p = pods
        .exec(&pod, ["cat"], &AttachParams::default().stdin(true).stderr(false))
        .await
        .unwrap();
    let mut stdin = p.stdin().unwrap();
    stdin.write_all(b"ping\n").await.unwrap();
    stdin.shutdown().await.unwrap(); // v5's close signal for stdin
    let mut echoed = String::new();
    p.stdout().unwrap().read_to_string(&mut echoed).await.unwrap();
    assert_eq!(echoed, "ping\n");
    let status = p.take_status().unwrap().await.unwrap();
    assert_eq!(status.status.as_deref(), Some("Success"));

    // A container that is not running refuses exec before the upgrade.
    let ghost: Pod = serde_json::from_value(
        json!({"metadata": {"name": "ghost"}, "spec": {"containers": [{"name": "c", "image": "app:missing"}]}}),
    )
    .unwrap();
    pods.create(&PostParams::default(), &ghost).await.unwrap();
    assert!(
        pods.exec("ghost", ["echo", "x"], &AttachParams::default())
            .await
            .is_err()
    );
    fleet.shutdown().await;
}

#[tokio::test]
async fn restart_rolls_the_deployment() {
    let (fleet, client) = fleet_with_app().await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "shop");
    let before = first_pod(&client).await;
    let d = deploys.restart("web").await.unwrap();
    assert!(
        d.spec
            .template
            .metadata
            .unwrap()
            .annotations
            .unwrap()
            .contains_key("kube.kubernetes.io/restartedAt")
    );
    wait_rolled_out(&deploys, 2).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "shop");
    let names: Vec<String> = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    assert_eq!(names.len(), 3);
    assert!(!names.contains(&before), "{before} survived the restart: {names:?}");
    fleet.shutdown().await;
}

#[tokio::test]
async fn events_in_both_api_groups() {
    use k8s_openapi::api::core::v1::Event as CoreEvent;
    use k8s_openapi::api::events::v1::Event;
    let (fleet, client) = fleet_with_app().await;
    // The controllers record core Events; events.k8s.io/v1 serves the same objects.
    let v1: Api<Event> = Api::namespaced(client.clone(), "shop");
    let listed = v1.list(&ListParams::default()).await.unwrap();
    let scaling = listed
        .items
        .iter()
        .find(|e| e.reason.as_deref() == Some("ScalingReplicaSet"))
        .expect("a ScalingReplicaSet event");
    assert_eq!(
        scaling.regarding.as_ref().and_then(|r| r.kind.as_deref()),
        Some("Deployment")
    );
    assert!(
        scaling
            .note
            .as_deref()
            .is_some_and(|n| n.starts_with("Scaled up replica set web-"))
    );
    assert_eq!(scaling.reporting_controller.as_deref(), Some("deployment-controller"));

    // Written through events.k8s.io/v1, read through core/v1.
    let made: Event = serde_json::from_value(json!({
        "metadata": {"name": "muster.1"}, "eventTime": "2026-01-01T00:00:00.000000Z", "type": "Normal",
        "reason": "RolloutStarted", "note": "wave 1 of 3", "action": "Rollout",
        "reportingController": "muster.dev/hub", "reportingInstance": "hub-0",
        "regarding": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "namespace": "shop"},
    }))
    .unwrap();
    v1.create(&PostParams::default(), &made).await.unwrap();
    let core: Api<CoreEvent> = Api::namespaced(client.clone(), "shop");
    let seen = core.get("muster.1").await.unwrap();
    assert_eq!(seen.message.as_deref(), Some("wave 1 of 3"));
    assert_eq!(seen.involved_object.name.as_deref(), Some("web"));
    assert_eq!(seen.reporting_component.as_deref(), Some("muster.dev/hub"));
    fleet.shutdown().await;
}

#[tokio::test]
async fn progress_deadline_is_reported() {
    let (fleet, client) = fleet_with_app().await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "shop");
    let patch = json!({"spec": {"progressDeadlineSeconds": 1, "template": {"spec": {"containers": [{"name": "web", "image": "nginx:broken"}]}}}});
    deploys
        .patch("web", &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let d = deploys.get("web").await.unwrap();
        let progressing = d
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.type_.as_deref() == Some("Progressing"));
        if let Some(c) = progressing
            && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
        {
            assert_eq!(c.status.as_deref(), Some("False"));
            break;
        }
        assert!(Instant::now() < deadline, "the progress deadline was never reported");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    fleet.shutdown().await;
}
