//! What a host process (the hub) plugs into a fan-out: a gate every cluster's part passes
//! just before its action starts (the hub records that an exec started before it does), and
//! an observer of every call (the hub's metrics). The CLI plugs in neither.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use muster_core::command::Action;

/// A boxed future of the gate.
pub type Opening = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Passed once per cluster, just before its action starts; the action waits until the
/// returned future completes.
pub trait StartGate: Send + Sync {
    fn starting(&self, cluster: &str) -> Opening;
}

/// One request to a member, as it ended.
#[derive(Debug, Clone, Copy)]
pub struct CallRecord<'a> {
    pub cluster: &'a str,
    pub action: Action,
    /// The HTTP status, when there was a response (200 for a success).
    pub code: Option<u16>,
    /// How long the request took.
    pub took: Duration,
    /// How long it waited for the member's limits first.
    pub waited: Duration,
}

/// Sees every request a fan-out sends.
pub trait CallObserver: Send + Sync {
    fn call(&self, record: &CallRecord<'_>);
}

/// The hooks of one fan-out engine.
#[derive(Clone, Default)]
pub struct Hooks {
    pub start_gate: Option<Arc<dyn StartGate>>,
    pub observer: Option<Arc<dyn CallObserver>>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("start_gate", &self.start_gate.is_some())
            .field("observer", &self.observer.is_some())
            .finish()
    }
}
