//! muster: a multi-cluster Kubernetes federation controller. A registry of cluster clients,
//! safe fan-out of whitelisted actions, and cross-cluster reports. This package is the edge:
//! the command line (`cli`), built on `muster-fleet` (clusters) and `muster-core` (pure
//! logic); `muster sim` and `muster demo` come with the default `sim` feature.

pub mod cli;
