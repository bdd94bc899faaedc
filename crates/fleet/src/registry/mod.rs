//! The cluster registry: every member cluster muster knows, with its labels, where it came
//! from, its lazily built `kube::Client` and its health.
//!
//! Members come from sources (`kubeconfig.rs` now; Cluster API Secrets and the fleet file
//! next). A registry of 10,000 members opens no connection until a member is used: each
//! member keeps only its slice of the kubeconfig and builds its client on first use.

pub mod capi;
pub mod exec_plugin;
pub mod fleet;
pub mod health;
pub mod kubeconfig;
pub mod limits;
pub mod select;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use dashmap::DashMap;
use serde::Serialize;

pub use fleet::FleetConfig;
pub use health::{Health, HealthState};
pub use limits::{LimitSpec, Limits, Permit};
pub use select::{Selection, SelectionError};

/// Registry key: the kubeconfig context name, or `<namespace>/<cluster>` for Cluster API.
pub type ClusterName = String;

/// Where a member was defined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Source {
    /// A context of a kubeconfig file.
    Kubeconfig { path: String, context: String },
    /// A Cluster API `<cluster>-kubeconfig` Secret in the hub cluster.
    ClusterApi { namespace: String, secret: String },
    /// A Secret labelled `muster.dev/kubeconfig` in the hub's namespace.
    HubSecret { namespace: String, secret: String },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Kubeconfig { path, .. } => write!(f, "kubeconfig:{path}"),
            Self::ClusterApi { namespace, secret } => write!(f, "capi:{namespace}/{secret}"),
            Self::HubSecret { namespace, secret } => write!(f, "secret:{namespace}/{secret}"),
        }
    }
}

/// Why a member cannot be used (it is listed, marked Invalid, and selecting it fails).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invalid {
    pub reason: String,
}

/// How to build a member's client: its own one-context kubeconfig. `Debug` redacts it.
#[derive(Clone)]
pub struct Connection {
    kubeconfig: Arc<kube::config::Kubeconfig>,
    context: String,
    /// An allowed exec plugin muster runs itself.
    exec: Option<exec_plugin::Plugin>,
    /// A token file muster reads itself (trimmed) whenever it builds the client.
    token_file: Option<std::path::PathBuf>,
}

/// The largest token file muster reads (a token is a few KiB at most).
const MAX_TOKEN_FILE: usize = 64 * 1024;

/// How long a client built from a token file is used before the file is read again (kube
/// and client-go re-read it every minute: projected tokens rotate).
const TOKEN_FILE_REFRESH: i64 = 60;

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("context", &self.context)
            .field("kubeconfig", &"<redacted>")
            .finish()
    }
}

/// One cluster in the registry.
pub struct Member {
    pub name: ClusterName,
    pub labels: BTreeMap<String, String>,
    pub source: Source,
    /// The API server URL (`server:` of the kubeconfig cluster).
    pub server: String,
    /// The context's default namespace, if any.
    pub namespace: Option<muster_core::name::Namespace>,
    /// `insecure-skip-tls-verify` is set (allowed, but shown as a warning).
    pub insecure: bool,
    /// Set when the member's definition is unusable.
    pub invalid: Option<Invalid>,
    /// When the client certificate expires (RFC 3339), if the member uses one.
    pub cert_expiry: Option<String>,
    pub health: Mutex<Health>,
    /// Rate limit and in-flight cap every request to this member goes through.
    pub limits: Limits,
    connection: Option<Connection>,
    /// The client, built on first use, with the expiry of an exec-plugin credential.
    client: tokio::sync::Mutex<Option<(kube::Client, Option<jiff::Timestamp>)>>,
    built: std::sync::atomic::AtomicBool,
}

/// Why a member's client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    #[error("cluster {cluster}: {reason}")]
    Invalid { cluster: String, reason: String },
    #[error("cluster {cluster}: building the client: {message}")]
    Client { cluster: String, message: String },
}

impl MemberError {
    /// A stable short label for metrics and results.
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "InvalidMember",
            Self::Client { .. } => "ClientBuildFailed",
        }
    }
}

impl fmt::Debug for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Member")
            .field("name", &self.name)
            .field("labels", &self.labels)
            .field("source", &self.source)
            .field("server", &self.server)
            .field("invalid", &self.invalid)
            .field("health", &self.health())
            .field("connection", &self.connection)
            .field("client_built", &self.client_built())
            .finish_non_exhaustive()
    }
}

impl Member {
    /// The member's client, built on first use and reused after.
    ///
    /// # Errors
    /// [`MemberError`] for an invalid member or a configuration kube rejects. The message
    /// never contains credentials.
    pub async fn client(&self) -> Result<kube::Client, MemberError> {
        self.client_by(None).await
    }

    /// Drop the cached client, and with it the member's idle connections (once calls in
    /// flight, which hold clones, finish). The next call builds a new one. A fan-out over
    /// thousands of members releases each when its part is done, so open connections are
    /// bounded by the concurrency, not by the fleet size.
    pub async fn release(&self) {
        self.client.lock().await.take();
    }

    /// [`Member::client`], with an exec plugin's run bounded by `deadline` as well as by its
    /// own timeout.
    ///
    /// # Errors
    /// As [`Member::client`].
    pub async fn client_by(&self, deadline: Option<tokio::time::Instant>) -> Result<kube::Client, MemberError> {
        if let Some(inv) = &self.invalid {
            return Err(MemberError::Invalid {
                cluster: self.name.clone(),
                reason: inv.reason.clone(),
            });
        }
        let conn = self.connection.as_ref().ok_or_else(|| MemberError::Invalid {
            cluster: self.name.clone(),
            reason: "no connection details".into(),
        })?;
        let mut cached = self.client.lock().await;
        // NB: a credential from an exec plugin is refreshed a little before it expires.
        let fresh =
            |exp: &Option<jiff::Timestamp>| exp.is_none_or(|e| e.as_second() > jiff::Timestamp::now().as_second() + 30);
        if let Some((client, expiry)) = cached.as_ref()
            && fresh(expiry)
        {
            return Ok(client.clone());
        }
        let fail = |message: String| MemberError::Client {
            cluster: self.name.clone(),
            message: crate::redact::words(&message),
        };
        let mut kubeconfig = (*conn.kubeconfig).clone();
        let mut expiry = None;
        if let Some(plugin) = &conn.exec {
            let timeout = match deadline {
                Some(d) => plugin
                    .timeout
                    .min(d.saturating_duration_since(tokio::time::Instant::now())),
                None => plugin.timeout,
            };
            let credential = exec_plugin::run(plugin, timeout).await.map_err(fail)?;
            expiry = credential.expiration;
            if let Some(user) = kubeconfig.auth_infos.first_mut() {
                user.auth_info =
                    Some(serde_json::from_value(exec_plugin::user_with(&credential)).map_err(|e| fail(e.to_string()))?);
            }
        }
        if let Some(path) = &conn.token_file {
            let text = crate::files::read_text(path, MAX_TOKEN_FILE).map_err(|e| fail(format!("tokenFile {e}")))?;
            let token = text.trim();
            if token.is_empty() {
                return Err(fail(format!("tokenFile {} is empty", path.display())));
            }
            if let Some(auth) = kubeconfig.auth_infos.first_mut().and_then(|u| u.auth_info.as_mut()) {
                auth.token = Some(token.to_string().into());
            }
            expiry = Some(jiff::Timestamp::now() + jiff::SignedDuration::from_secs(TOKEN_FILE_REFRESH + 30));
        }
        let options = kube::config::KubeConfigOptions {
            context: Some(conn.context.clone()),
            ..Default::default()
        };
        let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|e| fail(e.to_string()))?;
        // NB: kube retries 429/503/504 by itself (up to 15 times); muster's fan-out
        // classifies and retries under its own limits and deadlines instead.
        config.default_retry = false;
        // NB: every response's Retry-After pauses this member's limiter, so retries (and
        // other requests to the same member) wait what the server asked, and no longer.
        let pause = self.limits.pause().clone();
        let observe = tower::util::MapResponseLayer::new(move |response: http::Response<_>| {
            pause.observe(&response);
            response
        });
        let client = kube::client::ClientBuilder::try_from(config)
            .map_err(|e| fail(e.to_string()))?
            .with_layer(&observe)
            .build();
        *cached = Some((client.clone(), expiry));
        self.built.store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(client)
    }

    /// Whether the client has been built (for tests and the lazy-client benchmark).
    #[must_use]
    pub fn client_built(&self) -> bool {
        self.built.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A snapshot of the member's health.
    #[must_use]
    pub fn health(&self) -> Health {
        self.health.lock().expect("health lock").clone()
    }
}

/// The registry: members by name, and the optional fleet-wide rate limit.
#[derive(Default)]
pub struct Registry {
    members: DashMap<ClusterName, Arc<Member>>,
    fleet_rate: Option<governor::DefaultDirectRateLimiter>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("members", &self.members)
            .field("fleet_rate", &self.fleet_rate.is_some())
            .finish()
    }
}

impl Registry {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry with the fleet-wide limit of `config` (if any).
    #[must_use]
    pub fn with_config(config: &FleetConfig) -> Self {
        Self {
            members: DashMap::new(),
            fleet_rate: limits::rate_limiter(config.limits.fleet_qps, config.limits.fleet_burst),
        }
    }

    /// Wait until a request to `member` may be sent (its in-flight cap, its rate, the
    /// fleet's rate); hold the permit while the request runs.
    pub async fn acquire(&self, member: &Member) -> Permit {
        member.limits.acquire(self.fleet_rate.as_ref()).await
    }

    /// Add or replace a member.
    pub fn insert(&self, member: Member) {
        self.members.insert(member.name.clone(), Arc::new(member));
    }

    /// Remove a member; calls in flight keep their `Arc`.
    pub fn remove(&self, name: &str) -> Option<Arc<Member>> {
        self.members.remove(name).map(|(_, m)| m)
    }

    #[must_use]
    pub fn get(&self, name: &str) -> Option<Arc<Member>> {
        self.members.get(name).map(|m| m.clone())
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.members.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Every member, sorted by name.
    #[must_use]
    pub fn members(&self) -> Vec<Arc<Member>> {
        let mut all: Vec<Arc<Member>> = self.members.iter().map(|m| m.clone()).collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }
}

impl Connection {
    /// Whether the user sends a secret: a token (inline or from a file), a password, a
    /// client key, or an exec plugin's credential.
    #[must_use]
    pub fn has_credentials(&self) -> bool {
        let auth = self.kubeconfig.auth_infos.first().and_then(|u| u.auth_info.as_ref());
        self.exec.is_some()
            || self.token_file.is_some()
            || auth.is_some_and(|a| {
                a.token.is_some() || a.password.is_some() || a.client_key_data.is_some() || a.client_key.is_some()
            })
    }

    /// The client certificate's `notAfter` (RFC 3339), from inline data or the file.
    #[must_use]
    pub fn cert_expiry(&self) -> Option<String> {
        use base64::Engine as _;
        let auth = self.kubeconfig.auth_infos.first()?.auth_info.as_ref()?;
        let pem = match (&auth.client_certificate_data, &auth.client_certificate) {
            (Some(data), _) => base64::engine::general_purpose::STANDARD.decode(data.trim()).ok()?,
            (None, Some(path)) => std::fs::read(path).ok()?,
            (None, None) => return None,
        };
        certificate_expiry(&pem)
    }
}

/// `notAfter` of the first certificate in a PEM bundle, as RFC 3339.
#[must_use]
pub fn certificate_expiry(pem: &[u8]) -> Option<String> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem).ok()?;
    let cert = pem.parse_x509().ok()?;
    let secs = cert.validity().not_after.timestamp();
    jiff::Timestamp::from_second(secs).ok().map(|t| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_certificate_expiry_is_read() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["muster".to_string()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2031, 3, 4);
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(
            certificate_expiry(cert.pem().as_bytes()).as_deref(),
            Some("2031-03-04T00:00:00Z")
        );
        use base64::Engine as _;
        let data = base64::engine::general_purpose::STANDARD.encode(cert.pem());
        let text = format!(
            "clusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:1'}}}}]\nusers: [{{name: u, user: {{client-certificate-data: {data}, client-key-data: a2V5}}}}]\ncontexts: [{{name: x, context: {{cluster: c, user: u}}}}]\ncurrent-context: x\n"
        );
        let m = kubeconfig::member_from_secret(
            "x".into(),
            Source::ClusterApi {
                namespace: "capi".into(),
                secret: "x-kubeconfig".into(),
            },
            BTreeMap::new(),
            "capi/x-kubeconfig",
            &text,
            &FleetConfig::default(),
        );
        assert!(m.invalid.is_none(), "{:?}", m.invalid);
        assert_eq!(m.cert_expiry.as_deref(), Some("2031-03-04T00:00:00Z"));
        assert!(certificate_expiry(b"not a certificate").is_none());
    }
}
