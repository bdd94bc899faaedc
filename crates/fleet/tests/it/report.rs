//! Reports against a simulated fleet with seeded drift: variants and field differences,
//! missing objects and failed clusters, kind inventories, text variants, write summaries,
//! byte-identical JSON for the same state, `report diff`, and the HTML page rendered in
//! headless Chromium.

use std::path::PathBuf;
use std::sync::Arc;

use futures::StreamExt as _;
use muster_core::command::{Action, Command};
use muster_core::policy::Policy;
use muster_core::report::compare::{Options, build};
use muster_core::report::render::{Format, report as render};
use muster_core::report::{Report, changes};
use muster_core::result::{ExecResult, Status};
use muster_fleet::fanout::Fanout;
use muster_fleet::registry::{FleetConfig, Registry};
use muster_fleet::settings::Settings;
use muster_sim::faults::Faults;
use muster_sim::{Fleet, FleetOptions};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use muster_testkit::APP_YAML;

use crate::support::registry_of;

async fn run(fanout: &Fanout, registry: &Registry, c: Command) -> Vec<ExecResult> {
    fanout
        .run(Arc::new(c), registry.members(), CancellationToken::new(), None)
        .collect()
        .await
}

fn get(target: &str) -> Command {
    let mut c = muster_testkit::command(Action::Get);
    c.target = Some(target.parse().unwrap());
    c.namespace = Some("shop".parse().unwrap());
    c
}

fn apply(yaml: &str) -> Command {
    let mut c = muster_testkit::command(Action::Apply);
    c.manifests = muster_core::manifest::parse("t.yaml", yaml).unwrap();
    c.force_conflicts = true;
    c
}

/// Six clusters: shop/web everywhere; sim-001 and sim-002 on nginx:1.26; sim-003 without
/// web-config; sim-005 failing with 500s.
async fn drifted_fleet() -> (Fleet, Arc<Registry>, Fanout, tempfile::TempDir) {
    let fleet = Fleet::start(FleetOptions::default().clusters(6)).await.unwrap();
    let (registry, dir) = registry_of(&fleet, &FleetConfig::default());
    let policy = Policy::parse("p", "clusterScopedKinds: [Namespace]\n").unwrap();
    let fanout = Fanout::new(registry.clone(), policy, Settings::default().max_attempts(2));
    let all = format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: shop}}\n---\n{APP_YAML}");
    assert!(
        run(&fanout, &registry, apply(&all))
            .await
            .iter()
            .all(|r| r.status.is_success())
    );
    let old = APP_YAML.replace("nginx:1.27", "nginx:1.26");
    for name in ["sim-001", "sim-002"] {
        let m = vec![registry.get(name).unwrap()];
        let r: Vec<ExecResult> = fanout
            .run(Arc::new(apply(&old)), m, CancellationToken::new(), None)
            .collect()
            .await;
        assert!(r[0].status.is_success(), "{:?}", r[0].error);
    }
    let mut del = muster_testkit::command(Action::Delete);
    del.target = Some("cm/web-config".parse().unwrap());
    del.namespace = Some("shop".parse().unwrap());
    let r: Vec<ExecResult> = fanout
        .run(
            Arc::new(del),
            vec![registry.get("sim-003").unwrap()],
            CancellationToken::new(),
            None,
        )
        .collect()
        .await;
    assert!(r[0].status.is_success());
    fleet.clusters()[5]
        .set_faults(Faults {
            error_rate: 1.0,
            error_code: Some(500),
            ..Faults::default()
        })
        .unwrap();
    (fleet, registry, fanout, dir)
}

#[tokio::test]
async fn variants_differences_inventory_and_determinism() {
    let (fleet, registry, fanout, _dir) = drifted_fleet().await;
    let results = run(&fanout, &registry, get("deploy/web")).await;
    let report = build(&results, &Options::default()).unwrap();
    assert_eq!(report.summary.clusters, 6);
    assert_eq!(
        (report.summary.agree, report.summary.differ, report.summary.failed),
        (3, 2, 1)
    );
    assert!(!report.agrees());
    let web = &report.objects[0];
    assert_eq!(web.object, "shop/web");
    assert_eq!(web.variants.len(), 2);
    assert_eq!(web.variants[0].clusters, ["sim-000", "sim-003", "sim-004"]);
    assert_eq!(web.variants[1].clusters, ["sim-001", "sim-002"]);
    let d = &web.variants[1].differences;
    assert_eq!(d.len(), 1, "status, uids, revisions and hashes are stripped: {d:?}");
    assert_eq!(d[0].path, "spec.template.spec.containers[web].image");
    assert_eq!(
        (d[0].baseline.clone(), d[0].value.clone()),
        (Some(json!("nginx:1.27")), Some(json!("nginx:1.26")))
    );
    assert_eq!(report.failed[0].cluster, "sim-005");
    assert_eq!(report.failed[0].status, Status::Failed);

    // --baseline picks the variant; an unknown cluster is an error.
    let opts = Options {
        baseline: Some("sim-002".into()),
        ..Options::default()
    };
    let by_002 = build(&results, &opts).unwrap();
    assert_eq!(by_002.objects[0].variants[0].clusters, ["sim-001", "sim-002"]);
    assert!(
        build(
            &results,
            &Options {
                baseline: Some("nope".into()),
                ..Options::default()
            }
        )
        .is_err()
    );
    // Ignoring the image makes everyone agree.
    let ignore = Options {
        normalize: muster_core::report::normalize::Normalize {
            ignore: vec!["/spec/template/spec/containers/*/image".into()],
            ..Default::default()
        },
        ..Options::default()
    };
    assert_eq!(build(&results, &ignore).unwrap().summary.differ, 0);

    // The same fleet state gives byte-identical JSON (order of results does not matter).
    let again = run(&fanout, &registry, get("deploy/web")).await;
    let mut reversed = again.clone();
    reversed.reverse();
    let a = report.to_json().unwrap();
    assert_eq!(a, build(&reversed, &Options::default()).unwrap().to_json().unwrap());
    assert!(!a.contains("resourceVersion") && !a.contains("managedFields"));

    // A kind: the inventory shows web-config missing on sim-003, as its own variant.
    let cms = build(&run(&fanout, &registry, get("cm")).await, &Options::default()).unwrap();
    let inv = cms.inventory.iter().find(|i| i.object == "shop/web-config").unwrap();
    assert_eq!(inv.missing, ["sim-003"]);
    let obj = cms.objects.iter().find(|o| o.object == "shop/web-config").unwrap();
    assert!(obj.variants.iter().any(|v| v.missing && v.clusters == ["sim-003"]));
    // A named object missing somewhere: its own variant, not a failure.
    let one = build(
        &run(&fanout, &registry, get("cm/web-config")).await,
        &Options::default(),
    )
    .unwrap();
    assert!(
        one.objects[0]
            .variants
            .iter()
            .any(|v| v.missing && v.clusters == ["sim-003"])
    );
    assert_eq!(one.failed.len(), 1, "only the cluster answering 500");

    // Writes: a summary by status.
    let mut scale = muster_testkit::command(Action::Scale);
    scale.target = Some("deploy/web".parse().unwrap());
    scale.namespace = Some("shop".parse().unwrap());
    scale.replicas = Some(2);
    let writes = build(&run(&fanout, &registry, scale).await, &Options::default()).unwrap();
    assert_eq!(writes.statuses["Succeeded"].len(), 5);
    assert_eq!(writes.statuses["Failed"], ["sim-005"]);

    // report diff: the scale made every answering cluster's replicas change; the two on
    // the old image still differ; nothing drifted.
    let after = build(&run(&fanout, &registry, get("deploy/web")).await, &Options::default()).unwrap();
    let ch = changes::between(&report, &after);
    assert!(ch.drifted.is_empty() && ch.converged.is_empty(), "{ch:?}");
    let f = ch
        .fields
        .iter()
        .find(|f| f.path == "spec.replicas")
        .expect("replicas changed");
    assert_eq!((f.old.clone(), f.new.clone()), (Some(json!(3)), Some(json!(2))));
    assert_eq!(f.clusters.len(), 5);
    assert!(changes::between(&report, &report).is_empty());
    // Converging: sim-001 back on 1.27.
    let m = vec![registry.get("sim-001").unwrap()];
    let _: Vec<ExecResult> = fanout
        .run(
            Arc::new(apply(&APP_YAML.replace("replicas: 3", "replicas: 2"))),
            m,
            CancellationToken::new(),
            None,
        )
        .collect()
        .await;
    let later = build(&run(&fanout, &registry, get("deploy/web")).await, &Options::default()).unwrap();
    let ch = changes::between(&after, &later);
    assert_eq!(ch.converged[0].clusters, ["sim-001"], "{ch:?}");
    fleet.shutdown().await;
}

#[tokio::test]
async fn texts_group_into_variants_with_unified_diffs() {
    let (fleet, registry, _fanout, _dir) = drifted_fleet().await;
    let policy = Policy::parse("p", "exec: {enabled: true, allow: [{command: env, args: []}]}\n").unwrap();
    let fanout = Fanout::new(registry.clone(), policy, Settings::default().max_attempts(1));
    // Wait until every answering cluster has a ready pod to exec in.
    let mut exec = muster_testkit::command(Action::Exec);
    exec.target = Some("deploy/web".parse().unwrap());
    exec.namespace = Some("shop".parse().unwrap());
    exec.argv = vec!["env".into()];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let results = loop {
        let r = run(&fanout, &registry, exec.clone()).await;
        if r.iter().filter(|r| r.status.is_success()).count() == 5 {
            break r;
        }
        assert!(std::time::Instant::now() < deadline, "pods never became ready");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let report = build(&results, &Options::default()).unwrap();
    let text = report.text.as_ref().unwrap();
    assert!(
        text.variants.len() >= 2,
        "hostnames differ per pod: {:?}",
        text.variants.len()
    );
    assert!(
        text.variants
            .iter()
            .skip(1)
            .all(|v| v.diff.starts_with("--- baseline (variant A)"))
    );
    assert_eq!(report.failed.len(), 1);
    fleet.shutdown().await;
}

/// Headless Chromium on a page with `extra` flags (`--dump-dom`, `--screenshot=...`).
fn headless(
    browser: &std::path::Path,
    page: &std::path::Path,
    home: &std::path::Path,
    extra: &[String],
) -> std::process::Output {
    std::process::Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .env("HOME", home)
        .output()
        .expect("chromium runs")
}

fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"].iter().find_map(|b| {
        std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join(b)).find(|p| p.is_file()))
    });
    if found.is_none() {
        assert!(
            std::env::var("MUSTER_REQUIRE_CHROMIUM").as_deref() != Ok("1"),
            "chromium is required (MUSTER_REQUIRE_CHROMIUM=1) but was not found on PATH"
        );
        eprintln!("\n!!!!!!!!!! SKIPPED: chromium not found on PATH; the HTML report was not rendered !!!!!!!!!!\n");
    }
    found
}

#[tokio::test]
async fn html_report_renders_in_headless_chromium() {
    let (fleet, registry, fanout, dir) = drifted_fleet().await;
    let report: Report = build(&run(&fanout, &registry, get("deploy/web")).await, &Options::default()).unwrap();
    fleet.shutdown().await;
    let html = render(&report, Format::Html, false).unwrap();
    for external in ["http://", "https://", "src=\"//", "@import"] {
        assert!(
            !html.contains(external),
            "the page must fetch nothing: found {external}"
        );
    }
    let path = dir.path().join("report.html");
    std::fs::write(&path, &html).unwrap();
    let Some(browser) = chromium() else { return };
    let out = headless(&browser, &path, dir.path(), &["--dump-dom".to_string()]);
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && !dom.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        dom.contains("data-variants=\"2\"") && dom.contains("data-cells=\"6\""),
        "the page's script ran on the rendered DOM: {dom:.2000}"
    );
    assert!(!dom.contains("rendered:"), "no debugging text on the page");
    assert!(dom.contains("3 agree with the baseline, 2 differ"), "{dom:.2000}");
    assert!(dom.contains("spec.template.spec.containers[web].image"));
    assert!(dom.contains("class=\"del\"") && dom.contains("nginx:1.26"));
}

/// The fleet picture at 1,000 clusters: one cell each, and the page renders (and is
/// screenshotted) by headless Chromium within 2 s.
#[test]
fn a_thousand_cluster_picture_renders_within_two_seconds() {
    use muster_core::result::{Object, Output};
    let results: Vec<ExecResult> = (0..1000)
        .map(|i| {
            let image = match i % 50 {
                0 => "nginx:1.26",
                1 => "nginx:1.25",
                _ => "nginx:1.27",
            };
            let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
                "spec": {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}}});
            ExecResult {
                command_id: "c".into(),
                cluster: format!("cluster-{i:04}"),
                action: Action::Get,
                target: "deploy/web".into(),
                status: Status::Succeeded,
                exit_code: None,
                output: Output::Objects {
                    items: vec![Object::from_value(&obj)],
                    truncated: false,
                },
                error: None,
                duration_ms: 1,
                attempts: 1,
            }
        })
        .collect();
    let report = build(&results, &Options::default()).unwrap();
    let html = render(&report, Format::Html, false).unwrap();
    assert_eq!(
        html.matches("<a href=\"#shop/web-").count(),
        1000,
        "one cell per cluster"
    );
    assert!(html.contains("title=\"cluster-0000: shop/web variant B: spec.template.spec.containers[web].image\""));
    let Some(browser) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("fleet.html");
    std::fs::write(&page, &html).unwrap();
    let shot = dir.path().join("fleet.png");
    let started = std::time::Instant::now();
    let out = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1400,900",
        ])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .env("HOME", dir.path())
        .output()
        .expect("chromium runs");
    let took = started.elapsed();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0) > 1000,
        "a screenshot was taken"
    );
    eprintln!("chromium: 1,000-cluster page screenshotted in {took:?} (browser start included)");
    let dom = std::process::Command::new(chromium().unwrap())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--dump-dom",
        ])
        .arg(format!("file://{}", page.display()))
        .env("HOME", dir.path())
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("data-cells=\"1000\""));
    // NB: the page's own clock, from navigation to its script having run over the whole DOM;
    // the browser's start-up is not the page's rendering.
    let ms: u64 = dom
        .split("data-ms=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .and_then(|n| n.parse().ok())
        .expect("the page timed itself");
    assert!(ms < 2000, "the page rendered in {ms} ms");
}
