//! [`Caller`]: one cluster's channel for one command. Every request an action sends goes
//! through [`Caller::call`], which waits on the member's limits (its `Retry-After` pause, its
//! in-flight cap, its rate, the fleet's rate), bounds the request by the per-call timeout and
//! the command's deadline, and retries transient failures when that cannot duplicate an
//! effect.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use muster_core::command::Command;
use muster_core::name::Namespace;
use muster_core::policy::{ClusterRef, Policy, Resolved as ResolvedObject};
use muster_core::result::Status;

use crate::discovery::DiscoveryCache;
use crate::failure::{Failure, Idempotence, backoff, classify};
use crate::hooks::{CallRecord, Hooks};
use crate::registry::{Member, Registry};
use crate::settings::Settings;

/// A followed log line (`logs --follow`), sent as it arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub cluster: String,
    pub pod: String,
    pub line: String,
}

/// One cluster's context for one command.
pub struct Caller {
    pub member: Arc<Member>,
    pub registry: Arc<Registry>,
    pub client: kube::Client,
    pub command: Arc<Command>,
    /// Checked again on what discovery resolved, before every write.
    pub policy: Arc<Policy>,
    pub settings: Arc<Settings>,
    /// When the whole command must be done.
    pub deadline: Instant,
    /// Resources this cluster serves, shared across the command (and commands).
    pub discovery: Arc<DiscoveryCache>,
    /// Where `logs --follow` sends lines.
    pub log_lines: Option<tokio::sync::mpsc::Sender<LogLine>>,
    /// Sees every request.
    observer: Option<Arc<dyn crate::hooks::CallObserver>>,
    /// Requests sent, retries included.
    attempts: AtomicU32,
}

/// What every caller of one fan-out engine shares: the registry (for the fleet-wide
/// limit), the policy, the settings, the discovery cache and the host's hooks.
#[derive(Clone)]
pub struct Shared {
    pub registry: Arc<Registry>,
    pub policy: Arc<Policy>,
    pub settings: Arc<Settings>,
    pub discovery: Arc<DiscoveryCache>,
    pub hooks: Hooks,
}

impl Caller {
    #[must_use]
    pub fn new(
        member: Arc<Member>,
        client: kube::Client,
        command: Arc<Command>,
        shared: Shared,
        deadline: Instant,
    ) -> Self {
        Self {
            member,
            registry: shared.registry,
            client,
            command,
            policy: shared.policy,
            settings: shared.settings,
            deadline,
            discovery: shared.discovery,
            log_lines: None,
            observer: shared.hooks.observer,
            attempts: AtomicU32::new(0),
        }
    }

    /// The cluster's name.
    #[must_use]
    pub fn cluster(&self) -> &str {
        &self.member.name
    }

    /// The namespace requests go to: the command's, else the member's default, else
    /// `default` (as kubectl does).
    #[must_use]
    pub fn namespace(&self) -> &Namespace {
        static DEFAULT: std::sync::LazyLock<Namespace> = std::sync::LazyLock::new(Namespace::default_namespace);
        self.command
            .namespace
            .as_ref()
            .or(self.member.namespace.as_ref())
            .unwrap_or(&DEFAULT)
    }

    /// Check a write against the policy again, on what this cluster's discovery resolved
    /// (kind, group, scope) and the namespace it goes to, before it is sent.
    ///
    /// # Errors
    /// A `Rejected` failure with the policy's rule as its reason.
    pub fn authorize(&self, object: &ResolvedObject<'_>) -> Result<(), Failure> {
        let cluster = ClusterRef {
            name: &self.member.name,
            labels: &self.member.labels,
            default_namespace: self.member.namespace.as_ref(),
        };
        self.policy
            .check_resolved(&self.command, &cluster, object)
            .map_err(|v| Failure::local(Status::Rejected, v.rule, v.message, false))
    }

    /// Requests sent so far, retries included.
    #[must_use]
    pub fn attempts(&self) -> u32 {
        self.attempts.load(Ordering::Relaxed)
    }

    /// Time left before the command's deadline.
    #[must_use]
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Send one request (built by `request` from the client), under the member's limits,
    /// the per-call timeout and the deadline, retrying transient failures when
    /// `idempotence` allows. The returned failure has `retried` set when it came after a
    /// retry (a `delete` then treats 404 as done).
    ///
    /// # Errors
    /// The last [`Failure`].
    pub async fn call<T, F, Fut>(&self, idempotence: Idempotence, request: F) -> Result<T, Retried<Failure>>
    where
        F: Fn(kube::Client) -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let sent = Instant::now();
            let failure = match tokio::time::timeout_at(self.deadline, self.registry.acquire(&self.member)).await {
                Err(_) => Failure::deadline(),
                Ok(permit) => {
                    self.attempts.fetch_add(1, Ordering::Relaxed);
                    let waited = sent.elapsed();
                    let limit = self.settings.call_timeout.min(self.remaining());
                    let began = Instant::now();
                    let outcome = tokio::time::timeout(limit, request(self.client.clone())).await;
                    drop(permit);
                    let failure = match outcome {
                        Ok(Ok(value)) => {
                            self.observe(Some(200), began.elapsed(), waited);
                            return Ok(value);
                        }
                        Ok(Err(e)) => classify(&e),
                        Err(_) if limit < self.settings.call_timeout => Failure::deadline(),
                        Err(_) => Failure::call_timeout(limit),
                    };
                    self.observe(failure.code, began.elapsed(), waited);
                    failure
                }
            };
            let retried = attempt > 1;
            let asked = self.member.limits.pause().asked_since(sent.into_std());
            if !failure.may_retry(idempotence, asked) || attempt >= self.settings.max_attempts {
                return Err(Retried { failure, retried });
            }
            // NB: the member's pause holds the retry (and every other request to the member)
            // for what the server asked; otherwise back off with full jitter.
            let wait = self.member.limits.pause().remaining().unwrap_or_else(|| {
                backoff(
                    attempt,
                    self.settings.backoff_base,
                    self.settings.backoff_cap,
                    fastrand::f64(),
                )
            });
            if wait >= self.remaining() {
                // Waiting would end past the deadline: the last failure is the answer.
                return Err(Retried { failure, retried });
            }
            tracing::debug!(cluster = %self.member.name, attempt, reason = %failure.reason, wait_ms = wait.as_millis() as u64, "retrying");
            tokio::time::sleep(wait).await;
        }
    }
}

impl Caller {
    fn observe(&self, code: Option<u16>, took: Duration, waited: Duration) {
        if let Some(o) = &self.observer {
            o.call(&CallRecord {
                cluster: &self.member.name,
                action: self.command.action,
                code,
                took,
                waited,
            });
        }
    }
}

/// A value, and whether it came after at least one retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retried<T> {
    pub failure: T,
    pub retried: bool,
}

impl From<Retried<Failure>> for Failure {
    fn from(r: Retried<Failure>) -> Self {
        r.failure
    }
}
