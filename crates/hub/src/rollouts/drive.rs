//! One revision of a rollout, driven in a task of its own: wave after wave, each cluster
//! recorded as `Applying` in the ledger before its apply is sent, verified by the gates,
//! soaked, and on failure paused, rolled back (in reverse wave order, touching only the
//! clusters that received the revision) or let through. The ledger is committed before
//! every write to a member, so a hub killed at any point resumes without sending a
//! revision twice or skipping a cluster; the status is rebuilt from the ledger.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::EventType;
use muster_core::name::Namespace;
use muster_fleet::fanout::Fanout;
use muster_fleet::registry::health::HealthState;
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::gate::Verdict;
use super::ledger::{self, Entry, Ledger, State};
use super::ops::{On, StepError};
use super::plan::{self, wave_name};
use super::revision::{self, Revision, target_of};
use super::summary::{in_rollback, summarize};
use super::{ABORT_ANNOTATION, APPROVE_ANNOTATION, UNDO_ANNOTATION};
use crate::commands::run::event;
use crate::commands::status::set_condition;
use crate::context::Context;
use crate::crd::Condition;
use crate::crd::rollout::{
    FleetRollout, FleetRolloutSpec, FleetRolloutStatus, OnFailure, RolloutPhase, Unreachable, Wave,
};
use crate::store::{FIELD_MANAGER, Store};

/// How often the loop looks again when nothing finished.
const TICK: Duration = Duration::from_millis(200);
/// How often one cluster's gates are read while it is verified or soaks.
const GATE_POLL: Duration = Duration::from_millis(500);
/// How long a cluster whose write failed transiently (429, 5xx, a timeout) waits before
/// it is tried again.
const RETRY: Duration = Duration::from_secs(2);
/// How often the rollout object is read for pause, approval, undo and abort.
const REFRESH: Duration = Duration::from_millis(300);
/// The default per-cluster progress deadline.
const DEFAULT_DEADLINE_S: u64 = 600;

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

pub(super) fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| String::new(), |t| t.to_string())
}

/// Seconds from the spec as milliseconds (absent: 0; huge: saturated, never a panic).
fn seconds_ms(s: Option<u64>) -> i64 {
    i64::try_from(s.unwrap_or(0).saturating_mul(1000)).unwrap_or(i64::MAX / 2)
}

/// What a finished job tells the loop.
enum Done {
    Applied(Result<usize, StepError>),
    Checked(Verdict, String),
    Reverted(Result<usize, StepError>),
}

/// The revision a rollback restores on one cluster.
#[derive(Clone)]
pub(super) struct Restore {
    /// The previous revision's manifests and hash (`None`: there was none; delete only).
    to: Option<(Arc<Vec<Value>>, String)>,
    /// Objects of the failed revision the previous one does not have.
    added: Arc<Vec<Value>>,
}

/// Everything one revision's task holds.
pub struct Drive {
    pub ctx: Arc<Context>,
    pub api: Api<FleetRollout>,
    pub fr: Arc<FleetRollout>,
    pub spec: FleetRolloutSpec,
    pub revision: Revision,
    /// The revision's manifests as applied (annotated).
    pub manifests: Arc<Vec<Value>>,
    pub store: Store,
    pub ledger: Ledger,
    pub waves: Vec<Wave>,
    pub fanout: Fanout,
    pub namespace: Namespace,
    /// `namespace/name`.
    pub key: String,
    /// Status carried over (stable revision, conditions).
    pub status: FleetRolloutStatus,
    pub(super) restores: HashMap<u32, Restore>,
    pub(super) aborted: bool,
    /// The ledger changed outside [`Drive::record`] since the loop last looked.
    pub(super) touched: bool,
}

impl Drive {
    fn uid(&self) -> String {
        self.fr.metadata.uid.clone().unwrap_or_default()
    }

    fn on(&self, cluster: &str, cancel: &CancellationToken) -> Option<On> {
        let member = self.ctx.registry.get(cluster)?;
        Some(On {
            fanout: self.fanout.clone(),
            member,
            id: format!("{}-r{}", self.uid(), self.revision.number),
            namespace: self.namespace.clone(),
            cancel: cancel.clone(),
            audit: self
                .ctx
                .audit
                .clone()
                .map(|log| (log, format!("FleetRollout {}", self.key))),
        })
    }

    fn deadline_ms(&self) -> i64 {
        let s = self
            .spec
            .strategy
            .progress_deadline_seconds
            .unwrap_or(DEFAULT_DEADLINE_S)
            .clamp(1, 7 * 24 * 3600);
        i64::try_from(s * 1000).unwrap_or(i64::MAX)
    }

    fn wave(&self, w: u32) -> &Wave {
        let i = (w as usize).min(self.waves.len().saturating_sub(1));
        &self.waves[i]
    }

    fn in_wave(&self, w: u32) -> impl Iterator<Item = (&String, &Entry)> {
        self.ledger.clusters.iter().filter(move |(_, e)| e.wave == w)
    }

    fn count(&self, w: u32, states: &[State]) -> usize {
        self.in_wave(w).filter(|(_, e)| states.contains(&e.state)).count()
    }

    fn in_flight_all(&self) -> usize {
        self.ledger
            .clusters
            .values()
            .filter(|e| matches!(e.state, State::Applying | State::Applied))
            .count()
    }

    fn limit(&self, w: u32) -> usize {
        let size = self.in_wave(w).count();
        self.wave(w)
            .max_concurrency
            .as_ref()
            .and_then(|c| c.of(size).ok())
            .unwrap_or(usize::MAX)
    }

    fn fleet_limit(&self) -> usize {
        self.spec
            .strategy
            .max_in_flight
            .as_ref()
            .and_then(|c| c.of(self.ledger.clusters.len()).ok())
            .unwrap_or(usize::MAX)
    }

    /// The first wave not finished (`None`: every wave is).
    fn current(&self) -> Option<u32> {
        (0..self.waves.len() as u32).find(|w| self.ledger.waves.get(*w as usize).is_none_or(|m| m.finished.is_none()))
    }

    fn approved(&self, w: u32) -> bool {
        let want = format!("{}/{}", self.revision.number, w + 1);
        self.fr
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(APPROVE_ANNOTATION))
            .is_some_and(|v| v.split(',').any(|x| x.trim() == want))
    }

    fn annotation_is_this_revision(&self, key: &str) -> bool {
        self.fr
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .is_some_and(|v| v.trim() == self.revision.number.to_string())
    }

    /// Re-read the rollout; `false`: it is gone or its revision changed (stop).
    async fn refresh(&mut self) -> bool {
        match self
            .api
            .get_opt(self.fr.metadata.name.as_deref().unwrap_or_default())
            .await
        {
            Ok(Some(fr)) if fr.metadata.uid == self.fr.metadata.uid => {
                if fr.metadata.generation != self.fr.metadata.generation {
                    let mut same = fr.spec.clone();
                    same.paused = self.spec.paused;
                    same.strategy.clone_from(&self.spec.strategy);
                    if same != self.spec {
                        // NB: the resources or the selection changed: a new revision; the
                        // reconciler starts it from this ledger.
                        return false;
                    }
                    self.spec = fr.spec.clone();
                }
                self.fr = Arc::new(fr);
                true
            }
            Ok(_) => false,
            Err(e) => {
                warn!(rollout = %self.key, error = %e, "reading the rollout failed; keeping the last view");
                true
            }
        }
    }

    async fn save(&mut self) {
        let mut delay = Duration::from_millis(100);
        loop {
            match ledger::save(&self.store, &mut self.ledger).await {
                Ok(()) => return,
                Err(e) => {
                    warn!(rollout = %self.key, error = %e, "committing the ledger failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    async fn restore_for(&mut self, previous: u32) -> Restore {
        if let Some(r) = self.restores.get(&previous) {
            return r.clone();
        }
        let prior = if previous == 0 {
            None
        } else {
            match revision::get(&self.store, previous).await {
                Ok(Some(r)) => Some(r),
                Ok(None) => None,
                Err(e) => {
                    warn!(rollout = %self.key, error = %e, previous, "reading a revision snapshot failed");
                    None
                }
            }
        };
        let key_of = |m: &Value| target_of(m).map(|(t, ns)| (t, ns.unwrap_or_default()));
        let kept: HashSet<(String, String)> = prior
            .as_ref()
            .map(|r| r.manifests.iter().filter_map(key_of).collect())
            .unwrap_or_default();
        let added: Vec<Value> = self
            .manifests
            .iter()
            .filter(|m| key_of(m).is_none_or(|k| !kept.contains(&k)))
            .cloned()
            .collect();
        let r = Restore {
            to: prior.map(|r| (Arc::new(revision::annotated(&r.manifests, &r.hash)), r.hash)),
            added: Arc::new(added),
        };
        self.restores.insert(previous, r.clone());
        r
    }

    /// Run until the revision settles, is replaced, or `cancel` (leadership lost, deleted).
    pub async fn execute(mut self, cancel: CancellationToken) {
        let mut jobs: JoinSet<(String, Kind, Done)> = JoinSet::new();
        let mut busy: HashSet<String> = HashSet::new();
        let mut checked: HashMap<String, Instant> = HashMap::new();
        let mut last_flush = Instant::now();
        let mut last_refresh = Instant::now() - REFRESH;
        let mut written: Option<FleetRolloutStatus> = None;
        let mut last_write = Instant::now() - Duration::from_secs(60);
        let mut dirty = false;
        info!(rollout = %self.key, revision = self.revision.number, clusters = self.ledger.clusters.len(), "rollout running");
        loop {
            if cancel.is_cancelled() {
                jobs.abort_all();
                return;
            }
            if last_refresh.elapsed() >= REFRESH {
                last_refresh = Instant::now();
                if !self.refresh().await {
                    jobs.abort_all();
                    if dirty {
                        self.save().await;
                    }
                    info!(rollout = %self.key, revision = self.revision.number, "rollout replaced or deleted; stopping");
                    return;
                }
            }
            while let Some(Ok((cluster, kind, done))) = jobs.try_join_next() {
                busy.remove(&cluster);
                checked.insert(cluster.clone(), Instant::now());
                dirty |= self.record(&cluster, kind, done);
            }
            dirty |= self.controls().await;
            let starts = self.next_work(&busy, &checked).await;
            dirty |= std::mem::take(&mut self.touched);
            let writes = starts.iter().any(|(_, k)| k.writes());
            if writes || (dirty && last_flush.elapsed() >= self.ctx.config.flush_interval) {
                // NB: committed before any write is sent: a restart finds these clusters
                // `Applying`/`RollingBack` and reads them back before sending anything.
                self.save().await;
                dirty = false;
                last_flush = Instant::now();
            }
            // NB: at most `concurrency` members are worked on at once (open connections and
            // memory bounded whatever the wave's size); a cluster marked Applying but not
            // started now is picked up on a later turn (reading back before it writes).
            let free = self.ctx.config.settings.concurrency.max(1).saturating_sub(jobs.len());
            for (cluster, kind) in starts.into_iter().take(free) {
                if let Some(job) = self.job(&cluster, kind, &cancel).await {
                    busy.insert(cluster.clone());
                    jobs.spawn(async move { (cluster, kind, job.await) });
                } else {
                    let state = if self.ledger.rollback {
                        State::RollbackFailed
                    } else {
                        State::Failed
                    };
                    self.set(&cluster, state, "the cluster left the registry");
                    dirty = true;
                }
            }
            let status = self.status();
            let settled = status.phase.is_settled() && jobs.is_empty();
            let phase_changed = written.as_ref().is_none_or(|w| w.phase != status.phase);
            if written.as_ref() != Some(&status)
                && (settled || phase_changed || last_write.elapsed() >= self.ctx.config.flush_interval)
            {
                self.announce(written.as_ref(), &status).await;
                self.write_status(&status).await;
                written = Some(status.clone());
                last_write = Instant::now();
            }
            if settled {
                self.save().await;
                self.ctx.metrics.rollout_finished(&format!("{:?}", status.phase));
                info!(rollout = %self.key, revision = self.revision.number, phase = ?status.phase, "rollout settled");
                return;
            }
            tokio::select! {
                Some(r) = jobs.join_next(), if !jobs.is_empty() => {
                    if let Ok((cluster, kind, done)) = r {
                        busy.remove(&cluster);
                        checked.insert(cluster.clone(), Instant::now());
                        dirty |= self.record(&cluster, kind, done);
                    }
                }
                () = tokio::time::sleep(TICK) => {}
                () = cancel.cancelled() => {}
            }
        }
    }

    /// Fold a finished job into the ledger; whether it changed.
    fn record(&mut self, cluster: &str, kind: Kind, done: Done) -> bool {
        let now = now_ms();
        let deadline = self.deadline_ms();
        let number = self.revision.number;
        let strategy_unreachable = self.spec.strategy.unreachable;
        let rolling = self.ledger.rollback;
        let wave_finished = self
            .ledger
            .clusters
            .get(cluster)
            .and_then(|e| self.ledger.waves.get(e.wave as usize))
            .is_some_and(|m| m.finished.is_some());
        let Some(e) = self.ledger.clusters.get_mut(cluster) else {
            return false;
        };
        let before = e.clone();
        if rolling && matches!(kind, Kind::Apply | Kind::Verify) {
            // NB: a forward step that finished after the rollback began: an apply that
            // landed must be undone; a verdict no longer matters.
            if let (Kind::Apply, Done::Applied(Ok(_))) = (kind, &done)
                && e.state == State::RollingBack
            {
                e.revision = number;
            }
            return *e != before;
        }
        match done {
            Done::Applied(Ok(_)) => {
                e.state = State::Applied;
                e.revision = number;
                e.applied = Some(now);
                e.message = "applied; verifying".into();
            }
            Done::Applied(Err(err)) if err.unreachable && strategy_unreachable == Unreachable::Defer => {
                e.state = State::Deferred;
                e.message = format!("unreachable: {}", err.message);
            }
            Done::Applied(Err(err)) if err.unreachable && strategy_unreachable == Unreachable::Skip => {
                e.state = State::Skipped;
                e.message = format!("unreachable: {}", err.message);
            }
            Done::Applied(Err(err)) if err.unreachable => {
                // Block: it stays in its wave and is tried again.
                e.state = State::Pending;
                e.message = format!("unreachable (the wave waits): {}", err.message);
            }
            Done::Applied(Err(err)) if err.transient && e.first_try.is_none_or(|t| now - t <= deadline) => {
                // NB: tried again after RETRY; a wave already finished keeps it deferred.
                e.state = if wave_finished { State::Deferred } else { State::Pending };
                e.message = format!("retrying: {}", err.message);
            }
            Done::Applied(Err(err)) if err.transient => {
                e.state = State::Failed;
                e.message = format!("ProgressDeadlineExceeded: the apply kept failing: {}", err.message);
            }
            Done::Applied(Err(err)) => {
                e.state = State::Failed;
                e.message = format!("apply failed: {}", err.message);
            }
            Done::Checked(verdict, generations) => {
                if e.generations.is_empty() {
                    e.generations = generations;
                }
                let verifying_rollback = e.state == State::RollingBack;
                match verdict {
                    Verdict::Pass if verifying_rollback => {
                        e.state = State::RolledBack;
                        e.message.clear();
                    }
                    Verdict::Pass => {
                        if e.passed.is_none() {
                            e.passed = Some(now);
                        }
                        e.state = State::Passed;
                        e.message.clear();
                    }
                    Verdict::Fail(m) if verifying_rollback => {
                        e.state = State::RollbackFailed;
                        e.message = m;
                    }
                    Verdict::Fail(m) => {
                        e.state = State::Failed;
                        e.passed = None;
                        e.message = m;
                    }
                    Verdict::Wait(m) => {
                        let expired = e.applied.is_some_and(|a| now - a > deadline);
                        if expired {
                            e.state = if verifying_rollback {
                                State::RollbackFailed
                            } else {
                                State::Failed
                            };
                            e.message = format!("ProgressDeadlineExceeded: {m}");
                        } else {
                            if e.state == State::Passed {
                                // NB: unhealthy while soaking: soak starts again when it passes.
                                e.state = State::Applied;
                                e.passed = None;
                            }
                            e.message = m;
                        }
                    }
                }
            }
            Done::Reverted(Ok(_)) => {
                e.revision = e.previous;
                e.applied = Some(now);
                e.passed = None;
                e.message = "previous revision restored; verifying".into();
            }
            Done::Reverted(Err(err))
                if (err.unreachable || err.transient) && e.first_try.is_none_or(|t| now - t <= deadline) =>
            {
                e.message = format!("retrying: rollback waits for the cluster: {}", err.message);
            }
            Done::Reverted(Err(err)) => {
                e.state = State::RollbackFailed;
                e.message = format!("rollback failed: {}", err.message);
            }
        }
        *e != before
    }

    /// Undo and abort asked for on the object; whether the ledger changed.
    async fn controls(&mut self) -> bool {
        if !self.ledger.rollback && self.annotation_is_this_revision(UNDO_ANNOTATION) {
            self.start_rollback("muster rollout undo").await;
            return true;
        }
        if !self.aborted && self.annotation_is_this_revision(ABORT_ANNOTATION) {
            self.aborted = true;
            event(
                &self.ctx,
                self.fr.as_ref(),
                EventType::Warning,
                "Aborted",
                format!(
                    "revision {} aborted: no further clusters receive it",
                    self.revision.number
                ),
            )
            .await;
        }
        false
    }

    async fn start_rollback(&mut self, why: &str) {
        self.ledger.rollback = true;
        self.ledger.rollback_reason = why.to_string();
        self.mark_reached();
        let reached = self.ledger.clusters.values().filter(|e| in_rollback(e)).count();
        event(
            &self.ctx,
            self.fr.as_ref(),
            EventType::Warning,
            "RollingBack",
            format!(
                "revision {} is rolled back on {reached} cluster(s) that received it: {why}",
                self.revision.number
            ),
        )
        .await;
        warn!(rollout = %self.key, revision = self.revision.number, reached, why, "rolling back");
    }

    /// Whether a cluster received (or may have received) the revision: a failed one too
    /// (its apply may have landed in part; restoring reads back before it writes).
    fn reached(e: &Entry) -> bool {
        matches!(
            e.state,
            State::Applying | State::Applied | State::Passed | State::Failed
        )
    }

    /// What to start now.
    async fn next_work(&mut self, busy: &HashSet<String>, checked: &HashMap<String, Instant>) -> Vec<(String, Kind)> {
        let now = now_ms();
        let due = |c: &str| !busy.contains(c) && checked.get(c).is_none_or(|t| t.elapsed() >= GATE_POLL);
        if self.ledger.rollback {
            return self.rollback_work(busy, checked, &due);
        }
        let mut out = Vec::new();
        // Verify what was applied, and what soaks in a wave not finished yet.
        let current = self.current();
        for (name, e) in &self.ledger.clusters {
            let soaking = e.state == State::Passed
                && self
                    .ledger
                    .waves
                    .get(e.wave as usize)
                    .is_some_and(|m| m.finished.is_none());
            if (e.state == State::Applied || soaking) && due(name) {
                out.push((name.clone(), Kind::Verify));
            }
            if e.state == State::Applying && !busy.contains(name) {
                // A restart found it mid-apply: read back and send what did not land.
                out.push((name.clone(), Kind::Apply));
            }
        }
        if self.aborted {
            return out;
        }
        // Failures over the wave's budget.
        if let Some(w) = current {
            let failed = self.count(w, &[State::Failed]) as u32;
            let budget = self.wave(w).max_failures.unwrap_or(0) + self.ledger.waves[w as usize].tolerated;
            if failed > budget {
                match self.spec.strategy.on_failure {
                    OnFailure::Continue => {}
                    OnFailure::Rollback => {
                        let first = self
                            .in_wave(w)
                            .find(|(_, e)| e.state == State::Failed)
                            .map(|(n, e)| format!("; {n}: {}", e.message.chars().take(300).collect::<String>()))
                            .unwrap_or_default();
                        let why = format!(
                            "{failed} cluster(s) failed in {} (maxFailures {}){first}",
                            wave_name(self.wave(w), w as usize),
                            budget
                        );
                        self.start_rollback(&why).await;
                        return Vec::new();
                    }
                    OnFailure::Pause => {
                        self.ledger.waves[w as usize].tolerated += failed - budget;
                        self.touched = true;
                        self.pause_for_failure(w, failed).await;
                        return out;
                    }
                }
            }
        }
        if self.spec.paused {
            return out;
        }
        let busy_or_started: HashSet<String> = out.iter().map(|(c, _)| c.clone()).collect();
        let mut room = self.fleet_limit().saturating_sub(self.in_flight_all());
        let mut starts: Vec<String> = Vec::new();
        match current {
            Some(w) => {
                if self.ledger.waves[w as usize].started.is_none() {
                    let wave = self.wave(w).clone();
                    if wave.approval && !self.approved(w) {
                        return out;
                    }
                    let previous_done = w.checked_sub(1).and_then(|p| self.ledger.waves[p as usize].finished);
                    let delay = seconds_ms(self.spec.strategy.wave_delay_seconds);
                    if previous_done.is_some_and(|t| now < t + delay) {
                        return out;
                    }
                    self.ledger.waves[w as usize].started = Some(now);
                    self.touched = true;
                    let name = wave_name(&wave, w as usize);
                    let n = self.in_wave(w).count();
                    event(
                        &self.ctx,
                        self.fr.as_ref(),
                        EventType::Normal,
                        "WaveStarted",
                        format!("revision {}: {name} started on {n} cluster(s)", self.revision.number),
                    )
                    .await;
                }
                let in_flight = self.count(w, &[State::Applying, State::Applied]);
                room = room.min(self.limit(w).saturating_sub(in_flight));
                let pending: Vec<String> = self
                    .in_wave(w)
                    .filter(|(n, e)| e.state == State::Pending && !busy.contains(*n) && retry_due(checked, n, e))
                    .map(|(n, _)| n.clone())
                    .collect();
                self.take_reachable(pending, &mut room, &mut starts, true);
                // The wave is finished when nothing is in flight and every passed cluster soaked.
                let soak = seconds_ms(self.wave(w).soak_seconds);
                let open = self.count(w, &[State::Pending, State::Applying, State::Applied]);
                let soaked = self
                    .in_wave(w)
                    .filter(|(_, e)| e.state == State::Passed)
                    .all(|(_, e)| e.passed.is_some_and(|p| now >= p + soak));
                if open == 0 && soaked && starts.is_empty() {
                    self.ledger.waves[w as usize].finished = Some(now);
                    self.touched = true;
                    let name = wave_name(self.wave(w), w as usize);
                    let (passed, failed, deferred) = (
                        self.count(w, &[State::Passed]),
                        self.count(w, &[State::Failed]),
                        self.count(w, &[State::Deferred, State::Skipped]),
                    );
                    event(
                        &self.ctx,
                        self.fr.as_ref(),
                        EventType::Normal,
                        "WaveCompleted",
                        format!(
                            "revision {}: {name} completed: {passed} passed, {failed} failed, {deferred} deferred or skipped",
                            self.revision.number
                        ),
                    )
                    .await;
                }
            }
            None => {
                // Every wave is done: deferred clusters go now, when they are healthy.
                let deferred: Vec<String> = self
                    .ledger
                    .clusters
                    .iter()
                    .filter(|(n, e)| e.state == State::Deferred && !busy.contains(*n) && retry_due(checked, n, e))
                    .map(|(n, _)| n.clone())
                    .collect();
                self.take_reachable(deferred, &mut room, &mut starts, false);
            }
        }
        for name in starts {
            if busy_or_started.contains(&name) {
                continue;
            }
            if let Some(e) = self.ledger.clusters.get_mut(&name) {
                e.state = State::Applying;
                e.message = "applying".into();
                e.first_try.get_or_insert(now);
            }
            out.push((name, Kind::Apply));
        }
        out
    }

    /// Of `candidates`, those reachable now go to `starts` while there is `room`; one gone
    /// from the registry fails; an unreachable one meets `spec.strategy.unreachable` when
    /// `first_turn` (on a later turn it simply waits).
    fn take_reachable(
        &mut self,
        candidates: Vec<String>,
        room: &mut usize,
        starts: &mut Vec<String>,
        first_turn: bool,
    ) {
        for name in candidates {
            if *room == 0 {
                break;
            }
            match self.reachable(&name) {
                Reach::Yes => {
                    starts.push(name);
                    *room -= 1;
                }
                Reach::Gone => self.set(&name, State::Failed, "the cluster left the registry"),
                Reach::No(_) if !first_turn => {}
                Reach::No(why) => match self.spec.strategy.unreachable {
                    Unreachable::Defer => self.set(&name, State::Deferred, &format!("deferred: {why}")),
                    Unreachable::Skip => self.set(&name, State::Skipped, &format!("skipped: {why}")),
                    Unreachable::Block => self.set(&name, State::Pending, &format!("the wave waits: {why}")),
                },
            }
        }
    }

    fn set(&mut self, cluster: &str, state: State, message: &str) {
        self.touched = true;
        if let Some(e) = self.ledger.clusters.get_mut(cluster) {
            e.state = state;
            message.clone_into(&mut e.message);
        }
    }

    fn reachable(&self, cluster: &str) -> Reach {
        match self.ctx.registry.get(cluster) {
            None => Reach::Gone,
            Some(m) if m.invalid.is_some() => Reach::No("its kubeconfig is invalid".into()),
            Some(m) => {
                let h = m.health();
                if h.state == HealthState::Unhealthy {
                    Reach::No(h.last_error.unwrap_or_else(|| "unhealthy".into()))
                } else {
                    Reach::Yes
                }
            }
        }
    }

    async fn pause_for_failure(&mut self, w: u32, failed: u32) {
        let name = wave_name(self.wave(w), w as usize);
        let patch = json!({"spec": {"paused": true}});
        if let Err(e) = self
            .api
            .patch(
                self.fr.metadata.name.as_deref().unwrap_or_default(),
                &PatchParams::default(),
                &Patch::Merge(patch),
            )
            .await
        {
            warn!(rollout = %self.key, error = %e, "pausing the rollout failed");
        }
        self.spec.paused = true;
        event(
            &self.ctx,
            self.fr.as_ref(),
            EventType::Warning,
            "Paused",
            format!(
                "revision {}: {failed} cluster(s) failed in {name}; paused (resume to go on, undo to roll back)",
                self.revision.number
            ),
        )
        .await;
    }

    /// Mark every cluster that received the revision as rolling back (idempotent).
    fn mark_reached(&mut self) {
        let number = self.revision.number;
        for e in self.ledger.clusters.values_mut() {
            if !Self::reached(e) {
                continue;
            }
            self.touched = true;
            if e.previous == number {
                // It held this very revision before: nothing to restore.
                e.state = State::RolledBack;
                e.message = "held this revision before it began".into();
                continue;
            }
            e.state = State::RollingBack;
            e.revision = number;
            e.message = "waiting to roll back".into();
            e.first_try = None;
        }
    }

    fn rollback_work(
        &mut self,
        busy: &HashSet<String>,
        checked: &HashMap<String, Instant>,
        due: &dyn Fn(&str) -> bool,
    ) -> Vec<(String, Kind)> {
        self.mark_reached();
        let number = self.revision.number;
        let mut out = Vec::new();
        // Verifying: restored already (revision back to previous).
        for (n, e) in &self.ledger.clusters {
            if e.state == State::RollingBack && e.revision == e.previous && due(n) {
                out.push((n.clone(), Kind::VerifyRestore));
            }
        }
        // To restore, highest wave first: a wave starts when the later ones are restored.
        let waiting: Vec<(u32, String)> = self
            .ledger
            .clusters
            .iter()
            .filter(|(_, e)| e.state == State::RollingBack && e.revision == number)
            .map(|(n, e)| (e.wave, n.clone()))
            .collect();
        let Some(top) = waiting
            .iter()
            .filter(|(_, n)| matches!(self.reachable(n), Reach::Yes))
            .map(|(w, _)| *w)
            .max()
        else {
            return out;
        };
        let mut room = self
            .limit(top)
            .saturating_sub(waiting.iter().filter(|(w, n)| *w == top && busy.contains(n)).count());
        let now = now_ms();
        for (w, n) in waiting {
            if w != top || busy.contains(&n) || room == 0 {
                continue;
            }
            let due = self.ledger.clusters.get(&n).is_some_and(|e| retry_due(checked, &n, e));
            if due && matches!(self.reachable(&n), Reach::Yes) {
                if let Some(e) = self.ledger.clusters.get_mut(&n) {
                    e.first_try.get_or_insert(now);
                }
                out.push((n, Kind::Revert));
                room -= 1;
            }
        }
        out
    }

    /// The future of one job, or `None` when the member is gone.
    async fn job(
        &mut self,
        cluster: &str,
        kind: Kind,
        cancel: &CancellationToken,
    ) -> Option<std::pin::Pin<Box<dyn Future<Output = Done> + Send>>> {
        let on = self.on(cluster, cancel)?;
        let entry = self.ledger.clusters.get(cluster)?.clone();
        let key = self.key.clone();
        Some(match kind {
            Kind::Apply => {
                let (manifests, hash) = (self.manifests.clone(), self.revision.hash.clone());
                Box::pin(async move { Done::Applied(on.apply_missing(&manifests, &hash, &key).await) })
            }
            Kind::VerifyRestore => {
                let restore = self.restore_for(entry.previous).await;
                Box::pin(async move {
                    match &restore.to {
                        Some((manifests, hash)) => {
                            let (v, g) = on.verify(manifests, hash, &[]).await;
                            Done::Checked(v, g)
                        }
                        None => Done::Checked(Verdict::Pass, String::new()),
                    }
                })
            }
            Kind::Verify => {
                let (manifests, hash, gates) = (
                    self.manifests.clone(),
                    self.revision.hash.clone(),
                    self.spec.strategy.gates.clone(),
                );
                Box::pin(async move {
                    let (v, g) = on.verify(&manifests, &hash, &gates).await;
                    Done::Checked(v, g)
                })
            }
            Kind::Revert => {
                let restore = self.restore_for(entry.previous).await;
                Box::pin(async move {
                    let mut sent = 0;
                    if let Some((manifests, hash)) = &restore.to {
                        match on.apply_missing(manifests, hash, &key).await {
                            Ok(n) => sent += n,
                            Err(e) => return Done::Reverted(Err(e)),
                        }
                    }
                    Done::Reverted(on.delete_created(&restore.added, &key).await.map(|n| n + sent))
                })
            }
        })
    }

    /// Where the revision stands.
    fn phase(&self) -> (RolloutPhase, String) {
        let states = || self.ledger.clusters.values().map(|e| e.state);
        if self.ledger.rollback {
            if states().any(|s| s == State::RollingBack) {
                return (RolloutPhase::RollingBack, self.ledger.rollback_reason.clone());
            }
            if states().any(|s| s == State::RollbackFailed) {
                return (
                    RolloutPhase::Failed,
                    format!("rolling back failed on some clusters ({})", self.ledger.rollback_reason),
                );
            }
            return (RolloutPhase::RolledBack, self.ledger.rollback_reason.clone());
        }
        if self.aborted {
            return (RolloutPhase::Aborted, "muster rollout abort".into());
        }
        let open = states().any(|s| matches!(s, State::Pending | State::Applying | State::Applied | State::Deferred));
        match self.current() {
            None if !open => {
                let failed = states().filter(|s| *s == State::Failed).count();
                if failed == 0 {
                    (RolloutPhase::Succeeded, String::new())
                } else {
                    (RolloutPhase::Failed, format!("{failed} cluster(s) failed"))
                }
            }
            Some(w) if self.spec.paused => {
                let waiting = self.ledger.waves[w as usize].started.is_none();
                let why = if waiting && self.wave(w).approval && self.approved(w) {
                    format!(
                        "spec.paused is true; {} is approved and starts on resume",
                        wave_name(self.wave(w), w as usize)
                    )
                } else {
                    "spec.paused is true".into()
                };
                (RolloutPhase::Paused, why)
            }
            _ if self.spec.paused => (RolloutPhase::Paused, "spec.paused is true".into()),
            Some(w)
                if self.ledger.waves[w as usize].started.is_none() && self.wave(w).approval && !self.approved(w) =>
            {
                (
                    RolloutPhase::WaitingForApproval,
                    format!(
                        "{} waits for: muster rollout approve {}",
                        wave_name(self.wave(w), w as usize),
                        self.fr.metadata.name.as_deref().unwrap_or_default()
                    ),
                )
            }
            _ => (RolloutPhase::Progressing, String::new()),
        }
    }

    /// The status the ledger adds up to (kept, so conditions keep their transition times).
    fn status(&mut self) -> FleetRolloutStatus {
        let (phase, why) = self.phase();
        let mut s = self.status.clone();
        s.phase = phase;
        s.revision = self.revision.number;
        s.revision_hash.clone_from(&self.revision.hash);
        s.total = self.ledger.clusters.len() as u64;
        s.observed_generation = self.fr.metadata.generation;
        s.runner = Some(self.ctx.config.identity.clone());
        let number = self.revision.number;
        let current = self.current();
        let n = self.waves.len();
        s.current_wave = current.map_or(n as u32, |w| w + 1);
        s.wave = match current {
            Some(w) => format!("{}/{n} ({})", w + 1, wave_name(self.wave(w), w as usize)),
            None => format!("{n}/{n}"),
        };
        let sum = summarize(&self.ledger, &self.waves, number);
        s.updated = sum.updated;
        s.waves = sum.waves;
        s.not_ready = sum.not_ready;
        s.not_ready_more = sum.not_ready_more;
        let started = self.ledger.waves.first().and_then(|m| m.started).map(rfc3339);
        s.start_time = started.or(s.start_time);
        if phase.is_settled() {
            if s.finish_time.is_none() {
                s.finish_time = Some(crate::members::now_rfc3339());
            }
            if phase == RolloutPhase::Succeeded {
                s.stable_revision = Some(number);
            }
            if phase == RolloutPhase::RolledBack && s.stable_revision == Some(number) {
                // NB: undone after it completed: what the clusters went back to is stable.
                let mut back: BTreeMap<u32, usize> = BTreeMap::new();
                for e in self.ledger.clusters.values().filter(|e| e.state == State::RolledBack) {
                    *back.entry(e.previous).or_default() += 1;
                }
                s.stable_revision = back
                    .into_iter()
                    .max_by_key(|(_, n)| *n)
                    .map(|(r, _)| r)
                    .filter(|r| *r != 0);
            }
        } else {
            s.finish_time = None;
        }
        let at = crate::members::now_rfc3339();
        let reason = format!("{phase:?}");
        set_condition(
            &mut s.conditions,
            Condition::new("Progressing", !phase.is_settled(), &reason, why.clone(), &at),
        );
        set_condition(
            &mut s.conditions,
            Condition::new(
                "Complete",
                phase == RolloutPhase::Succeeded,
                &reason,
                format!("{} of {} cluster(s) at revision {number}", s.updated, s.total),
                &at,
            ),
        );
        set_condition(
            &mut s.conditions,
            Condition::new("Paused", phase == RolloutPhase::Paused, &reason, why, &at),
        );
        self.status = s.clone();
        s
    }

    async fn write_status(&self, status: &FleetRolloutStatus) {
        let patch = json!({"apiVersion": "muster.dev/v1alpha1", "kind": "FleetRollout", "status": status});
        if let Err(e) = self
            .api
            .patch_status(
                self.fr.metadata.name.as_deref().unwrap_or_default(),
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(patch),
            )
            .await
        {
            warn!(rollout = %self.key, error = %e, "writing the rollout's status failed");
        }
    }

    /// Events for phase changes.
    async fn announce(&self, before: Option<&FleetRolloutStatus>, now: &FleetRolloutStatus) {
        if before.is_some_and(|b| b.phase == now.phase) {
            return;
        }
        let (type_, reason) = match now.phase {
            RolloutPhase::Succeeded => (EventType::Normal, "Succeeded"),
            RolloutPhase::RolledBack => (EventType::Warning, "RolledBack"),
            RolloutPhase::Failed => (EventType::Warning, "Failed"),
            RolloutPhase::WaitingForApproval => (EventType::Normal, "WaitingForApproval"),
            _ => return,
        };
        event(
            &self.ctx,
            self.fr.as_ref(),
            type_,
            reason,
            format!(
                "revision {}: {} of {} cluster(s) updated",
                now.revision, now.updated, now.total
            ),
        )
        .await;
    }
}

/// Whether a cluster whose last write failed (transiently, or unreachable) may be tried
/// again: [`RETRY`] after its last attempt.
fn retry_due(checked: &HashMap<String, Instant>, name: &str, e: &Entry) -> bool {
    let failed_before = e.message.starts_with("retrying") || e.message.starts_with("unreachable");
    !failed_before || checked.get(name).is_none_or(|t| t.elapsed() >= RETRY)
}

/// Whether a cluster can be reached now.
enum Reach {
    Yes,
    No(String),
    Gone,
}

/// A job's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Apply,
    Verify,
    Revert,
    VerifyRestore,
}

impl Kind {
    fn writes(self) -> bool {
        matches!(self, Self::Apply | Self::Revert)
    }
}

/// The ledger of a new revision: each cluster in its planned wave, with the revision it
/// holds from the last ledger (0 when none of this rollout's).
#[must_use]
pub fn fresh_ledger(revision: &Revision, plan: &[Vec<String>], old: Option<&Ledger>) -> Ledger {
    let mut clusters = BTreeMap::new();
    for (w, names) in plan.iter().enumerate() {
        for name in names {
            let previous = old.and_then(|l| l.clusters.get(name)).map_or(0, |e| match e.state {
                // NB: mid-apply when replaced: what it holds is unknown; the new revision
                // overwrites it, and a rollback restores what it held before.
                State::Applying | State::RollingBack => e.previous,
                _ => e.revision,
            });
            clusters.insert(name.clone(), Entry::new(w as u32, previous));
        }
    }
    Ledger {
        revision: revision.number,
        hash: revision.hash.clone(),
        waves: vec![ledger::WaveMark::default(); plan.len()],
        clusters,
        rollback: false,
        rollback_reason: String::new(),
        commits: old.map_or(0, |l| l.commits),
    }
}

/// The plan's names, for the Started Event.
#[must_use]
pub fn describe(waves: &[Wave], plan: &[Vec<String>]) -> String {
    plan.iter()
        .enumerate()
        .map(|(i, p)| format!("{} {}", plan::wave_name(&waves[i.min(waves.len() - 1)], i), p.len()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn spec_seconds_never_overflow() {
        assert_eq!(super::seconds_ms(None), 0);
        assert_eq!(super::seconds_ms(Some(2)), 2000);
        assert!(super::seconds_ms(Some(u64::MAX)) > 0);
    }
}
