//! The fleet views over simulated clusters. `muster diagnose`: the same cause on several
//! clusters is one line (image pull, crash loop with its exit code, OOMKilled, an init
//! container's 127, unschedulable, a missing ConfigMap, a failing readiness probe), healthy
//! clusters are counted, every format renders, exit 1. `muster topology` marks the clusters
//! whose Service has no ready endpoint or fewer nodes and zones; `muster tree` groups the
//! ownership trees by shape.

use std::process::{Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use muster_testkit::hub::create_namespace;
use muster_testkit::{TestFleet, eventually, kube_client_from};
use serde_json::{Value, json};

/// `muster ARGS --kubeconfig FLEET` with a clean environment.
fn muster_on(fleet: &TestFleet, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(args)
        .arg("--kubeconfig")
        .arg(&fleet.kubeconfig)
        .env("HOME", fleet.dir.path())
        .env("RUST_LOG", "warn")
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Namespace `shop` and the Deployment `d` on cluster `ctx` of the kubeconfig `text`.
async fn put_web(text: &str, ctx: &str, d: Value) {
    let c = kube_client_from(text, ctx, true).await;
    create_namespace(&c, "shop").await;
    Api::<Deployment>::namespaced(c, "shop")
        .patch("web", &PatchParams::apply("test"), &Patch::Apply(d))
        .await
        .unwrap();
}

fn deployment(image: &str, init: Option<&str>) -> Value {
    let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": image}]}}}});
    if let Some(i) = init {
        d["spec"]["template"]["spec"]["initContainers"] = json!([{"name": "migrate", "image": i}]);
    }
    let c = &mut d["spec"]["template"]["spec"]["containers"][0];
    match image {
        "web:big" => c["resources"] = json!({"requests": {"cpu": "16"}}),
        "web:mount" => {
            c["volumeMounts"] = json!([{"name": "config", "mountPath": "/etc/web"}]);
            d["spec"]["template"]["spec"]["volumes"] = json!([{"name": "config", "configMap": {"name": "web-config"}}]);
        }
        "web:1-unready" => c["readinessProbe"] = json!({"httpGet": {"path": "/healthz", "port": 8080}}),
        _ => {}
    }
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_cause_on_many_clusters_is_one_line() {
    let fleet = tokio::task::spawn_blocking(|| TestFleet::start(11)).await.unwrap();
    let text = std::fs::read_to_string(&fleet.kubeconfig).unwrap();
    // sim-000..002 pull a missing image, 003 crash-loops, 004 is OOMKilled, 005's init
    // container is not found, 006 and 007 are healthy; 008 asks for more CPU than a node has,
    // 009 mounts a missing ConfigMap, 010 never passes its readiness probe.
    let plan: [(&str, Option<&str>); 11] = [
        ("web:1.2-missing", None),
        ("web:1.2-missing", None),
        ("web:1.2-missing", None),
        ("web:broken", None),
        ("web:2.0-oom", None),
        ("web:1.1", Some("tools:notfound")),
        ("web:1.1", None),
        ("web:1.1", None),
        ("web:big", None),
        ("web:mount", None),
        ("web:1-unready", None),
    ];
    for (ctx, (image, init)) in fleet.contexts.iter().zip(plan) {
        put_web(&text, ctx, deployment(image, init)).await;
    }
    let run = |output: &str| muster_on(&fleet, &["diagnose", "deploy/web", "-n", "shop", "-o", output]);
    // The crash loops need their first restarts to show; wait for them.
    let d: Value = eventually("every cause visible", Duration::from_secs(60), || {
        let out = run("json");
        async move {
            let d: Value = serde_json::from_slice(&out.stdout).ok()?;
            let reasons: Vec<&str> = d["causes"]
                .as_array()?
                .iter()
                .filter_map(|c| c["reason"].as_str())
                .collect();
            (out.status.code() == Some(1)
                && d["healthy"] == json!(["sim-006", "sim-007"])
                && reasons.len() == 7
                && [
                    "ImagePullBackOff",
                    "CrashLoopBackOff",
                    "OOMKilled",
                    "InitContainerFailed",
                    "Unschedulable",
                    "FailedMount",
                    "ReadinessProbeFailed",
                ]
                .iter()
                .all(|r| reasons.contains(r)))
            .then_some(d)
        }
    })
    .await;
    let cause = |r: &str| {
        d["causes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["reason"] == r)
            .unwrap()
            .clone()
    };
    let pull = cause("ImagePullBackOff");
    assert_eq!(
        pull["clusters"].as_object().unwrap().len(),
        3,
        "one line for three clusters: {pull}"
    );
    assert!(pull["detail"].as_str().unwrap().contains("web:1.2-missing"));
    let chain = pull["evidence"][0].as_str().unwrap();
    assert!(
        chain.starts_with("owner chain: Pod/web-")
            && chain.contains(" <- ReplicaSet/web-")
            && chain.ends_with(" <- Deployment/web"),
        "{chain}"
    );
    assert_eq!(d["causes"][0]["reason"], "ImagePullBackOff", "most clusters first");
    assert!(cause("OOMKilled")["meaning"].as_str().unwrap().starts_with("OOMKilled"));
    assert!(
        cause("CrashLoopBackOff")["detail"]
            .as_str()
            .unwrap()
            .contains("exits 1")
    );
    let init = cause("InitContainerFailed");
    assert!(
        init["detail"].as_str().unwrap().contains("migrate") && init["detail"].as_str().unwrap().contains("127"),
        "{init}"
    );
    assert_eq!(init["meaning"], "command not found");
    assert_eq!(cause("Unschedulable")["detail"], "insufficient cpu");
    assert_eq!(cause("FailedMount")["detail"], "ConfigMap web-config");
    assert_eq!(cause("ReadinessProbeFailed")["detail"], "Readiness probe failed");
    assert_eq!(d["healthy"], json!(["sim-006", "sim-007"]));
    let term = run("terminal");
    let t = String::from_utf8_lossy(&term.stdout);
    assert!(
        t.contains("ImagePullBackOff on 3 cluster(s), 6 pod(s)") && t.contains("2 cluster(s) healthy"),
        "{t}"
    );
    for (format, needle) in [
        ("markdown", "# Diagnosis: deploy/web"),
        ("html", "class=\"cell\""),
        ("yaml", "causes:"),
    ] {
        let o = run(format);
        assert_eq!(o.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&o.stdout).contains(needle), "{format}");
    }
}

/// Four clusters running shop/web (3 replicas behind a Service): sim-002 scaled to one
/// pod, sim-003 rolled to an image that crash-loops.
async fn four_shops() -> TestFleet {
    let fleet = tokio::task::spawn_blocking(|| TestFleet::start(4)).await.unwrap();
    let text = std::fs::read_to_string(&fleet.kubeconfig).unwrap();
    for ctx in &fleet.contexts {
        let c = kube_client_from(&text, ctx, true).await;
        create_namespace(&c, "shop").await;
        for doc in muster_testkit::APP_YAML.split("\n---\n") {
            let v: Value = serde_saphyr::from_str(doc).unwrap();
            let kind = v["kind"].as_str().unwrap().to_string();
            let name = v["metadata"]["name"].as_str().unwrap().to_string();
            let ar = match kind.as_str() {
                "Deployment" => kube::api::ApiResource::erase::<Deployment>(&()),
                "Service" => kube::api::ApiResource::erase::<k8s_openapi::api::core::v1::Service>(&()),
                _ => kube::api::ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&()),
            };
            Api::<kube::api::DynamicObject>::namespaced_with(c.clone(), "shop", &ar)
                .patch(&name, &PatchParams::apply("test"), &Patch::Apply(v))
                .await
                .unwrap();
        }
    }
    let deploys = |ctx: &str| {
        let text = text.clone();
        let ctx = ctx.to_string();
        async move { Api::<Deployment>::namespaced(kube_client_from(&text, &ctx, true).await, "shop") }
    };
    // Ready everywhere first, then the two odd ones.
    for ctx in &fleet.contexts {
        let d = deploys(ctx).await;
        eventually("web ready", Duration::from_secs(30), || {
            let d = d.clone();
            async move { (d.get("web").await.ok()?.status?.ready_replicas == Some(3)).then_some(()) }
        })
        .await;
    }
    deploys("sim-002")
        .await
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 1}})),
        )
        .await
        .unwrap();
    deploys("sim-003")
        .await
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:broken"}]}},
                "strategy": {"type": "Recreate", "rollingUpdate": null}}}),
            ),
        )
        .await
        .unwrap();
    fleet
}

fn fleet_view(fleet: &TestFleet, args: &[&str]) -> (Option<i32>, Value) {
    let out = muster_on(fleet, &[args, &["-n", "shop", "-o", "json"]].concat());
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topology_and_trees_show_the_odd_clusters() {
    let fleet = four_shops().await;
    let t = eventually("sim-002 and sim-003 stand out", Duration::from_secs(60), || {
        let (code, t) = fleet_view(&fleet, &["topology", "svc/web"]);
        async move {
            let odd: Vec<String> = t["clusters"]
                .as_array()?
                .iter()
                .filter(|c| c["standsOut"].as_array().is_some_and(|a| !a.is_empty()))
                .map(|c| c["cluster"].as_str().unwrap_or_default().to_string())
                .collect();
            (code == Some(1) && odd == ["sim-002", "sim-003"]).then_some(t)
        }
    })
    .await;
    assert_eq!(t["usualNodes"], 3, "three pods spread over three nodes: {t}");
    assert_eq!(t["usualZones"], 3);
    let by = |c: &str| {
        t["clusters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["cluster"] == c)
            .unwrap()
            .clone()
    };
    assert!(
        by("sim-002")["standsOut"][0].as_str().unwrap().contains("1 node(s)"),
        "{}",
        by("sim-002")
    );
    assert!(
        by("sim-003")["standsOut"][0]
            .as_str()
            .unwrap()
            .starts_with("no ready endpoint"),
        "{}",
        by("sim-003")
    );
    assert_eq!(by("sim-000")["ready"], 3);
    // The trees: the usual shape on two clusters; sim-002 has one pod, sim-003 two ReplicaSets.
    let trees = eventually("three shapes", Duration::from_secs(60), || {
        let (code, t) = fleet_view(&fleet, &["tree", "deploy/web"]);
        async move { (code == Some(1) && t["shapes"].as_array()?.len() == 3).then_some(t) }
    })
    .await;
    assert_eq!(trees["shapes"][0]["clusters"], json!(["sim-000", "sim-001"]), "{trees}");
    assert_eq!(trees["shapes"][0]["shape"], "Deployment > (ReplicaSet > (3x Pod))");
    let shapes: Vec<&str> = trees["shapes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["shape"].as_str().unwrap())
        .collect();
    assert!(shapes.contains(&"Deployment > (ReplicaSet > (Pod))"), "{shapes:?}");
    assert!(
        shapes
            .iter()
            .any(|s| s.contains("2x ReplicaSet") || s.matches("ReplicaSet").count() == 2),
        "sim-003 keeps its old ReplicaSet beside the new one: {shapes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_by_group_judges_each_cluster_by_its_own_group() {
    let fleet = tokio::task::spawn_blocking(|| TestFleet::start(5)).await.unwrap();
    let text = std::fs::read_to_string(&fleet.kubeconfig).unwrap();
    // sim-000..002 are prod on web:2 but sim-002 drifted to web:1; sim-003/004 are stage on web:3.
    for (ctx, image) in fleet.contexts.iter().zip(["web:2", "web:2", "web:1", "web:3", "web:3"]) {
        put_web(&text, ctx, deployment(image, None)).await;
    }
    let cfg = fleet.dir.path().join("fleet.yaml");
    std::fs::write(&cfg, "labels:\n- match: 'sim-*'\n  labels: {env: prod}\n- match: 'sim-003'\n  labels: {env: stage}\n- match: 'sim-004'\n  labels: {env: stage}\n").unwrap();
    let run = |output: &str| {
        let cfg = cfg.to_str().unwrap();
        muster_on(
            &fleet,
            &[
                "compare",
                "deploy/web",
                "-n",
                "shop",
                "--group-by",
                "env",
                "-o",
                output,
                "--fleet",
                cfg,
            ],
        )
    };
    let out = run("json");
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let g: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(g["groups"]["env=prod"]["summary"]["differ"], 1, "{g}");
    assert_eq!(g["groups"]["env=stage"]["summary"]["differ"], 0);
    assert_eq!(
        g["baselines"]["summary"]["variants"], 2,
        "prod and stage differ, on purpose"
    );
    let t = String::from_utf8_lossy(&run("terminal").stdout).into_owned();
    assert!(
        t.contains("=== env=prod: 3 cluster(s)") && t.contains("The groups' baselines against each other"),
        "{t}"
    );
}
