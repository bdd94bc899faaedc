//! Markdown: a summary table, per-object variants with their differences and `diff` blocks.

use std::fmt::Write as _;

use super::super::Report;
use super::super::changes::Changes;
use super::super::diff::inline;
use super::{changes_headline, headline, names};

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The longest run of backticks in `s`.
fn longest_backticks(s: &str) -> usize {
    s.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// `s` as an inline code span (for a table cell): fenced with more backticks than it holds,
/// so a value with backticks in it cannot end the span early (CommonMark).
fn code(s: &str) -> String {
    let s = cell(s);
    let fence = "`".repeat(longest_backticks(&s) + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// `text` as a fenced code block (with an info string), fenced with more backticks than any
/// run inside it.
fn block(info: &str, text: &str) -> String {
    let fence = "`".repeat(longest_backticks(text).max(2) + 1);
    let nl = if text.ends_with('\n') { "" } else { "\n" };
    format!("{fence}{info}\n{text}{nl}{fence}\n")
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
                    "| {} | {} | {} |",
                    code(&d.path),
                    code(&inline(d.baseline.as_ref())),
                    code(&inline(d.value.as_ref()))
                );
            }
            if let Some(d) = o.unified_diff(&base, v) {
                let _ = writeln!(out, "\n{}", block("diff", &d));
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
                let _ = writeln!(out, "{}", block("", &v.text));
            } else {
                let _ = writeln!(out, "{}", block("diff", &v.diff));
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
                "| {} | {} | {} | {} | {} |",
                cell(&f.object),
                code(&f.path),
                code(&inline(f.old.as_ref())),
                code(&inline(f.new.as_ref())),
                cell(&names(&f.clusters, 20))
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backticks_cannot_break_out() {
        assert_eq!(code("plain"), "`plain`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x`"), "`` `x` ``");
        assert_eq!(code("a|b"), "`a\\|b`");
        let b = block("diff", "-a\n```\n+b\n");
        assert!(b.starts_with("````diff\n") && b.ends_with("\n````\n"), "{b}");
        assert_eq!(block("", "x"), "```\nx\n```\n");
    }
}
