//! `apply`: server-side apply of each manifest with muster's field manager;
//! `--force-conflicts` and `--dry-run=server`. Namespaces go first, then
//! CustomResourceDefinitions, then the rest in file order; before an object of a custom kind,
//! muster waits (per cluster) for its CRD to be Established, so one file holding a CRD and
//! its objects applies in one go (where `kubectl apply` fails the first time). Repeating an
//! apply changes nothing more, so it is retried. A failure says how many objects were
//! applied before it.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch};
use muster_core::name::Namespace;
use serde_json::Value;

use super::{Outcome, dry_run_note, patch_params, resolve};
use crate::call::Caller;
use crate::failure::{Failure, Idempotence};

/// How often a CRD is checked for `Established`.
const ESTABLISHED_POLL: Duration = Duration::from_millis(100);

/// Namespaces, then CRDs, then everything else, each in file order.
fn apply_order(manifests: &[Value]) -> Vec<usize> {
    let rank = |m: &Value| match (
        m.get("apiVersion").and_then(Value::as_str),
        m.get("kind").and_then(Value::as_str),
    ) {
        (Some("v1"), Some("Namespace")) => 0,
        (Some(v), Some("CustomResourceDefinition")) if v.starts_with("apiextensions.k8s.io/") => 1,
        _ => 2,
    };
    let mut order: Vec<usize> = (0..manifests.len()).collect();
    order.sort_by_key(|&i| rank(&manifests[i]));
    order
}

/// Whether a CRD's `Established` condition holds.
fn established(crd: &CustomResourceDefinition) -> bool {
    crd.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Established" && c.status == "True"))
}

/// The CRD on the caller's cluster that defines `kind` in `group`, if any.
async fn crd_for(c: &Caller, group: &str, kind: &str) -> Result<Option<CustomResourceDefinition>, Failure> {
    let list = c
        .call(Idempotence::Read, |client| async move {
            Api::<CustomResourceDefinition>::all(client)
                .list(&ListParams::default())
                .await
        })
        .await?;
    Ok(list
        .items
        .into_iter()
        .find(|crd| crd.spec.group == group && crd.spec.names.kind == kind))
}

/// Wait until the CRD `name` is Established on the caller's cluster (bounded by the
/// command's deadline), then forget what discovery knew of its group.
async fn wait_established(c: &Caller, name: &str, group: &str) -> Result<(), Failure> {
    loop {
        let crd = c
            .call(Idempotence::Read, |client| async move {
                Api::<CustomResourceDefinition>::all(client).get(name).await
            })
            .await?;
        if established(&crd) {
            c.discovery.forget_group(c.cluster(), group);
            return Ok(());
        }
        if c.remaining() <= ESTABLISHED_POLL {
            return Err(Failure::local(
                muster_core::result::Status::TimedOut,
                "CRDNotEstablished",
                format!("customresourcedefinition {name} was not Established before the deadline"),
                false,
            ));
        }
        tokio::time::sleep(ESTABLISHED_POLL).await;
    }
}

/// Resolve a manifest's kind; when the cluster does not serve it yet but has a CRD for it
/// that is not Established, wait for that CRD and resolve again.
async fn resolve_kind(c: &Caller, api_version: &str, kind: &str) -> Result<resolve::Resolved, Failure> {
    match resolve::kind(c, api_version, kind).await {
        Err(f) if f.reason == "UnknownKind" && !c.command.server_dry_run => {
            let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
            match crd_for(c, group, kind).await? {
                Some(crd) if !established(&crd) => {
                    let name = crd.metadata.name.clone().unwrap_or_default();
                    wait_established(c, &name, group).await?;
                    resolve::kind(c, api_version, kind).await
                }
                _ => Err(f),
            }
        }
        other => other,
    }
}

pub async fn run(c: &Caller) -> Result<Outcome, Failure> {
    let manifests = &c.command.manifests;
    if manifests.is_empty() {
        return Err(Failure::invalid("NoManifests", "apply needs objects (-f FILE)".into()));
    }
    let mut pp = patch_params(c, super::FIELD_MANAGER);
    pp.force = c.command.force_conflicts;
    let mut done = Vec::new();
    for (i, m) in apply_order(manifests).into_iter().map(|i| &manifests[i]).enumerate() {
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
        let r = resolve_kind(c, api_version, kind).await.map_err(progress)?;
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
        // NB: its objects may follow in this very command: wait until they are served.
        if r.api.kind == "CustomResourceDefinition"
            && r.api.group == "apiextensions.k8s.io"
            && !c.command.server_dry_run
        {
            let group = m.pointer("/spec/group").and_then(Value::as_str).unwrap_or_default();
            wait_established(c, name, group).await.map_err(progress)?;
        }
        done.push(format!("{}/{name} serverside-applied{}", r.display(), dry_run_note(c)));
    }
    Ok(Outcome::summary(&done))
}
