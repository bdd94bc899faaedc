//! Rendering reports and report diffs: JSON and YAML (the data itself), a terminal view with
//! coloured unified diffs, Markdown, and one self-contained HTML file with side-by-side diffs.

pub mod diagnosis;
pub mod html;
pub mod markdown;
pub mod terminal;

use super::Report;
use super::changes::Changes;

/// Output formats of `compare` and `report diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Variants and coloured diffs for people (colour only on a terminal, never with NO_COLOR).
    Terminal,
    Json,
    Yaml,
    Markdown,
    Html,
}

/// A report in `format`; `color` applies to the terminal view.
///
/// # Errors
/// Serialisation failures.
pub fn report(r: &Report, format: Format, color: bool) -> Result<String, serde_json::Error> {
    Ok(match format {
        Format::Json => r.to_json()?,
        Format::Yaml => crate::yaml::to_string(r).map_err(serde::ser::Error::custom)?,
        Format::Terminal => terminal::report(r, color),
        Format::Markdown => markdown::report(r),
        Format::Html => html::report(r),
    })
}

/// A diagnosis in `format`.
///
/// # Errors
/// Serialisation failures.
pub fn diagnosis(d: &super::diagnose::Diagnosis, format: Format) -> Result<String, serde_json::Error> {
    Ok(match format {
        Format::Json => serde_json::to_string_pretty(d)? + "\n",
        Format::Yaml => crate::yaml::to_string(d).map_err(serde::ser::Error::custom)?,
        Format::Terminal => diagnosis::terminal(d),
        Format::Markdown => diagnosis::markdown(d),
        Format::Html => diagnosis::html(d),
    })
}

/// What changed between two reports, in `format`.
///
/// # Errors
/// Serialisation failures.
pub fn changes(c: &Changes, format: Format, color: bool) -> Result<String, serde_json::Error> {
    Ok(match format {
        Format::Json => serde_json::to_string_pretty(c)? + "\n",
        Format::Yaml => crate::yaml::to_string(c).map_err(serde::ser::Error::custom)?,
        Format::Terminal => terminal::changes(c, color),
        Format::Markdown => markdown::changes(c),
        Format::Html => html::changes(c),
    })
}

/// At most `n` names, then `and N more`.
#[must_use]
pub fn names(clusters: &[String], n: usize) -> String {
    let mut s = clusters.iter().take(n).cloned().collect::<Vec<_>>().join(", ");
    if clusters.len() > n {
        s.push_str(&format!(" and {} more", clusters.len() - n));
    }
    s
}

/// `1 cluster`, `3 clusters`.
#[must_use]
pub fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// The one-line headline of a report.
#[must_use]
pub fn headline(r: &Report) -> String {
    let s = &r.summary;
    let what = match &r.namespace {
        Some(ns) => format!("{} {} in {ns}", r.action, r.target),
        None => format!("{} {}", r.action, r.target),
    };
    let mut line = if r.action.is_write() {
        format!("{what}: {} of {} succeeded", s.agree, count(s.clusters, "cluster"))
    } else if s.found_nowhere {
        format!(
            "{what}: found on no cluster ({} answered)",
            count(s.clusters - s.failed, "cluster")
        )
    } else if s.differ == 0 && s.failed == 0 {
        format!("{what}: all {} agree", count(s.clusters, "cluster"))
    } else {
        format!(
            "{what}: {} agree with the baseline, {} differ ({})",
            s.agree,
            s.differ,
            count(s.variants, "variant")
        )
    };
    if s.failed > 0 {
        line.push_str(&format!("; {} did not answer", count(s.failed, "cluster")));
    }
    line
}

/// The one-line headline of a report diff.
#[must_use]
pub fn changes_headline(c: &Changes) -> String {
    if c.is_empty() {
        return format!("{}: nothing changed", c.target);
    }
    let n = |g: &[super::changes::Group]| g.iter().map(|g| g.clusters.len()).sum::<usize>();
    format!(
        "{}: {} drifted, {} converged, {} appeared, {} disappeared, {} changed, {} failing, {} recovered",
        c.target,
        n(&c.drifted),
        n(&c.converged),
        n(&c.appeared),
        n(&c.disappeared),
        count(c.fields.len(), "field"),
        c.failing.len(),
        c.recovered.len()
    )
}
