//! How the hub reaches its MQTT broker: the URL, the protocol version, TLS material and
//! credentials (from flags, files or a Secret; never printed), the topics and the
//! namespace of the bridge's FleetCommands. Settings only: the bridge itself is the mqtt module.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The largest MQTT message the hub takes (a manifest rides in `yaml_content`).
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// A password that never prints.
#[derive(Clone, Default)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// PEM data: a file, or bytes from a Secret (never printed).
#[derive(Clone)]
pub enum Pem {
    File(PathBuf),
    Inline { origin: String, bytes: Vec<u8> },
}

impl std::fmt::Debug for Pem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(p) => write!(f, "File({})", p.display()),
            Self::Inline { origin, .. } => write!(f, "Inline({origin})"),
        }
    }
}

impl Pem {
    fn origin(&self) -> String {
        match self {
            Self::File(p) => p.display().to_string(),
            Self::Inline { origin, .. } => origin.clone(),
        }
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        match self {
            Self::File(p) => std::fs::read(p).map_err(|e| format!("{}: {e}", p.display())),
            Self::Inline { bytes, .. } => Ok(bytes.clone()),
        }
    }
}

/// The MQTT protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// MQTT 3.1.1.
    #[default]
    V311,
    V5,
}

/// How the bridge connects and what it listens to.
#[derive(Debug, Clone)]
pub struct MqttConfig {
    pub protocol: Protocol,
    pub host: String,
    pub port: u16,
    /// TLS (`mqtts://`), with this CA (PEM) when given, else the system's roots are not
    /// used: a CA is required for TLS.
    pub tls: bool,
    pub ca: Option<Pem>,
    /// A client certificate and key (PEM).
    pub client_cert: Option<(Pem, Pem)>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// The MQTT client id's stem (`-down` and `-up` are added).
    pub client_id: String,
    pub down_topic: String,
    pub up_topic: String,
    /// Where the bridge's FleetCommands live (their FleetPolicy applies).
    pub namespace: String,
    /// The longest a `logs` follow session runs.
    pub follow_limit: Duration,
    /// At most this many log lines per second per session go up (the rest are dropped and
    /// counted).
    pub follow_lines_per_second: u32,
}

impl MqttConfig {
    /// A bridge to `url` (`mqtt://host:port` or `mqtts://host:port`) for hub `hub_name`,
    /// keeping its FleetCommands in `namespace`.
    ///
    /// # Errors
    /// A URL that is not one of those.
    pub fn new(url: &str, hub_name: &str, namespace: &str) -> Result<Self, String> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("mqtts://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("mqtt://") {
            (false, r)
        } else {
            return Err(format!(
                "--mqtt-url {url:?}: expected mqtt://HOST:PORT or mqtts://HOST:PORT"
            ));
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| format!("--mqtt-url {url:?}: {p:?} is not a port"))?,
            ),
            None => (rest, if tls { 8883 } else { 1883 }),
        };
        if host.is_empty() || host.contains(['/', '@', ' ']) {
            return Err(format!(
                "--mqtt-url {url:?}: {host:?} is not a host (credentials go in --mqtt-username and --mqtt-password-file)"
            ));
        }
        Ok(Self {
            protocol: Protocol::V311,
            host: host.trim_start_matches('[').trim_end_matches(']').to_string(),
            port,
            tls,
            ca: None,
            client_cert: None,
            username: None,
            password: None,
            client_id: format!("muster-{hub_name}"),
            down_topic: format!("muster/{hub_name}/commands/down"),
            up_topic: "wdd/RDMC/message/up".into(),
            namespace: namespace.to_string(),
            follow_limit: Duration::from_secs(600),
            follow_lines_per_second: 200,
        })
    }

    /// The rumqttc options of one of the bridge's connections.
    ///
    /// # Errors
    /// Unreadable TLS files.
    pub fn options(&self, suffix: &str, clean: bool) -> Result<rumqttc::MqttOptions, String> {
        let mut o = rumqttc::MqttOptions::new(format!("{}-{suffix}", self.client_id), &self.host, self.port);
        o.set_keep_alive(Duration::from_secs(10))
            .set_clean_session(clean)
            .set_manual_acks(true)
            .set_max_packet_size(MAX_MESSAGE_BYTES + 64 * 1024, MAX_MESSAGE_BYTES + 64 * 1024)
            .set_inflight(100);
        if let Some(u) = &self.username {
            o.set_credentials(u.clone(), self.password.clone().unwrap_or_default().0);
        }
        if let Some(t) = self.transport()? {
            o.set_transport(t);
        }
        Ok(o)
    }

    /// The TLS transport, when the URL asked for it.
    ///
    /// # Errors
    /// TLS files that cannot be read.
    pub fn transport(&self) -> Result<Option<rumqttc::Transport>, String> {
        if !self.tls {
            return Ok(None);
        }
        Ok(Some(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(Arc::new(self.rustls()?)),
        )))
    }

    fn rustls(&self) -> Result<rustls::ClientConfig, String> {
        let ca = self
            .ca
            .as_ref()
            .ok_or("--mqtt-ca is required with mqtts:// (the broker's CA, PEM)")?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut ca.bytes()?.as_slice()) {
            let cert = cert.map_err(|e| format!("{}: {e}", ca.origin()))?;
            roots.add(cert).map_err(|e| format!("{}: {e}", ca.origin()))?;
        }
        if roots.is_empty() {
            return Err(format!("{}: no certificate in it", ca.origin()));
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots);
        match &self.client_cert {
            None => Ok(builder.with_no_client_auth()),
            Some((cert, key)) => {
                let chain: Vec<_> = rustls_pemfile::certs(&mut cert.bytes()?.as_slice())
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("{}: {e}", cert.origin()))?;
                // NB: a key's parse error could quote it; only its origin is named.
                let key_der = rustls_pemfile::private_key(&mut key.bytes()?.as_slice())
                    .map_err(|_| format!("{}: not a PEM private key", key.origin()))?
                    .ok_or_else(|| format!("{}: no private key in it", key.origin()))?;
                builder
                    .with_client_auth_cert(chain, key_der)
                    .map_err(|e| format!("{}: {e}", cert.origin()))
            }
        }
    }

    /// Take credentials from a Secret of the hub: `username`, `password`, `ca.crt`,
    /// `tls.crt` and `tls.key` (each optional).
    ///
    /// # Errors
    /// The Secret cannot be read, or holds text that is not UTF-8 where text is expected.
    pub async fn with_secret(&mut self, client: &kube::Client, namespace: &str, name: &str) -> Result<(), String> {
        let api: kube::Api<k8s_openapi::api::core::v1::Secret> = kube::Api::namespaced(client.clone(), namespace);
        let secret = api
            .get(name)
            .await
            .map_err(|e| format!("MQTT credentials Secret {namespace}/{name}: {e}"))?;
        let data = secret.data.unwrap_or_default();
        let origin = |k: &str| format!("Secret {namespace}/{name} key {k}");
        let text = |k: &str| -> Result<Option<String>, String> {
            data.get(k)
                .map(|b| String::from_utf8(b.0.clone()).map_err(|_| format!("{}: not UTF-8", origin(k))))
                .transpose()
        };
        if let Some(u) = text("username")? {
            self.username = Some(u.trim().to_string());
        }
        if let Some(p) = text("password")? {
            self.password = Some(Secret(p.trim_end_matches(['\n', '\r']).to_string()));
        }
        let pem = |k: &str| {
            data.get(k).map(|b| Pem::Inline {
                origin: origin(k),
                bytes: b.0.clone(),
            })
        };
        if let Some(ca) = pem("ca.crt") {
            self.ca = Some(ca);
        }
        if let (Some(c), Some(k)) = (pem("tls.crt"), pem("tls.key")) {
            self.client_cert = Some((c, k));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_secrets() {
        let c = MqttConfig::new("mqtt://127.0.0.1:1884", "hub-a", "muster-system").unwrap();
        assert_eq!((c.host.as_str(), c.port, c.tls), ("127.0.0.1", 1884, false));
        assert_eq!(c.down_topic, "muster/hub-a/commands/down");
        assert_eq!(c.up_topic, "wdd/RDMC/message/up");
        assert_eq!(MqttConfig::new("mqtts://broker", "h", "n").unwrap().port, 8883);
        for bad in [
            "tcp://x:1",
            "mqtt://user:pw@host:1",
            "mqtt://host:port",
            "mqtt://:1883",
            "mqtt://../etc:1",
            "mqtt://host:99999",
            "mqtt://a b:1",
        ] {
            assert!(MqttConfig::new(bad, "h", "n").is_err(), "{bad}");
        }
        let mut c = c;
        c.password = Some(Secret("hunter2".into()));
        assert!(!format!("{c:?}").contains("hunter2"));
        c.tls = true;
        assert!(c.options("up", true).unwrap_err().contains("--mqtt-ca"));
    }
}
