//! `exec`: run argv (never through a shell) in a pod, or in a workload's first ready pod,
//! capturing stdout, stderr (each capped by the policy) and the exit code. The stream is
//! opened once: it is retried only when the server refused it before anything ran.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams};
use tokio::io::AsyncReadExt as _;

use super::{Outcome, pods};
use crate::call::Caller;
use crate::failure::{Failure, Idempotence};
use muster_core::result::{Output, Status};

pub async fn run(c: &Caller) -> Result<Outcome, Failure> {
    if c.command.argv.is_empty() {
        return Err(Failure::invalid(
            "MissingCommand",
            "exec needs a command after --".into(),
        ));
    }
    let candidates = pods::of_target(c).await?;
    let pod = candidates
        .iter()
        .find(|p| pods::is_ready(p))
        .or_else(|| candidates.iter().find(|_| candidates.len() == 1))
        .ok_or_else(|| Failure::invalid("NoReadyPod", "no ready pod to exec in".into()))?;
    let name = pod.metadata.name.clone().unwrap_or_default();
    let what = format!("pod/{name}");
    let mut ap = AttachParams::default().stdin(false).stdout(true).stderr(true);
    if let Some(container) = &c.command.container {
        ap = ap.container(container);
    }
    let argv = &c.command.argv;
    let limit = c.settings.call_timeout.min(c.remaining());
    let started = tokio::time::Instant::now();
    let mut process = c
        .call(Idempotence::Once, |client| {
            let api: Api<Pod> = Api::namespaced(client, c.namespace().as_str());
            let (name, ap) = (&name, &ap);
            async move { api.exec(name, argv.iter().map(String::as_str), ap).await }
        })
        .await
        .map_err(|e| e.failure.within(&what))?;
    let cap = c.settings.max_output_bytes;
    let stdout = process.stdout();
    let stderr = process.stderr();
    let status = process.take_status();
    let run = async {
        let (out, err) = tokio::join!(read_capped(stdout, cap), read_capped(stderr, cap));
        let status = match status {
            Some(s) => s.await,
            None => None,
        };
        (out, err, status)
    };
    let left = limit.saturating_sub(started.elapsed());
    let Ok(((stdout, out_cut), (stderr, err_cut), status)) = tokio::time::timeout(left, run).await else {
        process.abort();
        return Err(Failure::local(
            Status::TimedOut,
            "ExecTimeout",
            format!(
                "{what}: {argv:?} did not finish within {}",
                muster_core::duration::human(limit)
            ),
            false,
        ));
    };
    let exit_code = exit_code(status.as_ref());
    Ok(Outcome {
        output: Output::Streams {
            stdout,
            stderr,
            truncated: out_cut || err_cut,
        },
        exit_code: Some(exit_code),
    })
}

/// Read a stream to its end, keeping at most `cap` bytes (the rest is drained).
async fn read_capped(stream: Option<impl tokio::io::AsyncRead + Unpin>, cap: u64) -> (String, bool) {
    let Some(mut stream) = stream else {
        return (String::new(), false);
    };
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    let mut cut = false;
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let room = usize::try_from(cap).unwrap_or(usize::MAX).saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
        cut |= n > room;
    }
    (String::from_utf8_lossy(&kept).into_owned(), cut)
}

/// The exit code in the exec channel's final status (0 on `Success`; kube-apiserver puts
/// the code in a cause of reason `ExitCode`).
fn exit_code(status: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>) -> i32 {
    let Some(s) = status else { return -1 };
    if s.status.as_deref() == Some("Success") {
        return 0;
    }
    s.details
        .as_ref()
        .and_then(|d| d.causes.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.reason.as_deref() == Some("ExitCode")))
        .and_then(|c| c.message.as_deref())
        .and_then(|m| m.parse().ok())
        .unwrap_or(1)
}
