//! The fan-out: one [`Command`] to every selected member, yielding exactly one
//! [`ExecResult`] per cluster, streamed as each finishes.
//!
//! The policy is checked for every member first: one violation rejects the command on every
//! cluster, before any request. Then each member runs in its own task (bounded by
//! [`Settings::concurrency`]), every request through [`Caller`] (limits, per-call
//! timeout, retries), the whole bounded by the command's deadline and cancellable (Ctrl-C).
//! A member known to be Unhealthy fails fast as `Unreachable`.

use std::sync::Arc;

use futures::{Stream, StreamExt as _};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use muster_core::command::Command;
use muster_core::policy::{ClusterRef, Policy, Violation};
use muster_core::result::{ExecError, ExecResult, Output, Status};

use crate::action;
use crate::call::{Caller, LogLine, Shared};
use crate::discovery::DiscoveryCache;
use crate::failure::Failure;
use crate::hooks::Hooks;
use crate::registry::{HealthState, Member, Registry, health};
use crate::settings::Settings;

/// A command the policy refused, before any request.
#[derive(Debug, Clone)]
pub struct Rejection {
    /// A `Rejected` result for every member: each violating member with its own reason,
    /// the others naming the first violation.
    pub results: Vec<ExecResult>,
    /// The violations themselves, one per violating member.
    pub violations: Vec<Violation>,
}

/// The fan-out engine: the registry, the policy, the settings, and discovery shared by
/// every command it runs.
#[derive(Clone)]
pub struct Fanout {
    pub registry: Arc<Registry>,
    pub policy: Arc<Policy>,
    pub settings: Arc<Settings>,
    discovery: Arc<DiscoveryCache>,
    hooks: Hooks,
}

impl Fanout {
    #[must_use]
    pub fn new(registry: Arc<Registry>, policy: Policy, settings: Settings) -> Self {
        let settings = settings.capped_by(&policy);
        Self {
            registry,
            policy: Arc::new(policy),
            settings: Arc::new(settings),
            discovery: Arc::new(DiscoveryCache::new()),
            hooks: Hooks::default(),
        }
    }

    /// The same engine with the host's hooks (a start gate, a call observer).
    #[must_use]
    pub fn with_hooks(mut self, hooks: Hooks) -> Self {
        self.hooks = hooks;
        self
    }

    /// The same engine with a start gate (keeping its observer).
    #[must_use]
    pub fn with_start_gate(mut self, gate: Arc<dyn crate::hooks::StartGate>) -> Self {
        self.hooks.start_gate = Some(gate);
        self
    }

    /// The same engine sharing another's discovery cache (one per process is enough).
    #[must_use]
    pub fn sharing_discovery(mut self, other: &Fanout) -> Self {
        self.discovery = other.discovery.clone();
        self
    }

    /// Check the command against the policy for every member.
    ///
    /// # Errors
    /// A [`Rejection`] when any member violates the policy.
    pub fn check(&self, command: &Command, members: &[Arc<Member>]) -> Result<(), Rejection> {
        let verdicts: Vec<_> = members
            .iter()
            .map(|m| {
                self.policy.check(
                    command,
                    &ClusterRef {
                        name: &m.name,
                        labels: &m.labels,
                        default_namespace: m.namespace.as_ref(),
                    },
                )
            })
            .collect();
        let Some(first) = verdicts.iter().find_map(|v| v.as_ref().err()).cloned() else {
            return Ok(());
        };
        let violations: Vec<Violation> = verdicts.iter().filter_map(|v| v.as_ref().err()).cloned().collect();
        let results = members
            .iter()
            .zip(verdicts)
            .map(|(m, v)| match v {
                Err(own) => own.to_result(&command.id),
                Ok(()) => {
                    let mut r = first.to_result(&command.id);
                    r.cluster.clone_from(&m.name);
                    if let Some(e) = r.error.as_mut() {
                        e.message = format!(
                            "cluster {}: not run, because the command violates the policy elsewhere: {first}",
                            m.name
                        );
                    }
                    r
                }
            })
            .collect();
        Err(Rejection { results, violations })
    }

    /// Run `command` on `members`: one result per member, in the order they finish.
    /// `log_lines` receives `logs --follow` lines. Cancelling `cancel` ends every member
    /// still running as `Cancelled`; the stream still yields one result per member.
    pub fn run(
        &self,
        command: Arc<Command>,
        members: Vec<Arc<Member>>,
        cancel: CancellationToken,
        log_lines: Option<tokio::sync::mpsc::Sender<LogLine>>,
    ) -> impl Stream<Item = ExecResult> + Send + 'static {
        let rejected = self.check(&command, &members).err().map(|r| r.results);
        let this = self.clone();
        let deadline = Instant::now() + this.settings.deadline;
        let probe = async move {
            if this.settings.probe && rejected.is_none() {
                let valid: Vec<Arc<Member>> = members.iter().filter(|m| m.invalid.is_none()).cloned().collect();
                futures::stream::iter(valid)
                    .map(|m| async move { health::probe(&m, 1).await })
                    .buffer_unordered(this.settings.concurrency)
                    .collect::<Vec<_>>()
                    .await;
            }
            let concurrency = this.settings.concurrency;
            match rejected {
                Some(all) => futures::stream::iter(all).left_stream(),
                None => futures::stream::iter(members)
                    .map(move |m| {
                        let task = Task {
                            fanout: this.clone(),
                            command: command.clone(),
                            member: m,
                            deadline,
                            cancel: cancel.clone(),
                            log_lines: log_lines.clone(),
                        };
                        task.spawn()
                    })
                    .buffer_unordered(concurrency)
                    .right_stream(),
            }
        };
        futures::stream::once(probe).flatten()
    }
}

/// One member's part of a command.
struct Task {
    fanout: Fanout,
    command: Arc<Command>,
    member: Arc<Member>,
    deadline: Instant,
    cancel: CancellationToken,
    log_lines: Option<tokio::sync::mpsc::Sender<LogLine>>,
}

impl Task {
    /// Run on the runtime's worker threads; a panic becomes a `Failed` result, and
    /// dropping the returned future aborts the task.
    async fn spawn(self) -> ExecResult {
        let (command, cluster) = (self.command.clone(), self.member.name.clone());
        let span = tracing::info_span!("cluster", name = %cluster, command = %command.id);
        let handle = AbortOnDrop(tokio::spawn(self.run().instrument(span)));
        let started = std::time::Instant::now();
        match (&mut { handle }).await {
            Ok(result) => result,
            Err(e) => finish(
                &command,
                &cluster,
                started,
                0,
                Err(Failure::local(
                    Status::Failed,
                    "InternalError",
                    format!("the task failed: {e}"),
                    false,
                )),
            ),
        }
    }

    async fn run(self) -> ExecResult {
        let started = std::time::Instant::now();
        let (command, member) = (&self.command, &self.member);
        let early = |f: Failure| finish(command, &member.name, started, 0, Err(f));
        if self.cancel.is_cancelled() {
            return early(cancelled());
        }
        if let Some(inv) = &member.invalid {
            return early(Failure::local(
                Status::Failed,
                "InvalidMember",
                inv.reason.clone(),
                false,
            ));
        }
        let health = member.health();
        if health.state == HealthState::Unhealthy {
            let why = health.last_error.unwrap_or_else(|| "failed its health probes".into());
            return early(Failure::local(
                Status::Unreachable,
                "Unhealthy",
                format!("marked Unhealthy ({why}); --probe checks it again"),
                false,
            ));
        }
        let client = match member.client_by(Some(self.deadline)).await {
            Ok(c) => c,
            Err(e) => return early(Failure::local(Status::Failed, e.label(), e.to_string(), false)),
        };
        let shared = Shared {
            registry: self.fanout.registry.clone(),
            policy: self.fanout.policy.clone(),
            settings: self.fanout.settings.clone(),
            discovery: self.fanout.discovery.clone(),
            hooks: self.fanout.hooks.clone(),
        };
        let mut caller = Caller::new(member.clone(), client, command.clone(), shared, self.deadline);
        caller.log_lines = self.log_lines.clone();
        let gate = async {
            if let Some(g) = &self.fanout.hooks.start_gate {
                g.starting(&member.name).await;
            }
            action::run(&caller).await
        };
        let outcome = tokio::select! {
            biased;
            // NB: following logs ends when the user stops it: that is the normal end.
            () = self.cancel.cancelled(), if command.follow => Ok(action::Outcome::summary(&["log stream ended: stopped by the user".to_string()])),
            () = self.cancel.cancelled(), if !command.follow => Err(cancelled()),
            () = tokio::time::sleep_until(self.deadline) => Err(Failure::deadline()),
            r = gate => r,
        };
        let attempts = caller.attempts();
        drop(caller);
        if self.fanout.settings.release_connections {
            member.release().await;
        }
        finish(command, &member.name, started, attempts, outcome)
    }
}

fn cancelled() -> Failure {
    Failure::local(
        Status::Cancelled,
        "Cancelled",
        "cancelled before it finished".into(),
        false,
    )
}

/// Aborts the task when dropped (a cancelled stream leaves nothing running).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> std::future::Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

/// The one result of one member.
fn finish(
    command: &Command,
    cluster: &str,
    started: std::time::Instant,
    attempts: u32,
    outcome: Result<action::Outcome, Failure>,
) -> ExecResult {
    let what = format!("{} {}", command.action, command.target_text());
    let (status, exit_code, output, error) = match outcome {
        Ok(o) => match o.exit_code {
            Some(code) if code != 0 => (
                Status::Failed,
                Some(code),
                o.output,
                Some(ExecError {
                    reason: "NonZeroExitCode".into(),
                    code: None,
                    message: format!("cluster {cluster}: {what}: command exited with code {code}"),
                }),
            ),
            code => (Status::Succeeded, code, o.output, None),
        },
        Err(f) => (f.status, None, Output::None, Some(f.to_error(cluster, &what))),
    };
    ExecResult {
        command_id: command.id.clone(),
        cluster: cluster.to_string(),
        action: command.action,
        target: command.target_text(),
        status,
        exit_code,
        output,
        error,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        attempts,
    }
}
