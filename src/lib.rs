//! muster: a multi-cluster Kubernetes federation controller. A registry of cluster clients,
//! safe fan-out of whitelisted actions, and cross-cluster reports.
#![forbid(unsafe_code)]

pub mod action;
pub mod audit;
pub mod cli;
pub mod command;
pub mod fanout;
pub mod kinds;
pub mod manifest;
pub mod policy;
pub mod redact;
pub mod registry;
pub mod report;
pub mod result;
pub mod selector;
pub mod sim;
pub mod yaml;
