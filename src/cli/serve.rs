//! `muster serve`: the hub. Its cluster comes from a kubeconfig context or the pod's
//! service account; it runs until SIGTERM or Ctrl-C, then releases its Lease.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use tokio_util::sync::CancellationToken;

use super::{CliError, exit};
use muster_core::policy::Policy;
use muster_fleet::registry::FleetConfig;
use muster_hub::context::Config;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The hub cluster's kubeconfig context (default: the current context, else in-cluster).
    #[arg(long, conflicts_with = "in_cluster")]
    pub hub_context: Option<String>,
    /// Use the pod's service account (running in the hub cluster).
    #[arg(long)]
    pub in_cluster: bool,
    /// Kubeconfig of the hub (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long = "kubeconfig", value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The hub's own namespace: its Lease and its `muster.dev/kubeconfig` Secrets.
    #[arg(long, short = 'n', env = "POD_NAMESPACE", default_value = "muster-system")]
    pub namespace: String,
    /// Read Cluster API `<cluster>-kubeconfig` Secrets in this namespace (repeatable).
    #[arg(long = "capi-namespace", value_name = "NAMESPACE")]
    pub capi_namespaces: Vec<String>,
    /// Read Cluster API Secrets in every namespace (needs cluster-wide Secret access).
    #[arg(long, conflicts_with = "capi_namespaces")]
    pub capi_all_namespaces: bool,
    /// Where /healthz, /readyz and /metrics are served.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// This replica's name (the Lease holder, the Events' instance). Default: $POD_NAME,
    /// else the host name and the process id.
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// The Lease's duration: a standby takes over within it when the leader dies.
    #[arg(long, default_value = "15s", value_parser = at_least_2s)]
    pub lease_duration: Duration,
    /// How often members are probed.
    #[arg(long, default_value = "30s", value_parser = positive)]
    pub probe_interval: Duration,
    /// How often FleetClusters are brought in line with the registry.
    #[arg(long, default_value = "2s", value_parser = positive)]
    pub sync_interval: Duration,
    /// How often a running command's results and status are written.
    #[arg(long, default_value = "500ms", value_parser = positive)]
    pub flush_interval: Duration,
    /// The policy of namespaces without a FleetPolicy (default: the built-in policy).
    #[arg(long, env = "MUSTER_POLICY")]
    pub policy: Option<PathBuf>,
    /// Fleet configuration: labels by name pattern, limits, allowed exec plugins.
    #[arg(long, env = "MUSTER_FLEET")]
    pub fleet: Option<PathBuf>,
    /// Audit log (JSON lines).
    #[arg(long, env = "MUSTER_AUDIT_LOG")]
    pub audit_log: Option<PathBuf>,
    /// Clusters worked on at once per command.
    #[arg(long, default_value_t = muster_fleet::settings::DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
    /// The key file for Secret fingerprints in reports (without one, Secret values show as
    /// `<redacted>`).
    #[arg(long, env = "MUSTER_FINGERPRINT_KEY")]
    pub fingerprint_key: Option<PathBuf>,
    /// The MQTT bridge: commands down, results up (`mqtt://HOST:PORT`, `mqtts://HOST:PORT`).
    #[arg(long, env = "MUSTER_MQTT_URL")]
    pub mqtt_url: Option<String>,
    /// The broker's CA (PEM), for mqtts://.
    #[arg(long, requires = "mqtt_url")]
    pub mqtt_ca: Option<PathBuf>,
    /// A client certificate and its key (PEM), for mqtts://.
    #[arg(long, requires = "mqtt_client_key")]
    pub mqtt_client_cert: Option<PathBuf>,
    #[arg(long, requires = "mqtt_client_cert")]
    pub mqtt_client_key: Option<PathBuf>,
    #[arg(long, requires = "mqtt_url")]
    pub mqtt_username: Option<String>,
    /// A file holding the password (never on the command line, never logged).
    #[arg(long, requires = "mqtt_username")]
    pub mqtt_password_file: Option<PathBuf>,
    /// The command topic (default `muster/<identity's hub name>/commands/down`).
    #[arg(long, requires = "mqtt_url")]
    pub mqtt_down_topic: Option<String>,
    /// The result topic.
    #[arg(long, requires = "mqtt_url", default_value = "wdd/RDMC/message/up")]
    pub mqtt_up_topic: String,
    /// The namespace of the bridge's FleetCommands (its FleetPolicy applies; default: the
    /// hub's namespace).
    #[arg(long, requires = "mqtt_url")]
    pub mqtt_namespace: Option<String>,
    /// The hub's name in MQTT client ids and the default command topic.
    #[arg(long, default_value = "muster")]
    pub mqtt_hub_name: String,
    /// The longest a `logs` follow session runs.
    #[arg(long, default_value = "10m", value_parser = positive)]
    pub mqtt_follow_limit: Duration,
    /// A Secret in the hub's namespace with the broker credentials: `username`,
    /// `password`, `ca.crt`, `tls.crt`, `tls.key` (each optional; they override the flags).
    #[arg(long, requires = "mqtt_url")]
    pub mqtt_credentials_secret: Option<String>,
    /// The MQTT protocol: `3.1.1` or `5`.
    #[arg(long, default_value = "3.1.1", value_parser = ["3.1.1", "5"])]
    pub mqtt_version: String,
}

fn positive(s: &str) -> Result<Duration, String> {
    let d = muster_core::duration::parse(s).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err("must be more than 0".into());
    }
    Ok(d)
}

fn at_least_2s(s: &str) -> Result<Duration, String> {
    let d = positive(s)?;
    if d < Duration::from_secs(2) {
        return Err("must be at least 2s".into());
    }
    Ok(d)
}

fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let host = if host.is_empty() { "muster".to_string() } else { host };
    format!("{host}-{}", std::process::id())
}

async fn hub_client(a: &ServeArgs) -> Result<kube::Client, CliError> {
    if a.in_cluster {
        return Ok(kube::Client::try_from(kube::Config::incluster()?)?);
    }
    let explicit: Vec<PathBuf> = a.kubeconfig.iter().cloned().collect();
    if a.hub_context.is_none() && explicit.is_empty() && std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
        return Ok(kube::Client::try_from(kube::Config::incluster()?)?);
    }
    Ok(super::hub::client(a.hub_context.as_deref(), &explicit).await?.0)
}

pub async fn run(a: ServeArgs) -> Result<u8, CliError> {
    let client = hub_client(&a).await?;
    let mut config = Config::new(a.namespace.clone(), a.identity.clone().unwrap_or_else(default_identity));
    config.capi_namespaces = if a.capi_all_namespaces {
        Some(Vec::new())
    } else if a.capi_namespaces.is_empty() {
        None
    } else {
        Some(a.capi_namespaces.clone())
    };
    config.lease_duration = a.lease_duration;
    config.probe_interval = a.probe_interval;
    config.sync_interval = a.sync_interval;
    config.flush_interval = a.flush_interval;
    config.settings = config.settings.concurrency(a.concurrency.max(1));
    config.default_policy = match &a.policy {
        Some(p) => super::input::policy(p)?,
        None => Policy::default(),
    };
    config.fleet = a
        .fleet
        .as_deref()
        .map(FleetConfig::load)
        .transpose()?
        .unwrap_or_default();
    config.audit_log = a.audit_log.clone();
    if let Some(p) = &a.fingerprint_key {
        let bytes = muster_fleet::files::fingerprint_key(p)?;
        config.secret_key = muster_core::report::normalize::SecretKey::new(&bytes);
    }
    if let Some(url) = &a.mqtt_url {
        let namespace = a.mqtt_namespace.clone().unwrap_or_else(|| a.namespace.clone());
        let mut m = muster_hub::mqtt::MqttConfig::new(url, &a.mqtt_hub_name, &namespace)?;
        m.ca = a.mqtt_ca.clone().map(muster_hub::mqtt::Pem::File);
        m.client_cert = a
            .mqtt_client_cert
            .clone()
            .zip(a.mqtt_client_key.clone())
            .map(|(c, k)| (muster_hub::mqtt::Pem::File(c), muster_hub::mqtt::Pem::File(k)));
        m.username.clone_from(&a.mqtt_username);
        if let Some(p) = &a.mqtt_password_file {
            let text = std::fs::read_to_string(p).map_err(|e| format!("--mqtt-password-file {}: {e}", p.display()))?;
            m.password = Some(muster_hub::mqtt::Secret(
                text.trim_end_matches(['\n', '\r']).to_string(),
            ));
        }
        if let Some(t) = &a.mqtt_down_topic {
            m.down_topic.clone_from(t);
        }
        m.up_topic.clone_from(&a.mqtt_up_topic);
        m.follow_limit = a.mqtt_follow_limit;
        if a.mqtt_version == "5" {
            m.protocol = muster_hub::mqtt::Protocol::V5;
        }
        if let Some(name) = &a.mqtt_credentials_secret {
            m.with_secret(&client, &a.namespace, name).await?;
        }
        // NB: check the TLS data now: a bad path is a start-up error, not a retry loop.
        m.options("check", true)?;
        config.mqtt = Some(m);
    }
    let shutdown = CancellationToken::new();
    let hub = muster_hub::serve::start(client, config, a.metrics_addr, &shutdown).await?;
    eprintln!("muster serve: listening on {}", hub.http_addr);
    tokio::spawn(signals(shutdown.clone()));
    hub.run(shutdown).await?;
    Ok(exit::OK)
}

/// Shut down on SIGTERM (Kubernetes) or Ctrl-C.
async fn signals(shutdown: CancellationToken) {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down; releasing the lease");
    shutdown.cancel();
}
