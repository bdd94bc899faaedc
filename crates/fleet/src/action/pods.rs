//! The pods an action addresses: a pod by name, pods by `-l`, or a workload's pods (found
//! through its `spec.selector`), sorted by name.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde_json::Value;

use super::{resolve, target};
use crate::call::Caller;
use crate::failure::{Failure, Idempotence};

/// Kinds whose pods `logs` and `exec` can address.
const WORKLOADS: &[&str] = &["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"];

/// The pods of the command's target on the caller's cluster.
///
/// # Errors
/// `NotFound` from the server, or `NotAWorkload` for a kind without pods.
pub async fn of_target(c: &Caller) -> Result<Vec<Pod>, Failure> {
    let t = target(c)?;
    let r = resolve::resource(c, &t.resource).await?;
    let ns = c.namespace();
    let selector = match (r.api.kind.as_str(), &t.name) {
        ("Pod", Some(name)) => {
            let pod = c
                .call(Idempotence::Read, |client| {
                    let api: Api<Pod> = Api::namespaced(client, ns.as_str());
                    async move { api.get(name.as_str()).await }
                })
                .await
                .map_err(|e| e.failure.within(&format!("pod/{name}")))?;
            return Ok(vec![pod]);
        }
        ("Pod", None) => c.command.label_selector.clone().unwrap_or_default(),
        (kind, Some(name)) if WORKLOADS.contains(&kind) => {
            let what = format!("{}/{name}", r.display());
            let obj = c
                .call(Idempotence::Read, |client| {
                    let api = r.api(client, Some(ns));
                    async move { api.get(name.as_str()).await }
                })
                .await
                .map_err(|e| e.failure.within(&what))?;
            let spec = obj.data.pointer("/spec/selector").cloned().unwrap_or(Value::Null);
            let sel = selector_text(&spec);
            if sel.is_empty() {
                return Err(Failure::invalid("NoSelector", format!("{what} has no pod selector")));
            }
            sel
        }
        _ => {
            return Err(Failure::invalid(
                "NotAWorkload",
                format!(
                    "{} has no pods: use a pod, or a deployment, statefulset, daemonset, replicaset or job",
                    r.display()
                ),
            ));
        }
    };
    let lp = ListParams::default().labels(&selector);
    let mut pods = c
        .call(Idempotence::Read, |client| {
            let api: Api<Pod> = Api::namespaced(client, ns.as_str());
            let lp = &lp;
            async move { api.list(lp).await }
        })
        .await?
        .items;
    pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    Ok(pods)
}

/// Whether every container of the pod is ready (its `Ready` condition).
#[must_use]
pub fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// A `LabelSelector` object as selector text: `app=web,tier in (a,b),!legacy`.
#[must_use]
pub fn selector_text(selector: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in labels {
            parts.push(format!("{k}={}", v.as_str().unwrap_or_default()));
        }
    }
    for e in selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
        let values: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        match e.get("operator").and_then(Value::as_str) {
            Some("In") => parts.push(format!("{key} in ({})", values.join(","))),
            Some("NotIn") => parts.push(format!("{key} notin ({})", values.join(","))),
            Some("Exists") => parts.push(key.to_string()),
            Some("DoesNotExist") => parts.push(format!("!{key}")),
            _ => {}
        }
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selectors_become_text() {
        let s = json!({"matchLabels": {"app": "web"}, "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["a", "b"]},
            {"key": "legacy", "operator": "DoesNotExist"},
            {"key": "track", "operator": "Exists"},
        ]});
        assert_eq!(selector_text(&s), "app=web,tier in (a,b),!legacy,track");
        assert_eq!(selector_text(&json!({})), "");
    }
}
