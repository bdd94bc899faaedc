//! Helpers the fleet tests share.

use std::sync::Arc;

use muster_fleet::registry::{FleetConfig, Registry, kubeconfig};
use muster_sim::Fleet;

/// A registry of every cluster of `fleet` (through a kubeconfig file, as users load it),
/// with `config`'s labels and limits.
pub fn registry_of(fleet: &Fleet, config: &FleetConfig) -> (Arc<Registry>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kubeconfig");
    fleet.write_kubeconfig(&path).expect("write kubeconfig");
    let registry = Arc::new(Registry::with_config(config));
    let report = kubeconfig::load_with(&registry, &[path], config);
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    (registry, dir)
}
