//! How simulated workloads behave: readiness delays, failure markers in image tags, crash
//! back-off, log cadence, node shape. Deterministic for a given seed.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Workload behaviour of a simulated cluster (scenario key `behavior`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Behavior {
    /// A pod's containers become Running and Ready this long after it is created (lower bound).
    pub ready_delay_min_ms: u64,
    /// Upper bound of the ready delay; the value in between is seeded jitter per pod.
    pub ready_delay_max_ms: u64,
    /// An image whose tag contains this crash-loops (`nginx:broken`).
    pub broken_marker: String,
    /// An image whose tag contains this never pulls (ImagePullBackOff).
    pub missing_marker: String,
    /// An image whose tag contains this is killed for memory (exit 137, `OOMKilled`) and
    /// restarts in a loop.
    pub oom_marker: String,
    /// An image whose tag contains this exits 126 (its command is not executable).
    pub noexec_marker: String,
    /// An image whose tag contains this exits 127 (its command is not found).
    pub notfound_marker: String,
    /// An image whose tag contains this runs but never passes its readiness probe.
    pub unready_marker: String,
    /// Exit code of a crash-looping container.
    pub crash_exit_code: i64,
    /// First crash back-off; doubles per restart up to `crash_backoff_max_ms`.
    /// NB: the kubelet starts at 10 s and caps at 5 min; the simulation is faster.
    pub crash_backoff_ms: u64,
    pub crash_backoff_max_ms: u64,
    /// One synthetic log line per container per this interval.
    pub log_interval_ms: u64,
    /// Log lines a container prints at start-up (its log is never empty once it runs).
    pub log_startup_lines: u64,
    /// Nodes per cluster.
    pub nodes: usize,
    /// The most pods the controllers make in a cluster (a real cluster would try to make
    /// `replicas: 2147483647` pods and fill etcd; the simulator stops here, as a quota would).
    pub max_pods: i64,
}

impl Default for Behavior {
    fn default() -> Self {
        Self {
            ready_delay_min_ms: 200,
            ready_delay_max_ms: 500,
            broken_marker: ":broken".into(),
            missing_marker: ":missing".into(),
            oom_marker: ":oom".into(),
            noexec_marker: ":noexec".into(),
            notfound_marker: ":notfound".into(),
            unready_marker: ":unready".into(),
            crash_exit_code: 1,
            crash_backoff_ms: 1000,
            crash_backoff_max_ms: 10_000,
            log_interval_ms: 1000,
            log_startup_lines: 20,
            nodes: 3,
            max_pods: 1000,
        }
    }
}

impl Behavior {
    /// The ready delay of one pod, from the fleet seed and the pod's name.
    #[must_use]
    pub fn ready_delay(&self, seed: u64, pod: &str) -> Duration {
        let lo = self.ready_delay_min_ms.min(self.ready_delay_max_ms);
        let hi = self.ready_delay_max_ms.max(lo);
        let mut rng = fastrand::Rng::with_seed(seed ^ fnv1a(pod.as_bytes()));
        Duration::from_millis(rng.u64(lo..=hi))
    }

    /// The back-off before restart number `restarts + 1`.
    #[must_use]
    pub fn crash_backoff(&self, restarts: u32) -> Duration {
        let ms = self
            .crash_backoff_ms
            .saturating_mul(1u64 << restarts.min(20))
            .min(self.crash_backoff_max_ms);
        Duration::from_millis(ms.max(1))
    }

    /// How an image behaves.
    #[must_use]
    pub fn image_fate(&self, image: &str) -> ImageFate {
        let tag = image.rsplit_once(':').map_or("", |(_, t)| t);
        let marks = |m: &str| !m.is_empty() && tag.contains(m.trim_start_matches(':'));
        let crash = |exit_code, reason| ImageFate::Crash { exit_code, reason };
        if marks(&self.missing_marker) {
            ImageFate::Missing
        } else if marks(&self.oom_marker) {
            crash(137, "OOMKilled")
        } else if marks(&self.noexec_marker) {
            crash(126, "Error")
        } else if marks(&self.notfound_marker) {
            crash(127, "Error")
        } else if marks(&self.broken_marker) {
            crash(self.crash_exit_code, "Error")
        } else if marks(&self.unready_marker) {
            ImageFate::Unready
        } else {
            ImageFate::Runs
        }
    }
}

/// What happens to a container of a given image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFate {
    Runs,
    /// Exits with this code (and `lastState.terminated.reason`) each time it starts.
    Crash {
        exit_code: i64,
        reason: &'static str,
    },
    Missing,
    /// Runs, but its readiness probe fails.
    Unready,
}

/// FNV-1a, the hash Kubernetes uses for pod-template hashes; also a cheap seed mixer.
#[must_use]
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fates_and_delays() {
        let b = Behavior::default();
        assert_eq!(b.image_fate("nginx:1.27"), ImageFate::Runs);
        let crash = |exit_code, reason| ImageFate::Crash { exit_code, reason };
        assert_eq!(b.image_fate("nginx:broken"), crash(1, "Error"));
        assert_eq!(b.image_fate("registry:5000/x:1.2-broken"), crash(1, "Error"));
        assert_eq!(b.image_fate("app:2.0-oom"), crash(137, "OOMKilled"));
        assert_eq!(b.image_fate("init:noexec"), crash(126, "Error"));
        assert_eq!(b.image_fate("init:notfound"), crash(127, "Error"));
        assert_eq!(b.image_fate("web:2-unready"), ImageFate::Unready);
        assert_eq!(b.image_fate("nginx:missing"), ImageFate::Missing);
        assert_eq!(b.image_fate("broken/nginx"), ImageFate::Runs, "only the tag counts");
        let d = b.ready_delay(1, "web-abc");
        assert_eq!(d, b.ready_delay(1, "web-abc"));
        assert!((200..=500).contains(&(d.as_millis() as u64)));
        assert_eq!(b.crash_backoff(0).as_millis(), 1000);
        assert_eq!(b.crash_backoff(2).as_millis(), 4000);
        assert_eq!(b.crash_backoff(9).as_millis(), 10_000);
    }
}
