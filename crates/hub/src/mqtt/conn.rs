//! One MQTT connection, 3.1.1 or 5, behind one small interface: connect, subscribe, publish
//! at QoS 1, acknowledge a received message, and the events the bridge needs (connected,
//! a publish handed a packet id, a PUBACK, a message, a lost connection). rumqttc speaks
//! both protocols with separate types; this is the only module that knows them.

use std::time::Duration;

use rumqttc::v5::mqttbytes::QoS as QoS5;
use rumqttc::v5::mqttbytes::v5 as p5;
use rumqttc::{Outgoing, QoS};

use crate::broker::{MqttConfig, Protocol};

/// A message received down.
#[derive(Debug, Clone)]
pub enum Message {
    V4(rumqttc::Publish),
    V5(p5::Publish),
}

impl Message {
    #[must_use]
    pub fn payload(&self) -> &[u8] {
        match self {
            Self::V4(p) => &p.payload,
            Self::V5(p) => &p.payload,
        }
    }
}

/// What the bridge hears from a connection.
#[derive(Debug)]
pub enum Ev {
    Connected {
        session_present: bool,
    },
    /// A publish was handed this packet id (in the order they were asked for).
    Sent(u16),
    /// The broker acknowledged this packet id.
    Acked(u16),
    Received(Message),
    /// The connection was lost (the cause; never the credentials).
    Lost(String),
    Other,
}

/// The sending half.
#[derive(Clone)]
pub enum Client {
    V4(rumqttc::AsyncClient),
    V5(rumqttc::v5::AsyncClient),
}

/// The receiving half, polled by one task.
pub enum Pump {
    V4(Box<rumqttc::EventLoop>),
    V5(Box<rumqttc::v5::EventLoop>),
}

/// A connection of the bridge: `suffix` names it (`up`, `down`); `clean` starts a fresh
/// session (else the broker keeps it, and what was sent to it, across reconnects).
///
/// # Errors
/// TLS files that cannot be read.
pub fn connect(cfg: &MqttConfig, suffix: &str, clean: bool, cap: usize) -> Result<(Client, Pump), String> {
    match cfg.protocol {
        Protocol::V311 => {
            let (c, el) = rumqttc::AsyncClient::new(cfg.options(suffix, clean)?, cap);
            Ok((Client::V4(c), Pump::V4(Box::new(el))))
        }
        Protocol::V5 => {
            let id = format!("{}-{suffix}", cfg.client_id);
            let mut o = rumqttc::v5::MqttOptions::new(id, &cfg.host, cfg.port);
            o.set_keep_alive(Duration::from_secs(10))
                .set_clean_start(clean)
                .set_manual_acks(true)
                .set_max_packet_size(u32::try_from(super::wire::MAX_DOWN_BYTES + 64 * 1024).ok());
            if !clean {
                // NB: in MQTT 5 a session ends with its connection unless it has an expiry.
                o.set_session_expiry_interval(Some(7 * 24 * 3600));
            }
            if let Some(u) = &cfg.username {
                o.set_credentials(u.clone(), cfg.password.clone().unwrap_or_default().0);
            }
            if let Some(t) = cfg.transport()? {
                o.set_transport(t);
            }
            let (c, el) = rumqttc::v5::AsyncClient::new(o, cap);
            Ok((Client::V5(c), Pump::V5(Box::new(el))))
        }
    }
}

impl Client {
    /// Subscribe at QoS 1.
    ///
    /// # Errors
    /// The client's queue is closed.
    pub async fn subscribe(&self, topic: &str) -> Result<(), String> {
        match self {
            Self::V4(c) => c.subscribe(topic, QoS::AtLeastOnce).await.map_err(|e| e.to_string()),
            Self::V5(c) => c.subscribe(topic, QoS5::AtLeastOnce).await.map_err(|e| e.to_string()),
        }
    }

    /// Queue a publish at QoS 1 without waiting.
    ///
    /// # Errors
    /// The client's queue is full (try later).
    pub fn try_publish(&self, topic: &str, payload: Vec<u8>) -> Result<(), String> {
        match self {
            Self::V4(c) => c
                .try_publish(topic, QoS::AtLeastOnce, false, payload)
                .map_err(|e| e.to_string()),
            Self::V5(c) => c
                .try_publish(topic, QoS5::AtLeastOnce, false, payload)
                .map_err(|e| e.to_string()),
        }
    }

    /// Acknowledge a received message (the broker may forget it then).
    pub async fn ack(&self, m: &Message) {
        let r = match (self, m) {
            (Self::V4(c), Message::V4(p)) => c.ack(p).await.map_err(|e| e.to_string()),
            (Self::V5(c), Message::V5(p)) => c.ack(p).await.map_err(|e| e.to_string()),
            _ => Ok(()),
        };
        if let Err(e) = r {
            tracing::debug!(error = %e, "acknowledging an MQTT message failed; the broker sends it again");
        }
    }

    pub async fn disconnect(&self) {
        let _ = match self {
            Self::V4(c) => c.disconnect().await.map_err(|e| e.to_string()),
            Self::V5(c) => c.disconnect().await.map_err(|e| e.to_string()),
        };
    }
}

impl Pump {
    /// The next event (reconnecting after a loss on the following call).
    pub async fn poll(&mut self) -> Ev {
        match self {
            Self::V4(el) => match el.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(a))) => Ev::Connected {
                    session_present: a.session_present,
                },
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(a))) => Ev::Acked(a.pkid),
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => Ev::Received(Message::V4(p)),
                Ok(rumqttc::Event::Outgoing(Outgoing::Publish(pkid))) => Ev::Sent(pkid),
                Ok(_) => Ev::Other,
                Err(e) => Ev::Lost(e.to_string()),
            },
            Self::V5(el) => match el.poll().await {
                Ok(rumqttc::v5::Event::Incoming(p5::Packet::ConnAck(a))) => Ev::Connected {
                    session_present: a.session_present,
                },
                Ok(rumqttc::v5::Event::Incoming(p5::Packet::PubAck(a))) => Ev::Acked(a.pkid),
                Ok(rumqttc::v5::Event::Incoming(p5::Packet::Publish(p))) => Ev::Received(Message::V5(p)),
                Ok(rumqttc::v5::Event::Outgoing(Outgoing::Publish(pkid))) => Ev::Sent(pkid),
                Ok(_) => Ev::Other,
                Err(e) => Ev::Lost(e.to_string()),
            },
        }
    }

    /// Drop everything the client still holds to send (the bridge sends it again itself).
    pub fn drop_pending(&mut self) {
        match self {
            Self::V4(el) => {
                el.clean();
                el.pending.clear();
            }
            Self::V5(el) => {
                el.clean();
                el.pending.clear();
            }
        }
    }
}
