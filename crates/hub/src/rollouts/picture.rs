//! A rollout as one HTML page: a cell per cluster, grouped by wave and coloured by its
//! state in the ledger (passed, verifying, applying, pending, failed, deferred, rolled
//! back, ...); hovering a cell names the cluster, its state and why. Readable at thousands
//! of clusters.

use std::fmt::Write as _;

use muster_core::report::render::html::escape;

use super::ledger::{Ledger, State};
use crate::crd::rollout::{FleetRolloutStatus, Wave};

fn color(s: State) -> &'static str {
    match s {
        State::Passed => "#5cb85c",
        State::Applied => "#5bc0de",
        State::Applying => "#f7e463",
        State::Pending => "#ddd",
        State::Failed | State::RollbackFailed => "#d9534f",
        State::Deferred => "#f0ad4e",
        State::Skipped => "#777",
        State::RollingBack => "#b39ddb",
        State::RolledBack => "#7e57c2",
    }
}

/// The page of rollout `key` at `status`, from its ledger.
#[must_use]
pub fn page(key: &str, status: &FleetRolloutStatus, waves: &[Wave], ledger: &Ledger) -> String {
    let mut b = format!(
        "<h1>FleetRollout {}</h1><p>revision {} ({}) {:?}, wave {}, {}/{} cluster(s) updated</p><p class=\"legend\">",
        escape(key),
        status.revision,
        escape(&status.revision_hash),
        status.phase,
        escape(&status.wave),
        status.updated,
        status.total
    );
    for s in [
        State::Passed,
        State::Applied,
        State::Applying,
        State::Pending,
        State::Failed,
        State::Deferred,
        State::Skipped,
        State::RolledBack,
    ] {
        let _ = write!(b, "<span style=\"background:{}\"></span>{}", color(s), s.as_str());
    }
    b.push_str("</p>\n");
    let n = ledger.waves.len().max(waves.len());
    for w in 0..n {
        let name = waves
            .get(w)
            .map_or_else(|| format!("wave {}", w + 1), |wv| super::plan::wave_name(wv, w));
        let members: Vec<(&String, _)> = ledger.clusters.iter().filter(|(_, e)| e.wave as usize == w).collect();
        let _ = write!(
            b,
            "<h2>{} ({} cluster(s))</h2><div class=\"fleet\">",
            escape(&name),
            members.len()
        );
        for (cluster, e) in members {
            let why = if e.message.is_empty() {
                String::new()
            } else {
                format!(": {}", e.message)
            };
            let _ = write!(
                b,
                "<a style=\"background:{}\" title=\"{}\"></a>",
                color(e.state),
                escape(&format!("{cluster}: {}{why}", e.state.as_str()))
            );
        }
        b.push_str("</div>\n");
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
<title>FleetRollout {}</title><style>body{{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}}\
.fleet{{display:flex;flex-wrap:wrap;gap:2px;max-width:1400px}}.fleet a{{display:block;width:12px;height:12px;border-radius:2px}}\
.legend span{{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px;border-radius:2px}}</style></head><body>\n{b}</body></html>\n",
        escape(key)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollouts::ledger::{Entry, WaveMark};

    #[test]
    fn a_cell_per_cluster_by_wave() {
        let mut l = Ledger {
            waves: vec![WaveMark::default(); 2],
            ..Ledger::default()
        };
        for i in 0..1000_u32 {
            let mut e = Entry::new(u32::from(i > 0), 0);
            e.state = if i == 0 { State::Failed } else { State::Pending };
            if i == 0 {
                e.message = "deployment.apps/web: CrashLoopBackOff <x>".into();
            }
            l.clusters.insert(format!("c{i:04}"), e);
        }
        let html = page(
            "team-a/web",
            &FleetRolloutStatus::default(),
            &crate::rollouts::plan::default_waves(),
            &l,
        );
        assert_eq!(html.matches("<a style=").count(), 1000);
        assert!(html.contains("title=\"c0000: Failed: deployment.apps/web: CrashLoopBackOff &lt;x&gt;\""));
        assert!(html.contains("<h2>canary (1 cluster(s))</h2>") && html.contains("<h2>10% (999 cluster(s))</h2>"));
    }
}
