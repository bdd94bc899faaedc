//! The hub seen from outside (the CLI's `--hub`, `muster report get`, the demo): submit a
//! FleetCommand, follow its status to the end, and read back its per-cluster results and
//! its stored report.

use std::time::Duration;

use kube::api::{Api, PostParams};
use muster_core::result::ExecResult;

use crate::crd::{FleetCommand, FleetCommandSpec};
use crate::store::{Store, StoreError, parse_results};

/// A failure talking to the hub.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("hub: {0}")]
    Api(#[from] kube::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("FleetCommand {0}: not finished within {1:?}")]
    Timeout(String, Duration),
    #[error("FleetCommand {0}: no report stored{1}")]
    NoReport(String, String),
}

/// Create a FleetCommand named `<prefix><random>` in `namespace`.
///
/// # Errors
/// The hub's answer (the CRD schema refuses a bad spec).
pub async fn submit(
    client: &kube::Client,
    namespace: &str,
    prefix: &str,
    spec: FleetCommandSpec,
) -> Result<FleetCommand, RemoteError> {
    let api: Api<FleetCommand> = Api::namespaced(client.clone(), namespace);
    let mut fc = FleetCommand::new("", spec);
    fc.metadata.name = None;
    fc.metadata.generate_name = Some(prefix.to_string());
    fc.metadata.labels = Some([("app.kubernetes.io/created-by".to_string(), "muster-cli".to_string())].into());
    Ok(api.create(&PostParams::default(), &fc).await?)
}

/// Poll until the command has finished its current generation (or `timeout`); `progress`
/// sees each status on the way.
///
/// # Errors
/// The hub's errors, or [`RemoteError::Timeout`].
pub async fn wait_finished(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    timeout: Duration,
    mut progress: impl FnMut(&FleetCommand),
) -> Result<FleetCommand, RemoteError> {
    let api: Api<FleetCommand> = Api::namespaced(client.clone(), namespace);
    let deadline = tokio::time::Instant::now() + timeout;
    let mut delay = Duration::from_millis(50);
    loop {
        let fc = api.get(name).await?;
        progress(&fc);
        if let Some(s) = &fc.status
            && s.phase.is_finished()
            && s.observed_generation == fc.metadata.generation
        {
            return Ok(fc);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(RemoteError::Timeout(format!("{namespace}/{name}"), timeout));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(500));
    }
}

/// The per-cluster results of the command's latest run, sorted by cluster.
///
/// # Errors
/// A missing or damaged ConfigMap.
pub async fn results(client: &kube::Client, fc: &FleetCommand) -> Result<Vec<ExecResult>, RemoteError> {
    let Some(r) = fc.status.as_ref().and_then(|s| s.report.as_ref()) else {
        return Ok(Vec::new());
    };
    let store = Store::of(client.clone(), fc);
    let mut out = Vec::new();
    for chunk in &r.results {
        out.extend(parse_results(
            &store.read_chunks(std::slice::from_ref(chunk)).await?,
            chunk,
        )?);
    }
    out.sort_by(|a, b| a.cluster.cmp(&b.cluster));
    Ok(out)
}

/// The stored report's JSON: the latest, or the run started at `run`.
///
/// # Errors
/// No such report, or a damaged ConfigMap.
pub async fn report_json(client: &kube::Client, fc: &FleetCommand, run: Option<&str>) -> Result<String, RemoteError> {
    let name = format!(
        "{}/{}",
        fc.metadata.namespace.as_deref().unwrap_or_default(),
        fc.metadata.name.as_deref().unwrap_or_default()
    );
    let status = fc.status.clone().unwrap_or_default();
    let all: Vec<_> = status.report.iter().chain(&status.previous_reports).collect();
    let chosen = match run {
        Some(run) => all.iter().find(|r| r.run == run).copied().ok_or_else(|| {
            RemoteError::NoReport(
                name.clone(),
                format!(
                    " for run {run} (runs kept: {})",
                    all.iter().map(|r| r.run.as_str()).collect::<Vec<_>>().join(", ")
                ),
            )
        })?,
        None => all
            .first()
            .copied()
            .ok_or_else(|| RemoteError::NoReport(name.clone(), String::new()))?,
    };
    let bytes = Store::of(client.clone(), fc).read_chunks(&chosen.config_maps).await?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
