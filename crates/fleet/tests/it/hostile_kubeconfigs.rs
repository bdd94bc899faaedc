//! Kubeconfigs are hostile input: a hub Secret's kubeconfig may carry inline data only (a
//! file reference would send a local file to a server the Secret chose; an exec plugin or
//! an auth provider would run a program), and an allowed exec plugin of a local kubeconfig
//! runs with a clean environment, in a process group killed whole at its timeout.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, PostParams};
use muster_fleet::registry::capi::ClusterApiSource;
use muster_fleet::registry::{FleetConfig, Registry, kubeconfig};
use muster_sim::{Fleet, FleetOptions};
use muster_testkit::capi::kubeconfig_for;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_secrets_may_carry_inline_data_only() {
    let fleet = Fleet::start(FleetOptions::default().clusters(2)).await.unwrap();
    let hub = muster_testkit::kube_client(&fleet, "sim-000").await;
    let ns: Api<Namespace> = Api::all(hub.clone());
    ns.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "capi"}})).unwrap(),
    )
    .await
    .unwrap();
    // What an attacker wants: this host's token file, sent to a server of their choice.
    let dir = tempfile::tempdir().unwrap();
    let local_token = "local-token-that-must-not-leave-this-host";
    let token_path = dir.path().join("token");
    std::fs::write(&token_path, local_token).unwrap();
    let pem_path = dir.path().join("some.pem");
    std::fs::write(&pem_path, "not really").unwrap();
    let base: Value = muster_core::yaml::parse(&kubeconfig_for(&fleet, "sim-001")).unwrap();
    fn user(v: &mut Value) -> &mut Value {
        let u = v["users"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|u| u["name"] == "sim-001")
            .unwrap();
        &mut u["user"]
    }
    fn cluster(v: &mut Value) -> &mut Value {
        let c = v["clusters"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|c| c["name"] == "sim-001")
            .unwrap();
        &mut c["cluster"]
    }
    let token = token_path.display().to_string();
    let pem = pem_path.display().to_string();
    /// A variant: its name, how it edits the kubeconfig, and the field its error names.
    type Variant<'a> = (&'a str, Box<dyn Fn(&mut Value) + 'a>, &'a str);
    let variants: Vec<Variant<'_>> = vec![
        (
            "tokenfile",
            Box::new(|v| *user(v) = json!({"tokenFile": token})),
            "tokenFile",
        ),
        (
            "clientcert",
            Box::new(|v| *user(v) = json!({"client-certificate": pem, "client-key-data": "a2V5"})),
            "client-certificate",
        ),
        (
            "clientkey",
            Box::new(|v| *user(v) = json!({"client-certificate-data": "Y2VydA==", "client-key": pem})),
            "client-key",
        ),
        (
            "cafile",
            Box::new(|v| {
                let c = cluster(v);
                c.as_object_mut().unwrap().remove("certificate-authority-data");
                c["certificate-authority"] = json!(pem);
            }),
            "certificate-authority",
        ),
        (
            "exec",
            Box::new(
                |v| *user(v) = json!({"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "/bin/cat", "args": [token]}}),
            ),
            "exec",
        ),
        (
            "authprovider",
            Box::new(|v| *user(v) = json!({"auth-provider": {"name": "gcp"}})),
            "auth-provider",
        ),
        (
            "proxy",
            Box::new(|v| cluster(v)["proxy-url"] = json!("http://127.0.0.1:9")),
            "proxy-url",
        ),
        (
            "plainhttp",
            Box::new(|v| {
                let server = cluster(v)["server"].as_str().unwrap().replace("https://", "http://");
                cluster(v)["server"] = json!(server);
            }),
            "plain http://",
        ),
    ];
    let secrets: Api<Secret> = Api::namespaced(hub.clone(), "capi");
    for (name, edit, _) in &variants {
        let mut kc = base.clone();
        edit(&mut kc);
        let mut s: Secret = serde_json::from_value(json!({
            "metadata": {"name": format!("{name}-kubeconfig"), "labels": {"cluster.x-k8s.io/cluster-name": name}},
            "type": "cluster.x-k8s.io/secret",
        }))
        .unwrap();
        s.data = Some(BTreeMap::from([(
            "value".into(),
            ByteString(muster_core::yaml::to_string(&kc).unwrap().into_bytes()),
        )]));
        secrets.create(&PostParams::default(), &s).await.unwrap();
    }
    let target = fleet.cluster("sim-001").unwrap();
    let before = target.counters().requests;
    let source = ClusterApiSource::new(hub.clone(), vec!["capi".into()], Arc::new(FleetConfig::default()));
    let registry = Arc::new(Registry::new());
    assert_eq!(source.sync(&registry).await.unwrap(), variants.len());
    for (name, _, field) in &variants {
        let m = registry.get(&format!("capi/{name}")).unwrap();
        let reason = &m
            .invalid
            .as_ref()
            .unwrap_or_else(|| panic!("{name} was accepted"))
            .reason;
        assert!(
            reason.starts_with(&format!("Secret capi/{name}-kubeconfig: ")) && reason.contains(field),
            "{name}: {reason}"
        );
        assert!(!reason.contains(local_token));
        assert!(m.client().await.is_err(), "{name}: an Invalid member has no client");
    }
    assert_eq!(
        target.counters().requests,
        before,
        "the chosen server was never contacted"
    );
    // The same kubeconfig as a local file is trusted with its file references.
    let mut local = base.clone();
    *user(&mut local) = json!({"tokenFile": token});
    let path = dir.path().join("local.kubeconfig");
    std::fs::write(&path, muster_core::yaml::to_string(&local).unwrap()).unwrap();
    let r = Registry::new();
    kubeconfig::load(&r, std::slice::from_ref(&path));
    assert!(r.get("sim-001").unwrap().invalid.is_none());
    fleet.shutdown().await;
}

#[tokio::test]
async fn exec_plugins_get_a_clean_environment_and_die_with_their_group() {
    let fleet = Fleet::start(FleetOptions::default().clusters(1)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let script = |name: &str, body: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p.display().to_string()
    };
    let token = fleet.cluster("sim-000").unwrap().admin_token().expose().to_string();
    // Prints the token only when its environment is clean (no LD_PRELOAD, the kubeconfig's
    // PATH not applied, none of the test runner's CARGO_* variables) and the allowed
    // variable arrived.
    let env_plugin = script(
        "env-plugin",
        &format!(
            r#"if [ -n "$LD_PRELOAD$CARGO$CARGO_PKG_NAME" ] || [ "$PATH" = /tmp/evil ] || [ "$REGION" != eu ]; then echo "dirty: $(env)" >&2; exit 3; fi
printf '{{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{{"token":"{token}"}}}}'"#
        ),
    );
    let pidfile = dir.path().join("child.pid");
    let group_plugin = script(
        "group-plugin",
        &format!("sleep 60 &\necho $! > {}\nsleep 60", pidfile.display()),
    );
    let slow_plugin = script("slow-plugin", "sleep 60");
    let mut kc: Value = muster_core::yaml::parse(&fleet.kubeconfig()).unwrap();
    let exec = |command: &str, env: Value| json!({"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": command, "env": env}});
    kc["users"] = json!([
        {"name": "clean", "user": exec(&env_plugin, json!([{"name": "REGION", "value": "eu"}]))},
        {"name": "path", "user": exec(&env_plugin, json!([{"name": "PATH", "value": "/tmp/evil"}]))},
        {"name": "preload", "user": exec(&env_plugin, json!([{"name": "LD_PRELOAD", "value": "/tmp/evil.so"}]))},
        {"name": "group", "user": exec(&group_plugin, json!([]))},
        {"name": "slow", "user": exec(&slow_plugin, json!([]))},
    ]);
    let cluster = kc["clusters"][0]["name"].clone();
    kc["contexts"] = json!(
        ["clean", "path", "preload", "group", "slow"]
            .iter()
            .map(|u| json!({"name": u, "context": {"cluster": cluster, "user": u}}))
            .collect::<Vec<_>>()
    );
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, muster_core::yaml::to_string(&kc).unwrap()).unwrap();
    let cfg = FleetConfig::parse(
        "inline",
        &format!(
            "execPlugins:\n- {{command: {env_plugin}, env: [REGION]}}\n- {{command: {group_plugin}, timeoutSeconds: 1}}\n- {{command: {slow_plugin}, timeoutSeconds: 30}}\n"
        ),
    )
    .unwrap();
    let registry = Registry::with_config(&cfg);
    kubeconfig::load_with(&registry, std::slice::from_ref(&path), &cfg);
    for name in ["path", "preload"] {
        let reason = registry.get(name).unwrap().invalid.clone().unwrap().reason;
        assert!(reason.contains("does not allow"), "{name}: {reason}");
    }
    let clean = registry.get("clean").unwrap();
    let v = clean.client().await.unwrap().apiserver_version().await.unwrap();
    assert_eq!(v.git_version, "v1.32.4");

    let t = std::time::Instant::now();
    let Err(err) = registry.get("group").unwrap().client().await else {
        panic!("a hanging plugin gave a client")
    };
    let err = err.to_string();
    assert!(err.contains("process group was killed"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(5));
    let child: u32 = muster_testkit::eventually("the plugin to record its child", Duration::from_secs(5), || {
        let p = pidfile.clone();
        async move { std::fs::read_to_string(p).ok()?.trim().parse().ok() }
    })
    .await;
    muster_testkit::eventually(
        "the plugin's child to be killed with its group",
        Duration::from_secs(5),
        || async move {
            let alive = std::fs::read_to_string(format!("/proc/{child}/stat"))
                .is_ok_and(|s| s.split_whitespace().nth(2).is_none_or(|state| state != "Z"));
            (!alive).then_some(())
        },
    )
    .await;

    // A plugin's own timeout (30 s) is capped by the command's deadline (1 s).
    let registry = Arc::new(registry);
    let fanout = muster_fleet::fanout::Fanout::new(
        registry.clone(),
        muster_core::policy::Policy::default(),
        muster_fleet::settings::Settings::default().deadline(Duration::from_secs(1)),
    );
    let mut get = muster_testkit::command(muster_core::command::Action::Get);
    get.target = Some("ns/default".parse().unwrap());
    let t = std::time::Instant::now();
    let results: Vec<muster_core::result::ExecResult> = futures::StreamExt::collect(fanout.run(
        Arc::new(get),
        vec![registry.get("slow").unwrap()],
        tokio_util::sync::CancellationToken::new(),
        None,
    ))
    .await;
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let message = &results[0].error.as_ref().unwrap().message;
    assert!(
        message.contains("did not finish within 1s") || message.contains("0.9"),
        "{message}"
    );
    fleet.shutdown().await;
}
