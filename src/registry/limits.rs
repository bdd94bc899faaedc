//! Per-member request limits: a governor rate limiter (QPS with a burst), an in-flight cap,
//! and an optional fleet-wide rate limiter. Every request the fan-out sends, retries
//! included, goes through [`Limits::acquire`].

use std::num::NonZeroU32;
use std::sync::{Arc, LazyLock};

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
        }
    }

    /// Wait for an in-flight slot, then for this member's rate, then for the fleet's.
    pub async fn acquire(&self, fleet: Option<&DefaultDirectRateLimiter>) -> Permit {
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
    use std::time::{Duration, Instant};

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
