//! muster-testkit: the test harness every crate's tests share. Simulated fleets on a
//! background runtime, the real kubectl, tools a test requires (a loud skip notice, or a
//! failure under `MUSTER_REQUIRE_<TOOL>=1` as in CI), kube clients built from a fleet's
//! kubeconfig, and the fixtures the tests apply.

pub mod capi;
pub mod hub;
pub mod mqtt;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use muster_sim::{Fleet, FleetOptions};

/// A fleet running on its own runtime thread, so synchronous tests can drive kubectl.
pub struct TestFleet {
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    pub restricted_kubeconfig: PathBuf,
    pub contexts: Vec<String>,
    /// Each cluster's state (for its request counters).
    pub clusters: Vec<std::sync::Arc<muster_sim::Cluster>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TestFleet {
    pub fn start(clusters: usize) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let kubeconfig = dir.path().join("kubeconfig");
        let restricted_kubeconfig = dir.path().join("restricted.kubeconfig");
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (k1, k2) = (kubeconfig.clone(), restricted_kubeconfig.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let fleet = Fleet::start(FleetOptions::default().clusters(clusters))
                    .await
                    .expect("fleet starts");
                fleet.write_kubeconfig(&k1).expect("write kubeconfig");
                std::fs::write(&k2, fleet.restricted_kubeconfig()).expect("write restricted kubeconfig");
                let names = fleet
                    .clusters()
                    .iter()
                    .map(|c| (c.name().to_string(), c.state().clone()))
                    .collect::<Vec<_>>();
                ready_tx.send(names).expect("report ready");
                let _ = stop_rx.await;
                fleet.shutdown().await;
            });
        });
        let (contexts, clusters) = ready_rx.recv().expect("fleet started").into_iter().unzip();
        Self {
            dir,
            kubeconfig,
            restricted_kubeconfig,
            contexts,
            clusters,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// API requests every cluster has received so far.
    #[must_use]
    pub fn requests(&self) -> u64 {
        self.clusters.iter().map(|c| c.counters.snapshot().requests).sum()
    }

    /// Writes every cluster has received so far (refused ones included).
    #[must_use]
    pub fn writes(&self) -> u64 {
        self.clusters
            .iter()
            .map(|c| c.counters.snapshot().writes_received)
            .sum()
    }
}

impl Drop for TestFleet {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The executable `name` on `PATH`, or `None` with a loud notice. With
/// `MUSTER_REQUIRE_<NAME>=1` (CI sets it) a missing tool fails the test instead.
///
/// # Panics
/// When the tool is required and missing.
#[must_use]
pub fn require_tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            // NB: Debian puts daemons such as mosquitto in /usr/sbin, off a user's PATH.
            .chain([PathBuf::from("/usr/sbin").join(name)])
            .find(|p| p.is_file())
    });
    let var = format!("MUSTER_REQUIRE_{}", name.to_ascii_uppercase());
    if found.is_none() {
        assert!(
            std::env::var(&var).as_deref() != Ok("1"),
            "{name} is required ({var}=1) but was not found on PATH"
        );
        eprintln!("\n!!!!!!!!!! SKIPPED: {name} not found on PATH; this test did not run !!!!!!!!!!\n");
    }
    found
}

/// The real kubectl, or `None` with a loud notice; with `MUSTER_REQUIRE_KUBECTL=1` a
/// missing kubectl fails the test instead.
#[must_use]
pub fn kubectl_binary() -> Option<PathBuf> {
    require_tool("kubectl")
}

/// Wait until `check` returns `Some`, polling every `every`; panic naming `what` when
/// `within` passes first. For tests: a condition with a deadline, never a fixed sleep.
///
/// # Panics
/// When the deadline passes.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    let every = Duration::from_millis(20);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(every).await;
    }
}

/// [`eventually`] for synchronous tests.
///
/// # Panics
/// When the deadline passes.
pub fn eventually_sync<T>(what: &str, within: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A command for a test: a unique id, issued now (to the second, as the CLI stamps it).
#[must_use]
pub fn command(action: muster_core::command::Action) -> muster_core::command::Command {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let now = jiff::Timestamp::now();
    let issued_at = now.round(jiff::Unit::Second).unwrap_or(now).to_string();
    muster_core::command::Command::new(format!("test-{}-{n}", std::process::id()), issued_at, action)
}

/// Wait until the CRD `name` is Established (its objects are served only then, on the
/// simulator as on a real cluster).
///
/// # Panics
/// When it is not Established within 10 s.
pub async fn crd_established(client: &kube::Client, name: &str) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let crds: kube::Api<CustomResourceDefinition> = kube::Api::all(client.clone());
    eventually(
        &format!("CRD {name} to be Established"),
        Duration::from_secs(10),
        || {
            let crds = crds.clone();
            async move {
                let crd = crds.get(name).await.ok()?;
                let conditions = crd.status?.conditions?;
                conditions
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
                    .then_some(())
            }
        },
    )
    .await;
}

/// kubectl bound to one kubeconfig, with its own discovery cache (ports get reused between
/// tests, and a stale cache would describe another cluster).
pub struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
    cache: PathBuf,
}

impl Kubectl {
    pub fn new(kubeconfig: &Path) -> Option<Self> {
        let bin = kubectl_binary()?;
        let cache = kubeconfig.with_extension("kubecache");
        Some(Self {
            bin,
            kubeconfig: kubeconfig.to_path_buf(),
            cache,
        })
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECACHEDIR", &self.cache)
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("kubectl runs")
    }

    /// Run and return stdout; panic with stderr when kubectl fails.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run with `stdin` fed in; whatever happens.
    pub fn run_stdin(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write as _;
        let mut child = self
            .command(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("kubectl finishes")
    }

    /// Run with stdin; return stdout, panicking on failure.
    pub fn ok_stdin(&self, args: &[&str], stdin: &str) -> String {
        let out = self.run_stdin(args, stdin);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run expecting failure; return stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "kubectl {args:?} unexpectedly succeeded: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

/// A kube client for one context of a fleet's kubeconfig.
pub async fn kube_client(fleet: &Fleet, context: &str) -> kube::Client {
    kube_client_from(&fleet.kubeconfig(), context, true).await
}

/// A kube client without kube's built-in retries of 429/503/504, so a test sees exactly
/// what the server answered.
pub async fn kube_client_no_retry(fleet: &Fleet, context: &str) -> kube::Client {
    kube_client_from(&fleet.kubeconfig(), context, false).await
}

/// A one-cluster fleet with namespace `namespace`, and a kube client for it.
pub async fn fleet_with_namespace(namespace: &str) -> (Fleet, kube::Client) {
    use k8s_openapi::api::core::v1::Namespace;
    let fleet = Fleet::start(FleetOptions::default().clusters(1))
        .await
        .expect("fleet starts");
    let client = kube_client(&fleet, "sim-000").await;
    let ns: kube::Api<Namespace> = kube::Api::all(client.clone());
    let body = serde_json::from_value(serde_json::json!({"metadata": {"name": namespace}})).expect("a namespace");
    ns.create(&kube::api::PostParams::default(), &body)
        .await
        .expect("namespace created");
    (fleet, client)
}

pub async fn kube_client_from(kubeconfig_yaml: &str, context: &str, retry: bool) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::from_yaml(kubeconfig_yaml).expect("kubeconfig parses");
    let options = kube::config::KubeConfigOptions {
        context: Some(context.to_string()),
        ..Default::default()
    };
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .expect("kube config");
    config.default_retry = retry;
    kube::Client::try_from(config).expect("kube client")
}

pub const APP_YAML: &str = r"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {app: web, tier: frontend}
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports: [{containerPort: 80}]
        env: [{name: MODE, value: prod}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 80}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config, namespace: shop, labels: {app: web}}
data: {greeting: hello}
";

pub const CRD_YAML: &str = r"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.size, statusReplicasPath: .status.size}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Color, type: string, jsonPath: .spec.color}
  - name: v1beta1
    served: true
    storage: false
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
";

pub const WIDGET_YAML: &str = r"apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, namespace: shop, labels: {app: web}}
spec: {size: 3, color: blue}
";
