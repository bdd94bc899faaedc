//! The smaller holes, each closed: usage errors found before any request (a bad selector,
//! `restart pod/x`, zero or overflowing limits, an empty or foreign policy file), writes that
//! stop when a source failed to load, a stopped `logs -f` that ends normally, and stderr
//! without colour codes when it is not a terminal.

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;
use std::time::Duration;

use super::refused;
use crate::support::{Cli, code, path, text};

#[test]
fn usage_errors_before_any_request() {
    let cli = Cli::new();
    refused(&cli, &["get", "pods", "-l", "app in (a"], "labelSelector");
    refused(&cli, &["delete", "pods", "-l", "a=b=c", "--yes"], "labelSelector");
    refused(
        &cli,
        &["restart", "pod/x", "-n", "shop", "--yes"],
        "restart cannot address pod/x",
    );
    refused(
        &cli,
        &["scale", "cm/x", "--replicas", "2", "--yes"],
        "scale cannot address",
    );
    refused(&cli, &["logs", "cm/x"], "logs cannot address");
    for (flag, value) in [
        ("--concurrency", "0"),
        ("--max-attempts", "0"),
        ("--request-timeout", "0"),
        ("--request-timeout", "0s"),
        ("--deadline", "18446744073709551615s"),
        ("--deadline", "18446744073709551615"),
        ("--deadline", "-5s"),
        ("--request-timeout", "soon"),
    ] {
        let before = cli.fleet.requests();
        let arg = format!("{flag}={value}");
        let o = cli.muster(&["get", "ns/default", &arg]);
        assert_eq!(code(&o), 2, "{flag} {value}: {}", text(&o.stderr));
        assert!(text(&o.stderr).contains(flag), "{}", text(&o.stderr));
        assert_eq!(cli.fleet.requests(), before);
    }
    for (name, body, says) in [
        ("empty.yaml", "", "empty"),
        ("comments.yaml", "# nothing here\n", "empty"),
        (
            "kubeconfig.yaml",
            "apiVersion: v1\nkind: Config\nclusters: []\n",
            "not a muster Policy",
        ),
        (
            "deployment.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n",
            "not a muster Policy",
        ),
    ] {
        let p = cli.file(name, body);
        refused(&cli, &["get", "ns/default", "--policy", path(&p)], says);
    }
}

#[test]
fn a_failed_source_stops_writes() {
    let cli = Cli::new();
    let broken = cli.file("broken.kubeconfig", "users:\n- name: x\n  user:\n    token: [1, 2\n");
    let kc = path(&cli.fleet.kubeconfig);
    let err = refused(
        &cli,
        &[
            "apply",
            "-f",
            path(&cli.app),
            "--yes",
            "--policy",
            path(&cli.policy),
            "--kubeconfig",
            kc,
            "--kubeconfig",
            path(&broken),
        ],
        "--ignore-failed-sources",
    );
    assert!(err.contains("broken.kubeconfig"), "{err}");
    // Reads go on with the sources that loaded; writes need the flag.
    let o = cli.muster(&["get", "ns/default", "--kubeconfig", kc, "--kubeconfig", path(&broken)]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let o = cli.muster(&[
        "apply",
        "-f",
        path(&cli.app),
        "--yes",
        "--policy",
        path(&cli.policy),
        "--kubeconfig",
        kc,
        "--kubeconfig",
        path(&broken),
        "--ignore-failed-sources",
    ]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    // stderr is not a terminal here: no colour codes in anything muster wrote to it.
    assert!(!text(&o.stderr).contains('\u{1b}'), "{:?}", text(&o.stderr));
}

#[test]
fn stopping_a_followed_log_is_a_normal_end() {
    let cli = Cli::new();
    let o = cli.muster(&["apply", "-f", path(&cli.app), "--yes", "--policy", path(&cli.policy)]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    muster_testkit::eventually_sync("ready pods", Duration::from_secs(20), || {
        let o = cli.muster(&["get", "deploy/web", "-n", "shop", "-o", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).ok()?;
        v.as_array()?
            .iter()
            .all(|r| r["output"]["items"][0]["status"]["readyReplicas"] == 3)
            .then_some(())
    });
    let mut child = cli
        .command(
            env!("CARGO_BIN_EXE_muster"),
            &["logs", "deploy/web", "-n", "shop", "-f", "--tail", "1"],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a followed line").unwrap();
    assert!(first.starts_with("[sim-0"), "{first}");
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("did not succeed"), "{}", text(&out.stderr));
}
