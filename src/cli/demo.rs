//! `muster demo`: muster's main job on its embedded default. It starts 24 simulated clusters
//! in-process (labels env and region; a shop/web Deployment everywhere with seeded drift; one
//! cluster throttling with 429s and one unreachable), then shows the fleet, a comparison,
//! a scale and a restart of the staging clusters, a second comparison and what changed,
//! writing the reports (JSON, Markdown, HTML) to a directory it names.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use futures::StreamExt as _;
use tokio_util::sync::CancellationToken;

use super::actions::Format as TableFormat;
use super::compare::use_color;
use super::{CliError, exit, render};
use muster_core::command::{Action, Command};
use muster_core::policy::Policy;
use muster_core::report::compare;
use muster_core::report::render::{self as report_render, Format};
use muster_core::report::{Report, changes};
use muster_core::result::ExecResult;
use muster_fleet::fanout::Fanout;
use muster_fleet::registry::fleet::LabelRule;
use muster_fleet::registry::{FleetConfig, Member, Registry, Selection, health, kubeconfig};
use muster_fleet::settings::Settings;
use muster_sim::faults::Faults;
use muster_sim::{Fleet, FleetOptions};

/// Clusters in the demo fleet.
const CLUSTERS: usize = 24;
/// Clusters 16..24 are staging, the rest production.
const STAGING_FROM: usize = 16;
/// Seeded drift.
const OLD_IMAGE: &[usize] = &[5, 11, 19];
const MORE_REPLICAS: usize = 7;
const EXTRA_ENV: usize = 13;
const THROTTLED: usize = 9;
const UNREACHABLE: usize = 22;
/// The namespace of the demo workload.
const SHOP: &str = "shop";

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the reports go (created; default: muster-demo in the temporary directory).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Then run the hub too: a simulated hub cluster with muster's CRDs, `muster serve` in
    /// this process, a FleetCommand created, and its status and stored report shown.
    #[arg(long)]
    pub hub: bool,
}

fn name(i: usize) -> String {
    format!("demo-{i:03}")
}

fn deployment(image: &str, extra_env: bool) -> String {
    let env = if extra_env {
        "\n        env: [{name: MODE, value: prod}, {name: DEBUG, value: \"1\"}]"
    } else {
        "\n        env: [{name: MODE, value: prod}]"
    };
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: shop, labels: {{app: web}}}}\nspec:\n  replicas: 3\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers:\n      - name: web\n        image: {image}\n        ports: [{{containerPort: 80}}]{env}\n"
    )
}

struct Demo {
    registry: Arc<Registry>,
    fanout: Fanout,
    started: Instant,
}

impl Demo {
    async fn run(&self, command: Command, members: Vec<Arc<Member>>) -> Vec<ExecResult> {
        let mut results: Vec<ExecResult> = self
            .fanout
            .run(Arc::new(command), members, CancellationToken::new(), None)
            .collect()
            .await;
        results.sort_by(|a, b| a.cluster.cmp(&b.cluster));
        results
    }

    fn select(&self, selector: &str) -> Result<Vec<Arc<Member>>, CliError> {
        Ok(Selection::parse(None, Some(selector))?.select(&self.registry)?)
    }

    fn caption(&self, step: &str, command: &str) {
        println!(
            "\n=== {step}  [{:.1}s]\n$ {command}\n",
            self.started.elapsed().as_secs_f64()
        );
    }

    async fn compare(&self) -> Result<Report, CliError> {
        let mut c = super::new_command(Action::Get);
        c.target = Some("deploy/web".parse()?);
        c.namespace = Some(SHOP.parse()?);
        let results = self.run(c, self.registry.members()).await;
        let mut report = compare::build(&results, &super::compare::default_options())?;
        report.namespace = Some(SHOP.into());
        print!("{}", report_render::report(&report, Format::Terminal, use_color())?);
        Ok(report)
    }
}

/// Seed the fleet: the namespace and shop/web everywhere, then the drift, then the faults.
async fn seed(demo: &Demo, fleet: &Fleet) -> Result<(), CliError> {
    let all = demo.registry.members();
    let apply = |yaml: String, force: bool| -> Result<Command, CliError> {
        let mut c = super::new_command(Action::Apply);
        c.manifests = muster_core::manifest::parse("demo", &yaml)?;
        c.force_conflicts = force;
        Ok(c)
    };
    let base = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: shop}}\n---\n{}",
        deployment("nginx:1.27", false)
    );
    let pick = |idx: &[usize]| -> Vec<Arc<Member>> {
        let names: Vec<String> = idx.iter().map(|i| name(*i)).collect();
        all.iter().filter(|m| names.contains(&m.name)).cloned().collect()
    };
    let steps = [
        (apply(base, false)?, all.clone()),
        (apply(deployment("nginx:1.26", false), true)?, pick(OLD_IMAGE)),
        (apply(deployment("nginx:1.27", true), true)?, pick(&[EXTRA_ENV])),
    ];
    for (command, members) in steps {
        let failed: Vec<ExecResult> = demo
            .run(command, members)
            .await
            .into_iter()
            .filter(|r| !r.status.is_success())
            .collect();
        if let Some(r) = failed.first() {
            return Err(format!("seeding the demo fleet failed: {:?}", r.error).into());
        }
    }
    let mut scale = super::new_command(Action::Scale);
    scale.target = Some("deploy/web".parse()?);
    scale.namespace = Some(SHOP.parse()?);
    scale.replicas = Some(5);
    demo.run(scale, pick(&[MORE_REPLICAS])).await;
    let unreachable = &fleet.clusters()[UNREACHABLE];
    unreachable.set_faults(Faults {
        refuse: true,
        ..Faults::default()
    })?;
    // NB: the listener closes asynchronously; the probe must find it closed.
    unreachable.settled(Duration::from_secs(5)).await?;
    Ok(())
}

pub async fn run(args: DemoArgs) -> Result<u8, CliError> {
    let started = Instant::now();
    let out = args.out.unwrap_or_else(|| std::env::temp_dir().join("muster-demo"));
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    println!(
        "muster demo: {CLUSTERS} simulated clusters in this process; reports go to {}",
        out.display()
    );

    let fleet = Fleet::start(FleetOptions::default().clusters(CLUSTERS).name_prefix("demo").seed(42)).await?;
    let kubeconfig = out.join("demo.kubeconfig");
    fleet.write_kubeconfig(&kubeconfig)?;
    let config = FleetConfig {
        labels: (0..CLUSTERS)
            .map(|i| LabelRule {
                pattern: name(i),
                labels: BTreeMap::from([
                    (
                        "env".to_string(),
                        if i < STAGING_FROM { "prod" } else { "stage" }.to_string(),
                    ),
                    ("region".to_string(), if i % 2 == 0 { "eu" } else { "us" }.to_string()),
                ]),
            })
            .collect(),
        ..FleetConfig::default()
    };
    let registry = Arc::new(Registry::with_config(&config));
    let loaded = kubeconfig::load_with(&registry, std::slice::from_ref(&kubeconfig), &config);
    if let Some(f) = loaded.failed.first() {
        return Err(f.to_string().into());
    }
    let policy = Policy::parse("demo", "clusterScopedKinds: [Namespace]\n")?;
    // NB: three attempts: the throttled cluster answers every one with Retry-After: 1, and the
    // demo should show it as Throttled within seconds, not wait out the default five.
    let settings = Settings::default().max_attempts(3).deadline(Duration::from_secs(20));
    let demo = Demo {
        registry: registry.clone(),
        fanout: Fanout::new(registry.clone(), policy, settings),
        started,
    };
    seed(&demo, &fleet).await?;

    demo.caption("The fleet: every cluster, probed", "muster clusters --probe");
    let members = registry.members();
    futures::stream::iter(members.iter().cloned())
        .map(|m| async move { health::probe(&m, 1).await })
        .buffer_unordered(CLUSTERS)
        .collect::<Vec<_>>()
        .await;
    print!("{}", super::clusters::table(&members));
    // NB: the throttling starts after the probe: a throttled member is reachable, and the
    // comparison should show it Throttled rather than skip it as Unhealthy.
    fleet.clusters()[THROTTLED].set_faults(Faults {
        error_rate: 1.0,
        error_code: Some(429),
        retry_after_seconds: Some(1),
        ..Faults::default()
    })?;

    demo.caption(
        "How shop/web differs across the fleet",
        "muster compare deploy/web -n shop",
    );
    let before = demo.compare().await?;

    demo.caption(
        "Scale shop/web on the staging clusters",
        "muster scale deploy/web --replicas 4 -n shop --cluster-selector env=stage --yes",
    );
    let staging = demo.select("env=stage")?;
    let mut scale = super::new_command(Action::Scale);
    scale.target = Some("deploy/web".parse()?);
    scale.namespace = Some(SHOP.parse()?);
    scale.replicas = Some(4);
    print!(
        "{}",
        render::results(&demo.run(scale, staging.clone()).await, TableFormat::Table)?
    );

    demo.caption(
        "Restart shop/web on the staging clusters",
        "muster restart deploy/web -n shop --cluster-selector env=stage --yes",
    );
    let mut restart = super::new_command(Action::Restart);
    restart.target = Some("deploy/web".parse()?);
    restart.namespace = Some(SHOP.parse()?);
    print!(
        "{}",
        render::results(&demo.run(restart, staging).await, TableFormat::Table)?
    );

    demo.caption("Compare again", "muster compare deploy/web -n shop");
    let after = demo.compare().await?;

    demo.caption(
        "What changed between the two comparisons",
        "muster report diff before.json after.json",
    );
    let ch = changes::between(&before, &after);
    print!("{}", report_render::changes(&ch, Format::Terminal, use_color())?);

    for (stem, r) in [("before", &before), ("after", &after)] {
        for (ext, format) in [("json", Format::Json), ("md", Format::Markdown), ("html", Format::Html)] {
            let path = out.join(format!("{stem}.{ext}"));
            muster_fleet::files::write_private(&path, &report_render::report(r, format, false)?)?;
        }
    }
    for (ext, format) in [("json", Format::Json), ("md", Format::Markdown), ("html", Format::Html)] {
        let path = out.join(format!("changes.{ext}"));
        muster_fleet::files::write_private(&path, &report_render::changes(&ch, format, false)?)?;
    }
    if args.hub {
        hub_part(&fleet, &out, &demo).await?;
    }
    println!(
        "\nmuster demo: done in {:.1}s. Reports: {dir}/{{before,after,changes}}.{{json,md,html}}; try `muster report diff {dir}/before.json {dir}/after.json` or open {dir}/after.html",
        started.elapsed().as_secs_f64(),
        dir = out.display()
    );
    fleet.shutdown().await;
    Ok(exit::OK)
}

/// A rollout through the hub: a canary that fails its gate and is rolled back, then a good
/// revision that goes out in waves.
async fn rollout_part(fleet: &Fleet, client: &kube::Client, demo: &Demo) -> Result<(), CliError> {
    use muster_hub::crd::rollout::{FleetRolloutSpec, RolloutPhase, Strategy};
    use muster_hub::rollouts::control::Control;

    let control = Control::new(client, PLATFORM, "api");
    // NB: the throttled cluster recovers; the unreachable one stays down and is skipped.
    fleet.clusters()[THROTTLED].set_faults(Faults::default())?;
    let spec = |image: &str| -> Result<FleetRolloutSpec, CliError> {
        let strategy: Strategy = serde_json::from_value(serde_json::json!({
            "onFailure": "Rollback", "progressDeadlineSeconds": 60, "unreachable": "Skip",
            "waves": [{"name": "canary", "count": 1}, {"name": "quarter", "percent": 25}, {"name": "rest"}]}))?;
        Ok(FleetRolloutSpec {
            resources: vec![
                serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "api"}},
                    "template": {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": [{"name": "api", "image": image}]}}}}),
            ],
            namespace: Some(SHOP.into()),
            strategy,
            ..FleetRolloutSpec::default()
        })
    };
    let settle = |revision: u32| {
        let control = &control;
        async move {
            control
                .acknowledged(Duration::from_secs(90), |s| {
                    s.revision == revision && s.phase.is_settled()
                })
                .await
        }
    };
    for (revision, image, what) in [
        (
            1,
            "api:2.0-broken",
            "revision 1: a canary that crash-loops fails its gate; the canary is rolled back, later waves never see it",
        ),
        (
            2,
            "api:2.1",
            "revision 2: a good image goes out in waves (1 canary, 25%, the rest)",
        ),
    ] {
        demo.caption(
            &format!("A FleetRollout, {what}"),
            &format!("muster rollout apply -f api.yaml --strategy waves.yaml --hub  # image {image}"),
        );
        control.apply(&spec(image)?).await?;
        if !settle(revision).await? {
            return Err(format!("the demo rollout's revision {revision} did not settle in 90s").into());
        }
        let s = control.get().await?.status.unwrap_or_default();
        print!("{}", super::rollout::render(&format!("{PLATFORM}/api"), &s));
        let want = if revision == 1 {
            RolloutPhase::RolledBack
        } else {
            RolloutPhase::Succeeded
        };
        if s.phase != want {
            return Err(format!(
                "the demo rollout's revision {revision} ended {:?}, not {want:?}",
                s.phase
            )
            .into());
        }
    }
    demo.caption("The rollout's history", "muster rollout history api --hub");
    for r in control.history().await? {
        println!("  revision {}  {}  {}", r.number, r.hash, r.created);
    }
    Ok(())
}

/// The namespace of the demo's FleetCommand.
const PLATFORM: &str = "platform";

/// The hub: a simulated hub cluster whose `muster-system` namespace holds a kubeconfig
/// Secret per demo cluster, `muster serve` in this process, and one FleetCommand.
async fn hub_part(fleet: &Fleet, out: &std::path::Path, demo: &Demo) -> Result<(), CliError> {
    use kube::api::{Api, Patch, PatchParams, PostParams};
    use muster_hub::crd::FleetCommand;

    demo.caption(
        "The hub: muster serve, driven by custom resources in a hub cluster",
        "kubectl apply --server-side -f manifests/crds/ && muster serve --namespace muster-system",
    );
    let hub_fleet = Fleet::start(FleetOptions::default().clusters(1).name_prefix("demo-hub").seed(7)).await?;
    let hub_kubeconfig = out.join("hub.kubeconfig");
    hub_fleet.write_kubeconfig(&hub_kubeconfig)?;
    let (client, _) = super::hub::client(None, std::slice::from_ref(&hub_kubeconfig)).await?;
    muster_hub::install::apply_crds(&client, Duration::from_secs(20)).await?;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    for ns in ["muster-system", PLATFORM] {
        let body = serde_json::from_value(serde_json::json!({"metadata": {"name": ns}}))?;
        namespaces.create(&PostParams::default(), &body).await?;
    }
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), "muster-system");
    for i in 0..CLUSTERS {
        let member = name(i);
        let kubeconfig = fleet
            .kubeconfig_of(&member)
            .ok_or_else(|| format!("no context {member}"))?;
        let mut secret = muster_hub::install::kubeconfig_secret("muster-system", &member, &kubeconfig);
        let labels = secret.metadata.labels.get_or_insert_default();
        labels.insert("env".into(), if i < STAGING_FROM { "prod" } else { "stage" }.into());
        secrets.create(&PostParams::default(), &secret).await?;
    }
    println!("{CLUSTERS} kubeconfig Secrets labelled muster.dev/kubeconfig in muster-system");
    let mut config = muster_hub::context::Config::new("muster-system", "demo-hub-0");
    config.capi_namespaces = None;
    config.sync_interval = Duration::from_millis(500);
    config.flush_interval = Duration::from_millis(200);
    config.settings = config.settings.max_attempts(3).deadline(Duration::from_secs(20));
    config.secret_key = super::compare::secret_key();
    let stop = CancellationToken::new();
    let hub = muster_hub::serve::start(client.clone(), config, "127.0.0.1:0".parse()?, &stop).await?;
    let http = hub.http_addr;
    let ctx = hub.ctx.clone();
    let running = tokio::spawn(hub.run(stop.clone()));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ctx.state.ready() || !ctx.state.leading.load(std::sync::atomic::Ordering::Relaxed) {
        if Instant::now() > deadline {
            return Err("the demo hub did not become ready in 30s".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "muster serve: leading, {} members, metrics on http://{http}/metrics",
        ctx.registry.len()
    );

    demo.caption(
        "A FleetCommand: compare shop/web on the production clusters, through the hub",
        "kubectl apply -f - <<< 'kind: FleetCommand ... spec: {action: get, target: deploy/web, namespace: shop, clusters: {selector: env=prod}}'",
    );
    let fc = serde_json::json!({"apiVersion": "muster.dev/v1alpha1", "kind": "FleetCommand",
        "metadata": {"name": "web-prod", "namespace": PLATFORM},
        "spec": {"action": "get", "target": "deploy/web", "namespace": SHOP, "clusters": {"selector": "env=prod"}, "deadlineSeconds": 20}});
    let api: Api<FleetCommand> = Api::namespaced(client.clone(), PLATFORM);
    api.patch("web-prod", &PatchParams::apply("muster-demo"), &Patch::Apply(fc))
        .await?;
    let done =
        muster_hub::remote::wait_finished(&client, PLATFORM, "web-prod", Duration::from_secs(60), |_| {}).await?;
    let s = done.status.clone().unwrap_or_default();
    println!("$ kubectl get fleetcommand web-prod -n {PLATFORM}");
    println!(
        "{}",
        super::render::columns(&[
            ["NAME", "ACTION", "TARGET", "PHASE", "CLUSTERS", "SUCCEEDED"]
                .map(String::from)
                .to_vec(),
            vec![
                "web-prod".into(),
                "get".into(),
                "deploy/web".into(),
                format!("{:?}", s.phase),
                s.clusters.to_string(),
                s.counts.get("Succeeded").copied().unwrap_or(0).to_string(),
            ],
        ])
        .trim_end()
    );
    for o in &s.not_succeeded {
        println!(
            "  not succeeded: {} {} {}: {}",
            o.cluster, o.status, o.reason, o.message
        );
    }
    if let Some(r) = &s.report {
        println!(
            "  report: {} bytes of JSON, gzipped in ConfigMap(s) {} owned by the FleetCommand",
            r.bytes,
            r.config_maps.join(", ")
        );
    }
    demo.caption("The stored report", &format!("muster report get {PLATFORM}/web-prod"));
    let json = muster_hub::remote::report_json(&client, &done, None).await?;
    let report: Report = serde_json::from_str(&json)?;
    print!("{}", report_render::report(&report, Format::Terminal, use_color())?);
    rollout_part(fleet, &client, demo).await?;
    println!(
        "\nThe hub stops with the demo; against a running hub, kubectl shows the same: kubectl get fleetclusters,fleetcommands,fleetrollouts -A (the demo hub's kubeconfig: {})",
        hub_kubeconfig.display()
    );
    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), running).await;
    hub_fleet.shutdown().await;
    Ok(())
}
