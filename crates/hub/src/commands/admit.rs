//! Admission of a FleetCommand run, before any member is touched: its manifests (inline or
//! from a ConfigMap), the validated command, its namespace's policy (its one FleetPolicy,
//! else the hub's default), the clusters it selects (cordoned ones left out), the clusters
//! that namespace may target at all, and the policy checked for every selected member. A
//! refusal names the field or rule and sends nothing.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};
use muster_core::command::Command;
use muster_core::policy::Policy;
use muster_core::result::{ExecError, ExecResult, Output, Status};
use muster_fleet::fanout::Fanout;
use muster_fleet::hooks::Hooks;
use muster_fleet::registry::{Member, Selection};
use serde_json::Value;

use crate::context::Context;
use crate::crd::command::{ClusterSelection, ManifestsFrom};
use crate::crd::{FleetCommand, FleetPolicy};

/// Why a run was refused.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// A stable short label (`InvalidSpec`, `InvalidSelector`, `ClusterNotAllowed`, ...).
    pub reason: String,
    /// Names the field, cluster or rule.
    pub message: String,
    /// The command, when it was valid (the policy or the tenant scope refused it).
    pub command: Option<Command>,
    /// A `Rejected` result per selected cluster, when clusters were selected.
    pub results: Vec<ExecResult>,
}

impl Refusal {
    /// A refusal of the spec itself (no command, no clusters).
    #[must_use]
    pub fn spec(reason: &str, message: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            message: message.into(),
            command: None,
            results: Vec::new(),
        }
    }
}

/// A namespace's rules: its policy and the clusters it may target.
#[derive(Debug, Clone)]
pub struct Tenancy {
    pub policy: Policy,
    /// `FleetPolicy ns/name`, or `the hub's default policy`.
    pub origin: String,
    /// The clusters the namespace may target (`None`: every cluster).
    pub scope: Option<Selection>,
}

/// The largest manifest text read from a ConfigMap.
const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// A command admitted to run.
pub struct Admitted {
    pub command: Command,
    pub members: Vec<Arc<Member>>,
    pub fanout: Fanout,
    pub tenancy: Tenancy,
}

/// The rules of `namespace`: exactly one FleetPolicy, or none (the default policy).
///
/// # Errors
/// Several FleetPolicies, one that does not parse, or the hub's error listing them.
pub async fn tenancy(ctx: &Context, namespace: &str) -> Result<Tenancy, Refusal> {
    let api: Api<FleetPolicy> = Api::namespaced(ctx.client.clone(), namespace);
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| Refusal::spec("PolicyUnreadable", format!("listing FleetPolicies in {namespace}: {e}")))?;
    match list.items.as_slice() {
        [] => Ok(Tenancy {
            policy: ctx.config.default_policy.clone(),
            origin: "the hub's default policy".into(),
            scope: None,
        }),
        [p] => {
            let origin = format!(
                "FleetPolicy {namespace}/{}",
                p.metadata.name.as_deref().unwrap_or_default()
            );
            let policy = p
                .spec
                .to_policy(&origin)
                .map_err(|e| Refusal::spec("PolicyInvalid", e.to_string()))?;
            let c = &p.spec.clusters;
            let scope = if c.names.is_empty() && c.selector.is_none() {
                None
            } else {
                Some(
                    selection(c, "spec.clusters")
                        .map_err(|m| Refusal::spec("PolicyInvalid", format!("{origin}: {m}")))?,
                )
            };
            Ok(Tenancy { policy, origin, scope })
        }
        many => Err(Refusal::spec(
            "AmbiguousPolicy",
            format!(
                "namespace {namespace} has {} FleetPolicies ({}); it must have at most one",
                many.len(),
                many.iter()
                    .filter_map(|p| p.metadata.name.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// A cluster selection of the custom resources; errors name `field`.
pub fn selection(c: &ClusterSelection, field: &str) -> Result<Selection, String> {
    let mut s = Selection::parse(None, c.selector.as_deref()).map_err(|e| match e {
        muster_fleet::registry::SelectionError::Selector(inner) => format!("{field}.selector: {inner}"),
        other => format!("{field}: {other}"),
    })?;
    for (i, n) in c.names.iter().enumerate() {
        if n.trim().is_empty() || n.contains(',') || n.chars().any(char::is_control) {
            return Err(format!("{field}.names[{i}]: {n:?} is not a cluster name or pattern"));
        }
    }
    s.names.clone_from(&c.names);
    Ok(s.allow_unmatched(c.allow_unmatched))
}

/// Manifests from a ConfigMap of `namespace` (`field` names where it was asked for).
///
/// # Errors
/// A missing ConfigMap or key, or manifests that do not parse.
pub async fn manifests_from(
    ctx: &Context,
    from: &ManifestsFrom,
    namespace: &str,
    field: &str,
) -> Result<Vec<Value>, Refusal> {
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), namespace);
    let cm = api
        .get_opt(&from.config_map)
        .await
        .map_err(|e| {
            Refusal::spec(
                "ManifestsUnreadable",
                format!("{field}: ConfigMap {namespace}/{}: {e}", from.config_map),
            )
        })?
        .ok_or_else(|| {
            Refusal::spec(
                "ManifestsNotFound",
                format!("{field}: ConfigMap {namespace}/{} not found", from.config_map),
            )
        })?;
    let data = cm.data.unwrap_or_default();
    let texts: Vec<(&String, &String)> = match &from.key {
        Some(k) => vec![(
            k,
            data.get(k).ok_or_else(|| {
                Refusal::spec(
                    "ManifestsNotFound",
                    format!(
                        "{field}.key: ConfigMap {namespace}/{} has no key {k:?}",
                        from.config_map
                    ),
                )
            })?,
        )],
        None => data.iter().collect(),
    };
    let mut out = Vec::new();
    for (key, text) in texts {
        let origin = format!("ConfigMap {namespace}/{} key {key}", from.config_map);
        let limits = muster_core::yaml::Limits::default().max_bytes(MAX_MANIFEST_BYTES);
        out.extend(
            muster_core::manifest::parse_with(&origin, text, limits)
                .map_err(|e| Refusal::spec("InvalidManifests", format!("{field}: {e}")))?,
        );
    }
    Ok(out)
}

/// The result of a cluster no request was sent to (`Rejected` by the hub, or `Failed`
/// because a restart interrupted it), naming why.
#[must_use]
pub fn unsent(command: &Command, cluster: &str, status: Status, reason: &str, message: String) -> ExecResult {
    ExecResult {
        command_id: command.id.clone(),
        cluster: cluster.to_string(),
        action: command.action,
        target: command.target_text(),
        status,
        exit_code: None,
        output: Output::None,
        error: Some(ExecError {
            reason: reason.into(),
            code: None,
            message,
        }),
        duration_ms: 0,
        attempts: 0,
    }
}

/// The fan-out engine of a command under `tenancy`, with the hub's hooks.
#[must_use]
pub fn engine(ctx: &Context, fc: &FleetCommand, tenancy: &Tenancy, hooks: Hooks) -> Fanout {
    let mut settings = ctx.config.settings.clone();
    if let Some(s) = fc.spec.deadline_seconds {
        settings = settings.deadline(Duration::from_secs(s.clamp(1, 24 * 3600)));
    }
    if let Some(s) = fc.spec.timeout_seconds {
        settings = settings.call_timeout(Duration::from_secs(s.clamp(1, 3600)));
    }
    Fanout::new(ctx.registry.clone(), tenancy.policy.clone(), settings)
        .sharing_discovery(&ctx.engine)
        .with_hooks(hooks)
}

/// Admit a fresh run of `fc` as command `id`, issued at `issued_at`.
///
/// # Errors
/// A [`Refusal`]: nothing is sent to any member.
pub async fn admit(
    ctx: &Context,
    fc: &FleetCommand,
    id: &str,
    issued_at: &str,
    hooks: Hooks,
) -> Result<Admitted, Refusal> {
    let namespace = fc.metadata.namespace.clone().unwrap_or_default();
    let manifests = match &fc.spec.manifests_from {
        Some(from) => manifests_from(ctx, from, &namespace, "spec.manifestsFrom").await?,
        None => Vec::new(),
    };
    let command = fc
        .spec
        .to_command(id, issued_at, manifests)
        .map_err(|e| Refusal::spec("InvalidSpec", e.to_string()))?;
    let tenancy = tenancy(ctx, &namespace).await?;
    let members = match select(ctx, &fc.spec.clusters, &tenancy, &namespace) {
        Ok(m) => m,
        Err(Selected::Refused(r)) => return Err(*r),
        Err(Selected::OutOfScope {
            members,
            outside,
            message,
        }) => {
            let results = members
                .iter()
                .map(|m| {
                    let why = if outside.contains(&m.name) {
                        format!("cluster {}: not allowed for namespace {namespace} by {}", m.name, tenancy.origin)
                    } else {
                        format!("cluster {}: not run, because the command targets clusters outside namespace {namespace}'s scope", m.name)
                    };
                    unsent(&command, &m.name, Status::Rejected, "ClusterNotAllowed", why)
                })
                .collect();
            return Err(Refusal {
                reason: "ClusterNotAllowed".into(),
                message,
                command: Some(command),
                results,
            });
        }
    };
    let fanout = engine(ctx, fc, &tenancy, Hooks::default());
    if let Err(r) = fanout.check(&command, &members) {
        let first = r.violations.first().map(ToString::to_string).unwrap_or_default();
        return Err(Refusal {
            reason: r.violations.first().map_or("PolicyViolation", |v| v.rule).to_string(),
            message: format!("{first} ({})", tenancy.origin),
            command: Some(command),
            results: r.results,
        });
    }
    let fanout = fanout.with_hooks(hooks);
    Ok(Admitted {
        command,
        members,
        fanout,
        tenancy,
    })
}

/// Why [`select`] chose no clusters.
pub enum Selected {
    /// The selection itself is wrong (names the field) or names a cordoned cluster.
    Refused(Box<Refusal>),
    /// Clusters outside the namespace's scope were selected: nothing may be sent.
    OutOfScope {
        members: Vec<Arc<Member>>,
        outside: Vec<String>,
        message: String,
    },
}

/// The members a selection of `namespace` picks: cordoned ones left out (a cordoned one
/// named outright is refused), every one inside the namespace's scope.
///
/// # Errors
/// [`Selected`]: why nothing may be sent.
pub fn select(
    ctx: &Context,
    clusters: &ClusterSelection,
    tenancy: &Tenancy,
    namespace: &str,
) -> Result<Vec<Arc<Member>>, Selected> {
    let asked = selection(clusters, "spec.clusters")
        .map_err(|m| Selected::Refused(Box::new(Refusal::spec("InvalidSelector", m))))?;
    let all = ctx.registry.members();
    for name in asked.names.iter().filter(|n| !n.contains('*')) {
        if all.iter().any(|m| &m.name == name && ctx.overlay(m).1) {
            return Err(Selected::Refused(Box::new(Refusal::spec(
                "Cordoned",
                format!("spec.clusters.names: cluster {name} is cordoned (its FleetCluster has spec.cordoned: true)"),
            ))));
        }
    }
    let open: Vec<Arc<Member>> = all.into_iter().filter(|m| !ctx.overlay(m).1).collect();
    let members = asked
        .select_from(&open, |m| ctx.overlay(m).0)
        .map_err(|e| Selected::Refused(Box::new(Refusal::spec(e.reason(), format!("spec.clusters: {e}")))))?;
    if let Some(scope) = &tenancy.scope {
        let outside: Vec<String> = members
            .iter()
            .filter(|m| !scope.matches_with(&m.name, &ctx.overlay(m).0))
            .map(|m| m.name.clone())
            .collect();
        if !outside.is_empty() {
            let message = format!(
                "namespace {namespace} may not target cluster(s) {} ({} allows only {}); nothing was sent",
                muster_core::report::render::names(&outside, 10),
                tenancy.origin,
                scope_text(scope)
            );
            return Err(Selected::OutOfScope {
                members,
                outside,
                message,
            });
        }
    }
    Ok(members)
}

fn scope_text(s: &Selection) -> String {
    let mut parts = Vec::new();
    if !s.names.is_empty() {
        parts.push(format!("clusters {}", s.names.join(",")));
    }
    if !s.labels.is_empty() {
        parts.push(format!("selector {}", s.labels));
    }
    parts.join(" and ")
}
