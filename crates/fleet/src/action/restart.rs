//! `restart`: a rolling restart of a Deployment, StatefulSet or DaemonSet, by stamping its
//! pod template with [`RESTART_ANNOTATION`] set to the command's issue time. The stamp comes
//! from the command, not the clock, so a retried restart writes the same template and the
//! workload restarts once.

use kube::api::Patch;
use serde_json::json;

use super::{Outcome, dry_run_note, patch_params, resolve, target, target_name};
use crate::call::Caller;
use crate::failure::{Failure, Idempotence};
use muster_core::command::RESTARTABLE;

/// The pod-template annotation muster stamps (kubectl uses `kubectl.kubernetes.io/restartedAt`).
pub const RESTART_ANNOTATION: &str = "muster.dev/restartedAt";

pub async fn run(c: &Caller) -> Result<Outcome, Failure> {
    let name = target_name(c)?;
    let r = resolve::resource(c, &target(c)?.resource).await?;
    if !RESTARTABLE.contains(&r.api.kind.as_str()) {
        return Err(Failure::invalid(
            "NotRestartable",
            format!(
                "{} cannot be restarted: restart takes deployments, statefulsets and daemonsets",
                r.display()
            ),
        ));
    }
    let pp = patch_params(c, super::RESTART_MANAGER);
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {
        RESTART_ANNOTATION: c.command.issued_at,
    }}}}});
    let what = format!("{}/{name}", r.display());
    r.authorize(c, Some(c.namespace()), &what)?;
    let answer = c
        .call(Idempotence::IdempotentWrite, |client| {
            let api = r.api(client, Some(c.namespace()));
            let (pp, patch) = (&pp, &patch);
            async move { api.patch(name.as_str(), pp, &Patch::Merge(patch)).await }
        })
        .await
        .map_err(|e| e.failure.within(&what))?;
    super::refuse_status(&answer).map_err(|f| f.within(&what))?;
    Ok(Outcome::summary(&[format!("{what} restarted{}", dry_run_note(c))]))
}
