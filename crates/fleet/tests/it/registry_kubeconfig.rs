//! The registry's kubeconfig source against simulated fleets: members per context, lazy
//! clients, selection, health probing (with injected faults), exec plugins and proxies.
//! (`muster clusters` end to end is in the root package's tests.)

use muster_fleet::registry::{HealthState, Registry, Selection, health, kubeconfig};
use muster_sim::{Faults, Fleet, FleetOptions};

#[tokio::test]
async fn members_are_lazy_probed_and_selected() {
    let fleet = Fleet::start(FleetOptions::default().clusters(3)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    fleet.write_kubeconfig(&path).unwrap();
    let registry = Registry::new();
    let report = kubeconfig::load(&registry, &[path]);
    assert!(report.failed.is_empty());
    assert_eq!(registry.len(), 3);
    assert!(
        registry.members().iter().all(|m| !m.client_built()),
        "no client may be built before use"
    );

    for m in registry.members() {
        let h = health::probe(&m, health::UNHEALTHY_AFTER).await;
        assert_eq!(
            (h.state, h.version.as_deref()),
            (HealthState::Healthy, Some("v1.32.4")),
            "{}",
            m.name
        );
        assert!(m.client_built());
    }

    // A refusing cluster turns Unhealthy after three failed probes, and Healthy after one success.
    let sick = registry.get("sim-001").unwrap();
    fleet
        .cluster("sim-001")
        .unwrap()
        .set_faults(Faults {
            refuse: true,
            ..Default::default()
        })
        .unwrap();
    fleet
        .cluster("sim-001")
        .unwrap()
        .settled(std::time::Duration::from_secs(5))
        .await
        .unwrap();
    for expected in [HealthState::Healthy, HealthState::Healthy, HealthState::Unhealthy] {
        let h = health::probe(&sick, health::UNHEALTHY_AFTER).await;
        assert_eq!(h.state, expected, "{h:?}");
    }
    assert!(sick.health().last_error.unwrap().contains("sim-001"));
    fleet.cluster("sim-001").unwrap().set_faults(Faults::default()).unwrap();
    let mut healthy = false;
    for _ in 0..20 {
        if health::probe(&sick, health::UNHEALTHY_AFTER).await.state == HealthState::Healthy {
            healthy = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(healthy, "one successful probe makes a member Healthy again");

    // The background prober notices a cluster going away, and coming back.
    let registry = std::sync::Arc::new(registry);
    let prober = tokio::spawn(health::prober(
        registry.clone(),
        std::time::Duration::from_millis(50),
        8,
        false,
        |_| {},
    ));
    fleet
        .cluster("sim-002")
        .unwrap()
        .set_faults(Faults {
            refuse: true,
            ..Default::default()
        })
        .unwrap();
    let wait_for = |state: HealthState| {
        let m = registry.get("sim-002").unwrap();
        async move {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while m.health().state != state {
                assert!(
                    std::time::Instant::now() < deadline,
                    "sim-002 never became {state:?}: {:?}",
                    m.health()
                );
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    };
    wait_for(HealthState::Unhealthy).await;
    fleet.cluster("sim-002").unwrap().set_faults(Faults::default()).unwrap();
    wait_for(HealthState::Healthy).await;
    prober.abort();

    let pick = |c: Option<&str>, s: Option<&str>| Selection::parse(c, s).unwrap().select(&registry);
    let names = |r: Result<Vec<std::sync::Arc<muster_fleet::registry::Member>>, _>| {
        r.unwrap().iter().map(|m| m.name.clone()).collect::<Vec<_>>()
    };
    assert_eq!(names(pick(Some("sim-00*"), None)), ["sim-000", "sim-001", "sim-002"]);
    assert_eq!(names(pick(Some("sim-002, sim-000"), None)), ["sim-000", "sim-002"]);
    let err = pick(Some("prod-*"), None).unwrap_err().to_string();
    assert!(
        err.contains("--clusters 'prod-*'") && err.contains("sim-000, sim-001, sim-002 (3 in all)"),
        "{err}"
    );
    let err = pick(None, Some("env=prod")).unwrap_err().to_string();
    assert!(err.contains("--cluster-selector 'env=prod'"), "{err}");
    let err = Selection::parse(None, Some("env in (prod")).unwrap_err().to_string();
    assert!(err.contains("position 12"), "{err}");
    fleet.shutdown().await;
}

#[tokio::test]
async fn exec_plugins_run_only_when_allowed_and_time_out() {
    use std::os::unix::fs::PermissionsExt as _;
    let fleet = Fleet::start(FleetOptions::default().clusters(1)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, fleet.cluster("sim-000").unwrap().admin_token().expose()).unwrap();
    let script = |name: &str, body: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p.display().to_string()
    };
    let good = script(
        "good-plugin",
        r#"printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"2099-01-01T00:00:00Z"}}' "$(cat "$1")""#,
    );
    let hang = script("hang-plugin", "sleep 30");
    let mut kc: serde_json::Value = muster_core::yaml::parse(&fleet.kubeconfig()).unwrap();
    let user = |command: &str| serde_json::json!({"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": command, "args": [token_file.display().to_string()]}});
    kc["users"] = serde_json::json!([{"name": "good", "user": user(&good)}, {"name": "hang", "user": user(&hang)}]);
    let cluster = kc["clusters"][0]["name"].clone();
    kc["contexts"] = serde_json::json!([{"name": "good", "context": {"cluster": cluster, "user": "good"}}, {"name": "hang", "context": {"cluster": cluster, "user": "hang"}}]);
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, muster_core::yaml::to_string(&kc).unwrap()).unwrap();

    // Denied by default.
    let denied = Registry::new();
    kubeconfig::load(&denied, std::slice::from_ref(&path));
    assert!(
        denied
            .get("good")
            .unwrap()
            .invalid
            .as_ref()
            .unwrap()
            .reason
            .contains("not allowed")
    );

    let fleet_cfg = muster_fleet::registry::FleetConfig::parse(
        "inline",
        &format!("execPlugins:\n- command: {good}\n- command: {hang}\n  timeoutSeconds: 1\n"),
    )
    .unwrap();
    let registry = Registry::with_config(&fleet_cfg);
    kubeconfig::load_with(&registry, std::slice::from_ref(&path), &fleet_cfg);
    let good_member = registry.get("good").unwrap();
    assert!(good_member.invalid.is_none(), "{:?}", good_member.invalid);
    let version = good_member.client().await.unwrap().apiserver_version().await.unwrap();
    assert_eq!(version.git_version, "v1.32.4");

    let t = std::time::Instant::now();
    let Err(err) = registry.get("hang").unwrap().client().await else {
        panic!("a hanging plugin gave a client")
    };
    let err = err.to_string();
    assert!(err.contains("did not finish within 1s"), "{err}");
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "the timeout did not hold: {:?}",
        t.elapsed()
    );
    let token = fleet.cluster("sim-000").unwrap().admin_token().expose().to_string();
    assert!(!err.contains(&token) && !format!("{good_member:?}").contains(&token));
    fleet.shutdown().await;
}

/// A minimal HTTP CONNECT proxy on loopback; returns its address and a tunnel counter.
async fn connect_proxy() -> (std::net::SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tunnels = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = tunnels.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && client.read_exact(&mut byte).await.is_ok() {
                    head.push(byte[0]);
                }
                let text = String::from_utf8_lossy(&head);
                let Some(target) = text
                    .strip_prefix("CONNECT ")
                    .and_then(|r| r.split_whitespace().next())
                    .map(String::from)
                else {
                    return;
                };
                let Ok(mut upstream) = tokio::net::TcpStream::connect(&target).await else {
                    return;
                };
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await;
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (addr, tunnels)
}

#[tokio::test]
async fn proxy_url_is_honoured() {
    let fleet = Fleet::start(FleetOptions::default().clusters(1)).await.unwrap();
    let (proxy, tunnels) = connect_proxy().await;
    let mut kc: serde_json::Value = muster_core::yaml::parse(&fleet.kubeconfig()).unwrap();
    kc["clusters"][0]["cluster"]["proxy-url"] = serde_json::json!(format!("http://{proxy}"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, muster_core::yaml::to_string(&kc).unwrap()).unwrap();
    let registry = Registry::new();
    kubeconfig::load(&registry, std::slice::from_ref(&path));
    let member = registry.get("sim-000").unwrap();
    let version = member.client().await.unwrap().apiserver_version().await.unwrap();
    assert_eq!(version.git_version, "v1.32.4");
    assert!(
        tunnels.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "the request did not go through the proxy"
    );
    fleet.shutdown().await;
}
