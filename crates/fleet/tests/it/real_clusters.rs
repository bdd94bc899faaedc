//! What real clusters do that the simulator now does too, and what muster makes of it:
//! identical objects on clusters that allocate and default differently compare identical,
//! and one file holding a CRD and its objects applies in one go.

use std::sync::Arc;

use futures::StreamExt as _;
use muster_core::command::{Action, Command};
use muster_core::policy::Policy;
use muster_core::report::compare::{Options, build};
use muster_core::result::{ExecResult, Status};
use muster_fleet::fanout::Fanout;
use muster_fleet::registry::FleetConfig;
use muster_fleet::settings::Settings;
use muster_sim::{Fleet, FleetOptions};
use muster_testkit::{APP_YAML, CRD_YAML, WIDGET_YAML};
use tokio_util::sync::CancellationToken;

use crate::support::registry_of;

async fn run(fanout: &Fanout, c: Command) -> Vec<ExecResult> {
    fanout
        .run(Arc::new(c), fanout.registry.members(), CancellationToken::new(), None)
        .collect()
        .await
}

fn apply(yaml: &str) -> Command {
    let mut c = muster_testkit::command(Action::Apply);
    c.manifests = muster_core::manifest::parse("t.yaml", yaml).unwrap();
    c
}

fn get(target: &str) -> Command {
    let mut c = muster_testkit::command(Action::Get);
    c.target = Some(target.parse().unwrap());
    c.namespace = Some("shop".parse().unwrap());
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_filled_fields_are_not_drift() {
    let fleet = Fleet::start(FleetOptions::default().clusters(3)).await.unwrap();
    let (registry, _dir) = registry_of(&fleet, &FleetConfig::default());
    let policy = Policy::parse("p", "clusterScopedKinds: [Namespace]\n").unwrap();
    let fanout = Fanout::new(registry, policy, Settings::default());
    let nodeport = "---\napiVersion: v1\nkind: Service\nmetadata: {name: np, namespace: shop}\nspec: {type: NodePort, selector: {app: web}, ports: [{port: 80}]}\n";
    let all = format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: shop}}\n---\n{APP_YAML}{nodeport}");
    assert!(
        run(&fanout, apply(&all))
            .await
            .iter()
            .all(|r| r.status == Status::Succeeded)
    );
    muster_testkit::eventually(
        "kube-root-ca.crt in shop everywhere",
        std::time::Duration::from_secs(10),
        || {
            let fanout = fanout.clone();
            async move {
                let r = run(&fanout, get("cm/kube-root-ca.crt")).await;
                r.iter().all(|r| r.status == Status::Succeeded).then_some(())
            }
        },
    )
    .await;
    for target in [
        "svc/web",
        "svc/np",
        "cm/kube-root-ca.crt",
        "sa/default",
        "svc",
        "cm",
        "sa",
    ] {
        let results = run(&fanout, get(target)).await;
        let report = build(&results, &Options::default()).unwrap();
        assert!(report.agrees(), "{target}: {}", report.to_json().unwrap());
        // Compared with the server's fields, the clusters do differ: the test can fail.
        let mut with = Options::default();
        with.normalize.include_server_fields = true;
        let strict = build(&results, &with).unwrap();
        if matches!(target, "svc/web" | "svc/np" | "cm/kube-root-ca.crt") {
            assert!(!strict.agrees(), "{target}: the simulator allocated alike");
        }
    }
    // Comparing only what people set agrees too (and ignores what controllers wrote).
    let mut owned = Options::default();
    owned.normalize.owned_only = true;
    owned.normalize.include_status = true;
    let report = build(&run(&fanout, get("deploy/web")).await, &owned).unwrap();
    assert!(report.agrees(), "{}", report.to_json().unwrap());
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crd_and_its_objects_apply_in_one_go() {
    let fleet = Fleet::start(FleetOptions::default().clusters(2)).await.unwrap();
    let (registry, _dir) = registry_of(&fleet, &FleetConfig::default());
    let policy = Policy::parse("p", "clusterScopedKinds: [Namespace, CustomResourceDefinition]\n").unwrap();
    let fanout = Fanout::new(registry, policy, Settings::default());
    // The objects first in the file: muster orders Namespaces, then CRDs, then the rest.
    let file = format!("{WIDGET_YAML}---\n{CRD_YAML}---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: shop}}\n");
    let results = run(&fanout, apply(&file)).await;
    for r in &results {
        assert_eq!(r.status, Status::Succeeded, "{:?}", r.error);
        let muster_core::result::Output::Summary { text } = &r.output else {
            panic!()
        };
        let order: Vec<&str> = text.lines().collect();
        assert_eq!(
            order,
            [
                "namespace/shop serverside-applied",
                "customresourcedefinition.apiextensions.k8s.io/widgets.example.com serverside-applied",
                "widget.example.com/w1 serverside-applied"
            ]
        );
    }
    fleet.shutdown().await;
}
