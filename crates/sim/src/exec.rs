//! `pods/exec` over WebSocket (`v5.channel.k8s.io`, `v4.channel.k8s.io`): the channel
//! framing kubectl and kube speak, and a small set of simulated commands run against the
//! pod's spec (env, mounted ConfigMaps and Secrets, hostname).
//!
//! Channel bytes: 0 stdin, 1 stdout, 2 stderr, 3 status (a `Status` carrying the exit
//! code), 4 resize; v5 adds 255 to close a channel (stdin EOF). The session is one task that
//! ends when the command finishes or the client goes away, which also cancels the command.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use futures::{SinkExt as _, StreamExt as _};
use http::{Response, StatusCode, header};
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tracing::debug;

use super::api::Body;
use super::cluster::{Cluster, gr};
use super::status::{ApiError, ApiResult};
use super::store::Object;

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const STATUS: u8 = 3;
const CLOSE: u8 = 255;
const PROTOCOLS: &[&str] = &["v5.channel.k8s.io", "v4.channel.k8s.io"];

/// What the client asked to run.
#[derive(Debug, Clone)]
pub struct ExecRequest {
    pub command: Vec<String>,
    pub container: Option<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

impl ExecRequest {
    /// Parse the query (`command` repeats, one argv element each).
    ///
    /// # Errors
    /// `BadRequest` for no command or no stream.
    pub fn parse(query: Option<&str>) -> ApiResult<Self> {
        let mut r = Self {
            command: Vec::new(),
            container: None,
            stdin: false,
            stdout: false,
            stderr: false,
        };
        for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            let on = v == "true" || v == "1";
            match k.as_ref() {
                "command" => r.command.push(v.into_owned()),
                "container" => r.container = Some(v.into_owned()).filter(|c| !c.is_empty()),
                "stdin" => r.stdin = on,
                "stdout" => r.stdout = on,
                "stderr" => r.stderr = on,
                _ => {}
            }
        }
        if r.command.is_empty() {
            return Err(ApiError::bad_request(
                "you must specify at least one command for the container",
            ));
        }
        if !(r.stdin || r.stdout || r.stderr) {
            return Err(ApiError::bad_request(
                "you must specify at least 1 of stdin, stdout, stderr",
            ));
        }
        Ok(r)
    }
}

/// The container a command runs in: what the simulated commands can see.
#[derive(Debug, Clone, Default)]
pub struct Sandbox {
    pub hostname: String,
    pub env: BTreeMap<String, String>,
    /// Absolute path -> content.
    pub files: BTreeMap<String, Vec<u8>>,
}

impl Sandbox {
    /// Build the sandbox of `container` in `pod`: env (literal, from ConfigMaps and Secrets)
    /// and files (fixed ones plus mounted ConfigMap and Secret volumes).
    #[must_use]
    pub fn of(cluster: &Cluster, pod: &Object, container: &Value) -> Self {
        let ns = pod.namespace();
        let lookup = |resource: &str, name: &str| cluster.store.get(&gr("", resource), ns, name);
        let data = |resource: &str, name: &str| -> BTreeMap<String, Vec<u8>> {
            let Some(obj) = lookup(resource, name) else {
                return BTreeMap::new();
            };
            let mut out = BTreeMap::new();
            for (k, v) in obj.value().get("data").and_then(Value::as_object).into_iter().flatten() {
                let s = v.as_str().unwrap_or_default();
                let bytes = if resource == "secrets" {
                    base64::engine::general_purpose::STANDARD.decode(s).unwrap_or_default()
                } else {
                    s.as_bytes().to_vec()
                };
                out.insert(k.clone(), bytes);
            }
            out
        };
        let mut env = BTreeMap::from([
            (
                "PATH".to_string(),
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
            ),
            ("HOSTNAME".to_string(), pod.name().to_string()),
            ("HOME".to_string(), "/root".to_string()),
            ("KUBERNETES_SERVICE_HOST".to_string(), "10.96.0.1".to_string()),
            ("KUBERNETES_SERVICE_PORT".to_string(), "443".to_string()),
        ]);
        for from in container.get("envFrom").and_then(Value::as_array).into_iter().flatten() {
            let prefix = from.get("prefix").and_then(Value::as_str).unwrap_or_default();
            for (resource, key) in [("configmaps", "configMapRef"), ("secrets", "secretRef")] {
                if let Some(name) = from.pointer(&format!("/{key}/name")).and_then(Value::as_str) {
                    for (k, v) in data(resource, name) {
                        env.insert(format!("{prefix}{k}"), String::from_utf8_lossy(&v).into_owned());
                    }
                }
            }
        }
        for e in container.get("env").and_then(Value::as_array).into_iter().flatten() {
            let Some(name) = e.get("name").and_then(Value::as_str) else {
                continue;
            };
            let value = if let Some(v) = e.get("value").and_then(Value::as_str) {
                Some(v.to_string())
            } else if let Some(r) = e.pointer("/valueFrom/configMapKeyRef") {
                data("configmaps", r["name"].as_str().unwrap_or_default())
                    .get(r["key"].as_str().unwrap_or_default())
                    .map(|b| String::from_utf8_lossy(b).into_owned())
            } else if let Some(r) = e.pointer("/valueFrom/secretKeyRef") {
                data("secrets", r["name"].as_str().unwrap_or_default())
                    .get(r["key"].as_str().unwrap_or_default())
                    .map(|b| String::from_utf8_lossy(b).into_owned())
            } else if let Some(f) = e.pointer("/valueFrom/fieldRef/fieldPath").and_then(Value::as_str) {
                let p = format!("/{}", f.replace('.', "/"));
                pod.value.pointer(&p).and_then(Value::as_str).map(String::from)
            } else {
                None
            };
            env.insert(name.to_string(), value.unwrap_or_default());
        }
        let mut files = BTreeMap::from([
            ("/etc/hostname".to_string(), format!("{}\n", pod.name()).into_bytes()),
            ("/etc/os-release".to_string(), b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\nHOME_URL=\"https://www.debian.org/\"\n".to_vec()),
            ("/etc/hosts".to_string(), format!("127.0.0.1\tlocalhost\n{}\t{}\n", pod.value.pointer("/status/podIP").and_then(Value::as_str).unwrap_or("10.244.0.2"), pod.name()).into_bytes()),
            ("/etc/resolv.conf".to_string(), format!("search {ns}.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n").into_bytes()),
        ]);
        let volumes: Vec<Value> = pod
            .value
            .pointer("/spec/volumes")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for m in container
            .get("volumeMounts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(vname), Some(path)) = (m["name"].as_str(), m["mountPath"].as_str()) else {
                continue;
            };
            let Some(vol) = volumes.iter().find(|v| v["name"] == vname) else {
                continue;
            };
            let (content, items) = if let Some(cm) = vol.get("configMap") {
                (
                    data("configmaps", cm["name"].as_str().unwrap_or_default()),
                    cm.get("items"),
                )
            } else if let Some(sec) = vol.get("secret") {
                (
                    data("secrets", sec["secretName"].as_str().unwrap_or_default()),
                    sec.get("items"),
                )
            } else {
                continue;
            };
            let path = path.trim_end_matches('/');
            match m.get("subPath").and_then(Value::as_str) {
                Some(sub) => {
                    if let Some(c) = content.get(sub) {
                        files.insert(path.to_string(), c.clone());
                    }
                }
                None => {
                    let mapped: Vec<(String, String)> = match items.and_then(Value::as_array) {
                        Some(items) => items
                            .iter()
                            .filter_map(|i| Some((i["key"].as_str()?.to_string(), i["path"].as_str()?.to_string())))
                            .collect(),
                        None => content.keys().map(|k| (k.clone(), k.clone())).collect(),
                    };
                    for (key, rel) in mapped {
                        if let Some(c) = content.get(&key) {
                            files.insert(format!("{path}/{rel}"), c.clone());
                        }
                    }
                }
            }
        }
        Self {
            hostname: pod.name().to_string(),
            env,
            files,
        }
    }

    fn list_dir(&self, dir: &str) -> Option<Vec<String>> {
        let dir = if dir == "/" {
            String::new()
        } else {
            dir.trim_end_matches('/').to_string()
        };
        let mut names: Vec<String> = self
            .files
            .keys()
            .filter_map(|p| p.strip_prefix(&format!("{dir}/")))
            .map(|rest| rest.split('/').next().unwrap_or(rest).to_string())
            .collect();
        if dir.is_empty() {
            names.extend(
                [
                    "bin", "dev", "etc", "home", "lib", "proc", "root", "run", "sys", "tmp", "usr", "var",
                ]
                .map(String::from),
            );
        }
        names.sort();
        names.dedup();
        (!names.is_empty()).then_some(names)
    }
}

/// Where a running command writes and reads.
pub struct Io {
    out: mpsc::UnboundedSender<(u8, Bytes)>,
    stdin: Option<mpsc::Receiver<Bytes>>,
}

impl Io {
    fn write(&self, channel: u8, data: impl Into<Bytes>) {
        let _ = self.out.send((channel, data.into()));
    }

    fn stdout(&self, s: impl Into<Bytes>) {
        self.write(STDOUT, s);
    }

    fn stderr(&self, s: impl Into<Bytes>) {
        self.write(STDERR, s);
    }
}

/// Run one simulated command; returns its exit code.
pub async fn run(argv: &[String], sb: &Sandbox, io: &mut Io) -> i32 {
    let Some((cmd, args)) = argv.split_first() else {
        return 0;
    };
    match cmd.as_str() {
        "sh" | "bash" | "/bin/sh" | "/bin/bash" => match args {
            [flag, script, ..] if flag == "-c" => Box::pin(shell(script, sb, io)).await,
            _ => {
                io.stderr("sh: the simulated shell only runs scripts given with -c\n");
                2
            }
        },
        _ => builtin(cmd, args, sb, io, false).await.unwrap_or_else(|| {
            io.stderr(format!("OCI runtime exec failed: exec failed: unable to start container process: exec: \"{cmd}\": executable file not found in $PATH: unknown\n"));
            127
        }),
    }
}

/// The simulated binaries and shell built-ins. `None` when `cmd` is unknown.
async fn builtin(cmd: &str, args: &[String], sb: &Sandbox, io: &mut Io, in_shell: bool) -> Option<i32> {
    let code = match cmd.rsplit('/').next().unwrap_or(cmd) {
        "echo" => {
            let (newline, words) = match args.first().map(String::as_str) {
                Some("-n") => (false, &args[1..]),
                _ => (true, args),
            };
            io.stdout(format!("{}{}", words.join(" "), if newline { "\n" } else { "" }));
            0
        }
        "true" => 0,
        "false" => 1,
        "exit" => args.first().and_then(|a| a.parse::<i32>().ok()).unwrap_or(0) & 0xff,
        "hostname" => {
            io.stdout(format!("{}\n", sb.hostname));
            0
        }
        "pwd" => {
            io.stdout("/\n");
            0
        }
        "whoami" => {
            io.stdout("root\n");
            0
        }
        "date" => {
            io.stdout(format!(
                "{}\n",
                jiff::Timestamp::now().strftime("%a %b %e %H:%M:%S UTC %Y")
            ));
            0
        }
        "env" | "printenv" => {
            if let Some(name) = args.first().filter(|_| cmd.ends_with("printenv")) {
                return Some(match sb.env.get(name) {
                    Some(v) => {
                        io.stdout(format!("{v}\n"));
                        0
                    }
                    None => 1,
                });
            }
            let all: String = sb.env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
            io.stdout(all);
            0
        }
        "cat" => {
            if args.is_empty() {
                // Copy stdin to stdout until it closes.
                let out = io.out.clone();
                if let Some(rx) = io.stdin.as_mut() {
                    while let Some(chunk) = rx.recv().await {
                        let _ = out.send((STDOUT, chunk));
                    }
                }
                return Some(0);
            }
            let mut code = 0;
            for f in args {
                match sb.files.get(f.as_str()) {
                    Some(c) => io.stdout(c.clone()),
                    None if sb.list_dir(f).is_some() => {
                        io.stderr(format!("cat: {f}: Is a directory\n"));
                        code = 1;
                    }
                    None => {
                        io.stderr(format!("cat: {f}: No such file or directory\n"));
                        code = 1;
                    }
                }
            }
            code
        }
        "ls" => {
            let targets: Vec<&str> = if args.iter().all(|a| a.starts_with('-')) {
                vec!["/"]
            } else {
                args.iter()
                    .filter(|a| !a.starts_with('-'))
                    .map(String::as_str)
                    .collect()
            };
            let mut code = 0;
            for t in &targets {
                if sb.files.contains_key(*t) {
                    io.stdout(format!("{t}\n"));
                } else if let Some(names) = sb.list_dir(t) {
                    if targets.len() > 1 {
                        io.stdout(format!("{t}:\n"));
                    }
                    io.stdout(names.iter().map(|n| format!("{n}\n")).collect::<String>());
                } else {
                    io.stderr(format!("ls: cannot access '{t}': No such file or directory\n"));
                    code = 2;
                }
            }
            code
        }
        "sleep" => match args
            .first()
            .and_then(|a| a.trim_end_matches('s').parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
        {
            Some(secs) => {
                // Cancellable: the session drops this future when the client goes away.
                tokio::time::sleep(Duration::from_secs_f64(secs.min(86_400.0))).await;
                0
            }
            None => {
                io.stderr(format!(
                    "sleep: invalid time interval '{}'\n",
                    args.first().map_or("", String::as_str)
                ));
                1
            }
        },
        _ if in_shell => return None,
        _ => return None,
    };
    Some(code)
}

/// Connectives between simple commands in a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Join {
    Seq,
    And,
    Or,
}

/// Split a script into (connective, words, to-stderr) commands; `Err` names unsupported syntax.
fn parse_script(script: &str, env: &BTreeMap<String, String>) -> Result<Vec<(Join, Vec<String>, bool)>, String> {
    let mut out = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut join = Join::Seq;
    let mut to_stderr = false;
    let chars: Vec<char> = script.chars().collect();
    let mut i = 0;
    let expand = |chars: &[char], i: &mut usize, word: &mut String| {
        let braced = chars.get(*i + 1) == Some(&'{');
        let start = *i + 1 + usize::from(braced);
        let mut end = start;
        while end < chars.len()
            && (chars[end].is_ascii_alphanumeric() || chars[end] == '_' || (end == start && chars[end] == '?'))
        {
            end += 1;
        }
        let name: String = chars[start..end].iter().collect();
        word.push_str(env.get(&name).map_or("", String::as_str));
        *i = end + usize::from(braced) - 1;
    };
    macro_rules! end_word {
        () => {
            if in_word {
                words.push(std::mem::take(&mut word));
                in_word = false;
            }
        };
    }
    macro_rules! end_command {
        ($next:expr) => {
            end_word!();
            if !words.is_empty() {
                out.push((join, std::mem::take(&mut words), to_stderr));
            }
            join = $next;
            to_stderr = false;
        };
    }
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\'' => {
                in_word = true;
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    word.push(chars[i]);
                    i += 1;
                }
                if i >= chars.len() {
                    return Err("unterminated quote".into());
                }
            }
            '"' => {
                in_word = true;
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    match chars[i] {
                        '$' => expand(&chars, &mut i, &mut word),
                        '\\' if i + 1 < chars.len() => {
                            i += 1;
                            word.push(chars[i]);
                        }
                        '`' => return Err("command substitution".into()),
                        ch => word.push(ch),
                    }
                    i += 1;
                }
                if i >= chars.len() {
                    return Err("unterminated quote".into());
                }
            }
            '$' if chars.get(i + 1) == Some(&'(') => return Err("command substitution".into()),
            '$' => {
                in_word = true;
                expand(&chars, &mut i, &mut word);
            }
            '`' => return Err("command substitution".into()),
            ';' | '\n' => {
                end_command!(Join::Seq);
            }
            '&' if chars.get(i + 1) == Some(&'&') => {
                i += 1;
                end_command!(Join::And);
            }
            '|' if chars.get(i + 1) == Some(&'|') => {
                i += 1;
                end_command!(Join::Or);
            }
            '|' => return Err("pipes".into()),
            '&' => return Err("background jobs".into()),
            '>' | '<' => {
                let rest: String = chars[i..].iter().collect();
                let prev_is_1 = in_word && word == "1";
                if rest.starts_with(">&2") {
                    if prev_is_1 {
                        word.clear();
                        in_word = false;
                    }
                    end_word!();
                    to_stderr = true;
                    i += 2;
                } else {
                    return Err("redirection to files".into());
                }
            }
            c if c.is_whitespace() => {
                end_word!();
            }
            '\\' if i + 1 < chars.len() => {
                in_word = true;
                i += 1;
                word.push(chars[i]);
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
        i += 1;
    }
    if in_word {
        words.push(word);
    }
    if !words.is_empty() {
        out.push((join, words, to_stderr));
    }
    Ok(out)
}

/// `sh -c SCRIPT` for a tiny subset: simple commands joined by `;`, `&&`, `||`, quoting,
/// `$VAR`, `>&2`, and `exit`.
async fn shell(script: &str, sb: &Sandbox, io: &mut Io) -> i32 {
    let mut env = sb.env.clone();
    let commands = match parse_script(script, &env) {
        Ok(c) => c,
        Err(what) => {
            io.stderr(format!("sh: the simulated shell does not support {what}: {script}\n"));
            return 2;
        }
    };
    let mut status = 0;
    for (join, words, to_stderr) in commands {
        let run_it = match join {
            Join::Seq => true,
            Join::And => status == 0,
            Join::Or => status != 0,
        };
        if !run_it {
            continue;
        }
        let (cmd, args) = words.split_first().expect("commands have words");
        if cmd == "exit" {
            return args.first().and_then(|a| a.parse::<i32>().ok()).unwrap_or(status) & 0xff;
        }
        let saved = io.out.clone();
        if to_stderr {
            // Route this command's stdout to stderr.
            let (tx, mut rx) = mpsc::unbounded_channel::<(u8, Bytes)>();
            io.out = tx;
            let code = Box::pin(builtin(cmd, args, sb, io, true)).await;
            io.out = saved.clone();
            while let Ok((_, data)) = rx.try_recv() {
                let _ = saved.send((STDERR, data));
            }
            status = code.unwrap_or_else(|| {
                io.stderr(format!("sh: 1: {cmd}: not found\n"));
                127
            });
        } else {
            status = Box::pin(builtin(cmd, args, sb, io, true)).await.unwrap_or_else(|| {
                io.stderr(format!("sh: 1: {cmd}: not found\n"));
                127
            });
        }
        env.insert("?".into(), status.to_string());
    }
    status
}

/// The `Status` the status channel carries when a command ends.
#[must_use]
pub fn exit_status(argv: &[String], code: i32) -> Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("command terminated with non-zero exit code: error executing command [{}], exit code {code}", argv.join(" ")),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

/// Validate an exec request and answer the WebSocket upgrade; the session runs in a task.
///
/// # Errors
/// 400 for a bad request, a container that is not running, or no supported subprotocol;
/// 404 for a missing pod.
pub fn upgrade(cluster: &Arc<Cluster>, pod: &Object, mut req: http::Request<Incoming>) -> ApiResult<Response<Body>> {
    let exec = ExecRequest::parse(req.uri().query())?;
    let containers: Vec<Value> = pod
        .value
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let container = match &exec.container {
        Some(name) => containers
            .iter()
            .find(|c| c["name"] == name.as_str())
            .cloned()
            .ok_or_else(|| ApiError::bad_request(format!("container {name} is not valid for pod {}", pod.name())))?,
        None => containers
            .first()
            .cloned()
            .ok_or_else(|| ApiError::bad_request(format!("pod {} has no containers", pod.name())))?,
    };
    let cname = container["name"].as_str().unwrap_or_default().to_string();
    let running = pod
        .value
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["name"] == cname.as_str() && c.pointer("/state/running").is_some())
        });
    if !running {
        return Err(ApiError::bad_request(format!("container not found (\"{cname}\")")));
    }
    let headers = req.headers();
    let is_ws = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let key = headers
        .get("sec-websocket-key")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let (true, Some(key)) = (is_ws, key) else {
        return Err(ApiError::bad_request(
            "Upgrade request required: exec needs a WebSocket upgrade (SPDY is not supported by the simulator)",
        ));
    };
    let offered: Vec<String> = headers
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|p| p.trim().to_string()))
        .collect();
    let protocol = offered
        .iter()
        .find(|p| PROTOCOLS.contains(&p.as_str()))
        .cloned()
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "none of the offered WebSocket subprotocols {offered:?} is supported; use one of {PROTOCOLS:?}"
            ))
        })?;
    let sandbox = Sandbox::of(cluster, pod, &container);
    cluster.counters.exec_started();
    let on_upgrade = hyper::upgrade::on(&mut req);
    let v5 = protocol == "v5.channel.k8s.io";
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
                session(ws, exec, sandbox, v5).await;
            }
            Err(error) => debug!(%error, "exec upgrade failed"),
        }
    });
    Ok(Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::UPGRADE, "websocket")
        .header(header::CONNECTION, "Upgrade")
        .header("Sec-WebSocket-Accept", derive_accept_key(key.as_bytes()))
        .header("Sec-WebSocket-Protocol", protocol)
        .body(Empty::new().boxed_unsync())
        .expect("static response parts are valid"))
}

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    Message::binary(v)
}

async fn session<S>(mut ws: WebSocketStream<S>, exec: ExecRequest, sandbox: Sandbox, v5: bool)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    // One empty frame per channel the server writes, as the kubelet announces them.
    for ch in [STDOUT, STDERR, STATUS] {
        if ws.send(frame(ch, &[])).await.is_err() {
            return;
        }
    }
    let (out_tx, mut out_rx) = mpsc::unbounded_channel();
    let (in_tx, in_rx) = mpsc::channel::<Bytes>(16);
    let mut in_tx = exec.stdin.then_some(in_tx);
    let mut io = Io {
        out: out_tx,
        stdin: exec.stdin.then_some(in_rx),
    };
    let argv = exec.command.clone();
    let command = async move { run(&argv, &sandbox, &mut io).await };
    tokio::pin!(command);
    let code = loop {
        tokio::select! {
            code = &mut command => break code,
            Some((ch, data)) = out_rx.recv() => {
                let wanted = (ch == STDOUT && exec.stdout) || (ch == STDERR && exec.stderr);
                if wanted && ws.send(frame(ch, &data)).await.is_err() {
                    return;
                }
            }
            msg = ws.next() => match msg {
                Some(Ok(Message::Binary(b))) if b.first() == Some(&STDIN) => {
                    if let Some(tx) = &in_tx {
                        let _ = tx.send(Bytes::copy_from_slice(&b[1..])).await;
                    }
                }
                Some(Ok(Message::Binary(b))) if v5 && b.as_ref() == [CLOSE, STDIN] => in_tx = None,
                Some(Ok(Message::Close(_)) | Err(_)) | None => return, // client gone: the command is dropped
                Some(Ok(_)) => {}
            },
        }
    };
    while let Ok((ch, data)) = out_rx.try_recv() {
        let wanted = (ch == STDOUT && exec.stdout) || (ch == STDERR && exec.stderr);
        if wanted && ws.send(frame(ch, &data)).await.is_err() {
            return;
        }
    }
    let status = exit_status(&exec.command, code);
    let _ = ws.send(frame(STATUS, status.to_string().as_bytes())).await;
    // NB: a close frame with 1000 (normal closure); clients treat a code-less close as an error.
    let _ = ws
        .close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        }))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn sh(argv: &[&str], sb: &Sandbox) -> (String, String, i32) {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut io = Io { out: tx, stdin: None };
        let argv: Vec<String> = argv.iter().map(|s| (*s).to_string()).collect();
        let code = run(&argv, sb, &mut io).await;
        drop(io);
        let (mut out, mut err) = (String::new(), String::new());
        while let Some((ch, d)) = rx.recv().await {
            let s = String::from_utf8_lossy(&d).into_owned();
            if ch == STDOUT {
                out.push_str(&s)
            } else {
                err.push_str(&s)
            }
        }
        (out, err, code)
    }

    fn sandbox() -> Sandbox {
        Sandbox {
            hostname: "web-1".into(),
            env: BTreeMap::from([("MODE".into(), "prod".into())]),
            files: BTreeMap::from([
                ("/etc/app/config.yaml".into(), b"a: 1\n".to_vec()),
                ("/etc/hostname".into(), b"web-1\n".to_vec()),
            ]),
        }
    }

    #[tokio::test]
    async fn commands() {
        let sb = sandbox();
        assert_eq!(
            sh(&["echo", "hi", "there"], &sb).await,
            ("hi there\n".into(), String::new(), 0)
        );
        assert_eq!(sh(&["cat", "/etc/app/config.yaml"], &sb).await.0, "a: 1\n");
        assert_eq!(sh(&["cat", "/nope"], &sb).await.2, 1);
        assert_eq!(sh(&["ls", "/etc/app"], &sb).await.0, "config.yaml\n");
        assert_eq!(sh(&["hostname"], &sb).await.0, "web-1\n");
        assert_eq!(sh(&["exit", "4"], &sb).await.2, 4);
        let (_, err, code) = sh(&["frobnicate"], &sb).await;
        assert_eq!(code, 127);
        assert!(err.contains("executable file not found"));
    }

    #[tokio::test]
    async fn shell_subset() {
        let sb = sandbox();
        assert_eq!(sh(&["sh", "-c", "exit 3"], &sb).await.2, 3);
        assert_eq!(
            sh(
                &[
                    "sh",
                    "-c",
                    "echo \"mode=$MODE\"; echo 'x y' >&2; false || echo recovered"
                ],
                &sb
            )
            .await,
            ("mode=prod\nrecovered\n".into(), "x y\n".into(), 0)
        );
        assert_eq!(sh(&["sh", "-c", "true && exit 7; echo no"], &sb).await.2, 7);
        assert_eq!(sh(&["sh", "-c", "nope"], &sb).await.2, 127);
        let (_, err, code) = sh(&["sh", "-c", "ls | wc -l"], &sb).await;
        assert_eq!(code, 2);
        assert!(err.contains("does not support pipes"), "{err}");
    }

    #[test]
    fn status_carries_the_exit_code() {
        let s = exit_status(&["sh".into(), "-c".into(), "exit 3".into()], 3);
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(s["details"]["causes"][0]["message"], "3");
        assert_eq!(exit_status(&[], 0)["status"], "Success");
    }
}
