//! Fuzz-style property test of the simulator's request path: thousands of seeded random
//! requests (methods, paths, queries, content types, bodies) never panic the server, never
//! produce a 5xx, and every error is a well-formed `Status` whose code matches the response.

use std::time::Duration;

use http_body_util::BodyExt as _;
use muster_sim::{Fleet, FleetOptions};
use serde_json::{Value, json};

const SEGMENTS: &[&str] = &[
    "api",
    "apis",
    "v1",
    "apps",
    "v2",
    "namespaces",
    "shop",
    "default",
    "kube-system",
    "deployments",
    "configmaps",
    "pods",
    "services",
    "secrets",
    "nodes",
    "watch",
    "status",
    "scale",
    "finalize",
    "web",
    "x",
    "..",
    "%00",
    "%2F",
    "widgets",
    "example.com",
    "customresourcedefinitions",
    "apiextensions.k8s.io",
    "openapi",
    "v3",
    "version",
    "healthz",
    "Ünïcode",
    "a-very-long-segment-a-very-long-segment-a-very-long-segment-a-very-long-segment",
];
const QUERY_KEYS: &[&str] = &[
    "labelSelector",
    "fieldSelector",
    "limit",
    "continue",
    "watch",
    "resourceVersion",
    "timeoutSeconds",
    "dryRun",
    "fieldManager",
    "force",
    "propagationPolicy",
    "includeObject",
    "allowWatchBookmarks",
    "sendInitialEvents",
];
const QUERY_VALUES: &[&str] = &[
    "",
    "1",
    "0",
    "-1",
    "true",
    "All",
    "app=web",
    "app in (a,b",
    "!!",
    "metadata.name=web",
    "spec.bogus=1",
    "x==y,z",
    "99999999999999999999",
    "Background",
    "Orphan",
    "Nope",
    "Object",
    "None",
    "eyJ2IjoxfQ",
    "%ZZ",
    "a%3Db",
];
const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/merge-patch+json",
    "application/json-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
    "application/cbor",
    "text/plain",
    "",
];

fn random_json(rng: &mut fastrand::Rng, depth: u32) -> Value {
    match rng.u8(0..if depth > 3 { 4 } else { 7 }) {
        0 => Value::Null,
        1 => json!(rng.bool()),
        2 => json!(rng.i64(-5..100)),
        3 => json!(["web", "", "Bad_Name", "nginx:1", "app", "metadata", "-", "ä"][rng.usize(0..8)]),
        4 => Value::Array((0..rng.usize(0..4)).map(|_| random_json(rng, depth + 1)).collect()),
        _ => {
            let keys = [
                "apiVersion",
                "kind",
                "metadata",
                "name",
                "namespace",
                "spec",
                "status",
                "labels",
                "replicas",
                "containers",
                "op",
                "path",
                "value",
                "$patch",
                "finalizers",
                "data",
            ];
            Value::Object(
                (0..rng.usize(0..5))
                    .map(|_| (keys[rng.usize(0..keys.len())].to_string(), random_json(rng, depth + 1)))
                    .collect(),
            )
        }
    }
}

fn random_body(rng: &mut fastrand::Rng) -> Vec<u8> {
    match rng.u8(0..6) {
        0 => Vec::new(),
        1 => (0..rng.usize(0..200)).map(|_| rng.u8(..)).collect(),
        2 => {
            let mut b = b"k8s\x00".to_vec();
            b.extend((0..rng.usize(0..100)).map(|_| rng.u8(..)));
            b
        }
        3 => {
            // A plausible object with random damage.
            let mut v = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "shop"}, "data": {"a": "b"}});
            v[["metadata", "data", "kind", "apiVersion"][rng.usize(0..4)]] = random_json(rng, 2);
            v.to_string().into_bytes()
        }
        _ => random_json(rng, 0).to_string().into_bytes(),
    }
}

#[tokio::test]
async fn random_requests_never_break_the_server() {
    let fleet = Fleet::start(FleetOptions::default().clusters(1))
        .await
        .expect("fleet starts");
    let client = muster_testkit::kube_client(&fleet, "sim-000").await;
    // Some state for requests to hit.
    let crd: Value = serde_saphyr::from_str(muster_testkit::CRD_YAML).unwrap();
    let setup = [
        ("/api/v1/namespaces", json!({"metadata": {"name": "shop"}})),
        (
            "/api/v1/namespaces/shop/configmaps",
            json!({"metadata": {"name": "web"}, "data": {"a": "b"}}),
        ),
        (
            "/api/v1/namespaces/shop/secrets",
            json!({"metadata": {"name": "web"}, "stringData": {"a": "b"}}),
        ),
        (
            "/apis/apps/v1/namespaces/shop/deployments",
            json!({"metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1"}]}}}}),
        ),
        ("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd),
        (
            "/apis/example.com/v1/namespaces/shop/widgets",
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "web"}, "spec": {"size": 1}}),
        ),
    ];
    // Random deletes destroy the state, so it is recreated every 100 requests.
    let recreate = async |client: &kube::Client| {
        for (path, body) in &setup {
            let req = http::Request::post(*path)
                .header("Content-Type", "application/json")
                .body(body.to_string().into_bytes())
                .unwrap();
            let _ = client.request::<Value>(req).await;
        }
    };

    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let methods = [
        "GET", "POST", "PUT", "PATCH", "DELETE", "GET", "POST", "PATCH", "OPTIONS", "HEAD",
    ];
    let mut codes = std::collections::BTreeMap::new();
    for i in 0..3000 {
        if i % 100 == 0 {
            recreate(&client).await;
        }
        let mut path = String::new();
        if rng.u8(0..10) < 8 {
            // Mostly well-shaped resource paths, so the verb handlers see the damage.
            let pick = |rng: &mut fastrand::Rng, xs: &[&'static str]| xs[rng.usize(0..xs.len())];
            let (prefix, resource, namespaced) = [
                ("/api/v1", "configmaps", true),
                ("/api/v1", "secrets", true),
                ("/api/v1", "pods", true),
                ("/api/v1", "services", true),
                ("/api/v1", "namespaces", false),
                ("/api/v1", "nodes", false),
                ("/apis/apps/v1", "deployments", true),
                ("/apis/example.com/v1", "widgets", true),
                ("/apis/apiextensions.k8s.io/v1", "customresourcedefinitions", false),
                ("/apis/apps/v1", "widgets", true),
            ][rng.usize(0..10)];
            path.push_str(prefix);
            if rng.u8(0..8) == 0 {
                path.push_str("/watch");
            }
            if namespaced == (rng.u8(0..6) != 0) {
                path.push_str("/namespaces/");
                path.push_str(pick(&mut rng, &["shop", "shop", "default", "nope", "Bad_NS"]));
            }
            path.push('/');
            path.push_str(resource);
            if rng.bool() {
                path.push('/');
                path.push_str(pick(
                    &mut rng,
                    &["web", "web", "web", "c", "Bad_Name", "widgets.example.com"],
                ));
                if rng.u8(0..3) == 0 {
                    path.push('/');
                    path.push_str(pick(&mut rng, &["status", "scale", "log", "bogus"]));
                }
            }
        } else {
            for _ in 0..rng.usize(0..7) {
                path.push('/');
                path.push_str(SEGMENTS[rng.usize(0..SEGMENTS.len())]);
            }
        }
        if path.is_empty() {
            path.push('/');
        }
        let mut query: Vec<String> = (0..rng.usize(0..4))
            .map(|_| {
                format!(
                    "{}={}",
                    QUERY_KEYS[rng.usize(0..QUERY_KEYS.len())],
                    QUERY_VALUES[rng.usize(0..QUERY_VALUES.len())]
                )
            })
            .collect();
        // Bound watches so the test cannot hang on a stream.
        query.push("timeoutSeconds=1".into());
        let uri = format!("{path}?{}", query.join("&"));
        let method = methods[rng.usize(0..methods.len())];
        let mut builder = http::Request::builder().method(method).uri(&uri);
        let ct = CONTENT_TYPES[rng.usize(0..CONTENT_TYPES.len())];
        if !ct.is_empty() {
            builder = builder.header("Content-Type", ct);
        }
        if rng.bool() {
            builder = builder.header(
                "Accept",
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
            );
        }
        let Ok(req) = builder.body(kube::client::Body::from(random_body(&mut rng))) else {
            continue;
        };
        let resp = tokio::time::timeout(Duration::from_secs(10), client.send(req))
            .await
            .unwrap_or_else(|_| panic!("request {i} ({method} {uri}) got no response headers in 10s"))
            .unwrap_or_else(|e| panic!("request {i} ({method} {uri}) failed at the transport level: {e}"));
        let status = resp.status().as_u16();
        *codes.entry(status).or_insert(0u32) += 1;
        assert!(status < 500, "request {i} ({method} {uri}, {ct}) got {status}");
        // Successful answers may be watch streams: read briefly, then hang up mid-stream
        // (which is itself worth exercising). Errors are read whole.
        let wait = if status < 300 {
            Duration::from_millis(50)
        } else {
            Duration::from_secs(5)
        };
        let body = tokio::time::timeout(wait, resp.into_body().collect()).await;
        let Ok(Ok(body)) = body else { continue };
        if status >= 400 && method != "HEAD" {
            let status_obj: Value = serde_json::from_slice(&body.to_bytes())
                .unwrap_or_else(|e| panic!("request {i} ({method} {uri}): {status} body is not JSON: {e}"));
            assert_eq!(status_obj["kind"], "Status", "request {i}");
            assert_eq!(status_obj["code"], status, "request {i}");
            assert!(
                status_obj["message"].as_str().is_some_and(|m| !m.is_empty()),
                "request {i}"
            );
        }
    }
    eprintln!("response codes over 3000 random requests: {codes:?}");
    assert!(
        codes.len() >= 5,
        "the generator should reach many different outcomes: {codes:?}"
    );

    // Still healthy, and the original state is still readable.
    let v: Value = client
        .request(http::Request::get("/version").body(Vec::new()).unwrap())
        .await
        .unwrap();
    assert_eq!(v["gitVersion"], "v1.32.4");
    fleet.shutdown().await;
}

/// Values a hostile or careless client may send in a workload's numeric fields.
fn extreme(rng: &mut fastrand::Rng) -> Value {
    [
        json!(0),
        json!(1),
        json!(-1),
        json!(i32::MAX),
        json!(i32::MIN),
        json!(i64::MAX),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(1e300),
        json!("100%"),
        json!("0%"),
        json!("999999999999999%"),
        json!("-5%"),
        json!("abc"),
        Value::Null,
    ][rng.usize(0..15)]
    .clone()
}

/// The controllers survive whatever the API accepted: seeded workloads with extreme values
/// in every numeric field (9223372036854775807 as progressDeadlineSeconds killed the
/// controller task once), and afterwards an ordinary Deployment is still seen (its
/// generation observed, its ReplicaSet made), which only a living control plane does.
#[tokio::test]
async fn controllers_survive_any_accepted_value() {
    // NB: a small pod cap keeps the test quick; the huge replica counts still hit it.
    let behavior = muster_sim::Behavior {
        max_pods: 150,
        ..muster_sim::Behavior::default()
    };
    let fleet = Fleet::start(FleetOptions::default().clusters(1).behavior(behavior))
        .await
        .expect("fleet starts");
    let client = muster_testkit::kube_client(&fleet, "sim-000").await;
    let ns = http::Request::post("/api/v1/namespaces")
        .header("Content-Type", "application/json")
        .body(json!({"metadata": {"name": "shop"}}).to_string().into_bytes())
        .unwrap();
    client.request::<Value>(ns).await.unwrap();
    let mut rng = fastrand::Rng::with_seed(0xc0ffee);
    let (mut accepted, mut refused) = (0, 0);
    for i in 0..120 {
        let (path, kind) = [
            ("/apis/apps/v1/namespaces/shop/deployments", "Deployment"),
            ("/apis/apps/v1/namespaces/shop/statefulsets", "StatefulSet"),
            ("/apis/apps/v1/namespaces/shop/daemonsets", "DaemonSet"),
            ("/apis/apps/v1/namespaces/shop/replicasets", "ReplicaSet"),
        ][rng.usize(0..4)];
        let labels = json!({"app": format!("w{i}")});
        let mut spec = json!({
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {
                "terminationGracePeriodSeconds": extreme(&mut rng),
                "containers": [{"name": "c", "image": "nginx:1", "ports": [{"containerPort": extreme(&mut rng)}]}]}},
        });
        for field in [
            "replicas",
            "progressDeadlineSeconds",
            "minReadySeconds",
            "revisionHistoryLimit",
        ] {
            if rng.bool() {
                spec[field] = extreme(&mut rng);
            }
        }
        if rng.bool() {
            spec["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": extreme(&mut rng), "maxUnavailable": extreme(&mut rng)}});
            spec["updateStrategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"partition": extreme(&mut rng), "maxUnavailable": extreme(&mut rng)}});
        }
        let body = json!({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": format!("w{i}")}, "spec": spec});
        let req = http::Request::post(path)
            .header("Content-Type", "application/json")
            .body(body.to_string().into_bytes())
            .unwrap();
        match client.request::<Value>(req).await {
            Ok(_) => accepted += 1,
            Err(kube::Error::Api(s)) => {
                assert!(s.code < 500, "{kind} w{i}: {s:?}");
                refused += 1;
            }
            Err(e) => panic!("{kind} w{i}: {e}"),
        }
    }
    eprintln!("extreme workloads: {accepted} accepted, {refused} refused");
    let pods: Value = client
        .request(http::Request::get("/api/v1/pods").body(Vec::new()).unwrap())
        .await
        .unwrap();
    assert!(pods["items"].as_array().unwrap().len() <= 150, "the pod cap holds");
    assert!(
        accepted > 20 && refused > 20,
        "both paths exercised: {accepted}/{refused}"
    );

    // The control plane still works.
    let web = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "after"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "after"}},
            "template": {"metadata": {"labels": {"app": "after"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}}});
    let req = http::Request::post("/apis/apps/v1/namespaces/shop/deployments")
        .header("Content-Type", "application/json")
        .body(web.to_string().into_bytes())
        .unwrap();
    client.request::<Value>(req).await.unwrap();
    muster_testkit::eventually(
        "the controller to act on an ordinary Deployment",
        Duration::from_secs(30),
        || {
            let client = client.clone();
            async move {
                let req = http::Request::get("/apis/apps/v1/namespaces/shop/deployments/after")
                    .body(Vec::new())
                    .unwrap();
                let d: Value = client.request(req).await.ok()?;
                let req = http::Request::get("/apis/apps/v1/namespaces/shop/replicasets?labelSelector=app%3Dafter")
                    .body(Vec::new())
                    .unwrap();
                let rs: Value = client.request(req).await.ok()?;
                let made = rs["items"].as_array().is_some_and(|i| i.len() == 1);
                (d["status"]["observedGeneration"] == 1 && made).then_some(())
            }
        },
    )
    .await;
    fleet.shutdown().await;
}
