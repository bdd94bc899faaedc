//! The status stays small at fleet scale: a FleetCommand over 10,000 simulated members (one
//! simulator process), every one of them failing with its own message, keeps its status
//! under 256 KiB (Argo CD #24689, Fleet #3482 hit "Request entity too large" there).

use std::time::{Duration, Instant};

use kube::api::{Api, Patch, PatchParams};
use muster_hub::crd::{FleetCluster, FleetCommand, Phase};
use muster_testkit::eventually;
use muster_testkit::hub::{SimHub, create_namespace};

/// Status size limit the issue sets.
const MAX_STATUS_BYTES: usize = 256 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_stays_under_256_kib_with_10000_members() {
    let _machine = crate::alone().await;
    crate::logs();
    let n: usize = std::env::var("MUSTER_SCALE_MEMBERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let t = Instant::now();
    let sim = SimHub::start(n).await;
    eprintln!("{n} members and their Secrets: {:?}", t.elapsed());
    // Every member answers every request with a 500 of its own: the worst status there is.
    for m in &sim.members {
        sim.member(m).faults.send_modify(|f| {
            f.error_rate = 1.0;
            f.error_code = Some(500);
        });
    }
    let mut config = SimHub::config("hub-scale");
    config.probe_interval = Duration::from_secs(3600);
    config.sync_interval = Duration::from_secs(1);
    config.flush_interval = Duration::from_millis(500);
    let t = Instant::now();
    let hub = sim.serve(config).await;
    let fcs: Api<FleetCluster> = Api::all(sim.client.clone());
    eventually("a FleetCluster per member", Duration::from_secs(600), || {
        let fcs = fcs.clone();
        async move {
            let l = fcs.list_metadata(&kube::api::ListParams::default()).await.ok()?;
            (l.items.len() >= n).then_some(())
        }
    })
    .await;
    eprintln!("FleetClusters for {n} members: {:?}", t.elapsed());
    create_namespace(&sim.client, "team-a").await;
    let api: Api<FleetCommand> = Api::namespaced(sim.client.clone(), "team-a");
    let fc = serde_json::json!({"apiVersion": "muster.dev/v1alpha1", "kind": "FleetCommand",
        "metadata": {"name": "everywhere", "namespace": "team-a"},
        "spec": {"action": "get", "target": "deploy/web", "namespace": "default", "deadlineSeconds": 900}});
    let t = Instant::now();
    api.patch("everywhere", &PatchParams::apply("test"), &Patch::Apply(fc))
        .await
        .unwrap();
    let largest = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let done = eventually("the command over every member", Duration::from_secs(900), || {
        let (api, largest) = (api.clone(), largest.clone());
        async move {
            let fc = api.get("everywhere").await.ok()?;
            let size = serde_json::to_vec(&fc.status).ok()?.len();
            largest.fetch_max(size, std::sync::atomic::Ordering::Relaxed);
            fc.status.as_ref()?.phase.is_finished().then_some(fc)
        }
    })
    .await;
    let largest = largest.load(std::sync::atomic::Ordering::Relaxed);
    let s = done.status.clone().unwrap();
    let bytes = serde_json::to_vec(&s).unwrap().len();
    eprintln!(
        "{n} members: command {:?}, final status {bytes} bytes (largest seen {largest})",
        t.elapsed()
    );
    assert_eq!(s.phase, Phase::Failed);
    assert_eq!(s.clusters as usize, n);
    assert_eq!(
        s.counts.get("Failed").copied().unwrap_or(0) as usize,
        n,
        "{:?}",
        s.counts
    );
    assert_eq!(s.not_succeeded.len(), 100.min(n));
    assert_eq!(s.not_succeeded_more as usize, n.saturating_sub(100));
    assert!(
        bytes < MAX_STATUS_BYTES && largest < MAX_STATUS_BYTES,
        "status {bytes} bytes"
    );
    let whole = serde_json::to_vec(&done).unwrap().len();
    assert!(whole < MAX_STATUS_BYTES, "the whole object: {whole} bytes");
    let results = muster_hub::remote::results(&sim.client, &done).await.unwrap();
    assert_eq!(results.len(), n, "every result kept, outside the status");
    hub.shutdown().await;
}
