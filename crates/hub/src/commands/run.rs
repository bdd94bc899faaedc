//! One run of a FleetCommand, in a task of its own: the fan-out, its results persisted in
//! batches as they arrive (with the status counts), an exec's start recorded before it
//! starts, and at the end the report, the final status, the Events, the audit record and the
//! metrics. A run resumed after a restart starts from what was persisted.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use futures::StreamExt as _;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use muster_core::command::{Action, Command};
use muster_core::report::compare;
use muster_core::report::normalize::{Normalize, redact_secrets};
use muster_core::report::render::{self, Format};
use muster_core::result::ExecResult;
use muster_fleet::audit::{self, Phase as AuditPhase};
use muster_fleet::fanout::Fanout;
use muster_fleet::hooks::{Opening, StartGate};
use muster_fleet::registry::Member;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::status::{Tally, drifted, set_condition, variants};
use crate::context::Context;
use crate::crd::command::{MAX_LISTED_CLUSTERS, ReportRef};
use crate::crd::{Condition, FleetCommand, FleetCommandStatus, Phase};
use crate::members::now_rfc3339;
use crate::store::{FIELD_MANAGER, Progress, Store, StoreError};

/// Everything a run needs, fresh or resumed.
pub struct Run {
    /// The FleetCommand as it was when the run began.
    pub fc: Arc<FleetCommand>,
    pub store: Store,
    pub progress: Progress,
    /// Results persisted before (a resumed run).
    pub prior: Vec<ExecResult>,
    /// Results known but not yet persisted (an exec the restart interrupted).
    pub fresh: Vec<ExecResult>,
    pub members: Vec<Arc<Member>>,
    pub fanout: Fanout,
    /// `FleetCommand ns/name`.
    pub origin: String,
}

/// Record that an exec starts on a cluster before it starts: the clusters waiting are
/// written together (one ConfigMap write covers every cluster that asked meanwhile).
pub struct ExecGate {
    progress: Arc<tokio::sync::Mutex<Progress>>,
    store: Store,
    asked: Arc<StdMutex<BTreeSet<String>>>,
    state: Arc<crate::context::State>,
}

impl ExecGate {
    #[must_use]
    pub fn new(
        progress: Arc<tokio::sync::Mutex<Progress>>,
        store: Store,
        state: Arc<crate::context::State>,
    ) -> Arc<Self> {
        Arc::new(Self {
            progress,
            store,
            asked: Arc::default(),
            state,
        })
    }
}

impl StartGate for ExecGate {
    fn starting(&self, cluster: &str) -> Opening {
        self.asked.lock().expect("gate lock").insert(cluster.to_string());
        let (cluster, progress, store, asked, state) = (
            cluster.to_string(),
            self.progress.clone(),
            self.store.clone(),
            self.asked.clone(),
            self.state.clone(),
        );
        Box::pin(async move {
            // NB: a replica that no longer leads starts no exec (its runs are being stopped).
            if !state.leading.load(std::sync::atomic::Ordering::Relaxed) {
                std::future::pending::<()>().await;
            }
            let mut p = progress.lock().await;
            if p.started.contains(&cluster) {
                return;
            }
            let mut next = p.clone();
            next.started
                .extend(std::mem::take(&mut *asked.lock().expect("gate lock")));
            // NB: the exec must not start until the hub has recorded that it did: a restarted
            // hub then reports it HubRestarted rather than running it again.
            *p = persist("an exec start", || {
                let (store, next) = (store.clone(), next.clone());
                async move { store.save(&next).await.map(|()| next) }
            })
            .await;
        })
    }
}

/// The status subresource, written by server-side apply (the whole status each time).
///
/// # Errors
/// The hub's answer.
pub async fn write_status(ctx: &Context, fc: &FleetCommand, status: &FleetCommandStatus) -> Result<(), kube::Error> {
    let api: Api<FleetCommand> =
        Api::namespaced(ctx.client.clone(), fc.metadata.namespace.as_deref().unwrap_or_default());
    let patch = json!({"apiVersion": "muster.dev/v1alpha1", "kind": "FleetCommand", "status": status});
    api.patch_status(
        fc.metadata.name.as_deref().unwrap_or_default(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(patch),
    )
    .await
    .map(|_| ())
}

/// Claim a run: write `status` only if the FleetCommand is still at the resourceVersion
/// this replica saw (`false`: another replica or a person changed it first).
///
/// # Errors
/// The hub's answer, but a conflict.
pub async fn claim(ctx: &Context, fc: &FleetCommand, status: &FleetCommandStatus) -> Result<bool, kube::Error> {
    let api: Api<FleetCommand> =
        Api::namespaced(ctx.client.clone(), fc.metadata.namespace.as_deref().unwrap_or_default());
    let patch = json!({"apiVersion": "muster.dev/v1alpha1", "kind": "FleetCommand",
        "metadata": {"resourceVersion": fc.metadata.resource_version}, "status": status});
    match api
        .patch_status(
            fc.metadata.name.as_deref().unwrap_or_default(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(patch),
        )
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Publish an Event on one of the hub's objects (failures are logged, not fatal).
pub async fn event<K: kube::Resource<DynamicType = ()>>(
    ctx: &Context,
    fc: &K,
    type_: EventType,
    reason: &str,
    note: String,
) {
    let ev = Event {
        type_,
        reason: reason.into(),
        note: Some(note.chars().take(1000).collect()),
        action: "Run".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &fc.object_ref(&())).await {
        warn!(error = %e, reason, kind = %K::kind(&()), "publishing an Event failed");
    }
}

/// Append an audit record with the FleetCommand as its origin.
pub fn audit(
    ctx: &Context,
    phase: AuditPhase,
    origin: &str,
    command: &Command,
    clusters: &[String],
    results: &[ExecResult],
) {
    if let Some(log) = &ctx.audit {
        let mut record = log.record(phase, command, clusters, results);
        record.origin = Some(origin.to_string());
        if let Err(e) = log.append(&record) {
            warn!(error = %e, "writing the audit log failed");
        }
    }
}

/// Retry a store write until it lands (the run cannot go on without it); a leadership loss
/// aborts the task meanwhile.
async fn persist<T, F, Fut>(what: &str, mut write: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut delay = Duration::from_millis(100);
    loop {
        match write().await {
            Ok(v) => return v,
            Err(e) => {
                warn!(error = %e, what, "hub write failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// The next tick of a cron schedule after now (UTC), RFC 3339.
#[must_use]
pub fn next_tick(schedule: &str, after: jiff::Timestamp) -> Option<jiff::Timestamp> {
    let cron: croner::Cron = schedule.parse().ok()?;
    let zoned = after.to_zoned(jiff::tz::TimeZone::UTC);
    cron.find_next_occurrence(&zoned, false).ok().map(|z| z.timestamp())
}

impl Run {
    fn base_status(&self) -> FleetCommandStatus {
        let mut s = self.fc.status.clone().unwrap_or_default();
        s.phase = Phase::Running;
        s.observed_generation = self.fc.metadata.generation;
        s.start_time = Some(self.progress.run.clone());
        s.finish_time = None;
        s.clusters = self.progress.clusters.len() as u64;
        s
    }

    /// Run to the end (or until `cancel`: a deleted FleetCommand).
    pub async fn execute(self, ctx: Arc<Context>, cancel: CancellationToken) {
        let command = Arc::new(self.progress.command.clone());
        let key = ctx.config.secret_key.clone();
        let progress = Arc::new(tokio::sync::Mutex::new(self.progress.clone()));
        let mut fanout = self.fanout.clone();
        if command.action == Action::Exec {
            let gate = ExecGate::new(progress.clone(), self.store.clone(), ctx.state.clone());
            fanout = fanout.with_start_gate(gate);
        }
        let mut tally = Tally::default();
        let mut all: Vec<ExecResult> = self.prior.clone();
        for r in self.prior.iter().chain(&self.fresh) {
            tally.add(r);
        }
        let mut pending: Vec<ExecResult> = self.fresh.clone();
        let mut status = self.base_status();
        let stream = fanout.run(command.clone(), self.members.clone(), cancel.clone(), None);
        let mut stream = std::pin::pin!(stream);
        let mut tick = tokio::time::interval(ctx.config.flush_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                r = stream.next() => match r {
                    Some(mut r) => {
                        redact_secrets(&mut r, key.as_ref());
                        tally.add(&r);
                        pending.push(r);
                    }
                    None => break,
                },
                _ = tick.tick() => {
                    if !pending.is_empty() {
                        self.flush(&progress, &mut pending, &mut all).await;
                        tally.fill(&mut status);
                        if let Err(e) = write_status(&ctx, &self.fc, &status).await {
                            warn!(error = %e, "writing a running FleetCommand's status failed");
                        }
                    }
                }
            }
        }
        if cancel.is_cancelled() {
            all.extend(pending);
            let clusters = self.progress.clusters.clone();
            audit(&ctx, AuditPhase::Cancelled, &self.origin, &command, &clusters, &all);
            ctx.metrics.command_finished(&command.action.to_string(), "Cancelled");
            info!(command = %self.origin, "run cancelled");
            return;
        }
        self.flush(&progress, &mut pending, &mut all).await;
        let p = progress.lock().await.clone();
        self.finish(&ctx, &command, p, all, tally, status).await;
    }

    async fn flush(
        &self,
        progress: &tokio::sync::Mutex<Progress>,
        pending: &mut Vec<ExecResult>,
        all: &mut Vec<ExecResult>,
    ) {
        if pending.is_empty() {
            return;
        }
        let mut p = progress.lock().await;
        let (base, batch) = (p.clone(), pending.clone());
        *p = persist("results", || {
            let (mut next, batch, store) = (base.clone(), batch.clone(), self.store.clone());
            async move {
                store.append_results(&mut next, &batch).await?;
                Ok(next)
            }
        })
        .await;
        all.append(pending);
    }

    async fn finish(
        &self,
        ctx: &Context,
        command: &Command,
        progress: Progress,
        mut all: Vec<ExecResult>,
        tally: Tally,
        mut status: FleetCommandStatus,
    ) {
        all.sort_by(|a, b| a.cluster.cmp(&b.cluster));
        let options = compare::Options {
            normalize: Normalize {
                secret_key: ctx.config.secret_key.clone(),
                ..Normalize::default()
            },
            ..compare::Options::default()
        };
        let mut report = compare::build(&all, &options).unwrap_or_else(|_| unreachable_report(command));
        report.namespace = command.namespace.as_ref().map(ToString::to_string);
        let json = render::report(&report, Format::Json, false).unwrap_or_default();
        let run_key = progress.run_key();
        let names = persist("report", || {
            let (store, json, run_key) = (self.store.clone(), json.clone(), run_key.clone());
            async move { store.write_chunks(&format!("report-{run_key}"), json.as_bytes()).await }
        })
        .await;
        let new_ref = ReportRef {
            config_maps: names,
            bytes: json.len() as u64,
            run: progress.run.clone(),
            results: progress.result_chunks.clone(),
        };
        // Reports kept: a scheduled command its last `keepReports`, any other its latest.
        let keep = if self.fc.spec.schedule.is_some() {
            self.fc.spec.keep_reports.unwrap_or(3).max(1) as usize
        } else {
            1
        };
        let mut history: Vec<ReportRef> = status
            .report
            .take()
            .into_iter()
            .chain(status.previous_reports.drain(..))
            .collect();
        history.retain(|r| r.run != new_ref.run);
        let dropped: Vec<ReportRef> = history.split_off(history.len().min(keep - 1));
        for old in &dropped {
            self.store.delete(&old.config_maps).await;
            self.store.delete(&old.results).await;
        }
        status.report = Some(new_ref);
        status.previous_reports = history;
        let phase = tally.phase();
        tally.fill(&mut status);
        status.phase = phase;
        status.finish_time = Some(now_rfc3339());
        status.runs += 1;
        if command.action.is_write() {
            status.variants = None;
        } else {
            status.variants = Some(variants(&report));
        }
        let (ns, name) = (
            self.fc.metadata.namespace.clone().unwrap_or_default(),
            self.fc.metadata.name.clone().unwrap_or_default(),
        );
        if let Some(schedule) = &self.fc.spec.schedule {
            let now_drifted = drifted(&report);
            let before: (Vec<String>, u64) = (std::mem::take(&mut status.drifted), status.drifted_more);
            status.drifted = now_drifted.iter().take(MAX_LISTED_CLUSTERS).cloned().collect();
            status.drifted_more = now_drifted.len().saturating_sub(MAX_LISTED_CLUSTERS) as u64;
            status.next_run = next_tick(schedule, jiff::Timestamp::now()).map(|t| t.to_string());
            ctx.metrics
                .set_drifted(&ns, &name, i64::try_from(now_drifted.len()).unwrap_or(i64::MAX));
            let changed = before != (status.drifted.clone(), status.drifted_more);
            if changed && !now_drifted.is_empty() {
                let list = render::names(&now_drifted.iter().cloned().collect::<Vec<_>>(), 10);
                event(
                    ctx,
                    self.fc.as_ref(),
                    EventType::Warning,
                    "DriftDetected",
                    format!("{} cluster(s) differ from the baseline: {list}", now_drifted.len()),
                )
                .await;
            } else if changed && now_drifted.is_empty() {
                event(
                    ctx,
                    self.fc.as_ref(),
                    EventType::Normal,
                    "DriftResolved",
                    "every cluster agrees with the baseline again".into(),
                )
                .await;
            }
        }
        let summary = format!(
            "{} of {} cluster(s) succeeded{}",
            tally.counts.get("Succeeded").copied().unwrap_or(0),
            status.clusters,
            if tally.not_succeeded.is_empty() {
                String::new()
            } else {
                format!(
                    "; not: {}",
                    tally
                        .not_succeeded
                        .iter()
                        .take(5)
                        .map(|o| format!("{} ({})", o.cluster, o.status))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
        let now = now_rfc3339();
        let mut complete = Condition::new("Complete", true, &format!("{phase:?}"), summary.clone(), &now);
        complete.observed_generation = self.fc.metadata.generation;
        set_condition(&mut status.conditions, complete);
        set_condition(
            &mut status.conditions,
            Condition::new("Running", false, "Finished", "", &now),
        );
        // NB: the final status, then the progress goes: a restart in between finishes again,
        // rewriting the same report.
        loop {
            match write_status(ctx, &self.fc, &status).await {
                Ok(()) => break,
                Err(kube::Error::Api(e)) if e.code == 404 => break,
                Err(e) => {
                    warn!(error = %e, "writing a finished FleetCommand's status failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        self.store.delete(&[self.store.progress_name()]).await;
        let type_ = if phase == Phase::Succeeded {
            EventType::Normal
        } else {
            EventType::Warning
        };
        event(
            ctx,
            self.fc.as_ref(),
            type_,
            "Completed",
            format!("{phase:?}: {summary}"),
        )
        .await;
        if audit::audited(command) {
            audit(
                ctx,
                AuditPhase::Finished,
                &self.origin,
                command,
                &progress.clusters,
                &all,
            );
        }
        ctx.metrics
            .command_finished(&command.action.to_string(), &format!("{phase:?}"));
        info!(command = %self.origin, ?phase, "run finished");
    }
}

/// `compare::build` fails only for an unknown baseline, which the hub never sets.
fn unreachable_report(command: &Command) -> muster_core::report::Report {
    compare::build(&[], &compare::Options::default()).unwrap_or_else(|_| muster_core::report::Report {
        schema_version: muster_core::report::SCHEMA_VERSION,
        action: command.action,
        target: command.target_text(),
        namespace: None,
        summary: muster_core::report::Summary::default(),
        inventory: Vec::new(),
        objects: Vec::new(),
        text: None,
        statuses: std::collections::BTreeMap::new(),
        failed: Vec::new(),
        timings: None,
    })
}
