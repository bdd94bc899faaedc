//! The hub's Prometheus metrics (`/metrics`, text format): requests to member clusters by
//! cluster, action and code, their latency, the time spent waiting on limits, commands by
//! action and outcome, members by health, drifted clusters per scheduled comparison, and
//! whether this replica leads. Fed by the fan-out's call observer and the reconcilers.

use std::sync::Arc;

use muster_fleet::hooks::{CallObserver, CallRecord};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label sets are plain `(name, value)` lists.
type Labels = Vec<(String, String)>;

fn histogram() -> Histogram {
    // NB: 1 ms to ~33 s in doubling steps: member API calls, and waits on limits.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// Every metric the hub exports.
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Histogram, fn() -> Histogram>,
    limiter_wait: Histogram,
    commands: Family<Labels, Counter>,
    rollouts: Family<Labels, Counter>,
    mqtt: Family<Labels, Counter>,
    members: Family<Labels, Gauge>,
    drifted: Family<Labels, Gauge>,
    leader: Gauge,
    status_writes: Counter,
    probe_cycles: Histogram,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("muster");
        let requests = Family::<Labels, Counter>::default();
        let latency =
            Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(histogram as fn() -> Histogram);
        let limiter_wait = histogram();
        let commands = Family::<Labels, Counter>::default();
        let rollouts = Family::<Labels, Counter>::default();
        let mqtt = Family::<Labels, Counter>::default();
        let members = Family::<Labels, Gauge>::default();
        let drifted = Family::<Labels, Gauge>::default();
        let leader = Gauge::default();
        let status_writes = Counter::default();
        let probe_cycles = histogram();
        registry.register(
            "requests",
            "Requests to member clusters by cluster, action and code",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Latency of requests to member clusters by action and code",
            latency.clone(),
        );
        registry.register(
            "limiter_wait_seconds",
            "Time requests waited for a member's limits",
            limiter_wait.clone(),
        );
        registry.register("commands", "FleetCommand runs by action and outcome", commands.clone());
        registry.register("rollouts", "FleetRollout revisions settled, by phase", rollouts.clone());
        registry.register(
            "mqtt_messages",
            "MQTT messages by direction (down, up) and outcome",
            mqtt.clone(),
        );
        registry.register("members", "Registry members by health", members.clone());
        registry.register(
            "drifted_clusters",
            "Clusters outside the baseline at a scheduled comparison's last run",
            drifted.clone(),
        );
        registry.register("leader", "1 when this replica leads", leader.clone());
        registry.register(
            "fleetcluster_status_writes",
            "FleetCluster status writes (made only on change)",
            status_writes.clone(),
        );
        registry.register(
            "probe_cycle_seconds",
            "How long probing every member took, per cycle",
            probe_cycles.clone(),
        );
        Self {
            probe_cycles,
            registry,
            requests,
            latency,
            limiter_wait,
            commands,
            rollouts,
            mqtt,
            members,
            drifted,
            leader,
            status_writes,
        }
    }
}

impl Metrics {
    /// The Prometheus text exposition.
    #[must_use]
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }

    pub fn command_finished(&self, action: &str, outcome: &str) {
        self.commands
            .get_or_create(&vec![
                ("action".into(), action.into()),
                ("outcome".into(), outcome.into()),
            ])
            .inc();
    }

    pub fn mqtt_message(&self, direction: &str, outcome: &str) {
        self.mqtt
            .get_or_create(&vec![
                ("direction".into(), direction.into()),
                ("outcome".into(), outcome.into()),
            ])
            .inc();
    }

    pub fn rollout_finished(&self, phase: &str) {
        self.rollouts.get_or_create(&vec![("phase".into(), phase.into())]).inc();
    }

    /// Members by health, replacing the previous counts.
    pub fn set_members(&self, by_health: &[(&str, i64)]) {
        for (health, n) in by_health {
            self.members
                .get_or_create(&vec![("health".into(), (*health).into())])
                .set(*n);
        }
    }

    pub fn set_drifted(&self, namespace: &str, name: &str, n: i64) {
        self.drifted
            .get_or_create(&vec![
                ("namespace".into(), namespace.into()),
                ("name".into(), name.into()),
            ])
            .set(n);
    }

    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    pub fn status_written(&self) {
        self.status_writes.inc();
    }

    /// One probe cycle over every member finished.
    pub fn probe_cycle(&self, took: std::time::Duration) {
        self.probe_cycles.observe(took.as_secs_f64());
    }

    /// FleetCluster status writes so far.
    #[must_use]
    pub fn status_writes(&self) -> u64 {
        self.status_writes.get()
    }
}

/// The fan-out's call observer, feeding [`Metrics`].
#[derive(Debug, Clone)]
pub struct Observer(pub Arc<Metrics>);

impl CallObserver for Observer {
    fn call(&self, r: &CallRecord<'_>) {
        let code = r.code.map_or_else(|| "none".to_string(), |c| c.to_string());
        self.0
            .latency
            .get_or_create(&vec![
                ("action".into(), r.action.to_string()),
                ("code".into(), code.clone()),
            ])
            .observe(r.took.as_secs_f64());
        self.0
            .requests
            .get_or_create(&vec![
                ("cluster".into(), r.cluster.to_string()),
                ("action".into(), r.action.to_string()),
                ("code".into(), code),
            ])
            .inc();
        self.0.limiter_wait.observe(r.waited.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition() {
        let m = Arc::new(Metrics::default());
        Observer(m.clone()).call(&CallRecord {
            cluster: "prod-1",
            action: muster_core::command::Action::Get,
            code: Some(200),
            took: std::time::Duration::from_millis(12),
            waited: std::time::Duration::ZERO,
        });
        m.command_finished("get", "Succeeded");
        m.set_leader(true);
        let text = m.encode();
        for needle in [
            "muster_requests_total{cluster=\"prod-1\",action=\"get\",code=\"200\"} 1",
            "muster_request_duration_seconds_bucket{action=\"get\",code=\"200\",le=",
            "muster_commands_total{action=\"get\",outcome=\"Succeeded\"} 1",
            "muster_leader 1",
        ] {
            assert!(text.contains(needle), "{needle} not in:\n{text}");
        }
    }
}
