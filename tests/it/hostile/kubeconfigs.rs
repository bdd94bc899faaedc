//! Local kubeconfigs, read as kubectl reads them but checked harder: a token file with a
//! trailing newline works, a directory is named as one, a CA that is not a certificate makes
//! the member Invalid at load, plain `http://` with credentials is warned about loudly, and a
//! server certificate that fails verification is a final failure, not a retried outage.
//! (Kubeconfigs from hub Secrets: muster-fleet's tests.)

use serde_json::{Value, json};

use crate::support::{Cli, code, path, text};

/// The fleet's kubeconfig with one extra context `name` on sim-000's server, edited by `f`.
fn variant(cli: &Cli, name: &str, f: impl Fn(&mut Value, &mut Value)) -> std::path::PathBuf {
    let kc: Value = muster_core::yaml::parse(&std::fs::read_to_string(&cli.fleet.kubeconfig).unwrap()).unwrap();
    let mut cluster = kc["clusters"][0]["cluster"].clone();
    let mut user = kc["users"][0]["user"].clone();
    f(&mut cluster, &mut user);
    let doc = json!({
        "apiVersion": "v1", "kind": "Config", "current-context": name,
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
    });
    cli.file(
        &format!("{name}.kubeconfig"),
        &muster_core::yaml::to_string(&doc).unwrap(),
    )
}

#[test]
fn local_kubeconfigs_are_checked_at_load() {
    let cli = Cli::new();
    let token =
        muster_core::yaml::parse::<Value>(&std::fs::read_to_string(&cli.fleet.kubeconfig).unwrap()).unwrap()["users"]
            [0]["user"]["token"]
            .as_str()
            .unwrap()
            .to_string();
    // A token file ending in a newline (as editors write them) works, as with kubectl.
    let token_file = cli.file("token", &format!("{token}\n"));
    let kc = variant(&cli, "newline", |_, u| *u = json!({"tokenFile": path(&token_file)}));
    let o = cli.muster(&["get", "ns/default", "--kubeconfig", path(&kc), "-o", "json"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));

    // A directory given as the token file is named as one.
    let kc = variant(&cli, "dir", |_, u| {
        *u = json!({"tokenFile": cli.fleet.dir.path().display().to_string()})
    });
    let o = cli.muster(&["clusters", "--kubeconfig", path(&kc), "-o", "json"]);
    let listed: Value = serde_json::from_slice(&o.stdout).unwrap();
    let reason = listed[0]["invalid"].as_str().unwrap_or_default();
    assert!(reason.contains("is a directory"), "{listed}");

    // A CA that is not a certificate: Invalid at load, for data and for a file alike.
    use base64::Engine as _;
    let junk = base64::engine::general_purpose::STANDARD
        .encode("-----BEGIN CERTIFICATE-----\nnot base64 der\n-----END CERTIFICATE-----\n");
    let kc = variant(&cli, "badca", |c, _| c["certificate-authority-data"] = json!(junk));
    let o = cli.muster(&["clusters", "--kubeconfig", path(&kc), "-o", "json"]);
    let listed: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        listed[0]["invalid"]
            .as_str()
            .unwrap_or_default()
            .contains("does not hold a PEM certificate"),
        "{listed}"
    );
    let ca_file = cli.file("ca.pem", "hello");
    let kc = variant(&cli, "badcafile", |c, _| {
        c.as_object_mut().unwrap().remove("certificate-authority-data");
        c["certificate-authority"] = json!(path(&ca_file));
    });
    let o = cli.muster(&["clusters", "--kubeconfig", path(&kc), "-o", "json"]);
    assert!(
        text(&o.stdout).contains("does not hold a PEM certificate"),
        "{}",
        text(&o.stdout)
    );

    // Plain http:// with a token: a loud warning.
    let kc = variant(&cli, "plain", |c, _| {
        let s = c["server"].as_str().unwrap().replace("https://", "http://");
        c["server"] = json!(s);
    });
    let o = cli.muster(&["clusters", "--kubeconfig", path(&kc)]);
    assert!(text(&o.stderr).contains("plain http://"), "{}", text(&o.stderr));
    assert!(!text(&o.stderr).contains(&token) && !text(&o.stdout).contains(&token));

    // Another cluster's CA: verification fails, once, as a final failure.
    let other: Value = muster_core::yaml::parse(&std::fs::read_to_string(&cli.fleet.kubeconfig).unwrap()).unwrap();
    let other_ca = other["clusters"][1]["cluster"]["certificate-authority-data"].clone();
    let kc = variant(&cli, "wrongca", |c, _| {
        c["certificate-authority-data"] = other_ca.clone()
    });
    let o = cli.muster(&["get", "ns/default", "--kubeconfig", path(&kc), "-o", "json"]);
    assert_eq!(code(&o), 1);
    let results: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(results[0]["status"], "Failed", "{results:?}");
    assert_eq!(results[0]["error"]["reason"], "TLSVerificationFailed");
    assert_eq!(results[0]["attempts"], 1, "not retried");
}
