//! A real MQTT broker for tests: Debian's `mosquitto` on a free loopback port, with a
//! password file or TLS when asked, persistence on (so a restarted broker keeps what it
//! acknowledged), stopped and started again at will; and a subscriber that collects every
//! message of a topic on a persistent session.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio_util::sync::CancellationToken;

/// The mosquitto binary, or `None` with a loud notice (`MUSTER_REQUIRE_MOSQUITTO=1`: fail).
#[must_use]
pub fn mosquitto_binary() -> Option<PathBuf> {
    crate::require_tool("mosquitto")
}

/// How the broker is set up.
#[derive(Debug, Clone, Default)]
pub struct BrokerOptions {
    /// Require this user and password.
    pub user: Option<(String, String)>,
    /// Serve TLS with a fresh CA (its PEM is written as `ca.pem` in the broker's dir).
    pub tls: bool,
}

/// A running mosquitto; killed when dropped.
pub struct Broker {
    pub port: u16,
    pub dir: tempfile::TempDir,
    bin: PathBuf,
    child: Option<Child>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Broker {
    /// Start a broker (`None`: mosquitto is not installed).
    ///
    /// # Panics
    /// When mosquitto does not start.
    #[must_use]
    pub fn start(options: &BrokerOptions) -> Option<Self> {
        let bin = mosquitto_binary()?;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let port = free_port();
        let mut conf = format!(
            "listener {port} 127.0.0.1\nuser root\npersistence true\npersistence_location {}/\nautosave_interval 1\nmax_inflight_messages 100\nmax_queued_messages 100000\nlog_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\nlog_type subscribe\n",
            dir.path().display()
        );
        match &options.user {
            Some((user, password)) => {
                let file = dir.path().join("passwords");
                std::fs::write(&file, "").expect("password file");
                let ok = Command::new(bin.with_file_name("mosquitto_passwd"))
                    .arg("-b")
                    .arg(&file)
                    .args([user, password])
                    .status()
                    .or_else(|_| {
                        Command::new("mosquitto_passwd")
                            .arg("-b")
                            .arg(&file)
                            .args([user, password])
                            .status()
                    })
                    .expect("mosquitto_passwd runs");
                assert!(ok.success(), "mosquitto_passwd failed");
                conf.push_str(&format!("allow_anonymous false\npassword_file {}\n", file.display()));
            }
            None => conf.push_str("allow_anonymous true\n"),
        }
        if options.tls {
            let (ca, cert, key) = tls_files(dir.path());
            conf.push_str(&format!(
                "cafile {}\ncertfile {}\nkeyfile {}\n",
                ca.display(),
                cert.display(),
                key.display()
            ));
        }
        std::fs::write(dir.path().join("mosquitto.conf"), conf).expect("mosquitto.conf");
        let mut b = Self {
            port,
            dir,
            bin,
            child: None,
        };
        b.resume();
        Some(b)
    }

    /// `mqtt://127.0.0.1:PORT` (or `mqtts://`).
    #[must_use]
    pub fn url(&self, tls: bool) -> String {
        format!("{}://127.0.0.1:{}", if tls { "mqtts" } else { "mqtt" }, self.port)
    }

    /// The CA of a TLS broker.
    #[must_use]
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Stop the broker (SIGKILL: an outage, not a shutdown; what it persisted stays).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stop the broker with SIGTERM (a restart: it saves what it holds first).
    pub fn stop_gracefully(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
            let _ = c.wait();
        }
    }

    /// Start it again on the same port, and wait until it accepts connections.
    ///
    /// # Panics
    /// When it does not come up in 10 s.
    pub fn resume(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("mosquitto.log"))
            .expect("broker log");
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("mosquitto starts");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "mosquitto did not listen on {}: {}",
                self.port,
                std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait until some client subscribed to `topic` (a message published before is lost).
    ///
    /// # Panics
    /// When nobody subscribes within 30 s.
    pub async fn wait_subscribed(&self, topic: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !self.log().lines().any(|l| l.ends_with(&format!(" {topic}"))) {
            assert!(
                std::time::Instant::now() < deadline,
                "nobody subscribed to {topic}: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The broker's log so far.
    #[must_use]
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A CA and a server certificate for 127.0.0.1, as PEM files in `dir`.
fn tls_files(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = rcgen::KeyPair::generate().expect("a key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "muster test broker CA");
    let ca = ca_params.self_signed(&ca_key).expect("a CA");
    let key = rcgen::KeyPair::generate().expect("a key");
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("params");
    params.distinguished_name.push(rcgen::DnType::CommonName, "127.0.0.1");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let cert = params.signed_by(&key, &issuer).expect("a certificate");
    let paths = (dir.join("ca.pem"), dir.join("server.pem"), dir.join("server.key"));
    std::fs::write(&paths.0, ca.pem()).expect("ca.pem");
    std::fs::write(&paths.1, cert.pem()).expect("server.pem");
    std::fs::write(&paths.2, key.serialize_pem()).expect("server.key");
    (paths.0, paths.1, paths.2)
}

/// Every message a topic received, as parsed JSON, on a persistent session (messages sent
/// while it is disconnected, e.g. across a broker restart, arrive when it reconnects).
pub struct Subscriber {
    pub messages: Arc<Mutex<Vec<serde_json::Value>>>,
    stop: CancellationToken,
}

impl Subscriber {
    /// Subscribe to `topic` on the broker at 127.0.0.1:`port`, and wait until subscribed.
    ///
    /// # Panics
    /// When the subscription is not confirmed in 10 s.
    pub async fn start(port: u16, topic: &str, id: &str) -> Self {
        let mut o = MqttOptions::new(id, "127.0.0.1", port);
        o.set_clean_session(false).set_keep_alive(Duration::from_secs(5));
        o.set_max_packet_size(2 << 20, 2 << 20);
        let (client, mut el) = AsyncClient::new(o, 64);
        let messages = Arc::new(Mutex::new(Vec::new()));
        let stop = CancellationToken::new();
        let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel();
        let mut subscribed_tx = Some(subscribed_tx);
        let (m, s, topic) = (messages.clone(), stop.clone(), topic.to_string());
        tokio::spawn(async move {
            loop {
                let ev = tokio::select! {
                    e = el.poll() => e,
                    () = s.cancelled() => return,
                };
                match ev {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let _ = client.subscribe(topic.clone(), QoS::AtLeastOnce).await;
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(tx) = subscribed_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let v = serde_json::from_slice(&p.payload)
                            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&p.payload).into()));
                        m.lock().expect("messages").push(v);
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), subscribed)
            .await
            .expect("subscribed in 10 s")
            .expect("subscribed");
        Self { messages, stop }
    }

    /// The messages so far.
    #[must_use]
    pub fn all(&self) -> Vec<serde_json::Value> {
        self.messages.lock().expect("messages").clone()
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Publish one message at QoS 1 and wait for the broker's PUBACK.
///
/// # Panics
/// When it is not acknowledged in 10 s.
pub async fn publish(port: u16, topic: &str, payload: &[u8]) {
    let mut o = MqttOptions::new(format!("test-pub-{}", fastrand_id()), "127.0.0.1", port);
    o.set_max_packet_size(4 << 20, 4 << 20);
    let (client, mut el) = AsyncClient::new(o, 8);
    client
        .publish(topic, QoS::AtLeastOnce, false, payload.to_vec())
        .await
        .expect("queued");
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => return,
                Ok(_) => {}
                Err(e) => panic!("publishing to the test broker: {e}"),
            }
        }
    })
    .await
    .expect("acknowledged in 10 s");
    let _ = client.disconnect().await;
}

fn fastrand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    u64::from(std::process::id()) << 20 | N.fetch_add(1, Ordering::Relaxed)
}

/// The bridge's first FleetCommand in `namespace` once it exists (and, with `finished`, once
/// it has finished).
///
/// # Panics
/// When that does not happen within `within`.
pub async fn bridge_command(
    client: &kube::Client,
    namespace: &str,
    finished: bool,
    within: Duration,
) -> muster_hub::crd::FleetCommand {
    let api: kube::Api<muster_hub::crd::FleetCommand> = kube::Api::namespaced(client.clone(), namespace);
    let what = if finished {
        "the bridge's FleetCommand to finish"
    } else {
        "the bridge's FleetCommand"
    };
    crate::eventually(what, within, || {
        let api = api.clone();
        async move {
            let l = api
                .list(&kube::api::ListParams::default().labels("muster.dev/source=mqtt"))
                .await
                .ok()?;
            let fc = l.items.into_iter().next()?;
            let done = fc.status.as_ref().is_some_and(|s| s.phase.is_finished());
            (!finished || done).then_some(fc)
        }
    })
    .await
}
