//! Per-kind rules for objects: name validation (DNS-1123), required fields, and the defaults
//! kube-apiserver fills in on create. Pure functions on JSON values.

use serde_json::{Value, json};

use super::resources::ResourceDef;
use super::status::{ApiError, ApiResult};

/// DNS-1123 label: at most 63 lowercase alphanumerics or '-', alphanumeric at both ends.
#[must_use]
pub fn is_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// DNS-1123 subdomain: at most 253 characters of dot-separated labels.
#[must_use]
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// Kinds whose names must be DNS-1123 labels rather than subdomains.
fn needs_label_name(kind: &str) -> bool {
    matches!(kind, "Namespace" | "Service")
}

/// Kinds that track `metadata.generation` (bumped on spec changes).
#[must_use]
pub fn has_generation(def: &ResourceDef) -> bool {
    def.group == "apps" || def.group == "apiextensions.k8s.io" || !def.is_builtin()
}

impl ResourceDef {
    /// Whether this is a built-in kind (as opposed to one a CRD defines).
    #[must_use]
    pub fn is_builtin(&self) -> bool {
        matches!(self.printer, super::resources::Printer::Builtin(_))
    }
}

const WORKLOADS: &[&str] = &["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"];

/// 32-bit integer fields of built-in kinds (JSON pointers, `*` for every list element).
const INT32_FIELDS: &[(&str, &[&str])] = &[
    (
        "Deployment",
        &[
            "/spec/replicas",
            "/spec/minReadySeconds",
            "/spec/revisionHistoryLimit",
            "/spec/progressDeadlineSeconds",
        ],
    ),
    ("ReplicaSet", &["/spec/replicas", "/spec/minReadySeconds"]),
    (
        "StatefulSet",
        &["/spec/replicas", "/spec/minReadySeconds", "/spec/revisionHistoryLimit"],
    ),
    ("DaemonSet", &["/spec/minReadySeconds", "/spec/revisionHistoryLimit"]),
    ("Job", &["/spec/parallelism", "/spec/completions", "/spec/backoffLimit"]),
    ("Service", &["/spec/ports/*/port", "/spec/ports/*/nodePort"]),
    ("Pod", &["/spec/containers/*/ports/*/containerPort", "/spec/priority"]),
];

/// Every value at `pointer`, where `*` means each element of a list.
fn values_at<'a>(v: &'a Value, pointer: &str, out: &mut Vec<(String, &'a Value)>) {
    fn walk<'a>(v: &'a Value, parts: &[&str], path: String, out: &mut Vec<(String, &'a Value)>) {
        let Some((first, rest)) = parts.split_first() else {
            out.push((path, v));
            return;
        };
        if *first == "*" {
            for (i, item) in v.as_array().into_iter().flatten().enumerate() {
                walk(item, rest, format!("{path}[{i}]"), out);
            }
        } else if let Some(child) = v.get(*first) {
            walk(child, rest, format!("{path}.{first}"), out);
        }
    }
    let parts: Vec<&str> = pointer.split('/').skip(1).collect();
    walk(v, &parts, String::new(), out);
}

/// Refuse integers that do not fit the 32-bit fields they are sent for, as kube-apiserver's
/// decoder does (400, before any validation).
///
/// # Errors
/// `BadRequest` naming the field.
pub fn check_int32(def: &ResourceDef, obj: &Value) -> ApiResult<()> {
    if !def.is_builtin() {
        return Ok(());
    }
    let fields = INT32_FIELDS
        .iter()
        .filter(|(k, _)| *k == def.kind)
        .flat_map(|(_, f)| f.iter());
    for pointer in fields {
        let mut found = Vec::new();
        values_at(obj, pointer, &mut found);
        for (path, v) in found {
            let fits = v.as_i64().is_some_and(|n| i32::try_from(n).is_ok());
            if v.is_number() && !fits {
                return Err(ApiError::bad_request(format!(
                    "{kind} in version \"{version}\" cannot be handled as a {kind}: json: cannot unmarshal number {v} into Go struct field {kind}{path} of type int32",
                    kind = def.kind,
                    version = def.version,
                )));
            }
        }
    }
    Ok(())
}

/// Validate an object about to be stored. Errors are 422 `Invalid` with one cause per field.
///
/// # Errors
/// `Invalid` listing every problem found (`BadRequest` for an integer that overflows its
/// field).
pub fn validate(def: &ResourceDef, obj: &Value) -> ApiResult<()> {
    check_int32(def, obj)?;
    if let Some(schema) = &def.schema {
        let causes = super::schema::check(schema, obj);
        if !causes.is_empty() {
            let name = obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            return Err(ApiError::invalid(&def.kind, &def.group, name, &causes));
        }
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut causes: Vec<(String, String)> = Vec::new();
    let mut bad = |field: &str, msg: String| causes.push((field.to_string(), msg));
    if name.is_empty() {
        bad(
            "metadata.name",
            "Required value: name or generateName is required".into(),
        );
    } else if needs_label_name(&def.kind) {
        if !is_dns1123_label(name) {
            bad(
                "metadata.name",
                format!(
                    "Invalid value: {name:?}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
                ),
            );
        }
    } else if !is_dns1123_subdomain(name) {
        bad(
            "metadata.name",
            format!(
                "Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            ),
        );
    }
    for (field, what) in [("labels", "label"), ("annotations", "annotation")] {
        if let Some(v) = obj.pointer(&format!("/metadata/{field}"))
            && let Some(m) = v.as_object()
        {
            for (k, val) in m {
                if !val.is_string() {
                    bad(
                        &format!("metadata.{field}"),
                        format!("Invalid value: {what} {k:?} must be a string"),
                    );
                }
            }
        } else if obj.pointer(&format!("/metadata/{field}")).is_some_and(|v| !v.is_null()) {
            bad(
                &format!("metadata.{field}"),
                "Invalid value: must be a map of strings".into(),
            );
        }
    }
    if let Some(labels) = obj.pointer("/metadata/labels").and_then(Value::as_object) {
        for (k, v) in labels {
            if let Err(e) =
                muster_core::selector::LabelSelector::parse(&format!("{k}={}", v.as_str().unwrap_or_default()))
            {
                bad("metadata.labels", format!("Invalid value: {k:?}: {}", e.message));
            }
        }
    }
    if def.is_builtin() {
        let containers_at = |p: &str| obj.pointer(p).and_then(Value::as_array);
        let check_containers = |prefix: &str, list: Option<&Vec<Value>>, causes: &mut Vec<(String, String)>| match list
        {
            None => causes.push((prefix.to_string(), "Required value".into())),
            Some(cs) if cs.is_empty() => causes.push((prefix.to_string(), "Required value".into())),
            Some(cs) => {
                for (i, c) in cs.iter().enumerate() {
                    if c.get("name")
                        .and_then(Value::as_str)
                        .is_none_or(|n| !is_dns1123_label(n))
                    {
                        causes.push((format!("{prefix}[{i}].name"), "Required value: a DNS-1123 label".into()));
                    }
                    if c.get("image").and_then(Value::as_str).is_none_or(str::is_empty) {
                        causes.push((format!("{prefix}[{i}].image"), "Required value".into()));
                    }
                }
            }
        };
        if def.kind == "Pod" {
            check_containers("spec.containers", containers_at("/spec/containers"), &mut causes);
        }
        if WORKLOADS.contains(&def.kind.as_str()) {
            check_containers(
                "spec.template.spec.containers",
                containers_at("/spec/template/spec/containers"),
                &mut causes,
            );
            let selector = obj.pointer("/spec/selector");
            match selector.and_then(|s| s.get("matchLabels")).and_then(Value::as_object) {
                None if selector.and_then(|s| s.get("matchExpressions")).is_none() => {
                    causes.push(("spec.selector".into(), "Required value".into()));
                }
                Some(want) => {
                    let labels = obj.pointer("/spec/template/metadata/labels").and_then(Value::as_object);
                    let ok = want.iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
                    if !ok {
                        causes.push((
                            "spec.template.metadata.labels".into(),
                            "Invalid value: `selector` does not match template `labels`".into(),
                        ));
                    }
                }
                None => {}
            }
            if let Some(r) = obj.pointer("/spec/replicas")
                && r.as_i64().is_none_or(|n| n < 0)
            {
                causes.push((
                    "spec.replicas".into(),
                    "Invalid value: must be greater than or equal to 0".into(),
                ));
            }
        }
        if def.kind == "Service"
            && let Some(ports) = obj.pointer("/spec/ports").and_then(Value::as_array)
        {
            for (i, p) in ports.iter().enumerate() {
                if p.get("port")
                    .and_then(Value::as_i64)
                    .is_none_or(|n| !(1..=65535).contains(&n))
                {
                    causes.push((
                        format!("spec.ports[{i}].port"),
                        "Invalid value: must be between 1 and 65535, inclusive".into(),
                    ));
                }
            }
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(&def.kind, &def.group, name, &causes))
    }
}

fn set_default(obj: &mut Value, pointer: &str, value: Value) {
    if obj.pointer(pointer).is_some() {
        return;
    }
    let mut cur = obj;
    let parts: Vec<&str> = pointer.split('/').skip(1).collect();
    for (i, p) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = json!({});
        }
        let map = cur.as_object_mut().expect("made an object");
        if i == parts.len() - 1 {
            map.insert((*p).to_string(), value);
            return;
        }
        cur = map.entry((*p).to_string()).or_insert_with(|| json!({}));
    }
}

/// What a cluster allocates for new objects: Service cluster IPs and node ports.
pub trait Allocator {
    fn cluster_ip(&self) -> String;
    /// # Errors
    /// When the range is full.
    fn node_port(&self) -> Result<u16, String>;
    /// # Errors
    /// When the port is out of range or taken.
    fn reserve_node_port(&self, port: u16) -> Result<(), String>;
    /// A random suffix for generated names (`kube-api-access-xxxxx`).
    fn suffix(&self) -> String;
}

impl Allocator for super::cluster::Cluster {
    fn cluster_ip(&self) -> String {
        self.allocate_cluster_ip()
    }

    fn node_port(&self) -> Result<u16, String> {
        self.allocate_node_port()
    }

    fn reserve_node_port(&self, port: u16) -> Result<(), String> {
        super::cluster::Cluster::reserve_node_port(self, port)
    }

    fn suffix(&self) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..5)
            .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
            .collect()
    }
}

/// The ServiceAccount admission plugin, DefaultTolerationSeconds and Priority admission, as
/// kube-apiserver applies them to every new pod: the service account and its projected token
/// volume (mounted in every container), the not-ready/unreachable tolerations, priority 0.
fn admit_pod(obj: &mut Value, alloc: &dyn Allocator) {
    let spec = "/spec";
    let sa = obj
        .pointer("/spec/serviceAccountName")
        .or_else(|| obj.pointer("/spec/serviceAccount"))
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_string();
    set_default(obj, &format!("{spec}/serviceAccountName"), json!(sa));
    set_default(obj, &format!("{spec}/serviceAccount"), json!(sa));
    set_default(obj, &format!("{spec}/enableServiceLinks"), json!(true));
    set_default(obj, &format!("{spec}/priority"), json!(0));
    set_default(obj, &format!("{spec}/preemptionPolicy"), json!("PreemptLowerPriority"));
    let automount = obj
        .pointer("/spec/automountServiceAccountToken")
        .and_then(Value::as_bool)
        != Some(false);
    let has_token_mount = obj
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("volumeMounts").and_then(Value::as_array).is_some_and(|ms| {
                    ms.iter()
                        .any(|m| m.get("mountPath").and_then(Value::as_str) == Some(SA_MOUNT))
                })
            })
        });
    if automount && !has_token_mount {
        let volume = format!("kube-api-access-{}", alloc.suffix());
        set_default(obj, "/spec/volumes", json!([]));
        if let Some(vs) = obj.pointer_mut("/spec/volumes").and_then(Value::as_array_mut) {
            vs.push(json!({"name": volume, "projected": {"defaultMode": 420, "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
            ]}}));
        }
        for list in ["/spec/containers", "/spec/initContainers"] {
            if let Some(cs) = obj.pointer_mut(list).and_then(Value::as_array_mut) {
                for c in cs {
                    set_default(c, "/volumeMounts", json!([]));
                    if let Some(ms) = c.get_mut("volumeMounts").and_then(Value::as_array_mut) {
                        ms.push(json!({"name": volume, "mountPath": SA_MOUNT, "readOnly": true}));
                    }
                }
            }
        }
    }
    set_default(obj, "/spec/tolerations", json!([]));
    if let Some(ts) = obj.pointer_mut("/spec/tolerations").and_then(Value::as_array_mut) {
        for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
            if !ts.iter().any(|t| t.get("key").and_then(Value::as_str) == Some(key)) {
                ts.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
            }
        }
    }
}

/// Where the service account token is mounted.
const SA_MOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Fill in defaults as kube-apiserver's defaulting (and its admission plugins) do for the
/// fields clients rely on, allocating cluster IPs and node ports from `alloc`.
///
/// # Errors
/// A requested node port that is taken or out of range, or a full range (`field`, message).
pub fn apply_defaults(def: &ResourceDef, obj: &mut Value, alloc: &dyn Allocator) -> Result<(), (String, String)> {
    if !def.is_builtin() {
        return Ok(());
    }
    let pod_spec = |obj: &mut Value, prefix: &str| {
        set_default(obj, &format!("{prefix}/restartPolicy"), json!("Always"));
        set_default(obj, &format!("{prefix}/terminationGracePeriodSeconds"), json!(30));
        set_default(obj, &format!("{prefix}/dnsPolicy"), json!("ClusterFirst"));
        set_default(obj, &format!("{prefix}/schedulerName"), json!("default-scheduler"));
        set_default(obj, &format!("{prefix}/securityContext"), json!({}));
        if let Some(cs) = obj
            .pointer_mut(&format!("{prefix}/containers"))
            .and_then(Value::as_array_mut)
        {
            for c in cs {
                set_default(
                    c,
                    "/imagePullPolicy",
                    json!(if c
                        .get("image")
                        .and_then(Value::as_str)
                        .is_some_and(|i| i.ends_with(":latest") || !i.contains(':'))
                    {
                        "Always"
                    } else {
                        "IfNotPresent"
                    }),
                );
                set_default(c, "/terminationMessagePath", json!("/dev/termination-log"));
                set_default(c, "/terminationMessagePolicy", json!("File"));
                set_default(c, "/resources", json!({}));
                if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
                    for p in ports {
                        set_default(p, "/protocol", json!("TCP"));
                    }
                }
            }
        }
    };
    match def.kind.as_str() {
        "Namespace" => {
            let name = obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            set_default(obj, "/metadata/labels", json!({}));
            if let Some(labels) = obj.pointer_mut("/metadata/labels").and_then(Value::as_object_mut) {
                labels.insert("kubernetes.io/metadata.name".into(), json!(name));
            }
            set_default(obj, "/spec/finalizers", json!(["kubernetes"]));
            set_default(obj, "/status/phase", json!("Active"));
        }
        "Pod" => {
            pod_spec(obj, "/spec");
            admit_pod(obj, alloc);
            set_default(obj, "/status/phase", json!("Pending"));
            set_default(obj, "/status/qosClass", json!("BestEffort"));
        }
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" => {
            if def.kind != "DaemonSet" {
                set_default(obj, "/spec/replicas", json!(1));
            }
            set_default(obj, "/spec/revisionHistoryLimit", json!(10));
            let (strategy, rolling) = match def.kind.as_str() {
                "Deployment" => {
                    set_default(obj, "/spec/progressDeadlineSeconds", json!(600));
                    ("/spec/strategy", json!({"maxSurge": "25%", "maxUnavailable": "25%"}))
                }
                "StatefulSet" => {
                    set_default(obj, "/spec/podManagementPolicy", json!("OrderedReady"));
                    ("/spec/updateStrategy", json!({"partition": 0}))
                }
                "DaemonSet" => ("/spec/updateStrategy", json!({"maxSurge": 0, "maxUnavailable": 1})),
                _ => ("/spec/updateStrategy", json!({})),
            };
            set_default(obj, &format!("{strategy}/type"), json!("RollingUpdate"));
            if obj.pointer(&format!("{strategy}/type")).and_then(Value::as_str) == Some("RollingUpdate") {
                set_default(obj, &format!("{strategy}/rollingUpdate"), rolling);
            }
            pod_spec(obj, "/spec/template/spec");
            set_default(obj, "/spec/template/metadata/creationTimestamp", Value::Null);
        }
        "Service" => {
            set_default(obj, "/spec/type", json!("ClusterIP"));
            set_default(obj, "/spec/sessionAffinity", json!("None"));
            let kind = obj
                .pointer("/spec/type")
                .and_then(Value::as_str)
                .unwrap_or("ClusterIP")
                .to_string();
            if kind != "ExternalName" {
                match obj.pointer("/spec/clusterIP").and_then(Value::as_str) {
                    None | Some("") => {
                        let ip = alloc.cluster_ip();
                        obj["spec"]["clusterIP"] = json!(ip.clone());
                        obj["spec"]["clusterIPs"] = json!([ip]);
                    }
                    Some(ip) => {
                        let ip = ip.to_string();
                        set_default(obj, "/spec/clusterIPs", json!([ip]));
                    }
                }
                set_default(obj, "/spec/ipFamilies", json!(["IPv4"]));
                set_default(obj, "/spec/ipFamilyPolicy", json!("SingleStack"));
                set_default(obj, "/spec/internalTrafficPolicy", json!("Cluster"));
            }
            let node_ports = matches!(kind.as_str(), "NodePort" | "LoadBalancer");
            if node_ports {
                set_default(obj, "/spec/externalTrafficPolicy", json!("Cluster"));
            }
            if kind == "LoadBalancer" {
                set_default(obj, "/spec/allocateLoadBalancerNodePorts", json!(true));
            }
            if let Some(ports) = obj.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
                for (i, p) in ports.iter_mut().enumerate() {
                    set_default(p, "/protocol", json!("TCP"));
                    if let Some(port) = p.get("port").cloned() {
                        set_default(p, "/targetPort", port);
                    }
                    if node_ports {
                        let field = format!("spec.ports[{i}].nodePort");
                        match p.get("nodePort").and_then(Value::as_u64) {
                            Some(n) => {
                                let n = u16::try_from(n).map_err(|_| {
                                    (
                                        field.clone(),
                                        format!("Invalid value: {n}: provided port is not in the valid range"),
                                    )
                                })?;
                                alloc
                                    .reserve_node_port(n)
                                    .map_err(|m| (field, format!("Invalid value: {n}: {m}")))?;
                            }
                            None => p["nodePort"] = json!(alloc.node_port().map_err(|m| (field, m))?),
                        }
                    }
                }
            }
            if kind == "LoadBalancer"
                && obj.pointer("/spec/externalTrafficPolicy").and_then(Value::as_str) == Some("Local")
                && obj.pointer("/spec/healthCheckNodePort").is_none()
            {
                let port = alloc
                    .node_port()
                    .map_err(|m| ("spec.healthCheckNodePort".to_string(), m))?;
                obj["spec"]["healthCheckNodePort"] = json!(port);
            }
            set_default(obj, "/status/loadBalancer", json!({}));
        }
        "Secret" => {
            set_default(obj, "/type", json!("Opaque"));
            if let Some(Value::Object(string_data)) = obj.as_object_mut().and_then(|m| m.remove("stringData")) {
                use base64::Engine as _;
                for (k, v) in string_data {
                    let encoded = base64::engine::general_purpose::STANDARD.encode(v.as_str().unwrap_or_default());
                    set_default(obj, "/data", json!({}));
                    obj["data"][k] = json!(encoded);
                }
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::BUILTIN_DEFS;

    fn def(kind: &str) -> &'static ResourceDef {
        BUILTIN_DEFS
            .iter()
            .find(|d| d.kind == kind && d.group != "events.k8s.io")
            .unwrap()
    }

    #[test]
    fn names() {
        assert!(is_dns1123_label("web-1"));
        assert!(!is_dns1123_label("Web"));
        assert!(!is_dns1123_label("-a"));
        assert!(is_dns1123_subdomain("a.b-c"));
        assert!(!is_dns1123_subdomain("a..b"));
        let e = validate(def("ConfigMap"), &json!({"metadata": {"name": "Bad_Name"}})).unwrap_err();
        assert_eq!((e.code, e.reason), (422, "Invalid"));
        assert!(e.message.contains("metadata.name"));
        assert!(validate(def("Namespace"), &json!({"metadata": {"name": "a.b"}})).is_err());
    }

    #[test]
    fn deployments_need_containers_and_matching_selector() {
        let bad = json!({"metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "other"}}, "spec": {"containers": [{"name": "web"}]}}}});
        let e = validate(def("Deployment"), &bad).unwrap_err();
        assert!(
            e.message.contains("spec.template.spec.containers[0].image"),
            "{}",
            e.message
        );
        assert!(e.message.contains("spec.template.metadata.labels"), "{}", e.message);
    }

    /// Allocations for a test: fixed answers.
    struct Fixed;

    impl Allocator for Fixed {
        fn cluster_ip(&self) -> String {
            "10.96.7.7".into()
        }
        fn node_port(&self) -> Result<u16, String> {
            Ok(31000)
        }
        fn reserve_node_port(&self, port: u16) -> Result<(), String> {
            if port == 30080 {
                Err("provided port is already allocated".into())
            } else {
                Ok(())
            }
        }
        fn suffix(&self) -> String {
            "abcde".into()
        }
    }

    #[test]
    fn services_and_pods_are_defaulted_as_a_real_apiserver_does() {
        let mut svc = json!({"metadata": {"name": "web"}, "spec": {"type": "NodePort", "ports": [{"port": 80}, {"port": 81, "nodePort": 30081}]}});
        apply_defaults(def("Service"), &mut svc, &Fixed).unwrap();
        assert_eq!(svc["spec"]["clusterIP"], "10.96.7.7");
        assert_eq!(svc["spec"]["ports"][0]["nodePort"], 31000);
        assert_eq!(svc["spec"]["ports"][1]["nodePort"], 30081);
        assert_eq!(svc["spec"]["externalTrafficPolicy"], "Cluster");
        let mut taken = json!({"metadata": {"name": "x"}, "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}});
        let (field, msg) = apply_defaults(def("Service"), &mut taken, &Fixed).unwrap_err();
        assert_eq!(field, "spec.ports[0].nodePort");
        assert!(msg.contains("already allocated"), "{msg}");
        let mut pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}});
        apply_defaults(def("Pod"), &mut pod, &Fixed).unwrap();
        assert_eq!(pod["spec"]["serviceAccountName"], "default");
        assert_eq!(pod["spec"]["enableServiceLinks"], true);
        assert_eq!(pod["spec"]["priority"], 0);
        assert_eq!(pod["spec"]["volumes"][0]["name"], "kube-api-access-abcde");
        assert_eq!(pod["spec"]["containers"][0]["volumeMounts"][0]["mountPath"], SA_MOUNT);
        assert_eq!(pod["spec"]["tolerations"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn defaults() {
        let mut d = json!({"metadata": {"name": "web"}, "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1", "ports": [{"containerPort": 80}]}]}}}});
        apply_defaults(def("Deployment"), &mut d, &Fixed).unwrap();
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["spec"]["strategy"]["type"], "RollingUpdate");
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"],
            "TCP"
        );
        let mut ns = json!({"metadata": {"name": "shop"}});
        apply_defaults(def("Namespace"), &mut ns, &Fixed).unwrap();
        assert_eq!(ns["metadata"]["labels"]["kubernetes.io/metadata.name"], "shop");
        assert_eq!(ns["status"]["phase"], "Active");
        let mut s = json!({"metadata": {"name": "s"}, "stringData": {"k": "v"}});
        apply_defaults(def("Secret"), &mut s, &Fixed).unwrap();
        assert_eq!(s["data"]["k"], "dg==");
        assert!(s.get("stringData").is_none());
    }
}
