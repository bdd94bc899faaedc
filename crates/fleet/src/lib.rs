//! muster-fleet: everything that talks to clusters. The registry of member clusters and their
//! clients, a [`call::Caller`] that sends each request under limits, timeouts and safe
//! retries, the seven actions, the fan-out that runs a command on every selected member, and
//! the audit log.
//!
//! Modules depend one way: `failure` and `discovery` (leaves) <- `registry` <- `call` <-
//! `action` <- `fanout`; `redact` and `audit` beside them.

pub mod action;
pub mod audit;
pub mod call;
pub mod discovery;
pub mod failure;
pub mod fanout;
pub mod files;
pub mod hooks;
pub mod redact;
pub mod registry;
pub mod settings;
