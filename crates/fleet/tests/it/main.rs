//! muster-fleet's integration tests, one binary, against simulated clusters: the registry
//! (kubeconfig and Cluster API sources), the fan-out of every action under faults, reports.

mod fanout;
mod hostile_kubeconfigs;
mod real_clusters;
mod registry_capi;
mod registry_kubeconfig;
mod report;
mod support;
