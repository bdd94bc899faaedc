//! Server-side printing: `meta.k8s.io/v1` Tables with the columns kube-apiserver prints for
//! each built-in kind, a CRD's `additionalPrinterColumns`, or Name and Age.

use serde_json::{Value, json};

use super::resources::{Column, Printer, ResourceDef, json_path_to_pointer};

/// What a Table row's `object` holds (`?includeObject=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    #[must_use]
    pub fn parse(s: Option<&str>) -> Self {
        match s {
            Some("None") => Self::None,
            Some("Object") => Self::Object,
            _ => Self::Metadata,
        }
    }
}

fn col(name: &str, kind: &str, priority: i64, description: &str) -> Column {
    Column {
        name: name.into(),
        kind: kind.into(),
        format: if name == "Name" { "name".into() } else { String::new() },
        description: description.into(),
        priority,
        json_path: None,
    }
}

const NAME_DESC: &str = "Name must be unique within a namespace.";
const AGE_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created.";

fn builtin_columns(kind: &str) -> Vec<Column> {
    let c = |n: &str, p: i64| {
        col(
            n,
            if n == "Restarts" || n == "Data" || n == "Secrets" {
                "integer"
            } else {
                "string"
            },
            p,
            "",
        )
    };
    let mut cols = vec![col("Name", "string", 0, NAME_DESC)];
    let rest: &[(&str, i64)] = match kind {
        "Namespace" => &[("Status", 0), ("Age", 0)],
        "Pod" => &[
            ("Ready", 0),
            ("Status", 0),
            ("Restarts", 0),
            ("Age", 0),
            ("IP", 1),
            ("Node", 1),
            ("Nominated Node", 1),
            ("Readiness Gates", 1),
        ],
        "Service" => &[
            ("Type", 0),
            ("Cluster-IP", 0),
            ("External-IP", 0),
            ("Port(s)", 0),
            ("Age", 0),
            ("Selector", 1),
        ],
        "ConfigMap" => &[("Data", 0), ("Age", 0)],
        "Secret" => &[("Type", 0), ("Data", 0), ("Age", 0)],
        "ServiceAccount" => &[("Secrets", 0), ("Age", 0)],
        "Event" => &[
            ("Last Seen", 0),
            ("Type", 0),
            ("Reason", 0),
            ("Object", 0),
            ("Subobject", 1),
            ("Source", 1),
            ("Message", 0),
            ("First Seen", 1),
            ("Count", 1),
            ("Name", 1),
        ],
        "Node" => &[
            ("Status", 0),
            ("Roles", 0),
            ("Age", 0),
            ("Version", 0),
            ("Internal-IP", 1),
            ("External-IP", 1),
            ("OS-Image", 1),
            ("Kernel-Version", 1),
            ("Container-Runtime", 1),
        ],
        "Deployment" => &[
            ("Ready", 0),
            ("Up-to-date", 0),
            ("Available", 0),
            ("Age", 0),
            ("Containers", 1),
            ("Images", 1),
            ("Selector", 1),
        ],
        "ReplicaSet" => &[
            ("Desired", 0),
            ("Current", 0),
            ("Ready", 0),
            ("Age", 0),
            ("Containers", 1),
            ("Images", 1),
            ("Selector", 1),
        ],
        "StatefulSet" => &[("Ready", 0), ("Age", 0), ("Containers", 1), ("Images", 1)],
        "DaemonSet" => &[
            ("Desired", 0),
            ("Current", 0),
            ("Ready", 0),
            ("Up-to-date", 0),
            ("Available", 0),
            ("Node Selector", 0),
            ("Age", 0),
            ("Containers", 1),
            ("Images", 1),
            ("Selector", 1),
        ],
        "Lease" => &[("Holder", 0), ("Age", 0)],
        "EndpointSlice" => &[("AddressType", 0), ("Ports", 0), ("Endpoints", 0), ("Age", 0)],
        "CustomResourceDefinition" | "Role" | "ClusterRole" => &[("Created At", 0)],
        "RoleBinding" | "ClusterRoleBinding" => &[
            ("Role", 0),
            ("Age", 0),
            ("Users", 1),
            ("Groups", 1),
            ("ServiceAccounts", 1),
        ],
        _ => &[("Age", 0)],
    };
    // NB: core Events print their name last (wide), so the first column is not Name there.
    if kind == "Event" {
        cols.clear();
    }
    cols.extend(rest.iter().map(|(n, p)| {
        let mut column = c(n, *p);
        if *n == "Age" {
            column.description = AGE_DESC.into();
        }
        if *n == "Name" {
            column.format = "name".into();
        }
        column
    }));
    cols
}

/// The columns a definition prints.
#[must_use]
pub fn columns(def: &ResourceDef) -> Vec<Column> {
    match &def.printer {
        Printer::Builtin(kind) => builtin_columns(kind),
        Printer::Default => vec![col("Name", "string", 0, NAME_DESC), col("Age", "date", 0, AGE_DESC)],
        Printer::Custom(custom) => {
            let mut cols = vec![col("Name", "string", 0, NAME_DESC)];
            cols.extend(custom.iter().cloned());
            cols
        }
    }
}

/// Kubernetes' `duration.HumanDuration`: `45s`, `5m12s`, `3h`, `2d4h`, ...
#[must_use]
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    let s = secs.max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86400);
    if s < 120 {
        format!("{s}s")
    } else if m < 10 {
        if s % 60 == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{}s", s % 60)
        }
    } else if h < 3 {
        format!("{m}m")
    } else if h < 8 {
        if m % 60 == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{}m", m % 60)
        }
    } else if h < 48 {
        format!("{h}h")
    } else if d < 8 {
        if h % 24 == 0 {
            format!("{d}d")
        } else {
            format!("{d}d{}h", h % 24)
        }
    } else if d < 365 * 2 {
        format!("{d}d")
    } else if d < 365 * 8 {
        let y = d / 365;
        if d % 365 == 0 {
            format!("{y}y")
        } else {
            format!("{y}y{}d", d % 365)
        }
    } else {
        format!("{}y", d / 365)
    }
}

fn age(obj: &Value, now: i64, pointer: &str) -> String {
    obj.pointer(pointer)
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map_or_else(|| "<unknown>".into(), |t| human_duration(now - t.as_second()))
}

fn s<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn i(obj: &Value, pointer: &str) -> i64 {
    obj.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn none_if_empty(v: String) -> String {
    if v.is_empty() { "<none>".into() } else { v }
}

fn containers_and_images(obj: &Value, pointer: &str) -> (String, String) {
    let list = obj
        .pointer(pointer)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = list.iter().map(|c| s(c, "/name")).collect();
    let images: Vec<&str> = list.iter().map(|c| s(c, "/image")).collect();
    (names.join(","), images.join(","))
}

/// `spec.selector` of a workload as a label-selector string (`app=web,tier in (fe)`).
#[must_use]
pub fn selector_string(selector: Option<&Value>) -> String {
    let Some(sel) = selector else {
        return String::new();
    };
    let mut parts: Vec<String> = sel
        .get("matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
        for e in exprs {
            let key = s(e, "/key");
            let vals: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|v| v.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            parts.push(match s(e, "/operator") {
                "In" => format!("{key} in ({})", vals.join(",")),
                "NotIn" => format!("{key} notin ({})", vals.join(",")),
                "Exists" => key.to_string(),
                "DoesNotExist" => format!("!{key}"),
                _ => continue,
            });
        }
    }
    parts.join(",")
}

/// The STATUS column, as kubectl's `printPod` derives it.
fn pod_status(obj: &Value) -> String {
    let list = |p: &str| obj.pointer(p).and_then(Value::as_array).cloned().unwrap_or_default();
    let mut reason = match s(obj, "/status/reason") {
        "" => match s(obj, "/status/phase") {
            "" => "Pending".to_string(),
            p => p.to_string(),
        },
        r => r.to_string(),
    };
    let inits = list("/status/initContainerStatuses");
    let total_inits = list("/spec/initContainers").len();
    let mut initializing = false;
    for (i, c) in inits.iter().enumerate() {
        let terminated = c.pointer("/state/terminated");
        let waiting = c
            .pointer("/state/waiting/reason")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if terminated.is_some_and(|t| t["exitCode"].as_i64() == Some(0)) {
            continue;
        }
        initializing = true;
        reason = if let Some(t) = terminated {
            match t["reason"].as_str() {
                Some(r) if !r.is_empty() => format!("Init:{r}"),
                _ => format!("Init:ExitCode:{}", t["exitCode"].as_i64().unwrap_or(0)),
            }
        } else if !waiting.is_empty() && waiting != "PodInitializing" {
            format!("Init:{waiting}")
        } else {
            format!("Init:{i}/{total_inits}")
        };
        break;
    }
    if !initializing {
        let mut has_running = false;
        for c in list("/status/containerStatuses").iter().rev() {
            if let Some(w) = c
                .pointer("/state/waiting/reason")
                .and_then(Value::as_str)
                .filter(|w| !w.is_empty())
            {
                reason = w.to_string();
            } else if let Some(t) = c.pointer("/state/terminated") {
                reason = match t["reason"].as_str() {
                    Some(r) if !r.is_empty() => r.to_string(),
                    _ => format!("ExitCode:{}", t["exitCode"].as_i64().unwrap_or(0)),
                };
            } else if c.pointer("/state/running").is_some() && c["ready"] == true {
                has_running = true;
            }
        }
        if reason == "Completed" && has_running {
            reason = "Running".into();
        }
    }
    if obj.pointer("/metadata/deletionTimestamp").is_some() {
        return "Terminating".into();
    }
    reason
}

fn service_ports(obj: &Value) -> String {
    let ports = obj
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let parts: Vec<String> = ports
        .iter()
        .map(|p| {
            let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            match p.get("nodePort").and_then(Value::as_i64) {
                Some(np) => format!("{}:{np}/{proto}", i(p, "/port")),
                None => format!("{}/{proto}", i(p, "/port")),
            }
        })
        .collect();
    none_if_empty(parts.join(","))
}

fn count(obj: &Value, pointer: &str) -> i64 {
    obj.pointer(pointer)
        .and_then(Value::as_object)
        .map_or(0, |m| m.len() as i64)
}

/// The cells of one built-in row, in column order.
fn builtin_cells(kind: &str, obj: &Value, now: i64) -> Vec<Value> {
    let name = json!(s(obj, "/metadata/name"));
    let created = age(obj, now, "/metadata/creationTimestamp");
    match kind {
        "Namespace" => vec![name, json!(s(obj, "/status/phase")), json!(created)],
        "Pod" => {
            let total = obj
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let statuses = obj
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let ready = statuses
                .iter()
                .filter(|c| c.get("ready").and_then(Value::as_bool) == Some(true))
                .count();
            let init_restarts: i64 = obj
                .pointer("/status/initContainerStatuses")
                .and_then(Value::as_array)
                .map_or(0, |cs| cs.iter().map(|c| i(c, "/restartCount")).sum());
            let restarts: i64 = statuses.iter().map(|c| i(c, "/restartCount")).sum::<i64>() + init_restarts;
            vec![
                name,
                json!(format!("{ready}/{total}")),
                json!(pod_status(obj)),
                json!(restarts),
                json!(created),
                json!(none_if_empty(s(obj, "/status/podIP").into())),
                json!(none_if_empty(s(obj, "/spec/nodeName").into())),
                json!(none_if_empty(s(obj, "/status/nominatedNodeName").into())),
                json!("<none>"),
            ]
        }
        "Service" => {
            let external = obj
                .pointer("/spec/externalIPs")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","))
                .unwrap_or_default();
            let selector = obj
                .pointer("/spec/selector")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            vec![
                name,
                json!(s(obj, "/spec/type")),
                json!(none_if_empty(s(obj, "/spec/clusterIP").into())),
                json!(none_if_empty(external)),
                json!(service_ports(obj)),
                json!(created),
                json!(none_if_empty(selector)),
            ]
        }
        "ConfigMap" => vec![
            name,
            json!(count(obj, "/data") + count(obj, "/binaryData")),
            json!(created),
        ],
        "Secret" => vec![name, json!(s(obj, "/type")), json!(count(obj, "/data")), json!(created)],
        "ServiceAccount" => vec![
            name,
            json!(obj.pointer("/secrets").and_then(Value::as_array).map_or(0, Vec::len)),
            json!(created),
        ],
        "Event" => {
            let last = if obj.pointer("/lastTimestamp").and_then(Value::as_str).is_some() {
                age(obj, now, "/lastTimestamp")
            } else {
                age(obj, now, "/eventTime")
            };
            let object = format!(
                "{}/{}",
                s(obj, "/involvedObject/kind").to_ascii_lowercase(),
                s(obj, "/involvedObject/name")
            );
            vec![
                json!(last),
                json!(s(obj, "/type")),
                json!(s(obj, "/reason")),
                json!(object),
                json!(s(obj, "/involvedObject/fieldPath")),
                json!(
                    format!("{}, {}", s(obj, "/source/component"), s(obj, "/source/host"))
                        .trim_matches([',', ' '])
                        .to_string()
                ),
                json!(s(obj, "/message")),
                json!(age(obj, now, "/firstTimestamp")),
                json!(obj.get("count").and_then(Value::as_i64).unwrap_or(1)),
                name,
            ]
        }
        "Node" => {
            let ready = obj
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|cs| cs.iter().find(|c| s(c, "/type") == "Ready"))
                .map_or(
                    "Unknown",
                    |c| {
                        if s(c, "/status") == "True" { "Ready" } else { "NotReady" }
                    },
                );
            let roles: Vec<&str> = obj
                .pointer("/metadata/labels")
                .and_then(Value::as_object)
                .map(|m| {
                    m.keys()
                        .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                        .collect()
                })
                .unwrap_or_default();
            let addr = |t: &str| {
                obj.pointer("/status/addresses")
                    .and_then(Value::as_array)
                    .and_then(|a| a.iter().find(|x| s(x, "/type") == t))
                    .map_or_else(|| "<none>".to_string(), |x| s(x, "/address").to_string())
            };
            vec![
                name,
                json!(ready),
                json!(none_if_empty(roles.join(","))),
                json!(created),
                json!(s(obj, "/status/nodeInfo/kubeletVersion")),
                json!(addr("InternalIP")),
                json!(addr("ExternalIP")),
                json!(s(obj, "/status/nodeInfo/osImage")),
                json!(s(obj, "/status/nodeInfo/kernelVersion")),
                json!(s(obj, "/status/nodeInfo/containerRuntimeVersion")),
            ]
        }
        "Deployment" => {
            let (c, im) = containers_and_images(obj, "/spec/template/spec/containers");
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    i(obj, "/status/readyReplicas"),
                    i(obj, "/spec/replicas")
                )),
                json!(i(obj, "/status/updatedReplicas")),
                json!(i(obj, "/status/availableReplicas")),
                json!(created),
                json!(c),
                json!(im),
                json!(selector_string(obj.pointer("/spec/selector"))),
            ]
        }
        "ReplicaSet" => {
            let (c, im) = containers_and_images(obj, "/spec/template/spec/containers");
            vec![
                name,
                json!(i(obj, "/spec/replicas")),
                json!(i(obj, "/status/replicas")),
                json!(i(obj, "/status/readyReplicas")),
                json!(created),
                json!(c),
                json!(im),
                json!(selector_string(obj.pointer("/spec/selector"))),
            ]
        }
        "StatefulSet" => {
            let (c, im) = containers_and_images(obj, "/spec/template/spec/containers");
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    i(obj, "/status/readyReplicas"),
                    i(obj, "/spec/replicas")
                )),
                json!(created),
                json!(c),
                json!(im),
            ]
        }
        "DaemonSet" => {
            let (c, im) = containers_and_images(obj, "/spec/template/spec/containers");
            let node_sel = obj
                .pointer("/spec/template/spec/nodeSelector")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            vec![
                name,
                json!(i(obj, "/status/desiredNumberScheduled")),
                json!(i(obj, "/status/currentNumberScheduled")),
                json!(i(obj, "/status/numberReady")),
                json!(i(obj, "/status/updatedNumberScheduled")),
                json!(i(obj, "/status/numberAvailable")),
                json!(none_if_empty(node_sel)),
                json!(created),
                json!(c),
                json!(im),
                json!(selector_string(obj.pointer("/spec/selector"))),
            ]
        }
        "EndpointSlice" => {
            let ports = obj
                .pointer("/ports")
                .and_then(Value::as_array)
                .filter(|a| !a.is_empty())
                .map_or_else(
                    || "<unset>".to_string(),
                    |a| {
                        a.iter()
                            .map(|p| {
                                p.get("port")
                                    .and_then(Value::as_i64)
                                    .map_or_else(|| "<unset>".to_string(), |n| n.to_string())
                            })
                            .collect::<Vec<_>>()
                            .join(",")
                    },
                );
            // NB: kubectl's printer shows the first three addresses, then "+ N more...".
            let addresses: Vec<&str> = obj
                .pointer("/endpoints")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .flat_map(|e| e.get("addresses").and_then(Value::as_array).into_iter().flatten())
                .filter_map(Value::as_str)
                .collect();
            let endpoints = if addresses.is_empty() {
                "<none>".to_string()
            } else if addresses.len() > 3 {
                format!("{} + {} more...", addresses[..3].join(","), addresses.len() - 3)
            } else {
                addresses.join(",")
            };
            vec![
                name,
                json!(s(obj, "/addressType")),
                json!(ports),
                json!(endpoints),
                json!(created),
            ]
        }
        "Lease" => vec![
            name,
            json!(none_if_empty(s(obj, "/spec/holderIdentity").into())),
            json!(created),
        ],
        "CustomResourceDefinition" | "Role" | "ClusterRole" => vec![name, json!(s(obj, "/metadata/creationTimestamp"))],
        "RoleBinding" | "ClusterRoleBinding" => {
            let subjects = |kind: &str| {
                obj.pointer("/subjects")
                    .and_then(Value::as_array)
                    .map(|ss| {
                        ss.iter()
                            .filter(|x| x["kind"] == kind)
                            .map(|x| match (x["namespace"].as_str(), x["name"].as_str()) {
                                (Some(n), Some(v)) if kind == "ServiceAccount" => format!("{n}/{v}"),
                                (_, Some(v)) => v.to_string(),
                                _ => String::new(),
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default()
            };
            vec![
                name,
                json!(format!("{}/{}", s(obj, "/roleRef/kind"), s(obj, "/roleRef/name"))),
                json!(created),
                json!(subjects("User")),
                json!(subjects("Group")),
                json!(subjects("ServiceAccount")),
            ]
        }
        _ => vec![name, json!(created)],
    }
}

fn custom_cell(column: &Column, obj: &Value, now: i64) -> Value {
    let Some(path) = &column.json_path else {
        return Value::Null;
    };
    let pointer = json_path_to_pointer(path);
    let Some(v) = obj.pointer(&pointer) else {
        return Value::Null;
    };
    match column.kind.as_str() {
        "date" => v
            .as_str()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map_or(Value::Null, |t| json!(human_duration(now - t.as_second()))),
        "integer" | "number" | "boolean" => v.clone(),
        _ => match v {
            Value::String(_) => v.clone(),
            other => json!(other.to_string()),
        },
    }
}

/// The cells of one object's row.
#[must_use]
pub fn cells(def: &ResourceDef, obj: &Value, now: i64) -> Vec<Value> {
    match &def.printer {
        Printer::Builtin(kind) => builtin_cells(kind, obj, now),
        Printer::Default => vec![
            json!(s(obj, "/metadata/name")),
            json!(age(obj, now, "/metadata/creationTimestamp")),
        ],
        Printer::Custom(cols) => {
            let mut out = vec![json!(s(obj, "/metadata/name"))];
            out.extend(cols.iter().map(|c| custom_cell(c, obj, now)));
            out
        }
    }
}

/// One Table row for `obj`.
#[must_use]
pub fn row(def: &ResourceDef, obj: &Value, include: IncludeObject, now: i64) -> Value {
    let object = match include {
        IncludeObject::None => Value::Null,
        IncludeObject::Object => obj.clone(),
        IncludeObject::Metadata => {
            let mut meta = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
            if let Some(m) = meta.as_object_mut() {
                m.remove("managedFields");
            }
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta})
        }
    };
    json!({"cells": cells(def, obj, now), "object": object})
}

/// The column definitions as the Table wire format names them.
#[must_use]
pub fn column_definitions(def: &ResourceDef) -> Vec<Value> {
    columns(def)
        .iter()
        .map(|c| json!({"name": c.name, "type": c.kind, "format": c.format, "description": c.description, "priority": c.priority}))
        .collect()
}

/// A whole Table.
#[must_use]
pub fn table(def: &ResourceDef, rows: Vec<Value>, resource_version: &str, continue_token: Option<&str>) -> Value {
    let mut meta = json!({"resourceVersion": resource_version});
    if let Some(c) = continue_token {
        meta["continue"] = json!(c);
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": column_definitions(def),
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::BUILTIN_DEFS;

    #[test]
    fn human_durations_match_kubernetes() {
        for (secs, want) in [
            (0, "0s"),
            (59, "59s"),
            (119, "119s"),
            (125, "2m5s"),
            (600, "10m"),
            (3 * 3600 + 60, "3h1m"),
            (9 * 3600, "9h"),
            (3 * 86400 + 3600, "3d1h"),
            (30 * 86400, "30d"),
            (-5, "<invalid>"),
        ] {
            assert_eq!(human_duration(secs), want, "{secs}");
        }
    }

    #[test]
    fn pod_status_column() {
        let pod = |status: Value| json!({"metadata": {"name": "p"}, "spec": {"initContainers": [{"name": "i"}]}, "status": status});
        let init_crash = pod(
            json!({"phase": "Pending", "initContainerStatuses": [{"state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}),
        );
        assert_eq!(pod_status(&init_crash), "Init:CrashLoopBackOff");
        let init_wait = pod(
            json!({"phase": "Pending", "initContainerStatuses": [{"state": {"waiting": {"reason": "PodInitializing"}}}]}),
        );
        assert_eq!(pod_status(&init_wait), "Init:0/1");
        let crash = pod(
            json!({"phase": "Running", "initContainerStatuses": [{"state": {"terminated": {"exitCode": 0}}}],
            "containerStatuses": [{"state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}),
        );
        assert_eq!(pod_status(&crash), "CrashLoopBackOff");
        let running =
            pod(json!({"phase": "Running", "containerStatuses": [{"ready": true, "state": {"running": {}}}]}));
        assert_eq!(pod_status(&running), "Running");
    }

    #[test]
    fn deployment_row() {
        let def = BUILTIN_DEFS.iter().find(|d| d.kind == "Deployment").unwrap();
        let d = json!({"metadata": {"name": "web", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1"}]}}},
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
        let now = "2026-01-01T00:05:00Z".parse::<jiff::Timestamp>().unwrap().as_second();
        let c = cells(def, &d, now);
        assert_eq!(
            c,
            vec![
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("5m"),
                json!("web"),
                json!("nginx:1"),
                json!("app=web")
            ]
        );
        assert_eq!(columns(def).len(), c.len());
    }

    #[test]
    fn every_builtin_prints_as_many_cells_as_columns() {
        let empty = json!({"metadata": {"name": "x"}});
        for def in BUILTIN_DEFS.iter() {
            assert_eq!(columns(def).len(), cells(def, &empty, 0).len(), "{}", def.kind);
        }
    }
}
