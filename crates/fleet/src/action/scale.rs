//! `scale`: set `replicas` through the scale subresource of a Deployment, StatefulSet or
//! ReplicaSet. Scaling to N twice is scaling to N, so it is retried.

use kube::api::Patch;
use serde_json::json;

use super::{Outcome, dry_run_note, patch_params, resolve, target, target_name};
use crate::call::Caller;
use crate::failure::{Failure, Idempotence};
use muster_core::command::SCALABLE;

pub async fn run(c: &Caller) -> Result<Outcome, Failure> {
    let name = target_name(c)?;
    let r = resolve::resource(c, &target(c)?.resource).await?;
    if !SCALABLE.contains(&r.api.kind.as_str()) {
        return Err(Failure::invalid(
            "NotScalable",
            format!(
                "{} cannot be scaled: scale takes deployments, statefulsets, replicasets and replicationcontrollers",
                r.display()
            ),
        ));
    }
    let replicas = c
        .command
        .replicas
        .ok_or_else(|| Failure::invalid("MissingReplicas", "scale needs --replicas N".into()))?;
    let pp = patch_params(c, super::SCALE_MANAGER);
    let patch = json!({"spec": {"replicas": replicas}});
    let what = format!("{}/{name}", r.display());
    r.authorize(c, Some(c.namespace()), &what)?;
    c.call(Idempotence::IdempotentWrite, |client| {
        let api = r.api(client, Some(c.namespace()));
        let (pp, patch) = (&pp, &patch);
        async move { api.patch_scale(name.as_str(), pp, &Patch::Merge(patch)).await }
    })
    .await
    .map_err(|e| e.failure.within(&what))?;
    Ok(Outcome::summary(&[format!(
        "{what} scaled to {replicas}{}",
        dry_run_note(c)
    )]))
}
