//! A simulated hub: sim-000 of a simulated fleet with the hub's CRDs, its namespace
//! `muster-system` holding a labelled kubeconfig Secret per member (sim-001, sim-002, ...),
//! and a hub run in-process (`muster serve`'s parts) when a test wants one.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, PostParams};
use muster_hub::context::{Config, Context};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::TestFleet;

/// The hub's namespace in these tests.
pub const HUB_NAMESPACE: &str = "muster-system";

/// A simulated fleet whose first cluster is a hub.
pub struct SimHub {
    pub fleet: TestFleet,
    /// A client of the hub (sim-000).
    pub client: kube::Client,
    /// A kubeconfig whose current context is the hub.
    pub kubeconfig: PathBuf,
    /// The members' names (their contexts).
    pub members: Vec<String>,
    /// The fleet's whole kubeconfig.
    parsed: Value,
}

/// A fleet's kubeconfig, parsed (a 10,000-cluster one is larger than YAML's usual budget).
#[must_use]
pub fn parse_kubeconfig(text: &str) -> Value {
    muster_core::yaml::parse_with(
        text,
        muster_core::yaml::Limits::default().max_bytes(text.len().max(1 << 20) * 2),
    )
    .expect("kubeconfig parses")
}

/// A one-cluster kubeconfig for `context` of the fleet's (what Cluster API stores per
/// cluster): that context, its cluster and its user only.
#[must_use]
pub fn kubeconfig_of(fleet: &Value, context: &str) -> String {
    let named = |list: &str, name: &str| -> Vec<Value> {
        fleet[list]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["name"] == name)
            .cloned()
            .collect()
    };
    let ctx = named("contexts", context);
    let cluster = ctx
        .first()
        .and_then(|c| c["context"]["cluster"].as_str())
        .unwrap_or_default();
    let user = ctx
        .first()
        .and_then(|c| c["context"]["user"].as_str())
        .unwrap_or_default();
    let v = json!({"apiVersion": "v1", "kind": "Config", "current-context": context,
        "contexts": ctx, "clusters": named("clusters", cluster), "users": named("users", user)});
    serde_saphyr::to_string(&v).expect("kubeconfig serialises")
}

/// How members are registered with a simulated hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// Secrets labelled `muster.dev/kubeconfig` in the hub's namespace (member `sim-001`).
    Labelled,
    /// Cluster API `<cluster>-kubeconfig` Secrets in namespace `capi` (member
    /// `capi/sim-001`, label `env=prod`).
    ClusterApi,
}

/// Make a cluster a hub of `members` (contexts of the fleet's kubeconfig `parsed`): the
/// CRDs, the hub's namespace, and a kubeconfig Secret per member, registered as `how` says.
///
/// # Panics
/// When the cluster refuses the setup.
pub async fn prepare_hub(client: &kube::Client, parsed: &Value, members: &[String], how: Registration) {
    muster_hub::install::apply_crds(client, Duration::from_secs(30))
        .await
        .expect("CRDs installed");
    create_namespace(client, HUB_NAMESPACE).await;
    let namespace = match how {
        Registration::Labelled => HUB_NAMESPACE,
        Registration::ClusterApi => "capi",
    };
    create_namespace(client, namespace).await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    // NB: a few at a time: 10,000 members register in seconds rather than a minute.
    futures::stream::iter(members.iter().map(|m| {
        let kubeconfig = kubeconfig_of(parsed, m);
        let s = match how {
            Registration::Labelled => muster_hub::install::kubeconfig_secret(HUB_NAMESPACE, m, &kubeconfig),
            Registration::ClusterApi => crate::capi::secret(m, Some(&kubeconfig), &[("env", "prod")]),
        };
        let secrets = secrets.clone();
        async move { secrets.create(&PostParams::default(), &s).await.expect("member Secret") }
    }))
    .buffer_unordered(16)
    .collect::<Vec<_>>()
    .await;
}

/// Wait until the hub has a Healthy FleetCluster for each of `n` members.
///
/// # Panics
/// When that takes more than `within`.
pub async fn all_healthy(client: &kube::Client, n: usize, within: Duration) {
    let fcs: Api<muster_hub::crd::FleetCluster> = Api::all(client.clone());
    crate::eventually(&format!("{n} Healthy FleetClusters"), within, || {
        let fcs = fcs.clone();
        async move {
            let l = fcs.list(&kube::api::ListParams::default()).await.ok()?;
            (l.items.len() == n
                && l.items
                    .iter()
                    .all(|f| f.status.as_ref().is_some_and(|s| s.health == "Healthy")))
            .then_some(())
        }
    })
    .await;
}

impl SimHub {
    /// Wait until every member has a Healthy FleetCluster.
    pub async fn all_healthy(&self) {
        all_healthy(&self.client, self.members.len(), Duration::from_secs(60)).await;
    }

    /// A hub with `members` member clusters registered through labelled Secrets.
    ///
    /// # Panics
    /// When the simulator refuses the setup.
    pub async fn start(members: usize) -> Self {
        Self::start_with(members, Registration::Labelled).await
    }

    /// A hub with `members` member clusters registered as `how` says.
    ///
    /// # Panics
    /// When the simulator refuses the setup.
    pub async fn start_with(members: usize, how: Registration) -> Self {
        let fleet = tokio::task::spawn_blocking(move || TestFleet::start(members + 1))
            .await
            .expect("fleet starts");
        let text = std::fs::read_to_string(&fleet.kubeconfig).expect("kubeconfig");
        let parsed = parse_kubeconfig(&text);
        let kubeconfig = fleet.dir.path().join("hub.kubeconfig");
        let hub_kubeconfig = kubeconfig_of(&parsed, "sim-000");
        std::fs::write(&kubeconfig, &hub_kubeconfig).expect("write hub kubeconfig");
        let client = crate::kube_client_from(&hub_kubeconfig, "sim-000", true).await;
        let names: Vec<String> = fleet.contexts.iter().skip(1).cloned().collect();
        prepare_hub(&client, &parsed, &names, how).await;
        Self {
            fleet,
            client,
            kubeconfig,
            members: names,
            parsed,
        }
    }

    /// The simulated state of a member (for its counters and objects).
    #[must_use]
    pub fn member(&self, name: &str) -> &Arc<muster_sim::Cluster> {
        let i = self.fleet.contexts.iter().position(|c| c == name).expect("a member");
        &self.fleet.clusters[i]
    }

    /// Server-side applies (PATCHes the API carried out) per member, in member order, of
    /// the objects whose path ends with `path_end` (`/namespaces/shop/deployments/web`).
    #[must_use]
    pub fn applies(&self, path_end: &str) -> Vec<u64> {
        self.members
            .iter()
            .map(|m| {
                self.member(m)
                    .counters
                    .snapshot()
                    .applied_by_target
                    .iter()
                    .filter(|(k, _)| k.starts_with("PATCH ") && k.ends_with(path_end))
                    .map(|(_, n)| *n)
                    .sum()
            })
            .collect()
    }

    /// A client of a member.
    pub async fn member_client(&self, name: &str) -> kube::Client {
        crate::kube_client_from(&kubeconfig_of(&self.parsed, name), name, true).await
    }

    /// A member's own one-cluster kubeconfig.
    #[must_use]
    pub fn member_kubeconfig(&self, name: &str) -> String {
        kubeconfig_of(&self.parsed, name)
    }

    /// Hub settings for tests: quick syncs and flushes, a short lease.
    #[must_use]
    pub fn config(identity: &str) -> Config {
        let mut c = Config::new(HUB_NAMESPACE, identity);
        c.capi_namespaces = None;
        c.sync_interval = Duration::from_millis(200);
        c.flush_interval = Duration::from_millis(100);
        c.lease_duration = Duration::from_secs(3);
        c.probe_interval = Duration::from_secs(2);
        c
    }

    /// Run a hub in this process until the returned token is cancelled.
    ///
    /// # Panics
    /// When the hub does not start.
    pub async fn serve(&self, config: Config) -> RunningHub {
        let stop = CancellationToken::new();
        let hub = muster_hub::serve::start(self.client.clone(), config, "127.0.0.1:0".parse().expect("addr"), &stop)
            .await
            .expect("hub starts");
        let ctx = hub.ctx.clone();
        let http = hub.http_addr;
        let task = tokio::spawn(hub.run(stop.clone()));
        RunningHub { ctx, http, stop, task }
    }
}

/// A hub running in the test's process.
pub struct RunningHub {
    pub ctx: Arc<Context>,
    pub http: std::net::SocketAddr,
    pub stop: CancellationToken,
    pub task: tokio::task::JoinHandle<Result<(), muster_hub::serve::ServeError>>,
}

impl RunningHub {
    /// Stop it (releasing the Lease) and wait until it has.
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
    }
}

/// Create a namespace (already there is fine).
pub async fn create_namespace(client: &kube::Client, name: &str) {
    let ns: Api<Namespace> = Api::all(client.clone());
    let body: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).expect("a namespace");
    match ns.create(&PostParams::default(), &body).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => panic!("namespace {name}: {e}"),
    }
}
