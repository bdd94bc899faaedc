//! The MQTT bridge against a real broker (mosquitto on a free loopback port) and simulated
//! members: a command down gives a result per cluster and a summary up; the same command
//! delivered three times runs once; every kind of bad message is answered `Rejected`
//! naming the field, with 0 requests to any cluster; a broker restarted while results go up
//! loses none; a follow session ends by message and by time limit, leaving no stream open;
//! a password and TLS.

use std::time::Duration;

use kube::api::{Api, ListParams, Patch, PatchParams};
use muster_hub::crd::FleetCommand;
use muster_hub::mqtt::MqttConfig;
use muster_testkit::eventually;
use muster_testkit::hub::{RunningHub, SimHub, create_namespace};
use muster_testkit::mqtt::{Broker, BrokerOptions, Subscriber, bridge_command, publish};
use serde_json::{Value, json};

const DOWN: &str = "muster/hub-t/commands/down";
const UP: &str = "wdd/RDMC/message/up";

/// A hub with the bridge to `broker`, its FleetCommands in team-a.
async fn hub_with_bridge(sim: &SimHub, broker: &Broker, tune: impl FnOnce(&mut MqttConfig)) -> RunningHub {
    create_namespace(&sim.client, "team-a").await;
    let mut config = SimHub::config("hub-t");
    config.probe_interval = Duration::from_secs(3600);
    let mut m = MqttConfig::new(&broker.url(false), "hub-t", "team-a").unwrap();
    tune(&mut m);
    config.mqtt = Some(m);
    let hub = sim.serve(config).await;
    sim.all_healthy().await;
    broker.wait_subscribed(DOWN).await;
    hub
}

fn of<'a>(msgs: &'a [Value], command_id: &str, kind: &str) -> Vec<&'a Value> {
    msgs.iter()
        .filter(|m| m["command_id"] == command_id && m["type"] == kind)
        .collect()
}

fn requests(sim: &SimHub) -> u64 {
    sim.members
        .iter()
        .map(|m| sim.member(m).counters.snapshot().requests)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_down_results_up_once_each_and_bad_messages_rejected() {
    let _machine = crate::shared().await;
    crate::logs();
    let Some(broker) = Broker::start(&BrokerOptions::default()) else {
        return;
    };
    let sim = SimHub::start(3).await;
    let hub = hub_with_bridge(&sim, &broker, |_| {}).await;
    let up = Subscriber::start(broker.port, UP, "test-up-1").await;

    // The same write, delivered three times: one FleetCommand, applied once per cluster.
    let cmd = json!({"command_id": "order-42", "action": "apply", "namespace": "default",
        "yaml_content": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-mqtt}\ndata: {a: '1'}\n"});
    for _ in 0..3 {
        publish(broker.port, DOWN, cmd.to_string().as_bytes()).await;
    }
    let msgs = eventually("a result per cluster and a summary", Duration::from_secs(60), || {
        let all = up.all();
        async move {
            (of(&all, "order-42", "summary").len() == 1 && of(&all, "order-42", "result").len() == 3).then_some(all)
        }
    })
    .await;
    let summary = of(&msgs, "order-42", "summary")[0];
    assert_eq!(summary["status"], "Succeeded", "{summary}");
    assert_eq!(summary["counts"]["Succeeded"], 3);
    let mut clusters: Vec<&str> = of(&msgs, "order-42", "result")
        .iter()
        .map(|r| r["cluster"].as_str().unwrap())
        .collect();
    clusters.sort_unstable();
    assert_eq!(clusters, ["sim-001", "sim-002", "sim-003"]);
    for r in of(&msgs, "order-42", "result") {
        assert_eq!(r["status"], "Succeeded");
        assert!(
            r["output"]
                .as_str()
                .unwrap()
                .contains("configmap/from-mqtt serverside-applied"),
            "{r}"
        );
        assert!(r["duration"].is_u64());
    }
    assert_eq!(sim.applies("/namespaces/default/configmaps/from-mqtt"), vec![1, 1, 1]);
    let api: Api<FleetCommand> = Api::namespaced(sim.client.clone(), "team-a");
    let made = api
        .list(&ListParams::default().labels("muster.dev/source=mqtt"))
        .await
        .unwrap();
    assert_eq!(made.items.len(), 1, "one FleetCommand for three deliveries");
    // Delivered: marked, and nothing more goes up for it.
    eventually("marked delivered", Duration::from_secs(20), || {
        let api = api.clone();
        async move {
            let fc = api
                .list(&ListParams::default().labels("muster.dev/source=mqtt"))
                .await
                .ok()?;
            fc.items[0]
                .metadata
                .annotations
                .as_ref()?
                .contains_key("muster.dev/mqtt-delivered")
                .then_some(())
        }
    })
    .await;

    // Every kind of bad message: answered Rejected naming the field, nothing sent anywhere.
    kube::Api::<muster_hub::crd::FleetPolicy>::namespaced(sim.client.clone(), "team-a")
        .patch(
            "team-a",
            &PatchParams::apply("test"),
            &Patch::Apply(json!({"apiVersion": "muster.dev/v1alpha1", "kind": "FleetPolicy",
                "metadata": {"name": "team-a", "namespace": "team-a"},
                "spec": {"namespaces": [{"clusters": "*", "allow": ["default"]}]}})),
        )
        .await
        .unwrap();
    let before = requests(&sim);
    let big = format!(
        r#"{{"command_id": "big", "action": "get", "resource": "pods", "name": "{}"}}"#,
        "x".repeat(1 << 20)
    );
    let bad: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not-json", b"this is not json".to_vec(), "message: not JSON"),
        (
            "unknown-action",
            br#"{"command_id": "b-1", "action": "reboot"}"#.to_vec(),
            "action:",
        ),
        (
            "no-id",
            br#"{"action": "get", "resource": "pods"}"#.to_vec(),
            "command_id: is required",
        ),
        ("oversized", big.into_bytes(), "byte limit"),
        (
            "unknown-field",
            br#"{"command_id": "b-2", "action": "get", "resorce": "pods"}"#.to_vec(),
            "resorce",
        ),
        (
            "no-replicas",
            br#"{"command_id": "b-3", "action": "scale", "resource": "deploy", "name": "web"}"#.to_vec(),
            "scale_count",
        ),
        (
            "bad-yaml",
            br#"{"command_id": "b-4", "action": "apply", "yaml_content": "kind: ["}"#.to_vec(),
            "yaml_content",
        ),
    ];
    for (_, payload, _) in &bad {
        publish(broker.port, DOWN, payload).await;
    }
    // A policy violation: a valid message the namespace's FleetPolicy refuses.
    publish(
        broker.port,
        DOWN,
        json!({"command_id": "b-5", "action": "delete", "namespace": "kube-system", "resource": "deploy", "name": "coredns"})
            .to_string()
            .as_bytes(),
    )
    .await;
    let want = bad.len();
    let msgs = eventually("every bad message answered", Duration::from_secs(60), || {
        let all = up.all();
        async move {
            let rejected = all.iter().filter(|m| m["type"] == "rejected").count();
            (rejected >= want && !of(&all, "b-5", "summary").is_empty()).then_some(all)
        }
    })
    .await;
    let rejected: Vec<&Value> = msgs.iter().filter(|m| m["type"] == "rejected").collect();
    for (what, _, needle) in &bad {
        assert!(
            rejected
                .iter()
                .any(|m| m["error"].as_str().unwrap_or_default().contains(needle)),
            "{what}: no rejection containing {needle:?} in {rejected:#?}"
        );
    }
    assert!(rejected.iter().any(|m| m["command_id"] == "b-1"), "answered by its id");
    let s = of(&msgs, "b-5", "summary")[0];
    assert_eq!(s["status"], "Rejected", "{s}");
    assert!(
        of(&msgs, "b-5", "result")
            .iter()
            .all(|r| r["status"] == "Rejected" && r["error"].as_str().unwrap().contains("kube-system"))
    );
    assert_eq!(requests(&sim), before, "no request reached any cluster");
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restarted_while_results_go_up_loses_none() {
    let _machine = crate::shared().await;
    crate::logs();
    let Some(mut broker) = Broker::start(&BrokerOptions::default()) else {
        return;
    };
    let sim = SimHub::start(12).await;
    let hub = hub_with_bridge(&sim, &broker, |_| {}).await;
    let up = Subscriber::start(broker.port, UP, "test-up-2").await;
    // Slow members: the command is still running when the broker goes away.
    for m in &sim.members {
        sim.member(m).faults.send_modify(|f| f.latency_ms = 300);
    }
    publish(
        broker.port,
        DOWN,
        json!({"command_id": "slow-get", "action": "get", "namespace": "default", "resource": "cm", "name": "kube-root-ca.crt"})
            .to_string()
            .as_bytes(),
    )
    .await;
    bridge_command(&sim.client, "team-a", false, Duration::from_secs(30)).await;
    broker.stop_gracefully();
    bridge_command(&sim.client, "team-a", true, Duration::from_secs(60)).await;
    // Bring the broker back, and restart it once more as soon as the first result is through.
    broker.resume();
    eventually("the first result", Duration::from_secs(30), || {
        let n = of(&up.all(), "slow-get", "result").len();
        async move { (n > 0).then_some(()) }
    })
    .await;
    broker.stop_gracefully();
    broker.resume();
    let msgs = eventually("every result and the summary", Duration::from_secs(60), || {
        let all = up.all();
        async move {
            let mut seen: Vec<String> = of(&all, "slow-get", "result")
                .iter()
                .map(|r| r["cluster"].as_str().unwrap_or_default().to_string())
                .collect();
            seen.sort();
            seen.dedup();
            (seen.len() == 12 && !of(&all, "slow-get", "summary").is_empty()).then_some(all)
        }
    })
    .await;
    assert!(
        of(&msgs, "slow-get", "result")
            .iter()
            .all(|r| r["status"] == "Succeeded")
    );
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_sessions_end_by_message_and_by_time_limit_leaving_no_stream_open() {
    let _machine = crate::shared().await;
    crate::logs();
    let Some(broker) = Broker::start(&BrokerOptions::default()) else {
        return;
    };
    let sim = SimHub::start(2).await;
    for m in &sim.members {
        let c = sim.member_client(m).await;
        create_namespace(&c, "shop").await;
        let d: Value = serde_saphyr::from_str(muster_testkit::APP_YAML.split("\n---\n").next().unwrap()).unwrap();
        let deploys = Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(c, "shop");
        deploys
            .patch("web", &PatchParams::apply("test"), &Patch::Apply(d))
            .await
            .unwrap();
        eventually("web ready", Duration::from_secs(30), || {
            let deploys = deploys.clone();
            async move {
                let d = deploys.get("web").await.ok()?;
                (d.status?.ready_replicas == Some(3)).then_some(())
            }
        })
        .await;
    }
    let hub = hub_with_bridge(&sim, &broker, |m| m.follow_lines_per_second = 1000).await;
    let up = Subscriber::start(broker.port, UP, "test-up-3").await;
    let streams = |sim: &SimHub| -> usize { sim.members.iter().map(|m| sim.member(m).log_streams.active()).sum() };
    let follow = |id: &str, extra: Value| {
        let mut v = json!({"command_id": id, "action": "logs", "namespace": "shop", "resource": "deploy", "name": "web",
            "follow": true, "tail_lines": 2});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v.to_string()
    };
    // Cancelled by a message.
    publish(broker.port, DOWN, follow("tail-1", json!({})).as_bytes()).await;
    eventually("lines up from every cluster", Duration::from_secs(60), || {
        let all = up.all();
        async move {
            let mut clusters: Vec<String> = of(&all, "tail-1", "log")
                .iter()
                .map(|l| l["cluster"].as_str().unwrap_or_default().to_string())
                .collect();
            clusters.sort();
            clusters.dedup();
            (clusters.len() == 2).then_some(())
        }
    })
    .await;
    assert_eq!(
        streams(&sim),
        6,
        "one stream per pod (three per cluster) while following"
    );
    publish(broker.port, DOWN, br#"{"command_id": "tail-1", "action": "cancel"}"#).await;
    let all = eventually("the cancelled session's summary", Duration::from_secs(30), || {
        let all = up.all();
        async move { (!of(&all, "tail-1", "summary").is_empty()).then_some(all) }
    })
    .await;
    assert_eq!(of(&all, "tail-1", "summary")[0]["status"], "Cancelled");
    eventually("every stream closed", Duration::from_secs(10), || {
        let n = streams(&sim);
        async move { (n == 0).then_some(()) }
    })
    .await;
    // Ended by its time limit.
    publish(
        broker.port,
        DOWN,
        follow("tail-2", json!({"follow_seconds": 1})).as_bytes(),
    )
    .await;
    let all = eventually("the timed session's summary", Duration::from_secs(30), || {
        let all = up.all();
        async move { (!of(&all, "tail-2", "summary").is_empty()).then_some(all) }
    })
    .await;
    assert_eq!(of(&all, "tail-2", "summary")[0]["status"], "TimeLimit");
    assert!(!of(&all, "tail-2", "log").is_empty());
    eventually("every stream closed again", Duration::from_secs(10), || {
        let n = streams(&sim);
        async move { (n == 0).then_some(()) }
    })
    .await;
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_5_carries_commands_and_results_the_same() {
    let _machine = crate::shared().await;
    crate::logs();
    let Some(broker) = Broker::start(&BrokerOptions::default()) else {
        return;
    };
    let sim = SimHub::start(2).await;
    let hub = hub_with_bridge(&sim, &broker, |m| m.protocol = muster_hub::mqtt::Protocol::V5).await;
    let up = Subscriber::start(broker.port, UP, "test-up-5").await;
    let cmd = json!({"command_id": "v5-get", "action": "get", "namespace": "default", "resource": "cm", "name": "kube-root-ca.crt"});
    for _ in 0..2 {
        publish(broker.port, DOWN, cmd.to_string().as_bytes()).await;
    }
    publish(broker.port, DOWN, b"{").await;
    let msgs = eventually("results, a summary and a rejection", Duration::from_secs(60), || {
        let all = up.all();
        async move {
            (of(&all, "v5-get", "summary").len() == 1
                && of(&all, "v5-get", "result").len() == 2
                && all.iter().any(|m| m["type"] == "rejected"))
            .then_some(all)
        }
    })
    .await;
    assert_eq!(of(&msgs, "v5-get", "summary")[0]["status"], "Succeeded");
    let api: Api<FleetCommand> = Api::namespaced(sim.client.clone(), "team-a");
    let made = api
        .list(&ListParams::default().labels("muster.dev/source=mqtt"))
        .await
        .unwrap();
    assert_eq!(made.items.len(), 1);
    assert!(
        broker.log().contains("muster-hub-t-down") && broker.log().contains("p5"),
        "an MQTT 5 client connected"
    );
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_and_tls_protect_the_broker() {
    let _machine = crate::shared().await;
    crate::logs();
    let Some(broker) = Broker::start(&BrokerOptions {
        user: Some(("muster".into(), "s3cret-pw".into())),
        tls: true,
    }) else {
        return;
    };
    let sim = SimHub::start(1).await;
    // The credentials and the CA from a Secret of the hub.
    let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(json!({
        "metadata": {"name": "broker", "namespace": "muster-system"},
        "stringData": {"username": "muster", "password": "s3cret-pw\n", "ca.crt": std::fs::read_to_string(broker.ca()).unwrap()}}))
    .unwrap();
    Api::<k8s_openapi::api::core::v1::Secret>::namespaced(sim.client.clone(), "muster-system")
        .create(&kube::api::PostParams::default(), &secret)
        .await
        .unwrap();
    let mut m = MqttConfig::new(&broker.url(true), "hub-t", "team-a").unwrap();
    m.with_secret(&sim.client, "muster-system", "broker").await.unwrap();
    assert!(!format!("{m:?}").contains("s3cret-pw") && !format!("{m:?}").contains("BEGIN CERTIFICATE"));
    let hub = hub_with_bridge(&sim, &broker, |c| *c = m.clone()).await;
    eventually("the bridge connected", Duration::from_secs(20), || {
        let log = broker.log();
        async move { log.contains("muster-hub-t-down").then_some(()) }
    })
    .await;
    let m = hub.ctx.metrics.encode();
    assert!(!m.contains("s3cret-pw"));
    assert!(
        !format!("{:?}", hub.ctx.config).contains("s3cret-pw"),
        "the config never prints it"
    );
    hub.shutdown().await;
}
