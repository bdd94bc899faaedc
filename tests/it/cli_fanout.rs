//! The fleet commands as users run them: the `muster` binary (and `kubectl muster`, the
//! plugin) against a simulated fleet: exit codes, the `--dry-run` plan, the write
//! confirmation, the policy, JSON output and the audit log.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::{Cli, code, path, text};
use muster_testkit::Kubectl;

#[test]
fn writes_are_planned_confirmed_audited_and_exit_codes_tell() {
    let cli = Cli::new();
    let app = path(&cli.app);
    let policy = path(&cli.policy);

    // --dry-run lists the plan and touches nothing.
    let o = cli.muster(&["apply", "-f", app, "--policy", policy, "--dry-run"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let plan = text(&o.stdout);
    assert!(
        plan.contains("would apply 4 object(s) on 2 cluster(s)") && plan.contains("sim-001"),
        "{plan}"
    );
    // Without a terminal, a write to several clusters needs --yes.
    let o = cli.muster(&["apply", "-f", app, "--policy", policy]);
    assert_eq!(code(&o), 2);
    assert!(text(&o.stderr).contains("pass --yes"), "{}", text(&o.stderr));
    let o = cli.muster(&["get", "deploy/web", "-n", "shop"]);
    assert_eq!(code(&o), 1, "nothing was created by the dry run or the refused apply");
    assert!(
        text(&o.stderr).contains("cluster sim-000: get deploy/web: 404 NotFound"),
        "{}",
        text(&o.stderr)
    );
    assert!(cli.audit().is_empty(), "reads, plans and refusals are not writes");

    // The default policy refuses a Namespace; the file policy allows it.
    let o = cli.muster(&["apply", "-f", app, "--yes"]);
    assert_eq!(code(&o), 2);
    assert!(text(&o.stderr).contains("ClusterScopedDenied"), "{}", text(&o.stderr));
    let o = cli.muster(&["apply", "-f", app, "--yes", "--policy", policy]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("deployment.apps/web serverside-applied"),
        "{}",
        text(&o.stdout)
    );

    // JSON: one ExecResult per cluster, sorted.
    let o = cli.muster(&["get", "deploy/web", "-n", "shop", "-o", "json"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let results: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    let clusters: Vec<&str> = results.iter().map(|r| r["cluster"].as_str().unwrap()).collect();
    assert_eq!(clusters, ["sim-000", "sim-001"]);
    assert_eq!(results[0]["status"], "Succeeded");
    assert_eq!(results[0]["output"]["items"][0]["metadata"]["name"], "web");
    let o = cli.muster(&["get", "deploy", "-n", "shop", "-o", "wide", "--clusters", "sim-001"]);
    let table = text(&o.stdout);
    assert!(
        table.starts_with("CLUSTER   NAME   READY") && table.contains("nginx:1.27"),
        "{table}"
    );
    assert!(!table.contains("sim-000"), "{table}");

    // Exec is off in the default policy: rejected (exit 2) and audited, nothing sent.
    let o = cli.muster(&["exec", "deploy/web", "-n", "shop", "--yes", "--", "sh", "-c", "id"]);
    assert_eq!(code(&o), 2);
    assert!(text(&o.stderr).contains("ExecDisabled"), "{}", text(&o.stderr));

    let audit = cli.audit();
    let phases: Vec<(&str, &str)> = audit
        .iter()
        .map(|r| (r["action"].as_str().unwrap(), r["phase"].as_str().unwrap()))
        .collect();
    assert_eq!(
        phases,
        [
            ("apply", "rejected"),
            ("apply", "started"),
            ("apply", "finished"),
            ("exec", "rejected")
        ]
    );
    let finished = &audit[2];
    assert_eq!(finished["clusters"], serde_json::json!(["sim-000", "sim-001"]));
    assert_eq!(finished["results"][1]["status"], "Succeeded");
    assert!(finished["user"].as_str().is_some_and(|u| !u.is_empty()));
    assert_eq!(finished["objects"][1], "Deployment/shop/web");

    // Bad input: a clear error naming the file and document, exit 2.
    let bad = cli.fleet.dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nkind: Secret\n",
    )
    .unwrap();
    let o = cli.muster(&["apply", "-f", path(&bad), "--yes"]);
    assert_eq!(code(&o), 2);
    assert!(
        text(&o.stderr).contains("bad.yaml: document 2: apiVersion is missing"),
        "{}",
        text(&o.stderr)
    );
    let o = cli.muster(&["drain", "node/x"]);
    assert_eq!(code(&o), 2, "unknown actions are usage errors");
}

#[test]
fn kubectl_runs_muster_as_a_plugin() {
    let cli = Cli::new();
    let Some(kubectl) = Kubectl::new(&cli.fleet.kubeconfig) else {
        return;
    };
    let o = cli.muster(&["apply", "-f", path(&cli.app), "--yes", "--policy", path(&cli.policy)]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let plugin_dir = Path::new(env!("CARGO_BIN_EXE_kubectl-muster")).parent().unwrap();
    let search = format!("{}:{}", plugin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let out = kubectl
        .command(&["muster", "get", "deploy", "-n", "shop"])
        .env("PATH", search)
        .env("MUSTER_AUDIT_LOG", &cli.audit)
        .output()
        .expect("kubectl runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(table.starts_with("CLUSTER   NAME   READY"), "{table}");
    assert!(
        table.contains("sim-000   web") && table.contains("sim-001   web"),
        "{table}"
    );
}

#[test]
fn shell_completions() {
    let out = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(["completion", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let script = text(&out.stdout);
    assert!(
        script.contains("_muster") && script.contains("restart"),
        "{}",
        &script[..200.min(script.len())]
    );
}

#[test]
fn get_prints_each_servers_table_and_missing_is_not_agreement() {
    let cli = Cli::new();
    let policy = cli.file(
        "crd-policy.yaml",
        "clusterScopedKinds: [Namespace, CustomResourceDefinition]\n",
    );
    let crd_and_widget = cli.file(
        "widgets.yaml",
        &format!("{}---\n{}", muster_testkit::CRD_YAML, muster_testkit::WIDGET_YAML),
    );
    for f in [&cli.app, &crd_and_widget] {
        let o = cli.muster(&["apply", "-f", path(f), "--yes", "--policy", path(&policy)]);
        assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    }
    // Several kinds: one table each, names prefixed by their kind, as kubectl prints them.
    let o = cli.muster(&["get", "svc,cm", "-n", "shop"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let out = text(&o.stdout);
    let header = out.lines().next().unwrap();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["CLUSTER", "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    );
    assert!(
        out.contains("service/web") && out.contains("configmap/web-config"),
        "{out}"
    );
    assert!(out.contains("configmap/kube-root-ca.crt"), "{out}");
    // A CRD's printer columns; -o wide's columns.
    let o = cli.muster(&["get", "widgets", "-n", "shop"]);
    let out = text(&o.stdout);
    assert!(
        out.lines().next().unwrap().contains("SIZE") && out.contains("blue"),
        "{out}"
    );
    let o = cli.muster(&["get", "svc/web", "-n", "shop", "-o", "wide"]);
    assert!(
        text(&o.stdout).lines().next().unwrap().ends_with("SELECTOR"),
        "{}",
        text(&o.stdout)
    );
    // Found on no cluster: said so, exit 1.
    let o = cli.muster(&["compare", "deploy/nope", "-n", "shop"]);
    assert_eq!(code(&o), 1);
    assert!(
        text(&o.stdout).contains("found on no cluster (2 clusters answered)"),
        "{}",
        text(&o.stdout)
    );
}
