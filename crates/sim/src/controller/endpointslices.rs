//! The EndpointSlice controller, as kube-controller-manager runs it: one slice per Service
//! with a selector (label `kubernetes.io/service-name`, owned by the Service), listing each
//! selected pod that has an IP with its node, zone and `ready`/`serving`/`terminating`
//! conditions, and the Service's ports resolved against the pods' container ports.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Controller, gr, owner_ref};
use crate::store::Object;

const MANAGED_BY: &str = "endpointslice-controller.k8s.io";

fn selects(selector: &serde_json::Map<String, Value>, pod: &Object) -> bool {
    let labels = pod.value.pointer("/metadata/labels").and_then(Value::as_object);
    selector.iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// A Service port's target on a pod: a number, or a named container port.
fn target_port(port: &Value, pod: Option<&Object>) -> Option<i64> {
    match port.get("targetPort") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(name)) => pod.and_then(|p| {
            p.value
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .flat_map(|c| c.get("ports").and_then(Value::as_array).into_iter().flatten())
                .find(|cp| cp.get("name").and_then(Value::as_str) == Some(name))
                .and_then(|cp| cp.get("containerPort").and_then(Value::as_i64))
        }),
        _ => port.get("port").and_then(Value::as_i64),
    }
}

pub(super) fn reconcile(ctl: &mut Controller) {
    let (svc_gr, pod_gr, eps_gr) = (
        gr("", "services"),
        gr("", "pods"),
        gr("discovery.k8s.io", "endpointslices"),
    );
    let zones: BTreeMap<String, String> = ctl
        .list(&gr("", "nodes"))
        .iter()
        .map(|n| {
            (
                n.name().to_string(),
                n.value
                    .pointer("/metadata/labels/topology.kubernetes.io~1zone")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    let slices = ctl.list(&eps_gr);
    for svc in ctl.list(&svc_gr) {
        let Some(selector) = svc.value.pointer("/spec/selector").and_then(Value::as_object).cloned() else {
            continue;
        };
        if selector.is_empty() {
            continue;
        }
        let mut pods: Vec<Object> = ctl
            .list(&pod_gr)
            .into_iter()
            .filter(|p| p.namespace() == svc.namespace() && selects(&selector, p))
            .filter(|p| p.value.pointer("/status/podIP").and_then(Value::as_str).is_some())
            .collect();
        pods.sort_by(|a, b| a.name().cmp(b.name()));
        let endpoints: Vec<Value> = pods
            .iter()
            .map(|p| {
                let ready = p
                    .value
                    .pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
                let node = p.value.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or_default();
                let mut e = json!({
                    "addresses": [p.value.pointer("/status/podIP")],
                    "conditions": {"ready": ready, "serving": ready, "terminating": false},
                    "nodeName": node,
                    "targetRef": {"kind": "Pod", "name": p.name(), "namespace": p.namespace(), "uid": p.value.pointer("/metadata/uid")},
                });
                if let Some(z) = zones.get(node).filter(|z| !z.is_empty()) {
                    e["zone"] = json!(z);
                }
                e
            })
            .collect();
        let ports: Vec<Value> = svc
            .value
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|sp| {
                let mut p = json!({"port": target_port(sp, pods.first()), "protocol": sp.get("protocol").cloned().unwrap_or(json!("TCP"))});
                p["name"] = sp.get("name").cloned().unwrap_or(json!(""));
                p
            })
            .collect();
        let svc_uid = svc
            .value
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let existing = slices.iter().find(|s| {
            s.namespace() == svc.namespace()
                && s.value
                    .pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|o| o.iter().any(|r| r["uid"] == svc_uid))
        });
        match existing {
            Some(s) => {
                let mut v = s.value.clone();
                v["endpoints"] = json!(endpoints);
                v["ports"] = json!(ports);
                ctl.update(&eps_gr, s, v);
            }
            None => {
                let name = format!("{}-{}", svc.name(), ctl.suffix());
                let slice = json!({
                    "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                    "metadata": {"name": name, "namespace": svc.namespace(), "generateName": format!("{}-", svc.name()),
                        "labels": {"kubernetes.io/service-name": svc.name(), "endpointslice.kubernetes.io/managed-by": MANAGED_BY},
                        "ownerReferences": [owner_ref(&svc)]},
                    "addressType": "IPv4",
                    "endpoints": endpoints,
                    "ports": ports,
                });
                ctl.create(&eps_gr, slice);
            }
        }
    }
}
