//! A simulated hub: sim-000 of a simulated fleet with the hub's CRDs, its namespace
//! `muster-system` holding a labelled kubeconfig Secret per member (sim-001, sim-002, ...),
//! and a hub run in-process (`muster serve`'s parts) when a test wants one.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

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
}

/// The fleet's kubeconfig with `context` current.
#[must_use]
pub fn kubeconfig_with_current(text: &str, context: &str) -> String {
    let mut v: Value = serde_saphyr::from_str(text).expect("kubeconfig parses");
    v["current-context"] = json!(context);
    serde_saphyr::to_string(&v).expect("kubeconfig serialises")
}

impl SimHub {
    /// A hub with `members` member clusters registered through labelled Secrets.
    ///
    /// # Panics
    /// When the simulator refuses the setup.
    pub async fn start(members: usize) -> Self {
        let fleet = tokio::task::spawn_blocking(move || TestFleet::start(members + 1))
            .await
            .expect("fleet starts");
        let text = std::fs::read_to_string(&fleet.kubeconfig).expect("kubeconfig");
        let kubeconfig = fleet.dir.path().join("hub.kubeconfig");
        std::fs::write(&kubeconfig, kubeconfig_with_current(&text, "sim-000")).expect("write hub kubeconfig");
        let client = crate::kube_client_from(&text, "sim-000", true).await;
        muster_hub::install::apply_crds(&client, Duration::from_secs(20))
            .await
            .expect("CRDs installed");
        create_namespace(&client, HUB_NAMESPACE).await;
        let names: Vec<String> = fleet.contexts.iter().skip(1).cloned().collect();
        let secrets: Api<Secret> = Api::namespaced(client.clone(), HUB_NAMESPACE);
        for m in &names {
            let s = muster_hub::install::kubeconfig_secret(HUB_NAMESPACE, m, &kubeconfig_with_current(&text, m));
            secrets.create(&PostParams::default(), &s).await.expect("member Secret");
        }
        Self {
            fleet,
            client,
            kubeconfig,
            members: names,
        }
    }

    /// The simulated state of a member (for its counters and objects).
    #[must_use]
    pub fn member(&self, name: &str) -> &Arc<muster_sim::Cluster> {
        let i = self.fleet.contexts.iter().position(|c| c == name).expect("a member");
        &self.fleet.clusters[i]
    }

    /// A client of a member.
    pub async fn member_client(&self, name: &str) -> kube::Client {
        let text = std::fs::read_to_string(&self.fleet.kubeconfig).expect("kubeconfig");
        crate::kube_client_from(&text, name, true).await
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
