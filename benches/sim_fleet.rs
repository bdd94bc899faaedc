//! Benchmark of the simulator: memory per idle cluster with a small workload, and warm
//! keep-alive HTTPS GET throughput and server CPU per request, with ratios against a
//! baseline measured side by side in the same run.
//!
//! `cargo bench --bench sim_fleet` (env: `SIM_CLUSTERS`, default 1000; `SIM_SECONDS`
//! per throughput phase, default 5). The simulator runs as a separate `muster sim`
//! process so its RSS and CPU are its own; the load generator is this process (raw hyper
//! HTTP/1.1 over rustls, one keep-alive connection per worker).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use common::{SimProcess, start_sim};

struct Target {
    host: String,
    port: u16,
    token: String,
    tls: TlsConnector,
}

struct Sim {
    process: SimProcess,
    targets: Vec<Arc<Target>>,
}

fn start(clusters: usize) -> (Sim, Duration) {
    let process = start_sim(clusters, None);
    let kubeconfig = &process.kubeconfig;
    let doc: Value = serde_saphyr::from_str(&std::fs::read_to_string(kubeconfig).expect("kubeconfig")).expect("yaml");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let targets = doc["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .zip(doc["users"].as_array().unwrap())
        .map(|(c, u)| {
            let server = c["cluster"]["server"]
                .as_str()
                .unwrap()
                .trim_start_matches("https://")
                .to_string();
            let (host, port) = server.rsplit_once(':').unwrap();
            let pem = base64::engine::general_purpose::STANDARD
                .decode(c["cluster"]["certificate-authority-data"].as_str().unwrap())
                .unwrap();
            let mut roots = rustls::RootCertStore::empty();
            roots.add(CertificateDer::from_pem_slice(&pem).unwrap()).unwrap();
            let config = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
            Arc::new(Target {
                host: host.to_string(),
                port: port.parse().unwrap(),
                token: u["user"]["token"].as_str().unwrap().to_string(),
                tls: TlsConnector::from(Arc::new(config)),
            })
        })
        .collect();
    let startup = process.startup;
    (Sim { process, targets }, startup)
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(t: &Target) -> Sender {
    let tcp = TcpStream::connect((t.host.as_str(), t.port)).await.expect("connect");
    tcp.set_nodelay(true).unwrap();
    let tls = t
        .tls
        .connect(ServerName::try_from(t.host.clone()).unwrap(), tcp)
        .await
        .expect("TLS handshake");
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("HTTP handshake");
    tokio::spawn(conn);
    sender
}

async fn call(sender: &mut Sender, t: &Target, method: &str, path: &str, body: Option<Value>) -> (u16, Bytes) {
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("Host", format!("{}:{}", t.host, t.port))
        .header("Authorization", format!("Bearer {}", t.token));
    if body.is_some() {
        req = req.header("Content-Type", "application/json");
    }
    let req = req
        .body(Full::new(body.map(|b| Bytes::from(b.to_string())).unwrap_or_default()))
        .unwrap();
    sender.ready().await.expect("connection ready");
    let resp = sender.send_request(req).await.expect("response");
    let status = resp.status().as_u16();
    (status, resp.into_body().collect().await.expect("body").to_bytes())
}

/// The small workload every cluster holds: a namespace, a 3-replica Deployment, a Service
/// and a ConfigMap.
async fn load_workload(targets: &[Arc<Target>]) {
    let objects = [
        ("/api/v1/namespaces", json!({"metadata": {"name": "shop"}})),
        (
            "/apis/apps/v1/namespaces/shop/deployments",
            json!({"metadata": {"name": "web", "labels": {"app": "web"}}, "spec": {"replicas": 3,
            "selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]}}}}),
        ),
        (
            "/api/v1/namespaces/shop/services",
            json!({"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
        ),
        (
            "/api/v1/namespaces/shop/configmaps",
            json!({"metadata": {"name": "web-config"}, "data": {"greeting": "hello"}}),
        ),
    ];
    let next = Arc::new(AtomicU64::new(0));
    let targets = Arc::new(targets.to_vec());
    let workers: Vec<_> = (0..32)
        .map(|_| {
            let (next, targets, objects) = (next.clone(), targets.clone(), objects.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some(t) = targets.get(i) else { break };
                    let mut s = connect(t).await;
                    for (path, body) in &objects {
                        let (status, _) = call(&mut s, t, "POST", path, Some(body.clone())).await;
                        assert_eq!(status, 201, "creating {path}");
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
}

/// Poll every cluster's Deployment until all report 3 available replicas.
async fn wait_all_available(targets: &[Arc<Target>]) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut pending: Vec<Arc<Target>> = targets.to_vec();
    while !pending.is_empty() {
        assert!(
            Instant::now() < deadline,
            "{} deployments never became available",
            pending.len()
        );
        let mut still = Vec::new();
        for chunk in pending.chunks(64) {
            let checks: Vec<_> = chunk
                .iter()
                .map(|t| {
                    let t = t.clone();
                    tokio::spawn(async move {
                        let mut s = connect(&t).await;
                        let (_, body) =
                            call(&mut s, &t, "GET", "/apis/apps/v1/namespaces/shop/deployments/web", None).await;
                        let d: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        (
                            t,
                            d.pointer("/status/availableReplicas").and_then(Value::as_i64) == Some(3),
                        )
                    })
                })
                .collect();
            for c in checks {
                let (t, ok) = c.await.unwrap();
                if !ok {
                    still.push(t);
                }
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// utime + stime of a process, in seconds.
fn proc_cpu_seconds(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &s[s.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat are utime and stime; `after` starts at field 3.
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// Run `workers` keep-alive connections, worker i on target i % n, each repeating GET
/// `path` for `secs`. Returns (requests per second, server CPU microseconds per request).
async fn throughput(pid: u32, targets: &[Arc<Target>], workers: usize, path: &str, secs: f64) -> (f64, f64) {
    let count = Arc::new(AtomicU64::new(0));
    let mut senders = Vec::new();
    for i in 0..workers {
        let t = targets[i % targets.len()].clone();
        let mut s = connect(&t).await;
        let (status, _) = call(&mut s, &t, "GET", path, None).await; // warm
        assert_eq!(status, 200, "GET {path}");
        senders.push((s, t));
    }
    let cpu0 = proc_cpu_seconds(pid);
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = senders
        .into_iter()
        .map(|(mut s, t)| {
            let (count, path) = (count.clone(), path.to_string());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let (status, _) = call(&mut s, &t, "GET", &path, None).await;
                    debug_assert_eq!(status, 200);
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = proc_cpu_seconds(pid) - cpu0;
    let n = count.load(Ordering::Relaxed) as f64;
    (n / elapsed, cpu / n * 1e6)
}

fn main() {
    let clusters: usize = std::env::var("SIM_CLUSTERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let secs: f64 = std::env::var("SIM_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // Baseline process: one cluster with the same workload (the fixed cost of a process).
        let (one, _) = start(1);
        load_workload(&one.targets).await;
        wait_all_available(&one.targets).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss_one = proc_status_kib(one.process.child.id(), "VmRSS:");
        drop(one);

        let (sim, startup) = start(clusters);
        let pid = sim.process.child.id();
        let rss_empty = proc_status_kib(pid, "VmRSS:");
        let t = Instant::now();
        load_workload(&sim.targets).await;
        let load_time = t.elapsed();
        let t = Instant::now();
        wait_all_available(&sim.targets).await;
        let rollout_time = t.elapsed();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss = proc_status_kib(pid, "VmRSS:");
        let cpu0 = proc_cpu_seconds(pid);
        tokio::time::sleep(Duration::from_secs(5)).await;
        let idle_cpu = (proc_cpu_seconds(pid) - cpu0) / 5.0 * 100.0;
        let per_cluster = (rss.saturating_sub(rss_one)) as f64 / (clusters.max(2) - 1) as f64;
        println!(
            "sim_fleet: {clusters} clusters started in {:.2}s; workload (namespace, 3-replica Deployment, Service, ConfigMap) loaded in {:.2}s; all {clusters} Deployments available {:.2}s later",
            startup.as_secs_f64(),
            load_time.as_secs_f64(),
            rollout_time.as_secs_f64()
        );
        println!("sim_fleet: RSS 1 cluster {rss_one} KiB; {clusters} clusters {rss_empty} KiB before workload, {rss} KiB with it (3 running pods each)");
        println!("sim_fleet: RSS per idle cluster with workload: {per_cluster:.1} KiB (target <= 200 KiB)");
        println!("sim_fleet: idle CPU of the {clusters}-cluster process over 5 s: {idle_cpu:.2}% of one core");

        let one_target = &sim.targets[..1];
        let fleet_targets = &sim.targets[..sim.targets.len().min(64)];
        let (base, base_cpu) = throughput(pid, one_target, 16, "/healthz", secs).await;
        let (cm, cm_cpu) = throughput(pid, one_target, 16, "/api/v1/namespaces/shop/configmaps/web-config", secs).await;
        let (fleet, fleet_cpu) = throughput(pid, fleet_targets, 64, "/apis/apps/v1/namespaces/shop/deployments/web", secs).await;
        let (list, list_cpu) = throughput(pid, fleet_targets, 64, "/apis/apps/v1/namespaces/shop/deployments", secs).await;
        println!("sim_fleet: baseline GET /healthz, 1 cluster, 16 conns: {base:.0} req/s, {base_cpu:.1} us server CPU/req");
        println!("sim_fleet: GET configmap, 1 cluster, 16 conns: {cm:.0} req/s ({:.2}x baseline), {cm_cpu:.1} us CPU/req", cm / base);
        println!("sim_fleet: GET deployment across {} clusters, 64 conns: {fleet:.0} req/s ({:.2}x baseline), {fleet_cpu:.1} us CPU/req (target >= 20000 req/s)", fleet_targets.len(), fleet / base);
        println!("sim_fleet: LIST deployments across {} clusters, 64 conns: {list:.0} req/s ({:.2}x baseline), {list_cpu:.1} us CPU/req", fleet_targets.len(), list / base);
    });
}
