//! Secrets stay secret in reports and the audit log: Secret values become keyed
//! fingerprints in every report format (a difference still shows), report files are `0600`,
//! and exec arguments that look like credentials are redacted in the audit log.

use std::os::unix::fs::PermissionsExt as _;

use crate::support::{Cli, code, path, text};

#[test]
fn secret_values_never_reach_a_report() {
    let cli = Cli::new();
    let policy = path(&cli.policy);
    let ns = cli.file("ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n");
    assert_eq!(
        code(&cli.muster(&["apply", "-f", path(&ns), "--yes", "--policy", policy])),
        0
    );
    let secret = |pw: &str, api: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: db, namespace: shop}}\nstringData: {{password: {pw}, apiKey: {api}}}\n"
        )
    };
    for (cluster, pw) in [("sim-000", "hunter2-on-zero"), ("sim-001", "s3cr3t-on-one")] {
        let f = cli.file(&format!("{cluster}.yaml"), &secret(pw, "same-api-key-value"));
        let o = cli.muster(&["apply", "-f", path(&f), "--yes", "--clusters", cluster]);
        assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    }
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let leaks = [
        "hunter2-on-zero".to_string(),
        "s3cr3t-on-one".to_string(),
        "same-api-key-value".to_string(),
        b64("hunter2-on-zero"),
        b64("s3cr3t-on-one"),
        b64("same-api-key-value"),
    ];
    for format in ["terminal", "json", "yaml", "markdown", "html"] {
        let out = cli.fleet.dir.path().join(format!("secret-report.{format}"));
        let o = cli.muster(&["compare", "secret/db", "-n", "shop", "-o", format, "--out", path(&out)]);
        assert_eq!(code(&o), 1, "the values differ, and that shows: {}", text(&o.stderr));
        let report = std::fs::read_to_string(&out).unwrap();
        for leak in &leaks {
            assert!(!report.contains(leak.as_str()), "{format} report leaked {leak}");
        }
        assert!(report.contains("fingerprint:"), "{format}: {report}");
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{format} report is private");
        // The same value gives the same fingerprint: only `password` differs.
        if format == "json" {
            let v: serde_json::Value = serde_json::from_str(&report).unwrap();
            let diffs = v["objects"][0]["variants"][1]["differences"].as_array().unwrap();
            let paths: Vec<&str> = diffs.iter().filter_map(|d| d["path"].as_str()).collect();
            assert_eq!(paths, ["data.password"], "{report}");
        }
    }
    // A report written by fan-out commands too.
    let out = cli.fleet.dir.path().join("get.html");
    let o = cli.muster(&[
        "get",
        "secret/db",
        "-n",
        "shop",
        "--report-out",
        path(&out),
        "-o",
        "json",
    ]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let report = std::fs::read_to_string(&out).unwrap();
    assert!(leaks.iter().all(|l| !report.contains(l.as_str())), "{report}");
    assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn credentials_in_exec_arguments_are_redacted_in_the_audit_log() {
    let cli = Cli::new();
    let policy = cli.file(
        "exec.yaml",
        "exec: {enabled: true, allow: [{command: echo}, {command: mysql}]}\n",
    );
    for argv in [
        &["echo", "--password=hunter2"][..],
        &["echo", "--token", "t0k3n-value"],
        &["mysql", "-uroot", "-phunter2"],
        &["echo", "DB_PASSWORD=hunter2"],
        &["echo", "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI"],
        &["echo", "-H", "Authorization: Bearer t0k3n-value"],
        &["echo", "-H", "X-Auth-Token: t0k3n-value"],
        &["echo", "https://admin:hunter2@db.example.com/x"],
    ] {
        let mut args = vec!["exec", "deploy/web", "-n", "shop", "--policy", path(&policy), "--"];
        args.extend_from_slice(argv);
        let _ = cli.muster(&args);
    }
    let audit = std::fs::read_to_string(&cli.audit).unwrap();
    assert_eq!(
        audit.lines().filter(|l| l.contains("\"started\"")).count(),
        8,
        "{audit}"
    );
    for leak in ["hunter2", "t0k3n-value", "wJalrXUtnFEMI"] {
        assert!(!audit.contains(leak), "the audit log leaked {leak}: {audit}");
    }
    assert!(audit.contains("<redacted>"));
}
