//! `compare --group-by LABEL`: each group of clusters (by a label's value) compared within
//! itself against its own baseline, then the groups' baselines against each other. Staging
//! may differ from production on purpose; what matters is the cluster that differs from
//! its own group.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Report;
use super::compare::{self, Options, UnknownBaseline};
use crate::result::ExecResult;

/// The grouped comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Grouped {
    pub group_by: String,
    /// `LABEL=value` (or `LABEL=<none>`) -> the group's own report.
    pub groups: BTreeMap<String, Report>,
    /// One cluster per group (its baseline), named by its group, compared with each other.
    pub baselines: Report,
}

impl Grouped {
    /// Whether every group agrees within itself (differences between groups do not count).
    #[must_use]
    pub fn agrees(&self) -> bool {
        self.groups.values().all(Report::agrees)
    }
}

/// The cluster a report measures the others against.
fn baseline_cluster(r: &Report) -> Option<&str> {
    if let Some(o) = r.objects.first() {
        return o
            .variants
            .iter()
            .find(|v| v.id == o.baseline)
            .and_then(|v| v.clusters.first())
            .map(String::as_str);
    }
    if let Some(t) = &r.text {
        return t
            .variants
            .iter()
            .find(|v| v.id == t.baseline)
            .and_then(|v| v.clusters.first())
            .map(String::as_str);
    }
    r.statuses.values().flatten().next().map(String::as_str)
}

/// Compare within groups, then across their baselines.
///
/// # Errors
/// What [`compare::build`] refuses (an unknown baseline cluster).
pub fn build(
    results: &[ExecResult],
    label: &str,
    labels: &BTreeMap<String, BTreeMap<String, String>>,
    options: &Options,
) -> Result<Grouped, UnknownBaseline> {
    let mut by: BTreeMap<String, Vec<ExecResult>> = BTreeMap::new();
    for r in results {
        let value = labels
            .get(&r.cluster)
            .and_then(|l| l.get(label))
            .map_or_else(|| "<none>".to_string(), Clone::clone);
        by.entry(format!("{label}={value}")).or_default().push(r.clone());
    }
    let mut groups = BTreeMap::new();
    let mut representatives = Vec::new();
    for (group, rs) in by {
        // NB: a baseline named for the whole run applies in the group that holds it.
        let mut o = options.clone();
        if o.baseline.as_ref().is_some_and(|b| !rs.iter().any(|r| &r.cluster == b)) {
            o.baseline = None;
        }
        let report = compare::build(&rs, &o)?;
        if let Some(b) = baseline_cluster(&report)
            && let Some(r) = rs.iter().find(|r| r.cluster == b)
        {
            let mut rep = r.clone();
            rep.cluster = format!("{group} ({b})");
            representatives.push(rep);
        }
        groups.insert(group, report);
    }
    let mut across = options.clone();
    across.baseline = None;
    let baselines = compare::build(&representatives, &across)?;
    Ok(Grouped {
        group_by: label.to_string(),
        groups,
        baselines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Action;
    use crate::result::{Object, Output, Status};
    use serde_json::json;

    fn result(cluster: &str, image: &str) -> ExecResult {
        ExecResult {
            command_id: "c".into(),
            cluster: cluster.into(),
            action: Action::Get,
            target: "deploy/web".into(),
            status: Status::Succeeded,
            exit_code: None,
            output: Output::Objects {
                items: vec![Object::from_value(
                    &json!({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "web", "namespace": "shop"}, "spec": {"image": image}}),
                )],
                truncated: false,
            },
            error: None,
            duration_ms: 1,
            attempts: 1,
        }
    }

    #[test]
    fn a_cluster_is_judged_by_its_own_group() {
        let results = vec![
            result("p1", "web:2"),
            result("p2", "web:2"),
            result("p3", "web:1"),
            result("s1", "web:3"),
            result("s2", "web:3"),
        ];
        let env = |v: &str| BTreeMap::from([("env".to_string(), v.to_string())]);
        let labels = BTreeMap::from([
            ("p1".to_string(), env("prod")),
            ("p2".to_string(), env("prod")),
            ("p3".to_string(), env("prod")),
            ("s1".to_string(), env("stage")),
            ("s2".to_string(), env("stage")),
        ]);
        let g = build(&results, "env", &labels, &Options::default()).unwrap();
        assert!(!g.agrees(), "p3 differs from prod");
        assert_eq!(g.groups["env=prod"].summary.differ, 1);
        assert!(g.groups["env=stage"].agrees(), "staging agrees within itself");
        assert_eq!(g.baselines.summary.clusters, 2);
        assert_eq!(
            g.baselines.summary.variants, 2,
            "the groups differ from each other, on purpose"
        );
        let names: Vec<String> = g.baselines.objects[0]
            .variants
            .iter()
            .flat_map(|v| v.clusters.clone())
            .collect();
        assert!(names.contains(&"env=prod (p1)".to_string()), "{names:?}");
    }
}
