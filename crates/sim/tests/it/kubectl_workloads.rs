//! The real kubectl against simulated clusters that behave: rollouts, scaling, restarts,
//! waiting on conditions, logs, exec, events, and a broken image failing a rollout.

use std::time::{Duration, Instant};

use muster_testkit::{APP_YAML, Kubectl, TestFleet};

fn setup() -> Option<(TestFleet, Kubectl)> {
    let fleet = TestFleet::start(1);
    let k = Kubectl::new(&fleet.kubeconfig)?;
    k.ok(&["create", "ns", "shop"]);
    k.ok_stdin(&["apply", "--server-side", "-f", "-"], APP_YAML);
    Some((fleet, k))
}

fn pods(k: &Kubectl, selector: &str) -> Vec<String> {
    k.ok(&["get", "pods", "-n", "shop", "-l", selector, "-o", "name"])
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn rollout_scale_restart_and_wait() {
    let Some((_fleet, k)) = setup() else { return };
    let out = k.ok(&["rollout", "status", "deploy/web", "-n", "shop", "--timeout=30s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    let first = pods(&k, "app=web");
    assert_eq!(first.len(), 3, "{first:?}");
    let ready = k.ok(&[
        "get",
        "deploy",
        "web",
        "-n",
        "shop",
        "-o",
        "jsonpath={.status.readyReplicas}/{.status.availableReplicas}/{.status.observedGeneration}",
    ]);
    assert_eq!(ready, "3/3/1");

    k.ok(&["scale", "deploy/web", "-n", "shop", "--replicas=5"]);
    k.ok(&["rollout", "status", "deploy/web", "-n", "shop", "--timeout=30s"]);
    assert_eq!(pods(&k, "app=web").len(), 5);
    assert_eq!(
        k.ok(&["get", "deploy", "web", "-n", "shop", "-o", "jsonpath={.spec.replicas}"]),
        "5"
    );

    k.ok(&["rollout", "restart", "deploy/web", "-n", "shop"]);
    let out = k.ok(&["rollout", "status", "deploy/web", "-n", "shop", "--timeout=60s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    let rs = k.ok(&[
        "get",
        "rs",
        "-n",
        "shop",
        "-l",
        "app=web",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}={.spec.replicas} {end}",
    ]);
    assert_eq!(
        rs.split_whitespace().count(),
        2,
        "a restart makes a second ReplicaSet: {rs}"
    );
    assert!(
        rs.split_whitespace().any(|r| r.ends_with("=0")) && rs.split_whitespace().any(|r| r.ends_with("=5")),
        "{rs}"
    );
    let after = pods(&k, "app=web");
    assert_eq!(after.len(), 5);
    assert!(
        after.iter().all(|p| !first.contains(p)),
        "restart replaced every pod: {first:?} vs {after:?}"
    );
    let revision = k.ok(&[
        "get",
        "deploy",
        "web",
        "-n",
        "shop",
        "-o",
        "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}",
    ]);
    assert_eq!(revision, "2");

    let out = k.ok(&[
        "wait",
        "--for=condition=Available",
        "deploy/web",
        "-n",
        "shop",
        "--timeout=30s",
    ]);
    assert!(out.contains("condition met"), "{out}");
    let table = k.ok(&["get", "pods", "-n", "shop", "-l", "app=web"]);
    assert_eq!(
        table
            .lines()
            .filter(|l| l.contains("Running") && l.contains("1/1"))
            .count(),
        5,
        "{table}"
    );
    let events = k.ok(&["get", "events", "-n", "shop"]);
    for reason in ["ScalingReplicaSet", "SuccessfulCreate", "Scheduled", "Started"] {
        assert!(events.contains(reason), "no {reason} event:\n{events}");
    }
}

#[test]
fn broken_image_fails_the_rollout() {
    let Some((_fleet, k)) = setup() else { return };
    k.ok(&["rollout", "status", "deploy/web", "-n", "shop", "--timeout=30s"]);
    k.ok(&["set", "image", "deploy/web", "-n", "shop", "web=nginx:broken"]);
    let out = k.run(&["rollout", "status", "deploy/web", "-n", "shop", "--timeout=5s"]);
    assert!(!out.status.success(), "a crash-looping image must not roll out");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("timed out"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The old pods keep serving (maxUnavailable), the new ones crash-loop with restarts.
    let table = k.ok(&["get", "pods", "-n", "shop", "-l", "app=web"]);
    assert!(table.contains("CrashLoopBackOff"), "{table}");
    let crashing = k.ok(&[
        "get",
        "pods",
        "-n",
        "shop",
        "-l",
        "app=web",
        "-o",
        "jsonpath={range .items[*]}{.status.containerStatuses[0].lastState.terminated.exitCode}{\"\\n\"}{end}",
    ]);
    assert!(crashing.lines().any(|l| l == "1"), "{crashing}");
    let events = k.ok(&["get", "events", "-n", "shop", "--field-selector", "reason=BackOff"]);
    assert!(events.contains("Back-off restarting failed container"), "{events}");
    assert_eq!(
        k.ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            "shop",
            "-o",
            "jsonpath={.status.availableReplicas}"
        ]),
        "3"
    );

    // An image that never pulls.
    k.ok(&["run", "ghost", "-n", "shop", "--image=app:missing"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = k.ok(&[
            "get",
            "pod",
            "ghost",
            "-n",
            "shop",
            "-o",
            "jsonpath={.status.containerStatuses[0].state.waiting.reason}",
        ]);
        if status == "ImagePullBackOff" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ghost never reached ImagePullBackOff: {status}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn logs_and_exec() {
    let Some((_fleet, k)) = setup() else { return };
    k.ok(&["rollout", "status", "deploy/web", "-n", "shop", "--timeout=30s"]);
    let pod = pods(&k, "app=web").remove(0);
    let tail = k.ok(&["logs", &pod, "-n", "shop", "--tail=5"]);
    assert_eq!(tail.lines().count(), 5, "{tail}");
    assert!(
        tail.lines().all(|l| l.starts_with("20") && l.contains("[web]")),
        "{tail}"
    );
    // The head of a log is fixed once written, so two reads agree byte for byte.
    let head = k.ok(&["logs", &pod, "-n", "shop", "--limit-bytes=1000"]);
    assert_eq!(head.len(), 1000);
    assert_eq!(
        k.ok(&["logs", &pod, "-n", "shop", "--limit-bytes=1000"]),
        head,
        "logs are deterministic"
    );
    let c = k.ok(&["logs", &pod, "-n", "shop", "-c", "web", "--tail=1", "--timestamps"]);
    assert!(c.split_whitespace().next().unwrap().ends_with('Z'), "{c}");
    assert!(
        k.fails(&["logs", &pod, "-n", "shop", "-c", "nope"])
            .contains("not valid for pod")
    );

    // Follow, bounded: new lines arrive while it runs (one per second by default).
    let out = k
        .command(&["logs", "-f", &pod, "-n", "shop", "--tail=1"])
        .first_lines(2, Duration::from_secs(15));
    assert!(out.len() >= 2, "follow streamed {out:?}");

    let hi = k.run(&["exec", &pod, "-n", "shop", "--", "echo", "hi"]);
    assert!(hi.status.success(), "{}", String::from_utf8_lossy(&hi.stderr));
    assert_eq!(String::from_utf8_lossy(&hi.stdout), "hi\n");
    let three = k.run(&["exec", &pod, "-n", "shop", "--", "sh", "-c", "exit 3"]);
    assert_eq!(three.status.code(), Some(3));
    let env = k.ok(&["exec", "deploy/web", "-n", "shop", "--", "env"]);
    assert!(env.lines().any(|l| l == "MODE=prod"), "{env}");
    assert_eq!(
        k.ok_stdin(&["exec", "-i", &pod, "-n", "shop", "--", "cat"], "from stdin\n"),
        "from stdin\n"
    );
    let missing = k.run(&["exec", &pod, "-n", "shop", "--", "frobnicate"]);
    assert_eq!(missing.status.code(), Some(127));
}

#[test]
fn statefulsets_and_daemonsets_roll_out() {
    let Some((_fleet, k)) = setup() else { return };
    let manifest = r"apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec:
  replicas: 2
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: postgres:16}]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: shop}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: agent, image: fluent-bit:3}]}
";
    k.ok_stdin(&["apply", "--server-side", "-f", "-"], manifest);
    k.ok(&["rollout", "status", "sts/db", "-n", "shop", "--timeout=30s"]);
    k.ok(&["rollout", "status", "ds/agent", "-n", "shop", "--timeout=30s"]);
    assert_eq!(pods(&k, "app=db"), ["pod/db-0", "pod/db-1"]);
    let nodes = k.ok(&["get", "nodes", "-o", "name"]).lines().count();
    assert_eq!(pods(&k, "app=agent").len(), nodes);
    k.ok(&["rollout", "restart", "sts/db", "-n", "shop"]);
    k.ok(&["rollout", "status", "sts/db", "-n", "shop", "--timeout=60s"]);
    let revs = k.ok(&[
        "get",
        "sts",
        "db",
        "-n",
        "shop",
        "-o",
        "jsonpath={.status.currentRevision} {.status.updateRevision} {.status.updatedReplicas}",
    ]);
    let parts: Vec<&str> = revs.split_whitespace().collect();
    assert_eq!((parts[0] == parts[1], parts[2]), (true, "2"), "{revs}");
}

/// Run a command until it has printed `n` lines (or `within` passed), then stop it.
trait FirstLines {
    fn first_lines(self, n: usize, within: Duration) -> Vec<String>;
}

impl FirstLines for std::process::Command {
    fn first_lines(mut self, n: usize, within: Duration) -> Vec<String> {
        use std::io::BufRead as _;
        let mut child = self
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + within;
        let mut lines = Vec::new();
        while lines.len() < n {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => lines.push(line),
                Err(_) => break, // the deadline passed, or the command ended
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        lines
    }
}

#[test]
fn endpointslices_follow_the_service_pods_with_nodes_and_zones() {
    let Some((_fleet, k)) = setup() else { return };
    k.ok(&["rollout", "status", "deploy/web", "-n", "shop", "--timeout=30s"]);
    // As kube-controller-manager: one slice per Service, named after it, labelled with it.
    let slices = muster_testkit::eventually_sync("the slice lists three ready pods", Duration::from_secs(20), || {
        let out = k.ok(&["get", "endpointslices", "-n", "shop"]);
        let three = out
            .lines()
            .nth(1)
            .and_then(|row| row.split_whitespace().nth(3))
            .is_some_and(|eps| eps.split(',').count() == 3);
        (out.lines().count() == 2 && three).then_some(out)
    });
    let header: Vec<&str> = slices.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"], "{slices}");
    let row: Vec<&str> = slices.lines().nth(1).unwrap().split_whitespace().collect();
    assert!(
        row[0].starts_with("web-") && row[1] == "IPv4" && row[2] == "80",
        "{slices}"
    );
    assert_eq!(row[3].split(',').count(), 3, "{slices}");
    let labelled = k.ok(&[
        "get",
        "endpointslices",
        "-n",
        "shop",
        "-l",
        "kubernetes.io/service-name=web",
        "-o",
        "jsonpath={range .items[0].endpoints[*]}{.nodeName}/{.zone}/{.conditions.ready} {end}",
    ]);
    let endpoints: Vec<&str> = labelled.split_whitespace().collect();
    assert_eq!(endpoints.len(), 3, "{labelled}");
    assert!(
        endpoints
            .iter()
            .all(|e| e.contains("-node-") && e.contains("/sim-1") && e.ends_with("/true")),
        "{labelled}"
    );
    // As on a real cluster, the apiserver's own slice.
    let default = k.ok(&["get", "endpointslices", "-n", "default", "--no-headers"]);
    let row: Vec<&str> = default.split_whitespace().collect();
    assert_eq!(&row[..4], ["kubernetes", "IPv4", "6443", "172.18.0.2"], "{default}");
    // Nodes carry their zone.
    let zones = k.ok(&["get", "nodes", "-L", "topology.kubernetes.io/zone", "--no-headers"]);
    assert!(zones.contains("sim-1a") && zones.contains("sim-1b"), "{zones}");
    // Scaled down, the slice follows.
    k.ok(&["scale", "deploy/web", "-n", "shop", "--replicas=1"]);
    muster_testkit::eventually_sync("one endpoint left", Duration::from_secs(20), || {
        let out = k.ok(&[
            "get",
            "endpointslices",
            "-n",
            "shop",
            "-o",
            "jsonpath={.items[0].endpoints[*].addresses[0]}",
        ]);
        (out.split_whitespace().count() == 1).then_some(())
    });
    // And goes with its Service.
    k.ok(&["delete", "svc", "web", "-n", "shop"]);
    muster_testkit::eventually_sync("the slice deleted with its Service", Duration::from_secs(20), || {
        k.ok(&["get", "endpointslices", "-n", "shop", "-o", "name"])
            .trim()
            .is_empty()
            .then_some(())
    });
}

#[test]
fn pods_fail_as_real_clusters_fail_and_kubectl_describes_them() {
    let fleet = TestFleet::start(1);
    let Some(k) = Kubectl::new(&fleet.kubeconfig) else {
        return;
    };
    k.ok(&["create", "ns", "bad"]);
    let pod = |name: &str, spec: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: bad}}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n{spec}"
        )
    };
    let specs = [
        (
            "big",
            "      containers: [{name: app, image: 'app:1', resources: {requests: {cpu: '16', memory: 1Gi}}}]\n",
        ),
        (
            "mount",
            "      containers: [{name: app, image: 'app:1', volumeMounts: [{name: config, mountPath: /etc/app}]}]\n      volumes: [{name: config, configMap: {name: app-config}}]\n",
        ),
        (
            "probe",
            "      containers: [{name: app, image: 'app:1-unready', readinessProbe: {httpGet: {path: /healthz, port: 8080}}}]\n",
        ),
        ("oom", "      containers: [{name: app, image: 'app:2-oom'}]\n"),
        (
            "init",
            "      initContainers: [{name: migrate, image: 'tools:notfound'}]\n      containers: [{name: app, image: 'app:1'}]\n",
        ),
    ];
    for (name, spec) in specs {
        k.ok_stdin(&["apply", "--server-side", "-f", "-"], &pod(name, spec));
    }
    let describe = |app: &str| k.ok(&["describe", "pod", "-n", "bad", "-l", &format!("app={app}")]);
    let shows = |app: &str, needles: &[&str]| {
        muster_testkit::eventually_sync(&format!("{app} described"), Duration::from_secs(30), || {
            let d = describe(app);
            needles.iter().all(|n| d.contains(n)).then_some(d)
        })
    };
    shows(
        "big",
        &[
            "FailedScheduling",
            "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.",
            "default-scheduler",
        ],
    );
    shows(
        "mount",
        &[
            "FailedMount",
            "MountVolume.SetUp failed for volume \"config\" : configmap \"app-config\" not found",
        ],
    );
    shows(
        "probe",
        &[
            "Unhealthy",
            "Readiness probe failed: HTTP probe failed with statuscode: 503",
        ],
    );
    shows("oom", &["OOMKilled", "Exit Code:    137"]);
    shows("init", &["Exit Code:    127"]);
    let table = k.ok(&["get", "pods", "-n", "bad", "--no-headers"]);
    let status_of = |app: &str| {
        table
            .lines()
            .find(|l| l.starts_with(&format!("{app}-")))
            .map(|l| l.split_whitespace().nth(2).unwrap_or_default().to_string())
            .unwrap_or_default()
    };
    assert_eq!(status_of("big"), "Pending", "{table}");
    assert_eq!(status_of("mount"), "ContainerCreating", "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("probe-") && l.contains(" 0/1 ") && l.contains("Running")),
        "{table}"
    );
    // The ConfigMap appears: the pod starts.
    k.ok(&["create", "configmap", "app-config", "-n", "bad", "--from-literal=a=1"]);
    muster_testkit::eventually_sync("the mount pod running", Duration::from_secs(30), || {
        let t = k.ok(&["get", "pods", "-n", "bad", "-l", "app=mount", "--no-headers"]);
        t.contains("Running").then_some(())
    });
}
