//! `muster serve`: the hub process. It checks that the CRDs are installed, loads the
//! registry from the hub's kubeconfig Secrets (Cluster API's and muster's labelled ones,
//! hot-reloaded), serves health and metrics, and campaigns for leadership; the leader runs
//! the controllers. Stops on `shutdown`, releasing the Lease.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt as _;
use kube::api::{Api, ListParams};
use kube::runtime::{WatchStreamExt as _, reflector, watcher};
use muster_fleet::audit::AuditLog;
use muster_fleet::registry::Registry;
use muster_fleet::registry::capi::ClusterApiSource;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::context::{Config, Context};
use crate::crd::{FleetCluster, FleetCommand};

/// Why the hub could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("the hub's CRDs are not installed (kubectl apply --server-side -f manifests/crds/): {0}")]
    CrdsMissing(#[source] kube::Error),
    #[error("reaching the hub cluster: {0}")]
    Hub(#[source] kube::Error),
    #[error("--metrics-addr {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Audit(#[from] muster_fleet::audit::AuditError),
    #[error("leader election: {0}")]
    Lease(#[from] kube_lease_manager::LeaseManagerError),
}

impl ServeError {
    /// A stable short label.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Self::CrdsMissing(_) => "CrdsMissing",
            Self::Hub(_) => "HubUnreachable",
            Self::Bind { .. } => "BindFailed",
            Self::Audit(_) => "AuditLogFailed",
            Self::Lease(_) => "LeaseFailed",
        }
    }
}

/// A started hub: its context and the address its HTTP endpoint listens on.
pub struct Hub {
    pub ctx: Arc<Context>,
    pub http_addr: SocketAddr,
}

/// Start the hub's parts that every replica runs (registry, FleetCluster cache, HTTP);
/// [`Hub::run`] then campaigns for leadership.
///
/// # Errors
/// [`ServeError`] naming what is missing.
pub async fn start(
    client: kube::Client,
    config: Config,
    http_addr: SocketAddr,
    shutdown: &CancellationToken,
) -> Result<Hub, ServeError> {
    // NB: every kind the controllers watch; a hub upgraded without its new CRDs says so.
    let probes = [
        Api::<FleetCommand>::all(client.clone())
            .list(&ListParams::default().limit(1))
            .await
            .map(|_| ()),
        Api::<crate::crd::FleetRollout>::all(client.clone())
            .list(&ListParams::default().limit(1))
            .await
            .map(|_| ()),
    ];
    for probe in probes {
        match probe {
            Ok(()) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => return Err(ServeError::CrdsMissing(kube::Error::Api(e))),
            Err(e) => return Err(ServeError::Hub(e)),
        }
    }
    let audit = match &config.audit_log {
        Some(p) => Some(Arc::new(AuditLog::open(p, format!("muster-hub/{}", config.identity))?)),
        None => None,
    };
    let registry = Arc::new(Registry::with_config(&config.fleet));
    let (reader, writer) = reflector::store::<FleetCluster>();
    let cache = reflector(
        writer,
        watcher(Api::<FleetCluster>::all(client.clone()), watcher::Config::default()),
    )
    .default_backoff()
    .touched_objects()
    .for_each(|_| futures::future::ready(()));
    let stop = shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = stop.cancelled() => {}
            () = cache => {}
        }
    });
    let fleet = Arc::new(config.fleet.clone());
    let mut sources = vec![ClusterApiSource::labelled(
        client.clone(),
        config.namespace.clone(),
        fleet.clone(),
    )];
    if let Some(ns) = &config.capi_namespaces {
        sources.push(ClusterApiSource::new(client.clone(), ns.clone(), fleet));
    }
    let ctx = Arc::new(Context::new(client, registry.clone(), config, reader, audit));
    let unloaded = Arc::new(AtomicUsize::new(sources.len()));
    for source in sources {
        let (state, unloaded, registry, stop) =
            (ctx.state.clone(), unloaded.clone(), registry.clone(), shutdown.clone());
        tokio::spawn(async move {
            let counted = registry.clone();
            let loaded = move || {
                if unloaded.fetch_sub(1, Ordering::AcqRel) == 1 {
                    state.registry_loaded.store(true, Ordering::Relaxed);
                    info!(members = counted.len(), "registry loaded");
                }
            };
            tokio::select! {
                () = stop.cancelled() => {}
                () = source.run_notifying(registry.clone(), loaded) => {}
            }
        });
    }
    let listener = crate::http::bind(http_addr).await.map_err(|source| ServeError::Bind {
        addr: http_addr,
        source,
    })?;
    let bound = listener.local_addr().unwrap_or(http_addr);
    tokio::spawn(crate::http::serve(
        listener,
        ctx.state.clone(),
        ctx.metrics.clone(),
        shutdown.clone(),
    ));
    info!(%bound, identity = %ctx.config.identity, namespace = %ctx.config.namespace, "hub started");
    Ok(Hub { ctx, http_addr: bound })
}

impl Hub {
    /// Wait for the registry, then campaign for leadership and lead while holding it, until
    /// `shutdown`.
    ///
    /// # Errors
    /// The Lease could not be set up.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), ServeError> {
        // NB: a replica that cannot read the sources must not lead (it would resume runs
        // against an empty registry).
        while !self.ctx.state.registry_loaded.load(Ordering::Relaxed) {
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(std::time::Duration::from_millis(50)) => {}
            }
        }
        crate::leader::run(self.ctx, shutdown).await?;
        Ok(())
    }
}
