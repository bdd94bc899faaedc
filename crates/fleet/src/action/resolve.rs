//! Typed resource names to API resources on one cluster: built-ins from the static table in
//! `kinds.rs` (no request), anything else (custom resources, aggregated APIs) from the
//! cluster's discovery, cached per cluster and group-version for the life of the process.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{APIGroupList, APIResource, APIResourceList};
use kube::api::{Api, DynamicObject};
use kube::discovery::ApiResource;
use muster_core::kinds;
use muster_core::name::Namespace;
use muster_core::policy::Resolved as ResolvedObject;

use crate::call::Caller;
use crate::failure::{Failure, Idempotence};

/// A resource as one cluster serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub api: ApiResource,
    pub namespaced: bool,
}

impl Resolved {
    fn builtin(b: &kinds::Builtin) -> Self {
        Self {
            api: ApiResource {
                group: b.group.to_string(),
                version: b.version.to_string(),
                api_version: b.api_version(),
                kind: b.kind.to_string(),
                plural: b.plural.to_string(),
            },
            namespaced: b.namespaced,
        }
    }

    fn discovered(group: &str, version: &str, r: &APIResource) -> Self {
        Self {
            api: ApiResource {
                group: group.to_string(),
                version: version.to_string(),
                api_version: if group.is_empty() {
                    version.to_string()
                } else {
                    format!("{group}/{version}")
                },
                kind: r.kind.clone(),
                plural: r.name.clone(),
            },
            namespaced: r.namespaced,
        }
    }

    /// `deployment.apps`, `pod`: how kubectl names the resource in messages.
    #[must_use]
    pub fn display(&self) -> String {
        let singular = self.api.kind.to_ascii_lowercase();
        if self.api.group.is_empty() {
            singular
        } else {
            format!("{singular}.{}", self.api.group)
        }
    }

    /// A dynamic API for this resource in `namespace` (ignored for cluster-scoped ones;
    /// `None` means all namespaces).
    #[must_use]
    pub fn api(&self, client: kube::Client, namespace: Option<&Namespace>) -> Api<DynamicObject> {
        match namespace {
            Some(ns) if self.namespaced => Api::namespaced_with(client, ns.as_str(), &self.api),
            _ => Api::all_with(client, &self.api),
        }
    }

    /// Check a write of `name` to this resource against the caller's policy, as this
    /// cluster resolved it, before sending it.
    ///
    /// # Errors
    /// A `Rejected` failure.
    pub fn authorize(&self, c: &Caller, namespace: Option<&Namespace>, what: &str) -> Result<(), Failure> {
        c.authorize(&ResolvedObject {
            kind: &self.api.kind,
            group: &self.api.group,
            namespaced: Some(self.namespaced),
            namespace: namespace.filter(|_| self.namespaced),
            what,
        })
    }
}

fn not_served(what: &str) -> Failure {
    Failure::invalid(
        "UnknownResource",
        format!("the server doesn't have a resource type \"{what}\""),
    )
}

async fn group_list(c: &Caller) -> Result<Arc<APIGroupList>, Failure> {
    if let Some(g) = c.discovery.group_list(c.cluster()) {
        return Ok(g.clone());
    }
    let list = Arc::new(
        c.call(
            Idempotence::Read,
            |client| async move { client.list_api_groups().await },
        )
        .await?,
    );
    c.discovery.set_group_list(c.cluster(), list.clone());
    Ok(list)
}

async fn resource_list(c: &Caller, group_version: &str) -> Result<Option<Arc<APIResourceList>>, Failure> {
    if let Some(r) = c.discovery.resource_list(c.cluster(), group_version) {
        return Ok(Some(r.clone()));
    }
    let gv = group_version.to_string();
    let fetched = c
        .call(Idempotence::Read, |client| {
            let gv = gv.clone();
            async move {
                if gv.contains('/') {
                    client.list_api_group_resources(&gv).await
                } else {
                    client.list_core_api_resources(&gv).await
                }
            }
        })
        .await;
    match fetched {
        Ok(list) => {
            let list = Arc::new(list);
            c.discovery.set_resource_list(c.cluster(), group_version, list.clone());
            Ok(Some(list))
        }
        Err(r) if r.failure.code == Some(404) => Ok(None),
        Err(r) => Err(r.failure),
    }
}

/// Resolve a typed name (`deploy`, `widgets`, `widgets.example.com`, `wd`) on the
/// caller's cluster.
///
/// # Errors
/// `UnknownResource` when the cluster serves nothing by that name, or the discovery
/// request's failure.
pub async fn resource(c: &Caller, typed: &str) -> Result<Resolved, Failure> {
    if let Some(b) = kinds::lookup(typed) {
        return Ok(Resolved::builtin(b));
    }
    let (name, group) = match typed.split_once('.') {
        Some((n, g)) => (n, Some(g)),
        None => (typed, None),
    };
    let groups = group_list(c).await?;
    for g in groups.groups.iter().filter(|g| group.is_none_or(|want| want == g.name)) {
        let Some(preferred) = g.preferred_version.as_ref().or(g.versions.first()) else {
            continue;
        };
        let Some(list) = resource_list(c, &preferred.group_version).await? else {
            continue;
        };
        let found = list.resources.iter().filter(|r| !r.name.contains('/')).find(|r| {
            r.name.eq_ignore_ascii_case(name)
                || r.kind.eq_ignore_ascii_case(name)
                || r.singular_name.eq_ignore_ascii_case(name)
                || r.short_names
                    .as_ref()
                    .is_some_and(|s| s.iter().any(|s| s.eq_ignore_ascii_case(name)))
        });
        if let Some(r) = found {
            return Ok(Resolved::discovered(&g.name, &preferred.version, r));
        }
    }
    Err(not_served(typed))
}

/// Resolve a manifest's `apiVersion` and `kind` on the caller's cluster.
///
/// # Errors
/// `UnknownKind` when the cluster does not serve it (say, its CRD is missing).
pub async fn kind(c: &Caller, api_version: &str, kind: &str) -> Result<Resolved, Failure> {
    if let Some(b) = kinds::by_kind(api_version, kind).filter(|b| b.api_version() == api_version) {
        return Ok(Resolved::builtin(b));
    }
    let missing = || {
        Failure::invalid(
            "UnknownKind",
            format!("no matches for kind \"{kind}\" in version \"{api_version}\" (is its CRD installed?)"),
        )
    };
    let list = resource_list(c, api_version).await?.ok_or_else(missing)?;
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    list.resources
        .iter()
        .find(|r| r.kind == kind && !r.name.contains('/'))
        .map(|r| Resolved::discovered(group, version, r))
        .ok_or_else(missing)
}
