//! End-to-end tests of the `muster` binaries, one test binary: the fleet commands and
//! `muster demo`.

mod cli_clusters;
mod cli_fanout;
mod demo;
mod diagnose;
mod hostile;
mod hub;
mod mqtt;
mod rollout;
mod support;
