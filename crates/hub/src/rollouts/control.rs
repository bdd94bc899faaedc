//! What people do to a rollout through the hub's API (the CLI's `muster rollout ...` and
//! the demo): create or update it, pause and resume it, approve the wave that waits, abort
//! or undo its revision, and read its history. Each is one small write the hub's reconciler
//! acts on; none touches a member cluster directly.

use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::revision::{self, Revision};
use super::{ABORT_ANNOTATION, APPROVE_ANNOTATION, UNDO_ANNOTATION};
use crate::crd::rollout::{FleetRollout, FleetRolloutSpec, RolloutPhase};
use crate::store::{Store, StoreError};

/// The field manager of the CLI's writes.
pub const CLI_MANAGER: &str = "muster-cli";

/// A control that could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("FleetRollout {0}: {1}")]
    Api(String, #[source] kube::Error),
    #[error("FleetRollout {0}: {1}")]
    State(String, String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ControlError {
    /// A stable short label.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Api(..) => "HubApiError",
            Self::State(..) => "InvalidState",
            Self::Store(e) => e.reason(),
        }
    }
}

/// One rollout through the hub's API.
pub struct Control {
    api: Api<FleetRollout>,
    client: kube::Client,
    name: String,
    key: String,
}

impl Control {
    #[must_use]
    pub fn new(client: &kube::Client, namespace: &str, name: &str) -> Self {
        Self {
            api: Api::namespaced(client.clone(), namespace),
            client: client.clone(),
            name: name.to_string(),
            key: format!("{namespace}/{name}"),
        }
    }

    fn err(&self, e: kube::Error) -> ControlError {
        ControlError::Api(self.key.clone(), e)
    }

    /// The rollout as the hub has it.
    ///
    /// # Errors
    /// Not found, or the hub's error.
    pub async fn get(&self) -> Result<FleetRollout, ControlError> {
        self.api.get(&self.name).await.map_err(|e| self.err(e))
    }

    /// Create or update the rollout (server-side apply of the fields the CLI owns).
    ///
    /// # Errors
    /// The hub's refusal (the CRD's schema names a bad field).
    pub async fn apply(&self, spec: &FleetRolloutSpec) -> Result<FleetRollout, ControlError> {
        let mut spec = serde_json::to_value(spec).unwrap_or_default();
        // NB: `paused` belongs to pause/resume (and the hub); apply leaves it alone.
        if let Some(m) = spec.as_object_mut() {
            m.remove("paused");
        }
        let body = json!({"apiVersion": "muster.dev/v1alpha1", "kind": "FleetRollout",
            "metadata": {"name": self.name, "labels": {"app.kubernetes.io/created-by": CLI_MANAGER}}, "spec": spec});
        self.api
            .patch(
                &self.name,
                &PatchParams::apply(CLI_MANAGER).force(),
                &Patch::Apply(body),
            )
            .await
            .map_err(|e| self.err(e))
    }

    /// Pause (`true`) or resume (`false`).
    ///
    /// # Errors
    /// The hub's error.
    pub async fn set_paused(&self, paused: bool) -> Result<(), ControlError> {
        self.api
            .patch(
                &self.name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"paused": paused}})),
            )
            .await
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    async fn annotate(&self, key: &str, value: &str) -> Result<(), ControlError> {
        self.api
            .patch(
                &self.name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": {key: value}}})),
            )
            .await
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Approve the wave that waits for approval; which one (`revision/wave`, 1-based).
    ///
    /// # Errors
    /// No wave waits, or the hub's error.
    pub async fn approve(&self) -> Result<String, ControlError> {
        let fr = self.get().await?;
        let s = fr.status.clone().unwrap_or_default();
        if s.phase != RolloutPhase::WaitingForApproval {
            return Err(ControlError::State(
                self.key.clone(),
                format!("no wave waits for approval (phase {:?})", s.phase),
            ));
        }
        let token = format!("{}/{}", s.revision, s.current_wave);
        let mut list: Vec<String> = fr
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(APPROVE_ANNOTATION))
            .map(|v| {
                v.split(',')
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        // NB: approvals of older revisions go; they can never apply again.
        list.retain(|t| t.split('/').next() == Some(&s.revision.to_string()));
        if !list.contains(&token) {
            list.push(token.clone());
        }
        self.annotate(APPROVE_ANNOTATION, &list.join(",")).await?;
        Ok(token)
    }

    async fn current_revision(&self) -> Result<u32, ControlError> {
        let s = self.get().await?.status.unwrap_or_default();
        if s.revision == 0 {
            return Err(ControlError::State(self.key.clone(), "no revision has started".into()));
        }
        Ok(s.revision)
    }

    /// Stop the current revision for good (clusters keep what they have); its number.
    ///
    /// # Errors
    /// No revision, or the hub's error.
    pub async fn abort(&self) -> Result<u32, ControlError> {
        let r = self.current_revision().await?;
        self.annotate(ABORT_ANNOTATION, &r.to_string()).await?;
        Ok(r)
    }

    /// Roll the current revision back on every cluster that received it; its number,
    /// once the hub has taken it up (or `within` passed).
    ///
    /// # Errors
    /// No revision, or the hub's error.
    pub async fn undo(&self, within: std::time::Duration) -> Result<u32, ControlError> {
        let r = self.current_revision().await?;
        self.annotate(UNDO_ANNOTATION, &r.to_string()).await?;
        self.acknowledged(within, |s| {
            s.revision != r
                || matches!(
                    s.phase,
                    RolloutPhase::RollingBack | RolloutPhase::RolledBack | RolloutPhase::Failed
                )
        })
        .await?;
        Ok(r)
    }

    /// Wait until the status shows the hub acted (`false`: it did not within `within`).
    ///
    /// # Errors
    /// The hub's error.
    pub async fn acknowledged(
        &self,
        within: std::time::Duration,
        done: impl Fn(&crate::crd::rollout::FleetRolloutStatus) -> bool,
    ) -> Result<bool, ControlError> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if done(&self.get().await?.status.unwrap_or_default()) {
                return Ok(true);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// The rollout as one HTML page (a cell per cluster by wave and state, from the ledger).
    ///
    /// # Errors
    /// The hub's error or a damaged ledger.
    pub async fn picture(&self) -> Result<String, ControlError> {
        let fr = self.get().await?;
        let l = super::ledger::load(&Store::owned_by(self.client.clone(), &fr))
            .await?
            .unwrap_or_default();
        let status = fr.status.clone().unwrap_or_default();
        Ok(super::picture::page(
            &self.key,
            &status,
            &super::plan::waves(&fr.spec.strategy),
            &l,
        ))
    }

    /// Every revision, oldest first.
    ///
    /// # Errors
    /// The hub's error or a damaged snapshot.
    pub async fn history(&self) -> Result<Vec<Revision>, ControlError> {
        let fr = self.get().await?;
        Ok(revision::history(&Store::owned_by(self.client.clone(), &fr)).await?)
    }
}
