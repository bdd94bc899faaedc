//! muster-core: what muster does, as pure data and pure functions. Commands and their
//! validated parts, the policy check, results, selectors, the built-in kinds table, YAML and
//! duration parsing, manifests, and reports. No I/O, no clock, no async runtime: callers pass
//! ids, times and text in.

pub mod command;
pub mod duration;
pub mod exec_args;
pub mod kinds;
pub mod manifest;
pub mod name;
pub mod policy;
pub mod report;
pub mod result;
pub mod selector;
pub mod yaml;
