//! What every reconciler of the hub shares: kube's `Controller` over one kind in every
//! namespace until the leader's stop token, and one error policy (log the object, the
//! error's stable reason and the error; retry in 5 s).

use std::fmt::{Debug, Display};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::{Controller, watcher};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::context::Context;

/// A reconcile error with a stable short label.
pub trait Reason {
    fn reason(&self) -> &'static str;
}

/// `Kind namespace/name` of an object, for logs, Events and audit origins.
#[must_use]
pub fn origin<K: kube::Resource<DynamicType = ()>>(obj: &K) -> String {
    format!(
        "{} {}/{}",
        K::kind(&()),
        obj.meta().namespace.as_deref().unwrap_or_default(),
        obj.meta().name.as_deref().unwrap_or_default()
    )
}

/// Run `reconcile` over every object of kind `K` until `stop`.
pub async fn run<K, E, F, Fut>(ctx: Arc<Context>, stop: CancellationToken, reconcile: F)
where
    K: kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    E: std::error::Error + Reason + Display + Send + 'static,
    F: FnMut(Arc<K>, Arc<Context>) -> Fut,
    Fut: Future<Output = Result<Action, E>> + Send + 'static,
{
    fn error_policy<K: kube::Resource<DynamicType = ()>, E: Reason + Display>(
        obj: Arc<K>,
        e: &E,
        _ctx: Arc<Context>,
    ) -> Action {
        tracing::warn!(object = %origin(obj.as_ref()), reason = e.reason(), error = %e, "reconciling failed; retrying");
        Action::requeue(Duration::from_secs(5))
    }
    let api = Api::<K>::all(ctx.client.clone());
    Controller::new(api, watcher::Config::default())
        .graceful_shutdown_on(stop.cancelled_owned())
        .run(reconcile, error_policy::<K, E>, ctx)
        .for_each(|r| {
            if let Err(e) = r {
                tracing::debug!(error = %e, "reconcile");
            }
            futures::future::ready(())
        })
        .await;
}
