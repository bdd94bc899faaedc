//! Starting a fleet of simulated clusters in this process, each on its own HTTPS port, and
//! the kubeconfig that reaches them.
//!
//! ```no_run
//! # async fn demo() -> Result<(), muster_sim::SimError> {
//! let fleet = muster_sim::Fleet::start(muster_sim::FleetOptions::default().clusters(3)).await?;
//! std::fs::write("sim.kubeconfig", fleet.kubeconfig()).unwrap();
//! fleet.shutdown().await;
//! # Ok(()) }
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::behavior::{Behavior, fnv1a};
use super::cluster::{Cluster, Credentials, RestrictedToken, Token};
use super::faults::{CounterSnapshot, FaultPlan, Faults, Scenario};
use super::tls::{self, TlsError};
use super::{controller, server};

/// How to start a fleet.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// Number of clusters.
    pub clusters: usize,
    /// First port; cluster `i` listens on `base_port + i`. `None` picks free ports.
    pub base_port: Option<u16>,
    /// Seed for everything the simulation randomises (behaviour, not credentials).
    pub seed: u64,
    /// Cluster names are `<prefix>-000`, `<prefix>-001`, ...
    pub name_prefix: String,
    /// The Kubernetes version clusters report (`/version`).
    pub kubernetes_version: String,
    /// Namespaces the second, restricted token of each cluster may use.
    pub restricted_namespaces: Vec<String>,
    /// Address to listen on.
    pub bind: IpAddr,
    /// How workloads behave in every cluster.
    pub behavior: Behavior,
    /// Faults per cluster at start.
    pub faults: FaultPlan,
}

impl Default for FleetOptions {
    fn default() -> Self {
        Self {
            clusters: 3,
            base_port: None,
            seed: 0,
            name_prefix: "sim".into(),
            kubernetes_version: "v1.32.4".into(),
            restricted_namespaces: vec!["default".into()],
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            behavior: Behavior::default(),
            faults: FaultPlan::default(),
        }
    }
}

impl FleetOptions {
    #[must_use]
    pub fn clusters(mut self, n: usize) -> Self {
        self.clusters = n;
        self
    }

    #[must_use]
    pub fn base_port(mut self, port: Option<u16>) -> Self {
        self.base_port = port;
        self
    }

    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    #[must_use]
    pub fn name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.name_prefix = prefix.into();
        self
    }

    #[must_use]
    pub fn kubernetes_version(mut self, version: impl Into<String>) -> Self {
        self.kubernetes_version = version.into();
        self
    }

    /// Apply a scenario: its behaviour (if given) and its faults.
    #[must_use]
    pub fn scenario(mut self, scenario: Scenario) -> Self {
        if let Some(b) = scenario.behavior {
            self.behavior = b;
        }
        self.faults = scenario.faults;
        self
    }

    #[must_use]
    pub fn faults(mut self, faults: FaultPlan) -> Self {
        self.faults = faults;
        self
    }

    #[must_use]
    pub fn behavior(mut self, behavior: Behavior) -> Self {
        self.behavior = behavior;
        self
    }

    #[must_use]
    pub fn restricted_namespaces(mut self, namespaces: Vec<String>) -> Self {
        self.restricted_namespaces = namespaces;
        self
    }
}

/// Why a fleet could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cluster {cluster}: cannot listen on {addr}: {source}")]
    Bind {
        cluster: String,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("invalid fleet options: {0}")]
    Options(String),
}

/// One running simulated cluster as a client sees it.
#[derive(Debug)]
pub struct ClusterHandle {
    name: String,
    url: String,
    ca_pem: String,
    state: Arc<Cluster>,
}

impl ClusterHandle {
    /// The cluster (and kubeconfig context) name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `https://127.0.0.1:<port>`.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// PEM of the CA that signed the server certificate.
    #[must_use]
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The full-access bearer token.
    #[must_use]
    pub fn admin_token(&self) -> &Token {
        &self.state.credentials.admin
    }

    /// The namespace-restricted token, if configured.
    #[must_use]
    pub fn restricted(&self) -> Option<&RestrictedToken> {
        self.state.credentials.restricted.as_ref()
    }

    /// The token of the simulator's `/_sim/` admin endpoint.
    #[must_use]
    pub fn sim_admin_token(&self) -> &Token {
        &self.state.credentials.sim_admin
    }

    /// Replace the faults this cluster injects (takes effect on the next request).
    ///
    /// # Errors
    /// A message naming the invalid field.
    pub fn set_faults(&self, faults: Faults) -> Result<(), String> {
        faults.validate()?;
        self.state.faults.send_replace(faults);
        Ok(())
    }

    /// Wait until the listener answers as the faults say: refusing connections (after
    /// `refuse: true`) or accepting them again. The listener changes asynchronously.
    ///
    /// # Errors
    /// When it has not changed within `timeout`.
    pub async fn settled(&self, timeout: std::time::Duration) -> Result<(), String> {
        let refuse = self.faults().refuse;
        let addr = self.url().trim_start_matches("https://").to_string();
        let started = std::time::Instant::now();
        while tokio::net::TcpStream::connect(&addr).await.is_ok() == refuse {
            if started.elapsed() > timeout {
                return Err(format!(
                    "cluster {}: the listener did not follow refuse={refuse}",
                    self.name()
                ));
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        Ok(())
    }

    /// The faults in force.
    #[must_use]
    pub fn faults(&self) -> Faults {
        self.state.faults.borrow().clone()
    }

    /// Requests and writes received so far.
    #[must_use]
    pub fn counters(&self) -> CounterSnapshot {
        self.state.counters.snapshot()
    }

    /// The simulator's own view of the cluster. For tests and the simulator's tooling only:
    /// muster itself reaches clusters over HTTPS, never through this.
    #[must_use]
    pub fn state(&self) -> &Arc<Cluster> {
        &self.state
    }
}

/// A running fleet. Dropping it without [`Fleet::shutdown`] leaves the servers running
/// until the runtime stops.
pub struct Fleet {
    clusters: Vec<ClusterHandle>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Fleet {
    /// Start `options.clusters` clusters, each listening before this returns.
    ///
    /// # Errors
    /// [`SimError`] when a port cannot be bound or TLS material cannot be made.
    pub async fn start(options: FleetOptions) -> Result<Self, SimError> {
        if let Some(base) = options.base_port
            && usize::from(base) + options.clusters > usize::from(u16::MAX) + 1
        {
            return Err(SimError::Options(format!(
                "{} clusters from base port {base} would run past port 65535",
                options.clusters
            )));
        }
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut clusters = Vec::with_capacity(options.clusters);
        let mut tasks = Vec::with_capacity(options.clusters);
        let mut rng = fastrand::Rng::new();
        for i in 0..options.clusters {
            let name = format!("{}-{i:03}", options.name_prefix);
            let port = options
                .base_port
                .map_or(0, |b| b + u16::try_from(i).expect("checked against the port range"));
            let addr = SocketAddr::new(options.bind, port);
            let listener = TcpListener::bind(addr).await.map_err(|source| SimError::Bind {
                cluster: name.clone(),
                addr,
                source,
            })?;
            let local = listener.local_addr().map_err(|source| SimError::Bind {
                cluster: name.clone(),
                addr,
                source,
            })?;
            let tls = tls::generate(&name, options.bind)?;
            let credentials = Credentials {
                admin: Token::generate(&mut rng),
                restricted: (!options.restricted_namespaces.is_empty()).then(|| RestrictedToken {
                    user: format!("{name}-restricted"),
                    token: Token::generate(&mut rng),
                    namespaces: options.restricted_namespaces.clone(),
                }),
                sim_admin: Token::generate(&mut rng),
            };
            let seed = options.seed ^ fnv1a(name.as_bytes());
            let state = Cluster::new(crate::cluster::ClusterConfig {
                name: name.clone(),
                kubernetes_version: options.kubernetes_version.clone(),
                address: local.to_string(),
                credentials,
                behavior: options.behavior.clone(),
                seed,
                faults: options.faults.for_cluster(&name),
                ca_pem: tls.ca_pem.clone(),
            });
            let url = match local.ip() {
                IpAddr::V6(ip) => format!("https://[{ip}]:{}", local.port()),
                IpAddr::V4(ip) => format!("https://{ip}:{}", local.port()),
            };
            tasks.push(tokio::spawn(controller::run(state.clone(), shutdown_rx.clone())));
            tasks.push(tokio::spawn(server::serve(
                listener,
                TlsAcceptor::from(tls.server_config),
                state.clone(),
                shutdown_rx.clone(),
            )));
            clusters.push(ClusterHandle {
                name,
                url,
                ca_pem: tls.ca_pem,
                state,
            });
        }
        Ok(Self {
            clusters,
            shutdown,
            tasks,
        })
    }

    /// The running clusters, in name order.
    #[must_use]
    pub fn clusters(&self) -> &[ClusterHandle] {
        &self.clusters
    }

    /// One cluster by name.
    #[must_use]
    pub fn cluster(&self, name: &str) -> Option<&ClusterHandle> {
        self.clusters.iter().find(|c| c.name == name)
    }

    /// A kubeconfig with one context per cluster (named after it), using the admin tokens.
    /// The first cluster is the current context.
    #[must_use]
    pub fn kubeconfig(&self) -> String {
        kubeconfig_yaml(
            self.clusters
                .iter()
                .map(|c| (c.name.clone(), c, c.admin_token().expose().to_string(), None)),
        )
    }

    /// A one-cluster kubeconfig for `cluster` (what Cluster API stores per cluster), or
    /// `None` when the fleet has no such cluster.
    #[must_use]
    pub fn kubeconfig_of(&self, cluster: &str) -> Option<String> {
        let c = self.clusters.iter().find(|c| c.name == cluster)?;
        Some(kubeconfig_yaml(std::iter::once((
            c.name.clone(),
            c,
            c.admin_token().expose().to_string(),
            None,
        ))))
    }

    /// A kubeconfig whose contexts (`<cluster>-restricted`) use the namespace-restricted
    /// tokens, with the first allowed namespace as each context's default.
    #[must_use]
    pub fn restricted_kubeconfig(&self) -> String {
        kubeconfig_yaml(self.clusters.iter().filter_map(|c| {
            c.restricted().map(|r| {
                (
                    format!("{}-restricted", c.name),
                    c,
                    r.token.expose().to_string(),
                    r.namespaces.first().cloned(),
                )
            })
        }))
    }

    /// Write [`Fleet::kubeconfig`] to `path`, readable only by the owner.
    ///
    /// # Errors
    /// I/O errors creating or writing the file.
    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        write_private(path, self.kubeconfig().as_bytes())
    }

    /// Stop every cluster and wait for the listeners to close.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

fn kubeconfig_yaml<'a>(entries: impl Iterator<Item = (String, &'a ClusterHandle, String, Option<String>)>) -> String {
    use base64::Engine as _;
    let mut clusters = Vec::new();
    let mut users = Vec::new();
    let mut contexts = Vec::new();
    let mut first = None;
    for (ctx, c, token, namespace) in entries {
        first.get_or_insert_with(|| ctx.clone());
        clusters.push(json!({"name": ctx, "cluster": {
            "server": c.url,
            "certificate-authority-data": base64::engine::general_purpose::STANDARD.encode(&c.ca_pem),
        }}));
        users.push(json!({"name": ctx, "user": {"token": token}}));
        let mut context = json!({"cluster": ctx, "user": ctx});
        if let Some(ns) = namespace {
            context["namespace"] = json!(ns);
        }
        contexts.push(json!({"name": ctx, "context": context}));
    }
    let doc: Value = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "current-context": first.unwrap_or_default(),
        "clusters": clusters,
        "users": users,
        "contexts": contexts,
    });
    crate::yaml::to_string(&doc)
}

/// Write a file with mode 0600 (it holds credentials).
///
/// # Errors
/// I/O errors creating or writing the file.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}
