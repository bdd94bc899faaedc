//! `pods/log`: deterministic synthetic container logs, generated lazily line by line (a log
//! of any length is never built whole), with `tailLines`, `sinceSeconds`, `limitBytes`,
//! `timestamps`, `previous` and `follow` as the kubelet serves them.
//!
//! Line `i` of a container instance is a pure function of (cluster seed, pod, container,
//! instance start, `i`): two requests see the same log. A container prints
//! `log_startup_lines` lines when it starts and then one line per `log_interval_ms`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{BufMut as _, Bytes, BytesMut};
use futures::Stream;
use serde_json::Value;

use super::behavior::fnv1a;
use super::cluster::{Cluster, gr};
use super::request::Query;
use super::status::{ApiError, ApiResult};
use super::store::Object;

/// Bytes generated per chunk of a log response.
const CHUNK: usize = 32 * 1024;

/// One container instance whose log is served.
#[derive(Debug, Clone)]
pub struct Instance {
    pub pod: String,
    pub namespace: String,
    pub container: String,
    pub image: String,
    /// Start of the instance, milliseconds since the epoch.
    pub started_ms: i64,
    /// End for a terminated instance (its log stops there, with a fatal line).
    pub finished_ms: Option<i64>,
    pub seed: u64,
}

/// Parsed `pods/log` options.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub container: Option<String>,
    pub tail_lines: Option<u64>,
    pub limit_bytes: Option<u64>,
    pub since_seconds: Option<i64>,
    pub since_time: Option<i64>,
    pub timestamps: bool,
    pub previous: bool,
    pub follow: bool,
}

impl Options {
    /// # Errors
    /// `BadRequest` naming the malformed parameter.
    pub fn parse(q: &Query) -> ApiResult<Self> {
        let num = |k: &str| -> ApiResult<Option<i64>> {
            q.get(k)
                .map(|v| {
                    v.parse::<i64>()
                        .map_err(|_| ApiError::bad_request(format!("{k}: invalid value {v:?}: must be an integer")))
                })
                .transpose()
        };
        let positive = |k: &str, v: Option<i64>, min: i64| -> ApiResult<Option<u64>> {
            match v {
                Some(n) if n < min => Err(ApiError::invalid(
                    "PodLogOptions",
                    "",
                    "",
                    &[(
                        k.into(),
                        format!("Invalid value: {n}: must be greater than or equal to {min}"),
                    )],
                )),
                Some(n) => Ok(Some(u64::try_from(n).unwrap_or(0))),
                None => Ok(None),
            }
        };
        let since_time = q
            .get("sinceTime")
            .map(|t| {
                t.parse::<jiff::Timestamp>()
                    .map(|t| t.as_millisecond())
                    .map_err(|_| ApiError::bad_request(format!("sinceTime: invalid RFC 3339 time {t:?}")))
            })
            .transpose()?;
        let since_seconds =
            positive("sinceSeconds", num("sinceSeconds")?, 1)?.map(|s| i64::try_from(s).unwrap_or(i64::MAX));
        if since_seconds.is_some() && since_time.is_some() {
            return Err(ApiError::invalid(
                "PodLogOptions",
                "",
                "",
                &[(
                    "sinceSeconds".into(),
                    "Forbidden: at most one of sinceTime or sinceSeconds may be specified".into(),
                )],
            ));
        }
        Ok(Self {
            container: q.get("container").map(String::from),
            tail_lines: positive("tailLines", num("tailLines")?, 0)?,
            limit_bytes: positive("limitBytes", num("limitBytes")?, 1)?,
            since_seconds,
            since_time,
            timestamps: q.flag("timestamps"),
            previous: q.flag("previous"),
            follow: q.flag("follow"),
        })
    }
}

fn ts_ms(v: Option<&Value>) -> Option<i64> {
    v.and_then(Value::as_str)
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(jiff::Timestamp::as_millisecond)
}

/// Choose the container and instance a log request addresses.
///
/// # Errors
/// `BadRequest` as the kubelet answers: ambiguous or unknown container, a container that
/// has not started, or `previous` without a terminated instance.
pub fn resolve(cluster: &Cluster, pod: &Object, opts: &Options) -> ApiResult<Instance> {
    let names = |k: &str| -> Vec<String> {
        pod.value
            .pointer(&format!("/spec/{k}"))
            .and_then(Value::as_array)
            .map(|cs| cs.iter().filter_map(|c| c["name"].as_str().map(String::from)).collect())
            .unwrap_or_default()
    };
    let (containers, inits) = (names("containers"), names("initContainers"));
    let container = match &opts.container {
        Some(c) if containers.contains(c) || inits.contains(c) => c.clone(),
        Some(c) => {
            return Err(ApiError::bad_request(format!(
                "container {c} is not valid for pod {}",
                pod.name()
            )));
        }
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            let mut msg = format!(
                "a container name must be specified for pod {}, choose one of: [{}]",
                pod.name(),
                containers.join(" ")
            );
            if !inits.is_empty() {
                msg.push_str(&format!(" or one of the init containers: [{}]", inits.join(" ")));
            }
            return Err(ApiError::bad_request(msg));
        }
    };
    let status = ["containerStatuses", "initContainerStatuses"]
        .iter()
        .filter_map(|k| pod.value.pointer(&format!("/status/{k}")).and_then(Value::as_array))
        .flatten()
        .find(|s| s["name"] == container.as_str())
        .cloned()
        .unwrap_or(Value::Null);
    let image = status["image"].as_str().unwrap_or_default().to_string();
    let instance = |started: Option<i64>, finished: Option<i64>| Instance {
        pod: pod.name().into(),
        namespace: pod.namespace().into(),
        container: container.clone(),
        image: image.clone(),
        started_ms: started.unwrap_or(0),
        finished_ms: finished,
        seed: cluster.seed,
    };
    let last = status.pointer("/lastState/terminated");
    if opts.previous {
        return match last {
            Some(t) => {
                // The instance before the last one: one back-off earlier.
                let start = ts_ms(t.get("startedAt")).unwrap_or(0);
                let gap = i64::try_from(cluster.behavior.crash_backoff(0).as_millis()).unwrap_or(1000);
                Ok(instance(Some(start - gap), Some(start - gap)))
            }
            None => Err(ApiError::bad_request(format!(
                "previous terminated container \"{container}\" in pod \"{}\" not found",
                pod.name()
            ))),
        };
    }
    if let Some(started) = ts_ms(status.pointer("/state/running/startedAt")) {
        return Ok(instance(Some(started), None));
    }
    if let Some(t) = status.pointer("/state/terminated") {
        return Ok(instance(ts_ms(t.get("startedAt")), ts_ms(t.get("finishedAt"))));
    }
    if let Some(t) = last {
        // Crash-looping: the kubelet serves the last run's log.
        return Ok(instance(ts_ms(t.get("startedAt")), ts_ms(t.get("finishedAt"))));
    }
    let reason = status
        .pointer("/state/waiting/reason")
        .and_then(Value::as_str)
        .unwrap_or("ContainerCreating");
    Err(ApiError::bad_request(format!(
        "container \"{container}\" in pod \"{}\" is waiting to start: {reason}",
        pod.name()
    )))
}

const STARTUP: &[&str] = &[
    "starting {c} (image {i})",
    "loading configuration from /etc/{c}/config.yaml",
    "configuration loaded: 14 keys, profile=production",
    "connecting to upstream services",
    "connected to cache at redis:6379",
    "connected to database at postgres:5432 (pool size 10)",
    "registering HTTP routes",
    "health endpoint ready at :8081/healthz",
    "metrics endpoint ready at :9090/metrics",
    "listening on 0.0.0.0:8080",
];
const PATHS: &[&str] = &[
    "/api/items",
    "/api/items/{n}",
    "/api/cart",
    "/api/checkout",
    "/api/users/{n}",
    "/healthz",
    "/static/app.js",
    "/api/search?q=shoes",
];
const METHODS: &[&str] = &["GET", "GET", "GET", "POST", "PUT", "DELETE"];
const STATUSES: &[u16] = &[200, 200, 200, 200, 201, 204, 304, 404, 500];

impl Instance {
    fn interval_ms(cluster_interval: u64) -> i64 {
        i64::try_from(cluster_interval.max(1)).unwrap_or(1000)
    }

    /// Lines this instance has printed by `now_ms`.
    fn lines_at(&self, now_ms: i64, startup: u64, interval: i64) -> u64 {
        let end = self.finished_ms.map_or(now_ms, |f| f.min(now_ms));
        if end < self.started_ms {
            return 0;
        }
        let running = u64::try_from((end - self.started_ms) / interval).unwrap_or(0);
        let fatal = u64::from(self.finished_ms.is_some());
        match self.finished_ms {
            // A crashed instance printed its start-up and then died.
            Some(_) => startup.min(STARTUP.len() as u64) + fatal,
            None => startup + running,
        }
    }

    fn time_of(&self, i: u64, startup: u64, interval: i64) -> i64 {
        if i < startup {
            self.started_ms + i64::try_from(i).unwrap_or(0) * 3
        } else {
            self.started_ms + i64::try_from(i - startup + 1).unwrap_or(0) * interval
        }
    }

    /// The text of line `i` (without the kubelet's timestamp prefix).
    fn line(&self, i: u64, startup: u64, total_if_dead: Option<u64>, at_ms: i64) -> String {
        let ts = jiff::Timestamp::from_millisecond(at_ms).map_or_else(|_| String::new(), |t| format!("{t:.3}"));
        if total_if_dead.is_some_and(|n| i + 1 == n) {
            return format!(
                "{ts} FATAL [{}] unable to serve: dial tcp 10.96.0.17:5432: connect: connection refused; exiting with code 1",
                self.container
            );
        }
        if i < startup {
            let tpl = STARTUP[usize::try_from(i).unwrap_or(0) % STARTUP.len()];
            return format!(
                "{ts} INFO  [{}] {}",
                self.container,
                tpl.replace("{c}", &self.container).replace("{i}", &self.image)
            );
        }
        let mut rng = fastrand::Rng::with_seed(
            self.seed ^ fnv1a(self.pod.as_bytes()) ^ fnv1a(self.container.as_bytes()).rotate_left(17) ^ i,
        );
        let status = STATUSES[rng.usize(..STATUSES.len())];
        let level = if status >= 500 {
            "ERROR"
        } else if status >= 400 {
            "WARN "
        } else {
            "INFO "
        };
        let path = PATHS[rng.usize(..PATHS.len())].replace("{n}", &rng.u32(1..10_000).to_string());
        format!(
            "{ts} {level} [{}] {} {path} -> {status} ({} ms) req_id={:016x}",
            self.container,
            METHODS[rng.usize(..METHODS.len())],
            rng.u32(1..400),
            rng.u64(..)
        )
    }
}

/// Counts live log streams of a cluster (a guard per stream), so tests can prove that a
/// closed client leaves nothing running.
#[derive(Debug, Default)]
pub struct StreamCounter(AtomicUsize);

impl StreamCounter {
    #[must_use]
    pub fn active(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

struct StreamGuard(Arc<Cluster>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.log_streams.0.fetch_sub(1, Ordering::SeqCst);
    }
}

struct LogState {
    inst: Instance,
    opts: Options,
    next: u64,
    sent: u64,
    startup: u64,
    interval: i64,
    _guard: StreamGuard,
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

impl LogState {
    fn total(&self, now: i64) -> u64 {
        self.inst.lines_at(now, self.startup, self.interval)
    }

    /// Whether the container is still running (a follow ends when it stops or its pod goes).
    fn still_running(&self) -> bool {
        let pod = self
            ._guard
            .0
            .store
            .get(&gr("", "pods"), &self.inst.namespace, &self.inst.pod);
        pod.is_some_and(|p| {
            p.value()
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["name"] == self.inst.container.as_str() && c.pointer("/state/running").is_some())
                })
        })
    }

    /// Render lines `self.next..upto` into at most one chunk.
    fn render(&mut self, upto: u64) -> Option<Bytes> {
        let dead_total = self.inst.finished_ms.map(|_| self.total(i64::MAX));
        let mut out = BytesMut::new();
        while self.next < upto && out.len() < CHUNK {
            let at = self.inst.time_of(self.next, self.startup, self.interval);
            let mut line = String::new();
            if self.opts.timestamps {
                let stamp = jiff::Timestamp::from_millisecond(at).map_or_else(|_| String::new(), |t| format!("{t:.9}"));
                line.push_str(&stamp);
                line.push(' ');
            }
            line.push_str(&self.inst.line(self.next, self.startup, dead_total, at));
            line.push('\n');
            out.put_slice(line.as_bytes());
            self.next += 1;
        }
        if let Some(limit) = self.opts.limit_bytes {
            let room = usize::try_from(limit.saturating_sub(self.sent)).unwrap_or(usize::MAX);
            out.truncate(room);
        }
        self.sent += out.len() as u64;
        (!out.is_empty()).then(|| out.freeze())
    }

    async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            if self.opts.limit_bytes.is_some_and(|l| self.sent >= l) {
                return None;
            }
            let now = now_ms();
            let total = self.total(now);
            if self.next < total {
                return self.render(total);
            }
            if !self.opts.follow || self.inst.finished_ms.is_some() || !self.still_running() {
                return None;
            }
            let due = self.inst.time_of(self.next, self.startup, self.interval);
            tokio::time::sleep(Duration::from_millis(u64::try_from((due - now).max(1)).unwrap_or(1))).await;
        }
    }
}

/// The log of `inst` as a stream of chunks, honouring `opts`.
pub fn stream(cluster: &Arc<Cluster>, inst: Instance, opts: Options) -> impl Stream<Item = Bytes> + Send + use<> {
    cluster.log_streams.0.fetch_add(1, Ordering::SeqCst);
    let startup = cluster.behavior.log_startup_lines;
    let interval = Instance::interval_ms(cluster.behavior.log_interval_ms);
    let now = now_ms();
    let total = inst.lines_at(now, startup, interval);
    let mut first = 0;
    if let Some(since) = opts.since_seconds.map(|s| now - s * 1000).or(opts.since_time) {
        while first < total && inst.time_of(first, startup, interval) < since {
            first += 1;
        }
    }
    if let Some(tail) = opts.tail_lines {
        first = first.max(total.saturating_sub(tail));
    }
    let state = LogState {
        inst,
        opts,
        next: first,
        sent: 0,
        startup,
        interval,
        _guard: StreamGuard(cluster.clone()),
    };
    futures::stream::unfold(state, |mut s| async move { s.next_chunk().await.map(|c| (c, s)) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(finished: Option<i64>) -> Instance {
        Instance {
            pod: "web-1".into(),
            namespace: "shop".into(),
            container: "web".into(),
            image: "nginx:1".into(),
            started_ms: 1_000_000,
            finished_ms: finished,
            seed: 7,
        }
    }

    #[test]
    fn lines_are_deterministic_and_counted() {
        let i = inst(None);
        assert_eq!(i.lines_at(1_000_000, 20, 1000), 20);
        assert_eq!(i.lines_at(1_005_500, 20, 1000), 25);
        assert_eq!(i.lines_at(999_000, 20, 1000), 0);
        assert_eq!(i.line(30, 20, None, 5), i.line(30, 20, None, 5));
        assert_ne!(i.line(30, 20, None, 5), i.line(31, 20, None, 5));
        assert!(i.line(0, 20, None, 5).contains("starting web (image nginx:1)"));
        let dead = inst(Some(1_000_500));
        let n = dead.lines_at(i64::MAX, 10, 1000);
        assert_eq!(n, 11);
        assert!(dead.line(n - 1, 10, Some(n), 5).contains("FATAL"));
    }
}
