//! Why pods are not Ready, across the fleet at once: each pod that is not Ready gets a
//! root cause from its conditions, its init-container and container states (waiting
//! reason and message, last termination's reason and exit code, restarts) and its events;
//! the same cause (reason plus the distinguishing detail: the image, the init container
//! and its exit code, the missing ConfigMap, the unschedulable resource) on many clusters
//! is one line with its clusters, pods and evidence. Pure and deterministic.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What an exit code means.
#[must_use]
pub fn exit_meaning(code: i64, reason: Option<&str>) -> String {
    match (code, reason) {
        (137, Some("OOMKilled")) => "OOMKilled: killed for exceeding its memory limit".into(),
        (0, _) => "exited successfully".into(),
        (126, _) => "command not executable".into(),
        (127, _) => "command not found".into(),
        (137, _) => "SIGKILL".into(),
        (139, _) => "SIGSEGV: segmentation fault".into(),
        (143, _) => "SIGTERM".into(),
        (c, _) if c > 128 && c < 128 + 65 => format!("killed by signal {}", c - 128),
        _ => "application error".into(),
    }
}

/// One cluster's pods and events (as the API returns them).
#[derive(Debug, Clone, Default)]
pub struct ClusterInput {
    pub pods: Vec<Value>,
    pub events: Vec<Value>,
    /// The workload asked about (a Deployment, StatefulSet, ...), when the target is one:
    /// pods it should have and does not are a cause too.
    pub workload: Option<Value>,
}

/// One cause, on some clusters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cause {
    /// A stable label: `ImagePullBackOff`, `CrashLoopBackOff`, `OOMKilled`,
    /// `InitContainerFailed`, `Unschedulable`, `FailedMount`, `ReadinessProbeFailed`,
    /// `CreateContainerConfigError`, `NotReady`.
    pub reason: String,
    /// What distinguishes it: the image, the container and exit code, the missing object.
    pub detail: String,
    /// What the exit code means, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meaning: Option<String>,
    /// Cluster -> the pods it hit there.
    pub clusters: BTreeMap<String, Vec<String>>,
    /// A few lines that show it (status messages, events), from the first cluster.
    pub evidence: Vec<String>,
}

/// The fleet's diagnosis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Diagnosis {
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Most clusters first, then by reason and detail.
    pub causes: Vec<Cause>,
    /// Clusters where every pod of the target is Ready.
    pub healthy: Vec<String>,
    /// Clusters that could not be asked (with why).
    pub failed: BTreeMap<String, String>,
    pub pods: u64,
    pub pods_not_ready: u64,
}

impl Diagnosis {
    /// Whether a cause was found (exit code 1).
    #[must_use]
    pub fn found(&self) -> bool {
        !self.causes.is_empty()
    }
}

fn text<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or_default()
}

/// Whether a pod is Ready (or finished successfully).
#[must_use]
pub fn ready(pod: &Value) -> bool {
    let phase = text(pod, "/status/phase");
    if phase == "Succeeded" {
        return true;
    }
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

/// The events about one object (by kind and name), newest last.
fn events_of<'a>(events: &'a [Value], kind: &str, name: &str) -> Vec<&'a Value> {
    let mut out: Vec<&Value> = events
        .iter()
        .filter(|e| {
            let o = e.get("involvedObject").or_else(|| e.get("regarding"));
            o.is_some_and(|o| o["kind"] == kind && o["name"] == name)
        })
        .collect();
    out.sort_by_key(|e| {
        text(e, "/lastTimestamp")
            .to_string()
            .max(text(e, "/eventTime").to_string())
    });
    out
}

fn message_of(e: &Value) -> &str {
    e.get("message")
        .or_else(|| e.get("note"))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// `configmap "x" not found` -> `ConfigMap x`.
fn missing_object(message: &str) -> Option<String> {
    for (needle, kind) in [("configmap \"", "ConfigMap"), ("secret \"", "Secret")] {
        if let Some(i) = message.find(needle) {
            let rest = &message[i + needle.len()..];
            if let Some(end) = rest.find('"') {
                return Some(format!("{kind} {}", &rest[..end]));
            }
        }
    }
    None
}

/// The resource a scheduling failure lacks: `Insufficient cpu` -> `cpu`.
fn insufficient(message: &str) -> Option<String> {
    let mut found: BTreeSet<String> = BTreeSet::new();
    for part in message.split(['.', ',']) {
        if let Some(r) = part.trim().split("Insufficient ").nth(1) {
            found.insert(r.trim().to_string());
        }
    }
    (!found.is_empty()).then(|| found.into_iter().collect::<Vec<_>>().join(", "))
}

/// The root cause of one pod that is not Ready: (reason, detail, meaning, evidence).
fn cause_of(pod: &Value, events: &[Value]) -> (String, String, Option<String>, Vec<String>) {
    let name = text(pod, "/metadata/name");
    let pod_events = events_of(events, "Pod", name);
    let warning = |reason: &str| {
        pod_events
            .iter()
            .rev()
            .find(|e| e["reason"] == reason)
            .map(|e| format!("event {reason}: {}", message_of(e)))
    };
    let conditions = pod.pointer("/status/conditions").and_then(Value::as_array);
    if let Some(c) = conditions.and_then(|cs| {
        cs.iter()
            .find(|c| c["type"] == "PodScheduled" && c["status"] == "False")
    }) {
        let message = text(c, "/message");
        let detail = insufficient(message).map_or_else(|| message.to_string(), |r| format!("insufficient {r}"));
        let mut ev = vec![format!("PodScheduled=False {}: {message}", text(c, "/reason"))];
        ev.extend(warning("FailedScheduling"));
        return ("Unschedulable".into(), detail, None, ev);
    }
    if let Some(e) = pod_events.iter().rev().find(|e| e["reason"] == "FailedMount") {
        let message = message_of(e);
        let detail = missing_object(message).unwrap_or_else(|| message.chars().take(120).collect());
        return (
            "FailedMount".into(),
            detail,
            None,
            vec![format!("event FailedMount: {message}")],
        );
    }
    let statuses = |key: &str| -> Vec<Value> {
        pod.pointer(&format!("/status/{key}"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let judge = |cs: &Value, init: bool| -> Option<(String, String, Option<String>, Vec<String>)> {
        let container = text(cs, "/name");
        let image = text(cs, "/image");
        let waiting = text(cs, "/state/waiting/reason");
        let waiting_msg = text(cs, "/state/waiting/message");
        let last_code = cs.pointer("/lastState/terminated/exitCode").and_then(Value::as_i64);
        let last_reason = cs.pointer("/lastState/terminated/reason").and_then(Value::as_str);
        let term_code = cs.pointer("/state/terminated/exitCode").and_then(Value::as_i64);
        let restarts = cs.pointer("/restartCount").and_then(Value::as_i64).unwrap_or(0);
        let kind = if init { "init container" } else { "container" };
        let mut ev = Vec::new();
        if !waiting.is_empty() {
            ev.push(
                format!("{kind} {container} waiting: {waiting} {waiting_msg}")
                    .trim()
                    .to_string(),
            );
        }
        if let Some(code) = last_code {
            ev.push(format!(
                "{kind} {container} last terminated: {} exit code {code}, {restarts} restart(s)",
                last_reason.unwrap_or("Error")
            ));
        }
        match waiting {
            "ImagePullBackOff" | "ErrImagePull" | "InvalidImageName" => {
                ev.extend(warning("Failed"));
                let reason = if init {
                    "InitContainerFailed"
                } else {
                    "ImagePullBackOff"
                };
                Some((
                    reason.into(),
                    format!("{kind} {container}: image {image} cannot be pulled"),
                    None,
                    ev,
                ))
            }
            "CreateContainerConfigError" => {
                let detail = missing_object(waiting_msg).unwrap_or_else(|| waiting_msg.to_string());
                Some(("CreateContainerConfigError".into(), detail, None, ev))
            }
            _ => {
                let code = last_code.or(term_code.filter(|c| *c != 0));
                let crashing = waiting == "CrashLoopBackOff" || code.is_some();
                if !crashing {
                    return None;
                }
                ev.extend(warning("BackOff"));
                let code = code.unwrap_or(1);
                let meaning = exit_meaning(code, last_reason);
                if init {
                    return Some((
                        "InitContainerFailed".into(),
                        format!("init container {container} ({image}) exits {code}"),
                        Some(meaning),
                        ev,
                    ));
                }
                if last_reason == Some("OOMKilled") || code == 137 {
                    return Some((
                        "OOMKilled".into(),
                        format!("container {container} ({image}) exits {code}"),
                        Some(meaning),
                        ev,
                    ));
                }
                Some((
                    "CrashLoopBackOff".into(),
                    format!("container {container} ({image}) exits {code}"),
                    Some(meaning),
                    ev,
                ))
            }
        }
    };
    for cs in statuses("initContainerStatuses") {
        if let Some(c) = judge(&cs, true) {
            return c;
        }
    }
    for cs in statuses("containerStatuses") {
        if let Some(c) = judge(&cs, false) {
            return c;
        }
    }
    if let Some(e) = pod_events.iter().rev().find(|e| e["reason"] == "Unhealthy") {
        let message = message_of(e);
        let probe = message.split(':').next().unwrap_or("probe failed").to_string();
        return (
            "ReadinessProbeFailed".into(),
            probe,
            None,
            vec![format!("event Unhealthy: {message}")],
        );
    }
    let not_ready: Vec<String> = conditions
        .into_iter()
        .flatten()
        .filter(|c| c["status"] != "True")
        .map(|c| format!("{}={} {}", text(c, "/type"), text(c, "/status"), text(c, "/reason")))
        .collect();
    (
        "NotReady".into(),
        format!("phase {}", text(pod, "/status/phase")),
        None,
        not_ready,
    )
}

/// `Pod/x <- ReplicaSet/y <- Deployment/z`: the pod and its owners (the workload asked
/// about last, when known).
fn owner_chain(pod: &Value, workload: Option<&Value>) -> String {
    let mut chain = vec![format!("Pod/{}", text(pod, "/metadata/name"))];
    if let Some(owner) = pod
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .and_then(|rs| rs.iter().find(|r| r["controller"] == true).or_else(|| rs.first()))
    {
        chain.push(format!("{}/{}", text(owner, "/kind"), text(owner, "/name")));
    }
    if let Some(w) = workload {
        let me = format!("{}/{}", text(w, "/kind"), text(w, "/metadata/name"));
        if chain.last() != Some(&me) {
            chain.push(me);
        }
    }
    format!("owner chain: {}", chain.join(" <- "))
}

/// Whether a cluster's input needs its events read: a pod not Ready, or a workload short
/// of pods.
#[must_use]
pub fn needs_events(input: &ClusterInput) -> bool {
    let short = input.workload.as_ref().is_some_and(|w| {
        let desired = w.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
        i64::try_from(input.pods.len()).unwrap_or(i64::MAX) < desired
    });
    short || input.pods.iter().any(|p| !ready(p))
}

/// Why a workload has fewer pods than it asks for: a controller's FailedCreate (quota,
/// admission), or the Deployment's ProgressDeadlineExceeded.
fn missing_pods(w: &Value, events: &[Value], have: i64, desired: i64) -> (String, String, Vec<String>) {
    let mut evidence = vec![format!("{have} of {desired} pod(s) exist")];
    if let Some(e) = events
        .iter()
        .filter(|e| e["reason"] == "FailedCreate")
        .max_by_key(|e| text(e, "/lastTimestamp").to_string())
    {
        let message = message_of(e);
        evidence.push(format!("event FailedCreate: {message}"));
        let detail = message
            .split_once("forbidden: ")
            .map_or(message, |(_, why)| why)
            .chars()
            .take(120)
            .collect();
        return ("FailedCreate".into(), detail, evidence);
    }
    if let Some(c) = w
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["reason"] == "ProgressDeadlineExceeded"))
    {
        evidence.push(format!("ProgressDeadlineExceeded: {}", text(c, "/message")));
        return (
            "ProgressDeadlineExceeded".into(),
            format!("{have} of {desired} pod(s)"),
            evidence,
        );
    }
    ("MissingPods".into(), format!("{have} of {desired} pod(s)"), evidence)
}

/// Diagnose `target` from each cluster's pods and events; `failed` are clusters that
/// could not be asked.
#[must_use]
pub fn build(
    target: &str,
    namespace: Option<&str>,
    clusters: &BTreeMap<String, ClusterInput>,
    failed: BTreeMap<String, String>,
) -> Diagnosis {
    let mut causes: BTreeMap<(String, String), Cause> = BTreeMap::new();
    let mut healthy = Vec::new();
    let (mut pods, mut not_ready) = (0_u64, 0_u64);
    for (cluster, input) in clusters {
        let mut sick = false;
        let mut sorted: Vec<&Value> = input.pods.iter().collect();
        sorted.sort_by_key(|p| text(p, "/metadata/name").to_string());
        for pod in sorted {
            pods += 1;
            if ready(pod) {
                continue;
            }
            not_ready += 1;
            sick = true;
            let (reason, detail, meaning, evidence) = cause_of(pod, &input.events);
            let entry = causes.entry((reason.clone(), detail.clone())).or_insert_with(|| Cause {
                reason,
                detail,
                meaning,
                clusters: BTreeMap::new(),
                evidence: std::iter::once(owner_chain(pod, input.workload.as_ref()))
                    .chain(evidence.into_iter().take(4))
                    .collect(),
            });
            entry
                .clusters
                .entry(cluster.clone())
                .or_default()
                .push(text(pod, "/metadata/name").to_string());
        }
        if let Some(w) = &input.workload {
            let desired = w.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
            let have = i64::try_from(input.pods.len()).unwrap_or(i64::MAX);
            if have < desired {
                sick = true;
                let (reason, detail, evidence) = missing_pods(w, &input.events, have, desired);
                causes
                    .entry((reason.clone(), detail.clone()))
                    .or_insert_with(|| Cause {
                        reason,
                        detail,
                        meaning: None,
                        clusters: BTreeMap::new(),
                        evidence,
                    })
                    .clusters
                    .entry(cluster.clone())
                    .or_default()
                    .push(text(w, "/metadata/name").to_string());
            }
        }
        if !sick {
            healthy.push(cluster.clone());
        }
    }
    let mut causes: Vec<Cause> = causes.into_values().collect();
    causes.sort_by(|a, b| {
        b.clusters
            .len()
            .cmp(&a.clusters.len())
            .then_with(|| (&a.reason, &a.detail).cmp(&(&b.reason, &b.detail)))
    });
    Diagnosis {
        target: target.to_string(),
        namespace: namespace.map(String::from),
        causes,
        healthy,
        failed,
        pods,
        pods_not_ready: not_ready,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, status: Value) -> Value {
        json!({"metadata": {"name": name}, "status": status})
    }

    fn not_ready(extra: Value) -> Value {
        let mut s = json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}]});
        for (k, v) in extra.as_object().unwrap() {
            s[k] = v.clone();
        }
        s
    }

    #[test]
    fn exit_codes() {
        assert_eq!(exit_meaning(126, None), "command not executable");
        assert_eq!(exit_meaning(127, None), "command not found");
        assert!(exit_meaning(137, Some("OOMKilled")).starts_with("OOMKilled"));
        assert_eq!(exit_meaning(137, None), "SIGKILL");
        assert!(exit_meaning(139, None).starts_with("SIGSEGV"));
        assert_eq!(exit_meaning(143, None), "SIGTERM");
        assert_eq!(exit_meaning(130, None), "killed by signal 2");
        assert_eq!(exit_meaning(1, None), "application error");
    }

    #[test]
    fn the_same_cause_on_many_clusters_is_one_line() {
        let pull = |n: &str| {
            pod(
                n,
                not_ready(json!({"containerStatuses": [{"name": "web", "image": "web:1.2",
                "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"web:1.2\""}}}]})),
            )
        };
        let oom = pod(
            "api-1",
            not_ready(
                json!({"containerStatuses": [{"name": "api", "image": "api:oom", "restartCount": 3,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}}, "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}),
            ),
        );
        let init = pod(
            "db-0",
            json!({"phase": "Pending", "conditions": [{"type": "Initialized", "status": "False"}, {"type": "Ready", "status": "False"}],
            "initContainerStatuses": [{"name": "migrate", "image": "tools:notfound", "restartCount": 2,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}}, "lastState": {"terminated": {"exitCode": 127, "reason": "Error"}}}]}),
        );
        let unsched = pod(
            "big-1",
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."}]}),
        );
        let mount_events = vec![
            json!({"involvedObject": {"kind": "Pod", "name": "cfg-1"}, "reason": "FailedMount",
            "message": "MountVolume.SetUp failed for volume \"config\" : configmap \"app-config\" not found", "lastTimestamp": "2026-01-01T00:00:00Z"}),
        ];
        let mount = pod(
            "cfg-1",
            json!({"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [{"name": "app", "image": "app:1", "state": {"waiting": {"reason": "ContainerCreating"}}}]}),
        );
        let healthy = pod(
            "web-ok",
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}),
        );
        let mut clusters = BTreeMap::new();
        for i in 0..12 {
            clusters.insert(
                format!("c{i:02}"),
                ClusterInput {
                    pods: vec![pull(&format!("web-{i}"))],
                    ..Default::default()
                },
            );
        }
        clusters.insert(
            "c20".into(),
            ClusterInput {
                pods: vec![oom, healthy.clone()],
                ..Default::default()
            },
        );
        clusters.insert(
            "c21".into(),
            ClusterInput {
                pods: vec![init],
                ..Default::default()
            },
        );
        clusters.insert(
            "c22".into(),
            ClusterInput {
                pods: vec![unsched],
                ..Default::default()
            },
        );
        clusters.insert(
            "c23".into(),
            ClusterInput {
                pods: vec![mount],
                events: mount_events,
                workload: None,
            },
        );
        clusters.insert(
            "c24".into(),
            ClusterInput {
                pods: vec![healthy],
                ..Default::default()
            },
        );
        let d = build("deploy/web", Some("shop"), &clusters, BTreeMap::new());
        assert!(d.found());
        assert_eq!(d.causes[0].reason, "ImagePullBackOff");
        assert_eq!(d.causes[0].clusters.len(), 12, "one line for 12 clusters");
        assert!(d.causes[0].detail.contains("web:1.2"));
        let by = |r: &str| {
            d.causes
                .iter()
                .find(|c| c.reason == r)
                .unwrap_or_else(|| panic!("{r} in {:#?}", d.causes))
        };
        assert!(by("OOMKilled").meaning.as_deref().unwrap().starts_with("OOMKilled"));
        let init = by("InitContainerFailed");
        assert!(
            init.detail.contains("migrate") && init.detail.contains("127"),
            "{init:?}"
        );
        assert_eq!(init.meaning.as_deref(), Some("command not found"));
        assert_eq!(by("Unschedulable").detail, "insufficient memory");
        assert_eq!(by("FailedMount").detail, "ConfigMap app-config");
        assert_eq!(d.healthy, vec!["c24"]);
        assert!(
            d.causes.iter().all(|c| c.evidence[0].starts_with("owner chain: Pod/")),
            "{:#?}",
            d.causes
        );
        // A workload short of pods, with its controller's FailedCreate.
        let quota = json!({"involvedObject": {"kind": "ReplicaSet", "name": "web-1"}, "reason": "FailedCreate",
            "message": "Error creating: pods \"web-1-x\" is forbidden: exceeded quota: pods, requested: pods=1, used: pods=0, limited: pods=0"});
        let mut short = BTreeMap::new();
        short.insert(
            "q".to_string(),
            ClusterInput {
                pods: vec![],
                events: vec![quota],
                workload: Some(json!({"metadata": {"name": "web"}, "spec": {"replicas": 2}})),
            },
        );
        let q = build("deploy/web", None, &short, BTreeMap::new());
        assert_eq!(q.causes[0].reason, "FailedCreate");
        assert!(q.causes[0].detail.starts_with("exceeded quota"), "{:?}", q.causes[0]);
        assert_eq!((d.pods, d.pods_not_ready), (18, 16));
        let again = build("deploy/web", Some("shop"), &clusters, BTreeMap::new());
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            serde_json::to_string(&again).unwrap(),
            "deterministic"
        );
    }
}
