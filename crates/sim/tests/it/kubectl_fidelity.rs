//! The real kubectl against a simulated cluster: proof that the simulator speaks the
//! Kubernetes API faithfully enough for kubectl's defaults (no extra flags anywhere).

use std::io::{BufRead as _, BufReader};
use std::time::{Duration, Instant};

use muster_testkit::{APP_YAML, CRD_YAML, Kubectl, TestFleet, WIDGET_YAML};

fn setup() -> Option<(TestFleet, Kubectl)> {
    let fleet = TestFleet::start(1);
    let k = Kubectl::new(&fleet.kubeconfig)?;
    Some((fleet, k))
}

fn yaml(s: &str) -> serde_json::Value {
    serde_saphyr::from_str(s).expect("kubectl printed YAML")
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).expect("kubectl printed JSON")
}

#[test]
fn version_and_api_resources() {
    let Some((_fleet, k)) = setup() else { return };
    let v = json(&k.ok(&["version", "-o", "json"]));
    assert_eq!(v["serverVersion"]["gitVersion"], "v1.32.4");
    let out = k.ok(&["api-resources"]);
    let deploy = out
        .lines()
        .find(|l| l.starts_with("deployments "))
        .expect("deployments listed");
    let cols: Vec<&str> = deploy.split_whitespace().collect();
    assert_eq!(cols, ["deployments", "deploy", "apps/v1", "true", "Deployment"]);
    assert!(
        out.lines().any(|l| l.starts_with("namespaces ") && l.contains("false")),
        "{out}"
    );
    assert!(out.contains("customresourcedefinitions") && out.contains("leases") && out.contains("events.k8s.io/v1"));
    let apps = k.ok(&["api-resources", "--api-group=apps", "-o", "name"]);
    assert_eq!(
        apps.lines().collect::<Vec<_>>(),
        [
            "daemonsets.apps",
            "deployments.apps",
            "replicasets.apps",
            "statefulsets.apps"
        ]
    );
    assert!(k.ok(&["api-versions"]).lines().any(|l| l == "apiextensions.k8s.io/v1"));
}

#[test]
fn namespaces_get_and_create() {
    let Some((_fleet, k)) = setup() else { return };
    let out = k.ok(&["get", "ns"]);
    assert!(out.starts_with("NAME"), "{out}");
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(out.lines().any(|l| l.starts_with(ns) && l.contains("Active")), "{out}");
    }
    assert_eq!(k.ok(&["create", "ns", "shop"]).trim(), "namespace/shop created");
    let ns = yaml(&k.ok(&["get", "ns", "shop", "-o", "yaml"]));
    assert_eq!(ns["metadata"]["labels"]["kubernetes.io/metadata.name"], "shop");
    assert_eq!(ns["status"]["phase"], "Active");
    assert!(k.fails(&["create", "ns", "shop"]).contains("AlreadyExists"));
    let err = k.fails(&["create", "ns", "Bad_Name"]);
    assert!(err.contains("is invalid") && err.contains("metadata.name"), "{err}");
}

#[test]
fn server_side_apply_and_get_formats() {
    let Some((_fleet, k)) = setup() else { return };
    k.ok(&["create", "ns", "shop"]);
    let out = k.ok_stdin(&["apply", "--server-side", "-f", "-"], APP_YAML);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "deployment.apps/web serverside-applied",
            "service/web serverside-applied",
            "configmap/web-config serverside-applied"
        ]
    );

    let d = yaml(&k.ok(&["get", "deploy", "web", "-n", "shop", "-o", "yaml"]));
    assert_eq!(d["spec"]["replicas"], 3);
    assert_eq!(d["metadata"]["generation"], 1);
    assert!(
        d["metadata"].get("managedFields").is_none(),
        "kubectl hides managedFields by default"
    );
    assert_eq!(d["spec"]["strategy"]["type"], "RollingUpdate");

    let full = yaml(&k.ok(&[
        "get",
        "deploy",
        "web",
        "-n",
        "shop",
        "-o",
        "yaml",
        "--show-managed-fields",
    ]));
    let mf = &full["metadata"]["managedFields"][0];
    assert_eq!(
        (mf["manager"].as_str(), mf["operation"].as_str()),
        (Some("kubectl"), Some("Apply"))
    );

    let j = json(&k.ok(&["get", "deploy", "-n", "shop", "-o", "json"]));
    assert_eq!(j["kind"], "List");
    assert_eq!(j["items"][0]["metadata"]["name"], "web");

    let table = k.ok(&["get", "deploy", "-n", "shop"]);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]);
    let wide = k.ok(&["get", "deploy", "-n", "shop", "-o", "wide"]);
    let header: Vec<&str> = wide.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ]
    );
    let row: Vec<&str> = wide.lines().nth(1).unwrap().split_whitespace().collect();
    // READY moves as pods start (0/3 .. 3/3); the desired count is fixed.
    assert!(row[1].ends_with("/3"), "{wide}");
    assert_eq!(
        (row[0], row[5], row[6], row[7]),
        ("web", "web", "nginx:1.27", "app=web")
    );

    let svc = k.ok(&["get", "svc", "web", "-n", "shop"]);
    assert!(
        svc.lines().nth(1).unwrap().contains("ClusterIP") && svc.contains("80/TCP"),
        "{svc}"
    );
    let all = k.ok(&["get", "all", "-n", "shop", "-o", "name"]);
    assert!(
        all.contains("deployment.apps/web") && all.contains("service/web"),
        "{all}"
    );

    // Label selectors.
    assert_eq!(
        k.ok(&["get", "cm", "-n", "shop", "-l", "app=web", "-o", "name"]).trim(),
        "configmap/web-config"
    );
    assert!(
        k.ok(&["get", "cm", "-n", "shop", "-l", "app=other", "-o", "name"])
            .trim()
            .is_empty()
    );
    assert_eq!(
        k.ok(&[
            "get",
            "deploy,svc",
            "-n",
            "shop",
            "-l",
            "tier in (frontend),app",
            "-o",
            "name"
        ])
        .trim(),
        "deployment.apps/web"
    );
    // Re-applying the same configuration changes nothing (once the rollout is done, so the
    // controller's status writes cannot move the resourceVersion in between).
    k.ok(&["rollout", "status", "deploy/web", "-n", "shop", "--timeout=30s"]);
    let rv = k.ok(&[
        "get",
        "deploy",
        "web",
        "-n",
        "shop",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    k.ok_stdin(&["apply", "--server-side", "-f", "-"], APP_YAML);
    assert_eq!(
        rv,
        k.ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            "shop",
            "-o",
            "jsonpath={.metadata.resourceVersion}"
        ])
    );
}

#[test]
fn label_annotate_and_patch() {
    let Some((_fleet, k)) = setup() else { return };
    k.ok(&["create", "ns", "shop"]);
    k.ok_stdin(&["apply", "--server-side", "-f", "-"], APP_YAML);
    let get = |path: &str| {
        k.ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            "shop",
            "-o",
            &format!("jsonpath={{{path}}}"),
        ])
    };

    assert_eq!(
        k.ok(&["label", "deploy", "web", "-n", "shop", "env=prod"]).trim(),
        "deployment.apps/web labeled"
    );
    assert_eq!(get(".metadata.labels.env"), "prod");
    k.ok(&["label", "deploy", "web", "-n", "shop", "env-"]);
    assert_eq!(get(".metadata.labels.env"), "");
    assert_eq!(
        k.ok(&["annotate", "deploy", "web", "-n", "shop", "owner=team-a"])
            .trim(),
        "deployment.apps/web annotated"
    );
    assert_eq!(get(".metadata.annotations.owner"), "team-a");

    k.ok(&[
        "patch",
        "deploy",
        "web",
        "-n",
        "shop",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"replicas":4}}"#,
    ]);
    assert_eq!(get(".spec.replicas"), "4");
    assert_eq!(get(".metadata.generation"), "2");
    k.ok(&[
        "patch",
        "deploy",
        "web",
        "-n",
        "shop",
        "--type",
        "json",
        "-p",
        r#"[{"op":"replace","path":"/spec/replicas","value":5}]"#,
    ]);
    assert_eq!(get(".spec.replicas"), "5");
    // Strategic merge: the container list merges by name, keeping env and ports.
    k.ok(&[
        "patch",
        "deploy",
        "web",
        "-n",
        "shop",
        "--type",
        "strategic",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.28"}]}}}}"#,
    ]);
    assert_eq!(get(".spec.template.spec.containers[0].image"), "nginx:1.28");
    assert_eq!(get(".spec.template.spec.containers[0].env[0].value"), "prod");
    assert_eq!(get(".spec.template.spec.containers[*].name"), "web");
    // The default patch type is strategic.
    k.ok(&[
        "patch",
        "deploy",
        "web",
        "-n",
        "shop",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox"}]}}}}"#,
    ]);
    assert_eq!(get(".spec.template.spec.containers[*].name"), "web sidecar");
    let err = k.fails(&[
        "patch",
        "deploy",
        "web",
        "-n",
        "shop",
        "--type",
        "json",
        "-p",
        r#"[{"op":"test","path":"/spec/replicas","value":1}]"#,
    ]);
    assert!(
        err.contains("Invalid") || err.contains("invalid") || err.contains("test"),
        "{err}"
    );
}

#[test]
fn typed_create_commands_send_protobuf() {
    let Some((_fleet, k)) = setup() else { return };
    k.ok(&["create", "ns", "shop"]);
    k.ok(&[
        "create",
        "deployment",
        "api",
        "-n",
        "shop",
        "--image=nginx:1.27",
        "--replicas=2",
        "--port=8080",
    ]);
    let d = json(&k.ok(&["get", "deploy", "api", "-n", "shop", "-o", "json"]));
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(d["spec"]["selector"]["matchLabels"]["app"], "api");
    assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.27");
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"],
        8080
    );
    assert!(
        d["metadata"]
            .get("creationTimestamp")
            .is_some_and(|t| t.as_str().is_some_and(|s| s.starts_with("20")))
    );
    k.ok(&[
        "create",
        "configmap",
        "settings",
        "-n",
        "shop",
        "--from-literal=a=1",
        "--from-literal=b=2",
    ]);
    assert_eq!(
        k.ok(&["get", "cm", "settings", "-n", "shop", "-o", "jsonpath={.data.b}"]),
        "2"
    );
    k.ok(&[
        "create",
        "secret",
        "generic",
        "creds",
        "-n",
        "shop",
        "--from-literal=password=s3cret",
    ]);
    let s = json(&k.ok(&["get", "secret", "creds", "-n", "shop", "-o", "json"]));
    assert_eq!(s["data"]["password"], "czNjcmV0");
    assert_eq!(s["type"], "Opaque");
    k.ok(&["create", "service", "clusterip", "api", "-n", "shop", "--tcp=80:8080"]);
    assert_eq!(
        k.ok(&[
            "get",
            "svc",
            "api",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.ports[0].targetPort}"
        ]),
        "8080"
    );
    k.ok(&[
        "run",
        "box",
        "-n",
        "shop",
        "--image=busybox:1.36",
        "--labels=role=debug",
    ]);
    assert_eq!(
        k.ok(&[
            "get",
            "pod",
            "box",
            "-n",
            "shop",
            "-o",
            "jsonpath={.metadata.labels.role}"
        ]),
        "debug"
    );
    k.ok(&["create", "serviceaccount", "robot", "-n", "shop"]);
    assert!(k.ok(&["get", "sa", "-n", "shop"]).contains("robot"));
}

#[test]
fn watch_streams_changes() {
    let Some((_fleet, k)) = setup() else { return };
    k.ok(&["create", "ns", "shop"]);
    k.ok(&["create", "configmap", "first", "-n", "shop"]);
    let mut child = k
        .command(&["get", "configmaps", "-n", "shop", "--watch", "-o", "name"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("kubectl --watch starts");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    let mut created = false;
    while Instant::now() < deadline && !seen.iter().any(|l: &String| l.contains("second")) {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.push(line);
        }
        if !created && seen.iter().any(|l| l.contains("first")) {
            k.ok(&["create", "configmap", "second", "-n", "shop"]);
            created = true;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen.iter().any(|l| l == "configmap/first"), "{seen:?}");
    assert!(
        seen.iter().any(|l| l == "configmap/second"),
        "watch did not deliver the new object: {seen:?}"
    );

    // The table form of a watch (kubectl's default output) prints one header.
    let out = k
        .command(&["get", "configmaps", "-n", "shop", "--watch", "--request-timeout=2s"])
        .output()
        .expect("kubectl runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().filter(|l| l.starts_with("NAME")).count(), 1, "{text}");
    assert!(text.contains("first") && text.contains("second"), "{text}");
}

#[test]
fn delete_with_cascade() {
    let Some((_fleet, k)) = setup() else { return };
    k.ok(&["create", "ns", "shop"]);
    k.ok_stdin(&["apply", "--server-side", "-f", "-"], APP_YAML);
    // A ConfigMap owned by the Deployment goes with it (garbage collection).
    let uid = k.ok(&["get", "deploy", "web", "-n", "shop", "-o", "jsonpath={.metadata.uid}"]);
    let owned = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: owned\n  namespace: shop\n  ownerReferences:\n  - {{apiVersion: apps/v1, kind: Deployment, name: web, uid: {uid}}}\n"
    );
    k.ok_stdin(&["apply", "--server-side", "-f", "-"], &owned);
    assert_eq!(
        k.ok(&["delete", "deploy", "web", "-n", "shop"]).trim(),
        "deployment.apps \"web\" deleted"
    );
    assert!(k.fails(&["get", "deploy", "web", "-n", "shop"]).contains("NotFound"));
    assert!(k.fails(&["get", "cm", "owned", "-n", "shop"]).contains("NotFound"));
    k.ok(&["delete", "-n", "shop", "svc", "web"]);
    k.ok(&["delete", "ns", "shop"]);
    assert!(k.fails(&["get", "cm", "web-config", "-n", "shop"]).contains("NotFound"));
    assert!(k.fails(&["get", "ns", "shop"]).contains("NotFound"));
}

#[test]
fn custom_resources() {
    let Some((_fleet, k)) = setup() else { return };
    k.ok(&["create", "ns", "shop"]);
    assert!(
        k.ok_stdin(&["apply", "--server-side", "-f", "-"], CRD_YAML)
            .contains("widgets.example.com serverside-applied")
    );
    // A new CRD is Established a moment later, as on a real cluster: kubectl waits for it.
    k.ok(&[
        "wait",
        "--for",
        "condition=established",
        "crd/widgets.example.com",
        "--timeout=10s",
    ]);
    let crd = json(&k.ok(&["get", "crd", "widgets.example.com", "-o", "json"]));
    assert!(
        crd["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "Established" && c["status"] == "True")
    );
    assert_eq!(
        k.ok_stdin(&["apply", "--server-side", "-f", "-"], WIDGET_YAML).trim(),
        "widget.example.com/w1 serverside-applied"
    );
    let table = k.ok(&["get", "widgets", "-n", "shop"]);
    let lines: Vec<Vec<&str>> = table.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines[0], ["NAME", "SIZE", "COLOR"]);
    assert_eq!(lines[1], ["w1", "3", "blue"]);
    // Short name, other served version, and the scale subresource.
    assert_eq!(
        k.ok(&["get", "wd", "w1", "-n", "shop", "-o", "jsonpath={.spec.color}"]),
        "blue"
    );
    assert_eq!(
        k.ok(&[
            "get",
            "widgets.v1beta1.example.com",
            "w1",
            "-n",
            "shop",
            "-o",
            "jsonpath={.apiVersion}"
        ]),
        "example.com/v1beta1"
    );
    k.ok(&["scale", "widget", "w1", "-n", "shop", "--replicas=7"]);
    assert_eq!(
        k.ok(&["get", "wd", "w1", "-n", "shop", "-o", "jsonpath={.spec.size}"]),
        "7"
    );
    // Custom resources do not take strategic merge patches, as on a real cluster.
    assert!(
        k.fails(&["patch", "wd", "w1", "-n", "shop", "-p", r#"{"spec":{"size":1}}"#])
            .contains("strategic merge patch is not supported")
    );
    k.ok(&[
        "patch",
        "wd",
        "w1",
        "-n",
        "shop",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"size":1}}"#,
    ]);
    k.ok(&["delete", "crd", "widgets.example.com"]);
    let err = k.fails(&["get", "widgets", "-n", "shop"]);
    assert!(
        err.contains("the server doesn't have a resource type")
            || err.contains("could not find the requested resource"),
        "{err}"
    );
}

#[test]
fn credentials_are_enforced() {
    let Some((fleet, k)) = setup() else { return };
    let bad = fleet.dir.path().join("bad.kubeconfig");
    let text = std::fs::read_to_string(&fleet.kubeconfig).unwrap();
    let replaced: String = text
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("token:") {
                "    token: not-the-token".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&bad, replaced).unwrap();
    let bad_k = Kubectl::new(&bad).unwrap();
    let err = bad_k.fails(&["get", "ns"]);
    assert!(
        err.contains("provide credentials") || err.contains("Unauthorized"),
        "{err}"
    );
    let err = bad_k.fails(&["get", "ns", "default", "-o", "json"]);
    assert!(
        err.contains("Unauthorized") || err.contains("provide credentials"),
        "{err}"
    );

    let r = Kubectl::new(&fleet.restricted_kubeconfig).unwrap();
    assert!(r.ok(&["get", "cm"]).is_empty() || r.ok(&["get", "cm"]).contains("NAME"));
    r.ok(&["create", "configmap", "mine"]);
    let err = r.fails(&["get", "pods", "-n", "kube-system"]);
    assert!(
        err.contains("Forbidden") && err.contains("cannot list resource \"pods\""),
        "{err}"
    );
    assert!(r.fails(&["get", "ns"]).contains("Forbidden"));
    // The admin can see what the restricted user made.
    assert!(
        k.ok(&["get", "cm", "mine", "-n", "default", "-o", "name"])
            .contains("configmap/mine")
    );
}
