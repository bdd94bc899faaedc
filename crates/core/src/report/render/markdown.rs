//! Markdown: a summary table, per-object variants with their differences and `diff` blocks.

use std::fmt::Write as _;

use super::super::Report;
use super::super::changes::Changes;
use super::super::diff::inline;
use super::{changes_headline, headline, names};

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// A report as Markdown.
#[must_use]
pub fn report(r: &Report) -> String {
    let mut out = format!("# muster report: {} {}\n\n{}\n\n", r.action, r.target, headline(r));
    let s = &r.summary;
    let _ = writeln!(
        out,
        "| clusters | agree | differ | did not answer | variants |\n|---|---|---|---|---|"
    );
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} |\n",
        s.clusters, s.agree, s.differ, s.failed, s.variants
    );
    if !r.inventory.is_empty() {
        let _ = writeln!(out, "## Inventory\n\n| object | present | missing on |\n|---|---|---|");
        for i in &r.inventory {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                cell(&i.object),
                i.present.len(),
                cell(&names(&i.missing, 20))
            );
        }
        out.push('\n');
    }
    for o in &r.objects {
        let _ = writeln!(out, "## {} {}\n", o.kind, o.object);
        let _ = writeln!(out, "| variant | clusters | |\n|---|---|---|");
        for v in &o.variants {
            let role = o.role(v);
            let _ = writeln!(
                out,
                "| {} {role} | {} | {} |",
                v.id,
                v.clusters.len(),
                cell(&names(&v.clusters, 20))
            );
        }
        out.push('\n');
        let base = o.baseline_yaml();
        for v in o.variants.iter().filter(|v| !v.differences.is_empty()) {
            let _ = writeln!(
                out,
                "### Variant {}\n\n| field | baseline | variant {} |\n|---|---|---|",
                v.id, v.id
            );
            for d in &v.differences {
                let _ = writeln!(
                    out,
                    "| `{}` | `{}` | `{}` |",
                    cell(&d.path),
                    cell(&inline(d.baseline.as_ref())),
                    cell(&inline(d.value.as_ref()))
                );
            }
            if let Some(d) = o.unified_diff(&base, v) {
                let _ = writeln!(out, "\n```diff\n{d}```\n");
            }
        }
    }
    if let Some(t) = &r.text {
        for v in &t.variants {
            let _ = writeln!(
                out,
                "## Variant {} ({} clusters): {}\n",
                v.id,
                v.clusters.len(),
                cell(&names(&v.clusters, 20))
            );
            if v.id == t.baseline {
                let _ = writeln!(out, "```\n{}\n```\n", v.text);
            } else {
                let _ = writeln!(out, "```diff\n{}```\n", v.diff);
            }
        }
    }
    if !r.statuses.is_empty() {
        let _ = writeln!(out, "| status | clusters |\n|---|---|");
        for (s, c) in &r.statuses {
            let _ = writeln!(out, "| {s} | {} |", cell(&names(c, 30)));
        }
        out.push('\n');
    }
    if !r.failed.is_empty() {
        let _ = writeln!(
            out,
            "## Did not answer\n\n| cluster | status | message |\n|---|---|---|"
        );
        for f in &r.failed {
            let _ = writeln!(out, "| {} | {:?} | {} |", f.cluster, f.status, cell(&f.message));
        }
    }
    out
}

/// A report diff as Markdown.
#[must_use]
pub fn changes(c: &Changes) -> String {
    let mut out = format!("# muster report diff: {}\n\n{}\n\n", c.target, changes_headline(c));
    let groups = [
        ("drifted", &c.drifted),
        ("converged", &c.converged),
        ("appeared", &c.appeared),
        ("disappeared", &c.disappeared),
    ];
    if groups.iter().any(|(_, g)| !g.is_empty()) {
        let _ = writeln!(out, "| change | object | clusters |\n|---|---|---|");
        for (label, gs) in groups {
            for g in gs {
                let _ = writeln!(
                    out,
                    "| {label} | {} | {} |",
                    cell(&g.object),
                    cell(&names(&g.clusters, 20))
                );
            }
        }
        out.push('\n');
    }
    if !c.fields.is_empty() {
        let _ = writeln!(
            out,
            "| object | field | before | after | clusters |\n|---|---|---|---|---|"
        );
        for f in &c.fields {
            let _ = writeln!(
                out,
                "| {} | `{}` | `{}` | `{}` | {} |",
                cell(&f.object),
                cell(&f.path),
                cell(&inline(f.old.as_ref())),
                cell(&inline(f.new.as_ref())),
                cell(&names(&f.clusters, 20))
            );
        }
    }
    out
}
