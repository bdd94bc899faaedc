//! The real kubectl proves the simulator does what kube-apiserver and kube-controller-manager
//! do where muster's comparisons depend on it: each cluster allocates its own cluster IPs and
//! node ports; every namespace gets `kube-root-ca.crt` (its own CA) and a `default`
//! ServiceAccount; pods are admitted with the defaults a real server adds; server-side apply
//! keys ports by number and protocol and words conflicts exactly as kube-apiserver does;
//! controllers own what they write in `managedFields`; and a custom resource is refused until
//! its CRD is Established.

use muster_testkit::{APP_YAML, CRD_YAML, Kubectl, TestFleet, WIDGET_YAML};
use serde_json::Value;

fn json(s: &str) -> Value {
    serde_json::from_str(s).expect("kubectl printed JSON")
}

fn in_both(k: &Kubectl, contexts: &[String], args: &[&str]) -> Vec<String> {
    contexts
        .iter()
        .map(|c| {
            let mut a = vec!["--context", c.as_str()];
            a.extend_from_slice(args);
            k.ok(&a)
        })
        .collect()
}

#[test]
fn services_namespaces_and_pods_as_a_real_cluster_makes_them() {
    let fleet = TestFleet::start(2);
    let Some(k) = Kubectl::new(&fleet.kubeconfig) else {
        return;
    };
    let ctx = &fleet.contexts;
    in_both(&k, ctx, &["create", "ns", "shop"]);
    for c in ctx {
        k.ok_stdin(&["--context", c, "apply", "--server-side", "-f", "-"], APP_YAML);
    }
    // Cluster IPs: allocated per cluster from 10.96.0.0/12, so the same Service differs.
    let ips = in_both(
        &k,
        ctx,
        &["get", "svc", "web", "-n", "shop", "-o", "jsonpath={.spec.clusterIP}"],
    );
    assert_ne!(ips[0], ips[1], "each cluster allocates its own");
    for ip in &ips {
        let octets: Vec<u32> = ip.split('.').map(|o| o.parse().unwrap()).collect();
        assert!(octets[0] == 10 && (96..112).contains(&octets[1]), "{ip}");
    }
    // Node ports: allocated from 30000-32767; one asked for twice is refused.
    let np = "apiVersion: v1\nkind: Service\nmetadata: {name: np, namespace: shop}\nspec: {type: NodePort, selector: {app: web}, ports: [{port: 80}]}\n";
    k.ok_stdin(&["--context", &ctx[0], "apply", "--server-side", "-f", "-"], np);
    let port: u32 = k
        .ok(&[
            "--context",
            &ctx[0],
            "get",
            "svc",
            "np",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.ports[0].nodePort}",
        ])
        .parse()
        .unwrap();
    assert!((30000..=32767).contains(&port), "{port}");
    let taken = format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: np2, namespace: shop}}\nspec: {{type: NodePort, selector: {{app: web}}, ports: [{{port: 80, nodePort: {port}}}]}}\n"
    );
    let out = k.run_stdin(&["--context", &ctx[0], "apply", "--server-side", "-f", "-"], &taken);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("provided port is already allocated"));

    // Every namespace: kube-root-ca.crt with the cluster's own CA, and the default SA.
    let cas = in_both(&k, ctx, &["get", "cm", "kube-root-ca.crt", "-n", "shop", "-o", "json"]);
    let kc: Value = serde_saphyr::from_str(&std::fs::read_to_string(&fleet.kubeconfig).unwrap()).unwrap();
    use base64::Engine as _;
    for (i, ca) in cas.iter().enumerate() {
        let ca = json(ca)["data"]["ca.crt"].as_str().unwrap().to_string();
        let want = base64::engine::general_purpose::STANDARD
            .decode(
                kc["clusters"][i]["cluster"]["certificate-authority-data"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap();
        assert_eq!(ca.as_bytes(), want, "cluster {i} publishes its own CA");
    }
    assert_ne!(cas[0], cas[1]);
    in_both(&k, ctx, &["get", "sa", "default", "-n", "shop"]);

    // Pods are admitted with what a real server adds.
    k.ok(&[
        "--context",
        &ctx[0],
        "wait",
        "--for=condition=Available",
        "deploy/web",
        "-n",
        "shop",
        "--timeout=30s",
    ]);
    let pods = json(&k.ok(&[
        "--context",
        &ctx[0],
        "get",
        "pods",
        "-n",
        "shop",
        "-l",
        "app=web",
        "-o",
        "json",
    ]));
    let pod = &pods["items"][0];
    assert_eq!(pod["spec"]["serviceAccountName"], "default");
    assert_eq!(pod["spec"]["enableServiceLinks"], true);
    assert_eq!(pod["spec"]["priority"], 0);
    assert!(
        pod["spec"]["volumes"][0]["name"]
            .as_str()
            .unwrap()
            .starts_with("kube-api-access-")
    );
    assert_eq!(
        pod["spec"]["containers"][0]["volumeMounts"][0]["mountPath"],
        "/var/run/secrets/kubernetes.io/serviceaccount"
    );
    let tolerations: Vec<&str> = pod["spec"]["tolerations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["key"].as_str())
        .collect();
    assert_eq!(
        tolerations,
        ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"]
    );

    // Controllers own what they write.
    let d = json(&k.ok(&[
        "--context",
        &ctx[0],
        "get",
        "deploy",
        "web",
        "-n",
        "shop",
        "-o",
        "json",
        "--show-managed-fields",
    ]));
    let managers: Vec<(String, String)> = d["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["manager"].as_str().unwrap_or_default().to_string(),
                m["subresource"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert!(managers.contains(&("kubectl".into(), String::new())), "{managers:?}");
    assert!(
        managers.contains(&("kube-controller-manager".into(), "status".into())),
        "{managers:?}"
    );
}

#[test]
fn server_side_apply_keys_and_conflicts_as_kube_apiserver_does() {
    let fleet = TestFleet::start(1);
    let Some(k) = Kubectl::new(&fleet.kubeconfig) else {
        return;
    };
    k.ok(&["create", "ns", "shop"]);
    // Two ports with one number: kept apart by protocol, keyed as the real schema keys them.
    let dns = "apiVersion: v1\nkind: Service\nmetadata: {name: dns, namespace: shop}\nspec: {selector: {app: dns}, ports: [{name: udp, port: 53, protocol: UDP}, {name: tcp, port: 53, protocol: TCP}]}\n";
    k.ok_stdin(&["apply", "--server-side", "-f", "-"], dns);
    let svc = json(&k.ok(&["get", "svc", "dns", "-n", "shop", "-o", "json", "--show-managed-fields"]));
    assert_eq!(svc["spec"]["ports"].as_array().unwrap().len(), 2);
    let fields = svc["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:ports"].to_string();
    assert!(
        fields.contains(r#"k:{\"port\":53,\"protocol\":\"UDP\"}"#)
            && fields.contains(r#"k:{\"port\":53,\"protocol\":\"TCP\"}"#),
        "{fields}"
    );
    // Conflicts, word for word.
    k.ok_stdin(
        &["apply", "--server-side", "--field-manager", "alice", "-f", "-"],
        APP_YAML,
    );
    let bumped = APP_YAML.replace("replicas: 3", "replicas: 5");
    let out = k.run_stdin(
        &["apply", "--server-side", "--field-manager", "bob", "-f", "-"],
        &bumped,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Apply failed with 1 conflict: conflict with \"alice\": .spec.replicas"),
        "{err}"
    );
    // An Update manager is named with its API version and time, as kube-apiserver does.
    k.ok(&["scale", "deploy/web", "-n", "shop", "--replicas", "4"]);
    let out = k.run_stdin(
        &["apply", "--server-side", "--field-manager", "alice", "-f", "-"],
        APP_YAML,
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        err.contains("conflict with \"kubectl\" with subresource \"scale\" using autoscaling/v1 at ")
            || err.contains("conflict with \"kubectl\" with subresource \"scale\" using apps/v1 at "),
        "{err}"
    );
}

#[test]
fn a_custom_resource_waits_for_its_crd_to_be_established() {
    let fleet = TestFleet::start(1);
    let Some(k) = Kubectl::new(&fleet.kubeconfig) else {
        return;
    };
    k.ok(&["create", "ns", "shop"]);
    // One file, CRD and object: refused for the object the first time, as on a real cluster.
    let both = format!("{CRD_YAML}---\n{WIDGET_YAML}");
    let out = k.run_stdin(&["apply", "--server-side", "-f", "-"], &both);
    assert!(
        !out.status.success(),
        "the Widget was accepted before its CRD was Established"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("widgets.example.com serverside-applied"));
    k.ok(&[
        "wait",
        "--for",
        "condition=established",
        "crd/widgets.example.com",
        "--timeout=10s",
    ]);
    k.ok_stdin(&["apply", "--server-side", "-f", "-"], &both);
    assert!(k.ok(&["get", "widgets", "-n", "shop"]).contains("w1"));
}
