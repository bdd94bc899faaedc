//! The simulated kubelet: each pod's status as a function of time since it was first seen
//! and of its images' fate (runs, crash-loops, never pulls), with the events a kubelet
//! records. Pod status is derived, not accumulated, so a pass recomputes it exactly and
//! writes only when it changed.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tokio::time::Instant;

use super::events::EventType;
use super::{Controller, gr, rfc3339, uid};
use crate::behavior::{ImageFate, fnv1a};

/// How long `ErrImagePull` shows before it becomes `ImagePullBackOff`.
const PULL_RETRY: Duration = Duration::from_secs(1);

/// Where a container is in its life at a moment.
#[derive(Debug, Clone, PartialEq)]
enum Stage {
    Creating,
    Running,
    /// Running, its readiness probe failing.
    Unready,
    /// Crashed `restarts` times so far (each time with this exit code and reason);
    /// waiting to restart.
    CrashLoop {
        restarts: u32,
        last_start: SystemTime,
        exit_code: i64,
        reason: &'static str,
    },
    PullFailed {
        backoff: bool,
    },
    Completed,
}

/// The crash-loop position `elapsed` after the first start, and when the next restart is due.
fn crash_position(ctl: &Controller, elapsed: Duration) -> (u32, Duration, Duration) {
    let mut restarts = 0u32;
    let mut at = Duration::ZERO;
    loop {
        let next = at + ctl.cluster.behavior.crash_backoff(restarts);
        if next > elapsed || restarts >= 10_000 {
            return (restarts, at, next);
        }
        at = next;
        restarts += 1;
    }
}

fn stage_of(ctl: &mut Controller, image: &str, started: (SystemTime, Instant), now: Instant, completes: bool) -> Stage {
    if now < started.1 {
        ctl.wake_at(started.1);
        return Stage::Creating;
    }
    let elapsed = now - started.1;
    match ctl.cluster.behavior.image_fate(image) {
        ImageFate::Runs | ImageFate::Unready if completes => Stage::Completed,
        ImageFate::Runs => Stage::Running,
        ImageFate::Unready => Stage::Unready,
        ImageFate::Missing => {
            if elapsed < PULL_RETRY {
                ctl.wake_at(started.1 + PULL_RETRY);
            }
            Stage::PullFailed {
                backoff: elapsed >= PULL_RETRY,
            }
        }
        ImageFate::Crash { exit_code, reason } => {
            let (restarts, last, next) = crash_position(ctl, elapsed);
            ctl.wake_at(started.1 + next);
            Stage::CrashLoop {
                restarts,
                last_start: started.0 + last,
                exit_code,
                reason,
            }
        }
    }
}

fn container_status(
    ctl: &Controller,
    c: &Value,
    stage: &Stage,
    started: SystemTime,
    pod: &str,
    pod_uid: &str,
    init: bool,
) -> Value {
    let name = c["name"].as_str().unwrap_or_default();
    let image = c["image"].as_str().unwrap_or_default();
    let id = format!(
        "containerd://{:016x}{:016x}",
        fnv1a(pod_uid.as_bytes()),
        fnv1a(name.as_bytes())
    );
    let image_id = format!("docker.io/library/{image}@sha256:{:016x}", fnv1a(image.as_bytes()));
    let base =
        json!({"name": name, "image": image, "imageID": "", "ready": false, "restartCount": 0, "started": false});
    let mut s = base;
    match stage {
        Stage::Creating => {
            s["state"] = json!({"waiting": {"reason": if init { "PodInitializing" } else { "ContainerCreating" }}});
        }
        Stage::Running | Stage::Unready => {
            s["state"] = json!({"running": {"startedAt": rfc3339(started)}});
            s["ready"] = json!(!init && *stage == Stage::Running);
            s["started"] = json!(true);
            s["imageID"] = json!(image_id);
            s["containerID"] = json!(id);
        }
        Stage::Completed => {
            s["state"] = json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": rfc3339(started), "finishedAt": rfc3339(started), "containerID": id}});
            s["ready"] = json!(true);
            s["imageID"] = json!(image_id);
            s["containerID"] = json!(id);
        }
        Stage::CrashLoop {
            restarts,
            last_start,
            exit_code,
            reason,
        } => {
            let backoff = ctl.cluster.behavior.crash_backoff(*restarts).as_secs().max(1);
            s["restartCount"] = json!(restarts);
            s["state"] = json!({"waiting": {"reason": "CrashLoopBackOff",
                "message": format!("back-off {backoff}s restarting failed container={name} pod={pod}_{pod_uid}")}});
            s["lastState"] = json!({"terminated": {"exitCode": exit_code, "reason": reason,
                "startedAt": rfc3339(*last_start), "finishedAt": rfc3339(*last_start), "containerID": id}});
            s["imageID"] = json!(image_id);
            s["containerID"] = json!(id);
        }
        Stage::PullFailed { backoff } => {
            let (reason, message) = if *backoff {
                ("ImagePullBackOff", format!("Back-off pulling image \"{image}\""))
            } else {
                (
                    "ErrImagePull",
                    format!(
                        "failed to pull and unpack image \"docker.io/library/{image}\": docker.io/library/{image}: not found"
                    ),
                )
            };
            s["state"] = json!({"waiting": {"reason": reason, "message": message}});
        }
    }
    s
}

fn condition(kind: &str, ok: bool, reason: Option<&str>, at: &str) -> Value {
    let mut c = json!({"type": kind, "status": if ok { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": at});
    if let Some(r) = reason.filter(|_| !ok) {
        c["reason"] = json!(r);
    }
    c
}

/// Recompute and write the status of every pod.
pub(super) fn pods(ctl: &mut Controller) {
    let pod_gr = gr("", "pods");
    let pods = ctl.list(&pod_gr);
    let now = Instant::now();
    let nodes = ctl.list(&gr("", "nodes"));
    let mut live = HashSet::new();
    for pod in &pods {
        let pod_uid = uid(pod).to_string();
        live.insert(pod_uid.clone());
        let first = *ctl
            .first_seen
            .entry(pod_uid.clone())
            .or_insert_with(|| (SystemTime::now(), now));
        let delay = ctl.cluster.behavior.ready_delay(ctl.cluster.seed, pod.name());
        let started = (first.0 + delay, first.1 + delay);
        let spec = &pod.value["spec"];
        let node = spec["nodeName"].as_str().unwrap_or_default().to_string();
        if node.is_empty() {
            // The scheduler: a pod that fits is bound to a node (the next pass runs it).
            if super::scheduling::insufficient(spec).is_empty() && !nodes.is_empty() {
                let pick = nodes[usize::try_from(fnv1a(pod_uid.as_bytes()) % nodes.len() as u64).unwrap_or(0)]
                    .name()
                    .to_string();
                let mut v = pod.value.clone();
                v["spec"]["nodeName"] = json!(pick);
                ctl.update(&pod_gr, pod, v);
            } else {
                unscheduled(ctl, pod, nodes.len());
            }
            continue;
        }
        let list = |k: &str| spec.get(k).and_then(Value::as_array).cloned().unwrap_or_default();
        let (inits, containers) = (list("initContainers"), list("containers"));
        // A volume from a ConfigMap or Secret that does not exist holds every container in
        // ContainerCreating, with the kubelet's FailedMount event, until it appears.
        if let Some((volume, missing)) = missing_volume(ctl, pod) {
            ctl.event(
                &pod.value,
                EventType::Warning,
                "FailedMount",
                &format!("MountVolume.SetUp failed for volume \"{volume}\" : {missing} not found"),
                ("kubelet", Some(&node)),
            );
            let statuses: Vec<Value> = containers
                .iter()
                .map(|c| container_status(ctl, c, &Stage::Creating, started.0, pod.name(), &pod_uid, false))
                .collect();
            let created_at = rfc3339(first.0);
            let mut v = pod.value.clone();
            v["status"] = json!({
                "phase": "Pending",
                "conditions": [
                    condition("PodReadyToStartContainers", false, None, &created_at),
                    condition("Initialized", true, None, &created_at),
                    condition("Ready", false, Some("ContainersNotReady"), &created_at),
                    condition("ContainersReady", false, Some("ContainersNotReady"), &created_at),
                    condition("PodScheduled", true, None, &created_at),
                ],
                "startTime": created_at,
                "containerStatuses": statuses,
                "qosClass": pod.value.pointer("/status/qosClass").cloned().unwrap_or(json!("BestEffort")),
            });
            ctl.update(&pod_gr, pod, v);
            continue;
        }

        // Init containers run in order; a failing one holds the pod in Init.
        let mut init_statuses = Vec::new();
        let mut init_blocked = None;
        for c in &inits {
            let stage = if init_blocked.is_some() {
                Stage::Creating
            } else {
                stage_of(ctl, c["image"].as_str().unwrap_or_default(), started, now, true)
            };
            if stage != Stage::Completed && init_blocked.is_none() {
                init_blocked = Some(stage.clone());
            }
            init_statuses.push(container_status(ctl, c, &stage, started.0, pod.name(), &pod_uid, true));
        }
        let stages: Vec<Stage> = containers
            .iter()
            .map(|c| {
                if init_blocked.is_some() {
                    Stage::Creating
                } else {
                    stage_of(ctl, c["image"].as_str().unwrap_or_default(), started, now, false)
                }
            })
            .collect();
        let statuses: Vec<Value> = containers
            .iter()
            .zip(&stages)
            .map(|(c, st)| {
                let mut s = container_status(ctl, c, st, started.0, pod.name(), &pod_uid, false);
                if init_blocked.is_some() {
                    s["state"] = json!({"waiting": {"reason": "PodInitializing"}});
                }
                s
            })
            .collect();
        let all_started = init_blocked.is_none()
            && stages
                .iter()
                .all(|s| matches!(s, Stage::Running | Stage::Unready | Stage::CrashLoop { .. }));
        let all_ready = init_blocked.is_none() && stages.iter().all(|s| *s == Stage::Running);
        let started_at = rfc3339(started.0);
        let created_at = rfc3339(first.0);
        let phase = if all_started { "Running" } else { "Pending" };
        let node_index = nodes.iter().position(|n| n.name() == node).unwrap_or(0);
        let host_ip = nodes
            .get(node_index)
            .and_then(|n| n.value.pointer("/status/addresses/0/address").and_then(Value::as_str))
            .unwrap_or("172.18.0.2")
            .to_string();
        let mut status = json!({
            "phase": phase,
            "conditions": [
                condition("PodReadyToStartContainers", now >= started.1, None, &started_at),
                condition("Initialized", init_blocked.is_none(), Some("ContainersNotInitialized"), &created_at),
                condition("Ready", all_ready, Some("ContainersNotReady"), &started_at),
                condition("ContainersReady", all_ready, Some("ContainersNotReady"), &started_at),
                condition("PodScheduled", true, None, &created_at),
            ],
            "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
            "startTime": created_at,
            "containerStatuses": statuses,
            "qosClass": pod.value.pointer("/status/qosClass").cloned().unwrap_or(json!("BestEffort")),
        });
        if !init_statuses.is_empty() {
            status["initContainerStatuses"] = json!(init_statuses);
        }
        if now >= started.1 {
            let ip = format!("10.244.{node_index}.{}", 2 + fnv1a(pod_uid.as_bytes()) % 250);
            status["podIP"] = json!(ip);
            status["podIPs"] = json!([{"ip": ip}]);
        }
        record_transitions(ctl, pod, &node, &containers, &stages, &inits, init_blocked.as_ref());
        let mut v = pod.value.clone();
        v["status"] = status;
        ctl.update(&pod_gr, pod, v);
    }
    ctl.first_seen.retain(|uid, _| live.contains(uid));
    for r in ["deployments", "replicasets", "statefulsets", "daemonsets"] {
        live.extend(ctl.list(&gr("apps", r)).iter().map(|o| uid(o).to_string()));
    }
    ctl.forget_events(&live);
}

/// A pod no node can take: Pending, `PodScheduled=False Unschedulable`, and the
/// scheduler's FailedScheduling event, with the scheduler's own wording.
fn unscheduled(ctl: &mut Controller, pod: &crate::store::Object, nodes: usize) {
    let lacking = super::scheduling::insufficient(&pod.value["spec"]);
    let message = super::scheduling::unschedulable_message(nodes.max(1), &lacking);
    ctl.event(
        &pod.value,
        EventType::Warning,
        "FailedScheduling",
        &message,
        ("default-scheduler", None),
    );
    let at = pod
        .value
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut c = condition("PodScheduled", false, Some("Unschedulable"), &at);
    c["message"] = json!(message);
    let mut v = pod.value.clone();
    v["status"] = json!({"phase": "Pending", "conditions": [c],
        "qosClass": pod.value.pointer("/status/qosClass").cloned().unwrap_or(json!("BestEffort"))});
    ctl.update(&gr("", "pods"), pod, v);
}

/// The first volume of a pod whose ConfigMap or Secret does not exist (and is not
/// optional): its name and `configmap "x"` / `secret "x"`.
fn missing_volume(ctl: &Controller, pod: &crate::store::Object) -> Option<(String, String)> {
    let volumes = pod.value.pointer("/spec/volumes").and_then(Value::as_array)?;
    for v in volumes {
        let name = v.get("name").and_then(Value::as_str).unwrap_or_default();
        let (kind, resource, object) = if let Some(cm) = v.get("configMap") {
            (
                "configmap",
                "configmaps",
                cm.get("name").and_then(Value::as_str).map(|n| (n, cm)),
            )
        } else if let Some(sec) = v.get("secret") {
            (
                "secret",
                "secrets",
                sec.get("secretName").and_then(Value::as_str).map(|n| (n, sec)),
            )
        } else {
            continue;
        };
        let Some((object, source)) = object else { continue };
        if source.get("optional").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        if ctl
            .cluster
            .store
            .get(&gr("", resource), pod.namespace(), object)
            .is_none()
        {
            return Some((name.to_string(), format!("{kind} \"{object}\"")));
        }
    }
    None
}

/// Kubelet and scheduler events, recorded on each transition (repeats fold into counts).
fn record_transitions(
    ctl: &mut Controller,
    pod: &crate::store::Object,
    node: &str,
    containers: &[Value],
    stages: &[Stage],
    inits: &[Value],
    init_blocked: Option<&Stage>,
) {
    let kubelet = ("kubelet", Some(node));
    let pod_ref = format!("{}/{}", pod.namespace(), pod.name());
    ctl.event(
        &pod.value,
        EventType::Normal,
        "Scheduled",
        &format!("Successfully assigned {pod_ref} to {node}"),
        ("default-scheduler", None),
    );
    let report = |ctl: &mut Controller, c: &Value, stage: &Stage| {
        let name = c["name"].as_str().unwrap_or_default();
        let image = c["image"].as_str().unwrap_or_default();
        match stage {
            Stage::Creating => {}
            Stage::Running | Stage::Unready | Stage::Completed | Stage::CrashLoop { .. } => {
                ctl.event(
                    &pod.value,
                    EventType::Normal,
                    "Pulled",
                    &format!("Container image \"{image}\" already present on machine"),
                    kubelet,
                );
                ctl.event(
                    &pod.value,
                    EventType::Normal,
                    "Created",
                    &format!("Created container: {name}"),
                    kubelet,
                );
                ctl.event(
                    &pod.value,
                    EventType::Normal,
                    "Started",
                    &format!("Started container {name}"),
                    kubelet,
                );
                if *stage == Stage::Unready {
                    let probe = c.pointer("/readinessProbe");
                    let message = if probe.and_then(|p| p.get("httpGet")).is_some() {
                        "Readiness probe failed: HTTP probe failed with statuscode: 503".to_string()
                    } else if let Some(port) = probe.and_then(|p| p.pointer("/tcpSocket/port")) {
                        format!("Readiness probe failed: dial tcp: connect to port {port}: connection refused")
                    } else {
                        "Readiness probe failed: the container did not report ready".to_string()
                    };
                    ctl.event(&pod.value, EventType::Warning, "Unhealthy", &message, kubelet);
                }
                if let Stage::CrashLoop { restarts, .. } = stage
                    && *restarts > 0
                {
                    let message = format!(
                        "Back-off restarting failed container {name} in pod {}_{}({})",
                        pod.name(),
                        pod.namespace(),
                        uid(pod)
                    );
                    ctl.event_occurrence(&pod.value, EventType::Warning, "BackOff", &message, kubelet, *restarts);
                }
            }
            Stage::PullFailed { backoff } => {
                ctl.event(
                    &pod.value,
                    EventType::Normal,
                    "Pulling",
                    &format!("Pulling image \"{image}\""),
                    kubelet,
                );
                ctl.event(
                    &pod.value,
                    EventType::Warning,
                    "Failed",
                    &format!("Failed to pull image \"{image}\": not found"),
                    kubelet,
                );
                if *backoff {
                    ctl.event(
                        &pod.value,
                        EventType::Normal,
                        "BackOff",
                        &format!("Back-off pulling image \"{image}\""),
                        kubelet,
                    );
                }
            }
        }
    };
    for c in inits {
        let stage = match init_blocked {
            Some(s) => s.clone(),
            None => Stage::Completed,
        };
        report(ctl, c, &stage);
    }
    for (c, stage) in containers.iter().zip(stages) {
        report(ctl, c, stage);
    }
}
