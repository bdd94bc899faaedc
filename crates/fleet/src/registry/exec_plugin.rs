//! Exec credential plugins (`users[].user.exec` in a kubeconfig), run by muster itself:
//! without a shell, with a timeout, killed if abandoned. kube would run them with a
//! blocking `std::process::Command` inside its auth layer, where a hanging plugin pins a
//! runtime thread and no async timeout can stop it.

use std::time::Duration;

use kube::config::ExecConfig;
use serde_json::{Value, json};

/// Default time an exec plugin may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

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
pub async fn run(exec: &ExecConfig, timeout: Duration) -> Result<Credential, String> {
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
    for name in exec.drop_env.iter().flatten() {
        cmd.env_remove(name);
    }
    for env in exec.env.iter().flatten() {
        if let (Some(n), Some(v)) = (env.get("name"), env.get("value")) {
            cmd.env(n, v);
        }
    }
    let info = json!({"apiVersion": api_version, "kind": "ExecCredential", "spec": {"interactive": false}});
    cmd.env("KUBERNETES_EXEC_INFO", info.to_string());
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let out = match tokio::time::timeout(timeout, cmd.output()).await {
        Err(_) => {
            return Err(format!(
                "exec plugin {command:?} did not finish within {}s",
                timeout.as_secs_f64()
            ));
        }
        Ok(Err(e)) => return Err(format!("exec plugin {command:?} could not run: {e}")),
        Ok(Ok(out)) => out,
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
