//! `muster diagnose` over simulated clusters failing in different ways: the same cause on
//! several clusters is one line (image pull, crash loop with its exit code, OOMKilled, an
//! init container's 127), healthy clusters are counted, every format renders, exit 1.

use std::process::{Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use muster_testkit::hub::create_namespace;
use muster_testkit::{TestFleet, eventually, kube_client_from};
use serde_json::{Value, json};

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
        let c = kube_client_from(&text, ctx, true).await;
        create_namespace(&c, "shop").await;
        Api::<Deployment>::namespaced(c, "shop")
            .patch(
                "web",
                &PatchParams::apply("test"),
                &Patch::Apply(deployment(image, init)),
            )
            .await
            .unwrap();
    }
    let run = |output: &str| {
        Command::new(env!("CARGO_BIN_EXE_muster"))
            .args(["diagnose", "deploy/web", "-n", "shop", "-o", output, "--kubeconfig"])
            .arg(&fleet.kubeconfig)
            .env("HOME", fleet.dir.path())
            .env("RUST_LOG", "warn")
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
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
