//! The kubeconfig source: files from `--kubeconfig`, else `KUBECONFIG` (colon-separated),
//! else `~/.kube/config`, merged by kubectl's rules (the first file to define a name wins;
//! later duplicates are warned about), one member per context.
//!
//! A malformed file is reported with its path, line and field and the other files still
//! load; a context that cannot work (missing cluster or user, missing certificate file, a
//! CA that is not a certificate, an invalid namespace, `auth-provider`, an exec plugin not
//! allowed) becomes an Invalid member with the reason.
//!
//! A kubeconfig from a hub Secret is untrusted (anyone who can write Secrets there wrote
//! it): it may carry inline data only. A file reference would make muster read a file of
//! its own host and send it to a server the Secret chose; an exec plugin or auth provider
//! would run a program. Either makes the member Invalid, naming the Secret and the field.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use kube::config::{AuthInfo, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext};

use muster_core::name::Namespace;

use super::{Connection, FleetConfig, Health, Invalid, Limits, Member, Registry, Source, exec_plugin};

/// A file that could not be read or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("kubeconfig {path}: {message}")]
pub struct SourceError {
    pub path: String,
    pub message: String,
}

/// What loading did.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Files read successfully.
    pub loaded: Vec<String>,
    /// Files that failed (the others still loaded).
    pub failed: Vec<SourceError>,
    /// Duplicate names ignored under kubectl's first-wins rule.
    pub warnings: Vec<String>,
}

/// The kubeconfig files to read: `explicit` if any, else `$KUBECONFIG`, else `~/.kube/config`.
#[must_use]
pub fn paths(explicit: &[PathBuf], env: Option<OsString>, home: Option<PathBuf>) -> Vec<PathBuf> {
    if !explicit.is_empty() {
        return explicit.to_vec();
    }
    if let Some(v) = env.filter(|v| !v.is_empty()) {
        return std::env::split_paths(&v)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
    }
    home.map(|h| vec![h.join(".kube").join("config")]).unwrap_or_default()
}

fn parse(path: &Path) -> Result<Kubeconfig, SourceError> {
    let err = |message: String| SourceError {
        path: path.display().to_string(),
        message,
    };
    let text = crate::files::read_text(path, muster_core::yaml::DEFAULT_MAX_BYTES).map_err(|e| err(e.problem))?;
    if text.trim().is_empty() {
        return Ok(Kubeconfig::default());
    }
    // NB: muster's own parser (not kube's loader) so that errors carry the line and the field.
    muster_core::yaml::parse::<Kubeconfig>(&text).map_err(|e| err(e.to_string()))
}

/// One file's entries, remembered with the file that defined them.
struct Defined<T> {
    item: T,
    path: PathBuf,
}

/// Load every file into `registry` with default settings; returns what happened per file.
pub fn load(registry: &Registry, files: &[PathBuf]) -> LoadReport {
    load_with(registry, files, &FleetConfig::default())
}

/// Load every file into `registry`, labelling, limiting and allowing exec plugins as the
/// fleet configuration says.
pub fn load_with(registry: &Registry, files: &[PathBuf], fleet: &FleetConfig) -> LoadReport {
    let mut report = LoadReport::default();
    let mut clusters: Vec<Defined<NamedCluster>> = Vec::new();
    let mut users: Vec<Defined<NamedAuthInfo>> = Vec::new();
    let mut contexts: Vec<Defined<NamedContext>> = Vec::new();
    for path in files {
        let config = match parse(path) {
            Ok(c) => c,
            Err(e) => {
                report.failed.push(e);
                continue;
            }
        };
        report.loaded.push(path.display().to_string());
        merge_named(
            &mut clusters,
            config.clusters,
            |c| &c.name,
            path,
            "cluster",
            &mut report.warnings,
        );
        merge_named(
            &mut users,
            config.auth_infos,
            |u| &u.name,
            path,
            "user",
            &mut report.warnings,
        );
        merge_named(
            &mut contexts,
            config.contexts,
            |c| &c.name,
            path,
            "context",
            &mut report.warnings,
        );
    }
    // NB: indexes, so 10,000 contexts load in linear time.
    let clusters: HashMap<&str, &Defined<NamedCluster>> = clusters.iter().map(|c| (c.item.name.as_str(), c)).collect();
    let users: HashMap<&str, &Defined<NamedAuthInfo>> = users.iter().map(|u| (u.item.name.as_str(), u)).collect();
    for ctx in &contexts {
        let m = member(ctx, &clusters, &users, fleet);
        if m.invalid.is_none() && plaintext_credentials(&m) {
            report.warnings.push(format!(
                "context {:?} in {}: server {} is plain http:// and the user sends a token or client key: anyone on the network can read them",
                m.name,
                ctx.path.display(),
                m.server
            ));
        }
        registry.insert(m);
    }
    report
}

/// Whether a member would send a bearer token, password or client key over plain HTTP.
fn plaintext_credentials(m: &Member) -> bool {
    let http = m.server.to_ascii_lowercase().starts_with("http://");
    http && m.connection.as_ref().is_some_and(Connection::has_credentials)
}

fn merge_named<T>(
    into: &mut Vec<Defined<T>>,
    items: Vec<T>,
    name: impl Fn(&T) -> &String,
    path: &Path,
    what: &str,
    warnings: &mut Vec<String>,
) {
    let mut known: HashSet<String> = into.iter().map(|d| name(&d.item).clone()).collect();
    for item in items {
        let n = name(&item).clone();
        if !known.insert(n.clone()) {
            warnings.push(format!(
                "{what} {n:?} in {} is ignored: an earlier kubeconfig defines it",
                path.display()
            ));
            continue;
        }
        into.push(Defined {
            item,
            path: path.to_path_buf(),
        });
    }
}

/// A path in a kubeconfig is relative to that kubeconfig's directory (kubectl's rule).
fn resolve(path: &str, kubeconfig: &Path) -> PathBuf {
    let p = PathBuf::from(path);
    if p.is_absolute() {
        p
    } else {
        kubeconfig.parent().unwrap_or(Path::new(".")).join(p)
    }
}

fn member(
    ctx: &Defined<NamedContext>,
    clusters: &HashMap<&str, &Defined<NamedCluster>>,
    users: &HashMap<&str, &Defined<NamedAuthInfo>>,
    fleet: &FleetConfig,
) -> Member {
    let name = ctx.item.name.clone();
    let source = Source::Kubeconfig {
        path: ctx.path.display().to_string(),
        context: name.clone(),
    };
    let labels = fleet.labels_for(&name);
    build_member(name, source, labels, ctx, clusters, users, fleet, Trust::LocalFile)
}

/// How far a kubeconfig is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trust<'a> {
    /// A file the user gave muster: file references resolve, allowed exec plugins run.
    LocalFile,
    /// A hub Secret (named `namespace/name`): inline data only.
    Secret(&'a str),
}

/// A member from one whole kubeconfig document held in a hub Secret (a Cluster API
/// Secret's `value`; `secret` names it `namespace/name`): its current context, or its only
/// one. It is untrusted: inline data only. Problems make an Invalid member, never an error.
#[must_use]
pub fn member_from_secret(
    name: String,
    source: Source,
    labels: BTreeMap<String, String>,
    secret: &str,
    text: &str,
    fleet: &FleetConfig,
) -> Member {
    let origin = format!("Secret {secret}");
    let origin = origin.as_str();
    let parsed = muster_core::yaml::parse::<Kubeconfig>(text).map_err(|e| format!("{origin}: invalid kubeconfig: {e}"));
    let origin_path = PathBuf::from(origin);
    let chosen = parsed.and_then(|k| {
        let ctx = match &k.current_context {
            Some(c) => k.contexts.iter().find(|x| x.name == *c).cloned(),
            None if k.contexts.len() == 1 => k.contexts.first().cloned(),
            None => None,
        };
        ctx.map(|c| (k, c))
            .ok_or_else(|| format!("{origin}: the kubeconfig names no usable current-context"))
    });
    match chosen {
        Ok((k, ctx)) => {
            let defined = |item| Defined {
                item,
                path: origin_path.clone(),
            };
            let clusters: Vec<Defined<NamedCluster>> = k.clusters.into_iter().map(defined).collect();
            let users: Vec<Defined<NamedAuthInfo>> = k
                .auth_infos
                .into_iter()
                .map(|item| Defined {
                    item,
                    path: origin_path.clone(),
                })
                .collect();
            let clusters: HashMap<&str, &Defined<NamedCluster>> =
                clusters.iter().map(|c| (c.item.name.as_str(), c)).collect();
            let users: HashMap<&str, &Defined<NamedAuthInfo>> =
                users.iter().map(|u| (u.item.name.as_str(), u)).collect();
            let ctx = Defined {
                item: ctx,
                path: origin_path.clone(),
            };
            build_member(
                name,
                source,
                labels,
                &ctx,
                &clusters,
                &users,
                fleet,
                Trust::Secret(secret),
            )
        }
        Err(reason) => {
            let limits = Limits::new(fleet.limits_for(&name, &labels));
            Member {
                name,
                labels,
                limits,
                source,
                server: String::new(),
                namespace: None,
                insecure: false,
                invalid: Some(Invalid { reason }),
                cert_expiry: None,
                health: Mutex::new(Health::default()),
                connection: None,
                client: tokio::sync::Mutex::new(None),
                built: std::sync::atomic::AtomicBool::new(false),
            }
        }
    }
}

#[allow(clippy::too_many_arguments)] // NB: one call site per source; a struct would only rename them
fn build_member(
    name: String,
    source: Source,
    labels: BTreeMap<String, String>,
    ctx: &Defined<NamedContext>,
    clusters: &HashMap<&str, &Defined<NamedCluster>>,
    users: &HashMap<&str, &Defined<NamedAuthInfo>>,
    fleet: &FleetConfig,
    trust: Trust<'_>,
) -> Member {
    let context = ctx.item.context.clone().unwrap_or_default();
    let cluster = clusters.get(context.cluster.as_str()).copied();
    let user = context.user.as_deref().and_then(|u| users.get(u).copied());
    let server = cluster
        .and_then(|c| c.item.cluster.as_ref())
        .and_then(|c| c.server.clone())
        .unwrap_or_default();
    let insecure = cluster
        .and_then(|c| c.item.cluster.as_ref())
        .and_then(|c| c.insecure_skip_tls_verify)
        .unwrap_or(false);
    let limits = Limits::new(fleet.limits_for(&name, &labels));
    let mut m = Member {
        name: name.clone(),
        labels,
        limits,
        source,
        server,
        namespace: None,
        insecure,
        invalid: None,
        cert_expiry: None,
        health: Mutex::new(Health::default()),
        connection: None,
        client: tokio::sync::Mutex::new(None),
        built: std::sync::atomic::AtomicBool::new(false),
    };
    let namespace = context
        .namespace
        .as_deref()
        .filter(|ns| !ns.is_empty())
        .map(Namespace::parse)
        .transpose()
        .map_err(|e| format!("context {name:?}: {e}"));
    let connection = namespace.and_then(|ns| {
        m.namespace = ns;
        build_connection(&name, &context, cluster, user, fleet, trust)
    });
    match connection {
        Ok(conn) => {
            m.cert_expiry = conn.cert_expiry();
            m.connection = Some(conn);
        }
        Err(reason) => {
            m.invalid = Some(Invalid {
                reason: match trust {
                    Trust::Secret(secret) => format!("Secret {secret}: {reason}"),
                    Trust::LocalFile => reason,
                },
            });
        }
    }
    m
}

/// Refuse what an untrusted kubeconfig may not carry.
fn check_untrusted(cluster: &NamedCluster, user: Option<&NamedAuthInfo>, server: &str) -> Result<(), String> {
    let inline_only = "a kubeconfig from a Secret may carry inline data only (certificate-authority-data, client-certificate-data, client-key-data, token)";
    let c = cluster.cluster.as_ref();
    let cluster_field = |field: &str| format!("clusters[{:?}].cluster.{field}: {inline_only}", cluster.name);
    if c.is_some_and(|c| c.certificate_authority.is_some()) {
        return Err(cluster_field("certificate-authority"));
    }
    if c.is_some_and(|c| c.proxy_url.is_some()) {
        return Err(format!(
            "clusters[{:?}].cluster.proxy-url: a kubeconfig from a Secret may not route muster's traffic through a proxy",
            cluster.name
        ));
    }
    let Some(u) = user else { return Ok(()) };
    let Some(auth) = u.auth_info.as_ref() else {
        return Ok(());
    };
    let user_field = |field: &str| format!("users[{:?}].user.{field}: {inline_only}", u.name);
    for (field, present) in [
        ("tokenFile", auth.token_file.is_some()),
        ("client-certificate", auth.client_certificate.is_some()),
        ("client-key", auth.client_key.is_some()),
    ] {
        if present {
            return Err(user_field(field));
        }
    }
    if auth.exec.is_some() {
        return Err(format!(
            "users[{:?}].user.exec: a kubeconfig from a Secret may not run a program",
            u.name
        ));
    }
    if auth.auth_provider.is_some() {
        return Err(format!(
            "users[{:?}].user.auth-provider: a kubeconfig from a Secret may not use an auth provider",
            u.name
        ));
    }
    let sends_secret = auth.token.is_some() || auth.client_key_data.is_some() || auth.password.is_some();
    if sends_secret && server.to_ascii_lowercase().starts_with("http://") {
        return Err(format!(
            "clusters[{:?}].cluster.server: plain http:// would send the user's credentials unencrypted",
            cluster.name
        ));
    }
    Ok(())
}

/// Check that certificate authority data (inline, base64 of PEM) holds a certificate.
fn check_ca(cluster: &str, pem: &[u8], what: &str) -> Result<(), String> {
    let ok = x509_parser::pem::Pem::iter_from_buffer(pem)
        .next()
        .is_some_and(|p| p.is_ok_and(|p| p.label == "CERTIFICATE" && p.parse_x509().is_ok()));
    if ok {
        Ok(())
    } else {
        Err(format!("cluster {cluster:?}: {what} does not hold a PEM certificate"))
    }
}

/// Check a context and cut its own one-context kubeconfig, with file paths made absolute.
fn build_connection(
    name: &str,
    context: &kube::config::Context,
    cluster: Option<&Defined<NamedCluster>>,
    user: Option<&Defined<NamedAuthInfo>>,
    fleet: &FleetConfig,
    trust: Trust<'_>,
) -> Result<Connection, String> {
    let cluster = cluster.ok_or_else(|| {
        format!(
            "context {name:?} refers to cluster {:?}, which no kubeconfig defines",
            context.cluster
        )
    })?;
    let mut c = cluster.item.clone();
    let cluster_cfg = c
        .cluster
        .as_mut()
        .ok_or_else(|| format!("cluster {:?} has no settings", c.name))?;
    if cluster_cfg.server.as_deref().is_none_or(str::is_empty) {
        return Err(format!("cluster {:?} has no server", c.name));
    }
    if let Trust::Secret(_) = trust {
        check_untrusted(
            &cluster.item,
            user.map(|u| &u.item),
            cluster_cfg.server.as_deref().unwrap_or_default(),
        )?;
    }
    if let Some(data) = &cluster_cfg.certificate_authority_data {
        use base64::Engine as _;
        let pem = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map_err(|_| format!("cluster {:?}: certificate-authority-data is not base64", c.name))?;
        check_ca(&c.name, &pem, "certificate-authority-data")?;
    } else if let Some(ca) = &cluster_cfg.certificate_authority {
        let p = resolve(ca, &cluster.path);
        if !p.is_file() {
            return Err(format!(
                "cluster {:?}: certificate-authority file {} does not exist",
                c.name,
                p.display()
            ));
        }
        let pem = std::fs::read(&p)
            .map_err(|e| format!("cluster {:?}: certificate-authority file {}: {e}", c.name, p.display()))?;
        check_ca(&c.name, &pem, &format!("certificate-authority file {}", p.display()))?;
        cluster_cfg.certificate_authority = Some(p.display().to_string());
    }
    let mut users_out = Vec::new();
    let mut exec = None;
    let mut token_file = None;
    if let Some(u) = &context.user {
        let user = user.ok_or_else(|| format!("context {name:?} refers to user {u:?}, which no kubeconfig defines"))?;
        let mut nu = user.item.clone();
        let auth: &mut AuthInfo = nu.auth_info.get_or_insert_with(AuthInfo::default);
        if auth.auth_provider.is_some() {
            return Err(format!(
                "user {u:?}: auth-provider entries are not supported; use a token, a client certificate or an allowed exec plugin"
            ));
        }
        if let Some(exec) = auth
            .exec
            .as_ref()
            .filter(|e| !fleet.exec_allowed(e.command.as_deref().unwrap_or_default()))
        {
            // NB: a kubeconfig exec plugin runs a program; it is denied until the fleet
            // configuration allows that command.
            return Err(format!(
                "user {u:?}: exec credential plugin {:?} is not allowed (kubeconfig exec plugins run programs; allow the command in the fleet configuration)",
                exec.command.as_deref().unwrap_or("")
            ));
        }
        // An allowed plugin is run by muster (see exec_plugin.rs), never by kube.
        if let Some(e) = auth.exec.take() {
            let command = e.command.clone().unwrap_or_default();
            let allowed_env = fleet.exec_env(&command);
            if let Some(bad) = e
                .env
                .iter()
                .flatten()
                .filter_map(|v| v.get("name"))
                .find(|n| !allowed_env.iter().any(|a| a == *n))
            {
                return Err(format!(
                    "user {u:?}: exec plugin {command:?} sets environment variable {bad}, which the fleet configuration does not allow for it (execPlugins[].env)"
                ));
            }
            exec = Some(exec_plugin::Plugin {
                config: e,
                timeout: fleet.exec_timeout(&command),
                allowed_env,
            });
        }
        for (field, value) in [
            ("client-certificate", &mut auth.client_certificate),
            ("client-key", &mut auth.client_key),
            ("tokenFile", &mut auth.token_file),
        ] {
            if let Some(v) = value.as_mut() {
                let p = resolve(v, &user.path);
                if p.is_dir() {
                    return Err(format!(
                        "user {u:?}: {field} {} is a directory, not a file",
                        p.display()
                    ));
                }
                if !p.is_file() {
                    return Err(format!("user {u:?}: {field} file {} does not exist", p.display()));
                }
                *v = p.display().to_string();
            }
        }
        // NB: muster reads a token file itself when it builds the client (trimmed, as
        // kubectl does; kube would send a trailing newline and fail), and again later.
        token_file = auth.token_file.take().map(PathBuf::from);
        users_out.push(nu);
    }
    let kubeconfig = Kubeconfig {
        clusters: vec![c],
        auth_infos: users_out,
        contexts: vec![NamedContext {
            name: name.to_string(),
            context: Some(context.clone()),
            other: BTreeMap::default(),
        }],
        current_context: Some(name.to_string()),
        ..Kubeconfig::default()
    };
    Ok(Connection {
        kubeconfig: Arc::new(kubeconfig),
        context: name.to_string(),
        exec,
        token_file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: a\n  cluster: {server: 'https://127.0.0.1:1'}\nusers:\n- name: a\n  user: {token: s3cr3t-token-value}\ncontexts:\n- name: a\n  context: {cluster: a, user: a, namespace: shop}\n- name: nouser\n  context: {cluster: a, user: ghost}\n- name: nocluster\n  context: {cluster: ghost, user: a}\n";

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn paths_follow_kubectl() {
        let explicit = vec![PathBuf::from("/x")];
        assert_eq!(paths(&explicit, Some("/a:/b".into()), None), explicit);
        assert_eq!(
            paths(&[], Some("/a::/b".into()), None),
            [PathBuf::from("/a"), PathBuf::from("/b")]
        );
        assert_eq!(
            paths(&[], None, Some("/home/u".into())),
            [PathBuf::from("/home/u/.kube/config")]
        );
    }

    #[test]
    fn contexts_become_members_and_bad_ones_are_invalid() {
        let dir = tempfile::tempdir().unwrap();
        let good = write(dir.path(), "good", GOOD);
        let bad = write(
            dir.path(),
            "bad",
            "clusters:\n- name: x\n  cluster:\n    server: [not, a, string]\n",
        );
        let dup = write(dir.path(), "dup", "contexts:\n- name: a\n  context: {cluster: other}\n");
        let r = Registry::new();
        let report = load(&r, &[good, bad.clone(), dup]);
        assert_eq!(report.loaded.len(), 2);
        assert_eq!(report.failed.len(), 1);
        let e = report.failed[0].to_string();
        assert!(
            e.contains(&bad.display().to_string()) && e.contains("line 4") && e.contains("server"),
            "{e}"
        );
        assert!(
            report.warnings.iter().any(|w| w.contains("context \"a\"")),
            "{:?}",
            report.warnings
        );
        assert_eq!(r.len(), 3);
        let a = r.get("a").unwrap();
        assert!(a.invalid.is_none());
        assert_eq!(
            (a.server.as_str(), a.namespace.as_ref().map(Namespace::as_str)),
            ("https://127.0.0.1:1", Some("shop"))
        );
        assert!(
            r.get("nouser")
                .unwrap()
                .invalid
                .as_ref()
                .unwrap()
                .reason
                .contains("user \"ghost\"")
        );
        assert!(
            r.get("nocluster")
                .unwrap()
                .invalid
                .as_ref()
                .unwrap()
                .reason
                .contains("cluster \"ghost\"")
        );
        // No secret in any Debug output.
        assert!(!format!("{:?}", r).contains("s3cr3t"), "the token leaked into Debug");
    }

    #[test]
    fn exec_plugins_auth_providers_and_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = "clusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1', certificate-authority: missing-ca.pem}\n- name: ok\n  cluster: {server: 'https://127.0.0.1:1'}\nusers:\n- name: e\n  user: {exec: {command: aws, apiVersion: client.authentication.k8s.io/v1}}\n- name: p\n  user: {auth-provider: {name: gcp}}\ncontexts:\n- {name: ca, context: {cluster: c}}\n- {name: exec, context: {cluster: ok, user: e}}\n- {name: provider, context: {cluster: ok, user: p}}\n";
        let p = write(dir.path(), "k", cfg);
        let r = Registry::new();
        load(&r, &[p]);
        let reason = |n: &str| r.get(n).unwrap().invalid.as_ref().unwrap().reason.clone();
        assert!(reason("ca").contains("missing-ca.pem") && reason("ca").contains("does not exist"));
        assert!(reason("exec").contains("exec credential plugin \"aws\" is not allowed"));
        assert!(reason("provider").contains("auth-provider"));
    }
}
