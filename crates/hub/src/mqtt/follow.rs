//! A `logs --follow` session asked for over MQTT: admitted like any command (the
//! namespace's FleetPolicy, its cluster scope), run by the fan-out with a line channel,
//! its lines sent up in batches at a bounded rate, until a cancel message for its
//! `command_id`, its time limit, or the hub stopping; every stream is closed then, and
//! each cluster's result and a summary go up.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use muster_fleet::call::LogLine;
use muster_fleet::hooks::Hooks;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::MqttConfig;
use super::wire::{Refused, Up, fleet_command_name};
use crate::commands::admit::admit;
use crate::context::Context;
use crate::crd::{FleetCommand, FleetCommandSpec};

/// How often collected lines go up.
const BATCH: Duration = Duration::from_millis(200);

/// Run one follow session; what goes up is sent to `up`.
pub async fn run(
    ctx: Arc<Context>,
    cfg: Arc<MqttConfig>,
    command_id: String,
    spec: FleetCommandSpec,
    seconds: Option<u64>,
    up: mpsc::Sender<Up>,
    cancel: CancellationToken,
) {
    let mut fc = FleetCommand::new(&fleet_command_name(&command_id), spec);
    fc.metadata.namespace = Some(cfg.namespace.clone());
    let issued = crate::members::now_rfc3339();
    let admitted = match admit(&ctx, &fc, &command_id, &issued, Hooks::default()).await {
        Ok(a) => a,
        Err(refusal) => {
            let _ = up
                .send(Up::rejected(&Refused {
                    command_id: Some(command_id.clone()),
                    field: refusal.reason.clone(),
                    why: refusal.message.clone(),
                }))
                .await;
            return;
        }
    };
    let mut command = admitted.command;
    command.follow = true;
    let limit = seconds
        .map_or(cfg.follow_limit, Duration::from_secs)
        .min(cfg.follow_limit);
    let session = cancel.child_token();
    let timer = {
        let session = session.clone();
        tokio::spawn(async move {
            tokio::time::sleep(limit).await;
            session.cancel();
        })
    };
    let (tx, mut lines) = mpsc::channel::<LogLine>(4096);
    let started = std::time::Instant::now();
    let stream = admitted
        .fanout
        .run(Arc::new(command), admitted.members, session.clone(), Some(tx));
    let mut stream = std::pin::pin!(stream);
    let mut batch: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut tick = tokio::time::interval(BATCH);
    let per_batch = (cfg.follow_lines_per_second as usize * BATCH.as_millis() as usize / 1000).max(1);
    let (mut in_batch, mut dropped) = (0_usize, 0_u64);
    let mut results = Vec::new();
    loop {
        tokio::select! {
            r = stream.next() => match r {
                Some(r) => results.push(r),
                None => break,
            },
            Some(l) = lines.recv() => {
                if in_batch < per_batch {
                    batch.entry(l.cluster).or_default().push(format!("{}: {}", l.pod, l.line));
                    in_batch += 1;
                } else {
                    dropped += 1;
                }
            }
            _ = tick.tick() => {
                for (cluster, ls) in std::mem::take(&mut batch) {
                    let _ = up.send(Up::log(&command_id, &cluster, ls)).await;
                }
                in_batch = 0;
            }
        }
    }
    timer.abort();
    while let Ok(l) = lines.try_recv() {
        batch
            .entry(l.cluster)
            .or_default()
            .push(format!("{}: {}", l.pod, l.line));
    }
    for (cluster, ls) in batch {
        let _ = up.send(Up::log(&command_id, &cluster, ls)).await;
    }
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for r in &results {
        *counts.entry(format!("{:?}", r.status)).or_default() += 1;
        let _ = up.send(Up::result(&command_id, r)).await;
    }
    let why = if cancel.is_cancelled() {
        "Cancelled"
    } else if session.is_cancelled() {
        "TimeLimit"
    } else {
        "Finished"
    };
    let mut summary = Up::summary(
        &command_id,
        why,
        counts,
        u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    );
    if dropped > 0 {
        summary.error = Some(format!("{dropped} line(s) over the rate limit were dropped"));
    }
    let _ = up.send(summary).await;
    tracing::info!(command_id = %command_id, results = results.len(), dropped, "follow session ended");
}
