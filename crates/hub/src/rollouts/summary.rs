//! A rollout's status counts from its ledger: clusters updated, per-wave counts and times,
//! and the bounded list of clusters not in the desired state (failed first, then by wave
//! and name). Pure: the status stays small (at most [`MAX_LISTED`] clusters by name) at any
//! fleet size.

use super::drive::rfc3339;
use super::ledger::{Entry, Ledger, State};
use super::plan::wave_name;
use crate::crd::rollout::{ClusterState, MAX_LISTED, Wave, WaveStatus};

/// What the status shows of the ledger.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub updated: u64,
    pub waves: Vec<WaveStatus>,
    pub not_ready: Vec<ClusterState>,
    pub not_ready_more: u64,
}

/// Whether a cluster is part of a rollback (it received the revision).
#[must_use]
pub fn in_rollback(e: &Entry) -> bool {
    matches!(e.state, State::RollingBack | State::RolledBack | State::RollbackFailed)
}

/// Sum the ledger of revision `number` up (one pass over its clusters).
#[must_use]
pub fn summarize(ledger: &Ledger, waves: &[Wave], number: u32) -> Summary {
    let mut per_wave: Vec<WaveStatus> = (0..waves.len())
        .map(|w| {
            let mark = ledger.waves.get(w).cloned().unwrap_or_default();
            WaveStatus {
                name: wave_name(&waves[w], w),
                started: mark.started.map(rfc3339),
                finished: mark.finished.map(rfc3339),
                ..WaveStatus::default()
            }
        })
        .collect();
    let desired = if ledger.rollback {
        State::RolledBack
    } else {
        State::Passed
    };
    let mut updated = 0;
    let mut off: Vec<(&String, &Entry)> = Vec::new();
    for (name, e) in &ledger.clusters {
        if e.state == State::Passed && e.revision == number {
            updated += 1;
        }
        if let Some(w) = per_wave.get_mut(e.wave as usize) {
            w.clusters += 1;
            if e.revision == number && e.applied.is_some() {
                w.updated += 1;
            }
            match e.state {
                State::Passed => w.passed += 1,
                State::Failed | State::RollbackFailed => w.failed += 1,
                State::Deferred | State::Skipped => w.deferred += 1,
                _ => {}
            }
        }
        if e.state != desired && (!ledger.rollback || in_rollback(e)) {
            off.push((name, e));
        }
    }
    let total_off = off.len();
    let key = |(n, e): &(&String, &Entry)| (e.state != State::Failed, e.wave, (*n).clone());
    if off.len() > MAX_LISTED {
        off.select_nth_unstable_by_key(MAX_LISTED - 1, key);
        off.truncate(MAX_LISTED);
    }
    off.sort_by_key(key);
    Summary {
        updated,
        waves: per_wave,
        not_ready: off
            .iter()
            .map(|(n, e)| ClusterState {
                cluster: (*n).clone(),
                state: e.state.as_str().into(),
                message: e.message.chars().take(300).collect(),
            })
            .collect(),
        not_ready_more: total_off.saturating_sub(MAX_LISTED) as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::rollout::FleetRolloutStatus;
    use crate::rollouts::ledger::WaveMark;

    #[test]
    fn ten_thousand_failing_clusters_keep_the_status_small() {
        let waves = crate::rollouts::plan::default_waves();
        let mut l = Ledger {
            revision: 2,
            waves: vec![WaveMark::default(); waves.len()],
            ..Ledger::default()
        };
        for i in 0..10_000_u32 {
            let mut e = Entry::new(i % 4, 1);
            e.state = if i % 2 == 0 { State::Failed } else { State::Applied };
            e.message = format!(
                "deployment.apps/web: pod web-{i} container web (nginx:broken): CrashLoopBackOff: {}",
                "x".repeat(400)
            );
            l.clusters.insert(format!("capi/cluster-{i:05}"), e);
        }
        let sum = summarize(&l, &waves, 2);
        assert_eq!(sum.not_ready.len(), MAX_LISTED);
        assert_eq!(sum.not_ready_more, 10_000 - MAX_LISTED as u64);
        assert!(sum.not_ready.iter().all(|c| c.state == "Failed"), "failed first");
        assert_eq!(sum.not_ready[0].cluster, "capi/cluster-00000");
        assert_eq!(sum.waves.iter().map(|w| w.clusters).sum::<u64>(), 10_000);
        let status = FleetRolloutStatus {
            waves: sum.waves,
            not_ready: sum.not_ready,
            not_ready_more: sum.not_ready_more,
            ..FleetRolloutStatus::default()
        };
        let bytes = serde_json::to_vec(&status).unwrap().len();
        assert!(bytes < 256 * 1024, "{bytes} bytes");
        assert!(bytes < 64 * 1024, "{bytes} bytes: far under the limit");
    }
}
