//! What a rollout does on ONE member, always through the fan-out (so the namespace's
//! policy, the member's limits and retries apply as to any command): read back the objects
//! it applies, apply only those not yet at the revision (an apply that landed before a
//! restart is never sent again), judge the gates, and put a previous revision back.

use std::sync::Arc;

use futures::StreamExt as _;
use muster_core::command::{Action, Command, Target};
use muster_core::name::Namespace;
use muster_core::result::{ExecResult, Output, Status};
use muster_fleet::fanout::Fanout;
use muster_fleet::registry::Member;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::gate::{self, Verdict};
use super::revision::{REVISION_ANNOTATION, ROLLOUT_ANNOTATION, target_of};
use crate::crd::rollout::Gate;

/// Why a step on a member did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError {
    /// The member could not be reached (a deferrable failure).
    pub unreachable: bool,
    /// It may work when tried again (throttled, timed out, a 5xx): retried until the
    /// progress deadline.
    pub transient: bool,
    pub message: String,
}

impl StepError {
    fn of(r: &ExecResult) -> Self {
        let code = r.error.as_ref().and_then(|e| e.code);
        Self {
            unreachable: r.status == Status::Unreachable,
            transient: matches!(r.status, Status::Throttled | Status::TimedOut)
                || code.is_some_and(|c| c == 429 || (500..600).contains(&c)),
            message: r
                .error
                .as_ref()
                .map_or_else(|| format!("{:?}", r.status), |e| format!("{}: {}", e.reason, e.message)),
        }
    }
}

/// One member and how to reach it.
#[derive(Clone)]
pub struct On {
    pub fanout: Fanout,
    pub member: Arc<Member>,
    /// The command ids' prefix (the rollout's uid and revision).
    pub id: String,
    /// The default namespace of the objects.
    pub namespace: Namespace,
    pub cancel: CancellationToken,
    /// Where writes are recorded, and the rollout (`FleetRollout ns/name`) as their origin.
    pub audit: Option<(Arc<muster_fleet::audit::AuditLog>, String)>,
}

impl On {
    fn command(&self, action: Action, verb: &str) -> Command {
        let now = crate::members::now_rfc3339();
        let mut c = Command::new(format!("{}-{verb}", self.id), now, action);
        c.namespace = Some(self.namespace.clone());
        c
    }

    async fn run(&self, command: Command) -> ExecResult {
        let mut s =
            std::pin::pin!(
                self.fanout
                    .run(Arc::new(command), vec![self.member.clone()], self.cancel.clone(), None)
            );
        s.next().await.unwrap_or_else(|| ExecResult {
            command_id: self.id.clone(),
            cluster: self.member.name.clone(),
            action: Action::Get,
            target: String::new(),
            status: Status::Cancelled,
            exit_code: None,
            output: Output::None,
            error: None,
            duration_ms: 0,
            attempts: 0,
        })
    }

    fn namespace_of(&self, ns: Option<&str>) -> Result<Namespace, StepError> {
        match ns {
            Some(n) => Namespace::parse(n).map_err(|e| StepError {
                unreachable: false,
                transient: false,
                message: e.to_string(),
            }),
            None => Ok(self.namespace.clone()),
        }
    }

    /// The object `target` (`kind.group/name`) in `ns`, as the member has it (`None`: absent).
    ///
    /// # Errors
    /// The member's failure.
    pub async fn read(&self, target: &str, ns: Option<&str>) -> Result<Option<Value>, StepError> {
        let mut c = self.command(Action::Get, "read");
        c.target = Some(target.parse::<Target>().map_err(|e| StepError {
            unreachable: false,
            transient: false,
            message: e.to_string(),
        })?);
        c.namespace = Some(self.namespace_of(ns)?);
        let r = self.run(c).await;
        match (&r.status, &r.output) {
            (Status::Succeeded, Output::Objects { items, .. }) => {
                Ok(items.first().map(muster_core::result::Object::value))
            }
            _ if r
                .error
                .as_ref()
                .is_some_and(|e| e.code == Some(404) || e.reason == "NotFound") =>
            {
                Ok(None)
            }
            _ => Err(StepError::of(&r)),
        }
    }

    /// Pods of `ns` matching `selector`.
    async fn pods(&self, ns: Option<&str>, selector: &str) -> Result<Vec<Value>, StepError> {
        let mut c = self.command(Action::Get, "pods");
        c.target = Some("pods".parse::<Target>().map_err(|e| StepError {
            unreachable: false,
            transient: false,
            message: e.to_string(),
        })?);
        c.namespace = Some(self.namespace_of(ns)?);
        c.label_selector = Some(selector.to_string());
        let r = self.run(c).await;
        match r.output {
            Output::Objects { items, .. } if r.status == Status::Succeeded => {
                Ok(items.iter().map(muster_core::result::Object::value).collect())
            }
            _ => Err(StepError::of(&r)),
        }
    }

    /// Apply the objects of `manifests` (annotated with revision `hash`) that the member
    /// does not hold at that revision yet; how many were sent. An object absent before is
    /// marked as created by `rollout` (and keeps the mark), so a rollback deletes only what
    /// the rollout created.
    ///
    /// # Errors
    /// The member's failure (`unreachable` when it could not be reached).
    pub async fn apply_missing(&self, manifests: &[Value], hash: &str, rollout: &str) -> Result<usize, StepError> {
        let mut missing = Vec::new();
        for m in manifests {
            let Some((target, ns)) = target_of(m) else {
                missing.push(m.clone());
                continue;
            };
            let have = self.read(&target, ns.as_deref()).await?;
            let annotation = |key: &str| {
                have.as_ref()
                    .and_then(|o| o.pointer("/metadata/annotations"))
                    .and_then(|a| a.get(key))
                    .and_then(Value::as_str)
                    .map(String::from)
            };
            if annotation(REVISION_ANNOTATION).as_deref() == Some(hash) {
                continue;
            }
            let mut m = m.clone();
            if have.is_none() || annotation(ROLLOUT_ANNOTATION).as_deref() == Some(rollout) {
                m["metadata"]["annotations"][ROLLOUT_ANNOTATION] = Value::from(rollout);
            }
            missing.push(m);
        }
        if missing.is_empty() {
            return Ok(0);
        }
        let mut c = self.command(Action::Apply, "apply");
        c.manifests.clone_from(&missing);
        let r = self.run(c).await;
        if r.status == Status::Succeeded {
            Ok(missing.len())
        } else {
            Err(StepError::of(&r))
        }
    }

    /// Delete the objects of `manifests` that this rollout created (they carry its
    /// annotation); objects it did not create are left alone.
    ///
    /// # Errors
    /// The member's failure.
    pub async fn delete_created(&self, manifests: &[Value], rollout: &str) -> Result<usize, StepError> {
        let mut n = 0;
        for m in manifests {
            let Some((target, ns)) = target_of(m) else { continue };
            let Some(have) = self.read(&target, ns.as_deref()).await? else {
                continue;
            };
            let ours = have
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(ROLLOUT_ANNOTATION))
                .and_then(Value::as_str)
                == Some(rollout);
            if !ours {
                continue;
            }
            let mut c = self.command(Action::Delete, "delete");
            c.target = target.parse::<Target>().ok();
            c.namespace = Some(self.namespace_of(ns.as_deref())?);
            let r = self.run(c).await;
            match r.status {
                Status::Succeeded => n += 1,
                _ if r.error.as_ref().is_some_and(|e| e.code == Some(404)) => {}
                _ => return Err(StepError::of(&r)),
            }
        }
        Ok(n)
    }

    /// Judge every applied object and every user gate for revision `hash`; with the
    /// generations first observed (`kind/name=N`, for the ledger).
    pub async fn verify(&self, manifests: &[Value], hash: &str, gates: &[Gate]) -> (Verdict, String) {
        let mut verdicts = Vec::new();
        let mut generations = Vec::new();
        for m in manifests {
            let Some((target, ns)) = target_of(m) else { continue };
            let obj = match self.read(&target, ns.as_deref()).await {
                Ok(Some(o)) => o,
                Ok(None) => {
                    verdicts.push(Verdict::Wait(format!("{target} is not there yet")));
                    continue;
                }
                Err(e) => {
                    verdicts.push(Verdict::Wait(format!("{target}: {}", e.message)));
                    continue;
                }
            };
            if let Some(g) = obj.pointer("/metadata/generation").and_then(Value::as_i64) {
                generations.push(format!("{target}={g}"));
            }
            let mut v = gate::object(&target, &obj, hash);
            if matches!(v, Verdict::Wait(_))
                && let Some(selector) = gate::pod_selector(&obj)
                && let Ok(pods) = self.pods(ns.as_deref(), &selector).await
                && let Some(cause) = gate::pod_failure(&target, &pods, &gate::template_images(&obj))
            {
                v = Verdict::Fail(cause);
            }
            verdicts.push(v);
        }
        for g in gates {
            let v = match self.read(&g.object, None).await {
                Ok(obj) => gate::user(g, obj.as_ref()),
                Err(e) => Verdict::Wait(format!("gate {}: {}", g.object, e.message)),
            };
            verdicts.push(v);
        }
        (Verdict::all(verdicts), generations.join(","))
    }
}
