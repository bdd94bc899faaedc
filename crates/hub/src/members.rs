//! FleetClusters follow the registry: one per member, created when a source adds it,
//! deleted when its source goes, and its status written only when something in it changed
//! (a probe cycle over a healthy fleet writes nothing). Health transitions are Events.
//! Runs on the leader only.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::StreamExt as _;
use kube::Resource as _;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use muster_fleet::registry::{HealthState, Member};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::context::Context;
use crate::crd::cluster::fleet_cluster_name;
use crate::crd::{Condition, FleetCluster, FleetClusterStatus};
use crate::store::FIELD_MANAGER;

/// Marks the FleetClusters the hub manages (it deletes only those).
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "muster-hub");

/// Holds the member's registry name on its FleetCluster (names are sanitised).
pub const MEMBER_ANNOTATION: &str = "muster.dev/member";

/// A member's health word: `Invalid`, else the prober's state.
#[must_use]
pub fn health_word(m: &Member) -> &'static str {
    if m.invalid.is_some() {
        return "Invalid";
    }
    match m.health().state {
        HealthState::Unknown => "Unknown",
        HealthState::Healthy => "Healthy",
        HealthState::Unhealthy => "Unhealthy",
    }
}

/// The status a member's FleetCluster should have; `previous` keeps the transition time
/// when the health did not change.
#[must_use]
pub fn desired_status(
    m: &Member,
    labels: BTreeMap<String, String>,
    previous: Option<&FleetClusterStatus>,
    now: &str,
) -> FleetClusterStatus {
    let health = health_word(m).to_string();
    let h = m.health();
    let reason = match (&m.invalid, health.as_str()) {
        (Some(i), _) => Some(i.reason.clone()),
        (None, "Unhealthy") => h.last_error.clone(),
        _ => None,
    };
    let since = previous
        .filter(|p| p.health == health)
        .and_then(|p| p.last_transition_time.clone())
        .unwrap_or_else(|| now.to_string());
    let ready = Condition {
        type_: "Ready".into(),
        status: match health.as_str() {
            "Healthy" => "True",
            "Unknown" => "Unknown",
            _ => "False",
        }
        .into(),
        reason: health.clone(),
        message: reason.clone().unwrap_or_default(),
        last_transition_time: since.clone(),
        observed_generation: None,
    };
    FleetClusterStatus {
        member: m.name.clone(),
        version: h.version,
        source: m.source.to_string(),
        labels,
        cert_expiry: m.cert_expiry.clone(),
        reason,
        last_transition_time: Some(since),
        conditions: vec![ready],
        health,
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub created: usize,
    pub deleted: usize,
    pub status_writes: usize,
}

/// Keeps FleetClusters in line with the registry; remembers what it wrote last so that an
/// unchanged status is never written again.
pub struct MemberSync {
    ctx: Arc<Context>,
    api: Api<FleetCluster>,
    written: HashMap<String, FleetClusterStatus>,
    created: HashSet<String>,
}

impl MemberSync {
    #[must_use]
    pub fn new(ctx: Arc<Context>) -> Self {
        Self {
            api: Api::all(ctx.client.clone()),
            ctx,
            written: HashMap::new(),
            created: HashSet::new(),
        }
    }

    /// One pass: create, delete, and write the statuses that changed.
    ///
    /// # Errors
    /// The hub's answer to the first write that failed (the next pass tries again).
    pub async fn pass(&mut self) -> Result<Pass, kube::Error> {
        let mut pass = Pass::default();
        let members = self.ctx.registry.members();
        let now = now_rfc3339();
        let mut wanted: HashSet<String> = HashSet::with_capacity(members.len());
        let mut by_health: BTreeMap<&'static str, i64> = ["Healthy", "Unhealthy", "Unknown", "Invalid"]
            .into_iter()
            .map(|h| (h, 0))
            .collect();
        let mut writes = Vec::new();
        for m in &members {
            let name = fleet_cluster_name(&m.name);
            wanted.insert(name.clone());
            *by_health.entry(health_word(m)).or_default() += 1;
            let existing = self.ctx.clusters.get(&kube::runtime::reflector::ObjectRef::new(&name));
            if existing.is_none() && !self.created.contains(&name) {
                self.create(&name, &m.name).await?;
                self.created.insert(name.clone());
                pass.created += 1;
            }
            let current = self
                .written
                .get(&name)
                .cloned()
                .or_else(|| existing.as_ref().and_then(|fc| fc.status.clone()));
            let (labels, _) = self.ctx.overlay(m);
            let want = desired_status(m, labels, current.as_ref(), &now);
            if current.as_ref() != Some(&want) {
                writes.push((name, m.clone(), current, want));
            }
        }
        // NB: status writes go out a few at a time (a fleet that turns unhealthy at once).
        let this = &*self;
        let results: Vec<_> = futures::stream::iter(writes)
            .map(|(name, m, before, want)| async move {
                let r = this.write_status(&name, &want).await;
                (name, m, before, want, r)
            })
            .buffer_unordered(16)
            .collect()
            .await;
        for (name, m, before, want, r) in results {
            r?;
            self.ctx.metrics.status_written();
            pass.status_writes += 1;
            self.transition_event(&name, &m, before.as_ref(), &want).await;
            self.written.insert(name, want);
        }
        for (health, n) in &by_health {
            self.ctx.metrics.set_members(&[(health, *n)]);
        }
        if self.ctx.state.registry_loaded.load(Ordering::Relaxed) {
            for fc in self.ctx.clusters.state() {
                let name = fc.metadata.name.clone().unwrap_or_default();
                let managed = fc
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(MANAGED_BY.0))
                    .is_some_and(|v| v == MANAGED_BY.1);
                if managed && !wanted.contains(&name) && fc.metadata.deletion_timestamp.is_none() {
                    match self.api.delete(&name, &DeleteParams::default()).await {
                        Ok(_) | Err(kube::Error::Api(_)) => {}
                        Err(e) => return Err(e),
                    }
                    self.written.remove(&name);
                    self.created.remove(&name);
                    pass.deleted += 1;
                }
            }
        }
        Ok(pass)
    }

    async fn create(&self, name: &str, member: &str) -> Result<(), kube::Error> {
        let fc = json!({
            "apiVersion": "muster.dev/v1alpha1", "kind": "FleetCluster",
            "metadata": {
                "name": name,
                "labels": {MANAGED_BY.0: MANAGED_BY.1},
                "annotations": {MEMBER_ANNOTATION: member},
            },
            "spec": {},
        });
        self.api
            .patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(fc))
            .await
            .map(|_| ())
    }

    async fn write_status(&self, name: &str, status: &FleetClusterStatus) -> Result<(), kube::Error> {
        let patch = json!({"apiVersion": "muster.dev/v1alpha1", "kind": "FleetCluster", "status": status});
        self.api
            .patch_status(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(patch))
            .await
            .map(|_| ())
    }

    /// An Event when a member turns Unhealthy or Invalid, or recovers from it (a member's
    /// first Healthy is not news).
    async fn transition_event(
        &self,
        name: &str,
        m: &Member,
        before: Option<&FleetClusterStatus>,
        now: &FleetClusterStatus,
    ) {
        let was = before.map_or("", |b| b.health.as_str());
        if was == now.health {
            return;
        }
        let (type_, reason) = match now.health.as_str() {
            "Unhealthy" | "Invalid" => (EventType::Warning, now.health.clone()),
            "Healthy" if matches!(was, "Unhealthy" | "Invalid") => (EventType::Normal, "Recovered".to_string()),
            _ => return,
        };
        let mut reference = FleetCluster::new(name, crate::crd::FleetClusterSpec::default()).object_ref(&());
        if let Some(fc) = self.ctx.clusters.get(&kube::runtime::reflector::ObjectRef::new(name)) {
            reference = fc.object_ref(&());
        }
        let note = format!(
            "cluster {}: {was} -> {}{}",
            m.name,
            now.health,
            now.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
        );
        let ev = Event {
            type_,
            reason,
            note: Some(note.chars().take(1000).collect()),
            action: "Probe".into(),
            secondary: None,
        };
        if let Err(e) = self.ctx.recorder.publish(&ev, &reference).await {
            debug!(error = %e, "publishing a FleetCluster Event failed");
        }
    }
}

/// Keep FleetClusters in line every `sync_interval` until `stop`.
pub async fn run(ctx: Arc<Context>, stop: CancellationToken) {
    let _ = ctx.clusters.wait_until_ready().await;
    let mut sync = MemberSync::new(ctx.clone());
    let mut tick = tokio::time::interval(ctx.config.sync_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        match sync.pass().await {
            Ok(p) if p != Pass::default() => debug!(?p, "FleetClusters synced"),
            Ok(_) => {}
            Err(e) => warn!(error = %e, "syncing FleetClusters failed; retrying"),
        }
    }
}

/// Now, RFC 3339 to the second.
#[must_use]
pub fn now_rfc3339() -> String {
    jiff::Timestamp::from_second(jiff::Timestamp::now().as_second())
        .map(|t| t.to_string())
        .unwrap_or_default()
}
