//! Injected faults and request counters of a simulated cluster, and the scenario file that
//! sets faults and behaviour when a fleet starts.
//!
//! Faults: added latency (fixed plus jitter), an error rate answered with 429 (with
//! `Retry-After`), 500, 502, 503 or 504 as proper `Status` objects, hanging (accept, never
//! answer), refusing connections (the listener closes), resetting connections mid-response,
//! and slow or dropped watches. They change at runtime through the library or the admin
//! endpoint `/_sim/faults`; `/_sim/counters` tells how many requests and writes arrived, so
//! tests can prove a retried write landed once.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::behavior::{Behavior, fnv1a};
use super::status::ApiError;
use muster_core::selector::glob_match;

/// The faults a cluster injects. All off by default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Faults {
    /// Added to every request.
    pub latency_ms: u64,
    /// Random extra latency, uniform in `0..=jitter_ms`.
    pub jitter_ms: u64,
    /// Fraction of API requests (0.0-1.0) answered with `error_code` instead.
    pub error_rate: f64,
    /// 429, 500, 502, 503 or 504 (default 503).
    pub error_code: Option<u16>,
    /// `Retry-After` seconds sent with 429 (default 1).
    pub retry_after_seconds: Option<u64>,
    /// Accept requests and never answer them.
    pub hang: bool,
    /// Stop listening: new connections are refused and open ones are closed.
    pub refuse: bool,
    /// Fraction of responses (0.0-1.0) cut off mid-body by closing the connection.
    pub reset_rate: f64,
    /// Delay before each watch event is sent.
    pub watch_delay_ms: u64,
    /// Watches end this long after they start (a dropped watch), if set.
    pub watch_drop_after_ms: Option<u64>,
    /// Workload controllers act on a new generation of a Deployment, StatefulSet or
    /// DaemonSet only this long after it was written: `observedGeneration` and the status
    /// stay those of the old generation meanwhile (a busy kube-controller-manager).
    pub status_lag_ms: u64,
}

impl Faults {
    /// Check ranges, naming the offending field.
    ///
    /// # Errors
    /// A message naming the field and the allowed values.
    pub fn validate(&self) -> Result<(), String> {
        for (name, rate) in [("errorRate", self.error_rate), ("resetRate", self.reset_rate)] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name}: {rate} is outside 0.0..=1.0"));
            }
        }
        if let Some(code) = self.error_code
            && ![429, 500, 502, 503, 504].contains(&code)
        {
            return Err(format!("errorCode: {code} is not one of 429, 500, 502, 503, 504"));
        }
        Ok(())
    }

    /// The error an injected failure answers with.
    #[must_use]
    pub fn error(&self) -> ApiError {
        match self.error_code.unwrap_or(503) {
            429 => {
                let mut e = ApiError::new(429, "TooManyRequests", "Too many requests, please try again later.");
                e.retry_after = Some(self.retry_after_seconds.unwrap_or(1));
                e
            }
            500 => ApiError::new(500, "InternalError", "Internal error occurred: injected fault"),
            502 => ApiError::new(502, "InternalError", "Bad Gateway: injected fault"),
            504 => ApiError::new(
                504,
                "Timeout",
                "The server was unable to return a response in the time allotted, but may still be processing the request",
            ),
            _ => ApiError::new(
                503,
                "ServiceUnavailable",
                "The server is currently unable to handle the request (injected fault)",
            ),
        }
    }

    /// Latency to add to one request, given a per-request random draw.
    #[must_use]
    pub fn latency(&self, draw: u64) -> Duration {
        let jitter = if self.jitter_ms == 0 {
            0
        } else {
            draw % (self.jitter_ms + 1)
        };
        Duration::from_millis(self.latency_ms + jitter)
    }
}

/// Request and write counters of one cluster.
#[derive(Debug, Default)]
pub struct Counters {
    requests: AtomicU64,
    writes_received: AtomicU64,
    writes_applied: AtomicU64,
    watches_dropped: AtomicU64,
    execs_started: AtomicU64,
    applied_by_target: Mutex<BTreeMap<String, u64>>,
}

/// A snapshot of [`Counters`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CounterSnapshot {
    /// API requests received (admin requests excluded).
    pub requests: u64,
    /// Write requests (POST, PUT, PATCH, DELETE) received, including those answered by an
    /// injected fault.
    pub writes_received: u64,
    /// Write requests the API carried out (2xx, not dry-run).
    pub writes_applied: u64,
    /// Watches ended by the `watchDropAfterMs` fault.
    #[serde(default)]
    pub watches_dropped: u64,
    /// Exec sessions started (upgraded to a WebSocket and run).
    #[serde(default)]
    pub execs_started: u64,
    /// `applied` per `METHOD path`.
    pub applied_by_target: BTreeMap<String, u64>,
}

impl Counters {
    pub fn request(&self, is_write: bool) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if is_write {
            self.writes_received.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn applied(&self, method: &str, path: &str) {
        self.writes_applied.fetch_add(1, Ordering::Relaxed);
        *self
            .applied_by_target
            .lock()
            .expect("counter lock")
            .entry(format!("{method} {path}"))
            .or_default() += 1;
    }

    pub fn watch_dropped(&self) {
        self.watches_dropped.fetch_add(1, Ordering::Relaxed);
    }

    pub fn exec_started(&self) {
        self.execs_started.fetch_add(1, Ordering::Relaxed);
    }

    #[must_use]
    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            requests: self.requests.load(Ordering::Relaxed),
            writes_received: self.writes_received.load(Ordering::Relaxed),
            writes_applied: self.writes_applied.load(Ordering::Relaxed),
            watches_dropped: self.watches_dropped.load(Ordering::Relaxed),
            execs_started: self.execs_started.load(Ordering::Relaxed),
            applied_by_target: self.applied_by_target.lock().expect("counter lock").clone(),
        }
    }

    pub fn reset(&self) {
        self.requests.store(0, Ordering::Relaxed);
        self.writes_received.store(0, Ordering::Relaxed);
        self.writes_applied.store(0, Ordering::Relaxed);
        self.watches_dropped.store(0, Ordering::Relaxed);
        self.execs_started.store(0, Ordering::Relaxed);
        self.applied_by_target.lock().expect("counter lock").clear();
    }
}

/// A deterministic random stream per cluster (seeded; one draw per request).
#[derive(Debug, Default)]
pub struct Dice {
    seed: u64,
    n: AtomicU64,
}

impl Dice {
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            n: AtomicU64::new(0),
        }
    }

    /// The next draw.
    pub fn roll(&self) -> u64 {
        let n = self.n.fetch_add(1, Ordering::Relaxed);
        fnv1a(&(self.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)).to_le_bytes())
    }

    /// Whether an event of probability `p` happens on this draw.
    pub fn chance(&self, p: f64) -> bool {
        #[allow(clippy::cast_precision_loss)]
        let x = (self.roll() >> 11) as f64 / (1u64 << 53) as f64;
        p > 0.0 && x < p
    }
}

/// A scenario file: fleet-wide behaviour and per-cluster faults.
///
/// ```yaml
/// behavior: {readyDelayMinMs: 100, readyDelayMaxMs: 300}
/// faults:
///   default: {latencyMs: 2}
///   clusters:
///     sim-001: {errorRate: 1.0, errorCode: 429, retryAfterSeconds: 1}
///     "sim-01*": {hang: true}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Scenario {
    pub behavior: Option<Behavior>,
    pub faults: FaultPlan,
}

/// Faults for every cluster, with per-cluster overrides by name or `*` pattern.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct FaultPlan {
    pub default: Faults,
    pub clusters: BTreeMap<String, Faults>,
}

impl FaultPlan {
    /// The faults of one cluster: the most specific entry (an exact name, else the longest
    /// matching pattern), else the default.
    #[must_use]
    pub fn for_cluster(&self, name: &str) -> Faults {
        if let Some(f) = self.clusters.get(name) {
            return f.clone();
        }
        self.clusters
            .iter()
            .filter(|(p, _)| glob_match(p, name))
            .max_by_key(|(p, _)| p.len())
            .map_or_else(|| self.default.clone(), |(_, f)| f.clone())
    }
}

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("scenario {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("scenario {path}: {message}")]
    Invalid { path: String, message: String },
}

impl Scenario {
    /// Parse and validate scenario YAML; errors name `origin`, the line and the field.
    ///
    /// # Errors
    /// [`ScenarioError::Invalid`].
    pub fn parse(origin: &str, text: &str) -> Result<Self, ScenarioError> {
        let invalid = |message: String| ScenarioError::Invalid {
            path: origin.to_string(),
            message,
        };
        let s: Self = crate::yaml::parse(text).map_err(invalid)?;
        s.faults
            .default
            .validate()
            .map_err(|m| invalid(format!("faults.default.{m}")))?;
        for (name, f) in &s.faults.clusters {
            f.validate()
                .map_err(|m| invalid(format!("faults.clusters.{name}.{m}")))?;
        }
        Ok(s)
    }

    /// Read and parse a scenario file.
    ///
    /// # Errors
    /// [`ScenarioError`] naming the file.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&path.display().to_string(), &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_parses_and_errors_name_the_field() {
        let s = Scenario::parse("s.yaml", "faults:\n  default: {latencyMs: 2}\n  clusters:\n    sim-001: {errorRate: 1.0, errorCode: 429}\n    'sim-01*': {hang: true}\n").unwrap();
        assert_eq!(s.faults.for_cluster("sim-001").error_code, Some(429));
        assert!(s.faults.for_cluster("sim-013").hang);
        assert_eq!(s.faults.for_cluster("sim-002").latency_ms, 2);
        let e = Scenario::parse("s.yaml", "faults:\n  default:\n    latncyMs: 2\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("s.yaml") && e.contains("line 3") && e.contains("latncyMs"),
            "{e}"
        );
        let e = Scenario::parse("s.yaml", "faults:\n  clusters:\n    sim-001: {errorCode: 418}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("faults.clusters.sim-001.errorCode"), "{e}");
    }

    #[test]
    fn the_example_scenario_is_valid() {
        let text = include_str!("../../../config/scenario.example.yaml");
        let s = Scenario::parse("config/scenario.example.yaml", text).unwrap();
        assert_eq!(s.faults.for_cluster("sim-001").error_code, Some(429));
        assert!(s.faults.for_cluster("sim-004").refuse);
        assert_eq!(s.faults.for_cluster("sim-012").watch_drop_after_ms, Some(30_000));
        assert_eq!(s.behavior.unwrap(), Behavior::default());
    }

    #[test]
    fn dice_is_seeded_and_fair() {
        let a = Dice::new(3);
        let b = Dice::new(3);
        assert_eq!(
            (0..10).map(|_| a.roll()).collect::<Vec<_>>(),
            (0..10).map(|_| b.roll()).collect::<Vec<_>>()
        );
        let d = Dice::new(9);
        let hits = (0..10_000).filter(|_| d.chance(0.1)).count();
        assert!((800..1200).contains(&hits), "{hits}");
        assert!(!Dice::new(1).chance(0.0));
    }
}
