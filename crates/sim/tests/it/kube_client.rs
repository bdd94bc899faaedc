//! kube-rs against a simulated cluster: typed and dynamic APIs, server-side apply, watches,
//! and the API semantics muster relies on (conflicts, 410 Expired, pagination, finalizers).

use std::time::Duration;

use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::watcher;
use kube::{Client, Error};
use muster_sim::Fleet;
use serde_json::json;

async fn fleet() -> (Fleet, Client) {
    muster_testkit::fleet_with_namespace("shop").await
}

fn deployment(image: &str, replicas: i32) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image}]}}}
    })
}

fn api_code(e: &Error) -> u16 {
    match e {
        Error::Api(s) => s.code,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn typed_get_list_patch_apply() {
    let (fleet, client) = fleet().await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "shop");
    let pp = PatchParams::apply("muster-test");
    let d = deploys
        .patch("web", &pp, &Patch::Apply(deployment("nginx:1", 3)))
        .await
        .expect("apply creates");
    assert_eq!(d.spec.replicas, Some(3));
    assert_eq!(d.metadata.generation, Some(1));
    let mf = d.metadata.managed_fields.as_ref().unwrap();
    assert_eq!(
        (mf[0].manager.as_deref(), mf[0].operation.as_deref()),
        (Some("muster-test"), Some("Apply"))
    );

    let got = deploys.get("web").await.unwrap();
    assert_eq!(got.metadata.uid, d.metadata.uid);
    let listed = deploys.list(&ListParams::default().labels("app=web")).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert!(
        deploys
            .list(&ListParams::default().labels("app notin (web)"))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(
        deploys
            .list(&ListParams::default().fields("metadata.name=web"))
            .await
            .unwrap()
            .items
            .len(),
        1
    );

    // A merge patch bumps generation; a label change does not.
    let p = deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .unwrap();
    assert_eq!(p.metadata.generation, Some(2));
    let p = deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(p.metadata.generation, Some(2));

    // Another manager changing an owned field conflicts unless forced.
    let err = deploys
        .patch(
            "web",
            &PatchParams::apply("other"),
            &Patch::Apply(deployment("nginx:2", 3)),
        )
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), 409);
    assert!(err.to_string().contains("conflict"), "{err}");
    let forced = deploys
        .patch(
            "web",
            &PatchParams::apply("other").force(),
            &Patch::Apply(deployment("nginx:2", 3)),
        )
        .await
        .unwrap();
    assert_eq!(
        forced.spec.template.spec.unwrap().containers[0].image.as_deref(),
        Some("nginx:2")
    );

    // Optimistic concurrency on update.
    let mut stale = got.clone();
    stale
        .metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert("stale".into(), "1".into());
    assert_eq!(
        api_code(
            &deploys
                .replace("web", &PostParams::default(), &stale)
                .await
                .unwrap_err()
        ),
        409
    );

    // Scale subresource.
    let scale = deploys.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(3));
    deploys
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 1}})),
        )
        .await
        .unwrap();
    assert_eq!(deploys.get("web").await.unwrap().spec.replicas, Some(1));
    fleet.shutdown().await;
}

#[tokio::test]
async fn watches_deliver_events_and_expire() {
    let (fleet, client) = fleet().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "shop");
    let cm = |name: &str| {
        serde_json::from_value::<ConfigMap>(json!({"metadata": {"name": name, "labels": {"k": "v"}}})).unwrap()
    };
    cms.create(&PostParams::default(), &cm("a")).await.unwrap();

    // kube's watcher: initial list, then live events.
    let mut stream = watcher(cms.clone(), watcher::Config::default().labels("k=v")).boxed();
    let mut names = Vec::new();
    // NB: create "b" once the watcher has delivered its initial list (no fixed delay).
    let mut created = false;
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(ev) = stream.try_next().await.unwrap() {
            match ev {
                watcher::Event::InitApply(o) | watcher::Event::Apply(o) => names.push(o.metadata.name.unwrap()),
                watcher::Event::InitDone if !created => {
                    cms.create(&PostParams::default(), &cm("b")).await.unwrap();
                    created = true;
                }
                _ => {}
            }
            if names.contains(&"b".to_string()) {
                break;
            }
        }
    })
    .await
    .expect("watch delivered the new object in time");
    assert_eq!(names, ["a", "b"]);

    // A watch from a resourceVersion replays what happened after it, with bookmarks allowed.
    let rv = cms.get("b").await.unwrap().metadata.resource_version.unwrap();
    cms.delete("a", &DeleteParams::default()).await.unwrap();
    let mut w = cms
        .watch(&WatchParams::default().timeout(2), &rv)
        .await
        .unwrap()
        .boxed();
    match w.try_next().await.unwrap() {
        Some(WatchEvent::Deleted(o)) => assert_eq!(o.metadata.name.as_deref(), Some("a")),
        other => panic!("expected the deletion, got {other:?}"),
    }

    // History is finite: a watch from a compacted version gets 410 Expired.
    for i in 0..1100 {
        cms.patch(
            "b",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"i": i.to_string()}})),
        )
        .await
        .unwrap();
    }
    let mut w = cms.watch(&WatchParams::default(), "1").await.unwrap().boxed();
    match w.try_next().await.unwrap() {
        Some(WatchEvent::Error(e)) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => panic!("expected 410 Expired, got {other:?}"),
    }
    fleet.shutdown().await;
}

#[tokio::test]
async fn pagination_finalizers_dry_run_and_generate_name() {
    let (fleet, client) = fleet().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "shop");
    for i in 0..5 {
        cms.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": format!("c{i}")}})).unwrap(),
        )
        .await
        .unwrap();
    }
    let mut names = Vec::new();
    let mut lp = ListParams::default().limit(2);
    loop {
        let page = cms.list(&lp).await.unwrap();
        names.extend(page.items.iter().map(|c| c.metadata.name.clone().unwrap()));
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
            _ => break,
        }
    }
    // NB: every namespace also holds kube-root-ca.crt, as on a real cluster.
    assert_eq!(names, ["c0", "c1", "c2", "c3", "c4", "kube-root-ca.crt"]);
    let bad = cms
        .list(&ListParams::default().continue_token("garbage"))
        .await
        .unwrap_err();
    assert_eq!(api_code(&bad), 400);

    // Finalizers hold an object in Terminating until they are removed.
    cms.patch(
        "c0",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": ["example.com/hold"]}})),
    )
    .await
    .unwrap();
    cms.delete("c0", &DeleteParams::default()).await.unwrap();
    let held = cms.get("c0").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    cms.patch(
        "c0",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert_eq!(api_code(&cms.get("c0").await.unwrap_err()), 404);

    // Dry run writes nothing.
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    cms.create(
        &dry,
        &serde_json::from_value(json!({"metadata": {"name": "ghost"}})).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(api_code(&cms.get("ghost").await.unwrap_err()), 404);
    cms.delete(
        "c1",
        &DeleteParams {
            dry_run: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(cms.get("c1").await.is_ok());

    // generateName.
    let made = cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"generateName": "gen-"}})).unwrap(),
        )
        .await
        .unwrap();
    let name = made.metadata.name.unwrap();
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");

    // deletecollection with a selector.
    cms.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().fields("metadata.name=c2"),
    )
    .await
    .unwrap();
    assert_eq!(api_code(&cms.get("c2").await.unwrap_err()), 404);
    assert!(cms.get("c3").await.is_ok());
    fleet.shutdown().await;
}

#[tokio::test]
async fn dynamic_objects_of_a_crd() {
    let (fleet, client) = fleet().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: serde_json::Value = serde_saphyr::from_str(muster_testkit::CRD_YAML).unwrap();
    crds.patch(
        "widgets.example.com",
        &PatchParams::apply("muster-test"),
        &Patch::Apply(crd),
    )
    .await
    .unwrap();
    // As on a real cluster, its objects are served once the CRD is Established.
    muster_testkit::crd_established(&client, "widgets.example.com").await;

    // kube's discovery finds the new group.
    let discovery = kube::Discovery::new(client.clone()).run().await.unwrap();
    let (ar, caps) = discovery
        .resolve_gvk(&GroupVersionKind::gvk("example.com", "v1", "Widget"))
        .expect("Widget discovered");
    assert_eq!(ar.plural, "widgets");
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);

    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "shop", &ar);
    let w: serde_json::Value = serde_saphyr::from_str(muster_testkit::WIDGET_YAML).unwrap();
    let made = widgets
        .patch("w1", &PatchParams::apply("muster-test"), &Patch::Apply(w))
        .await
        .unwrap();
    assert_eq!(made.data["spec"]["size"], 3);
    let listed = widgets.list(&ListParams::default().labels("app=web")).await.unwrap();
    assert_eq!(listed.items.len(), 1);

    // The status subresource: the main endpoint ignores status, /status writes it.
    widgets
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"size": 9}})),
        )
        .await
        .unwrap();
    assert!(widgets.get("w1").await.unwrap().data.get("status").is_none());
    widgets
        .patch_status(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"size": 9}})),
        )
        .await
        .unwrap();
    assert_eq!(widgets.get("w1").await.unwrap().data["status"]["size"], 9);

    // Served through the other version, the same object.
    let beta = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("example.com", "v1beta1", "Widget"), "widgets");
    let via_beta: Api<DynamicObject> = Api::namespaced_with(client.clone(), "shop", &beta);
    let b = via_beta.get("w1").await.unwrap();
    assert_eq!(b.types.unwrap().api_version, "example.com/v1beta1");

    crds.delete("widgets.example.com", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(api_code(&widgets.get("w1").await.unwrap_err()), 404);
    fleet.shutdown().await;
}

#[tokio::test]
async fn tables_errors_and_limits() {
    let (fleet, client) = fleet().await;
    let table_req = http::Request::get("/apis/apps/v1/namespaces/shop/deployments")
        .header(
            "Accept",
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        )
        .body(Vec::new())
        .unwrap();
    let t: serde_json::Value = client.request(table_req).await.unwrap();
    assert_eq!(t["kind"], "Table");
    let cols: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(&cols[..5], ["Name", "Ready", "Up-to-date", "Available", "Age"]);

    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "shop");
    let mut invalid = deployment("nginx:1", 1);
    invalid["spec"]["template"]["spec"]["containers"][0]["image"] = json!("");
    let err = deploys
        .create(&PostParams::default(), &serde_json::from_value(invalid).unwrap())
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), 422);
    assert!(
        err.to_string().contains("spec.template.spec.containers[0].image"),
        "{err}"
    );
    deploys
        .create(
            &PostParams::default(),
            &serde_json::from_value(deployment("nginx:1", 1)).unwrap(),
        )
        .await
        .unwrap();
    let err = deploys
        .create(
            &PostParams::default(),
            &serde_json::from_value(deployment("nginx:1", 1)).unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), 409);
    assert!(err.to_string().contains("already exists"), "{err}");

    // Bodies over 3 MiB are refused with 413.
    let big = "x".repeat(3 * 1024 * 1024 + 10);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "shop");
    let err = cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "big"}, "data": {"a": big}})).unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), 413);

    // An unknown patch content type is 415; malformed JSON is 400; no namespace is 404.
    let req = http::Request::patch("/api/v1/namespaces/shop/configmaps/x")
        .header("Content-Type", "application/x-nope")
        .body(b"{}".to_vec())
        .unwrap();
    assert_eq!(
        api_code(&client.request::<serde_json::Value>(req).await.unwrap_err()),
        415
    );
    let req = http::Request::post("/api/v1/namespaces/shop/configmaps")
        .header("Content-Type", "application/json")
        .body(b"{not json".to_vec())
        .unwrap();
    assert_eq!(
        api_code(&client.request::<serde_json::Value>(req).await.unwrap_err()),
        400
    );
    let nowhere: Api<ConfigMap> = Api::namespaced(client.clone(), "nowhere");
    let err = nowhere
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "c"}})).unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), 404);
    fleet.shutdown().await;
}
