//! A manifest's namespace must agree with `-n`, as kubectl insists, before any request.

use super::refused;
use crate::support::{Cli, code, path, text};

#[test]
fn a_manifest_in_another_namespace_than_n_is_refused() {
    let cli = Cli::new();
    for doc in [
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: default}\n".to_string(),
        // The second document of several.
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: default}\n".into(),
        // Inside a List.
        "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: c, namespace: kube-public}}\n".into(),
        // JSON.
        r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d", "namespace": "default"}}"#.into(),
    ] {
        let f = cli.file("other-ns.yaml", &doc);
        let err = refused(&cli, &["apply", "-f", path(&f), "-n", "shop", "--yes"], "does not match the namespace");
        assert!(err.contains("--namespace="), "{err}");
    }
    // Without -n, the manifest's namespace is used; with a matching -n, it applies.
    let ns = cli.file("ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n");
    let policy = path(&cli.policy);
    let o = cli.muster(&["apply", "-f", path(&ns), "--yes", "--policy", policy]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let same = cli.file(
        "same.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: shop}\n",
    );
    let o = cli.muster(&["apply", "-f", path(&same), "-n", "shop", "--yes"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
}
