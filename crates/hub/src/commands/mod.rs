//! The FleetCommand reconciler (kube's `Controller`, with a finalizer so that deleting a
//! running command cancels it): a new or changed command is admitted and run once; a
//! `Running` one this process does not run (the hub restarted, or leadership moved) is
//! resumed from its persisted progress; a scheduled one runs again at each tick; a finished
//! one with `ttlSecondsAfterFinished` is deleted when its time comes.

pub mod admit;
pub mod run;
pub mod status;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, DeleteParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use muster_core::result::Status;
use muster_fleet::audit::{self, Phase as AuditPhase};
use muster_fleet::hooks::Hooks;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use self::admit::{Refusal, admit};
use self::run::{Run, audit, claim, event, next_tick, write_status};
use self::status::{Tally, set_condition};
use crate::context::{Context, RunHandle};
use crate::crd::{Condition, FleetCommand, FleetCommandStatus, Phase};
use crate::metrics::Observer;
use crate::store::{Progress, Store, StoreError};

/// The finalizer that lets a deleted running command be cancelled first.
pub const FINALIZER: &str = "muster.dev/cancel";

/// A reconcile failure (retried).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("hub API: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
}

impl crate::reconciler::Reason for Error {
    fn reason(&self) -> &'static str {
        match self {
            Self::Kube(_) => "HubApiError",
            Self::Store(e) => e.reason(),
            Self::Finalizer(_) => "FinalizerFailed",
        }
    }
}

/// `FleetCommand ns/name`.
#[must_use]
pub fn origin(fc: &FleetCommand) -> String {
    crate::reconciler::origin(fc)
}

/// Run the reconciler until `stop`.
pub async fn run_controller(ctx: Arc<Context>, stop: CancellationToken) {
    crate::reconciler::run::<FleetCommand, _, _, _>(ctx, stop, reconcile).await;
}

async fn reconcile(fc: Arc<FleetCommand>, ctx: Arc<Context>) -> Result<Action, Error> {
    let api: Api<FleetCommand> =
        Api::namespaced(ctx.client.clone(), fc.metadata.namespace.as_deref().unwrap_or_default());
    finalizer(&api, FINALIZER, fc, |ev| async {
        match ev {
            Finalizer::Apply(fc) => apply(fc, ctx).await,
            Finalizer::Cleanup(fc) => cleanup(fc, ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

fn uid(fc: &FleetCommand) -> String {
    fc.metadata.uid.clone().unwrap_or_default()
}

/// How often a command running here is looked at again (its run may have ended).
const RUNNING_RECHECK: Duration = Duration::from_secs(2);

async fn apply(fc: Arc<FleetCommand>, ctx: Arc<Context>) -> Result<Action, Error> {
    if ctx.runs.contains_key(&uid(&fc)) {
        return Ok(Action::requeue(RUNNING_RECHECK));
    }
    let status = fc.status.clone().unwrap_or_default();
    let now = jiff::Timestamp::now();
    match status.phase {
        Phase::Pending => start(&ctx, fc).await,
        Phase::Running => resume(&ctx, fc).await,
        _ if status.observed_generation != fc.metadata.generation => start(&ctx, fc).await,
        _ => {
            if let Some(schedule) = &fc.spec.schedule {
                let next = status
                    .next_run
                    .as_deref()
                    .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                    .or_else(|| next_tick(schedule, now));
                return match next {
                    Some(next) if next <= now => start(&ctx, fc).await,
                    Some(next) => Ok(Action::requeue(until(now, next))),
                    None => Ok(Action::await_change()),
                };
            }
            if let (Some(ttl), Some(finished)) = (
                fc.spec.ttl_seconds_after_finished,
                status
                    .finish_time
                    .as_deref()
                    .and_then(|t| t.parse::<jiff::Timestamp>().ok()),
            ) {
                let due = finished + jiff::SignedDuration::from_secs(i64::try_from(ttl).unwrap_or(i64::MAX / 2));
                if due <= now {
                    let api: Api<FleetCommand> =
                        Api::namespaced(ctx.client.clone(), fc.metadata.namespace.as_deref().unwrap_or_default());
                    info!(command = %origin(&fc), "ttlSecondsAfterFinished passed; deleting");
                    api.delete(
                        fc.metadata.name.as_deref().unwrap_or_default(),
                        &DeleteParams::background(),
                    )
                    .await?;
                    return Ok(Action::await_change());
                }
                return Ok(Action::requeue(until(now, due)));
            }
            Ok(Action::await_change())
        }
    }
}

fn until(now: jiff::Timestamp, then: jiff::Timestamp) -> Duration {
    Duration::try_from(then.duration_since(now)).unwrap_or_default() + Duration::from_millis(50)
}

fn hooks(ctx: &Context) -> Hooks {
    Hooks {
        start_gate: None,
        observer: Some(Arc::new(Observer(ctx.metrics.clone()))),
    }
}

/// A fresh run's id: its start time to the millisecond.
fn run_id() -> String {
    let now = jiff::Timestamp::now();
    now.round(jiff::Unit::Millisecond).unwrap_or(now).to_string()
}

/// The status a new run starts from: the history kept, this run's fields reset.
fn fresh_status(fc: &FleetCommand, run: &str) -> FleetCommandStatus {
    let old = fc.status.clone().unwrap_or_default();
    FleetCommandStatus {
        phase: Phase::Running,
        observed_generation: fc.metadata.generation,
        conditions: old.conditions,
        start_time: Some(run.to_string()),
        report: old.report,
        previous_reports: old.previous_reports,
        drifted: old.drifted,
        drifted_more: old.drifted_more,
        runs: old.runs,
        ..FleetCommandStatus::default()
    }
}

async fn start(ctx: &Arc<Context>, fc: Arc<FleetCommand>) -> Result<Action, Error> {
    let run = run_id();
    let issued_at = run.clone();
    let id = format!(
        "{}-{}",
        uid(&fc),
        run.chars().filter(char::is_ascii_digit).collect::<String>()
    );
    let admitted = match admit(ctx, &fc, &id, &issued_at, hooks(ctx)).await {
        Ok(a) => a,
        Err(refusal) => return reject(ctx, &fc, refusal, &run).await,
    };
    let store = Store::of(ctx.client.clone(), &fc);
    let progress = Progress {
        run: run.clone(),
        command: admitted.command,
        clusters: admitted.members.iter().map(|m| m.name.clone()).collect(),
        started: BTreeSet::new(),
        result_chunks: Vec::new(),
    };
    let mut status = fresh_status(&fc, &run);
    status.clusters = progress.clusters.len() as u64;
    status.runner = Some(ctx.config.identity.clone());
    let now = crate::members::now_rfc3339();
    set_condition(
        &mut status.conditions,
        Condition::new(
            "Accepted",
            true,
            "Admitted",
            format!("checked against {}", admitted.tenancy.origin),
            &now,
        ),
    );
    set_condition(
        &mut status.conditions,
        Condition::new("Running", true, "Started", "", &now),
    );
    set_condition(
        &mut status.conditions,
        Condition::new("Complete", false, "Running", "", &now),
    );
    // NB: the claim (a conditional write), then the progress, then the fan-out: a replica
    // that loses the claim sends nothing, and a Running status without progress means
    // nothing was sent (a restart starts it afresh).
    if !claim(ctx, &fc, &status).await? {
        return Ok(Action::requeue(Duration::from_millis(200)));
    }
    store.begin(&progress).await?;
    let origin = origin(&fc);
    event(
        ctx,
        fc.as_ref(),
        EventType::Normal,
        "Started",
        format!(
            "{} {} on {} cluster(s)",
            progress.command.action,
            progress.command.target_text(),
            progress.clusters.len()
        ),
    )
    .await;
    if audit::audited(&progress.command) {
        audit(
            ctx,
            AuditPhase::Started,
            &origin,
            &progress.command,
            &progress.clusters,
            &[],
        );
    }
    info!(command = %origin, clusters = progress.clusters.len(), "run started");
    spawn(
        ctx,
        Run {
            fc: with_status(&fc, status),
            store,
            progress,
            prior: Vec::new(),
            fresh: Vec::new(),
            members: admitted.members,
            fanout: admitted.fanout,
            origin,
        },
    );
    Ok(Action::requeue(RUNNING_RECHECK))
}

/// A refused run: status Rejected with the reason, an Event, an audit record.
async fn reject(ctx: &Context, fc: &FleetCommand, refusal: Refusal, run: &str) -> Result<Action, Error> {
    let mut status = fresh_status(fc, run);
    let mut tally = Tally::default();
    for r in &refusal.results {
        tally.add(r);
    }
    tally.fill(&mut status);
    status.clusters = refusal.results.len() as u64;
    status.phase = Phase::Rejected;
    let now = crate::members::now_rfc3339();
    status.finish_time = Some(now.clone());
    if let Some(s) = &fc.spec.schedule {
        status.next_run = next_tick(s, jiff::Timestamp::now()).map(|t| t.to_string());
    }
    set_condition(
        &mut status.conditions,
        Condition::new("Accepted", false, &refusal.reason, refusal.message.clone(), &now),
    );
    set_condition(
        &mut status.conditions,
        Condition::new("Running", false, "Rejected", "", &now),
    );
    let mut complete = Condition::new("Complete", true, "Rejected", refusal.message.clone(), &now);
    complete.observed_generation = fc.metadata.generation;
    set_condition(&mut status.conditions, complete);
    write_status(ctx, fc, &status).await?;
    event(ctx, fc, EventType::Warning, "Rejected", refusal.message.clone()).await;
    let origin = origin(fc);
    if let Some(command) = &refusal.command {
        let clusters: Vec<String> = refusal.results.iter().map(|r| r.cluster.clone()).collect();
        audit(ctx, AuditPhase::Rejected, &origin, command, &clusters, &refusal.results);
    }
    ctx.metrics
        .command_finished(&format!("{:?}", fc.spec.action).to_lowercase(), "Rejected");
    warn!(command = %origin, reason = %refusal.reason, "rejected: {}", refusal.message);
    Ok(Action::await_change())
}

/// Resume a run this process does not hold: clusters with results keep them; an exec that
/// had started is `Failed` (`HubRestarted`), never run again; the rest run now.
async fn resume(ctx: &Arc<Context>, fc: Arc<FleetCommand>) -> Result<Action, Error> {
    let Some(run) = fc.status.as_ref().and_then(|s| s.start_time.clone()) else {
        return start(ctx, fc).await;
    };
    let store = Store::of(ctx.client.clone(), &fc);
    let Some((progress, prior)) = store.load(&run).await? else {
        // Claimed but no progress written: nothing was sent; start afresh.
        return start(ctx, fc).await;
    };
    let mut status = fc.status.clone().unwrap_or_default();
    status.runner = Some(ctx.config.identity.clone());
    if !claim(ctx, &fc, &status).await? {
        return Ok(Action::requeue(Duration::from_millis(200)));
    }
    let command = progress.command.clone();
    let done: BTreeSet<&str> = prior.iter().map(|r| r.cluster.as_str()).collect();
    let mut fresh = Vec::new();
    let mut members = Vec::new();
    for name in &progress.clusters {
        if done.contains(name.as_str()) {
            continue;
        }
        if progress.started.contains(name) {
            fresh.push(admit::unsent(
                &command,
                name,
                Status::Failed,
                "HubRestarted",
                format!("cluster {name}: the exec had started when the hub stopped; its outcome is unknown and it is not run again"),
            ));
            continue;
        }
        match ctx.registry.get(name) {
            Some(m) => members.push(m),
            None => fresh.push(admit::unsent(
                &command,
                name,
                Status::Failed,
                "ClusterRemoved",
                format!("cluster {name}: left the registry while the command ran"),
            )),
        }
    }
    let namespace = fc.metadata.namespace.clone().unwrap_or_default();
    let fanout = match admit::tenancy(ctx, &namespace).await {
        Ok(t) => admit::engine(ctx, &fc, &t, hooks(ctx)),
        Err(refusal) => {
            for m in members.drain(..) {
                fresh.push(admit::unsent(
                    &command,
                    &m.name,
                    Status::Rejected,
                    &refusal.reason,
                    refusal.message.clone(),
                ));
            }
            admit::engine(
                ctx,
                &fc,
                &admit::Tenancy {
                    policy: ctx.config.default_policy.clone(),
                    origin: String::new(),
                    scope: None,
                },
                hooks(ctx),
            )
        }
    };
    info!(command = %origin(&fc), done = prior.len(), again = members.len(), interrupted = fresh.len(), "resuming run");
    let origin = origin(&fc);
    spawn(
        ctx,
        Run {
            fc: with_status(&fc, status),
            store,
            progress,
            prior,
            fresh,
            members,
            fanout,
            origin,
        },
    );
    Ok(Action::requeue(RUNNING_RECHECK))
}

/// The FleetCommand as its run starts: with the status the run claimed.
fn with_status(fc: &FleetCommand, status: FleetCommandStatus) -> Arc<FleetCommand> {
    Arc::new(FleetCommand {
        status: Some(status),
        ..fc.clone()
    })
}

/// Start a run's task, registered in `ctx.runs` until it ends.
fn spawn(ctx: &Arc<Context>, run: Run) {
    let uid = uid(&run.fc);
    let cancel = CancellationToken::new();
    let (go, ready) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn({
        let (ctx, uid, cancel) = (ctx.clone(), uid.clone(), cancel.clone());
        async move {
            // NB: registered before it runs, so that its removal cannot come first.
            let _ = ready.await;
            run.execute(ctx.clone(), cancel).await;
            ctx.runs.remove(&uid);
        }
    });
    ctx.runs.insert(
        uid,
        RunHandle {
            cancel,
            abort: task.abort_handle(),
        },
    );
    let _ = go.send(());
}

/// A deleted command: cancel its run here and wait for it to record the cancellation.
async fn cleanup(fc: Arc<FleetCommand>, ctx: Arc<Context>) -> Result<Action, Error> {
    let id = uid(&fc);
    if let Some(h) = ctx.runs.get(&id).map(|h| h.cancel.clone()) {
        info!(command = %origin(&fc), "deleted while running; cancelling");
        h.cancel();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while ctx.runs.contains_key(&id) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    } else if fc.status.as_ref().is_some_and(|s| s.phase == Phase::Running) {
        // Deleted while no hub ran it: record what was done.
        let run = fc
            .status
            .as_ref()
            .and_then(|s| s.start_time.clone())
            .unwrap_or_default();
        if let Ok(Some((p, results))) = Store::of(ctx.client.clone(), &fc).load(&run).await {
            audit(
                &ctx,
                AuditPhase::Cancelled,
                &origin(&fc),
                &p.command,
                &p.clusters,
                &results,
            );
        }
    }
    Ok(Action::await_change())
}
