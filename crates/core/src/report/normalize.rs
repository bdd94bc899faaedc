//! Normalisation before comparing: strip what always differs between clusters (server-set
//! metadata, the last-applied annotation, revision and pod-template-hash markers, restart
//! stamps, `status` unless asked for), what each API server allocates or defaults per
//! cluster ([`SERVER_FIELDS`]: cluster IPs, node ports, the `kube-root-ca.crt` content, ...),
//! and any configured ignore rules; replace Secret values with keyed fingerprints; and write
//! the result as JSON with sorted keys, so equal objects serialise to equal bytes (without
//! building a copy). With [`Normalize::owned_only`], only the fields a non-controller field
//! manager owns (what people set) are compared at all.
//!
//! A rule is a JSON pointer whose segments may be `*` globs, optionally scoped to a kind or
//! one object: `/spec/replicas`, `Service:/spec/clusterIP`,
//! `ConfigMap/kube-root-ca.crt:/data/ca.crt`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::selector::glob_match;

/// Always stripped (JSON pointers; `*` matches one segment).
const ALWAYS: &[&str] = &[
    "/metadata/managedFields",
    "/metadata/resourceVersion",
    "/metadata/uid",
    "/metadata/creationTimestamp",
    "/metadata/generation",
    "/metadata/selfLink",
    "/metadata/ownerReferences/*/uid",
    "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration",
    "/metadata/annotations/deployment.kubernetes.io~1revision",
    "/metadata/labels/pod-template-hash",
    "/spec/selector/matchLabels/pod-template-hash",
    "/spec/template/metadata/labels/pod-template-hash",
    "/spec/template/metadata/annotations/muster.dev~1restartedAt",
];

/// What each API server allocates or defaults differently per cluster, so that two
/// clusters given the same object report it identical. Replaced by the fleet file's
/// `serverFields`; kept with `--include-server-fields`.
pub const SERVER_FIELDS: &[&str] = &[
    // Allocated from each cluster's service CIDR and node-port range.
    "Service:/spec/clusterIP",
    "Service:/spec/clusterIPs",
    "Service:/spec/ports/*/nodePort",
    "Service:/spec/healthCheckNodePort",
    // Defaulted from each cluster's IP family configuration.
    "Service:/spec/ipFamilies",
    "Service:/spec/ipFamilyPolicy",
    // Each cluster's own CA, published into every namespace since Kubernetes 1.21.
    "ConfigMap/kube-root-ca.crt:/data/ca.crt",
    // Bound by each cluster's provisioner.
    "PersistentVolumeClaim:/spec/volumeName",
    "PersistentVolumeClaim:/metadata/annotations/pv.kubernetes.io~1*",
    "PersistentVolumeClaim:/metadata/annotations/volume.kubernetes.io~1*",
    "PersistentVolumeClaim:/metadata/annotations/volume.beta.kubernetes.io~1*",
    // Token Secrets (named with a random suffix) a ServiceAccount was given.
    "ServiceAccount:/secrets",
    // Scheduling, addresses and per-object uids the cluster chose.
    "Pod:/spec/nodeName",
    "Job:/spec/selector/matchLabels/controller-uid",
    "Job:/spec/selector/matchLabels/batch.kubernetes.io~1controller-uid",
    "Job:/spec/template/metadata/labels/controller-uid",
    "Job:/spec/template/metadata/labels/batch.kubernetes.io~1controller-uid",
    "Job:/metadata/labels/controller-uid",
    "Job:/metadata/labels/batch.kubernetes.io~1controller-uid",
    "Endpoints:/metadata/annotations/endpoints.kubernetes.io~1last-change-trigger-time",
];

/// Field managers of the control plane: with [`Normalize::owned_only`], what they own is
/// what the servers filled in.
pub const CONTROLLER_MANAGERS: &[&str] = &[
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-apiserver",
    "cloud-controller-manager",
    "k3s",
];

/// A key for Secret fingerprints: the same value gives the same fingerprint under one key
/// (so "differs" shows), and without the key a fingerprint does not reveal the value.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(Vec<u8>);

impl SecretKey {
    /// A key from its bytes (at least 16).
    #[must_use]
    pub fn new(bytes: &[u8]) -> Option<Self> {
        (bytes.len() >= 16).then(|| Self(bytes.to_vec()))
    }

    /// `fingerprint:` and 12 hex digits of HMAC-SHA256(key, value).
    #[must_use]
    pub fn fingerprint(&self, value: &[u8]) -> String {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.0);
        let tag = ring::hmac::sign(&key, value);
        let hex: String = tag.as_ref()[..6].iter().map(|b| format!("{b:02x}")).collect();
        format!("fingerprint:{hex}")
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// What to strip besides the fixed list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Normalize {
    /// Keep `status` (stripped by default).
    pub include_status: bool,
    /// More rules to strip (`/spec/replicas`, `Service:/spec/type`, `/metadata/annotations/example.com~1*`).
    pub ignore: Vec<String>,
    /// Compare the server-allocated and server-defaulted fields too.
    pub include_server_fields: bool,
    /// Replaces [`SERVER_FIELDS`] when set.
    pub server_fields: Option<Vec<String>>,
    /// Compare only the fields some non-controller field manager owns (from `managedFields`):
    /// what people set, never what the servers filled in.
    pub owned_only: bool,
    /// Field managers counted as controllers besides [`CONTROLLER_MANAGERS`].
    pub controllers: Vec<String>,
    /// The Secret fingerprint key; without one, Secret values are replaced by `<redacted>`
    /// (then differences in them do not show).
    #[serde(skip)]
    pub secret_key: Option<SecretKey>,
}

/// An ignore rule that is not a JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ignore rule {rule:?}: {why}")]
pub struct IgnoreError {
    pub rule: String,
    pub why: String,
}

/// One compiled rule: where it applies, and its pointer's segments (each a glob).
#[derive(Debug, Clone)]
struct Rule {
    kind: Option<String>,
    name: Option<String>,
    segments: Vec<String>,
}

impl Rule {
    fn parse(text: &str) -> Result<Self, IgnoreError> {
        let bad = |why: &str| IgnoreError {
            rule: text.to_string(),
            why: why.to_string(),
        };
        let (scope, pointer) = match text.find(":/") {
            Some(i) if !text.starts_with('/') => (Some(&text[..i]), &text[i + 1..]),
            _ => (None, text),
        };
        if !pointer.starts_with('/') || pointer.len() < 2 {
            return Err(bad(
                "expected a JSON pointer such as /spec/replicas, Service:/spec/clusterIP or /metadata/labels/team*",
            ));
        }
        let (kind, name) = match scope {
            None => (None, None),
            Some(s) => match s.split_once('/') {
                Some((k, n)) if !k.is_empty() && !n.is_empty() => (Some(k.to_string()), Some(n.to_string())),
                None if !s.is_empty() => (Some(s.to_string()), None),
                _ => return Err(bad("the scope is Kind or Kind/name before the pointer")),
            },
        };
        Ok(Self {
            kind,
            name,
            segments: pointer.split('/').skip(1).map(unescape).collect(),
        })
    }

    fn applies(&self, kind: &str, name: &str) -> bool {
        self.kind.as_deref().is_none_or(|k| k == kind) && self.name.as_deref().is_none_or(|n| n == name)
    }
}

impl Normalize {
    /// Check the rules.
    ///
    /// # Errors
    /// [`IgnoreError`] for a rule that is not a (scoped) JSON pointer.
    pub fn validate(&self) -> Result<(), IgnoreError> {
        for r in self.ignore.iter().chain(self.server_fields.iter().flatten()) {
            Rule::parse(r)?;
        }
        Ok(())
    }

    /// The normalised copy of an object (keys sorted).
    #[must_use]
    pub fn apply(&self, object: &Value) -> Value {
        let mut bytes = Vec::new();
        self.compile().canonical(object, &mut bytes);
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    }

    /// The rules, compiled for [`Compiled::canonical`]. Rules that do not parse are left out
    /// ([`Normalize::validate`] reports them).
    #[must_use]
    pub fn compile(&self) -> Compiled {
        let server: Vec<&str> = match (&self.server_fields, self.include_server_fields) {
            (_, true) => Vec::new(),
            (Some(own), false) => own.iter().map(String::as_str).collect(),
            (None, false) => SERVER_FIELDS.to_vec(),
        };
        let mut rules: Vec<Rule> = ALWAYS
            .iter()
            .copied()
            .chain(server)
            .chain(self.ignore.iter().map(String::as_str))
            .filter_map(|r| Rule::parse(r).ok())
            .collect();
        if !self.include_status {
            rules.push(Rule {
                kind: None,
                name: None,
                segments: vec!["status".into()],
            });
        }
        let controllers = self.owned_only.then(|| {
            CONTROLLER_MANAGERS
                .iter()
                .map(|s| (*s).to_string())
                .chain(self.controllers.iter().cloned())
                .collect()
        });
        Compiled {
            rules,
            secret_key: self.secret_key.clone(),
            controllers,
        }
    }
}

/// Compiled rules.
#[derive(Debug, Clone)]
pub struct Compiled {
    rules: Vec<Rule>,
    secret_key: Option<SecretKey>,
    /// With `owned_only`: the managers whose fields do not count.
    controllers: Option<Vec<String>>,
}

/// Maps dropped when stripping leaves them empty.
const PRUNED_WHEN_EMPTY: &[(&[&str], &str)] = &[
    (&["metadata"], "annotations"),
    (&["metadata"], "labels"),
    (&["spec", "template", "metadata"], "annotations"),
    (&["spec", "template", "metadata"], "labels"),
];

/// Whether `v` is a core Secret (whose `data` and `stringData` values are fingerprinted).
fn is_secret(v: &Value) -> bool {
    v.get("kind").and_then(Value::as_str) == Some("Secret") && v.get("apiVersion").and_then(Value::as_str) == Some("v1")
}

/// A stored result made safe to keep outside its cluster (the hub keeps results in
/// ConfigMaps): every Secret's `data` and `stringData` values become their fingerprints (or
/// `<redacted>` without a key), and the last-applied annotation, which would hold them
/// again, goes.
pub fn redact_secrets(result: &mut crate::result::ExecResult, key: Option<&SecretKey>) {
    let crate::result::Output::Objects { items, .. } = &mut result.output else {
        return;
    };
    for item in items.iter_mut() {
        let mut v = item.value();
        if !is_secret(&v) {
            continue;
        }
        for field in ["data", "stringData"] {
            if let Some(map) = v.get_mut(field).and_then(Value::as_object_mut) {
                for value in map.values_mut() {
                    let text = match &*value {
                        Value::String(s) => s.as_bytes().to_vec(),
                        other => other.to_string().into_bytes(),
                    };
                    *value = Value::String(key.map_or_else(|| "<redacted>".to_string(), |k| k.fingerprint(&text)));
                }
            }
        }
        if let Some(a) = v.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
            a.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
        *item = crate::result::Object::from_value(&v);
    }
}

impl Compiled {
    /// Write the normalised object as compact JSON with sorted keys, without building it
    /// (except in owned-fields mode): equal normalised objects give equal bytes.
    pub fn canonical(&self, v: &Value, out: &mut Vec<u8>) {
        let kind = v.get("kind").and_then(Value::as_str).unwrap_or_default();
        let name = v.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
        let live: Vec<usize> = (0..self.rules.len())
            .filter(|&r| self.rules[r].applies(kind, name))
            .collect();
        let secret = is_secret(v);
        match &self.controllers {
            Some(controllers) => {
                let owned = super::owned::project(v, controllers);
                self.write(&owned, &mut Vec::new(), &live, secret, out);
            }
            None => self.write(v, &mut Vec::new(), &live, secret, out),
        }
    }

    /// A Secret value's stand-in.
    fn secret_value(&self, v: &Value, out: &mut Vec<u8>) {
        let text = match v {
            Value::String(s) => s.as_bytes().to_vec(),
            other => other.to_string().into_bytes(),
        };
        let shown = match &self.secret_key {
            Some(k) => k.fingerprint(&text),
            None => "<redacted>".to_string(),
        };
        let _ = serde_json::to_writer(&mut *out, &shown);
    }

    /// Whether nothing below this point is stripped: the subtree is written with sorted
    /// keys only.
    fn write_plain(v: &Value, out: &mut Vec<u8>) {
        match v {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort_unstable();
                out.push(b'{');
                for (n, k) in keys.into_iter().enumerate() {
                    if n > 0 {
                        out.push(b',');
                    }
                    let _ = serde_json::to_writer(&mut *out, k);
                    out.push(b':');
                    Self::write_plain(&map[k.as_str()], out);
                }
                out.push(b'}');
            }
            Value::Array(items) => {
                out.push(b'[');
                for (n, item) in items.iter().enumerate() {
                    if n > 0 {
                        out.push(b',');
                    }
                    Self::write_plain(item, out);
                }
                out.push(b']');
            }
            scalar => {
                let _ = serde_json::to_writer(&mut *out, scalar);
            }
        }
    }

    /// Whether `key` at `path` is stripped by a rule still alive at this depth.
    fn dropped(&self, depth: usize, key: &str, live: &[usize]) -> bool {
        live.iter().any(|&r| {
            let segs = &self.rules[r].segments;
            segs.len() == depth + 1 && glob_match(&segs[depth], key)
        })
    }

    fn descend(&self, depth: usize, key: &str, live: &[usize]) -> Vec<usize> {
        live.iter()
            .copied()
            .filter(|&r| {
                let segs = &self.rules[r].segments;
                segs.len() > depth + 1 && glob_match(&segs[depth], key)
            })
            .collect()
    }

    fn write<'v>(&self, v: &'v Value, path: &mut Vec<&'v str>, live: &[usize], secret: bool, out: &mut Vec<u8>) {
        let depth = path.len();
        // NB: a Secret's values never reach a report: each becomes its fingerprint.
        if secret && depth == 2 && matches!(path[0], "data" | "stringData") {
            return self.secret_value(v, out);
        }
        if live.is_empty() && !(secret && depth < 2) {
            return Self::write_plain(v, out);
        }
        match v {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().filter(|k| !self.dropped(depth, k, live)).collect();
                keys.sort_unstable();
                out.push(b'{');
                let mut first = true;
                for k in keys {
                    let child = &map[k.as_str()];
                    let child_live = self.descend(depth, k, live);
                    if let Value::Object(m) = child
                        && PRUNED_WHEN_EMPTY
                            .iter()
                            .any(|(p, key)| key == k && path.iter().copied().eq(p.iter().copied()))
                        && m.keys().all(|ck| self.dropped(depth + 1, ck, &child_live))
                    {
                        continue;
                    }
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    let _ = serde_json::to_writer(&mut *out, k);
                    out.push(b':');
                    path.push(k.as_str());
                    self.write(child, path, &child_live, secret, out);
                    path.pop();
                }
                out.push(b'}');
            }
            Value::Array(items) => {
                out.push(b'[');
                let mut first = true;
                for (i, item) in items.iter().enumerate() {
                    let index = i.to_string();
                    if self.dropped(depth, &index, live) {
                        continue;
                    }
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    let child_live = self.descend(depth, &index, live);
                    // NB: array indexes only matter to rules, which never reach past them
                    // by name; the path keeps a placeholder.
                    path.push("*");
                    self.write(item, path, &child_live, secret, out);
                    path.pop();
                }
                out.push(b']');
            }
            scalar => {
                let _ = serde_json::to_writer(&mut *out, scalar);
            }
        }
    }
}

fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strips_what_always_differs() {
        let obj = json!({
            "kind": "Deployment", "apiVersion": "apps/v1",
            "metadata": {"name": "web", "namespace": "shop", "uid": "u-1", "resourceVersion": "9",
                "generation": 4, "creationTimestamp": "2026-01-01T00:00:00Z", "managedFields": [{}],
                "annotations": {"deployment.kubernetes.io/revision": "3",
                    "kubectl.kubernetes.io/last-applied-configuration": "{}"},
                "labels": {"app": "web"},
                "ownerReferences": [{"kind": "X", "name": "x", "uid": "u-2"}]},
            "spec": {"replicas": 3, "template": {"metadata": {"labels": {"app": "web", "pod-template-hash": "abc"},
                "annotations": {"muster.dev/restartedAt": "2026-11-22T10:00:00Z"}}}},
            "status": {"readyReplicas": 3}
        });
        let n = Normalize::default().apply(&obj);
        assert_eq!(
            n,
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"labels": {"app": "web"}, "name": "web", "namespace": "shop",
                    "ownerReferences": [{"kind": "X", "name": "x"}]},
                "spec": {"replicas": 3, "template": {"metadata": {"labels": {"app": "web"}}}}})
        );
        let keys: Vec<&String> = n.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["apiVersion", "kind", "metadata", "spec"], "keys are sorted");
        let with_status = Normalize {
            include_status: true,
            ignore: vec!["/spec/replicas".into(), "/metadata/labels/ap*".into()],
            ..Normalize::default()
        };
        with_status.validate().unwrap();
        let n = with_status.apply(&obj);
        assert_eq!(n["status"]["readyReplicas"], 3);
        assert!(n["spec"].get("replicas").is_none() && n["metadata"].get("labels").is_none());
        assert!(
            Normalize {
                ignore: vec!["spec.replicas".into()],
                ..Normalize::default()
            }
            .validate()
            .is_err()
        );
    }

    fn canonical(n: &Normalize, v: &Value) -> String {
        let mut out = Vec::new();
        n.compile().canonical(v, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn server_allocated_fields_do_not_differ() {
        let svc = |ip: &str, port: u16| {
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
                "spec": {"clusterIP": ip, "clusterIPs": [ip], "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                    "type": "NodePort", "ports": [{"port": 80, "nodePort": port, "protocol": "TCP"}]}})
        };
        let n = Normalize::default();
        assert_eq!(
            canonical(&n, &svc("10.96.0.10", 30001)),
            canonical(&n, &svc("10.112.7.3", 31555))
        );
        let keep = Normalize {
            include_server_fields: true,
            ..Normalize::default()
        };
        assert_ne!(
            canonical(&keep, &svc("10.96.0.10", 30001)),
            canonical(&keep, &svc("10.112.7.3", 31555))
        );
        let ca = |pem: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt"}, "data": {"ca.crt": pem}});
        assert_eq!(canonical(&n, &ca("A")), canonical(&n, &ca("B")));
        let other = |pem: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app"}, "data": {"ca.crt": pem}});
        assert_ne!(
            canonical(&n, &other("A")),
            canonical(&n, &other("B")),
            "scoped to kube-root-ca.crt only"
        );
        // The list is overridable, and scoped rules are checked.
        let own = Normalize {
            server_fields: Some(vec!["Service:/spec/clusterIP".into()]),
            ..Normalize::default()
        };
        assert_ne!(
            canonical(&own, &svc("10.96.0.10", 1)),
            canonical(&own, &svc("10.112.7.3", 1))
        );
        for bad in ["Service:spec", ":/spec", "/"] {
            let n = Normalize {
                ignore: vec![bad.into()],
                ..Normalize::default()
            };
            assert!(n.validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn stored_results_hold_no_secret_values() {
        use crate::result::{ExecResult, Object, Output, Status};
        let secret = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{\"pw\":\"aHVudGVyMg==\"}}", "keep": "me"}},
            "data": {"pw": "aHVudGVyMg=="}, "stringData": {"token": "hunter2"}});
        let cm =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"pw": "aHVudGVyMg=="}});
        let r = ExecResult {
            command_id: "c".into(),
            cluster: "a".into(),
            action: crate::command::Action::Get,
            target: "secrets".into(),
            status: Status::Succeeded,
            exit_code: None,
            output: Output::Objects {
                items: vec![Object::from_value(&secret), Object::from_value(&cm)],
                truncated: false,
            },
            error: None,
            duration_ms: 1,
            attempts: 1,
        };
        let key = SecretKey::new(&[7; 32]).unwrap();
        for k in [Some(&key), None] {
            let mut r = r.clone();
            redact_secrets(&mut r, k);
            let Output::Objects { items, .. } = &r.output else {
                unreachable!()
            };
            let (secret, cm) = (items[0].text(), items[1].text());
            assert!(
                !secret.contains("aHVudGVyMg") && !secret.contains("hunter2"),
                "{secret}"
            );
            assert!(secret.contains("\"keep\":\"me\""), "{secret}");
            assert!(
                secret.contains(if k.is_some() { "fingerprint:" } else { "<redacted>" }),
                "{secret}"
            );
            assert!(cm.contains("aHVudGVyMg=="), "a ConfigMap's value is not a secret: {cm}");
        }
    }

    #[test]
    fn secret_values_become_keyed_fingerprints() {
        let secret = |pw: &str| {
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "type": "Opaque",
                "data": {"password": pw, "user": "YWRtaW4="}, "stringData": {"token": pw}})
        };
        let key = SecretKey::new(b"0123456789abcdef0123456789abcdef").unwrap();
        let n = Normalize {
            secret_key: Some(key.clone()),
            ..Normalize::default()
        };
        let a = canonical(&n, &secret("aHVudGVyMg=="));
        let b = canonical(&n, &secret("czNjcjN0"));
        assert!(
            !a.contains("aHVudGVyMg==") && !b.contains("czNjcjN0") && !a.contains("YWRtaW4="),
            "{a}"
        );
        assert_ne!(a, b, "a different value still shows as different");
        assert_eq!(
            a,
            canonical(&n, &secret("aHVudGVyMg==")),
            "the same value, the same fingerprint"
        );
        assert!(a.contains(&key.fingerprint(b"aHVudGVyMg==")), "{a}");
        let other_key = Normalize {
            secret_key: SecretKey::new(b"another key of sixteen+ bytes"),
            ..Normalize::default()
        };
        assert_ne!(
            canonical(&other_key, &secret("aHVudGVyMg==")),
            a,
            "keyed: no fixed dictionary"
        );
        let unkeyed = canonical(&Normalize::default(), &secret("aHVudGVyMg=="));
        assert!(
            unkeyed.contains("<redacted>") && !unkeyed.contains("aHVudGVyMg=="),
            "{unkeyed}"
        );
        assert!(!format!("{key:?}").contains("0123"), "the key never prints");
        // A ConfigMap's data is compared as it is.
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"password": "x"}});
        assert!(canonical(&n, &cm).contains("\"x\""));
    }

    #[test]
    fn owned_only_compares_what_people_set() {
        let deploy = |defaulted: &str| {
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web",
                "managedFields": [{"manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {"f:replicas": {}}}}]},
                "spec": {"replicas": 3, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
                    "strategy": {"type": defaulted}}})
        };
        let n = Normalize {
            owned_only: true,
            ..Normalize::default()
        };
        assert_eq!(
            canonical(&n, &deploy("RollingUpdate")),
            canonical(&n, &deploy("Recreate"))
        );
        assert_eq!(
            canonical(&n, &deploy("x")),
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":3}}"#
        );
    }
}
