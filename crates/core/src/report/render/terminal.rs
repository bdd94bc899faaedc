//! The terminal view: headline, variants with their clusters and field differences, unified
//! diffs (coloured when asked), failed clusters.

use std::fmt::Write as _;

use super::super::Report;
use super::super::changes::Changes;
use super::super::diff::inline;
use super::{changes_headline, count, headline, names};

struct Paint(bool);

impl Paint {
    fn code(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn bold(&self, s: &str) -> String {
        self.code("1", s)
    }
    fn diff(&self, d: &str) -> String {
        d.lines()
            .map(|l| {
                let painted = if l.starts_with("+++") || l.starts_with("---") {
                    self.bold(l)
                } else if l.starts_with('+') {
                    self.code("32", l)
                } else if l.starts_with('-') {
                    self.code("31", l)
                } else if l.starts_with("@@") {
                    self.code("36", l)
                } else {
                    l.to_string()
                };
                format!("      {painted}\n")
            })
            .collect()
    }
}

/// The report for a terminal.
#[must_use]
pub fn report(r: &Report, color: bool) -> String {
    let p = Paint(color);
    let mut out = format!("{}\n", p.bold(&headline(r)));
    for inv in r.inventory.iter().filter(|i| !i.missing.is_empty()) {
        let _ = writeln!(
            out,
            "  {} exists on {} and is missing on {}",
            inv.object,
            count(inv.present.len(), "cluster"),
            names(&inv.missing, 8)
        );
    }
    for o in &r.objects {
        let _ = writeln!(
            out,
            "\n{} {} ({}):",
            o.kind,
            p.bold(&o.object),
            count(o.variants.len(), "variant")
        );
        let base = o.baseline_yaml();
        for v in &o.variants {
            let role = o.role(v);
            let _ = writeln!(
                out,
                "  {} {role:<8} {}: {}",
                p.bold(&v.id),
                count(v.clusters.len(), "cluster"),
                names(&v.clusters, 10)
            );
            for d in &v.differences {
                let _ = writeln!(
                    out,
                    "      {}: {} -> {}",
                    d.path,
                    inline(d.baseline.as_ref()),
                    inline(d.value.as_ref())
                );
            }
            if let Some(d) = o.unified_diff(&base, v) {
                out.push_str(&p.diff(&d));
            }
        }
    }
    if let Some(t) = &r.text {
        for v in &t.variants {
            let role = if v.id == t.baseline { "baseline" } else { "differs" };
            let _ = writeln!(
                out,
                "\n  {} {role:<8} {}: {}",
                p.bold(&v.id),
                count(v.clusters.len(), "cluster"),
                names(&v.clusters, 10)
            );
            if v.id == t.baseline {
                for l in v.text.lines().take(20) {
                    let _ = writeln!(out, "      {l}");
                }
            } else {
                out.push_str(&p.diff(&v.diff));
            }
        }
    }
    for (status, clusters) in &r.statuses {
        let _ = writeln!(
            out,
            "  {status:<10} {}: {}",
            count(clusters.len(), "cluster"),
            names(clusters, 10)
        );
    }
    if !r.failed.is_empty() {
        let _ = writeln!(out, "\n{}", p.bold("did not answer:"));
        for f in &r.failed {
            let _ = writeln!(out, "  {:<12} {:?}: {}", f.cluster, f.status, f.message);
        }
    }
    out
}

/// A report diff for a terminal.
#[must_use]
pub fn changes(c: &Changes, color: bool) -> String {
    let p = Paint(color);
    let mut out = format!("{}\n", p.bold(&changes_headline(c)));
    for (label, groups) in [
        ("drifted from the baseline", &c.drifted),
        ("converged to the baseline", &c.converged),
        ("appeared", &c.appeared),
        ("disappeared", &c.disappeared),
    ] {
        for g in groups {
            let _ = writeln!(out, "  {} {label} on {}", g.object, names(&g.clusters, 10));
        }
    }
    for f in &c.fields {
        let _ = writeln!(
            out,
            "  {} {}: {} -> {} on {}",
            f.object,
            f.path,
            p.code("31", &inline(f.old.as_ref())),
            p.code("32", &inline(f.new.as_ref())),
            names(&f.clusters, 10)
        );
    }
    if !c.failing.is_empty() {
        let _ = writeln!(out, "  failing now: {}", names(&c.failing, 10));
    }
    if !c.recovered.is_empty() {
        let _ = writeln!(out, "  recovered: {}", names(&c.recovered, 10));
    }
    out
}
