//! One simulated cluster: its identity, credentials, resource table and object store, and
//! the objects a fresh cluster starts with.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::behavior::{Behavior, fnv1a};
use super::faults::{Counters, Dice, Faults};
use super::logs::StreamCounter;
use super::resources::{GroupResource, ResourceDef, ResourceTable};
use super::store::{Store, Stored};

/// A bearer token. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// A fresh random token (32 alphanumerics).
    #[must_use]
    pub fn generate(rng: &mut fastrand::Rng) -> Self {
        Self((0..32).map(|_| rng.alphanumeric()).collect())
    }

    /// The secret value, for writing a kubeconfig.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Who a request authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// Full access (`cluster-admin`).
    Admin,
    /// Access only inside these namespaces, as a namespaced RoleBinding would give.
    Restricted { user: String, namespaces: Vec<String> },
}

/// A token limited to some namespaces.
#[derive(Debug, Clone)]
pub struct RestrictedToken {
    pub user: String,
    pub token: Token,
    pub namespaces: Vec<String>,
}

/// The credentials a cluster accepts.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub admin: Token,
    pub restricted: Option<RestrictedToken>,
    /// For the simulator's own `/_sim/` admin endpoint (faults, counters); not a
    /// Kubernetes credential.
    pub sim_admin: Token,
}

impl Credentials {
    /// Authenticate an `Authorization` header value.
    #[must_use]
    pub fn identify(&self, authorization: Option<&str>) -> Option<Identity> {
        let presented = authorization?.strip_prefix("Bearer ")?.trim();
        if constant_time_eq(presented.as_bytes(), self.admin.0.as_bytes()) {
            return Some(Identity::Admin);
        }
        let r = self.restricted.as_ref()?;
        constant_time_eq(presented.as_bytes(), r.token.0.as_bytes()).then(|| Identity::Restricted {
            user: r.user.clone(),
            namespaces: r.namespaces.clone(),
        })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// One simulated cluster's state, shared by its server's connections.
#[derive(Debug)]
pub struct Cluster {
    pub name: String,
    pub kubernetes_version: String,
    /// `host:port` clients reach it at.
    pub address: String,
    pub credentials: Credentials,
    pub store: Store,
    pub resources: ResourceTable,
    /// How workloads behave (readiness, failures, logs).
    pub behavior: Behavior,
    /// Seed for everything this cluster randomises.
    pub seed: u64,
    /// The cluster's CA certificate (PEM), published in every namespace as
    /// `kube-root-ca.crt`.
    pub ca_pem: String,
    /// Live `pods/log` streams.
    pub log_streams: StreamCounter,
    /// Injected faults, changeable at runtime (receivers see changes at once).
    pub faults: watch::Sender<Faults>,
    /// Requests and writes received.
    pub counters: Counters,
    /// Per-request random draws for faults.
    pub dice: Dice,
    /// Service cluster IPs and node ports allocated so far, and the seeded draw that picks
    /// the next: like a real apiserver, each cluster allocates its own.
    allocations: std::sync::Mutex<Allocations>,
}

/// What a cluster's Service allocators have handed out.
#[derive(Debug)]
struct Allocations {
    rng: fastrand::Rng,
    ips: std::collections::HashSet<u32>,
    node_ports: std::collections::HashSet<u16>,
}

/// The service CIDR every simulated cluster uses (kubeadm's default), `10.96.0.0/12`.
const SERVICE_CIDR_BASE: u32 = 0x0a60_0000;
const SERVICE_CIDR_SIZE: u32 = 1 << 20;
/// The default node-port range, 30000-32767.
const NODE_PORTS: std::ops::RangeInclusive<u16> = 30000..=32767;

/// What a new cluster is made of.
#[derive(Debug)]
pub struct ClusterConfig {
    pub name: String,
    pub kubernetes_version: String,
    /// `host:port` clients reach it at.
    pub address: String,
    pub credentials: Credentials,
    pub behavior: Behavior,
    pub seed: u64,
    pub faults: Faults,
    /// Its CA certificate (PEM).
    pub ca_pem: String,
}

impl Cluster {
    /// A cluster with the objects every fresh cluster has (namespaces `default`,
    /// `kube-system`, `kube-public`, `kube-node-lease`, each with its default ServiceAccount
    /// and `kube-root-ca.crt`, and the `kubernetes` Service).
    #[must_use]
    pub fn new(config: ClusterConfig) -> Arc<Self> {
        let ClusterConfig {
            name,
            kubernetes_version,
            address,
            credentials,
            behavior,
            seed,
            faults,
            ca_pem,
        } = config;
        let cluster = Arc::new(Self {
            name,
            kubernetes_version,
            address,
            credentials,
            store: Store::default(),
            resources: ResourceTable::default(),
            behavior,
            seed,
            ca_pem,
            log_streams: StreamCounter::default(),
            faults: watch::Sender::new(faults),
            counters: Counters::default(),
            dice: Dice::new(seed),
            allocations: std::sync::Mutex::new(Allocations {
                rng: fastrand::Rng::with_seed(seed ^ 0x5eed_c1a5),
                // NB: .0 is the network, .1 the `kubernetes` Service (as kube-apiserver
                // reserves the first address), .10 kube-dns on kubeadm clusters.
                ips: [0, 1, 10].into_iter().collect(),
                node_ports: std::collections::HashSet::new(),
            }),
        });
        cluster.seed();
        cluster
    }

    fn seed(&self) {
        let now = now_rfc3339();
        let ns_gr = gr("", "namespaces");
        let sa_gr = gr("", "serviceaccounts");
        self.store.transact(|t| {
            for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
                t.put(
                    &ns_gr,
                    json!({
                        "kind": "Namespace", "apiVersion": "v1",
                        "metadata": {"name": ns, "uid": new_uid(), "creationTimestamp": now,
                            "labels": {"kubernetes.io/metadata.name": ns}},
                        "spec": {"finalizers": ["kubernetes"]},
                        "status": {"phase": "Active"},
                    }),
                );
                t.put(&sa_gr, default_service_account(ns, &now));
                t.put(&gr("", "configmaps"), self.root_ca(ns, &now));
            }
            t.put(&gr("", "services"), json!({
                "kind": "Service", "apiVersion": "v1",
                "metadata": {"name": "kubernetes", "namespace": "default", "uid": new_uid(), "creationTimestamp": now,
                    "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"],
                    "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
                    "sessionAffinity": "None", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                    "internalTrafficPolicy": "Cluster"},
                "status": {"loadBalancer": {}},
            }));
            // NB: kube-apiserver keeps the `kubernetes` Service's endpoints itself.
            t.put(&gr("discovery.k8s.io", "endpointslices"), json!({
                "kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
                "metadata": {"name": "kubernetes", "namespace": "default", "uid": new_uid(), "creationTimestamp": now,
                    "labels": {"kubernetes.io/service-name": "kubernetes"}},
                "addressType": "IPv4",
                "endpoints": [{"addresses": ["172.18.0.2"], "conditions": {"ready": true}}],
                "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
            }));
            for i in 0..self.behavior.nodes {
                t.put(&gr("", "nodes"), self.node(i, &now));
            }
        });
    }

    /// `kube-root-ca.crt` of a namespace, as kube-controller-manager's root-ca-cert-publisher
    /// writes it.
    #[must_use]
    pub fn root_ca(&self, namespace: &str, now: &str) -> Value {
        json!({
            "kind": "ConfigMap", "apiVersion": "v1",
            "metadata": {"name": ROOT_CA, "namespace": namespace, "uid": new_uid(), "creationTimestamp": now,
                "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
            "data": {"ca.crt": self.ca_pem},
        })
    }

    /// The zone of node `i`.
    #[must_use]
    pub fn node_zone(i: usize) -> String {
        zone_of(i)
    }

    /// A Ready node with capacity, as a kubelet registers it.
    fn node(&self, i: usize, now: &str) -> Value {
        let name = format!("{}-node-{i}", self.name);
        let role = if i == 0 { "control-plane" } else { "worker" };
        json!({
            "kind": "Node", "apiVersion": "v1",
            "metadata": {"name": name, "uid": new_uid(), "creationTimestamp": now, "labels": {
                "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                format!("node-role.kubernetes.io/{role}"): "",
                // NB: nodes spread over zones a, b, c in turn, as a cloud's node pools do.
                "topology.kubernetes.io/zone": zone_of(i), "topology.kubernetes.io/region": "sim-1",
            }},
            "spec": {"podCIDR": format!("10.244.{i}.0/24"), "podCIDRs": [format!("10.244.{i}.0/24")]},
            "status": {
                "capacity": {"cpu": "4", "memory": "16367268Ki", "pods": "110", "ephemeral-storage": "102687672Ki"},
                "allocatable": {"cpu": "4", "memory": "16264868Ki", "pods": "110", "ephemeral-storage": "102687672Ki"},
                "conditions": [
                    {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory", "message": "kubelet has sufficient memory available", "lastHeartbeatTime": now, "lastTransitionTime": now},
                    {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure", "message": "kubelet has no disk pressure", "lastHeartbeatTime": now, "lastTransitionTime": now},
                    {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID", "message": "kubelet has sufficient PID available", "lastHeartbeatTime": now, "lastTransitionTime": now},
                    {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastHeartbeatTime": now, "lastTransitionTime": now},
                ],
                "addresses": [{"type": "InternalIP", "address": format!("172.18.0.{}", i + 2)}, {"type": "Hostname", "address": name}],
                "nodeInfo": {"kubeletVersion": self.kubernetes_version, "kubeProxyVersion": self.kubernetes_version,
                    "osImage": "Debian GNU/Linux 12 (bookworm)", "kernelVersion": "6.1.0-muster-sim", "containerRuntimeVersion": "containerd://1.7.24",
                    "operatingSystem": "linux", "architecture": "amd64", "machineID": format!("{:032x}", fnv1a(name.as_bytes())),
                    "systemUUID": new_uid(), "bootID": new_uid()},
            },
        })
    }

    /// A free Service cluster IP from `10.96.0.0/12`, drawn at random as kube-apiserver's
    /// allocator does (so two clusters give the same Service different IPs); the address
    /// is only ever printed.
    pub fn allocate_cluster_ip(&self) -> String {
        let mut a = self.allocations.lock().expect("allocations lock");
        let n = loop {
            let n = a.rng.u32(0..SERVICE_CIDR_SIZE - 1);
            if a.ips.insert(n) {
                break n;
            }
        };
        let ip = SERVICE_CIDR_BASE + n;
        format!("{}.{}.{}.{}", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff)
    }

    /// A free node port from 30000-32767, drawn at random.
    ///
    /// # Errors
    /// When every port of the range is taken (kube-apiserver's "range is full").
    pub fn allocate_node_port(&self) -> Result<u16, String> {
        let mut a = self.allocations.lock().expect("allocations lock");
        if a.node_ports.len() >= NODE_PORTS.len() {
            return Err("range is full".into());
        }
        loop {
            let p = a.rng.u16(NODE_PORTS);
            if a.node_ports.insert(p) {
                return Ok(p);
            }
        }
    }

    /// Reserve a node port a client asked for.
    ///
    /// # Errors
    /// When it is outside the range or already allocated.
    pub fn reserve_node_port(&self, port: u16) -> Result<(), String> {
        if !NODE_PORTS.contains(&port) {
            return Err(format!(
                "provided port is not in the valid range. The range of valid ports is {}-{}",
                NODE_PORTS.start(),
                NODE_PORTS.end()
            ));
        }
        if !self
            .allocations
            .lock()
            .expect("allocations lock")
            .node_ports
            .insert(port)
        {
            return Err("provided port is already allocated".into());
        }
        Ok(())
    }

    /// An object as served from `def`'s group-version: the stored bytes, or with `apiVersion`
    /// rewritten when a CRD serves it from another version than it was written in.
    #[must_use]
    pub fn present(&self, def: &ResourceDef, obj: &Stored) -> Bytes {
        let want = def.api_version();
        if obj.api_version() == want {
            return obj.json.clone();
        }
        let mut v = def.conversion.to_served(obj.value());
        v["apiVersion"] = json!(want);
        Bytes::from(serde_json::to_vec(&v).expect("a JSON value serialises"))
    }

    /// Whether a namespace exists, and whether it is terminating.
    #[must_use]
    pub fn namespace_state(&self, ns: &str) -> Option<bool> {
        self.store
            .get(&gr("", "namespaces"), "", ns)
            .map(|o| o.is_terminating())
    }
}

/// The ConfigMap every namespace gets with the cluster's CA.
pub const ROOT_CA: &str = "kube-root-ca.crt";

/// The `default` ServiceAccount of a namespace, as the serviceaccount controller makes it.
#[must_use]
pub fn default_service_account(namespace: &str, now: &str) -> Value {
    json!({
        "kind": "ServiceAccount", "apiVersion": "v1",
        "metadata": {"name": "default", "namespace": namespace, "uid": new_uid(), "creationTimestamp": now},
    })
}

/// Shorthand for a [`GroupResource`].
#[must_use]
pub fn gr(group: &str, resource: &str) -> GroupResource {
    GroupResource {
        group: group.into(),
        resource: resource.into(),
    }
}

/// The current time as apiserver writes timestamps (`2026-01-01T00:00:00Z`).
#[must_use]
pub fn now_rfc3339() -> String {
    jiff::Timestamp::from_second(jiff::Timestamp::now().as_second())
        .expect("the current time is representable")
        .to_string()
}

/// A fresh object uid.
#[must_use]
pub fn new_uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Zones `sim-1a`, `sim-1b`, `sim-1c`, in turn.
fn zone_of(i: usize) -> String {
    format!("sim-1{}", ["a", "b", "c"][i % 3])
}
