//! Workload controllers as kube-controller-manager runs them: Deployments roll out through
//! ReplicaSets (named by pod-template hash, honouring maxSurge/maxUnavailable), ReplicaSets
//! keep their pod count, StatefulSets create ordered pods and roll them in reverse ordinal
//! order, DaemonSets keep one pod per node. Status is written the way `kubectl rollout
//! status` and `kubectl wait` read it.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::events::EventType;
use super::{Controller, gr, int, owned_by, owner_ref, uid};
use crate::behavior::fnv1a;
use crate::cluster::now_rfc3339;
use crate::objects::apply_defaults;
use crate::resources::BUILTIN_DEFS;
use crate::store::Object;

const REVISION: &str = "deployment.kubernetes.io/revision";
const HASH_LABEL: &str = "pod-template-hash";
const REVISION_LABEL: &str = "controller-revision-hash";
const CONTROLLER: (&str, Option<&str>) = ("deployment-controller", None);

/// Pods a controller creates for one workload per pass (kube's `burstReplicas`).
const BURST_REPLICAS: i64 = 500;

/// JSON with object keys sorted, so equal templates hash equally whatever their key order.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(keys.into_iter().map(|k| (k.clone(), canonical(&m[k]))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// A pod-template hash in Kubernetes' alphabet (as `rand.SafeEncodeString` spells it).
fn template_hash(template: &Value) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let h = fnv1a(canonical(template).to_string().as_bytes()) as u32;
    h.to_string()
        .bytes()
        .map(|b| ALPHABET[usize::from(b) % ALPHABET.len()] as char)
        .collect()
}

/// Resolve an int-or-percent against `total` (percentages round up for surge, down otherwise).
fn int_or_percent(v: Option<&Value>, total: i64, default: &str, round_up: bool) -> i64 {
    let v = v.cloned().unwrap_or_else(|| json!(default));
    if let Some(n) = v.as_i64() {
        return n.clamp(0, i64::from(i32::MAX));
    }
    let s = v.as_str().unwrap_or(default);
    let pct: i64 = s
        .trim_end_matches('%')
        .parse::<i64>()
        .unwrap_or(0)
        .clamp(0, i64::from(i32::MAX));
    let scaled = total.saturating_mul(pct);
    if round_up {
        scaled.saturating_add(99) / 100
    } else {
        scaled / 100
    }
}

fn pod_ready(p: &Object) -> bool {
    p.value
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

fn labels(v: &Value, pointer: &str) -> Map<String, Value> {
    v.pointer(pointer)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn pod_def() -> &'static crate::resources::ResourceDef {
    BUILTIN_DEFS
        .iter()
        .find(|d| d.kind == "Pod")
        .expect("pods are built in")
}

/// Build a pod from a template, owned by `owner`, on `node`.
fn pod_from_template(
    alloc: &dyn crate::objects::Allocator,
    owner: &Object,
    template: &Value,
    name: &str,
    node: &str,
    extra_labels: &[(&str, String)],
) -> Value {
    let mut meta = template.get("metadata").cloned().unwrap_or_else(|| json!({}));
    if let Some(m) = meta.as_object_mut() {
        m.remove("creationTimestamp");
        let l = m.entry("labels").or_insert_with(|| json!({}));
        for (k, v) in extra_labels {
            l[*k] = json!(v);
        }
    }
    meta["name"] = json!(name);
    meta["namespace"] = json!(owner.namespace());
    meta["ownerReferences"] = json!([owner_ref(owner)]);
    let mut spec = template.get("spec").cloned().unwrap_or_else(|| json!({}));
    // NB: a pod asking for more than any node has is left unscheduled, as the scheduler
    // leaves it (the kubelet pass reports it Unschedulable).
    if super::scheduling::insufficient(&spec).is_empty() {
        spec["nodeName"] = json!(node);
    }
    let mut pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec,
        "status": {"phase": "Pending", "qosClass": "BestEffort"}});
    // NB: a pod a controller creates passes the same admission as any other.
    let _ = apply_defaults(pod_def(), &mut pod, alloc);
    pod
}

fn nodes(ctl: &Controller) -> Vec<String> {
    let mut n: Vec<String> = ctl
        .list(&gr("", "nodes"))
        .iter()
        .map(|n| n.name().to_string())
        .collect();
    n.sort();
    if n.is_empty() {
        n.push(format!("{}-node-0", ctl.cluster.name));
    }
    n
}

/// Deployments -> ReplicaSets, and Deployment status.
pub(super) fn deployments(ctl: &mut Controller) {
    let rs_gr = gr("apps", "replicasets");
    let d_gr = gr("apps", "deployments");
    for d in ctl.list(&d_gr) {
        if ctl.lagging(&d) {
            continue;
        }
        let all_rs = ctl.list(&rs_gr);
        let owned: Vec<Object> = all_rs.into_iter().filter(|r| owned_by(r, uid(&d))).collect();
        let spec = &d.value["spec"];
        let desired = spec
            .get("replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .clamp(0, ctl.cluster.behavior.max_pods.max(0));
        let template = spec.get("template").cloned().unwrap_or_else(|| json!({}));
        let hash = template_hash(&template);
        let revision_of = |r: &Object| {
            r.value
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(REVISION))
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<i64>().ok())
                .unwrap_or(0)
        };
        let max_revision = owned.iter().map(&revision_of).max().unwrap_or(0);
        let new_rs = owned
            .iter()
            .find(|r| {
                r.value
                    .pointer(&format!("/metadata/labels/{HASH_LABEL}"))
                    .and_then(Value::as_str)
                    == Some(hash.as_str())
            })
            .cloned();
        let old: Vec<Object> = owned
            .iter()
            .filter(|r| new_rs.as_ref().is_none_or(|n| n.name() != r.name()))
            .cloned()
            .collect();
        let old_replicas: i64 = old.iter().map(|r| int(&r.value, "/spec/replicas")).sum();
        let recreate = spec.pointer("/strategy/type").and_then(Value::as_str) == Some("Recreate");

        let Some(new_rs) = new_rs else {
            let initial = if old_replicas == 0 { desired } else { 0 };
            let mut tpl = template.clone();
            tpl["metadata"]["labels"][HASH_LABEL] = json!(hash);
            let mut selector = spec.get("selector").cloned().unwrap_or_else(|| json!({}));
            selector["matchLabels"][HASH_LABEL] = json!(hash);
            let mut rs_labels = labels(&template, "/metadata/labels");
            rs_labels.insert(HASH_LABEL.into(), json!(hash));
            let name = format!("{}-{hash}", d.name());
            let rs = json!({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": name, "namespace": d.namespace(), "labels": rs_labels, "generation": 1,
                    "annotations": {REVISION: (max_revision + 1).to_string(), "deployment.kubernetes.io/desired-replicas": desired.to_string(),
                        "deployment.kubernetes.io/max-replicas": (desired + int_or_percent(spec.pointer("/strategy/rollingUpdate/maxSurge"), desired, "25%", true)).to_string()},
                    "ownerReferences": [owner_ref(&d)]},
                "spec": {"replicas": initial, "minReadySeconds": spec.get("minReadySeconds").cloned().unwrap_or(json!(0)), "selector": selector, "template": tpl},
                "status": {"replicas": 0},
            });
            if ctl.create(&rs_gr, rs).is_some() && initial > 0 {
                ctl.event(
                    &d.value,
                    EventType::Normal,
                    "ScalingReplicaSet",
                    &format!("Scaled up replica set {name} from 0 to {initial}"),
                    CONTROLLER,
                );
            }
            continue;
        };
        // Rolling back to an older template makes its ReplicaSet the newest revision.
        if revision_of(&new_rs) < max_revision {
            let mut v = new_rs.value.clone();
            v["metadata"]["annotations"][REVISION] = json!((max_revision + 1).to_string());
            ctl.update(&rs_gr, &new_rs, v);
            continue;
        }

        let new_replicas = int(&new_rs.value, "/spec/replicas");
        let scale = |ctl: &mut Controller, rs: &Object, to: i64| {
            let from = int(&rs.value, "/spec/replicas");
            if from == to {
                return;
            }
            let mut v = rs.value.clone();
            v["spec"]["replicas"] = json!(to);
            v["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] = json!(desired.to_string());
            if ctl.update(&rs_gr, rs, v) {
                let verb = if to > from { "up" } else { "down" };
                ctl.event(
                    &d.value,
                    EventType::Normal,
                    "ScalingReplicaSet",
                    &format!("Scaled {verb} replica set {} from {from} to {to}", rs.name()),
                    CONTROLLER,
                );
            }
        };
        if old_replicas == 0 {
            scale(ctl, &new_rs, desired);
        } else if recreate {
            for r in &old {
                scale(ctl, r, 0);
            }
        } else {
            let surge = int_or_percent(spec.pointer("/strategy/rollingUpdate/maxSurge"), desired, "25%", true);
            let mut unavailable = int_or_percent(
                spec.pointer("/strategy/rollingUpdate/maxUnavailable"),
                desired,
                "25%",
                false,
            );
            if surge == 0 && unavailable == 0 {
                unavailable = 1;
            }
            let total = new_replicas + old_replicas;
            if new_replicas < desired && total < desired + surge {
                scale(ctl, &new_rs, desired.min(new_replicas + desired + surge - total));
            }
            let available: i64 = owned.iter().map(|r| int(&r.value, "/status/availableReplicas")).sum();
            let mut can_remove = (available - (desired - unavailable)).max(0);
            let mut oldest_first = old.clone();
            oldest_first.sort_by_key(|r| revision_of(r));
            for r in oldest_first {
                let replicas = int(&r.value, "/spec/replicas");
                let unhealthy = (replicas - int(&r.value, "/status/availableReplicas")).max(0);
                let remove = (unhealthy + can_remove).min(replicas);
                can_remove -= (remove - unhealthy).max(0);
                if remove > 0 {
                    scale(ctl, &r, replicas - remove);
                }
            }
        }

        // Status, from the ReplicaSets as they are now.
        let owned: Vec<Object> = ctl.list(&rs_gr).into_iter().filter(|r| owned_by(r, uid(&d))).collect();
        let sum = |p: &str| owned.iter().map(|r| int(&r.value, p)).sum::<i64>();
        let (replicas, ready, available) = (
            sum("/status/replicas"),
            sum("/status/readyReplicas"),
            sum("/status/availableReplicas"),
        );
        let updated = owned
            .iter()
            .find(|r| r.name() == new_rs.name())
            .map_or(0, |r| int(&r.value, "/status/replicas"));
        let unavailable_max = int_or_percent(
            spec.pointer("/strategy/rollingUpdate/maxUnavailable"),
            desired,
            "25%",
            false,
        );
        let complete = updated == desired && replicas == desired && available == desired;
        let now = now_rfc3339();
        let prev = &d.value["status"];
        let progressed = [
            ("updatedReplicas", updated),
            ("readyReplicas", ready),
            ("availableReplicas", available),
            ("replicas", replicas),
        ]
        .iter()
        .any(|(k, v)| prev.get(*k).and_then(Value::as_i64).unwrap_or(0) != *v)
            || prev.get("observedGeneration") != d.value.pointer("/metadata/generation");
        let prev_progressing = prev
            .get("conditions")
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Progressing"))
            .cloned();
        let rs_name = new_rs.name().to_string();
        let (p_status, p_reason, p_message) = if complete {
            (
                "True",
                "NewReplicaSetAvailable",
                format!("ReplicaSet \"{rs_name}\" has successfully progressed."),
            )
        } else {
            let last_update = prev_progressing
                .as_ref()
                .and_then(|c| c["lastUpdateTime"].as_str())
                .and_then(|t| t.parse::<jiff::Timestamp>().ok());
            let deadline = spec
                .get("progressDeadlineSeconds")
                .and_then(Value::as_i64)
                .unwrap_or(600)
                .clamp(1, i64::from(i32::MAX));
            let was_exceeded = prev_progressing
                .as_ref()
                .is_some_and(|c| c["reason"] == "ProgressDeadlineExceeded");
            let elapsed = last_update.map_or(0, |t| jiff::Timestamp::now().as_second().saturating_sub(t.as_second()));
            if !progressed && (was_exceeded || elapsed >= deadline) {
                (
                    "False",
                    "ProgressDeadlineExceeded",
                    format!("ReplicaSet \"{rs_name}\" has timed out progressing."),
                )
            } else {
                if let Some(t) = last_update {
                    let remaining = t
                        .as_second()
                        .saturating_add(deadline)
                        .saturating_sub(jiff::Timestamp::now().as_second())
                        .max(0);
                    ctl.wake_at(Instant::now() + Duration::from_secs(u64::try_from(remaining).unwrap_or(0) + 1));
                }
                (
                    "True",
                    "ReplicaSetUpdated",
                    format!("ReplicaSet \"{rs_name}\" is progressing."),
                )
            }
        };
        let keep_times = |c: &Option<Value>, status: &str, reason: &str, bump: bool| -> (Value, Value) {
            match c {
                Some(c) if c["status"] == status => {
                    let update = if bump || c["reason"] != reason {
                        json!(now)
                    } else {
                        c["lastUpdateTime"].clone()
                    };
                    (update, c["lastTransitionTime"].clone())
                }
                _ => (json!(now), json!(now)),
            }
        };
        let (p_update, p_transition) = keep_times(&prev_progressing, p_status, p_reason, progressed);
        let available_ok = available >= desired - unavailable_max;
        let (a_status, a_reason, a_message) = if available_ok {
            (
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            )
        } else {
            (
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        };
        let prev_available = prev
            .get("conditions")
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Available"))
            .cloned();
        let (a_update, a_transition) = keep_times(&prev_available, a_status, a_reason, false);
        let status = json!({
            "observedGeneration": d.value.pointer("/metadata/generation"),
            "replicas": replicas, "updatedReplicas": updated, "readyReplicas": ready, "availableReplicas": available,
            "unavailableReplicas": (replicas.max(desired) - available).max(0),
            "conditions": [
                {"type": "Available", "status": a_status, "lastUpdateTime": a_update, "lastTransitionTime": a_transition, "reason": a_reason, "message": a_message},
                {"type": "Progressing", "status": p_status, "lastUpdateTime": p_update, "lastTransitionTime": p_transition, "reason": p_reason, "message": p_message},
            ],
        });
        let mut v = d.value.clone();
        v["status"] = strip_zero(status);
        v["metadata"]["annotations"][REVISION] = json!(revision_of(&new_rs).to_string());
        if p_reason == "ProgressDeadlineExceeded"
            && prev_progressing
                .as_ref()
                .is_none_or(|c| c["reason"] != "ProgressDeadlineExceeded")
        {
            ctl.event(
                &d.value,
                EventType::Warning,
                "ProgressDeadlineExceeded",
                &p_message,
                CONTROLLER,
            );
        }
        // Keep only the newest `revisionHistoryLimit` old ReplicaSets that are scaled to zero.
        let limit = spec.get("revisionHistoryLimit").and_then(Value::as_i64).unwrap_or(10);
        let mut idle: Vec<Object> = owned
            .iter()
            .filter(|r| {
                r.name() != rs_name && int(&r.value, "/spec/replicas") == 0 && int(&r.value, "/status/replicas") == 0
            })
            .cloned()
            .collect();
        idle.sort_by_key(|r| std::cmp::Reverse(revision_of(r)));
        for r in idle.iter().skip(usize::try_from(limit.max(0)).unwrap_or(0)) {
            ctl.delete(&rs_gr, r);
        }
        ctl.update(&d_gr, &d, v);
    }
}

/// Zero counters are omitted, as Go's `omitempty` does (kubectl reads absent as 0).
fn strip_zero(mut status: Value) -> Value {
    if let Some(m) = status.as_object_mut() {
        m.retain(|k, v| k == "replicas" || k == "observedGeneration" || v.as_i64() != Some(0));
    }
    status
}

/// ReplicaSets -> Pods, and ReplicaSet status.
pub(super) fn replica_sets(ctl: &mut Controller) {
    let rs_gr = gr("apps", "replicasets");
    let pod_gr = gr("", "pods");
    let nodes = nodes(ctl);
    for rs in ctl.list(&rs_gr) {
        let desired = rs
            .value
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .clamp(0, ctl.cluster.behavior.max_pods.max(0));
        let mut pods: Vec<Object> = ctl.owned(&pod_gr, rs.namespace(), uid(&rs)).into_iter().collect();
        let have = i64::try_from(pods.len()).unwrap_or(i64::MAX);
        let template = rs.value.pointer("/spec/template").cloned().unwrap_or_else(|| json!({}));
        if have < desired {
            // NB: kube's replica set controller creates at most 500 pods per sync.
            for i in 0..(desired - have).min(BURST_REPLICAS) {
                let name = format!("{}-{}", rs.name(), ctl.suffix());
                let node = &nodes[usize::try_from(have + i).unwrap_or(0) % nodes.len()];
                let pod = pod_from_template(&*ctl.cluster, &rs, &template, &name, node, &[]);
                if let Some(p) = ctl.create(&pod_gr, pod) {
                    ctl.event(
                        &rs.value,
                        EventType::Normal,
                        "SuccessfulCreate",
                        &format!("Created pod: {name}"),
                        ("replicaset-controller", None),
                    );
                    pods.push(p);
                }
            }
        } else if have > desired {
            // Not-ready pods go first, then the newest.
            pods.sort_by_key(|p| (pod_ready(p), std::cmp::Reverse(p.rv)));
            let extra: Vec<Object> = pods.drain(..usize::try_from(have - desired).unwrap_or(0)).collect();
            for p in extra {
                ctl.delete(&pod_gr, &p);
                ctl.event(
                    &rs.value,
                    EventType::Normal,
                    "SuccessfulDelete",
                    &format!("Deleted pod: {}", p.name()),
                    ("replicaset-controller", None),
                );
            }
        }
        let ready = i64::try_from(pods.iter().filter(|p| pod_ready(p)).count()).unwrap_or(0);
        let count = i64::try_from(pods.len()).unwrap_or(0);
        let status = json!({"replicas": count, "fullyLabeledReplicas": count, "readyReplicas": ready, "availableReplicas": ready,
            "observedGeneration": rs.value.pointer("/metadata/generation")});
        let mut v = rs.value.clone();
        v["status"] = strip_zero(status);
        ctl.update(&rs_gr, &rs, v);
    }
}

fn ordinal(name: &str, set: &str) -> Option<i64> {
    name.strip_prefix(set)?.strip_prefix('-')?.parse().ok()
}

/// StatefulSets -> ordered Pods, rolled in reverse ordinal order; StatefulSet status.
pub(super) fn stateful_sets(ctl: &mut Controller) {
    let sts_gr = gr("apps", "statefulsets");
    let pod_gr = gr("", "pods");
    let nodes = nodes(ctl);
    for sts in ctl.list(&sts_gr) {
        if ctl.lagging(&sts) {
            continue;
        }
        let spec = &sts.value["spec"];
        let desired = spec
            .get("replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .clamp(0, ctl.cluster.behavior.max_pods.max(0));
        let template = spec.get("template").cloned().unwrap_or_else(|| json!({}));
        let revision = format!("{}-{}", sts.name(), template_hash(&template));
        let parallel = spec.get("podManagementPolicy").and_then(Value::as_str) == Some("Parallel");
        let partition = spec
            .pointer("/updateStrategy/rollingUpdate/partition")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let on_delete = spec.pointer("/updateStrategy/type").and_then(Value::as_str) == Some("OnDelete");
        let mut pods: Vec<(i64, Object)> = ctl
            .owned(&pod_gr, sts.namespace(), uid(&sts))
            .into_iter()
            .filter_map(|p| ordinal(p.name(), sts.name()).map(|o| (o, p)))
            .collect();
        pods.sort_by_key(|(o, _)| *o);
        let rev_of = |p: &Object| {
            p.value
                .pointer(&format!("/metadata/labels/{REVISION_LABEL}"))
                .and_then(Value::as_str)
                .map(String::from)
        };
        let mut acted = false;
        // Scale down: highest ordinal first, one at a time unless Parallel.
        for (_, p) in pods.iter().rev().filter(|(o, _)| *o >= desired) {
            ctl.delete(&pod_gr, p);
            ctl.event(
                &sts.value,
                EventType::Normal,
                "SuccessfulDelete",
                &format!("delete Pod {} in StatefulSet {} successful", p.name(), sts.name()),
                ("statefulset-controller", None),
            );
            acted = true;
            if !parallel {
                break;
            }
        }
        // Scale up: in order, each waiting for the previous to be Ready unless Parallel.
        if !acted {
            for o in 0..desired {
                match pods.iter().find(|(po, _)| *po == o) {
                    Some((_, p)) if !parallel && !pod_ready(p) => break,
                    Some(_) => {}
                    None => {
                        let name = format!("{}-{o}", sts.name());
                        let node = &nodes[usize::try_from(o).unwrap_or(0) % nodes.len()];
                        let pod = pod_from_template(
                            &*ctl.cluster,
                            &sts,
                            &template,
                            &name,
                            node,
                            &[
                                (REVISION_LABEL, revision.clone()),
                                ("statefulset.kubernetes.io/pod-name", name.clone()),
                            ],
                        );
                        if ctl.create(&pod_gr, pod).is_some() {
                            ctl.event(
                                &sts.value,
                                EventType::Normal,
                                "SuccessfulCreate",
                                &format!("create Pod {name} in StatefulSet {} successful", sts.name()),
                                ("statefulset-controller", None),
                            );
                        }
                        acted = true;
                        if !parallel {
                            break;
                        }
                    }
                }
            }
        }
        // Rolling update: once all pods are Ready, replace the highest-ordinal outdated pod.
        let all_ready = pods.len() == usize::try_from(desired).unwrap_or(0) && pods.iter().all(|(_, p)| pod_ready(p));
        if !acted
            && !on_delete
            && all_ready
            && let Some((_, p)) = pods
                .iter()
                .rev()
                .find(|(o, p)| *o >= partition && rev_of(p).as_deref() != Some(revision.as_str()))
        {
            ctl.delete(&pod_gr, p);
        }
        let count = i64::try_from(pods.len()).unwrap_or(0);
        let ready = i64::try_from(pods.iter().filter(|(_, p)| pod_ready(p)).count()).unwrap_or(0);
        let updated = i64::try_from(
            pods.iter()
                .filter(|(_, p)| rev_of(p).as_deref() == Some(revision.as_str()))
                .count(),
        )
        .unwrap_or(0);
        let prev_current = sts
            .value
            .pointer("/status/currentRevision")
            .and_then(Value::as_str)
            .map(String::from);
        let current = if updated == desired && ready == desired {
            revision.clone()
        } else {
            prev_current.unwrap_or_else(|| revision.clone())
        };
        let current_replicas = i64::try_from(
            pods.iter()
                .filter(|(_, p)| rev_of(p).as_deref() == Some(current.as_str()))
                .count(),
        )
        .unwrap_or(0);
        let status = json!({"observedGeneration": sts.value.pointer("/metadata/generation"), "replicas": count, "readyReplicas": ready,
            "availableReplicas": ready, "currentReplicas": current_replicas, "updatedReplicas": updated,
            "currentRevision": current, "updateRevision": revision, "collisionCount": 0});
        let mut v = sts.value.clone();
        v["status"] = strip_zero(status);
        ctl.update(&sts_gr, &sts, v);
    }
}

/// DaemonSets -> one Pod per node, rolled one node at a time; DaemonSet status.
pub(super) fn daemon_sets(ctl: &mut Controller) {
    let ds_gr = gr("apps", "daemonsets");
    let pod_gr = gr("", "pods");
    let nodes = nodes(ctl);
    for ds in ctl.list(&ds_gr) {
        if ctl.lagging(&ds) {
            continue;
        }
        let template = ds.value.pointer("/spec/template").cloned().unwrap_or_else(|| json!({}));
        let hash = template_hash(&template);
        let pods: Vec<Object> = ctl.owned(&pod_gr, ds.namespace(), uid(&ds)).into_iter().collect();
        let on_node = |n: &str| {
            pods.iter()
                .find(|p| p.value.pointer("/spec/nodeName").and_then(Value::as_str) == Some(n))
                .cloned()
        };
        let is_current = |p: &Object| {
            p.value
                .pointer(&format!("/metadata/labels/{REVISION_LABEL}"))
                .and_then(Value::as_str)
                == Some(hash.as_str())
        };
        for n in &nodes {
            if on_node(n).is_none() {
                let name = format!("{}-{}", ds.name(), ctl.suffix());
                let pod = pod_from_template(
                    &*ctl.cluster,
                    &ds,
                    &template,
                    &name,
                    n,
                    &[(REVISION_LABEL, hash.clone())],
                );
                if ctl.create(&pod_gr, pod).is_some() {
                    ctl.event(
                        &ds.value,
                        EventType::Normal,
                        "SuccessfulCreate",
                        &format!("Created pod: {name}"),
                        ("daemonset-controller", None),
                    );
                }
            }
        }
        let known: HashSet<&str> = nodes.iter().map(String::as_str).collect();
        for p in pods.iter().filter(|p| {
            !known.contains(
                p.value
                    .pointer("/spec/nodeName")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            )
        }) {
            ctl.delete(&pod_gr, p);
        }
        // One outdated pod at a time, and only while every other pod is ready.
        if pods.iter().all(pod_ready)
            && let Some(p) = pods.iter().find(|p| !is_current(p))
        {
            ctl.delete(&pod_gr, p);
        }
        let n = i64::try_from(nodes.len()).unwrap_or(0);
        let count = i64::try_from(pods.len()).unwrap_or(0);
        let ready = i64::try_from(pods.iter().filter(|p| pod_ready(p)).count()).unwrap_or(0);
        let updated = i64::try_from(pods.iter().filter(|p| is_current(p)).count()).unwrap_or(0);
        let status = json!({"observedGeneration": ds.value.pointer("/metadata/generation"), "desiredNumberScheduled": n,
            "currentNumberScheduled": count, "numberReady": ready, "numberAvailable": ready, "updatedNumberScheduled": updated,
            "numberMisscheduled": 0, "numberUnavailable": (n - ready).max(0)});
        let mut v = ds.value.clone();
        v["status"] = status;
        ctl.update(&ds_gr, &ds, v);
    }
}
