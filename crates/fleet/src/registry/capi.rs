//! The Cluster API source: Secrets of type `cluster.x-k8s.io/secret` named
//! `<cluster>-kubeconfig` with label `cluster.x-k8s.io/cluster-name`, in a hub cluster, each
//! holding a kubeconfig in data key `value`. Member name `<namespace>/<cluster>`; labels from
//! the matching `cluster.x-k8s.io` Cluster when it can be read, else from the Secret.
//!
//! The same machinery reads a hub's own kubeconfig Secrets (labelled `muster.dev/kubeconfig`,
//! kubeconfig in data key `kubeconfig` or `value`; member name the label's value, else the
//! Secret's name): [`ClusterApiSource::labelled`]. Both kinds are untrusted: inline
//! credentials only.
//!
//! [`ClusterApiSource::sync`] lists once (the CLI); [`ClusterApiSource::run`] keeps the
//! registry current: an updated Secret (a rotated credential) replaces the member atomically
//! (calls in flight keep the old one), a deleted Secret removes it, and a watch that breaks
//! relists (kube's watcher handles 410 Gone) and drops members that vanished meanwhile.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::{WatchStreamExt as _, watcher};
use tracing::{info, warn};

use super::{FleetConfig, Member, Registry, Source, kubeconfig};

pub const SECRET_TYPE: &str = "cluster.x-k8s.io/secret";
pub const CLUSTER_NAME_LABEL: &str = "cluster.x-k8s.io/cluster-name";
/// Cluster API versions tried, newest first, when reading a Cluster's labels.
const CLUSTER_VERSIONS: &[&str] = &["v1beta2", "v1beta1"];

/// The label that makes a hub Secret a kubeconfig source (its value names the member).
pub const KUBECONFIG_LABEL: &str = "muster.dev/kubeconfig";

/// Which Secrets a source reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    ClusterApi,
    Labelled,
}

/// Reads kubeconfig Secrets from a hub cluster: Cluster API's, or muster's labelled ones.
pub struct ClusterApiSource {
    hub: kube::Client,
    /// Namespaces to read; empty means all.
    namespaces: Vec<String>,
    fleet: Arc<FleetConfig>,
    kind: Kind,
}

impl ClusterApiSource {
    /// Cluster API `<cluster>-kubeconfig` Secrets.
    #[must_use]
    pub fn new(hub: kube::Client, namespaces: Vec<String>, fleet: Arc<FleetConfig>) -> Self {
        Self {
            hub,
            namespaces,
            fleet,
            kind: Kind::ClusterApi,
        }
    }

    /// Secrets labelled `muster.dev/kubeconfig` in `namespace`.
    #[must_use]
    pub fn labelled(hub: kube::Client, namespace: String, fleet: Arc<FleetConfig>) -> Self {
        Self {
            hub,
            namespaces: vec![namespace],
            fleet,
            kind: Kind::Labelled,
        }
    }

    fn label_selector(&self) -> &'static str {
        match self.kind {
            Kind::ClusterApi => CLUSTER_NAME_LABEL,
            Kind::Labelled => KUBECONFIG_LABEL,
        }
    }

    /// Whether a member came from this kind of source.
    fn owns(&self, m: &Member) -> bool {
        matches!(
            (&m.source, self.kind),
            (Source::ClusterApi { .. }, Kind::ClusterApi) | (Source::HubSecret { .. }, Kind::Labelled)
        )
    }

    /// The member name a Secret gives (for a deleted one too).
    fn member_name(&self, secret: &Secret) -> Option<String> {
        let labels = secret.metadata.labels.as_ref()?;
        let ns = secret.metadata.namespace.clone().unwrap_or_default();
        match self.kind {
            Kind::ClusterApi => labels.get(CLUSTER_NAME_LABEL).map(|c| format!("{ns}/{c}")),
            Kind::Labelled => labels
                .get(KUBECONFIG_LABEL)
                .filter(|v| !v.is_empty())
                .cloned()
                .or_else(|| secret.metadata.name.clone()),
        }
    }

    /// A labelled hub Secret's member.
    fn labelled_member(&self, secret: &Secret) -> Option<Member> {
        let name = self.member_name(secret)?;
        let namespace = secret.metadata.namespace.clone().unwrap_or_default();
        let secret_name = secret.metadata.name.clone()?;
        let mut labels = self.fleet.labels_for(&name);
        labels.extend(
            secret
                .metadata
                .labels
                .clone()
                .unwrap_or_default()
                .into_iter()
                .filter(|(k, _)| k != KUBECONFIG_LABEL),
        );
        let secret_ref = format!("{namespace}/{secret_name}");
        let text = secret
            .data
            .as_ref()
            .and_then(|d| d.get("kubeconfig").or_else(|| d.get("value")))
            .map(|v| String::from_utf8_lossy(&v.0).into_owned())
            .unwrap_or_default();
        let source = Source::HubSecret {
            namespace,
            secret: secret_name,
        };
        let mut m = kubeconfig::member_from_secret(
            name,
            source,
            labels,
            &secret_ref,
            if text.trim().is_empty() { "{}" } else { &text },
            &self.fleet,
        );
        if text.trim().is_empty() {
            m.invalid = Some(super::Invalid {
                reason: format!("Secret {secret_ref} has no kubeconfig in data key \"kubeconfig\""),
            });
        }
        Some(m)
    }

    fn scopes(&self) -> Vec<Option<String>> {
        if self.namespaces.is_empty() {
            vec![None]
        } else {
            self.namespaces.iter().cloned().map(Some).collect()
        }
    }

    fn api(&self, scope: Option<&str>) -> Api<Secret> {
        match scope {
            Some(ns) => Api::namespaced(self.hub.clone(), ns),
            None => Api::all(self.hub.clone()),
        }
    }

    fn fields(&self) -> Option<String> {
        (self.kind == Kind::ClusterApi).then(|| format!("type={SECRET_TYPE}"))
    }

    /// The labels of the Cluster object, if it can be read.
    async fn cluster_labels(&self, namespace: &str, cluster: &str) -> Option<BTreeMap<String, String>> {
        for v in CLUSTER_VERSIONS {
            let ar =
                ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("cluster.x-k8s.io", v, "Cluster"), "clusters");
            let api: Api<DynamicObject> = Api::namespaced_with(self.hub.clone(), namespace, &ar);
            if let Ok(c) = api.get(cluster).await {
                return Some(c.metadata.labels.unwrap_or_default());
            }
        }
        None
    }

    /// The member a Secret defines, or `None` when it is not a `<cluster>-kubeconfig` Secret.
    pub async fn member_for(&self, secret: &Secret) -> Option<Member> {
        if self.kind == Kind::Labelled {
            return self.labelled_member(secret);
        }
        let namespace = secret.metadata.namespace.clone().unwrap_or_default();
        let secret_name = secret.metadata.name.clone()?;
        let cluster = secret.metadata.labels.as_ref()?.get(CLUSTER_NAME_LABEL)?.clone();
        if secret_name != format!("{cluster}-kubeconfig") {
            return None;
        }
        let name = format!("{namespace}/{cluster}");
        let mut labels = self.fleet.labels_for(&name);
        match self.cluster_labels(&namespace, &cluster).await {
            Some(l) => labels.extend(l),
            None => labels.extend(
                secret
                    .metadata
                    .labels
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|(k, _)| !k.starts_with("cluster.x-k8s.io/")),
            ),
        }
        let source = Source::ClusterApi {
            namespace: namespace.clone(),
            secret: secret_name.clone(),
        };
        let secret_ref = format!("{namespace}/{secret_name}");
        let text = secret
            .data
            .as_ref()
            .and_then(|d| d.get("value"))
            .map(|v| String::from_utf8_lossy(&v.0).into_owned())
            .unwrap_or_default();
        if text.trim().is_empty() {
            let mut m = kubeconfig::member_from_secret(name, source, labels, &secret_ref, "{}", &self.fleet);
            m.invalid = Some(super::Invalid {
                reason: format!("Secret {secret_ref} has no kubeconfig in data key \"value\""),
            });
            return Some(m);
        }
        Some(kubeconfig::member_from_secret(
            name,
            source,
            labels,
            &secret_ref,
            &text,
            &self.fleet,
        ))
    }

    /// List the Secrets once and register their members; returns how many.
    ///
    /// # Errors
    /// The hub's error when a list fails.
    pub async fn sync(&self, registry: &Registry) -> Result<usize, kube::Error> {
        let mut n = 0;
        for scope in self.scopes() {
            let mut lp = ListParams::default().labels(self.label_selector());
            if let Some(f) = self.fields() {
                lp = lp.fields(&f);
            }
            for secret in self.api(scope.as_deref()).list(&lp).await?.items {
                if let Some(m) = self.member_for(&secret).await {
                    registry.insert(m);
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    /// Watch the Secrets and keep `registry` current until the task is dropped.
    pub async fn run(self, registry: Arc<Registry>) {
        self.run_notifying(registry, || {}).await;
    }

    /// [`ClusterApiSource::run`], calling `loaded` once every scope has been listed the
    /// first time (the hub is not ready before).
    pub async fn run_notifying(self, registry: Arc<Registry>, loaded: impl FnOnce() + Send) {
        let mut loaded = Some(loaded);
        let this = Arc::new(self);
        let mut unlisted: HashSet<Option<String>> = this.scopes().into_iter().collect();
        let streams = this.scopes().into_iter().map(|scope| {
            let mut cfg = watcher::Config::default().labels(this.label_selector());
            if let Some(f) = this.fields() {
                cfg = cfg.fields(&f);
            }
            watcher(this.api(scope.as_deref()), cfg)
                .default_backoff()
                .map(move |ev| (scope.clone(), ev))
        });
        let mut events = futures::stream::select_all(streams.map(futures::StreamExt::boxed));
        // Members seen since the current (re)list began, per scope.
        let mut seen: BTreeMap<Option<String>, HashSet<String>> = BTreeMap::new();
        while let Some((scope, event)) = events.next().await {
            match event {
                Ok(watcher::Event::Init) => {
                    seen.insert(scope, HashSet::new());
                }
                Ok(watcher::Event::InitApply(s)) => {
                    if let Some(m) = this.member_for(&s).await {
                        seen.entry(scope).or_default().insert(m.name.clone());
                        registry.insert(m);
                    }
                }
                Ok(watcher::Event::InitDone) => {
                    let keep = seen.remove(&scope).unwrap_or_default();
                    for m in registry.members() {
                        let in_scope = match &m.source {
                            Source::ClusterApi { namespace, .. } | Source::HubSecret { namespace, .. } => {
                                scope.as_ref().is_none_or(|s| s == namespace)
                            }
                            Source::Kubeconfig { .. } => false,
                        };
                        if this.owns(&m) && in_scope && !keep.contains(&m.name) {
                            info!(cluster = %m.name, "kubeconfig Secret is gone; member removed");
                            registry.remove(&m.name);
                        }
                    }
                    unlisted.remove(&scope);
                    if unlisted.is_empty()
                        && let Some(f) = loaded.take()
                    {
                        f();
                    }
                }
                Ok(watcher::Event::Apply(s)) => {
                    if let Some(m) = this.member_for(&s).await {
                        info!(cluster = %m.name, "kubeconfig Secret member added or updated");
                        registry.insert(m);
                    }
                }
                Ok(watcher::Event::Delete(s)) => {
                    if let Some(name) = this.member_name(&s)
                        && registry.get(&name).is_some_and(|m| this.owns(&m))
                    {
                        info!(cluster = %name, "kubeconfig Secret deleted; member removed");
                        registry.remove(&name);
                    }
                }
                Err(error) => warn!(%error, "watching kubeconfig Secrets failed; retrying"),
            }
        }
    }
}
