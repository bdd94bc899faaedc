//! The MQTT bridge of a `muster serve` process killed with SIGKILL while its results are
//! not yet acknowledged by the broker (the broker was down): the next hub publishes them,
//! and the simulator's write counters show the command was not executed again.

use std::time::Duration;

use muster_testkit::eventually;
use muster_testkit::hub::{SimHub, create_namespace};
use muster_testkit::mqtt::{Broker, BrokerOptions, Subscriber, bridge_command, publish};
use serde_json::json;

use crate::hub::Serve;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_hub_publishes_unacknowledged_results_after_restart_without_running_again() {
    let Some(mut broker) = Broker::start(&BrokerOptions::default()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sim = SimHub::start(4).await;
    create_namespace(&sim.client, "team-a").await;
    let url = broker.url(false);
    let args = [
        "--mqtt-url",
        url.as_str(),
        "--mqtt-namespace",
        "team-a",
        "--mqtt-hub-name",
        "hub-k",
    ];
    let up = Subscriber::start(broker.port, "wdd/RDMC/message/up", "kill-sub").await;
    let mut first = Serve::start_with(&sim, "hub-1", dir.path(), &args);
    broker.wait_subscribed("muster/hub-k/commands/down").await;
    for m in &sim.members {
        sim.member(m).faults.send_modify(|f| f.latency_ms = 200);
    }
    publish(
        broker.port,
        "muster/hub-k/commands/down",
        json!({"command_id": "once-only", "action": "apply", "namespace": "default",
            "yaml_content": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: once}\ndata: {a: '1'}\n"})
        .to_string()
        .as_bytes(),
    )
    .await;
    bridge_command(&sim.client, "team-a", false, Duration::from_secs(30)).await;
    broker.stop_gracefully();
    bridge_command(&sim.client, "team-a", true, Duration::from_secs(60)).await;
    first.kill9();
    broker.resume();
    let second = Serve::start_with(&sim, "hub-2", dir.path(), &args);
    let msgs = eventually("every result and the summary", Duration::from_secs(60), || {
        let all = up.all();
        async move {
            let results = all
                .iter()
                .filter(|m| m["command_id"] == "once-only" && m["type"] == "result")
                .count();
            let summary = all
                .iter()
                .any(|m| m["command_id"] == "once-only" && m["type"] == "summary");
            (results >= 4 && summary).then_some(all)
        }
    })
    .await;
    assert!(
        msgs.iter()
            .filter(|m| m["type"] == "result")
            .all(|m| m["status"] == "Succeeded"),
        "{msgs:#?}"
    );
    let applies = sim.applies("/namespaces/default/configmaps/once");
    assert_eq!(
        applies,
        vec![1; 4],
        "executed once, published after the restart\n{}",
        second.log()
    );
}
