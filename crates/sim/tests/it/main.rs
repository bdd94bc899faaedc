//! muster-sim's integration tests, one binary: the simulated API server against kube and the
//! real kubectl (fidelity), workloads, faults and robustness.

mod kube_client;
mod kube_workloads;
mod kubectl_fidelity;
mod kubectl_real_behaviour;
mod kubectl_workloads;
mod sim_faults;
mod sim_robustness;
