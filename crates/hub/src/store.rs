//! What a FleetCommand keeps in the hub's API server, in ConfigMaps it owns (so they are
//! garbage-collected with it): its progress while it runs (the validated command, the
//! selected clusters, the clusters an exec started on, and the results so far), and its
//! results and report when it is done. Large values are gzipped and split under the 1 MiB a
//! ConfigMap may hold.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read as _, Write as _};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use muster_core::command::Command;
use muster_core::result::ExecResult;
use serde_json::json;

use crate::crd::FleetCommand;

/// The field manager of everything the hub writes.
pub const FIELD_MANAGER: &str = "muster-hub";

/// Compressed bytes per ConfigMap (a ConfigMap holds at most 1 MiB, metadata included).
pub const CHUNK_BYTES: usize = 900 * 1024;

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("ConfigMap {name}: {source}")]
    Api {
        name: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("ConfigMap {name}: {why}")]
    Corrupt { name: String, why: String },
}

impl StoreError {
    /// A stable short label.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Api { .. } => "StoreFailed",
            Self::Corrupt { .. } => "StoreCorrupt",
        }
    }
}

/// gzip of `bytes`.
#[must_use]
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = e.write_all(bytes);
    e.finish().unwrap_or_default()
}

/// The bytes a gzip stream holds (at most `limit` of them).
///
/// # Errors
/// When it is not gzip or holds more than `limit` bytes.
pub fn gunzip(bytes: &[u8], limit: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    if out.len() > limit {
        return Err(format!("holds more than {limit} bytes"));
    }
    Ok(out)
}

/// The largest value the hub reads back out of its own ConfigMaps (uncompressed).
const MAX_STORED: usize = 512 * 1024 * 1024;

/// A name `<base>-<suffix>` that fits an object name (a long base is cut and hashed).
#[must_use]
pub fn child_name(base: &str, suffix: &str) -> String {
    let room = 253 - suffix.len() - 1;
    if base.len() <= room {
        return format!("{base}-{suffix}");
    }
    let hash = base.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("{}-{hash:016x}-{suffix}", &base[..room - 17])
}

/// ConfigMaps of one custom resource (a FleetCommand, a FleetRollout), owned by it.
#[derive(Clone)]
pub struct Store {
    api: Api<ConfigMap>,
    owner: OwnerReference,
    base: String,
    /// `muster.dev/<kind>`: the label naming the owner.
    label: String,
}

impl Store {
    /// The store of `fc` (in its namespace).
    #[must_use]
    pub fn of(client: kube::Client, fc: &FleetCommand) -> Self {
        Self::owned_by(client, fc)
    }

    /// The store of any namespaced object of the hub's kinds (in its namespace).
    #[must_use]
    pub fn owned_by<K: kube::Resource<DynamicType = ()>>(client: kube::Client, owner: &K) -> Self {
        let meta = owner.meta();
        let ns = meta.namespace.clone().unwrap_or_default();
        let mut owner_ref = owner.controller_owner_ref(&()).unwrap_or_default();
        owner_ref.block_owner_deletion = Some(true);
        Self {
            api: Api::namespaced(client, &ns),
            owner: owner_ref,
            base: meta.name.clone().unwrap_or_default(),
            label: format!("muster.dev/{}", K::kind(&()).to_ascii_lowercase()),
        }
    }

    /// The ConfigMaps of this owner carrying `extra` labels too.
    ///
    /// # Errors
    /// The hub's answer.
    pub async fn list(&self, extra: &str) -> Result<Vec<ConfigMap>, StoreError> {
        let mut selector = format!("{}={}", self.label, self.owner_label());
        if !extra.is_empty() {
            selector.push(',');
            selector.push_str(extra);
        }
        let list = self
            .api
            .list(&kube::api::ListParams::default().labels(&selector))
            .await
            .map_err(|e| Self::err(&self.base, e))?;
        Ok(list
            .items
            .into_iter()
            .filter(|cm| {
                cm.metadata
                    .owner_references
                    .as_ref()
                    .is_some_and(|o| o.iter().any(|o| o.uid == self.owner.uid))
            })
            .collect())
    }

    /// The owner's name, the prefix of its ConfigMaps' names.
    #[must_use]
    pub fn base(&self) -> &str {
        &self.base
    }

    fn owner_label(&self) -> String {
        let v: String = self.base.chars().take(63).collect();
        v.trim_end_matches(['-', '.']).to_string()
    }

    /// A ConfigMap of this owner (none: not there).
    ///
    /// # Errors
    /// The hub's answer.
    pub async fn read(&self, name: &str) -> Result<Option<ConfigMap>, StoreError> {
        self.get(name).await
    }

    /// Write one ConfigMap with extra labels (server-side apply), e.g. an immutable snapshot.
    ///
    /// # Errors
    /// The hub's answer.
    pub async fn put_labelled(
        &self,
        name: &str,
        labels: BTreeMap<String, String>,
        data: BTreeMap<String, String>,
        binary: BTreeMap<String, Vec<u8>>,
        immutable: bool,
    ) -> Result<(), StoreError> {
        self.put_with(name, labels, data, binary, immutable).await
    }

    fn err(name: &str, e: kube::Error) -> StoreError {
        StoreError::Api {
            name: name.to_string(),
            source: Box::new(e),
        }
    }

    /// Write one ConfigMap (server-side apply: create or replace, idempotent).
    async fn put(
        &self,
        name: &str,
        data: BTreeMap<String, String>,
        binary: BTreeMap<String, Vec<u8>>,
    ) -> Result<(), StoreError> {
        self.put_with(name, BTreeMap::new(), data, binary, false).await
    }

    async fn put_with(
        &self,
        name: &str,
        extra: BTreeMap<String, String>,
        data: BTreeMap<String, String>,
        binary: BTreeMap<String, Vec<u8>>,
        immutable: bool,
    ) -> Result<(), StoreError> {
        let binary: BTreeMap<String, ByteString> = binary.into_iter().map(|(k, v)| (k, ByteString(v))).collect();
        let mut labels = extra;
        labels.insert("app.kubernetes.io/managed-by".into(), "muster-hub".into());
        labels.insert(self.label.clone(), self.owner_label());
        let mut cm = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "ownerReferences": [self.owner], "labels": labels},
            "data": data,
            "binaryData": binary,
        });
        if immutable {
            cm["immutable"] = json!(true);
        }
        self.api
            .patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(cm))
            .await
            .map(|_| ())
            .map_err(|e| Self::err(name, e))
    }

    async fn get(&self, name: &str) -> Result<Option<ConfigMap>, StoreError> {
        self.api.get_opt(name).await.map_err(|e| Self::err(name, e))
    }

    /// Write `bytes` gzipped over ConfigMaps `<base>-<prefix>-<n>`; their names.
    ///
    /// # Errors
    /// The hub's answer to a write.
    pub async fn write_chunks(&self, prefix: &str, bytes: &[u8]) -> Result<Vec<String>, StoreError> {
        let packed = gzip(bytes);
        let mut names = Vec::new();
        for (i, piece) in packed.chunks(CHUNK_BYTES).enumerate() {
            let name = child_name(&self.base, &format!("{prefix}-{i}"));
            self.put(
                &name,
                BTreeMap::new(),
                BTreeMap::from([("data.gz".to_string(), piece.to_vec())]),
            )
            .await?;
            names.push(name);
        }
        Ok(names)
    }

    /// The bytes written by [`Store::write_chunks`] to `names`.
    ///
    /// # Errors
    /// A missing or damaged ConfigMap.
    pub async fn read_chunks(&self, names: &[String]) -> Result<Vec<u8>, StoreError> {
        let mut packed = Vec::new();
        for name in names {
            let cm = self.get(name).await?.ok_or_else(|| StoreError::Corrupt {
                name: name.clone(),
                why: "missing".into(),
            })?;
            let piece = cm
                .binary_data
                .and_then(|mut b| b.remove("data.gz"))
                .ok_or_else(|| StoreError::Corrupt {
                    name: name.clone(),
                    why: "no data.gz".into(),
                })?;
            packed.extend(piece.0);
        }
        gunzip(&packed, MAX_STORED).map_err(|why| StoreError::Corrupt {
            name: names.first().cloned().unwrap_or_default(),
            why,
        })
    }

    /// Delete ConfigMaps (gone already is fine).
    pub async fn delete(&self, names: &[String]) {
        for name in names {
            let _ = self.api.delete(name, &DeleteParams::default()).await;
        }
    }

    /// The progress record's ConfigMap.
    #[must_use]
    pub fn progress_name(&self) -> String {
        child_name(&self.base, "progress")
    }

    /// Record a new run: the validated command and the clusters selected, nothing done yet.
    ///
    /// # Errors
    /// The hub's answer to the write.
    pub async fn begin(&self, progress: &Progress) -> Result<(), StoreError> {
        self.save(progress).await
    }

    /// Write the whole progress record.
    ///
    /// # Errors
    /// The hub's answer to the write.
    pub async fn save(&self, p: &Progress) -> Result<(), StoreError> {
        let command = serde_json::to_vec(&p.command).unwrap_or_default();
        let clusters = serde_json::to_vec(&p.clusters).unwrap_or_default();
        let data = BTreeMap::from([
            ("run".to_string(), p.run.clone()),
            (
                "started".to_string(),
                p.started.iter().cloned().collect::<Vec<_>>().join("\n"),
            ),
            ("results".to_string(), p.result_chunks.join("\n")),
        ]);
        let binary = BTreeMap::from([
            ("command.json.gz".to_string(), gzip(&command)),
            ("clusters.json.gz".to_string(), gzip(&clusters)),
        ]);
        self.put(&self.progress_name(), data, binary).await
    }

    /// The progress of the run `run`, with the results recorded so far.
    ///
    /// # Errors
    /// A damaged record.
    pub async fn load(&self, run: &str) -> Result<Option<(Progress, Vec<ExecResult>)>, StoreError> {
        let name = self.progress_name();
        let Some(cm) = self.get(&name).await? else {
            return Ok(None);
        };
        let data = cm.data.unwrap_or_default();
        if data.get("run").map(String::as_str) != Some(run) {
            return Ok(None);
        }
        let binary = cm.binary_data.unwrap_or_default();
        let corrupt = |why: String| StoreError::Corrupt {
            name: name.clone(),
            why,
        };
        let unpack = |key: &str| -> Result<Vec<u8>, StoreError> {
            let b = binary.get(key).ok_or_else(|| corrupt(format!("no {key}")))?;
            gunzip(&b.0, MAX_STORED).map_err(&corrupt)
        };
        let command: Command =
            serde_json::from_slice(&unpack("command.json.gz")?).map_err(|e| corrupt(e.to_string()))?;
        let clusters: Vec<String> =
            serde_json::from_slice(&unpack("clusters.json.gz")?).map_err(|e| corrupt(e.to_string()))?;
        let lines = |k: &str| -> Vec<String> {
            data.get(k)
                .map(|t| t.lines().filter(|l| !l.is_empty()).map(String::from).collect())
                .unwrap_or_default()
        };
        let result_chunks = lines("results");
        let mut results = Vec::new();
        for chunk in &result_chunks {
            results.extend(parse_results(
                &self.read_chunks(std::slice::from_ref(chunk)).await?,
                chunk,
            )?);
        }
        Ok(Some((
            Progress {
                run: run.to_string(),
                command,
                clusters,
                started: lines("started").into_iter().collect(),
                result_chunks,
            },
            results,
        )))
    }

    /// Append a batch of results as a new chunk and record it in the progress.
    ///
    /// # Errors
    /// The hub's answer to a write.
    pub async fn append_results(&self, p: &mut Progress, batch: &[ExecResult]) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let n = p.result_chunks.len();
        let names = self
            .write_chunks(&format!("{}-r{n}", p.run_key()), &jsonl(batch))
            .await?;
        p.result_chunks.extend(names);
        self.save(p).await
    }
}

/// ExecResults as JSON lines.
#[must_use]
pub fn jsonl(results: &[ExecResult]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in results {
        if let Ok(line) = serde_json::to_vec(r) {
            out.extend(line);
            out.push(b'\n');
        }
    }
    out
}

/// ExecResults from JSON lines; `origin` names the ConfigMap in errors.
///
/// # Errors
/// A line that is not an ExecResult.
pub fn parse_results(bytes: &[u8], origin: &str) -> Result<Vec<ExecResult>, StoreError> {
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice(l).map_err(|e| StoreError::Corrupt {
                name: origin.to_string(),
                why: e.to_string(),
            })
        })
        .collect()
}

/// One run's progress, as the hub persists it while the run goes on.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// The run's id (its start time, RFC 3339).
    pub run: String,
    /// The validated command (its id and issue time fixed for the run).
    pub command: Command,
    /// The clusters selected when the run began.
    pub clusters: Vec<String>,
    /// Clusters an exec started on (persisted before it started).
    pub started: BTreeSet<String>,
    /// The result chunks written so far.
    pub result_chunks: Vec<String>,
}

impl Progress {
    /// A short key of the run for chunk names.
    #[must_use]
    pub fn run_key(&self) -> String {
        self.run.chars().filter(char::is_ascii_digit).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_names_and_lines() {
        let big = "x".repeat(3 * 1024 * 1024);
        let packed = gzip(big.as_bytes());
        assert!(packed.len() < big.len() / 100);
        assert_eq!(gunzip(&packed, big.len()).unwrap(), big.as_bytes());
        assert!(gunzip(&packed, 1000).is_err(), "bounded");
        assert!(gunzip(b"not gzip", 10).is_err());
        assert_eq!(child_name("web", "progress"), "web-progress");
        let long = child_name(&"a".repeat(253), "report-0");
        assert!(long.len() <= 253 && long.ends_with("-report-0"), "{long}");
        assert_ne!(
            child_name(&"a".repeat(250), "x"),
            child_name(&("a".repeat(249) + "b"), "x")
        );
    }
}
