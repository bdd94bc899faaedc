//! muster-sim: simulated Kubernetes clusters, an in-process HTTPS API server per cluster,
//! and a fleet launcher. muster's product crates never depend on it; they reach simulated
//! clusters over HTTPS exactly as they would reach real ones.

pub mod admin;
pub mod api;
pub mod apply;
pub mod behavior;
pub mod cluster;
pub mod controller;
pub mod convert;
pub mod discovery;
pub mod exec;
pub mod faults;
pub mod fleet;
pub mod gc;
pub mod logs;
pub mod objects;
pub mod patch;
pub mod protobuf;
pub mod request;
pub mod resources;
pub mod schema;
pub mod server;
pub mod status;
pub mod store;
pub mod table;
pub mod tls;
pub mod watch;
pub mod yaml;

pub use behavior::Behavior;
pub use cluster::{Cluster, Identity, RestrictedToken, Token};
pub use faults::{CounterSnapshot, FaultPlan, Faults, Scenario};
pub use fleet::{ClusterHandle, Fleet, FleetOptions, SimError};
