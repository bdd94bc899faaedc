//! The per-cluster ledger of a rollout's current revision: each cluster's wave, state,
//! the revision it holds and the one it held before, when it was applied and when it passed
//! its gates. It lives gzipped in ConfigMaps the rollout owns and is what a restarted hub
//! resumes from; it is committed by writing its chunks first and then the index that
//! names them, so a kill at any point leaves the old ledger or the new one, never a mix.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::store::{Store, StoreError, child_name};

/// Where one cluster is in the current revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum State {
    /// Not yet touched for this revision.
    Pending,
    /// Its apply is about to be sent or in flight (recorded before sending).
    Applying,
    /// Applied; its gates are being checked.
    Applied,
    /// Passed its gates at `passed`; soaking.
    Passed,
    Failed,
    /// Unreachable at its turn; retried at the end when healthy.
    Deferred,
    /// Unreachable with `unreachable: Skip`: left out of this revision.
    Skipped,
    /// The previous revision is being put back (recorded before sending).
    RollingBack,
    /// The previous revision is back and passed its gates.
    RolledBack,
    /// Putting the previous revision back failed.
    RollbackFailed,
}

impl State {
    /// The name shown in status and the CLI.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Applying => "Applying",
            Self::Applied => "Verifying",
            Self::Passed => "Passed",
            Self::Failed => "Failed",
            Self::Deferred => "Deferred",
            Self::Skipped => "Skipped",
            Self::RollingBack => "RollingBack",
            Self::RolledBack => "RolledBack",
            Self::RollbackFailed => "RollbackFailed",
        }
    }
}

/// One cluster's line in the ledger (short keys: 10,000 of them are written often).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    #[serde(rename = "w")]
    pub wave: u32,
    #[serde(rename = "s")]
    pub state: State,
    /// The revision muster put on it (0: none of this rollout's).
    #[serde(rename = "r", default)]
    pub revision: u32,
    /// The revision it held when this revision began (what a rollback restores).
    #[serde(rename = "p", default)]
    pub previous: u32,
    /// When this revision was applied (Unix ms).
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<i64>,
    /// When it passed its gates for this revision (Unix ms): soak counts from here.
    #[serde(rename = "g", default, skip_serializing_if = "Option::is_none")]
    pub passed: Option<i64>,
    /// Why it is not passed (the gate's or the apply's message).
    #[serde(rename = "m", default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// When its first apply (or restore) of this revision was tried (Unix ms): the
    /// progress deadline of a cluster whose writes keep failing counts from here.
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    pub first_try: Option<i64>,
    /// The generation of each workload its apply produced, as first observed (`kind/name=N`).
    #[serde(rename = "o", default, skip_serializing_if = "String::is_empty")]
    pub generations: String,
}

impl Entry {
    #[must_use]
    pub fn new(wave: u32, previous: u32) -> Self {
        Self {
            wave,
            state: State::Pending,
            revision: previous,
            previous,
            applied: None,
            passed: None,
            message: String::new(),
            first_try: None,
            generations: String::new(),
        }
    }
}

/// Per-wave facts that outlive a restart.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaveMark {
    /// When the wave started (Unix ms).
    #[serde(default)]
    pub started: Option<i64>,
    #[serde(default)]
    pub finished: Option<i64>,
    /// Failures a person accepted by resuming after the wave paused on them.
    #[serde(default)]
    pub tolerated: u32,
}

/// The ledger of one revision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    /// The revision it is for.
    pub revision: u32,
    pub hash: String,
    pub waves: Vec<WaveMark>,
    pub clusters: BTreeMap<String, Entry>,
    /// Rolling back (onFailure: Rollback, or `muster rollout undo`).
    #[serde(default)]
    pub rollback: bool,
    /// Why the rollback started.
    #[serde(default)]
    pub rollback_reason: String,
    /// Commits so far (names the chunks of the next one).
    #[serde(default)]
    pub commits: u64,
}

/// The largest ledger read back (uncompressed).
const MAX_LEDGER: usize = 256 * 1024 * 1024;

/// The index ConfigMap's name.
fn index_name(store: &Store) -> String {
    child_name(store.base(), "ledger")
}

/// Read the ledger (none: no revision has started).
///
/// # Errors
/// A missing chunk or damaged data.
pub async fn load(store: &Store) -> Result<Option<Ledger>, StoreError> {
    let name = index_name(store);
    let Some(index) = store.read(&name).await? else {
        return Ok(None);
    };
    let chunks: Vec<String> = index
        .data
        .unwrap_or_default()
        .get("chunks")
        .map(|t| t.lines().map(String::from).collect())
        .unwrap_or_default();
    let bytes = store.read_chunks(&chunks).await?;
    if bytes.len() > MAX_LEDGER {
        return Err(StoreError::Corrupt {
            name,
            why: "too large".into(),
        });
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| StoreError::Corrupt {
            name,
            why: e.to_string(),
        })
}

/// Commit the ledger: new chunks, then the index naming them, then the old chunks go.
///
/// # Errors
/// The hub's answer to a write (the previous ledger stays in force).
pub async fn save(store: &Store, ledger: &mut Ledger) -> Result<(), StoreError> {
    let previous: Vec<String> = match store.read(&index_name(store)).await? {
        Some(cm) => cm
            .data
            .unwrap_or_default()
            .get("chunks")
            .map(|t| t.lines().map(String::from).collect())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    ledger.commits += 1;
    let bytes = serde_json::to_vec(&*ledger).unwrap_or_default();
    let names = store
        .write_chunks(&format!("ledger-{}", ledger.commits), &bytes)
        .await?;
    store
        .put_labelled(
            &index_name(store),
            BTreeMap::new(),
            BTreeMap::from([
                ("chunks".to_string(), names.join("\n")),
                ("revision".to_string(), ledger.revision.to_string()),
            ]),
            BTreeMap::new(),
            false,
        )
        .await?;
    let stale: Vec<String> = previous.into_iter().filter(|n| !names.contains(n)).collect();
    store.delete(&stale).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_thousand_entries_stay_small() {
        let mut l = Ledger {
            revision: 3,
            hash: "abc".into(),
            ..Ledger::default()
        };
        for i in 0..10_000 {
            let mut e = Entry::new(i % 4, 2);
            e.state = State::Passed;
            e.revision = 3;
            e.applied = Some(1_790_000_000_000 + i64::from(i));
            e.passed = Some(1_790_000_000_500 + i64::from(i));
            l.clusters.insert(format!("capi/cluster-{i:05}"), e);
        }
        let bytes = serde_json::to_vec(&l).unwrap();
        let packed = crate::store::gzip(&bytes);
        assert!(
            packed.len() < crate::store::CHUNK_BYTES,
            "{} bytes gzipped",
            packed.len()
        );
        let back: Ledger = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, l);
    }
}
