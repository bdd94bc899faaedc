//! One self-contained HTML file (inline CSS and a few lines of script, no network fetches):
//! the summary, the inventory, each object's variants with their field differences, and
//! side-by-side diffs against the baseline.

use std::fmt::Write as _;

use super::super::Report;
use super::super::changes::Changes;
use super::super::diff::inline;
use super::{changes_headline, count, headline, names};

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}\
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}table{border-collapse:collapse;margin:.5em 0}\
td,th{border:1px solid #ccc;padding:2px 8px;text-align:left;vertical-align:top}\
.sbs td{font:12px/1.3 ui-monospace,monospace;white-space:pre;border:none;padding:0 8px}\
.del{background:#fdd}.ins{background:#dfd}.base{color:#060;font-weight:bold}.miss{color:#a00}\
details{margin:.5em 0}summary{cursor:pointer}\
.fleet{display:flex;flex-wrap:wrap;gap:2px;max-width:1400px;margin:.5em 0}.fleet a{display:block;width:12px;height:12px;border-radius:2px}\
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px;border-radius:2px}";

/// Escape text for HTML.
#[must_use]
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> String {
    // NB: the script only counts what is on the page into invisible data attributes, so a
    // test in a headless browser can tell the page rendered and ran; the report reads the
    // same without it.
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\
<title>{}</title><style>{STYLE}</style></head><body>\n{body}\n\
<script>document.body.dataset.variants=document.querySelectorAll('.variant').length;\
document.body.dataset.cells=document.querySelectorAll('.fleet a').length;\
document.body.dataset.ms=Math.round(performance.now());</script>\n</body></html>\n",
        escape(title)
    )
}

/// A side-by-side diff table of two texts.
fn side_by_side(old: &str, new: &str) -> String {
    let diff = similar::TextDiff::from_lines(old, new);
    let mut rows = String::new();
    let (mut left, mut right): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    let flush = |rows: &mut String, left: &mut Vec<String>, right: &mut Vec<String>| {
        for i in 0..left.len().max(right.len()) {
            let l = left.get(i).map(|s| escape(s));
            let r = right.get(i).map(|s| escape(s));
            let _ = write!(
                rows,
                "<tr><td class=\"{}\">{}</td><td class=\"{}\">{}</td></tr>",
                if l.is_some() { "del" } else { "" },
                l.unwrap_or_default(),
                if r.is_some() { "ins" } else { "" },
                r.unwrap_or_default()
            );
        }
        left.clear();
        right.clear();
    };
    for change in diff.iter_all_changes() {
        let line = change.value().trim_end_matches('\n').to_string();
        match change.tag() {
            similar::ChangeTag::Equal => {
                flush(&mut rows, &mut left, &mut right);
                let e = escape(&line);
                let _ = write!(rows, "<tr><td>{e}</td><td>{e}</td></tr>");
            }
            similar::ChangeTag::Delete => left.push(line),
            similar::ChangeTag::Insert => right.push(line),
        }
    }
    flush(&mut rows, &mut left, &mut right);
    format!("<table class=\"sbs\">{rows}</table>")
}

/// Colours of variants B, C, ... (A, the baseline, is green).
const VARIANT_COLORS: [&str; 8] = [
    "#e67e22", "#9b59b6", "#3498db", "#e84393", "#16a085", "#d35400", "#2c3e50", "#c0392b",
];

/// The fleet at a glance: one cell per cluster, coloured by its state (the baseline, the
/// variant it is in, missing the object, not answering); hovering names the cluster and
/// its difference, clicking goes to it. Readable at thousands of clusters.
fn fleet_picture(r: &Report) -> String {
    let mut state: std::collections::BTreeMap<&str, (String, String, String)> = std::collections::BTreeMap::new();
    for o in &r.objects {
        for v in &o.variants {
            let (color, what) = match o.role(v) {
                "baseline" => ("#5cb85c".to_string(), "agrees with the baseline".to_string()),
                "missing" => ("#f0ad4e".to_string(), format!("{} missing", o.object)),
                _ => {
                    let i = (v.id.bytes().next().unwrap_or(b'B').saturating_sub(b'B')) as usize;
                    let first = v
                        .differences
                        .first()
                        .map(|d| format!(": {}", d.path))
                        .unwrap_or_default();
                    (
                        VARIANT_COLORS[i % VARIANT_COLORS.len()].to_string(),
                        format!("{} variant {}{first}", o.object, v.id),
                    )
                }
            };
            for c in &v.clusters {
                let anchor = format!("{}-{}", o.object, v.id);
                let e = state
                    .entry(c.as_str())
                    .or_insert_with(|| (color.clone(), what.clone(), anchor.clone()));
                // NB: a difference anywhere beats agreement elsewhere.
                if e.1 == "agrees with the baseline" && what != e.1 {
                    *e = (color.clone(), what.clone(), anchor);
                }
            }
        }
    }
    if let Some(t) = &r.text {
        for v in &t.variants {
            let base = v.id == t.baseline;
            let i = (v.id.bytes().next().unwrap_or(b'B').saturating_sub(b'B')) as usize;
            let color = if base {
                "#5cb85c".to_string()
            } else {
                VARIANT_COLORS[i % VARIANT_COLORS.len()].to_string()
            };
            for c in &v.clusters {
                state.insert(
                    c.as_str(),
                    (color.clone(), format!("output variant {}", v.id), String::new()),
                );
            }
        }
    }
    for (st, clusters) in &r.statuses {
        let color = if st == "Succeeded" { "#5cb85c" } else { "#d9534f" };
        for c in clusters {
            state.insert(c.as_str(), (color.to_string(), st.clone(), String::new()));
        }
    }
    for f in &r.failed {
        state.insert(
            f.cluster.as_str(),
            ("#777".into(), format!("{:?}: {}", f.status, f.message), String::new()),
        );
    }
    if state.is_empty() {
        return String::new();
    }
    let mut out = String::from("<div class=\"fleet\" id=\"fleet\">");
    for (cluster, (color, what, anchor)) in &state {
        let href = if anchor.is_empty() {
            String::new()
        } else {
            format!(" href=\"#{}\"", escape(anchor))
        };
        let _ = write!(
            out,
            "<a{href} style=\"background:{color}\" title=\"{}\"></a>",
            escape(&format!("{cluster}: {what}"))
        );
    }
    out.push_str("</div><p class=\"legend\"><span style=\"background:#5cb85c\"></span>agrees\
<span style=\"background:#e67e22\"></span>differs (a colour per variant)<span style=\"background:#f0ad4e\"></span>missing\
<span style=\"background:#777\"></span>did not answer</p>\n");
    out
}

/// A report as one HTML page.
#[must_use]
pub fn report(r: &Report) -> String {
    page(&format!("muster report: {} {}", r.action, r.target), &body(r))
}

/// `compare --group-by` as one page: each group's picture and variants under its name,
/// then the groups' baselines against each other.
#[must_use]
pub fn grouped(g: &super::super::grouped::Grouped) -> String {
    let mut b = format!(
        "<h1>muster report by {}: {} group(s)</h1>\n<ul>",
        escape(&g.group_by),
        g.groups.len()
    );
    for (name, r) in &g.groups {
        let _ = write!(b, "<li>{}: {}</li>", escape(name), escape(&headline(r)));
    }
    b.push_str("</ul>\n");
    for (name, r) in &g.groups {
        let _ = writeln!(b, "<section class=\"group\"><h1>{}</h1>", escape(name));
        b.push_str(&body(r));
        b.push_str("</section>\n");
    }
    b.push_str("<section class=\"group\"><h1>The groups' baselines against each other</h1>");
    b.push_str(&body(&g.baselines));
    b.push_str("</section>\n");
    page(&format!("muster report by {}", g.group_by), &b)
}

/// A report's page body.
fn body(r: &Report) -> String {
    let mut b = format!(
        "<h1>muster report: {} {}</h1>\n<p id=\"headline\">{}</p>\n{}",
        r.action,
        escape(&r.target),
        escape(&headline(r)),
        fleet_picture(r)
    );
    let s = &r.summary;
    let _ = writeln!(
        b,
        "<table id=\"summary\"><tr><th>clusters</th><th>agree</th><th>differ</th><th>did not answer</th><th>variants</th></tr>\
<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr></table>",
        s.clusters, s.agree, s.differ, s.failed, s.variants
    );
    if !r.inventory.is_empty() {
        b.push_str("<h2>Inventory</h2><table><tr><th>object</th><th>present</th><th>missing on</th></tr>");
        for i in &r.inventory {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td class=\"miss\">{}</td></tr>",
                escape(&i.object),
                i.present.len(),
                escape(&names(&i.missing, 50))
            );
        }
        b.push_str("</table>\n");
    }
    for o in &r.objects {
        let _ = writeln!(b, "<h2>{} {}</h2>", escape(&o.kind), escape(&o.object));
        let base = o.baseline_yaml();
        for v in &o.variants {
            let role = o.role(v);
            let class = match role {
                "baseline" => "base",
                "missing" => "miss",
                _ => "",
            };
            let _ = write!(
                b,
                "<div class=\"variant\" id=\"{}-{}\"><p><span class=\"{class}\">Variant {} ({role})</span>: {}: {}</p>",
                escape(&o.object),
                v.id,
                v.id,
                count(v.clusters.len(), "cluster"),
                escape(&v.clusters.join(", "))
            );
            if !v.differences.is_empty() {
                b.push_str("<table><tr><th>field</th><th>baseline</th><th>this variant</th></tr>");
                for d in &v.differences {
                    let _ = write!(
                        b,
                        "<tr><td><code>{}</code></td><td class=\"del\"><code>{}</code></td><td class=\"ins\"><code>{}</code></td></tr>",
                        escape(&d.path),
                        escape(&inline(d.baseline.as_ref())),
                        escape(&inline(d.value.as_ref()))
                    );
                }
                b.push_str("</table>");
            }
            if let Some(y) = o.compared_yaml(v) {
                let _ = write!(
                    b,
                    "<details open><summary>side by side: baseline | variant {}</summary>{}</details>",
                    v.id,
                    side_by_side(&base, &y)
                );
            }
            b.push_str("</div>\n");
        }
    }
    if let Some(t) = &r.text {
        let base = t.variants.first().map(|v| v.text.clone()).unwrap_or_default();
        for v in &t.variants {
            let _ = write!(
                b,
                "<div class=\"variant\"><h2>Variant {} ({})</h2><p>{}</p>",
                v.id,
                count(v.clusters.len(), "cluster"),
                escape(&v.clusters.join(", "))
            );
            if v.id == t.baseline {
                let _ = write!(b, "<pre>{}</pre>", escape(&v.text));
            } else {
                b.push_str(&side_by_side(&base, &v.text));
            }
            b.push_str("</div>\n");
        }
    }
    if !r.statuses.is_empty() {
        b.push_str("<h2>Results</h2><table><tr><th>status</th><th>clusters</th></tr>");
        for (st, c) in &r.statuses {
            let _ = write!(b, "<tr><td>{st}</td><td>{}</td></tr>", escape(&c.join(", ")));
        }
        b.push_str("</table>\n");
    }
    if !r.failed.is_empty() {
        b.push_str(
            "<h2>Did not answer</h2><table id=\"failed\"><tr><th>cluster</th><th>status</th><th>message</th></tr>",
        );
        for f in &r.failed {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{:?}</td><td>{}</td></tr>",
                escape(&f.cluster),
                f.status,
                escape(&f.message)
            );
        }
        b.push_str("</table>\n");
    }
    b
}

/// A report diff as one HTML page.
#[must_use]
pub fn changes(c: &Changes) -> String {
    let mut b = format!(
        "<h1>muster report diff: {}</h1>\n<p id=\"headline\">{}</p>\n",
        escape(&c.target),
        escape(&changes_headline(c))
    );
    b.push_str("<table><tr><th>change</th><th>object</th><th>clusters</th></tr>");
    for (label, groups) in [
        ("drifted", &c.drifted),
        ("converged", &c.converged),
        ("appeared", &c.appeared),
        ("disappeared", &c.disappeared),
    ] {
        for g in groups {
            let _ = write!(
                b,
                "<tr><td>{label}</td><td>{}</td><td>{}</td></tr>",
                escape(&g.object),
                escape(&g.clusters.join(", "))
            );
        }
    }
    b.push_str("</table>\n<table><tr><th>object</th><th>field</th><th>before</th><th>after</th><th>clusters</th></tr>");
    for f in &c.fields {
        let _ = write!(
            b,
            "<tr><td>{}</td><td><code>{}</code></td><td class=\"del\">{}</td><td class=\"ins\">{}</td><td>{}</td></tr>",
            escape(&f.object),
            escape(&f.path),
            escape(&inline(f.old.as_ref())),
            escape(&inline(f.new.as_ref())),
            escape(&f.clusters.join(", "))
        );
    }
    b.push_str("</table>\n");
    page(&format!("muster report diff: {}", c.target), &b)
}
