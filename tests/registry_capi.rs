//! The Cluster API source against a simulated hub whose Secrets point at other simulated
//! clusters: labels from Cluster objects, invalid Secrets, rotation to another cluster while
//! an old handle keeps working, and deletion.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use muster::registry::capi::ClusterApiSource;
use muster::registry::{FleetConfig, Registry};
use muster::sim::{Fleet, FleetOptions};
use serde_json::{Value, json};

/// The fleet's kubeconfig with `context` current: what CAPI would store for that cluster.
fn kubeconfig_for(fleet: &Fleet, context: &str) -> String {
    let mut v: Value = serde_yaml::from_str(&fleet.kubeconfig()).unwrap();
    v["current-context"] = json!(context);
    serde_yaml::to_string(&v).unwrap()
}

fn secret(cluster: &str, value: Option<&str>, extra_labels: &[(&str, &str)]) -> Secret {
    let mut labels: BTreeMap<String, String> =
        BTreeMap::from([("cluster.x-k8s.io/cluster-name".into(), cluster.into())]);
    labels.extend(extra_labels.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())));
    let mut s: Secret = serde_json::from_value(json!({
        "metadata": {"name": format!("{cluster}-kubeconfig"), "namespace": "capi", "labels": labels},
        "type": "cluster.x-k8s.io/secret",
    }))
    .unwrap();
    if let Some(v) = value {
        s.data = Some(BTreeMap::from([(
            "value".to_string(),
            ByteString(v.as_bytes().to_vec()),
        )]));
    }
    s
}

/// Which simulated cluster a member's client reaches (each has a ConfigMap saying so).
async fn whoami(member: &muster::registry::Member) -> String {
    let api: Api<ConfigMap> = Api::namespaced(member.client().await.unwrap(), "default");
    api.get("whoami").await.unwrap().data.unwrap()["name"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_become_members_and_follow_changes() {
    let fleet = Fleet::start(FleetOptions::default().clusters(3)).await.unwrap();
    for c in ["sim-001", "sim-002"] {
        let client = common::kube_client(&fleet, c).await;
        let cms: Api<ConfigMap> = Api::namespaced(client, "default");
        cms.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "whoami"}, "data": {"name": c}})).unwrap(),
        )
        .await
        .unwrap();
    }
    let (_hub_fleet_unused, hub) = (&fleet, common::kube_client(&fleet, "sim-000").await);
    let ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(hub.clone());
    ns.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "capi"}})).unwrap(),
    )
    .await
    .unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(hub.clone());
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "clusters.cluster.x-k8s.io"},
        "spec": {"group": "cluster.x-k8s.io", "scope": "Namespaced", "names": {"plural": "clusters", "kind": "Cluster"},
            "versions": [{"name": "v1beta1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}});
    crds.patch(
        "clusters.cluster.x-k8s.io",
        &PatchParams::apply("test"),
        &Patch::Apply(crd),
    )
    .await
    .unwrap();
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("cluster.x-k8s.io", "v1beta1", "Cluster"),
        "clusters",
    );
    let clusters: Api<DynamicObject> = Api::namespaced_with(hub.clone(), "capi", &ar);
    let cluster: DynamicObject =
        serde_json::from_value(json!({"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster",
        "metadata": {"name": "prod-eu", "labels": {"env": "prod", "region": "eu"}}, "spec": {}}))
        .unwrap();
    clusters.create(&PostParams::default(), &cluster).await.unwrap();

    let secrets: Api<Secret> = Api::namespaced(hub.clone(), "capi");
    secrets
        .create(
            &PostParams::default(),
            &secret("prod-eu", Some(&kubeconfig_for(&fleet, "sim-001")), &[]),
        )
        .await
        .unwrap();
    secrets
        .create(
            &PostParams::default(),
            &secret("broken", Some("clusters: [::: not yaml"), &[]),
        )
        .await
        .unwrap();
    secrets
        .create(&PostParams::default(), &secret("empty", None, &[("team", "payments")]))
        .await
        .unwrap();
    // Not a kubeconfig Secret by name: ignored.
    let mut other = secret("prod-eu", Some("x"), &[]);
    other.metadata.name = Some("prod-eu-ca".into());
    secrets.create(&PostParams::default(), &other).await.unwrap();

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

    // The CLI lists the same members next to the kubeconfig contexts.
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    fleet.write_kubeconfig(&kc).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_muster"))
            .args([
                "clusters",
                "--kubeconfig",
                kc.to_str().unwrap(),
                "--hub-context",
                "sim-000",
                "--capi-namespace",
                "capi",
                "-o",
                "json",
            ])
            .env_remove("KUBECONFIG")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "capi/broken",
            "capi/empty",
            "capi/prod-eu",
            "sim-000",
            "sim-001",
            "sim-002"
        ]
    );
    let prod_view = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "capi/prod-eu")
        .unwrap();
    assert_eq!(
        (
            prod_view["source"]["kind"].as_str(),
            prod_view["labels"]["region"].as_str()
        ),
        (Some("clusterApi"), Some("eu"))
    );

    // Keep it current, through a hub whose watches drop every 300 ms (they resume from
    // where they were; nothing is lost or duplicated): a rotation points the member at
    // sim-002 while the old handle still works, a new Secret appears, a deleted one goes.
    fleet
        .cluster("sim-000")
        .unwrap()
        .set_faults(muster::sim::Faults {
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

    tokio::time::sleep(Duration::from_millis(700)).await; // at least one watch has dropped by now
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
