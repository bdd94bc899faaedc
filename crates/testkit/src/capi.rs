//! A Cluster API hub on a simulated fleet: sim-000 is the hub, whose `capi` namespace holds
//! `<cluster>-kubeconfig` Secrets pointing at sim-001 and sim-002 (each has a `whoami`
//! ConfigMap naming itself), a `Cluster` CRD and a labelled Cluster, and broken Secrets.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use muster_sim::Fleet;
use serde_json::{Value, json};

/// The fleet's kubeconfig with `context` current: what CAPI would store for that cluster.
pub fn kubeconfig_for(fleet: &Fleet, context: &str) -> String {
    let mut v: Value = serde_saphyr::from_str(&fleet.kubeconfig()).unwrap();
    v["current-context"] = json!(context);
    serde_saphyr::to_string(&v).unwrap()
}

pub fn secret(cluster: &str, value: Option<&str>, extra_labels: &[(&str, &str)]) -> Secret {
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

/// Make sim-000 a Cluster API hub: members `capi/prod-eu` (sim-001, labels env=prod and
/// region=eu from its Cluster), `capi/broken` (not a kubeconfig), `capi/empty` (no `value`,
/// label team=payments), and a Secret that is not a kubeconfig Secret by name. Returns the
/// hub's client.
///
/// # Panics
/// When the hub refuses a write.
pub async fn hub_with_secrets(fleet: &Fleet) -> kube::Client {
    for c in ["sim-001", "sim-002"] {
        let client = crate::kube_client(fleet, c).await;
        let cms: Api<ConfigMap> = Api::namespaced(client, "default");
        cms.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "whoami"}, "data": {"name": c}})).unwrap(),
        )
        .await
        .unwrap();
    }
    let hub = crate::kube_client(fleet, "sim-000").await;
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
    crate::crd_established(&hub, "clusters.cluster.x-k8s.io").await;
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
            &secret("prod-eu", Some(&kubeconfig_for(fleet, "sim-001")), &[]),
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

    hub
}
