//! Member health: probing `GET /readyz` (falling back to `/version`) with a 3 s timeout,
//! Unhealthy after consecutive failures, Healthy after one success (KubeFed's rule), and the
//! Kubernetes version once known.

use std::time::Duration;

use serde::Serialize;

use super::Member;

/// How long one probe may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Consecutive failures that make a member Unhealthy for the background prober.
pub const UNHEALTHY_AFTER: u32 = 3;

/// The health state of a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum HealthState {
    #[default]
    Unknown,
    Healthy,
    Unhealthy,
}

/// A member's health record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub state: HealthState,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    /// RFC 3339 time of the last probe.
    pub last_probe: Option<String>,
    /// `gitVersion` from `/version`, once probed.
    pub version: Option<String>,
}

impl Health {
    /// Record one probe outcome; `threshold` failures in a row make the member Unhealthy.
    pub fn record(&mut self, outcome: Result<String, String>, threshold: u32) {
        self.last_probe = Some(
            jiff::Timestamp::from_second(jiff::Timestamp::now().as_second())
                .map(|t| t.to_string())
                .unwrap_or_default(),
        );
        match outcome {
            Ok(version) => {
                self.state = HealthState::Healthy;
                self.consecutive_failures = 0;
                self.last_error = None;
                self.version = Some(version);
            }
            Err(e) => {
                self.consecutive_failures += 1;
                self.last_error = Some(e);
                if self.consecutive_failures >= threshold.max(1) {
                    self.state = HealthState::Unhealthy;
                }
            }
        }
    }
}

async fn probe_once(member: &Member) -> Result<String, String> {
    let client = member.client().await.map_err(|e| e.to_string())?;
    let ready = http::Request::get("/readyz")
        .body(Vec::new())
        .expect("a static request");
    match client.request_text(ready).await {
        Ok(_) => {}
        // An apiserver without /readyz answers 404; /version below still proves it serves.
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => return Err(format!("cluster {}: GET /readyz: {}", member.name, described(&e))),
    }
    client
        .apiserver_version()
        .await
        .map(|v| v.git_version)
        .map_err(|e| format!("cluster {}: GET /version: {}", member.name, described(&e)))
}

/// A kube error on one line ("429 TooManyRequests: ...", "ConnectionFailed: ... refused"),
/// classified the way the fan-out classifies it.
fn described(e: &kube::Error) -> String {
    let f = crate::failure::classify(e);
    if f.code.is_some() {
        f.detail
    } else {
        format!("{}: {}", f.reason, f.detail)
    }
}

/// Probe `member` once (bounded by [`PROBE_TIMEOUT`]) and record the outcome.
pub async fn probe(member: &Member, threshold: u32) -> Health {
    let outcome = match tokio::time::timeout(PROBE_TIMEOUT, probe_once(member)).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "cluster {}: no answer within {}s",
            member.name,
            PROBE_TIMEOUT.as_secs()
        )),
    };
    let mut h = member.health.lock().expect("health lock");
    h.record(outcome, threshold);
    h.clone()
}

/// How often the background prober probes every member (KubeFed: 10 s).
pub const PROBE_INTERVAL: Duration = Duration::from_secs(10);

/// Probe every member of `registry` each `interval`, `concurrency` at a time, with the
/// [`UNHEALTHY_AFTER`] threshold, until the task is dropped. Used when muster runs as a
/// service; the CLI probes on demand instead. With `release`, each member's connection is
/// closed after its probe: open files and memory stay bounded by `concurrency` rather than
/// growing with the fleet (a hub of 10,000 members). `cycle_done` hears how long each full
/// cycle took.
pub async fn prober(
    registry: std::sync::Arc<super::Registry>,
    interval: Duration,
    concurrency: usize,
    release: bool,
    cycle_done: impl Fn(Duration) + Send,
) {
    use futures::StreamExt as _;
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let started = std::time::Instant::now();
        futures::stream::iter(registry.members().into_iter().filter(|m| m.invalid.is_none()))
            .map(|m| async move {
                probe(&m, UNHEALTHY_AFTER).await;
                if release {
                    m.release().await;
                }
            })
            .buffer_unordered(concurrency.max(1))
            .collect::<Vec<_>>()
            .await;
        cycle_done(started.elapsed());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds() {
        let mut h = Health::default();
        h.record(Err("x".into()), 3);
        h.record(Err("x".into()), 3);
        assert_eq!(h.state, HealthState::Unknown);
        h.record(Err("x".into()), 3);
        assert_eq!(h.state, HealthState::Unhealthy);
        h.record(Ok("v1.32.4".into()), 3);
        assert_eq!(
            (h.state, h.consecutive_failures, h.version.as_deref()),
            (HealthState::Healthy, 0, Some("v1.32.4"))
        );
        let mut once = Health::default();
        once.record(Err("down".into()), 1);
        assert_eq!(once.state, HealthState::Unhealthy);
    }
}
