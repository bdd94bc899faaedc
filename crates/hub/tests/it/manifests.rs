//! `manifests/` installs on a (simulated) hub: the CRDs apply and become Established, and
//! everything else passes a server-side dry run with the real kubectl. The Deployment is
//! what the issue asks: two replicas, non-root, read-only root filesystem, probes, requests.

use std::path::PathBuf;
use std::time::Duration;

use muster_testkit::{Kubectl, TestFleet, eventually_sync};

fn manifests() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../manifests"))
}

#[test]
fn the_manifests_install_with_kubectl_server_side() {
    let _machine = crate::shared_blocking();
    let fleet = TestFleet::start(1);
    let Some(kubectl) = Kubectl::new(&fleet.kubeconfig) else {
        return;
    };
    let m = manifests();
    let path = |p: &str| m.join(p).to_string_lossy().into_owned();
    kubectl.ok(&["apply", "--server-side", "-f", &path("crds/muster.dev.yaml")]);
    for crd in [
        "fleetclusters.muster.dev",
        "fleetcommands.muster.dev",
        "fleetpolicies.muster.dev",
        "fleetrollouts.muster.dev",
    ] {
        eventually_sync(&format!("{crd} Established"), Duration::from_secs(10), || {
            kubectl
                .run(&[
                    "get",
                    "crd",
                    crd,
                    "-o",
                    "jsonpath={.status.conditions[?(@.type==\"Established\")].status}",
                ])
                .stdout
                .starts_with(b"True")
                .then_some(())
        });
    }
    kubectl.ok(&["apply", "--server-side", "-f", &path("hub/00-namespace.yaml")]);
    let out = kubectl.ok(&["apply", "--server-side", "--dry-run=server", "-f", &path("hub")]);
    for object in [
        "serviceaccount/muster-hub",
        "clusterrole.rbac.authorization.k8s.io/muster-hub",
        "clusterrolebinding.rbac.authorization.k8s.io/muster-hub",
        "role.rbac.authorization.k8s.io/muster-hub",
        "rolebinding.rbac.authorization.k8s.io/muster-hub",
        "deployment.apps/muster-hub",
        "service/muster-hub-metrics",
    ] {
        assert!(
            out.contains(&format!("{object} serverside-applied (server dry run)")),
            "{object}:\n{out}"
        );
    }
    assert!(
        kubectl
            .ok(&["get", "deploy,role,rolebinding", "-n", "muster-system", "-o", "name"])
            .trim()
            .is_empty(),
        "a dry run creates nothing"
    );
    assert!(
        kubectl
            .fails(&["get", "sa", "muster-hub", "-n", "muster-system"])
            .contains("NotFound")
    );
    kubectl.ok(&["create", "namespace", "capi"]);
    let capi = std::fs::read_to_string(m.join("capi-namespace.yaml"))
        .unwrap()
        .replace("NAMESPACE", "capi");
    let out = kubectl.ok_stdin(&["apply", "--server-side", "--dry-run=server", "-f", "-"], &capi);
    assert!(
        out.contains("role.rbac.authorization.k8s.io/muster-hub-capi serverside-applied"),
        "{out}"
    );

    // What the Deployment promises.
    let text = std::fs::read_to_string(m.join("hub/deployment.yaml")).unwrap();
    let d: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let pod = &d["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert!(c["resources"]["requests"]["cpu"].is_string() && c["resources"]["requests"]["memory"].is_string());
    // The RBAC gives Secrets only in the hub's namespace (a Role), never cluster-wide.
    let rbac = std::fs::read_to_string(m.join("hub/rbac.yaml")).unwrap();
    let cluster_role = rbac
        .split("\n---\n")
        .find(|d| d.contains("kind: ClusterRole\n"))
        .unwrap();
    assert!(!cluster_role.contains("secrets"), "{cluster_role}");
}
