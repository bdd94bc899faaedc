//! Per-member request limits: a governor rate limiter (QPS with a burst), an in-flight cap,
//! and an optional fleet-wide rate limiter. Every request the fan-out sends, retries
//! included, goes through [`Limits::acquire`].

use std::num::NonZeroU32;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use governor::clock::DefaultClock;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Default per-member rate (controller-runtime used 20/30, Karmada 40/60).
pub const DEFAULT_QPS: u32 = 20;
pub const DEFAULT_BURST: u32 = 40;
/// Default cap on requests in flight to one member.
pub const DEFAULT_IN_FLIGHT: u32 = 16;

/// Limit settings (`0` disables the QPS limit or the in-flight cap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct LimitSpec {
    pub qps: u32,
    pub burst: u32,
    pub in_flight: u32,
}

impl Default for LimitSpec {
    fn default() -> Self {
        Self {
            qps: DEFAULT_QPS,
            burst: DEFAULT_BURST,
            in_flight: DEFAULT_IN_FLIGHT,
        }
    }
}

/// A governor limiter for `qps` with `burst` (at least 1), or `None` when `qps` is 0.
#[must_use]
pub fn rate_limiter(qps: u32, burst: u32) -> Option<DefaultDirectRateLimiter> {
    let qps = NonZeroU32::new(qps)?;
    let burst = NonZeroU32::new(burst.max(1)).expect("at least 1");
    // NB: one clock for every limiter; building a clock per limiter cost ~20 µs a member.
    Some(RateLimiter::direct_with_clock(
        Quota::per_second(qps).allow_burst(burst),
        CLOCK.clone(),
    ))
}

static CLOCK: LazyLock<DefaultClock> = LazyLock::new(DefaultClock::default);

/// The limits of one member.
#[derive(Debug)]
pub struct Limits {
    pub spec: LimitSpec,
    rate: Option<DefaultDirectRateLimiter>,
    in_flight: Option<Arc<Semaphore>>,
    /// Until when the member asked to be left alone (its last `Retry-After`).
    pause: Pause,
}

/// A member's `Retry-After`: set by its client when a response carries the header, waited
/// out by every request to that member (and only that member).
#[derive(Debug, Clone, Default)]
pub struct Pause(Arc<std::sync::Mutex<PauseState>>);

#[derive(Debug, Default)]
struct PauseState {
    /// Until when requests are held back.
    until: Option<Instant>,
    /// When a response last carried `Retry-After` (a server error with one may be retried).
    asked: Option<Instant>,
}

impl Pause {
    /// Hold requests back for `d` from now (never shortens a longer pause).
    pub fn extend(&self, d: Duration) {
        let now = Instant::now();
        let until = now + d;
        let mut p = self.0.lock().expect("pause lock");
        p.asked = Some(now);
        if p.until.is_none_or(|u| u < until) {
            p.until = Some(until);
        }
    }

    /// How long requests are still held back.
    #[must_use]
    pub fn remaining(&self) -> Option<Duration> {
        let p = self.0.lock().expect("pause lock");
        p.until
            .and_then(|u| u.checked_duration_since(Instant::now()))
            .filter(|d| !d.is_zero())
    }

    /// Whether a response carrying `Retry-After` arrived at or after `since`.
    #[must_use]
    pub fn asked_since(&self, since: Instant) -> bool {
        self.0.lock().expect("pause lock").asked.is_some_and(|a| a >= since)
    }

    /// Record the `Retry-After` of a response, if it has one.
    pub fn observe<B>(&self, response: &http::Response<B>) {
        if let Some(d) = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, jiff::Timestamp::now()))
        {
            self.extend(d.min(MAX_RETRY_AFTER));
        }
    }
}

/// A server cannot park a member for longer than this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// A `Retry-After` value: delay seconds, or an HTTP-date (RFC 9110) relative to `now`.
#[must_use]
pub fn parse_retry_after(value: &str, now: jiff::Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let secs = at.as_second() - now.as_second();
    Some(Duration::from_secs(u64::try_from(secs).unwrap_or(0)))
}

/// Held while a request is in flight; dropping it frees the slot.
#[derive(Debug)]
pub struct Permit {
    _slot: Option<OwnedSemaphorePermit>,
}

impl Limits {
    #[must_use]
    pub fn new(spec: LimitSpec) -> Self {
        Self {
            spec,
            rate: rate_limiter(spec.qps, spec.burst),
            in_flight: (spec.in_flight > 0).then(|| Arc::new(Semaphore::new(spec.in_flight as usize))),
            pause: Pause::default(),
        }
    }

    /// The member's `Retry-After` pause.
    #[must_use]
    pub fn pause(&self) -> &Pause {
        &self.pause
    }

    /// Wait out the member's `Retry-After`, then for an in-flight slot, then for this
    /// member's rate, then for the fleet's.
    pub async fn acquire(&self, fleet: Option<&DefaultDirectRateLimiter>) -> Permit {
        while let Some(d) = self.pause.remaining() {
            tokio::time::sleep(d).await;
        }
        let slot = match &self.in_flight {
            Some(s) => Some(s.clone().acquire_owned().await.expect("the semaphore is never closed")),
            None => None,
        };
        if let Some(r) = &self.rate {
            r.until_ready().await;
        }
        if let Some(f) = fleet {
            f.until_ready().await;
        }
        Permit { _slot: slot }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_values() {
        let now: jiff::Timestamp = "2026-11-22T10:00:00Z".parse().unwrap();
        assert_eq!(parse_retry_after("1", now), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after(" 120 ", now), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after("Sun, 22 Nov 2026 10:00:05 GMT", now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            parse_retry_after("Sun, 22 Nov 2026 09:00:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
        let p = Pause::default();
        assert!(p.remaining().is_none());
        p.extend(Duration::from_millis(300));
        p.extend(Duration::from_millis(10));
        assert!(p.remaining().unwrap() > Duration::from_millis(200), "never shortened");
    }

    #[tokio::test]
    async fn rate_and_in_flight() {
        let l = Limits::new(LimitSpec {
            qps: 20,
            burst: 2,
            in_flight: 1,
        });
        let t = Instant::now();
        for _ in 0..6 {
            drop(l.acquire(None).await);
        }
        // 2 from the burst, then 4 at 20/s: about 200 ms.
        let took = t.elapsed();
        assert!(
            took >= Duration::from_millis(150) && took < Duration::from_secs(2),
            "{took:?}"
        );
        let held = l.acquire(None).await;
        assert!(
            tokio::time::timeout(Duration::from_millis(100), l.acquire(None))
                .await
                .is_err(),
            "the in-flight cap let a second request through"
        );
        drop(held);
        let unlimited = Limits::new(LimitSpec {
            qps: 0,
            burst: 0,
            in_flight: 0,
        });
        let t = Instant::now();
        for _ in 0..1000 {
            drop(unlimited.acquire(None).await);
        }
        assert!(t.elapsed() < Duration::from_millis(100));
    }
}
