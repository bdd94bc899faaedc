//! Scope comes from the cluster: a cluster-scoped custom resource is refused unless the
//! policy allows its kind, on what discovery resolved, before the write is sent.

use crate::support::{Cli, code, path, text};
use muster_testkit::Kubectl;

const CLUSTER_CRD: &str = r"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.example.com}
spec:
  group: example.com
  scope: Cluster
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
";

#[test]
fn cluster_scoped_custom_resources_are_refused_on_what_the_cluster_says() {
    let cli = Cli::new();
    let policy = cli.file(
        "crd-policy.yaml",
        "clusterScopedKinds: [Namespace, CustomResourceDefinition]\n",
    );
    let crd = cli.file("crd.yaml", CLUSTER_CRD);
    let o = cli.muster(&["apply", "-f", path(&crd), "--yes", "--policy", path(&policy)]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let gadget = cli.file(
        "gadget.yaml",
        "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g1}\nspec: {x: 1}\n",
    );
    // The request alone does not say Gadget is cluster-scoped; the cluster does.
    for args in [
        vec!["apply", "-f", path(&gadget), "--yes", "--policy", path(&policy)],
        vec![
            "apply",
            "-f",
            path(&gadget),
            "--yes",
            "--policy",
            path(&policy),
            "-n",
            "default",
        ],
        vec!["apply", "-f", path(&gadget), "--yes"],
    ] {
        let writes = cli.fleet.writes();
        let o = cli.muster(&args);
        assert_eq!(code(&o), 2, "{args:?}: {}", text(&o.stderr));
        let out = text(&o.stdout) + &text(&o.stderr);
        assert!(
            out.contains("is cluster-scoped on this cluster (Gadget.example.com)"),
            "{out}"
        );
        assert_eq!(cli.fleet.writes(), writes, "no write was sent");
    }
    // Delete and scale of it are refused the same way (kubectl made one to delete).
    if let Some(k) = Kubectl::new(&cli.fleet.kubeconfig) {
        k.ok(&["--context", "sim-000", "apply", "--server-side", "-f", path(&gadget)]);
    }
    let writes = cli.fleet.writes();
    let o = cli.muster(&["delete", "gadget/g1", "--yes", "--policy", path(&policy)]);
    assert_eq!(code(&o), 2, "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("is cluster-scoped"), "{}", text(&o.stdout));
    assert_eq!(cli.fleet.writes(), writes, "no delete was sent");
    // Allowed by kind, it applies.
    let allow = cli.file("allow.yaml", "clusterScopedKinds: [Gadget]\n");
    let o = cli.muster(&["apply", "-f", path(&gadget), "--yes", "--policy", path(&allow)]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
}
