//! Each injected fault, observed by a kube client over HTTPS: error codes (429 with its
//! Retry-After header), latency, hanging, refused and reset connections, slow and dropped
//! watches; the write counters; the admin endpoint; and a scenario applied at start.

use std::time::{Duration, Instant};

use futures::{StreamExt as _, TryStreamExt as _};
use http_body_util::BodyExt as _;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, PostParams, WatchEvent, WatchParams};
use muster_sim::{Faults, Fleet, FleetOptions, Scenario};
use serde_json::{Value, json};

async fn start() -> (Fleet, Client) {
    let fleet = Fleet::start(FleetOptions::default().clusters(1))
        .await
        .expect("fleet starts");
    let client = muster_testkit::kube_client_no_retry(&fleet, "sim-000").await;
    (fleet, client)
}

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}})).unwrap()
}

/// GET /version with the raw response, as a client would see it.
async fn raw_get(client: &Client, path: &str) -> (u16, http::HeaderMap, Value) {
    let resp = client
        .send(http::Request::get(path).body(kube::client::Body::empty()).unwrap())
        .await
        .expect("a response");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn error_codes_are_status_objects() {
    let (fleet, client) = start().await;
    let c = fleet.cluster("sim-000").unwrap();
    c.set_faults(Faults {
        error_rate: 1.0,
        error_code: Some(429),
        retry_after_seconds: Some(7),
        ..Default::default()
    })
    .unwrap();
    let (code, headers, body) = raw_get(&client, "/api/v1/namespaces").await;
    assert_eq!(code, 429);
    assert_eq!(headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("7"));
    assert_eq!(
        (body["kind"].as_str(), body["reason"].as_str()),
        (Some("Status"), Some("TooManyRequests"))
    );
    assert_eq!(body["details"]["retryAfterSeconds"], 7);
    for (code, reason) in [(500, "InternalError"), (503, "ServiceUnavailable"), (504, "Timeout")] {
        c.set_faults(Faults {
            error_rate: 1.0,
            error_code: Some(code),
            ..Default::default()
        })
        .unwrap();
        let (got, _, body) = raw_get(&client, "/api/v1/namespaces").await;
        assert_eq!((got, body["reason"].as_str()), (code, Some(reason)));
        assert_eq!(body["code"], code);
    }
    // A partial error rate fails some requests and not others.
    c.set_faults(Faults {
        error_rate: 0.5,
        ..Default::default()
    })
    .unwrap();
    let mut codes = Vec::new();
    for _ in 0..40 {
        codes.push(raw_get(&client, "/version").await.0);
    }
    let failed = codes.iter().filter(|c| **c == 503).count();
    assert!((5..=35).contains(&failed), "{codes:?}");
    assert!(
        c.set_faults(Faults {
            error_rate: 2.0,
            ..Default::default()
        })
        .unwrap_err()
        .contains("errorRate")
    );
    fleet.shutdown().await;
}

#[tokio::test]
async fn latency_and_hang() {
    let (fleet, client) = start().await;
    let c = fleet.cluster("sim-000").unwrap();
    let t = Instant::now();
    raw_get(&client, "/version").await;
    let base = t.elapsed();
    c.set_faults(Faults {
        latency_ms: 300,
        jitter_ms: 50,
        ..Default::default()
    })
    .unwrap();
    let t = Instant::now();
    raw_get(&client, "/version").await;
    let slow = t.elapsed();
    assert!(
        slow >= Duration::from_millis(300) && slow < Duration::from_millis(300) + base + Duration::from_secs(2),
        "{slow:?}"
    );

    c.set_faults(Faults {
        hang: true,
        ..Default::default()
    })
    .unwrap();
    let hung = tokio::time::timeout(Duration::from_secs(1), raw_get(&client, "/version")).await;
    assert!(hung.is_err(), "a hanging cluster answered");
    c.set_faults(Faults::default()).unwrap();
    assert_eq!(raw_get(&client, "/version").await.0, 200);
    fleet.shutdown().await;
}

#[tokio::test]
async fn refused_and_reset_connections() {
    let (fleet, client) = start().await;
    let c = fleet.cluster("sim-000").unwrap();
    c.set_faults(Faults {
        refuse: true,
        ..Default::default()
    })
    .unwrap();
    c.settled(Duration::from_secs(5)).await.unwrap();
    let err = client
        .send(
            http::Request::get("/version")
                .body(kube::client::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap_err();
    let chain = format!("{err:?}");
    assert!(
        chain.contains("Connection refused") || chain.contains("ConnectionRefused"),
        "{chain}"
    );
    c.set_faults(Faults::default()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(r) = client
            .send(
                http::Request::get("/version")
                    .body(kube::client::Body::empty())
                    .unwrap(),
            )
            .await
        {
            assert_eq!(r.status(), 200);
            break;
        }
        assert!(Instant::now() < deadline, "the cluster never listened again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    c.set_faults(Faults {
        reset_rate: 1.0,
        ..Default::default()
    })
    .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let err = cms.list(&Default::default()).await.unwrap_err();
    let text = format!("{err:?}");
    assert!(
        !matches!(err, kube::Error::Api(_)),
        "a reset is a transport error, not an API answer: {text}"
    );
    fleet.shutdown().await;
}

#[tokio::test]
async fn slow_and_dropped_watches() {
    let (fleet, client) = start().await;
    let c = fleet.cluster("sim-000").unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    c.set_faults(Faults {
        watch_delay_ms: 400,
        ..Default::default()
    })
    .unwrap();
    // NB: only the object this test makes (the namespace also holds kube-root-ca.crt).
    let mut w = cms
        .watch(&WatchParams::default().timeout(10).fields("metadata.name=slow"), "0")
        .await
        .unwrap()
        .boxed();
    let t = Instant::now();
    cms.create(&PostParams::default(), &cm("slow")).await.unwrap();
    match w.try_next().await.unwrap() {
        Some(WatchEvent::Added(o)) => assert_eq!(o.metadata.name.as_deref(), Some("slow")),
        other => panic!("{other:?}"),
    }
    assert!(t.elapsed() >= Duration::from_millis(400), "{:?}", t.elapsed());

    c.set_faults(Faults {
        watch_drop_after_ms: Some(300),
        ..Default::default()
    })
    .unwrap();
    let mut w = cms
        .watch(&WatchParams::default().timeout(30), "0")
        .await
        .unwrap()
        .boxed();
    let ended = tokio::time::timeout(Duration::from_secs(3), async {
        while let Some(ev) = w.next().await {
            let _ = ev;
        }
    })
    .await;
    assert!(ended.is_ok(), "a dropped watch kept streaming");
    fleet.shutdown().await;
}

#[tokio::test]
async fn counters_admin_endpoint_and_scenarios() {
    let scenario = Scenario::parse(
        "inline",
        "faults:\n  default: {latencyMs: 1}\n  clusters:\n    sim-001: {errorRate: 1.0, errorCode: 503}\n",
    )
    .unwrap();
    let fleet = Fleet::start(FleetOptions::default().clusters(2).scenario(scenario))
        .await
        .unwrap();
    let ok = muster_testkit::kube_client_no_retry(&fleet, "sim-000").await;
    let failing = muster_testkit::kube_client_no_retry(&fleet, "sim-001").await;
    assert_eq!(fleet.cluster("sim-000").unwrap().faults().latency_ms, 1);
    let cms: Api<ConfigMap> = Api::namespaced(ok.clone(), "default");
    cms.create(&PostParams::default(), &cm("once")).await.unwrap();
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    cms.create(&dry, &cm("dry")).await.unwrap();
    let counters = fleet.cluster("sim-000").unwrap().counters();
    assert_eq!((counters.writes_received, counters.writes_applied), (2, 1));
    assert_eq!(
        counters
            .applied_by_target
            .get("POST /api/v1/namespaces/default/configmaps"),
        Some(&1)
    );

    let bad: Api<ConfigMap> = Api::namespaced(failing.clone(), "default");
    assert!(bad.create(&PostParams::default(), &cm("never")).await.is_err());
    let counters = fleet.cluster("sim-001").unwrap().counters();
    assert_eq!((counters.writes_received, counters.writes_applied), (1, 0));

    // The admin endpoint takes its own token; the Kubernetes token is refused there.
    assert_eq!(raw_get(&ok, "/_sim/faults").await.0, 401);
    let admin_token = fleet.cluster("sim-000").unwrap().sim_admin_token().expose().to_string();
    let user_token = fleet.cluster("sim-000").unwrap().admin_token().expose().to_string();
    let admin_yaml = fleet.kubeconfig().replacen(&user_token, &admin_token, 1);
    let admin = muster_testkit::kube_client_from(&admin_yaml, "sim-000", false).await;
    let patched: Value = admin
        .request(
            http::Request::patch("/_sim/faults")
                .header("Content-Type", "application/json")
                .body(br#"{"errorRate": 1.0, "errorCode": 504}"#.to_vec())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        (patched["errorRate"].as_f64(), patched["latencyMs"].as_u64()),
        (Some(1.0), Some(1))
    );
    assert_eq!(raw_get(&ok, "/version").await.0, 504);
    let counters: Value = admin
        .request(http::Request::get("/_sim/counters").body(Vec::new()).unwrap())
        .await
        .unwrap();
    assert!(counters["requests"].as_u64().unwrap() >= 3, "{counters}");
    let err = admin
        .request::<Value>(
            http::Request::put("/_sim/faults")
                .body(br#"{"errorCode": 418}"#.to_vec())
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("errorCode"), "{err}");
    fleet.shutdown().await;
}
