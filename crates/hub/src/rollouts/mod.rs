//! The FleetRollout reconciler: a rollout's resources (inline and from ConfigMaps) are
//! admitted like any write (validated, its namespace's FleetPolicy and cluster scope, the
//! policy checked for every selected cluster), snapshotted as a numbered revision, planned
//! into waves, and driven by a task of its own ([`drive`]). A hub that restarts or takes
//! over resumes the revision from its ledger; a new revision starts from the last one's
//! ledger, so each cluster knows what a rollback restores.

pub mod control;
pub mod drive;
pub mod gate;
pub mod ledger;
pub mod ops;
pub mod picture;
pub mod plan;
pub mod revision;
pub mod summary;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use muster_core::command::{Action as Verb, Command};
use muster_core::name::Namespace;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use self::drive::{Drive, describe, fresh_ledger};
use self::plan::Candidate;
use crate::commands::admit::{self, Refusal, Selected};
use crate::commands::run::event;
use crate::commands::status::set_condition;
use crate::context::{Context, RunHandle};
use crate::crd::Condition;
use crate::crd::rollout::{FleetRollout, FleetRolloutStatus, RolloutPhase};
use crate::metrics::Observer;
use crate::store::{FIELD_MANAGER, Store, StoreError};

/// `muster rollout approve`: `<revision>/<wave>` (1-based), comma-separated.
pub const APPROVE_ANNOTATION: &str = "muster.dev/approve";
/// `muster rollout undo`: the revision number to roll back.
pub const UNDO_ANNOTATION: &str = "muster.dev/undo";
/// `muster rollout abort`: the revision number to stop for good.
pub const ABORT_ANNOTATION: &str = "muster.dev/abort";

/// A reconcile failure (retried).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("hub API: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl crate::reconciler::Reason for Error {
    fn reason(&self) -> &'static str {
        match self {
            Self::Kube(_) => "HubApiError",
            Self::Store(e) => e.reason(),
        }
    }
}

/// `namespace/name`.
#[must_use]
pub fn key(fr: &FleetRollout) -> String {
    format!(
        "{}/{}",
        fr.metadata.namespace.as_deref().unwrap_or_default(),
        fr.metadata.name.as_deref().unwrap_or_default()
    )
}

/// Run the reconciler until `stop`.
pub async fn run_controller(ctx: Arc<Context>, stop: CancellationToken) {
    crate::reconciler::run::<FleetRollout, _, _, _>(ctx, stop, reconcile).await;
}

fn uid(fr: &FleetRollout) -> String {
    fr.metadata.uid.clone().unwrap_or_default()
}

fn annotation(fr: &FleetRollout, key: &str) -> Option<String> {
    fr.metadata.annotations.as_ref()?.get(key).cloned()
}

/// The rollout's objects: inline, then from ConfigMaps, with the namespace filled in.
async fn resources(ctx: &Context, fr: &FleetRollout) -> Result<(Vec<Value>, Namespace), Refusal> {
    let ns = fr.metadata.namespace.clone().unwrap_or_default();
    let mut out = fr.spec.resources.clone();
    for (i, from) in fr.spec.resources_from.iter().enumerate() {
        out.extend(admit::manifests_from(ctx, from, &ns, &format!("spec.resourcesFrom[{i}]")).await?);
    }
    let target_ns = Namespace::parse(fr.spec.namespace.as_deref().unwrap_or("default"))
        .map_err(|e| Refusal::spec("InvalidSpec", format!("spec.namespace: {e}")))?;
    if out.is_empty() {
        return Err(Refusal::spec(
            "InvalidSpec",
            "spec.resources: a rollout needs at least one object (inline or resourcesFrom)",
        ));
    }
    Ok((out, target_ns))
}

async fn reconcile(fr: Arc<FleetRollout>, ctx: Arc<Context>) -> Result<Action, Error> {
    if fr.metadata.deletion_timestamp.is_some() {
        if let Some((_, h)) = ctx.rollouts.remove(&uid(&fr)) {
            h.cancel.cancel();
        }
        return Ok(Action::await_change());
    }
    if ctx.rollouts.contains_key(&uid(&fr)) {
        return Ok(Action::requeue(Duration::from_secs(2)));
    }
    let ns = fr.metadata.namespace.clone().unwrap_or_default();
    let api: Api<FleetRollout> = Api::namespaced(ctx.client.clone(), &ns);
    let status = fr.status.clone().unwrap_or_default();
    // Admission: the objects, the namespace's rules, the clusters, the policy.
    let admitted = async {
        let (manifests, namespace) = resources(&ctx, &fr).await?;
        plan::validate(&fr.spec.strategy).map_err(|e| Refusal::spec("InvalidStrategy", e.to_string()))?;
        let mut command = Command::new(
            format!("{}-admit", uid(&fr)),
            crate::members::now_rfc3339(),
            Verb::Apply,
        );
        command.namespace = Some(namespace.clone());
        command.manifests.clone_from(&manifests);
        command
            .validate()
            .map_err(|e| Refusal::spec("InvalidSpec", format!("spec.resources: {e}")))?;
        let tenancy = admit::tenancy(&ctx, &ns).await?;
        let members = match admit::select(&ctx, &fr.spec.clusters, &tenancy, &ns) {
            Ok(m) => m,
            Err(Selected::Refused(r)) => return Err(*r),
            Err(Selected::OutOfScope { message, .. }) => return Err(Refusal::spec("ClusterNotAllowed", message)),
        };
        let fanout = muster_fleet::fanout::Fanout::new(
            ctx.registry.clone(),
            tenancy.policy.clone(),
            ctx.config.settings.clone().probe(false),
        )
        .sharing_discovery(&ctx.engine)
        .with_hooks(muster_fleet::hooks::Hooks {
            start_gate: None,
            observer: Some(Arc::new(Observer(ctx.metrics.clone()))),
        });
        if let Err(r) = fanout.check(&command, &members) {
            let first = r.violations.first().map(ToString::to_string).unwrap_or_default();
            return Err(Refusal::spec(
                r.violations.first().map_or("PolicyViolation", |v| v.rule),
                format!("{first} ({})", tenancy.origin),
            ));
        }
        let candidates: Vec<Candidate> = members
            .iter()
            .map(|m| Candidate {
                name: m.name.clone(),
                labels: ctx.overlay(m).0,
            })
            .collect();
        let waves = plan::waves(&fr.spec.strategy);
        let planned = plan::plan(&waves, &candidates, admit::selection)
            .map_err(|e| Refusal::spec("InvalidStrategy", e.to_string()))?;
        Ok((manifests, namespace, fanout, waves, planned))
    }
    .await;
    let (manifests, namespace, fanout, waves, planned) = match admitted {
        Ok(a) => a,
        Err(refusal) => return reject(&ctx, &api, &fr, &status, refusal).await,
    };
    let store = Store::owned_by(ctx.client.clone(), fr.as_ref());
    let rev = revision::ensure(&store, &manifests).await?;
    let old = ledger::load(&store).await?;
    let same = old
        .as_ref()
        .is_some_and(|l| l.hash == rev.hash && l.revision == rev.number);
    let undo_asked = annotation(&fr, UNDO_ANNOTATION).is_some_and(|v| v.trim() == rev.number.to_string());
    let ledger = if same {
        let l = old.unwrap_or_default();
        let settled = status.phase.is_settled() && status.revision == rev.number;
        let undo_pending = undo_asked && !l.rollback;
        if settled && !undo_pending {
            return Ok(Action::await_change());
        }
        l
    } else {
        let mut l = fresh_ledger(&rev, &planned, old.as_ref());
        ledger::save(&store, &mut l).await?;
        event(
            &ctx,
            fr.as_ref(),
            EventType::Normal,
            "Started",
            format!(
                "revision {} ({}) on {} cluster(s): {}",
                rev.number,
                rev.hash,
                l.clusters.len(),
                describe(&waves, &planned)
            ),
        )
        .await;
        info!(rollout = %key(&fr), revision = rev.number, clusters = l.clusters.len(), "revision started");
        l
    };
    let mut carried = status.clone();
    if !same {
        carried = FleetRolloutStatus {
            stable_revision: status.stable_revision,
            conditions: status.conditions.clone(),
            ..FleetRolloutStatus::default()
        };
    }
    let aborted = annotation(&fr, ABORT_ANNOTATION).is_some_and(|v| v.trim() == rev.number.to_string());
    let manifests_applied = Arc::new(revision::annotated(&rev.manifests, &rev.hash));
    let drive = Drive {
        ctx: ctx.clone(),
        api,
        fr: fr.clone(),
        spec: fr.spec.clone(),
        revision: rev,
        manifests: manifests_applied,
        store,
        ledger,
        waves,
        fanout,
        namespace,
        key: key(&fr),
        status: carried,
        restores: HashMap::new(),
        aborted,
        touched: false,
    };
    spawn(&ctx, &fr, drive);
    Ok(Action::requeue(Duration::from_secs(2)))
}

/// A rollout that cannot start: status Rejected naming the field, and an Event.
async fn reject(
    ctx: &Context,
    api: &Api<FleetRollout>,
    fr: &FleetRollout,
    status: &FleetRolloutStatus,
    refusal: Refusal,
) -> Result<Action, Error> {
    if status.phase == RolloutPhase::Rejected && status.observed_generation == fr.metadata.generation {
        return Ok(Action::await_change());
    }
    let mut s = status.clone();
    s.phase = RolloutPhase::Rejected;
    s.observed_generation = fr.metadata.generation;
    let now = crate::members::now_rfc3339();
    set_condition(
        &mut s.conditions,
        Condition::new("Accepted", false, &refusal.reason, refusal.message.clone(), &now),
    );
    set_condition(
        &mut s.conditions,
        Condition::new("Progressing", false, "Rejected", "", &now),
    );
    let patch = json!({"apiVersion": "muster.dev/v1alpha1", "kind": "FleetRollout", "status": s});
    api.patch_status(
        fr.metadata.name.as_deref().unwrap_or_default(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(patch),
    )
    .await?;
    event(ctx, fr, EventType::Warning, "Rejected", refusal.message.clone()).await;
    warn!(rollout = %key(fr), reason = %refusal.reason, "rejected: {}", refusal.message);
    Ok(Action::await_change())
}

fn spawn(ctx: &Arc<Context>, fr: &FleetRollout, drive: Drive) {
    let id = uid(fr);
    let cancel = CancellationToken::new();
    let (go, ready) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn({
        let (ctx, id, cancel) = (ctx.clone(), id.clone(), cancel.clone());
        async move {
            let _ = ready.await;
            drive.execute(cancel).await;
            ctx.rollouts.remove(&id);
        }
    });
    ctx.rollouts.insert(
        id,
        RunHandle {
            cancel,
            abort: task.abort_handle(),
        },
    );
    let _ = go.send(());
}
