//! A diagnosis for people: each cause as one line (reason, detail, how many clusters and
//! pods, what the exit code means), its clusters and evidence; the healthy clusters counted.
//! Terminal, Markdown and one self-contained HTML page.

use std::fmt::Write as _;

use super::super::diagnose::{Cause, Diagnosis};
use super::html::escape;
use super::names;

fn headline(d: &Diagnosis) -> String {
    let ns = d.namespace.as_deref().map(|n| format!(" in {n}")).unwrap_or_default();
    let clusters = d
        .causes
        .iter()
        .flat_map(|c| c.clusters.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    if d.causes.is_empty() {
        return format!(
            "{}{ns}: every pod Ready ({} pod(s) on {} cluster(s))",
            d.target,
            d.pods,
            d.healthy.len()
        );
    }
    format!(
        "{}{ns}: {} pod(s) not Ready on {clusters} cluster(s), {} cause(s); {} cluster(s) healthy",
        d.target,
        d.pods_not_ready,
        d.causes.len(),
        d.healthy.len()
    )
}

fn line(c: &Cause) -> String {
    let pods: usize = c.clusters.values().map(Vec::len).sum();
    let meaning = c.meaning.as_deref().map(|m| format!(" ({m})")).unwrap_or_default();
    format!(
        "{} on {} cluster(s), {pods} pod(s): {}{meaning}",
        c.reason,
        c.clusters.len(),
        c.detail
    )
}

fn clusters_of(c: &Cause) -> Vec<String> {
    c.clusters.keys().cloned().collect()
}

/// The terminal view.
#[must_use]
pub fn terminal(d: &Diagnosis) -> String {
    let mut out = format!("{}\n", headline(d));
    for c in &d.causes {
        let _ = writeln!(out, "\n  {}", line(c));
        let _ = writeln!(out, "    clusters: {}", names(&clusters_of(c), 20));
        for e in &c.evidence {
            let _ = writeln!(out, "    | {e}");
        }
    }
    if !d.failed.is_empty() {
        let _ = writeln!(out, "\n  not asked ({}):", d.failed.len());
        for (cluster, why) in &d.failed {
            let _ = writeln!(out, "    {cluster}: {why}");
        }
    }
    out
}

/// The Markdown view.
#[must_use]
pub fn markdown(d: &Diagnosis) -> String {
    let mut out = format!("# Diagnosis: {}\n\n{}\n", d.target, headline(d));
    for c in &d.causes {
        let _ = writeln!(out, "\n## {}\n\nClusters: {}\n", line(c), names(&clusters_of(c), 50));
        for e in &c.evidence {
            let _ = writeln!(out, "- `{}`", e.replace('`', "'"));
        }
    }
    if !d.failed.is_empty() {
        let _ = writeln!(out, "\n## Not asked\n");
        for (cluster, why) in &d.failed {
            let _ = writeln!(out, "- {cluster}: {why}");
        }
    }
    out
}

/// The HTML page: a picture of the fleet (a cell per cluster, coloured by cause) and each
/// cause with its clusters and evidence.
#[must_use]
pub fn html(d: &Diagnosis) -> String {
    const COLORS: [&str; 8] = [
        "#d9534f", "#f0ad4e", "#5bc0de", "#9b59b6", "#e67e22", "#34495e", "#c0392b", "#16a085",
    ];
    let mut cells = String::new();
    let mut cause_of: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for (i, c) in d.causes.iter().enumerate() {
        for cluster in c.clusters.keys() {
            cause_of.entry(cluster.as_str()).or_insert(i);
        }
    }
    let mut all: Vec<&str> = cause_of
        .keys()
        .copied()
        .chain(d.healthy.iter().map(String::as_str))
        .collect();
    all.sort_unstable();
    all.dedup();
    for cluster in all {
        let (color, what) = match cause_of.get(cluster) {
            Some(i) => (
                COLORS[i % COLORS.len()],
                format!("{}: {}", d.causes[*i].reason, d.causes[*i].detail),
            ),
            None => ("#5cb85c", "healthy".to_string()),
        };
        let _ = write!(
            cells,
            "<span class=\"cell\" style=\"background:{color}\" title=\"{}\"></span>",
            escape(&format!("{cluster}: {what}"))
        );
    }
    let mut body = format!(
        "<h1>Diagnosis: {}</h1><p>{}</p><div class=\"fleet\">{cells}</div>",
        escape(&d.target),
        escape(&headline(d))
    );
    for (i, c) in d.causes.iter().enumerate() {
        let _ = write!(
            body,
            "<h2 class=\"cause\"><span class=\"cell\" style=\"background:{}\"></span> {}</h2><p>Clusters: {}</p><ul>",
            COLORS[i % COLORS.len()],
            escape(&line(c)),
            escape(&names(&clusters_of(c), 100))
        );
        for e in &c.evidence {
            let _ = write!(body, "<li><code>{}</code></li>", escape(e));
        }
        body.push_str("</ul>");
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
<title>{}</title><style>body{{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}}\
.fleet{{display:flex;flex-wrap:wrap;gap:2px;max-width:1200px}}.cell{{display:inline-block;width:12px;height:12px;border-radius:2px}}\
code{{font-size:12px}}</style></head><body>\n{body}\n</body></html>\n",
        escape(&format!("Diagnosis: {}", d.target))
    )
}
