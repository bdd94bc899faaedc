//! The Cluster API source against a simulated hub whose Secrets point at other simulated
//! clusters: labels from Cluster objects, invalid Secrets, rotation to another cluster while
//! an old handle keeps working, and deletion.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DeleteParams, PostParams};
use muster_fleet::registry::capi::ClusterApiSource;
use muster_fleet::registry::{FleetConfig, Registry};
use muster_sim::{Fleet, FleetOptions};
use muster_testkit::capi::{self, kubeconfig_for, secret};

/// Which simulated cluster a member's client reaches (each has a ConfigMap saying so).
async fn whoami(member: &muster_fleet::registry::Member) -> String {
    let api: Api<ConfigMap> = Api::namespaced(member.client().await.unwrap(), "default");
    api.get("whoami").await.unwrap().data.unwrap()["name"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_become_members_and_follow_changes() {
    let fleet = Fleet::start(FleetOptions::default().clusters(3)).await.unwrap();
    let hub = capi::hub_with_secrets(&fleet).await;
    let secrets: Api<Secret> = Api::namespaced(hub.clone(), "capi");
    let source = ClusterApiSource::new(hub.clone(), vec!["capi".into()], Arc::new(FleetConfig::default()));
    let registry = Arc::new(Registry::new());
    assert_eq!(source.sync(&registry).await.unwrap(), 3);
    let prod = registry.get("capi/prod-eu").expect("the member");
    assert!(prod.invalid.is_none(), "{:?}", prod.invalid);
    assert_eq!(
        prod.labels.get("env").map(String::as_str),
        Some("prod"),
        "labels come from the Cluster"
    );
    assert_eq!(whoami(&prod).await, "sim-001");
    let broken = registry.get("capi/broken").unwrap();
    assert!(
        broken
            .invalid
            .as_ref()
            .unwrap()
            .reason
            .contains("Secret capi/broken-kubeconfig: invalid kubeconfig"),
        "{:?}",
        broken.invalid
    );
    let empty = registry.get("capi/empty").unwrap();
    assert!(
        empty
            .invalid
            .as_ref()
            .unwrap()
            .reason
            .contains("no kubeconfig in data key \"value\"")
    );
    assert_eq!(
        empty.labels.get("team").map(String::as_str),
        Some("payments"),
        "without a Cluster, labels come from the Secret"
    );

    // Keep it current, through a hub whose watches drop every 300 ms (they resume from
    // where they were; nothing is lost or duplicated): a rotation points the member at
    // sim-002 while the old handle still works, a new Secret appears, a deleted one goes.
    fleet
        .cluster("sim-000")
        .unwrap()
        .set_faults(muster_sim::Faults {
            watch_drop_after_ms: Some(300),
            ..Default::default()
        })
        .unwrap();
    let watching = tokio::spawn(
        ClusterApiSource::new(hub.clone(), vec!["capi".into()], Arc::new(FleetConfig::default())).run(registry.clone()),
    );
    let old = registry.get("capi/prod-eu").unwrap();
    let mut rotated = secret("prod-eu", Some(&kubeconfig_for(&fleet, "sim-002")), &[]);
    rotated.metadata.resource_version = None;
    secrets
        .replace("prod-eu-kubeconfig", &PostParams::default(), &rotated)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = registry.get("capi/prod-eu").unwrap();
        if !Arc::ptr_eq(&now, &old) && now.server != old.server {
            assert_eq!(whoami(&now).await, "sim-002", "the next call goes to the new cluster");
            break;
        }
        assert!(Instant::now() < deadline, "the rotation never reached the registry");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        whoami(&old).await,
        "sim-001",
        "a call already holding the old member finishes on it"
    );

    // NB: create the next Secret only once a watch has dropped (the hub counts them).
    let hub_cluster = fleet.cluster("sim-000").unwrap();
    muster_testkit::eventually("a hub watch to drop", Duration::from_secs(10), || {
        let dropped = hub_cluster.counters().watches_dropped;
        async move { (dropped > 0).then_some(()) }
    })
    .await;
    secrets
        .create(
            &PostParams::default(),
            &secret("late", Some(&kubeconfig_for(&fleet, "sim-001")), &[]),
        )
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while registry.get("capi/late").is_none() {
        assert!(
            Instant::now() < deadline,
            "a Secret created after a watch dropped never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        registry
            .members()
            .iter()
            .filter(|m| m.name.starts_with("capi/"))
            .count(),
        4
    );

    secrets
        .delete("prod-eu-kubeconfig", &DeleteParams::default())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while registry.get("capi/prod-eu").is_some() {
        assert!(Instant::now() < deadline, "a deleted Secret's member was not removed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(registry.get("capi/empty").is_some(), "other members stay");
    watching.abort();
    fleet.shutdown().await;
}
