//! `muster rollout` against a hub run as separate `muster serve` processes: the CLI applies,
//! follows, approves, undoes and lists a rollout; a hub killed with SIGKILL at several
//! points of a rollout and started again applies no revision twice to a cluster and skips
//! none (the simulator's write counters prove it).

use std::path::Path;
use std::time::Duration;

use kube::api::Api;
use muster_hub::crd::{FleetRollout, RolloutPhase};
use muster_testkit::eventually;
use muster_testkit::hub::{SimHub, create_namespace};

use crate::hub::{Serve, muster};

/// A Deployment `api` in namespace `shop` running `image`.
fn app(image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: api}}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: api}}}}\n  template:\n    metadata: {{labels: {{app: api}}}}\n    spec: {{containers: [{{name: api, image: '{image}'}}]}}\n"
    )
}

async fn members_with_shop(members: usize) -> SimHub {
    let sim = SimHub::start(members).await;
    for m in &sim.members {
        create_namespace(&sim.member_client(m).await, "shop").await;
    }
    create_namespace(&sim.client, "team-b").await;
    sim
}

/// Applies of `api` per member that the API carried out.
fn applies(sim: &SimHub) -> Vec<u64> {
    sim.applies("/namespaces/shop/deployments/api")
}

fn rollout(sim: &SimHub, home: &Path, args: &[&str]) -> std::process::Output {
    let kc = sim.kubeconfig.to_str().unwrap().to_string();
    let all = [
        &["rollout"],
        args,
        &["--hub", "--hub-namespace", "team-b", "--kubeconfig", &kc],
    ]
    .concat();
    muster(&all, home)
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

async fn status(api: &Api<FleetRollout>) -> Option<muster_hub::crd::FleetRolloutStatus> {
    api.get("api").await.ok()?.status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_drives_a_rollout_through_approval_and_undo() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let sim = members_with_shop(4).await;
    let _hub = Serve::start(&sim, "hub-cli", home);
    std::fs::write(home.join("app.yaml"), app("nginx:1.0")).unwrap();
    std::fs::write(
        home.join("strategy.yaml"),
        "waves:\n- {name: canary, count: 1}\n- {name: rest, approval: true}\n",
    )
    .unwrap();
    let app_file = home.join("app.yaml");
    let strategy = home.join("strategy.yaml");
    let (app_file, strategy) = (app_file.to_str().unwrap(), strategy.to_str().unwrap());
    let out = rollout(
        &sim,
        home,
        &["apply", "-f", app_file, "--strategy", strategy, "-n", "shop"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let api: Api<FleetRollout> = Api::namespaced(sim.client.clone(), "team-b");
    eventually("waiting for approval", Duration::from_secs(60), || async {
        (status(&api).await?.phase == RolloutPhase::WaitingForApproval).then_some(())
    })
    .await;
    let shown = rollout(&sim, home, &["status", "api"]);
    let shown = text(&shown);
    assert!(
        shown.contains("WaitingForApproval") && shown.contains("canary") && shown.contains("rest"),
        "{shown}"
    );
    assert!(shown.contains("muster rollout approve api"), "{shown}");
    let out = rollout(&sim, home, &["approve", "api"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("wave 2 of revision 1 approved"), "{}", text(&out));
    // -w follows to the end; plain lines when stdout is not a terminal.
    let watched = rollout(&sim, home, &["status", "api", "-w", "--timeout", "60s"]);
    assert_eq!(watched.status.code(), Some(0), "{}", text(&watched));
    assert!(text(&watched).contains("Succeeded"), "{}", text(&watched));
    assert_eq!(applies(&sim), vec![1; 4]);
    // A second revision, undone by hand: every cluster gets revision 1 back.
    std::fs::write(home.join("app.yaml"), app("nginx:1.1")).unwrap();
    std::fs::write(home.join("strategy.yaml"), "waves:\n- {name: all}\n").unwrap();
    let out = rollout(
        &sim,
        home,
        &["apply", "-f", app_file, "--strategy", strategy, "-n", "shop"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    eventually("revision 2 done", Duration::from_secs(60), || async {
        let s = status(&api).await?;
        (s.revision == 2 && s.phase == RolloutPhase::Succeeded).then_some(())
    })
    .await;
    let out = rollout(&sim, home, &["undo", "api"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let watched = rollout(&sim, home, &["status", "api", "-w", "--timeout", "60s"]);
    assert_eq!(
        watched.status.code(),
        Some(1),
        "rolled back exits 1: {}",
        text(&watched)
    );
    assert!(text(&watched).contains("RolledBack"), "{}", text(&watched));
    for m in &sim.members {
        let c = sim.member_client(m).await;
        let d: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(c, "shop");
        let image = d.get("api").await.unwrap().spec.template.spec.unwrap().containers[0]
            .image
            .clone();
        assert_eq!(image.as_deref(), Some("nginx:1.0"), "{m}");
    }
    let page = text(&rollout(&sim, home, &["status", "api", "-o", "html"]));
    assert_eq!(page.matches("<a style=").count(), 4, "a cell per cluster: {page:.2000}");
    assert!(
        page.contains(": RolledBack") && page.contains("<h2>all (4 cluster(s))</h2>"),
        "{page:.3000}"
    );
    let history = text(&rollout(&sim, home, &["history", "api"]));
    assert!(
        history.contains("REVISION") && history.lines().count() == 3,
        "{history}"
    );
    assert!(
        history.contains("current (RolledBack)") && history.contains("stable"),
        "{history}"
    );
    // kubectl finds the same CLI as a plugin.
    if let Some(kubectl) = muster_testkit::Kubectl::new(&sim.kubeconfig) {
        let plugin_dir = Path::new(env!("CARGO_BIN_EXE_kubectl-muster")).parent().unwrap();
        let search = format!("{}:{}", plugin_dir.display(), std::env::var("PATH").unwrap_or_default());
        let out = kubectl
            .command(&[
                "muster",
                "rollout",
                "status",
                "api",
                "--hub",
                "--hub-namespace",
                "team-b",
            ])
            .env("PATH", search)
            .output()
            .expect("kubectl runs");
        assert!(
            text(&out).contains("revision 2") && text(&out).contains("RolledBack"),
            "{}",
            text(&out)
        );
        let listed = kubectl.ok(&["get", "fleetrollouts", "-n", "team-b"]);
        assert!(listed.contains("RolledBack") && listed.contains("REVISION"), "{listed}");
    }
    // Hostile or mistaken input is refused, naming the file and field; nothing changes.
    for (content, needle) in [
        ("waves:\n- {name: all, cuont: 1}\n", "cuont"),
        ("onFailure: Explode\n", "Explode"),
        (&"a: [".repeat(200_000), "strategy.yaml"),
    ] {
        std::fs::write(home.join("strategy.yaml"), content).unwrap();
        let out = rollout(
            &sim,
            home,
            &["apply", "-f", app_file, "--strategy", strategy, "-n", "shop"],
        );
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains(needle), "{needle}: {}", text(&out));
    }
    let missing = rollout(&sim, home, &["status", "no-such-rollout"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing).contains("no-such-rollout"), "{}", text(&missing));
    let bad = rollout(&sim, home, &["approve", "api"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad).contains("no wave waits for approval"), "{}", text(&bad));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_killed_at_several_points_applies_no_revision_twice_and_skips_none() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let sim = members_with_shop(10).await;
    // Slow members: applies are in flight when the hub dies.
    for m in &sim.members {
        sim.member(m).faults.send_modify(|f| f.latency_ms = 150);
    }
    let api: Api<FleetRollout> = Api::namespaced(sim.client.clone(), "team-b");
    std::fs::write(home.join("app.yaml"), app("nginx:1.0")).unwrap();
    std::fs::write(
        home.join("strategy.yaml"),
        "onFailure: Rollback\nwaves:\n- {name: canary, count: 1}\n- {name: ten, percent: 30, maxConcurrency: 1}\n- {name: rest, maxConcurrency: 2}\n",
    )
    .unwrap();
    let app_file = home.join("app.yaml");
    let strategy = home.join("strategy.yaml");
    let (app_file, strategy) = (app_file.to_str().unwrap(), strategy.to_str().unwrap());
    let out = rollout(
        &sim,
        home,
        &["apply", "-f", app_file, "--strategy", strategy, "-n", "shop"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mut hub = Serve::start(&sim, "hub-1", home);
    // Killed at several points: as the first wave starts, in the middle waves, near the end.
    for (i, at) in [0_u64, 3, 7].into_iter().enumerate() {
        eventually(&format!("{at} applied"), Duration::from_secs(60), || async {
            (applies(&sim).iter().sum::<u64>() >= at && status(&api).await.is_some_and(|s| s.revision == 1))
                .then_some(())
        })
        .await;
        hub.kill9();
        hub = Serve::start(&sim, &format!("hub-{}", i + 2), home);
    }
    let done = eventually("the rollout to finish", Duration::from_secs(120), || async {
        let s = status(&api).await?;
        (s.phase == RolloutPhase::Succeeded).then_some(s)
    })
    .await;
    assert_eq!(done.updated, 10, "{}", hub.log());
    assert_eq!(
        applies(&sim),
        vec![1; 10],
        "each cluster got revision 1 exactly once\n{}",
        hub.log()
    );
    // And a failing revision rolled back across a kill: restored once, never twice.
    std::fs::write(home.join("app.yaml"), app("nginx:broken")).unwrap();
    std::fs::write(
        home.join("strategy.yaml"),
        "onFailure: Rollback\nwaves:\n- {name: first, count: 4, maxConcurrency: 4}\n- {name: rest}\n",
    )
    .unwrap();
    let out = rollout(
        &sim,
        home,
        &["apply", "-f", app_file, "--strategy", strategy, "-n", "shop"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    eventually("rolling back", Duration::from_secs(60), || async {
        let s = status(&api).await?;
        (s.revision == 2 && s.phase == RolloutPhase::RollingBack).then_some(())
    })
    .await;
    hub.kill9();
    let hub = Serve::start(&sim, "hub-9", home);
    eventually("rolled back", Duration::from_secs(120), || async {
        let s = status(&api).await?;
        (s.revision == 2 && s.phase == RolloutPhase::RolledBack).then_some(())
    })
    .await;
    let counts = applies(&sim);
    assert_eq!(
        &counts[..4],
        &[3, 3, 3, 3],
        "revision 2 once, revision 1 back once\n{}",
        hub.log()
    );
    assert_eq!(&counts[4..], &[1; 6], "the later wave never saw revision 2");
}
