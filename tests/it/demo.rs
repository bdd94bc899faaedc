//! `muster demo`, the README's first command: it runs end to end, shows each step with its
//! caption, finds the seeded drift, and writes reports that `report diff` reads.

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn demo_runs_and_writes_reports() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(["demo", "--out"])
        .arg(dir.path())
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .expect("muster demo runs");
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // NB: the 15 s target is for the release build; tests run the debug one.
    assert!(took < Duration::from_secs(60), "the demo took {took:?}");
    for caption in [
        "$ muster clusters --probe",
        "$ muster compare deploy/web -n shop",
        "$ muster scale deploy/web --replicas 4",
        "$ muster restart deploy/web",
        "$ muster report diff before.json after.json",
    ] {
        assert!(stdout.contains(caption), "missing step {caption:?}:\n{stdout}");
    }
    assert!(!stdout.contains("\x1b["), "NO_COLOR is honoured");
    assert!(
        stdout.contains("demo-022") && stdout.contains("Unhealthy"),
        "the unreachable cluster is shown:\n{stdout}"
    );
    assert!(
        stdout.contains("Throttled"),
        "the throttling cluster is shown:\n{stdout}"
    );
    assert!(
        stdout.contains("\"nginx:1.27\" -> \"nginx:1.26\""),
        "the seeded image drift is found"
    );
    assert!(stdout.contains("spec.replicas: 3 -> 5"));
    assert!(stdout.contains("env[DEBUG]"));
    assert!(stdout.contains("drifted from the baseline"), "{stdout}");
    assert!(!stderr.contains("ERROR"), "{stderr}");
    for f in [
        "before.json",
        "after.json",
        "after.md",
        "after.html",
        "changes.json",
        "changes.html",
    ] {
        assert!(dir.path().join(f).is_file(), "{f} written");
    }
    let diff = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(["report", "diff", "-o", "json"])
        .arg(dir.path().join("before.json"))
        .arg(dir.path().join("after.json"))
        .output()
        .unwrap();
    assert_eq!(
        diff.status.code(),
        Some(1),
        "the runs differ: {}",
        String::from_utf8_lossy(&diff.stderr)
    );
    let changes: serde_json::Value = serde_json::from_slice(&diff.stdout).unwrap();
    assert!(
        changes["drifted"][0]["clusters"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
    );
    let same = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(["report", "diff"])
        .arg(dir.path().join("after.json"))
        .arg(dir.path().join("after.json"))
        .output()
        .unwrap();
    assert_eq!(same.status.code(), Some(0));
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"schemaVersion\": 1}").unwrap();
    let broken = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(["report", "diff"])
        .arg(&bad)
        .arg(dir.path().join("after.json"))
        .output()
        .unwrap();
    assert_eq!(broken.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&broken.stderr).contains("bad.json: not a muster report"));
}

#[test]
fn demo_with_the_hub_runs_a_fleet_command_and_a_rollout_through_muster_serve() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(["demo", "--hub", "--out"])
        .arg(dir.path())
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "warn")
        .output()
        .expect("muster demo --hub runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "muster serve: leading, 24 members",
        "$ kubectl get fleetcommand web-prod -n platform",
        "PartiallySucceeded   16         15",
        "not succeeded: demo-009 Throttled",
        "owned by the FleetCommand",
        "$ muster report get platform/web-prod",
        "4 differ (4 variants)",
        "revision 1 (1d086cbc0c9e7115) RolledBack",
        "failed in canary (maxFailures 0); demo-000: deployment.apps/api: pod api-",
        "CrashLoopBackOff",
        "revision 2 (9a6e618d26870d43) Succeeded, wave 3/3, 23/24 cluster(s) updated",
        "demo-022                 Skipped",
        "revision 2  9a6e618d26870d43",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?}:\n{stdout}");
    }
}
