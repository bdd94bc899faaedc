//! `muster clusters` end to end against simulated fleets: kubeconfig contexts and Cluster API
//! Secrets, probing, labels from the fleet file, selection errors, malformed files, and every
//! output checked for leaked tokens.

use std::path::Path;
use std::process::Command;

use muster_testkit::TestFleet;
use serde_json::Value;

fn tokens(kubeconfig: &Path) -> Vec<String> {
    std::fs::read_to_string(kubeconfig)
        .unwrap()
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("token: ")
                .map(|t| t.trim_matches('\'').trim_matches('"').to_string())
        })
        .collect()
}

fn muster(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(args)
        .env_remove("KUBECONFIG")
        .env("RUST_LOG", "warn")
        .output()
        .expect("muster runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn clusters_command_end_to_end() {
    let fleet = TestFleet::start(2);
    let kc = fleet.kubeconfig.to_str().unwrap().to_string();
    let secrets = tokens(&fleet.kubeconfig);
    assert_eq!(secrets.len(), 2);
    let extra = fleet.dir.path().join("extra.kubeconfig");
    std::fs::write(&extra, "contexts:\n- name: orphan\n  context: {cluster: nowhere, user: nobody}\n- name: sim-000\n  context: {cluster: dup}\n").unwrap();
    let broken = fleet.dir.path().join("broken.kubeconfig");
    std::fs::write(&broken, "users:\n- name: x\n  user:\n    token: [1, 2\n").unwrap();

    let mut outputs = Vec::new();
    let (code, out, err) = muster(&[
        "clusters",
        "--kubeconfig",
        &kc,
        "--kubeconfig",
        extra.to_str().unwrap(),
        "--probe",
    ]);
    assert_eq!(code, 0, "{err}");
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "SOURCE", "SERVER", "LABELS", "HEALTH", "VERSION", "CERT-EXPIRY"]
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("sim-000") && l.contains("Healthy") && l.contains("v1.32.4")),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.starts_with("orphan") && l.contains("Invalid")),
        "{out}"
    );
    assert!(
        err.contains("cluster orphan is invalid") && err.contains("cluster \"nowhere\""),
        "{err}"
    );
    assert!(
        err.contains("context \"sim-000\"") && err.contains("ignored"),
        "duplicate warning: {err}"
    );
    outputs.push(out + &err);

    let (code, out, err) = muster(&["clusters", "--kubeconfig", &kc, "--probe", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[0]["health"]["state"], "Healthy");
    assert_eq!(v[0]["source"]["kind"], "kubeconfig");
    outputs.push(out + &err);

    let (code, out, err) = muster(&["clusters", "--kubeconfig", &kc, "-o", "yaml", "--clusters", "sim-001"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("name: sim-001") && !out.contains("sim-000"), "{out}");
    outputs.push(out + &err);

    // A malformed file: named with its line; the others still load; --strict makes it fatal.
    let (code, out, err) = muster(&[
        "clusters",
        "--kubeconfig",
        &kc,
        "--kubeconfig",
        broken.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert!(
        err.contains("1 source failed") && err.contains("broken.kubeconfig") && err.contains("line "),
        "{err}"
    );
    assert_eq!(out.lines().count(), 3, "{out}");
    outputs.push(out + &err);
    let (code, out, err) = muster(&[
        "clusters",
        "--kubeconfig",
        &kc,
        "--kubeconfig",
        broken.to_str().unwrap(),
        "--strict",
    ]);
    assert_eq!(code, 2);
    outputs.push(out + &err);

    // Selection errors are usage errors (exit 2) that say what exists.
    let (code, out, err) = muster(&["clusters", "--kubeconfig", &kc, "--clusters", "prod-*"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no cluster matches --clusters 'prod-*'") && err.contains("sim-000"),
        "{err}"
    );
    outputs.push(out + &err);
    let (code, out, err) = muster(&["clusters", "--kubeconfig", &kc, "--cluster-selector", "env in (a"]);
    assert_eq!(code, 2);
    assert!(err.contains("position 9"), "{err}");
    outputs.push(out + &err);

    for o in &outputs {
        for t in &secrets {
            assert!(!o.contains(t.as_str()), "a token leaked into muster's output:\n{o}");
        }
    }
}

#[test]
fn fleet_config_labels_and_selection() {
    let fleet = TestFleet::start(3);
    let kc = fleet.kubeconfig.to_str().unwrap().to_string();
    let cfg = fleet.dir.path().join("fleet.yaml");
    std::fs::write(&cfg, "labels:\n- match: 'sim-*'\n  labels: {env: stage, region: eu}\n- match: 'sim-001'\n  labels: {env: prod}\nlimits:\n  groups:\n  - {selector: env=prod, qps: 5}\n").unwrap();
    let (code, out, err) = muster(&[
        "clusters",
        "--kubeconfig",
        &kc,
        "--fleet",
        cfg.to_str().unwrap(),
        "--cluster-selector",
        "env=prod,region in (eu,us),!canary",
        "-o",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1, "{out}");
    assert_eq!(
        (v[0]["name"].as_str(), v[0]["labels"]["env"].as_str()),
        (Some("sim-001"), Some("prod"))
    );
    let (_, out, _) = muster(&["clusters", "--kubeconfig", &kc, "--fleet", cfg.to_str().unwrap()]);
    assert!(
        out.lines()
            .any(|l| l.starts_with("sim-000") && l.contains("env=stage,region=eu")),
        "{out}"
    );

    let bad = fleet.dir.path().join("bad-fleet.yaml");
    std::fs::write(&bad, "labels:\n- match: x\n  lables: {}\n").unwrap();
    let (code, _, err) = muster(&["clusters", "--kubeconfig", &kc, "--fleet", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("bad-fleet.yaml") && err.contains("line 3") && err.contains("lables"),
        "{err}"
    );
}

/// The Cluster API Secrets of a hub are listed next to the kubeconfig contexts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusters_lists_cluster_api_members() {
    let fleet = muster_sim::Fleet::start(muster_sim::FleetOptions::default().clusters(3))
        .await
        .unwrap();
    let _hub = muster_testkit::capi::hub_with_secrets(&fleet).await;
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    fleet.write_kubeconfig(&kc).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_muster"))
            .args([
                "clusters",
                "--kubeconfig",
                kc.to_str().unwrap(),
                "--hub-context",
                "sim-000",
                "--capi-namespace",
                "capi",
                "-o",
                "json",
            ])
            .env_remove("KUBECONFIG")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "capi/broken",
            "capi/empty",
            "capi/prod-eu",
            "sim-000",
            "sim-001",
            "sim-002"
        ]
    );
    let prod_view = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "capi/prod-eu")
        .unwrap();
    assert_eq!(
        (
            prod_view["source"]["kind"].as_str(),
            prod_view["labels"]["region"].as_str()
        ),
        (Some("clusterApi"), Some("eu"))
    );

    fleet.shutdown().await;
}
