//! muster-hub: `muster serve`, the central service. Custom resources in a hub cluster
//! (FleetCluster, FleetCommand, FleetPolicy, FleetRollout) and their reconcilers, leader election on a
//! Lease, reports stored in ConfigMaps, Events, the MQTT bridge, and the health and metrics
//! endpoints.

pub mod broker;
pub mod commands;
pub mod context;
pub mod crd;
pub mod http;
pub mod install;
pub mod leader;
pub mod members;
pub mod metrics;
pub mod mqtt;
pub mod reconciler;
pub mod remote;
pub mod rollouts;
pub mod serve;
pub mod store;
