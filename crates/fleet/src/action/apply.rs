//! `apply`: server-side apply of each manifest, in file order, with muster's field manager;
//! `--force-conflicts` and `--dry-run=server`. Repeating an apply changes nothing more, so
//! it is retried. A failure says how many objects were applied before it.

use kube::api::Patch;
use muster_core::name::Namespace;
use serde_json::Value;

use super::{Outcome, dry_run_note, patch_params, resolve};
use crate::call::Caller;
use crate::failure::{Failure, Idempotence};

pub async fn run(c: &Caller) -> Result<Outcome, Failure> {
    let manifests = &c.command.manifests;
    if manifests.is_empty() {
        return Err(Failure::invalid("NoManifests", "apply needs objects (-f FILE)".into()));
    }
    let mut pp = patch_params(c, super::FIELD_MANAGER);
    pp.force = c.command.force_conflicts;
    let mut done = Vec::new();
    for (i, m) in manifests.iter().enumerate() {
        let text = |p: &str| m.pointer(p).and_then(Value::as_str).unwrap_or_default();
        let (api_version, kind, name) = (text("/apiVersion"), text("/kind"), text("/metadata/name"));
        let what = format!("{kind}/{name}");
        let progress = |f: Failure| {
            f.within(&format!(
                "{what} (object {} of {}, {i} applied)",
                i + 1,
                manifests.len()
            ))
        };
        let r = resolve::kind(c, api_version, kind).await.map_err(progress)?;
        // NB: the command was validated (manifest namespaces are valid and agree with -n);
        // parse again rather than trust a string into a URL.
        let ns: Option<Namespace> = match (r.namespaced, m.pointer("/metadata/namespace").and_then(Value::as_str)) {
            (false, _) => None,
            (true, Some(ns)) => {
                Some(Namespace::parse(ns).map_err(|e| progress(Failure::invalid("InvalidName", e.to_string())))?)
            }
            (true, None) => Some(c.namespace().clone()),
        };
        r.authorize(c, ns.as_ref(), &what).map_err(progress)?;
        let mut obj = m.clone();
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            match &ns {
                Some(ns) => meta.insert("namespace".into(), ns.as_str().into()),
                // NB: a cluster-scoped object takes no namespace (kubectl drops it too).
                None => meta.remove("namespace"),
            };
        }
        let answer = c
            .call(Idempotence::IdempotentWrite, |client| {
                let api = r.api(client, ns.as_ref());
                let (pp, obj) = (&pp, &obj);
                async move { api.patch(name, pp, &Patch::Apply(obj)).await }
            })
            .await
            .map_err(|e| progress(e.failure))?;
        super::refuse_status(&answer).map_err(progress)?;
        done.push(format!("{}/{name} serverside-applied{}", r.display(), dry_run_note(c)));
    }
    Ok(Outcome::summary(&done))
}
