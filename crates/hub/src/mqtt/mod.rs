//! The MQTT bridge of `muster serve` (on the leader, when configured): commands come down a
//! topic as the seed's JSON and each becomes a FleetCommand (so the namespace's FleetPolicy,
//! the audit and the hub's persistence apply, and a command delivered twice runs once);
//! every cluster's result and a summary go up, at least once: which results the broker
//! acknowledged is persisted with the command ([`outbox`]), and whatever is not is
//! published again after a broker outage or a hub restart. `logs` with `follow` streams
//! lines up until cancelled or its time limit.
//!
//! MQTT 3.1.1 and 5 through `rumqttc` ([`conn`]); TLS with a CA, username/password, a
//! client certificate.
//! Two connections: commands down on a persistent session (QoS 1, acknowledged only once
//! the FleetCommand exists), results up on a clean one (the bridge, not the client library,
//! decides what to send again).

pub mod bridge;
pub mod conn;
pub mod follow;
pub mod outbox;
pub mod wire;

pub use crate::broker::{MqttConfig, Pem, Protocol, Secret};
