//! Building a [`Report`] from one command's results: objects grouped into variants by their
//! normalised content (an object missing on a cluster is its own variant; a failed cluster is
//! listed as failed, not as a difference), texts (logs, exec) grouped with unified diffs, and
//! writes summarised by status. The baseline is the variant holding `--baseline CLUSTER`, else
//! the largest present one (ties broken by the first cluster's name).

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::diff::{fields, unified};
use super::normalize::Normalize;
use super::{
    Failed, ObjectReport, Presence, Report, SCHEMA_VERSION, Summary, TextReport, TextVariant, Timings, Variant,
};
use crate::command::Action;
use crate::result::{ExecResult, Output, Status};

/// How to compare.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub normalize: Normalize,
    /// The cluster whose variant is the baseline.
    pub baseline: Option<String>,
    /// Keep the per-run timings section.
    pub timings: bool,
}

/// A baseline cluster that is not among the results.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--baseline {0}: no such cluster among the selected ones")]
pub struct UnknownBaseline(pub String);

/// `A`, `B`, ..., `Z`, `AA`, `AB`, ...
#[must_use]
pub fn variant_id(mut i: usize) -> String {
    let mut id = Vec::new();
    loop {
        id.push(b'A' + u8::try_from(i % 26).unwrap_or(0));
        if i < 26 {
            break;
        }
        i = i / 26 - 1;
    }
    id.reverse();
    String::from_utf8(id).unwrap_or_default()
}

/// Order groups: the baseline first, then by size (largest first), then by first cluster.
/// Each group is `(clusters, is_present)`; returns the order as indexes.
fn order(groups: &[(Vec<String>, bool)], baseline: Option<&str>) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..groups.len()).collect();
    if idx.is_empty() {
        return idx;
    }
    idx.sort_by(|&a, &b| {
        let (ca, pa) = &groups[a];
        let (cb, pb) = &groups[b];
        cb.len().cmp(&ca.len()).then_with(|| ca[0].cmp(&cb[0])).then(pb.cmp(pa))
    });
    let base = baseline
        .and_then(|b| idx.iter().position(|&i| groups[i].0.iter().any(|c| c == b)))
        .or_else(|| idx.iter().position(|&i| groups[i].1))
        .unwrap_or(0);
    let first = idx.remove(base);
    idx.insert(0, first);
    idx
}

/// Build the report of `results` (one per cluster, any order).
///
/// # Errors
/// [`UnknownBaseline`] when `--baseline` names a cluster that is not in the results.
pub fn build(results: &[ExecResult], options: &Options) -> Result<Report, UnknownBaseline> {
    let mut sorted: Vec<&ExecResult> = results.iter().collect();
    sorted.sort_by(|a, b| a.cluster.cmp(&b.cluster));
    if let Some(b) = &options.baseline
        && !sorted.iter().any(|r| &r.cluster == b)
    {
        return Err(UnknownBaseline(b.clone()));
    }
    let first = sorted.first();
    let action = first.map_or(Action::Get, |r| r.action);
    let target = first.map(|r| r.target.clone()).unwrap_or_default();
    let mut report = Report {
        schema_version: SCHEMA_VERSION,
        action,
        target,
        namespace: None,
        summary: Summary {
            clusters: sorted.len(),
            ..Summary::default()
        },
        inventory: Vec::new(),
        objects: Vec::new(),
        text: None,
        statuses: BTreeMap::new(),
        failed: Vec::new(),
        timings: options.timings.then(|| Timings {
            command_id: first.map(|r| r.command_id.clone()).unwrap_or_default(),
            duration_ms: sorted.iter().map(|r| (r.cluster.clone(), r.duration_ms)).collect(),
            attempts: sorted.iter().map(|r| (r.cluster.clone(), r.attempts)).collect(),
        }),
    };
    match action {
        Action::Get => objects(&sorted, options, &mut report),
        Action::Logs | Action::Exec => texts(&sorted, options, &mut report),
        _ => writes(&sorted, &mut report),
    }
    Ok(report)
}

fn failed(r: &ExecResult) -> super::Failed {
    Failed {
        cluster: r.cluster.clone(),
        status: r.status,
        reason: r.error.as_ref().map(|e| e.reason.clone()).unwrap_or_default(),
        message: r.error.as_ref().map(|e| e.message.clone()).unwrap_or_default(),
    }
}

fn object_key(o: &Value) -> String {
    let name = o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    match o.pointer("/metadata/namespace").and_then(Value::as_str) {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    }
}

/// One answering cluster: its objects' canonical normalised bytes by key.
type Answer<'a> = (&'a str, HashMap<String, Vec<u8>>);

/// One thread's share: answers by result index, and the kinds it saw.
type Part<'a> = (Vec<(usize, Answer<'a>)>, BTreeMap<String, String>);

/// Parse and normalise the objects of `results` (answering clusters), on every core.
fn normalise_all<'a>(
    results: &[&'a ExecResult],
    compiled: &super::normalize::Compiled,
) -> (Vec<Answer<'a>>, BTreeMap<String, String>) {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(results.len().max(1));
    let parts: Vec<Part<'a>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let mut kinds = BTreeMap::new();
                    let mut out = Vec::new();
                    for (i, r) in results.iter().enumerate().skip(t).step_by(threads) {
                        let Output::Objects { items, .. } = &r.output else {
                            continue;
                        };
                        let mut by_key = HashMap::with_capacity(items.len());
                        for item in items {
                            let v = item.value();
                            let key = object_key(&v);
                            kinds.entry(key.clone()).or_insert_with(|| {
                                v.get("kind").and_then(Value::as_str).unwrap_or_default().to_string()
                            });
                            let mut bytes = Vec::new();
                            compiled.canonical(&v, &mut bytes);
                            by_key.insert(key, bytes);
                        }
                        out.push((i, (r.cluster.as_str(), by_key)));
                    }
                    (out, kinds)
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let mut answers = Vec::new();
    let mut kinds = BTreeMap::new();
    for (a, k) in parts {
        answers.extend(a);
        for (key, kind) in k {
            kinds.entry(key).or_insert(kind);
        }
    }
    answers.sort_by_key(|(i, _)| *i);
    (answers.into_iter().map(|(_, a)| a).collect(), kinds)
}

fn objects(results: &[&ExecResult], options: &Options, report: &mut Report) {
    let single = report.target.contains('/');
    let compiled = options.normalize.compile();
    let mut listed: Vec<&ExecResult> = Vec::new();
    let mut not_found: Vec<&str> = Vec::new();
    for r in results {
        match (&r.output, r.status) {
            (Output::Objects { .. }, Status::Succeeded) => listed.push(r),
            // NB: a named object that is not there is a variant of its own, not a failure.
            _ if single && r.error.as_ref().is_some_and(|e| e.code == Some(404)) => not_found.push(&r.cluster),
            _ => report.failed.push(failed(r)),
        }
    }
    let (mut answered, mut kinds) = normalise_all(&listed, &compiled);
    answered.extend(not_found.into_iter().map(|c| (c, HashMap::new())));
    answered.sort_by(|a, b| a.0.cmp(b.0));
    if single && kinds.is_empty() {
        let name = report.target.split_once('/').map_or("", |(_, n)| n).to_string();
        kinds.insert(name, String::new());
    }
    // NB: objects are independent: spread them over the cores (a report over 1,000 clusters
    // x 100 objects normalises 100,000 objects).
    let keys: Vec<(&String, &String)> = kinds.iter().collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(keys.len().max(1));
    let mut outs: Vec<(usize, KeyOut)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (keys, answered) = (&keys, &answered);
                scope.spawn(move || {
                    keys.iter()
                        .enumerate()
                        .skip(t)
                        .step_by(threads)
                        .filter_map(|(i, (key, kind))| {
                            one_object(key, kind, answered, single, options.baseline.as_deref()).map(|o| (i, o))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    });
    outs.sort_by_key(|(i, _)| *i);
    let mut differing: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut most = usize::from(!answered.is_empty());
    for (_, out) in outs {
        differing.extend(out.differing);
        most = most.max(out.object.variants.len());
        if let Some(p) = out.presence {
            report.inventory.push(p);
        }
        report.objects.push(out.object);
    }
    report.summary.failed = report.failed.len();
    report.summary.agree = answered.len() - differing.len();
    report.summary.differ = differing.len();
    report.summary.variants = most;
    // NB: nobody having the object is not agreement: say so (and exit 1).
    report.summary.found_nowhere =
        !answered.is_empty() && report.objects.iter().all(|o| o.variants.iter().all(|v| v.missing));
}

/// One object's part of the report.
struct KeyOut {
    object: ObjectReport,
    presence: Option<Presence>,
    /// Clusters outside the baseline variant.
    differing: Vec<String>,
}

/// Group the answering clusters by the canonical bytes of their normalised object.
fn one_object(key: &str, kind: &str, answered: &[Answer<'_>], single: bool, baseline: Option<&str>) -> Option<KeyOut> {
    let mut groups: Vec<(Vec<String>, Option<Vec<u8>>)> = Vec::new();
    let mut by_bytes: HashMap<&Vec<u8>, usize> = HashMap::new();
    let mut missing: Vec<String> = Vec::new();
    for (cluster, by_key) in answered {
        let Some(bytes) = by_key.get(key) else {
            missing.push((*cluster).to_string());
            continue;
        };
        if let Some(&g) = by_bytes.get(bytes) {
            groups[g].0.push((*cluster).to_string());
        } else {
            by_bytes.insert(bytes, groups.len());
            groups.push((vec![(*cluster).to_string()], Some(bytes.clone())));
        }
    }
    if !missing.is_empty() {
        groups.push((missing.clone(), None));
    }
    if groups.is_empty() {
        return None;
    }
    let presence = (!single).then(|| {
        let mut present: Vec<String> = groups
            .iter()
            .filter(|g| g.1.is_some())
            .flat_map(|g| g.0.iter().cloned())
            .collect();
        present.sort();
        Presence {
            object: key.to_string(),
            present,
            missing: missing.clone(),
        }
    });
    let shape: Vec<(Vec<String>, bool)> = groups.iter().map(|(c, v)| (c.clone(), v.is_some())).collect();
    let ordered = order(&shape, baseline);
    let parse = |b: &Option<Vec<u8>>| b.as_ref().and_then(|b| serde_json::from_slice::<Value>(b).ok());
    let base_content = parse(&groups[ordered[0]].1);
    let mut variants = Vec::with_capacity(groups.len());
    let mut differing = Vec::new();
    for (n, &g) in ordered.iter().enumerate() {
        let (clusters, content) = std::mem::take(&mut groups[g]);
        if n > 0 {
            differing.extend(clusters.iter().cloned());
        }
        let content = if n == 0 { base_content.clone() } else { parse(&content) };
        let differences = match (&base_content, &content, n) {
            (Some(b), Some(c), 1..) => fields(b, c),
            _ => Vec::new(),
        };
        variants.push(Variant {
            id: variant_id(n),
            missing: content.is_none(),
            clusters,
            content,
            differences,
        });
    }
    Some(KeyOut {
        object: ObjectReport {
            object: key.to_string(),
            kind: kind.to_string(),
            baseline: variant_id(0),
            variants,
        },
        presence,
        differing,
    })
}

fn texts(results: &[&ExecResult], options: &Options, report: &mut Report) {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in results {
        let text = match &r.output {
            Output::Lines { lines, .. } if r.status == Status::Succeeded => lines.join("\n"),
            Output::Streams { stdout, stderr, .. } if r.exit_code.is_some() => {
                let mut t = stdout.clone();
                if !stderr.is_empty() {
                    t.push_str("\n[stderr]\n");
                    t.push_str(stderr);
                }
                if let Some(code) = r.exit_code.filter(|c| *c != 0) {
                    t.push_str(&format!("\n[exit code {code}]"));
                }
                t
            }
            _ => {
                report.failed.push(failed(r));
                continue;
            }
        };
        groups.entry(text).or_default().push(r.cluster.clone());
    }
    let groups: Vec<(String, Vec<String>)> = groups.into_iter().collect();
    let shape: Vec<(Vec<String>, bool)> = groups.iter().map(|(_, c)| (c.clone(), true)).collect();
    let ordered = order(&shape, options.baseline.as_deref());
    let base = ordered.first().map(|&i| groups[i].0.clone()).unwrap_or_default();
    let variants: Vec<TextVariant> = ordered
        .iter()
        .enumerate()
        .map(|(n, &g)| {
            let (text, clusters) = groups[g].clone();
            let id = variant_id(n);
            let diff = unified(&base, &text, "baseline (variant A)", &format!("variant {id}"));
            TextVariant {
                id,
                clusters,
                text,
                diff,
            }
        })
        .collect();
    report.summary.failed = report.failed.len();
    report.summary.agree = variants.first().map_or(0, |v| v.clusters.len());
    report.summary.differ = variants.iter().skip(1).map(|v| v.clusters.len()).sum();
    report.summary.variants = variants.len();
    if !variants.is_empty() {
        report.text = Some(TextReport {
            baseline: variant_id(0),
            variants,
        });
    }
}

fn writes(results: &[&ExecResult], report: &mut Report) {
    for r in results {
        report
            .statuses
            .entry(format!("{:?}", r.status))
            .or_default()
            .push(r.cluster.clone());
        if r.status != Status::Succeeded {
            report.failed.push(failed(r));
        }
    }
    report.summary.failed = report.failed.len();
    report.summary.agree = results.len() - report.failed.len();
    report.summary.variants = usize::from(report.summary.agree > 0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::ExecError;

    fn result(cluster: &str, action: Action, target: &str, status: Status, code: Option<u16>) -> ExecResult {
        ExecResult {
            command_id: "c".into(),
            cluster: cluster.into(),
            action,
            target: target.into(),
            status,
            exit_code: None,
            output: Output::None,
            error: (status != Status::Succeeded).then(|| ExecError {
                reason: "X".into(),
                code,
                message: format!("cluster {cluster}: failed"),
            }),
            duration_ms: 1,
            attempts: 1,
        }
    }

    #[test]
    fn no_text_anywhere_is_no_crash() {
        for action in [Action::Logs, Action::Exec] {
            let results: Vec<ExecResult> = ["a", "b", "c"]
                .iter()
                .map(|c| result(c, action, "deploy/web", Status::Failed, Some(500)))
                .collect();
            let r = build(&results, &Options::default()).unwrap();
            assert_eq!((r.summary.failed, r.summary.variants), (3, 0));
            assert!(r.text.is_none() && !r.agrees());
            assert!(build(&[], &Options::default()).is_ok());
        }
    }

    #[test]
    fn missing_everywhere_is_not_agreement() {
        let results: Vec<ExecResult> = ["a", "b", "c"]
            .iter()
            .map(|c| result(c, Action::Get, "deploy/nope", Status::Failed, Some(404)))
            .collect();
        let r = build(&results, &Options::default()).unwrap();
        assert!(r.summary.found_nowhere && !r.agrees(), "{r:?}");
        assert_eq!(
            crate::report::render::headline(&r),
            "get deploy/nope: found on no cluster (3 clusters answered)"
        );
        assert_eq!(r.summary.failed, 0, "a 404 is an answer, not a failure");
    }
}
