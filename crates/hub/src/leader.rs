//! Leadership on a Lease (kube-lease-manager): one replica leads and runs the controllers
//! (FleetCluster sync, the health prober, the FleetCommand and FleetRollout reconcilers); the others stand by
//! and take over within the lease duration when the leader dies. A replica that loses the
//! lease stops its runs at once without recording anything, so the next leader resumes
//! them from what was persisted.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use kube_lease_manager::LeaseManagerBuilder;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::context::Context;

/// The Lease's name (in the hub's namespace).
pub const LEASE_NAME: &str = "muster-hub";

/// Stop every run of this process (leadership lost or shutting down): nothing is recorded,
/// the next leader resumes them.
pub fn abort_runs(ctx: &Context) {
    for run in ctx.runs.iter().chain(ctx.rollouts.iter()) {
        run.abort.abort();
    }
    ctx.runs.clear();
    ctx.rollouts.clear();
}

/// Start the leader's work; cancelling the token stops it.
fn lead(ctx: &Arc<Context>) -> CancellationToken {
    let stop = CancellationToken::new();
    ctx.metrics.set_leader(true);
    ctx.state.leading.store(true, Ordering::Relaxed);
    tokio::spawn(crate::members::run(ctx.clone(), stop.clone()));
    let prober = muster_fleet::registry::health::prober(
        ctx.registry.clone(),
        ctx.config.probe_interval,
        ctx.config.settings.concurrency,
        ctx.config.settings.release_connections,
        {
            let metrics = ctx.metrics.clone();
            move |took| metrics.probe_cycle(took)
        },
    );
    let s = stop.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = s.cancelled() => {}
            () = prober => {}
        }
    });
    tokio::spawn(crate::rollouts::run_controller(ctx.clone(), stop.clone()));
    if let Some(cfg) = ctx.config.mqtt.clone() {
        let (c, s) = (ctx.clone(), stop.clone());
        tokio::spawn(async move {
            if let Err(e) = crate::mqtt::bridge::run(c, Arc::new(cfg), s).await {
                warn!(error = %e, "the MQTT bridge could not start");
            }
        });
    }
    let (c, s) = (ctx.clone(), stop.clone());
    tokio::spawn(async move {
        c.state.controllers_running.store(true, Ordering::Relaxed);
        crate::commands::run_controller(c.clone(), s).await;
        c.state.controllers_running.store(false, Ordering::Relaxed);
    });
    stop
}

fn step_down(ctx: &Context, stop: &CancellationToken) {
    stop.cancel();
    abort_runs(ctx);
    ctx.metrics.set_leader(false);
    ctx.state.leading.store(false, Ordering::Relaxed);
    ctx.state.controllers_running.store(false, Ordering::Relaxed);
}

/// Campaign for the Lease and lead while holding it, until `shutdown` (which releases it).
///
/// # Errors
/// The Lease could not be set up.
pub async fn run(ctx: Arc<Context>, shutdown: CancellationToken) -> Result<(), kube_lease_manager::LeaseManagerError> {
    let duration = ctx.config.lease_duration.as_secs().max(2);
    let grace = (duration / 3).clamp(1, duration - 1);
    let manager = LeaseManagerBuilder::new(ctx.client.clone(), LEASE_NAME)
        .with_namespace(ctx.config.namespace.clone())
        .with_identity(ctx.config.identity.clone())
        .with_duration(duration)
        .with_grace(grace)
        // NB: the default field manager is per identity, which is what makes two replicas'
        // server-side applies of holderIdentity conflict: one manager for all would let
        // both believe they lead.
        .build()
        .await?;
    let (mut changes, watcher) = manager.watch().await;
    let mut leading: Option<CancellationToken> = None;
    loop {
        let is_leader = *changes.borrow_and_update();
        match (is_leader, &leading) {
            (true, None) => {
                info!(identity = %ctx.config.identity, "leading");
                leading = Some(lead(&ctx));
            }
            (false, Some(stop)) => {
                warn!(identity = %ctx.config.identity, "lost the lease; standing by");
                step_down(&ctx, stop);
                leading = None;
            }
            _ => {}
        }
        tokio::select! {
            r = changes.changed() => if r.is_err() { break },
            () = shutdown.cancelled() => break,
        }
    }
    if let Some(stop) = &leading {
        step_down(&ctx, stop);
    }
    // NB: dropping the receiver makes the watcher release the Lease: a standby takes over
    // at once rather than after the lease duration.
    drop(changes);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), watcher).await;
    Ok(())
}
