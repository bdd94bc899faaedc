//! What every part of the hub shares: the hub cluster's client, the registry of members,
//! the configuration, metrics, the event recorder, the audit log, the cache of FleetClusters,
//! the runs in progress in this process, and the readiness flags the health endpoint reads.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector;
use muster_core::policy::Policy;
use muster_core::report::normalize::SecretKey;
use muster_fleet::audit::AuditLog;
use muster_fleet::fanout::Fanout;
use muster_fleet::registry::{FleetConfig, Member, Registry};
use muster_fleet::settings::Settings;
use tokio_util::sync::CancellationToken;

use crate::crd::FleetCluster;
use crate::metrics::Metrics;

/// How the hub runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The hub's own namespace: its Lease, its labelled kubeconfig Secrets.
    pub namespace: String,
    /// Read Cluster API Secrets in these namespaces (`Some(vec![])`: all; `None`: not at all).
    pub capi_namespaces: Option<Vec<String>>,
    /// This replica's name (the Lease holder identity, the Events' reporting instance).
    pub identity: String,
    /// The Lease's duration; a standby takes over within it after the leader dies.
    pub lease_duration: Duration,
    /// How often members are probed.
    pub probe_interval: Duration,
    /// How often FleetClusters are brought in line with the registry.
    pub sync_interval: Duration,
    /// How often a running command's progress and status are written.
    pub flush_interval: Duration,
    /// Fan-out settings of the commands the hub runs.
    pub settings: Settings,
    /// The policy of namespaces without a FleetPolicy.
    pub default_policy: Policy,
    /// Labels, limits and exec plugins for members.
    pub fleet: FleetConfig,
    /// The audit log (JSON lines).
    pub audit_log: Option<PathBuf>,
    /// The key for Secret fingerprints in reports.
    pub secret_key: Option<SecretKey>,
    /// The MQTT bridge, when configured (run by the leader).
    pub mqtt: Option<crate::broker::MqttConfig>,
}

impl Config {
    /// Defaults for a hub in `namespace`, named `identity`.
    #[must_use]
    pub fn new(namespace: impl Into<String>, identity: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            capi_namespaces: Some(Vec::new()),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            probe_interval: Duration::from_secs(30),
            sync_interval: Duration::from_secs(2),
            flush_interval: Duration::from_millis(500),
            // NB: connections are closed after each probe and command: a hub of 10,000
            // members would otherwise hold 10,000 idle TLS connections (open files, memory);
            // the cost is a handshake per member per probe interval.
            settings: Settings::default(),
            default_policy: Policy::default(),
            fleet: FleetConfig::default(),
            audit_log: None,
            secret_key: None,
            mqtt: None,
        }
    }
}

/// What the health endpoint reads.
#[derive(Debug, Default)]
pub struct State {
    /// Every source has been read once.
    pub registry_loaded: AtomicBool,
    /// This replica holds the Lease.
    pub leading: AtomicBool,
    /// The controllers run (only on the leader).
    pub controllers_running: AtomicBool,
}

impl State {
    /// Ready: the registry is loaded and, on the leader, the controllers run.
    #[must_use]
    pub fn ready(&self) -> bool {
        self.registry_loaded.load(Ordering::Relaxed)
            && (!self.leading.load(Ordering::Relaxed) || self.controllers_running.load(Ordering::Relaxed))
    }
}

/// A run in progress in this process.
#[derive(Debug)]
pub struct RunHandle {
    /// Cancels it as a deleted command is (the cancellation is recorded).
    pub cancel: CancellationToken,
    /// Stops it at once, recording nothing (leadership lost: the next leader resumes it).
    pub abort: tokio::task::AbortHandle,
}

/// Shared by the reconcilers and the HTTP server.
pub struct Context {
    /// The hub cluster.
    pub client: kube::Client,
    /// Every member cluster.
    pub registry: Arc<Registry>,
    pub config: Arc<Config>,
    pub metrics: Arc<Metrics>,
    /// Publishes Events on FleetCommands and FleetClusters.
    pub recorder: Recorder,
    pub audit: Option<Arc<AuditLog>>,
    /// The FleetClusters (their labels count for selection; cordoned ones are left out).
    pub clusters: reflector::Store<FleetCluster>,
    /// Runs in progress in this process, by FleetCommand uid.
    pub runs: DashMap<String, RunHandle>,
    /// Rollouts driven by this process, by FleetRollout uid.
    pub rollouts: DashMap<String, RunHandle>,
    /// The fan-out engine whose discovery cache every run shares.
    pub engine: Fanout,
    pub state: Arc<State>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("registry", &self.registry.len())
            .field("runs", &self.runs.len())
            .finish_non_exhaustive()
    }
}

impl Context {
    #[must_use]
    pub fn new(
        client: kube::Client,
        registry: Arc<Registry>,
        config: Config,
        clusters: reflector::Store<FleetCluster>,
        audit: Option<Arc<AuditLog>>,
    ) -> Self {
        let reporter = Reporter {
            controller: "muster-hub".into(),
            instance: Some(config.identity.clone()),
        };
        let engine = Fanout::new(registry.clone(), config.default_policy.clone(), config.settings.clone());
        Self {
            engine,
            recorder: Recorder::new(client.clone(), reporter),
            client,
            registry,
            config: Arc::new(config),
            metrics: Arc::new(Metrics::default()),
            audit,
            clusters,
            runs: DashMap::new(),
            rollouts: DashMap::new(),
            state: Arc::new(State::default()),
        }
    }

    /// A member's labels as selection sees them: its source's, then its FleetCluster's own,
    /// and whether it is cordoned.
    #[must_use]
    pub fn overlay(&self, m: &Member) -> (BTreeMap<String, String>, bool) {
        let mut labels = m.labels.clone();
        let mut cordoned = false;
        if let Some(fc) = self
            .clusters
            .get(&reflector::ObjectRef::new(&crate::crd::cluster::fleet_cluster_name(
                &m.name,
            )))
        {
            for (k, v) in fc.metadata.labels.clone().unwrap_or_default() {
                if !k.starts_with("muster.dev/") {
                    labels.insert(k, v);
                }
            }
            cordoned = fc.spec.cordoned;
        }
        (labels, cordoned)
    }
}
