//! How commands run: clusters at once, per-call timeout, deadline, attempts, backoff and the
//! output cap (defaults from the design: 64 clusters at once, 30 s per call, 120 s overall).

use std::time::Duration;

use muster_core::policy::Policy;

/// Fan-out settings (defaults from the design: 64 clusters at once, 30 s per call).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Clusters worked on at once.
    pub concurrency: usize,
    /// Bound on each request.
    pub call_timeout: Duration,
    /// Bound on the whole command, retries included.
    pub deadline: Duration,
    /// Requests per call, the first included.
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// Output kept per cluster (the policy's cap).
    pub max_output_bytes: u64,
    /// Probe the selected members first; those that fail are `Unreachable` at once.
    pub probe: bool,
    /// Drop a member's client (and its idle connections) when its part is done, so open
    /// connections are bounded by `concurrency`, not by the fleet size. Off only where the
    /// same process sends the next command to the same members at once (a warm benchmark).
    pub release_connections: bool,
}

/// Defaults.
pub const DEFAULT_CONCURRENCY: usize = 64;
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(120);

impl Default for Settings {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_CONCURRENCY,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            deadline: DEFAULT_DEADLINE,
            max_attempts: 5,
            backoff_base: Duration::from_millis(200),
            backoff_cap: Duration::from_secs(5),
            max_output_bytes: 1024 * 1024,
            probe: false,
            release_connections: true,
        }
    }
}

impl Settings {
    #[must_use]
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    #[must_use]
    pub fn call_timeout(mut self, d: Duration) -> Self {
        self.call_timeout = d;
        self
    }

    #[must_use]
    pub fn deadline(mut self, d: Duration) -> Self {
        self.deadline = d;
        self
    }

    #[must_use]
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    #[must_use]
    pub fn probe(mut self, probe: bool) -> Self {
        self.probe = probe;
        self
    }

    #[must_use]
    pub fn release_connections(mut self, release: bool) -> Self {
        self.release_connections = release;
        self
    }

    /// Apply a policy's caps: output bytes, and the per-call timeout at most its maximum.
    #[must_use]
    pub fn capped_by(mut self, policy: &Policy) -> Self {
        self.max_output_bytes = policy.caps.max_output_bytes;
        self.call_timeout = self
            .call_timeout
            .min(Duration::from_secs(policy.caps.max_timeout_seconds));
        self
    }
}
