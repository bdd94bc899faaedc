//! Namespaces and names are validated types: nothing typed reaches a URL path unescaped.

use super::refused;
use crate::support::{Cli, path};

#[test]
fn namespaces_and_names_that_walk_out_are_refused_before_any_request() {
    let cli = Cli::new();
    for ns in [
        "shop/../kube-system",
        "../kube-system",
        "shop%2F..%2Fkube-system",
        "Shop",
        "shop/",
        "-shop",
        "shop?x=1",
        "shop#frag",
        "",
    ] {
        let flag = format!("--namespace={ns}");
        refused(&cli, &["delete", "cm/web-config", &flag, "--yes"], "invalid namespace");
        refused(&cli, &["get", "cm", &flag], "invalid namespace");
    }
    for target in [
        "cm/..",
        "cm/../x",
        "cm/a/b",
        "cm/a%2F..%2Fkube-root-ca.crt",
        "cm/x?watch=true",
        "cm/x#y",
        "cm/ x",
        "../cm/x",
    ] {
        refused(&cli, &["delete", target, "-n", "shop", "--yes"], "invalid target");
    }
    // Manifests: the namespace and the name are checked too.
    for (doc, says) in [
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: shop/../kube-system}\n",
            "invalid namespace",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ../a}\n",
            "invalid name",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: 'a?b'}\n",
            "invalid name",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: 7}\n",
            "must be a string",
        ),
    ] {
        let f = cli.file("bad.yaml", doc);
        refused(&cli, &["apply", "-f", path(&f), "--yes"], says);
    }
}
