//! The bridge's loop. Down: each message is parsed ([`super::wire`]); a command becomes a
//! FleetCommand (created once: its name comes from `command_id`) and the message is
//! acknowledged only then; a bad one is answered `Rejected` and acknowledged once that
//! answer is. Up: finished FleetCommands of the bridge are found, their results and summary
//! queued unless the outbox says the broker has them; every publish is tracked from its
//! packet id to its PUBACK, and a lost connection puts everything unacknowledged back in
//! the queue. Acknowledgements are persisted in batches.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, ListParams, PostParams};
use kube::runtime::WatchStreamExt as _;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::MqttConfig;
use super::conn::{self, Client, Ev, Message, Pump};
use super::outbox::{Acked, COMMAND_ID_ANNOTATION, DELIVERED_ANNOTATION, Outbox, SOURCE_LABEL, mark_delivered};
use super::wire::{self, Request, Up, fleet_command_name};
use crate::context::Context;
use crate::crd::FleetCommand;

/// Publishes requested but not yet acknowledged, at most.
const WINDOW: usize = 256;
/// How often acknowledgements are persisted and refused creations retried.
const SCAN: Duration = Duration::from_millis(300);
/// How often finished commands are looked for besides the watch's news (when it is down).
const FALLBACK_SCAN: Duration = Duration::from_secs(5);

/// Which connection an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Down,
    Up,
}

/// One message up and what its PUBACK means.
#[derive(Debug, Clone)]
enum Item {
    Result {
        fc: String,
        cluster: String,
    },
    Summary {
        fc: String,
    },
    /// The answer to a bad message: the message is acknowledged after it.
    Rejection {
        down: Box<Message>,
    },
    /// Log lines and follow results: sent at QoS 1, not kept in an outbox.
    Untracked,
}

#[derive(Debug, Clone)]
struct Queued {
    item: Item,
    payload: Vec<u8>,
}

/// A finished command whose messages are going up.
struct Tracked {
    fc: FleetCommand,
    acked: Acked,
    results: usize,
    dirty: bool,
}

/// Poll one connection forever, forwarding its events. After an error on the up side it
/// waits until the bridge has taken back what was unacknowledged, then drops what the
/// client still holds (the bridge publishes it again), so no PUBACK is ever matched to the
/// wrong message.
async fn pump(
    mut el: Pump,
    side: Side,
    tx: mpsc::Sender<(Side, Ev)>,
    mut resumed: mpsc::Receiver<()>,
    stop: CancellationToken,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let ev = tokio::select! {
            e = el.poll() => e,
            () = stop.cancelled() => return,
        };
        let lost = matches!(ev, Ev::Lost(_));
        if !lost {
            backoff = Duration::from_millis(200);
        }
        if tx.send((side, ev)).await.is_err() {
            return;
        }
        if lost {
            if side == Side::Up {
                tokio::select! {
                    _ = resumed.recv() => {}
                    () = stop.cancelled() => return,
                }
                el.drop_pending();
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = stop.cancelled() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

/// The bridge's state.
struct Bridge {
    ctx: Arc<Context>,
    cfg: Arc<MqttConfig>,
    up: Client,
    down: Client,
    up_connected: bool,
    queue: VecDeque<Queued>,
    sent: VecDeque<Queued>,
    inflight: HashMap<u16, Queued>,
    tracked: HashMap<String, Tracked>,
    /// Down messages whose FleetCommand could not be created yet.
    retry: Vec<Message>,
    follows: HashMap<String, CancellationToken>,
    follow_up: mpsc::Sender<Up>,
    resume_up: mpsc::Sender<()>,
}

/// Run the bridge until `stop` (leadership lost or the hub stopping).
///
/// # Errors
/// Options that cannot be built (TLS files).
pub async fn run(ctx: Arc<Context>, cfg: Arc<MqttConfig>, stop: CancellationToken) -> Result<(), String> {
    let (up, up_loop) = conn::connect(&cfg, "up", true, 1024)?;
    let (down, down_loop) = conn::connect(&cfg, "down", false, 64)?;
    let (tx, mut events) = mpsc::channel(1024);
    let (resume_up, resumed_up) = mpsc::channel(4);
    let (_resume_down, resumed_down) = mpsc::channel(4);
    tokio::spawn(pump(up_loop, Side::Up, tx.clone(), resumed_up, stop.clone()));
    tokio::spawn(pump(down_loop, Side::Down, tx, resumed_down, stop.clone()));
    let (follow_up, mut follow_rx) = mpsc::channel::<Up>(1024);
    let mut b = Bridge {
        ctx,
        cfg,
        up,
        down,
        up_connected: false,
        queue: VecDeque::new(),
        sent: VecDeque::new(),
        inflight: HashMap::new(),
        tracked: HashMap::new(),
        retry: Vec::new(),
        follows: HashMap::new(),
        follow_up,
        resume_up,
    };
    info!(broker = %format!("{}:{}", b.cfg.host, b.cfg.port), down = %b.cfg.down_topic, up = %b.cfg.up_topic, "MQTT bridge starting");
    let mut scan = tokio::time::interval(SCAN);
    let mut fallback = tokio::time::interval(FALLBACK_SCAN);
    scan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // NB: a change to one of the bridge's FleetCommands (it finished) is looked at at once;
    // the periodic scan is the fallback when the watch is down.
    let (poke, mut poked) = mpsc::channel::<()>(1);
    {
        let api: Api<FleetCommand> = Api::namespaced(b.ctx.client.clone(), &b.cfg.namespace);
        let changes = kube::runtime::watcher(
            api,
            kube::runtime::watcher::Config::default().labels(&format!("{SOURCE_LABEL}=mqtt")),
        )
        .default_backoff();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut changes = std::pin::pin!(changes);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    next = futures::StreamExt::next(&mut changes) => match next {
                        Some(_) => { let _ = poke.try_send(()); }
                        None => return,
                    },
                }
            }
        });
    }
    loop {
        tokio::select! {
            Some((side, ev)) = events.recv() => b.event(side, ev).await,
            Some(u) = follow_rx.recv() => b.enqueue(Item::Untracked, &u),
            Some(()) = poked.recv() => b.scan().await,
            _ = fallback.tick() => b.scan().await,
            _ = scan.tick() => {
                b.persist().await;
                b.retry_down().await;
            }
            () = stop.cancelled() => break,
        }
        b.publish().await;
    }
    for (_, t) in b.follows.drain() {
        t.cancel();
    }
    b.persist().await;
    b.up.disconnect().await;
    b.down.disconnect().await;
    info!("MQTT bridge stopped");
    Ok(())
}

impl Bridge {
    fn enqueue(&mut self, item: Item, up: &Up) {
        self.queue.push_back(Queued {
            item,
            payload: up.to_json(),
        });
    }

    async fn event(&mut self, side: Side, ev: Ev) {
        match (side, ev) {
            (Side::Up, Ev::Lost(e)) => {
                if self.up_connected {
                    warn!(error = %e, "MQTT (up) connection lost; unacknowledged messages are queued again");
                }
                self.up_connected = false;
                // NB: oldest first, ahead of what was never sent.
                let mut back: Vec<Queued> = self.inflight.drain().map(|(_, q)| q).collect();
                back.extend(self.sent.drain(..));
                for q in back.into_iter().rev() {
                    self.queue.push_front(q);
                }
                let _ = self.resume_up.send(()).await;
            }
            (Side::Down, Ev::Lost(e)) => debug!(error = %e, "MQTT (down) connection lost; reconnecting"),
            (Side::Up, Ev::Connected { .. }) => {
                info!("MQTT (up) connected");
                self.up_connected = true;
            }
            (Side::Down, Ev::Connected { session_present }) => {
                info!(session_present, "MQTT (down) connected");
                if let Err(e) = self.down.subscribe(&self.cfg.down_topic).await {
                    warn!(error = %e, "subscribing to the command topic failed");
                }
            }
            (Side::Up, Ev::Sent(pkid)) => {
                if let Some(q) = self.sent.pop_front() {
                    self.inflight.insert(pkid, q);
                }
            }
            (Side::Up, Ev::Acked(pkid)) => {
                if let Some(q) = self.inflight.remove(&pkid) {
                    self.acked(q.item).await;
                }
            }
            (Side::Down, Ev::Received(m)) => self.down_message(m).await,
            _ => {}
        }
    }

    async fn acked(&mut self, item: Item) {
        match item {
            Item::Result { fc, cluster } => {
                if let Some(t) = self.tracked.get_mut(&fc) {
                    t.dirty |= t.acked.clusters.insert(cluster);
                }
            }
            Item::Summary { fc } => {
                if let Some(t) = self.tracked.get_mut(&fc) {
                    t.dirty |= !t.acked.summary;
                    t.acked.summary = true;
                }
            }
            Item::Rejection { down } => self.down.ack(&down).await,
            Item::Untracked => {}
        }
    }

    async fn down_message(&mut self, p: Message) {
        match wire::parse(p.payload()) {
            Err(refused) => {
                warn!(field = %refused.field, command_id = ?refused.command_id, "MQTT command refused: {}", refused.why);
                self.ctx.metrics.mqtt_message("down", "Rejected");
                let up = Up::rejected(&refused);
                self.enqueue(Item::Rejection { down: Box::new(p) }, &up);
            }
            Ok(Request::Cancel { command_id }) => {
                if let Some(t) = self.follows.remove(&command_id) {
                    info!(command_id = %command_id, "follow session cancelled by message");
                    t.cancel();
                }
                self.down.ack(&p).await;
            }
            Ok(Request::Follow {
                command_id,
                spec,
                seconds,
            }) => {
                self.follows.retain(|_, t| !t.is_cancelled());
                if !self.follows.contains_key(&command_id) {
                    let token = CancellationToken::new();
                    self.follows.insert(command_id.clone(), token.clone());
                    tokio::spawn(super::follow::run(
                        self.ctx.clone(),
                        self.cfg.clone(),
                        command_id,
                        *spec,
                        seconds,
                        self.follow_up.clone(),
                        token,
                    ));
                }
                self.ctx.metrics.mqtt_message("down", "Follow");
                self.down.ack(&p).await;
            }
            Ok(Request::Run { command_id, spec }) => {
                if self.create(&command_id, *spec).await {
                    self.down.ack(&p).await;
                } else {
                    self.retry.push(p);
                }
            }
        }
    }

    /// Create the FleetCommand of a command (already there is fine); whether it exists now.
    async fn create(&self, command_id: &str, spec: crate::crd::FleetCommandSpec) -> bool {
        let api: Api<FleetCommand> = Api::namespaced(self.ctx.client.clone(), &self.cfg.namespace);
        let name = fleet_command_name(command_id);
        let mut fc = FleetCommand::new(&name, spec);
        fc.metadata.namespace = Some(self.cfg.namespace.clone());
        fc.metadata.labels = Some([(SOURCE_LABEL.to_string(), "mqtt".to_string())].into());
        fc.metadata.annotations = Some([(COMMAND_ID_ANNOTATION.to_string(), command_id.to_string())].into());
        match api.create(&PostParams::default(), &fc).await {
            Ok(_) => {
                info!(command_id, fleetcommand = %name, "MQTT command accepted");
                self.ctx.metrics.mqtt_message("down", "Accepted");
                true
            }
            Err(kube::Error::Api(e)) if e.code == 409 => {
                info!(command_id, fleetcommand = %name, "MQTT command delivered again; it runs once");
                self.ctx.metrics.mqtt_message("down", "Duplicate");
                true
            }
            Err(e) => {
                warn!(command_id, error = %e, "creating the FleetCommand failed; retrying");
                false
            }
        }
    }

    async fn retry_down(&mut self) {
        for p in std::mem::take(&mut self.retry) {
            self.down_message(p).await;
        }
    }

    /// Find finished commands of the bridge not delivered yet, and queue what the broker
    /// does not have.
    async fn scan(&mut self) {
        let api: Api<FleetCommand> = Api::namespaced(self.ctx.client.clone(), &self.cfg.namespace);
        let list = match api
            .list(&ListParams::default().labels(&format!("{SOURCE_LABEL}=mqtt")))
            .await
        {
            Ok(l) => l,
            Err(e) => {
                debug!(error = %e, "listing the bridge's FleetCommands failed");
                return;
            }
        };
        for fc in list.items {
            let name = fc.metadata.name.clone().unwrap_or_default();
            let delivered = fc
                .metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key(DELIVERED_ANNOTATION));
            let finished = fc.status.as_ref().is_some_and(|s| s.phase.is_finished());
            if delivered || !finished || self.tracked.contains_key(&name) {
                continue;
            }
            let command_id = fc
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(COMMAND_ID_ANNOTATION))
                .cloned()
                .unwrap_or_else(|| name.clone());
            let acked = match Outbox::of(&self.ctx.client, &fc).load().await {
                Ok(a) => a,
                Err(e) => {
                    warn!(fleetcommand = %name, error = %e, "reading the outbox failed");
                    continue;
                }
            };
            let results = match crate::remote::results(&self.ctx.client, &fc).await {
                Ok(r) => r,
                Err(e) => {
                    warn!(fleetcommand = %name, error = %e, "reading the results failed");
                    continue;
                }
            };
            let mut queued = 0;
            for r in &results {
                if !acked.clusters.contains(&r.cluster) {
                    self.enqueue(
                        Item::Result {
                            fc: name.clone(),
                            cluster: r.cluster.clone(),
                        },
                        &Up::result(&command_id, r),
                    );
                    queued += 1;
                }
            }
            if !acked.summary {
                let s = fc.status.clone().unwrap_or_default();
                let ms = match (
                    s.start_time.as_deref().and_then(|t| t.parse::<jiff::Timestamp>().ok()),
                    s.finish_time.as_deref().and_then(|t| t.parse::<jiff::Timestamp>().ok()),
                ) {
                    (Some(a), Some(b)) => u64::try_from(b.as_millisecond() - a.as_millisecond()).unwrap_or(0),
                    _ => 0,
                };
                self.enqueue(
                    Item::Summary { fc: name.clone() },
                    &Up::summary(&command_id, &format!("{:?}", s.phase), s.counts.clone(), ms),
                );
                queued += 1;
            }
            debug!(fleetcommand = %name, queued, acked = acked.clusters.len(), "results queued for MQTT");
            self.tracked.insert(
                name,
                Tracked {
                    fc,
                    acked,
                    results: results.len(),
                    dirty: true,
                },
            );
        }
    }

    /// Persist acknowledgements; a command whose every message was acknowledged is marked
    /// delivered and forgotten.
    async fn persist(&mut self) {
        let mut done = Vec::new();
        for (name, t) in &mut self.tracked {
            let complete = t.acked.summary && t.acked.clusters.len() >= t.results;
            if !t.dirty && !complete {
                continue;
            }
            if t.dirty {
                if let Err(e) = Outbox::of(&self.ctx.client, &t.fc).save(&t.acked).await {
                    warn!(fleetcommand = %name, error = %e, "persisting acknowledgements failed; retrying");
                    continue;
                }
                t.dirty = false;
            }
            if complete {
                match mark_delivered(&self.ctx.client, &t.fc).await {
                    Ok(()) => done.push(name.clone()),
                    Err(kube::Error::Api(e)) if e.code == 404 => done.push(name.clone()),
                    Err(e) => warn!(fleetcommand = %name, error = %e, "marking delivered failed; retrying"),
                }
            }
        }
        for name in done {
            info!(fleetcommand = %name, "every MQTT message acknowledged");
            self.tracked.remove(&name);
        }
    }

    /// Send queued messages while connected, up to the window.
    async fn publish(&mut self) {
        while self.up_connected && self.sent.len() + self.inflight.len() < WINDOW {
            let Some(q) = self.queue.pop_front() else { break };
            match self.up.try_publish(&self.cfg.up_topic, q.payload.clone()) {
                Ok(()) => {
                    self.ctx.metrics.mqtt_message("up", "Published");
                    self.sent.push_back(q);
                }
                Err(_) => {
                    // NB: the client's queue is full: later.
                    self.queue.push_front(q);
                    break;
                }
            }
        }
    }
}
