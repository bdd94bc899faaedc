//! Discovery documents as kube-apiserver serves them: `/version`, `/api`, `/apis`,
//! `/apis/<group>`, and the `APIResourceList` of each group-version.
//!
//! Aggregated discovery (`as=APIGroupDiscoveryList`) is not served: like an apiserver without
//! the feature we answer with the legacy documents and `application/json`, and kubectl and
//! kube fall back to them.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::behavior::fnv1a;
use super::resources::{ALL_VERBS, ResourceDef};

/// `/version` for a simulated cluster of Kubernetes `version` (e.g. `v1.32.4`).
#[must_use]
pub fn version(version: &str) -> Value {
    let trimmed = version.trim_start_matches('v');
    let mut parts = trimmed.split('.');
    let major = parts.next().unwrap_or("1");
    let minor = parts.next().unwrap_or("0");
    json!({
        "major": major,
        "minor": minor,
        "gitVersion": version,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.23.0",
        "compiler": "gc",
        "platform": "linux/amd64",
        "emulationMajor": major,
        "emulationMinor": minor,
    })
}

/// Kubernetes version priority: GA before beta before alpha, higher numbers first, then
/// anything else alphabetically (as `version.CompareKubeAwareVersionStrings`).
#[must_use]
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn parse(v: &str) -> Option<(u32, u8, u32)> {
        let rest = v.strip_prefix('v')?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let major: u32 = digits.parse().ok()?;
        let tail = &rest[digits.len()..];
        if tail.is_empty() {
            return Some((major, 3, 0));
        }
        for (label, rank) in [("beta", 2u8), ("alpha", 1u8)] {
            if let Some(n) = tail.strip_prefix(label) {
                return Some((major, rank, n.parse().ok()?));
            }
        }
        None
    }
    match (parse(a), parse(b)) {
        (Some((ma, ra, na)), Some((mb, rb, nb))) => rb.cmp(&ra).then(mb.cmp(&ma)).then(nb.cmp(&na)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// `/api`.
#[must_use]
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

/// Groups (other than core) with their versions in priority order.
fn groups(defs: &[Arc<ResourceDef>]) -> Vec<(String, Vec<String>)> {
    let mut order: Vec<String> = Vec::new();
    let mut versions: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in defs.iter().filter(|d| !d.group.is_empty()) {
        if !order.contains(&d.group) {
            order.push(d.group.clone());
        }
        let vs = versions.entry(d.group.clone()).or_default();
        if !vs.contains(&d.version) {
            vs.push(d.version.clone());
        }
    }
    order
        .into_iter()
        .map(|g| {
            let mut vs = versions.remove(&g).unwrap_or_default();
            vs.sort_by(|a, b| compare_versions(a, b));
            (g, vs)
        })
        .collect()
}

fn group_doc(group: &str, versions: &[String]) -> Value {
    let gvs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({"name": group, "versions": gvs, "preferredVersion": gvs.first().cloned().unwrap_or(Value::Null)})
}

/// `/apis`.
#[must_use]
pub fn group_list(defs: &[Arc<ResourceDef>]) -> Value {
    let groups: Vec<Value> = groups(defs).iter().map(|(g, vs)| group_doc(g, vs)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`, or `None` when the group is not served.
#[must_use]
pub fn group(defs: &[Arc<ResourceDef>], name: &str) -> Option<Value> {
    groups(defs).into_iter().find(|(g, _)| g == name).map(|(g, vs)| {
        let mut doc = group_doc(&g, &vs);
        doc["kind"] = json!("APIGroup");
        doc["apiVersion"] = json!("v1");
        doc
    })
}

/// `/api/v1` or `/apis/<group>/<version>`, or `None` when that group-version is not served.
#[must_use]
pub fn resource_list(defs: &[Arc<ResourceDef>], group: &str, version: &str) -> Option<Value> {
    let served: Vec<&Arc<ResourceDef>> = defs
        .iter()
        .filter(|d| d.group == group && d.version == version)
        .collect();
    if served.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for d in served {
        let mut r = json!({
            "name": d.resource,
            "singularName": d.singular,
            "namespaced": d.namespaced,
            "kind": d.kind,
            "verbs": ALL_VERBS,
        });
        if !d.short_names.is_empty() {
            r["shortNames"] = json!(d.short_names);
        }
        if !d.categories.is_empty() {
            r["categories"] = json!(d.categories);
        }
        resources.push(r);
        if d.status_subresource {
            resources.push(json!({
                "name": format!("{}/status", d.resource), "singularName": "", "namespaced": d.namespaced,
                "kind": d.kind, "verbs": ["get", "patch", "update"],
            }));
        }
        if d.kind == "Pod" && d.is_builtin() {
            resources.push(
                json!({"name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]}),
            );
            resources.push(json!({"name": "pods/exec", "singularName": "", "namespaced": true, "kind": "PodExecOptions", "verbs": ["create", "get"]}));
        }
        if d.scale.is_some() {
            resources.push(json!({
                "name": format!("{}/scale", d.resource), "singularName": "", "namespaced": d.namespaced,
                "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"],
            }));
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}))
}

/// The OpenAPI v3 path key of a group-version (`api/v1`, `apis/apps/v1`).
fn openapi_key(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: where each group-version's document lives. The hash changes whenever the
/// served resources do, so clients that cache by hash refetch after a CRD change.
#[must_use]
pub fn openapi_root(defs: &[Arc<ResourceDef>]) -> Value {
    let mut paths = serde_json::Map::new();
    let mut gvs: Vec<(String, String)> = defs.iter().map(|d| (d.group.clone(), d.version.clone())).collect();
    gvs.sort();
    gvs.dedup();
    for (g, v) in gvs {
        let doc = openapi_doc(defs, &g, &v).unwrap_or(Value::Null);
        let hash = fnv1a(doc.to_string().as_bytes());
        let key = openapi_key(&g, &v);
        paths.insert(
            key.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={hash:016X}")}),
        );
    }
    json!({"paths": paths})
}

/// The OpenAPI v3 document of one group-version. It declares each kind's operations and
/// the query parameters they accept (notably `fieldValidation`, which tells kubectl that
/// the server validates fields itself); it carries no object schemas.
#[must_use]
pub fn openapi_doc(defs: &[Arc<ResourceDef>], group: &str, version: &str) -> Option<Value> {
    let served: Vec<&Arc<ResourceDef>> = defs
        .iter()
        .filter(|d| d.group == group && d.version == version)
        .collect();
    if served.is_empty() {
        return None;
    }
    let prefix = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    let query = |name: &str| json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}});
    let mut paths = serde_json::Map::new();
    for d in served {
        let gvk = json!({"group": d.group, "version": d.version, "kind": d.kind});
        let scope = if d.namespaced { "/namespaces/{namespace}" } else { "" };
        let item = format!("{prefix}{scope}/{}/{{name}}", d.resource);
        let collection = format!("{prefix}{scope}/{}", d.resource);
        let op = |action: &str, params: Vec<Value>| {
            json!({
                "operationId": format!("{action}{}", d.kind),
                "parameters": params,
                "responses": {"200": {"description": "OK"}},
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
            })
        };
        let write_params = || vec![query("dryRun"), query("fieldManager"), query("fieldValidation")];
        let mut patch_params = write_params();
        patch_params.push(query("force"));
        paths.insert(
            item,
            json!({
                "get": op("get", vec![]),
                "put": op("put", write_params()),
                "patch": op("patch", patch_params),
                "delete": op("delete", vec![query("dryRun"), query("propagationPolicy")]),
            }),
        );
        paths.insert(collection, json!({
            "get": op("list", vec![query("labelSelector"), query("fieldSelector"), query("limit"), query("continue"), query("watch")]),
            "post": op("post", write_params()),
        }));
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "unversioned"},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::BUILTIN_DEFS;

    #[test]
    fn version_priority() {
        let mut v = vec!["v1alpha1", "v2beta1", "v1", "foo", "v1beta2", "v2", "v1beta1"];
        v.sort_by(|a, b| compare_versions(a, b));
        assert_eq!(v, ["v2", "v1", "v2beta1", "v1beta2", "v1beta1", "v1alpha1", "foo"]);
    }

    #[test]
    fn discovery_lists_subresources() {
        let list = resource_list(&BUILTIN_DEFS, "apps", "v1").unwrap();
        let names: Vec<&str> = list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"deployments")
                && names.contains(&"deployments/status")
                && names.contains(&"deployments/scale")
        );
        assert!(resource_list(&BUILTIN_DEFS, "apps", "v2").is_none());
        let groups = group_list(&BUILTIN_DEFS);
        assert!(
            groups["groups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["name"] == "apiextensions.k8s.io")
        );
    }

    #[test]
    fn openapi_declares_field_validation() {
        let doc = openapi_doc(&BUILTIN_DEFS, "", "v1").unwrap();
        let ns = &doc["paths"]["/api/v1/namespaces/{name}"]["patch"];
        assert_eq!(ns["x-kubernetes-group-version-kind"]["kind"], "Namespace");
        assert!(
            ns["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "fieldValidation")
        );
        assert!(
            openapi_root(&BUILTIN_DEFS)["paths"]["apis/apps/v1"]["serverRelativeURL"]
                .as_str()
                .unwrap()
                .starts_with("/openapi/v3/apis/apps/v1?hash=")
        );
    }
}
