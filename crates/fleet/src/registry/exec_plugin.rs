//! Exec credential plugins (`users[].user.exec` in a kubeconfig), run by muster itself:
//! without a shell, with a clean environment (a kubeconfig's `env` entries only where the
//! fleet file allows their names, so `PATH` or `LD_PRELOAD` cannot turn an allowed plugin
//! into another program), in a process group of its own that is killed whole at the
//! timeout. kube would run them with a blocking `std::process::Command` inside its auth
//! layer, where a hanging plugin pins a runtime thread and no async timeout can stop it.

use std::time::Duration;

use kube::config::ExecConfig;
use serde_json::{Value, json};

/// Default time an exec plugin may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Variables of muster's own environment every plugin receives (what a program needs to run
/// as the user at all); anything else only when the fleet file names it.
const BASE_ENV: &[&str] = &["PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TMPDIR"];

/// The most output a plugin may print (an ExecCredential is a few KiB).
const MAX_OUTPUT: usize = 1024 * 1024;

/// An allowed plugin: its kubeconfig entry, how long it may run, which variables it gets.
#[derive(Clone)]
pub struct Plugin {
    pub config: ExecConfig,
    pub timeout: Duration,
    /// Names from the fleet file's `execPlugins[].env`.
    pub allowed_env: Vec<String>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("command", &self.config.command)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// What a plugin returned (`ExecCredential.status`).
#[derive(Clone, Default)]
pub struct Credential {
    pub token: Option<String>,
    /// PEM.
    pub client_certificate_data: Option<String>,
    /// PEM.
    pub client_key_data: Option<String>,
    pub expiration: Option<jiff::Timestamp>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

/// Run a plugin and parse its `ExecCredential`.
///
/// # Errors
/// A message naming the command: not startable, timed out, non-zero exit, or bad output.
/// Plugin output is never included (it holds the credential).
pub async fn run(plugin: &Plugin, timeout: Duration) -> Result<Credential, String> {
    let exec = &plugin.config;
    let command = exec
        .command
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or("exec plugin: no command")?;
    let api_version = exec
        .api_version
        .clone()
        .unwrap_or_else(|| "client.authentication.k8s.io/v1".into());
    let mut cmd = tokio::process::Command::new(command);
    cmd.args(exec.args.clone().unwrap_or_default());
    cmd.env_clear();
    for (name, value) in std::env::vars_os() {
        let passes = name
            .to_str()
            .is_some_and(|n| BASE_ENV.contains(&n) || plugin.allowed_env.iter().any(|a| a == n));
        if passes {
            cmd.env(name, value);
        }
    }
    for env in exec.env.iter().flatten() {
        if let (Some(n), Some(v)) = (env.get("name"), env.get("value"))
            && plugin.allowed_env.iter().any(|a| a == n)
        {
            cmd.env(n, v);
        }
    }
    let info = json!({"apiVersion": api_version, "kind": "ExecCredential", "spec": {"interactive": false}});
    cmd.env("KUBERNETES_EXEC_INFO", info.to_string());
    // NB: a group of its own, so a plugin's children die with it at the timeout.
    cmd.process_group(0)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("exec plugin {command:?} could not run: {e}"))?;
    let group = child.id();
    let mut stdout = child.stdout.take().ok_or("exec plugin: no stdout")?;
    let finished = tokio::time::timeout(timeout, async {
        use tokio::io::AsyncReadExt as _;
        let mut out = Vec::new();
        (&mut stdout).take(MAX_OUTPUT as u64 + 1).read_to_end(&mut out).await?;
        let status = child.wait().await?;
        Ok::<_, std::io::Error>((status, out))
    })
    .await;
    let (status, stdout) = match finished {
        Err(_) => {
            kill_group(group);
            let _ = child.kill().await;
            return Err(format!(
                "exec plugin {command:?} did not finish within {}s (its process group was killed)",
                timeout.as_secs_f64()
            ));
        }
        Ok(Err(e)) => {
            kill_group(group);
            return Err(format!("exec plugin {command:?}: {e}"));
        }
        Ok(Ok(done)) => done,
    };
    // NB: the plugin is done; anything it left running in its group goes too.
    kill_group(group);
    if stdout.len() > MAX_OUTPUT {
        return Err(format!("exec plugin {command:?} printed more than {MAX_OUTPUT} bytes"));
    }
    let out = std::process::Output {
        status,
        stdout,
        stderr: Vec::new(),
    };
    if !out.status.success() {
        return Err(format!("exec plugin {command:?} failed with {}", out.status));
    }
    let v: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("exec plugin {command:?} printed no ExecCredential JSON: {e}"))?;
    let status = v
        .get("status")
        .ok_or_else(|| format!("exec plugin {command:?}: the ExecCredential has no status"))?;
    let text = |k: &str| status.get(k).and_then(Value::as_str).map(String::from);
    let cred = Credential {
        token: text("token"),
        client_certificate_data: text("clientCertificateData"),
        client_key_data: text("clientKeyData"),
        expiration: text("expirationTimestamp").and_then(|t| t.parse().ok()),
    };
    if cred.token.is_none() && cred.client_certificate_data.is_none() {
        return Err(format!(
            "exec plugin {command:?}: the ExecCredential has neither a token nor a client certificate"
        ));
    }
    Ok(cred)
}

/// Kill a plugin's whole process group (it was started as its leader).
fn kill_group(leader: Option<u32>) {
    if let Some(pid) = leader
        .and_then(|p| i32::try_from(p).ok())
        .and_then(rustix::process::Pid::from_raw)
    {
        // NB: ESRCH (the group is already gone) is the common, harmless outcome.
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// The `user` of a kubeconfig with the exec entry replaced by the credential.
#[must_use]
pub fn user_with(credential: &Credential) -> Value {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut user = json!({});
    if let Some(t) = &credential.token {
        user["token"] = json!(t);
    }
    if let (Some(c), Some(k)) = (&credential.client_certificate_data, &credential.client_key_data) {
        user["client-certificate-data"] = json!(b64(c));
        user["client-key-data"] = json!(b64(k));
    }
    user
}
