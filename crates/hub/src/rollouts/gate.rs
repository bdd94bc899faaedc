//! Health gates that judge the NEW revision, never stale status: an object passes only when
//! it carries the revision's hash, its controller has observed the generation that apply
//! produced (`status.observedGeneration >= metadata.generation`), and its counts match what
//! it asks for (Deployment, StatefulSet, DaemonSet; a Job completes). A pod of the workload
//! that crash-loops or cannot pull its image fails the gate at once, naming the cause; a
//! user gate compares a path of any object with a value.

use serde_json::Value;

use super::revision::REVISION_ANNOTATION;
use crate::crd::rollout::Gate;

/// What a gate says about a cluster now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Not yet: what it waits for.
    Wait(String),
    /// Failed for good: the cause.
    Fail(String),
}

impl Verdict {
    /// The first verdict that is not `Pass` (a failure before a wait), else `Pass`.
    #[must_use]
    pub fn all(verdicts: impl IntoIterator<Item = Self>) -> Self {
        let mut wait = None;
        for v in verdicts {
            match v {
                Self::Pass => {}
                Self::Fail(_) => return v,
                Self::Wait(_) if wait.is_none() => wait = Some(v),
                Self::Wait(_) => {}
            }
        }
        wait.unwrap_or(Self::Pass)
    }
}

fn int(v: &Value, pointer: &str) -> i64 {
    v.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn condition<'a>(v: &'a Value, type_: &str) -> Option<&'a Value> {
    v.pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
}

/// Whether an object of this kind has a rollout status the gate reads.
#[must_use]
pub fn is_workload(kind: &str) -> bool {
    matches!(kind, "Deployment" | "StatefulSet" | "DaemonSet" | "Job")
}

/// Judge one applied object (as read back) against revision `hash`. `what` names it.
#[must_use]
pub fn object(what: &str, obj: &Value, hash: &str) -> Verdict {
    let at = obj
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(REVISION_ANNOTATION))
        .and_then(Value::as_str);
    if at != Some(hash) {
        return Verdict::Wait(format!("{what} is not at revision {hash} yet"));
    }
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
    if !is_workload(kind) {
        return Verdict::Pass;
    }
    let generation = int(obj, "/metadata/generation");
    let observed = int(obj, "/status/observedGeneration");
    if observed < generation {
        return Verdict::Wait(format!(
            "{what}: the controller has not observed generation {generation} yet (observedGeneration {observed})"
        ));
    }
    let desired = obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let counts = |pairs: &[(&str, i64)]| -> Verdict {
        for (field, have) in pairs {
            if *have != desired {
                return Verdict::Wait(format!("{what}: {field} {have} of {desired}"));
            }
        }
        Verdict::Pass
    };
    match kind {
        "Deployment" => {
            if let Some(c) = condition(obj, "Progressing")
                && c["reason"] == "ProgressDeadlineExceeded"
            {
                return Verdict::Fail(format!(
                    "{what}: ProgressDeadlineExceeded: {}",
                    c["message"].as_str().unwrap_or_default()
                ));
            }
            counts(&[
                ("updatedReplicas", int(obj, "/status/updatedReplicas")),
                ("readyReplicas", int(obj, "/status/readyReplicas")),
                ("availableReplicas", int(obj, "/status/availableReplicas")),
                ("replicas", int(obj, "/status/replicas")),
            ])
        }
        "StatefulSet" => {
            let v = counts(&[
                ("updatedReplicas", int(obj, "/status/updatedReplicas")),
                ("readyReplicas", int(obj, "/status/readyReplicas")),
            ]);
            let (cur, upd) = (
                obj.pointer("/status/currentRevision"),
                obj.pointer("/status/updateRevision"),
            );
            if v == Verdict::Pass && upd.is_some() && cur != upd {
                return Verdict::Wait(format!("{what}: currentRevision is not updateRevision yet"));
            }
            v
        }
        "DaemonSet" => {
            let want = int(obj, "/status/desiredNumberScheduled");
            for field in ["updatedNumberScheduled", "numberReady", "numberAvailable"] {
                let have = int(obj, &format!("/status/{field}"));
                if have != want {
                    return Verdict::Wait(format!("{what}: {field} {have} of {want}"));
                }
            }
            Verdict::Pass
        }
        "Job" => {
            if condition(obj, "Failed").is_some_and(|c| c["status"] == "True") {
                let c = condition(obj, "Failed").cloned().unwrap_or_default();
                return Verdict::Fail(format!(
                    "{what}: failed: {} {}",
                    c["reason"].as_str().unwrap_or_default(),
                    c["message"].as_str().unwrap_or_default()
                ));
            }
            if condition(obj, "Complete").is_some_and(|c| c["status"] == "True") {
                Verdict::Pass
            } else {
                Verdict::Wait(format!("{what}: not complete yet"))
            }
        }
        _ => Verdict::Pass,
    }
}

/// Waiting reasons that mean the new pods will not come up by themselves.
const FATAL_WAITING: [&str; 6] = [
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
];

/// The images a workload's pod template runs.
#[must_use]
pub fn template_images(workload: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for list in ["/spec/template/spec/containers", "/spec/template/spec/initContainers"] {
        for c in workload.pointer(list).and_then(Value::as_array).into_iter().flatten() {
            if let Some(i) = c.get("image").and_then(Value::as_str) {
                out.push(i.to_string());
            }
        }
    }
    out
}

/// The label selector of a workload's pods (`matchLabels` as `k=v,...`).
#[must_use]
pub fn pod_selector(workload: &Value) -> Option<String> {
    let labels = workload.pointer("/spec/selector/matchLabels")?.as_object()?;
    if labels.is_empty() {
        return None;
    }
    Some(
        labels
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// A pod of the new revision (running one of `images`) that will not come up: the cause.
#[must_use]
pub fn pod_failure(what: &str, pods: &[Value], images: &[String]) -> Option<String> {
    for pod in pods {
        let name = pod
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        for list in ["/status/initContainerStatuses", "/status/containerStatuses"] {
            for cs in pod.pointer(list).and_then(Value::as_array).into_iter().flatten() {
                let image = cs.get("image").and_then(Value::as_str).unwrap_or_default();
                if !images.iter().any(|i| i == image) {
                    continue;
                }
                let Some(w) = cs.pointer("/state/waiting") else {
                    continue;
                };
                let reason = w.get("reason").and_then(Value::as_str).unwrap_or_default();
                if FATAL_WAITING.contains(&reason) {
                    let container = cs.get("name").and_then(Value::as_str).unwrap_or_default();
                    let mut message: String = w
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .chars()
                        .take(300)
                        .collect();
                    if let Some(code) = cs.pointer("/lastState/terminated/exitCode").and_then(Value::as_i64) {
                        message = format!("last exit code {code}; {message}");
                    }
                    return Some(format!(
                        "{what}: pod {name} container {container} ({image}): {reason}: {message}"
                    ));
                }
            }
        }
    }
    None
}

/// The value at a `.a.b[0].c` path or a `/a/b/0/c` JSON pointer.
#[must_use]
pub fn at_path<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    if path.starts_with('/') {
        return obj.pointer(path);
    }
    let mut pointer = String::new();
    for part in path.trim_start_matches('.').split('.') {
        let (key, index) = match part.split_once('[') {
            Some((k, rest)) => (k, Some(rest.trim_end_matches(']'))),
            None => (part, None),
        };
        pointer.push('/');
        pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
        if let Some(i) = index {
            pointer.push('/');
            pointer.push_str(i);
        }
    }
    obj.pointer(&pointer)
}

/// Judge a user gate against the object it names, as read (`None`: not found).
#[must_use]
pub fn user(gate: &Gate, obj: Option<&Value>) -> Verdict {
    let Some(obj) = obj else {
        return Verdict::Wait(format!("gate {}: object not found", gate.object));
    };
    match at_path(obj, &gate.path) {
        Some(v) if *v == gate.equals => Verdict::Pass,
        Some(v) => Verdict::Wait(format!(
            "gate {} {}: {v} is not {}",
            gate.object, gate.path, gate.equals
        )),
        None => Verdict::Wait(format!("gate {} {}: not set", gate.object, gate.path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy(generation: i64, observed: i64, updated: i64, ready: i64) -> Value {
        json!({"kind": "Deployment", "metadata": {"generation": generation, "annotations": {REVISION_ANNOTATION: "h2"}},
            "spec": {"replicas": 2},
            "status": {"observedGeneration": observed, "replicas": 2, "updatedReplicas": updated, "readyReplicas": ready, "availableReplicas": ready}})
    }

    #[test]
    fn stale_status_never_passes() {
        // The old revision's status: everything ready, but for generation 1.
        assert!(
            matches!(object("deploy/web", &deploy(2, 1, 2, 2), "h2"), Verdict::Wait(m) if m.contains("generation 2"))
        );
        assert!(
            matches!(object("deploy/web", &deploy(2, 2, 1, 2), "h2"), Verdict::Wait(m) if m.contains("updatedReplicas 1 of 2"))
        );
        assert_eq!(object("deploy/web", &deploy(2, 2, 2, 2), "h2"), Verdict::Pass);
        assert!(
            matches!(object("deploy/web", &deploy(2, 2, 2, 2), "h3"), Verdict::Wait(_)),
            "another revision"
        );
        let mut stuck = deploy(2, 2, 1, 1);
        stuck["status"]["conditions"] = json!([{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "timed out"}]);
        assert!(
            matches!(object("deploy/web", &stuck, "h2"), Verdict::Fail(m) if m.contains("ProgressDeadlineExceeded"))
        );
    }

    #[test]
    fn other_kinds() {
        let ann = json!({REVISION_ANNOTATION: "h"});
        let cm = json!({"kind": "ConfigMap", "metadata": {"annotations": ann}});
        assert_eq!(object("cm/x", &cm, "h"), Verdict::Pass);
        let job = |c: Value| json!({"kind": "Job", "metadata": {"generation": 1, "annotations": ann}, "status": {"observedGeneration": 1, "conditions": c}});
        assert_eq!(
            object("job/j", &job(json!([{"type": "Complete", "status": "True"}])), "h"),
            Verdict::Pass
        );
        assert!(matches!(
            object(
                "job/j",
                &job(json!([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}])),
                "h"
            ),
            Verdict::Fail(_)
        ));
        assert!(matches!(object("job/j", &job(json!([])), "h"), Verdict::Wait(_)));
        let ds = json!({"kind": "DaemonSet", "metadata": {"generation": 1, "annotations": ann}, "status": {"observedGeneration": 1,
            "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberReady": 2, "numberAvailable": 2}});
        assert!(matches!(object("ds/d", &ds, "h"), Verdict::Wait(m) if m.contains("numberReady 2 of 3")));
        let sts = json!({"kind": "StatefulSet", "metadata": {"generation": 1, "annotations": ann}, "spec": {"replicas": 1},
            "status": {"observedGeneration": 1, "updatedReplicas": 1, "readyReplicas": 1, "currentRevision": "a", "updateRevision": "b"}});
        assert!(matches!(object("sts/s", &sts, "h"), Verdict::Wait(_)));
    }

    #[test]
    fn broken_pods_fail_with_their_cause() {
        let pod = |image: &str, reason: &str| {
            json!({"metadata": {"name": "web-1"}, "status": {"containerStatuses": [
            {"name": "web", "image": image, "state": {"waiting": {"reason": reason, "message": "back-off pulling"}}}]}})
        };
        let images = vec!["nginx:missing".to_string()];
        let cause = pod_failure("deploy/web", &[pod("nginx:missing", "ImagePullBackOff")], &images).unwrap();
        assert!(
            cause.contains("ImagePullBackOff") && cause.contains("web-1") && cause.contains("nginx:missing"),
            "{cause}"
        );
        assert_eq!(
            pod_failure("deploy/web", &[pod("nginx:1.0", "ImagePullBackOff")], &images),
            None,
            "old pods do not count"
        );
        assert_eq!(
            pod_failure("deploy/web", &[pod("nginx:missing", "ContainerCreating")], &images),
            None
        );
        assert_eq!(
            Verdict::all([Verdict::Pass, Verdict::Wait("a".into()), Verdict::Fail("b".into())]),
            Verdict::Fail("b".into())
        );
    }

    #[test]
    fn user_gates() {
        let obj = json!({"status": {"phase": "Ready", "items": [{"ok": true}]}});
        let gate = |path: &str, equals: Value| Gate {
            object: "widgets.example.com/w".into(),
            path: path.into(),
            equals,
        };
        assert_eq!(user(&gate(".status.phase", json!("Ready")), Some(&obj)), Verdict::Pass);
        assert_eq!(
            user(&gate("/status/items/0/ok", json!(true)), Some(&obj)),
            Verdict::Pass
        );
        assert_eq!(
            user(&gate(".status.items[0].ok", json!(true)), Some(&obj)),
            Verdict::Pass
        );
        assert!(matches!(
            user(&gate(".status.phase", json!("Done")), Some(&obj)),
            Verdict::Wait(_)
        ));
        assert!(matches!(
            user(&gate(".status.phase", json!("Ready")), None),
            Verdict::Wait(_)
        ));
    }
}
