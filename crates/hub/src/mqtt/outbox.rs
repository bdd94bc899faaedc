//! The outbox: which of a command's results (and its summary) the broker acknowledged,
//! persisted in a ConfigMap the FleetCommand owns. What is not acknowledged is published
//! again, after a broker outage or a hub restart; when everything is, the FleetCommand is
//! marked delivered and no longer looked at.

use std::collections::{BTreeMap, BTreeSet};

use kube::api::{Api, Patch, PatchParams};

use crate::crd::FleetCommand;
use crate::store::{Store, StoreError, child_name};

/// On a FleetCommand whose every message went up and was acknowledged.
pub const DELIVERED_ANNOTATION: &str = "muster.dev/mqtt-delivered";
/// On a FleetCommand the bridge made: the `command_id` it came with.
pub const COMMAND_ID_ANNOTATION: &str = "muster.dev/mqtt-command-id";
/// The label of the bridge's FleetCommands.
pub const SOURCE_LABEL: &str = "muster.dev/source";

/// What the broker acknowledged of one command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acked {
    pub clusters: BTreeSet<String>,
    pub summary: bool,
}

/// The outbox of one FleetCommand.
pub struct Outbox {
    store: Store,
    name: String,
}

impl Outbox {
    #[must_use]
    pub fn of(client: &kube::Client, fc: &FleetCommand) -> Self {
        let store = Store::of(client.clone(), fc);
        let name = child_name(store.base(), "outbox");
        Self { store, name }
    }

    /// What was acknowledged so far (nothing when no record exists).
    ///
    /// # Errors
    /// The hub's answer.
    pub async fn load(&self) -> Result<Acked, StoreError> {
        let Some(cm) = self.store.read(&self.name).await? else {
            return Ok(Acked::default());
        };
        let data = cm.data.unwrap_or_default();
        Ok(Acked {
            clusters: data
                .get("acked")
                .map(|t| t.lines().filter(|l| !l.is_empty()).map(String::from).collect())
                .unwrap_or_default(),
            summary: data.get("summary").map(String::as_str) == Some("true"),
        })
    }

    /// Record what was acknowledged (the whole set).
    ///
    /// # Errors
    /// The hub's answer.
    pub async fn save(&self, acked: &Acked) -> Result<(), StoreError> {
        self.store
            .put_labelled(
                &self.name,
                BTreeMap::new(),
                BTreeMap::from([
                    (
                        "acked".to_string(),
                        acked.clusters.iter().cloned().collect::<Vec<_>>().join("\n"),
                    ),
                    ("summary".to_string(), acked.summary.to_string()),
                ]),
                BTreeMap::new(),
                false,
            )
            .await
    }
}

/// Mark a FleetCommand delivered.
///
/// # Errors
/// The hub's answer.
pub async fn mark_delivered(client: &kube::Client, fc: &FleetCommand) -> Result<(), kube::Error> {
    let api: Api<FleetCommand> = Api::namespaced(client.clone(), fc.metadata.namespace.as_deref().unwrap_or_default());
    api.patch(
        fc.metadata.name.as_deref().unwrap_or_default(),
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"metadata": {"annotations": {DELIVERED_ANNOTATION: "true"}}})),
    )
    .await
    .map(|_| ())
}
