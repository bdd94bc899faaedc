//! A FleetCommand's status from its results: counts by status, the phase they add up to,
//! the bounded list of clusters that did not succeed, the variants summary and the drifted
//! clusters of a report. Pure functions; the run writes what they build.

use std::collections::{BTreeMap, BTreeSet};

use muster_core::report::Report;
use muster_core::result::{ExecResult, Status};

use crate::crd::command::{ClusterOutcome, MAX_LISTED_CLUSTERS, VariantsSummary};
use crate::crd::{Condition, FleetCommandStatus, Phase};

/// Results folded into counts and the not-succeeded list, as they arrive.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub counts: BTreeMap<String, u64>,
    pub not_succeeded: Vec<ClusterOutcome>,
    pub not_succeeded_more: u64,
    pub done: u64,
}

impl Tally {
    pub fn add(&mut self, r: &ExecResult) {
        self.done += 1;
        *self.counts.entry(format!("{:?}", r.status)).or_default() += 1;
        if r.status == Status::Succeeded {
            return;
        }
        if self.not_succeeded.len() < MAX_LISTED_CLUSTERS {
            let (reason, message) = r
                .error
                .as_ref()
                .map(|e| (e.reason.clone(), e.message.chars().take(200).collect()))
                .unwrap_or_default();
            self.not_succeeded.push(ClusterOutcome {
                cluster: r.cluster.clone(),
                status: format!("{:?}", r.status),
                reason,
                message,
            });
        } else {
            self.not_succeeded_more += 1;
        }
    }

    /// The outcome of a finished run over `selected` clusters.
    #[must_use]
    pub fn phase(&self) -> Phase {
        let n = |s: &str| self.counts.get(s).copied().unwrap_or(0);
        let succeeded = n("Succeeded");
        if succeeded == self.done {
            Phase::Succeeded
        } else if n("Rejected") == self.done {
            Phase::Rejected
        } else if succeeded == 0 {
            Phase::Failed
        } else {
            Phase::PartiallySucceeded
        }
    }

    /// Copy the tally into a status (sorting the listed clusters).
    pub fn fill(&self, status: &mut FleetCommandStatus) {
        status.counts.clone_from(&self.counts);
        status.not_succeeded.clone_from(&self.not_succeeded);
        status.not_succeeded.sort_by(|a, b| a.cluster.cmp(&b.cluster));
        status.not_succeeded_more = self.not_succeeded_more;
    }
}

/// How the clusters compare, for reads (`get`, `logs`, `exec`).
#[must_use]
pub fn variants(report: &Report) -> VariantsSummary {
    VariantsSummary {
        variants: report.summary.variants as u64,
        agree: report.summary.agree as u64,
        differ: report.summary.differ as u64,
        found_nowhere: report.summary.found_nowhere,
    }
}

/// Clusters outside the baseline anywhere in the report (objects or text).
#[must_use]
pub fn drifted(report: &Report) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for o in &report.objects {
        for v in o.variants.iter().filter(|v| v.id != o.baseline) {
            out.extend(v.clusters.iter().cloned());
        }
    }
    if let Some(t) = &report.text {
        for v in t.variants.iter().filter(|v| v.id != t.baseline) {
            out.extend(v.clusters.iter().cloned());
        }
    }
    out
}

/// Set a condition, keeping its transition time when its status did not change.
pub fn set_condition(conditions: &mut Vec<Condition>, mut c: Condition) {
    if let Some(old) = conditions.iter_mut().find(|o| o.type_ == c.type_) {
        if old.status == c.status {
            c.last_transition_time.clone_from(&old.last_transition_time);
        }
        *old = c;
    } else {
        conditions.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use muster_core::command::Action;
    use muster_core::result::{ExecError, Output};

    fn result(cluster: &str, status: Status) -> ExecResult {
        ExecResult {
            command_id: "c".into(),
            cluster: cluster.into(),
            action: Action::Get,
            target: "deploy/web".into(),
            status,
            exit_code: None,
            output: Output::None,
            error: (status != Status::Succeeded).then(|| ExecError {
                reason: "Boom".into(),
                code: None,
                message: "x".repeat(500),
            }),
            duration_ms: 1,
            attempts: 1,
        }
    }

    #[test]
    fn phases_and_bounds() {
        let mut t = Tally::default();
        assert_eq!(t.phase(), Phase::Succeeded, "nothing selected, nothing failed");
        t.add(&result("a", Status::Succeeded));
        assert_eq!(t.phase(), Phase::Succeeded);
        t.add(&result("b", Status::Failed));
        assert_eq!(t.phase(), Phase::PartiallySucceeded);
        let mut f = Tally::default();
        f.add(&result("a", Status::Failed));
        f.add(&result("b", Status::Rejected));
        assert_eq!(f.phase(), Phase::Failed);
        let mut r = Tally::default();
        r.add(&result("a", Status::Rejected));
        assert_eq!(r.phase(), Phase::Rejected);
        let mut big = Tally::default();
        for i in 0..10_000 {
            big.add(&result(&format!("c{i:05}"), Status::TimedOut));
        }
        let mut s = FleetCommandStatus::default();
        big.fill(&mut s);
        assert_eq!(s.not_succeeded.len(), MAX_LISTED_CLUSTERS);
        assert_eq!(s.not_succeeded_more, 10_000 - MAX_LISTED_CLUSTERS as u64);
        assert!(s.not_succeeded.iter().all(|o| o.message.chars().count() == 200));
        assert_eq!(s.counts["TimedOut"], 10_000);
    }
}
