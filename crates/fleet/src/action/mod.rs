//! How to perform each of the seven actions on ONE cluster, through a [`Caller`] that sends
//! every request under the member's limits with retries. One file per action; `resolve.rs`
//! turns typed resource names into API resources; `pods.rs` finds a workload's pods.

pub mod apply;
pub mod delete;
pub mod exec;
pub mod get;
pub mod logs;
pub mod pods;
pub mod resolve;
pub mod restart;
pub mod scale;

use crate::call::Caller;
use crate::failure::Failure;
use muster_core::command::{Action, Target};
use muster_core::name::Name;
use muster_core::result::Output;

/// muster's server-side apply field manager (and the manager of its other writes).
pub const FIELD_MANAGER: &str = "muster";

/// What an action produced on a cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub output: Output,
    /// `exec`: the remote command's exit code (non-zero makes the result `Failed`).
    pub exit_code: Option<i32>,
}

impl Outcome {
    #[must_use]
    pub fn summary(lines: &[String]) -> Self {
        Self {
            output: Output::Summary { text: lines.join("\n") },
            exit_code: None,
        }
    }
}

/// Perform the command's action on the caller's cluster.
///
/// # Errors
/// The [`Failure`] that ended it, its detail naming the object.
pub async fn run(caller: &Caller) -> Result<Outcome, Failure> {
    match caller.command.action {
        Action::Get => get::run(caller).await,
        Action::Apply => apply::run(caller).await,
        Action::Scale => scale::run(caller).await,
        Action::Restart => restart::run(caller).await,
        Action::Delete => delete::run(caller).await,
        Action::Logs => logs::run(caller).await,
        Action::Exec => exec::run(caller).await,
    }
}

/// The command's target, or a failure saying the action needs one.
pub(crate) fn target(caller: &Caller) -> Result<&Target, Failure> {
    caller.command.target.as_ref().ok_or_else(|| {
        Failure::invalid(
            "MissingTarget",
            format!("{} needs a target such as deploy/web", caller.command.action),
        )
    })
}

/// The target's name, or a failure saying the action needs one.
pub(crate) fn target_name(caller: &Caller) -> Result<&Name, Failure> {
    target(caller)?.name.as_ref().ok_or_else(|| {
        Failure::invalid(
            "MissingName",
            format!("{} needs RESOURCE/NAME, e.g. deploy/web", caller.command.action),
        )
    })
}

/// A write's answer that is a `Status` with `status: Failure` despite its 2xx code.
///
/// # Errors
/// That failure.
pub(crate) fn refuse_status(answer: &kube::api::DynamicObject) -> Result<(), Failure> {
    if answer.types.as_ref().is_none_or(|t| t.kind != "Status") {
        return Ok(());
    }
    let body = serde_json::to_value(answer).unwrap_or_default();
    crate::failure::failure_in_body(&body).map_or(Ok(()), Err)
}

/// The field managers of scale and restart: distinct from apply's, so a later apply that
/// conflicts on `replicas` says who set it ("conflict with muster-scale").
pub const SCALE_MANAGER: &str = "muster-scale";
pub const RESTART_MANAGER: &str = "muster-restart";

/// The kube write parameters of the command (field manager, server dry-run).
pub(crate) fn patch_params(caller: &Caller, manager: &str) -> kube::api::PatchParams {
    let mut pp = kube::api::PatchParams::apply(manager);
    pp.dry_run = caller.command.server_dry_run;
    pp
}

/// ` (server dry run)` when the write is a server-side dry run.
pub(crate) fn dry_run_note(caller: &Caller) -> &'static str {
    if caller.command.server_dry_run {
        " (server dry run)"
    } else {
        ""
    }
}
