//! muster-hub: `muster serve`, the central service. Custom resources in a hub cluster
//! (FleetCluster, FleetCommand, FleetPolicy) and their reconcilers, leader election on a
//! Lease, reports stored in ConfigMaps, Events, and the health and metrics endpoints.

pub mod crd;
pub mod metrics;
pub mod store;
