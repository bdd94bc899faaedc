//! `logs`: a pod's log, or every pod of a workload (lines prefixed `[pod/NAME]`), with `-c`,
//! `--tail` (the policy caps it), `--limit-bytes`, `--since`, `--previous`, and the policy's
//! output cap. `--follow` sends lines as they arrive until the stream ends or the command is
//! cancelled; dropping the future closes every stream.

use futures::{AsyncBufReadExt as _, StreamExt as _};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams};

use super::{Outcome, pods};
use crate::call::{Caller, LogLine};
use crate::failure::{Failure, Idempotence};
use muster_core::command::Action;
use muster_core::result::Output;

pub async fn run(c: &Caller) -> Result<Outcome, Failure> {
    let pods = pods::of_target(c).await?;
    if pods.is_empty() {
        return Err(Failure::invalid("NoPods", "no pods match".into()));
    }
    let single = pods.len() == 1 && c.command.target.as_ref().is_some_and(|t| t.resource.starts_with("po"));
    let cmd = &c.command;
    let params = LogParams {
        container: cmd.container.clone(),
        tail_lines: cmd.tail_lines.and_then(|t| i64::try_from(t).ok()),
        limit_bytes: cmd.limit_bytes.and_then(|b| i64::try_from(b).ok()),
        since_seconds: cmd.since_seconds.and_then(|s| i64::try_from(s).ok()),
        previous: cmd.previous,
        follow: cmd.follow && cmd.action == Action::Logs,
        ..LogParams::default()
    };
    if params.follow {
        return follow(c, &pods, &params).await;
    }
    let cap = usize::try_from(c.settings.max_output_bytes).unwrap_or(usize::MAX);
    let mut lines = Vec::new();
    let mut used = 0usize;
    let mut truncated = false;
    for pod in &pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let text = c
            .call(Idempotence::Read, |client| {
                let api: Api<Pod> = Api::namespaced(client, c.namespace().as_str());
                let (name, params) = (&name, &params);
                async move { api.logs(name, params).await }
            })
            .await;
        let text = match text {
            Ok(t) => t,
            // NB: of a workload's pods, one still starting (or gone) is noted, not fatal.
            Err(e) if !single && matches!(e.failure.code, Some(400 | 404)) => {
                lines.push(format!("[pod/{name}] (no log: {})", e.failure.detail));
                continue;
            }
            Err(e) => return Err(e.failure.within(&format!("pod/{name}"))),
        };
        for line in text.lines() {
            let line = if single {
                line.to_string()
            } else {
                format!("[pod/{name}] {line}")
            };
            used += line.len() + 1;
            if used > cap {
                truncated = true;
                break;
            }
            lines.push(line);
        }
        if truncated {
            break;
        }
    }
    Ok(Outcome {
        output: Output::Lines { lines, truncated },
        exit_code: None,
    })
}

async fn follow(c: &Caller, pods: &[Pod], params: &LogParams) -> Result<Outcome, Failure> {
    let sink = c
        .log_lines
        .clone()
        .ok_or_else(|| Failure::invalid("NoLogSink", "--follow needs a terminal to stream to".into()))?;
    let streams = pods.iter().map(|pod| {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let sink = sink.clone();
        async move {
            let stream = c
                .call(Idempotence::Read, |client| {
                    let api: Api<Pod> = Api::namespaced(client, c.namespace().as_str());
                    let name = &name;
                    async move { api.log_stream(name, params).await }
                })
                .await
                .map_err(|e| e.failure.within(&format!("pod/{name}")))?;
            let mut lines = stream.lines();
            let mut n = 0u64;
            while let Some(Ok(line)) = lines.next().await {
                n += 1;
                let sent = sink
                    .send(LogLine {
                        cluster: c.cluster().to_string(),
                        pod: name.clone(),
                        line,
                    })
                    .await;
                if sent.is_err() {
                    break; // the reader went away
                }
            }
            Ok::<u64, Failure>(n)
        }
    });
    let counts = futures::future::try_join_all(streams).await?;
    Ok(Outcome::summary(&[format!(
        "followed {} line(s) from {} pod(s)",
        counts.iter().sum::<u64>(),
        pods.len()
    )]))
}
