//! Which clusters go in which wave: each wave takes clusters by names/labels, or a count or
//! percentage of those not yet placed (ordered by an optional label, then by name); the
//! clusters left over join the last wave. Pure and deterministic: the same fleet and
//! strategy give the same plan, so a resumed rollout plans what the first run planned.

use std::collections::BTreeMap;

use muster_fleet::registry::Selection;

use crate::crd::rollout::{IntOrPercent, Strategy, Wave};

/// The strategy used when a rollout gives none: one canary, then 10%, 50%, the rest.
#[must_use]
pub fn default_waves() -> Vec<Wave> {
    let wave = |name: &str| Wave {
        name: Some(name.into()),
        ..Wave::default()
    };
    vec![
        Wave {
            count: Some(1),
            ..wave("canary")
        },
        Wave {
            percent: Some(10),
            ..wave("10%")
        },
        Wave {
            percent: Some(50),
            ..wave("50%")
        },
        wave("rest"),
    ]
}

/// The waves of `strategy` (its own, or the default ones).
#[must_use]
pub fn waves(strategy: &Strategy) -> Vec<Wave> {
    if strategy.waves.is_empty() {
        default_waves()
    } else {
        strategy.waves.clone()
    }
}

/// A wave's display name: its own, or `wave N`.
#[must_use]
pub fn wave_name(w: &Wave, index: usize) -> String {
    w.name.clone().unwrap_or_else(|| format!("wave {}", index + 1))
}

/// A strategy that cannot be planned, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {why}")]
pub struct PlanError {
    pub field: String,
    pub why: String,
}

/// Check a strategy's fields before anything is planned.
///
/// # Errors
/// The first field that is out of range.
pub fn validate(strategy: &Strategy) -> Result<(), PlanError> {
    let err = |field: String, why: String| PlanError { field, why };
    for (i, w) in strategy.waves.iter().enumerate() {
        let field = format!("spec.strategy.waves[{i}]");
        let ways =
            usize::from(w.clusters.is_some()) + usize::from(w.count.is_some()) + usize::from(w.percent.is_some());
        if ways > 1 {
            return Err(err(field, "give one of clusters, count or percent".into()));
        }
        if let Some(p) = w.percent
            && !(1..=100).contains(&p)
        {
            return Err(err(format!("{field}.percent"), format!("{p} is outside 1..=100")));
        }
        if w.count == Some(0) {
            return Err(err(format!("{field}.count"), "must be at least 1".into()));
        }
        if let Some(c) = &w.max_concurrency {
            c.of(1).map_err(|why| err(format!("{field}.maxConcurrency"), why))?;
        }
        if let Some(l) = &w.sort_by
            && (l.is_empty() || l.len() > 317 || l.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err(err(format!("{field}.sortBy"), format!("{l:?} is not a label key")));
        }
    }
    for (i, g) in strategy.gates.iter().enumerate() {
        let field = format!("spec.strategy.gates[{i}]");
        let target: muster_core::command::Target = g
            .object
            .parse()
            .map_err(|e: muster_core::command::TargetError| err(format!("{field}.object"), e.to_string()))?;
        if target.name.is_none() || target.resource.contains(',') {
            return Err(err(
                format!("{field}.object"),
                format!("{:?} must name one object, as kind.group/name", g.object),
            ));
        }
        if g.path.trim().is_empty() || g.path.len() > 1024 {
            return Err(err(
                format!("{field}.path"),
                "must be a path such as .status.phase".into(),
            ));
        }
    }
    if let Some(m) = &strategy.max_in_flight {
        m.of(1).map_err(|why| err("spec.strategy.maxInFlight".into(), why))?;
    }
    Ok(())
}

/// One cluster as planning sees it.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// Place every cluster in a wave. `select` turns a wave's cluster selection into a
/// [`Selection`] (its errors name the field).
///
/// # Errors
/// A wave whose selection does not parse.
pub fn plan(
    waves: &[Wave],
    clusters: &[Candidate],
    select: impl Fn(&crate::crd::command::ClusterSelection, &str) -> Result<Selection, String>,
) -> Result<Vec<Vec<String>>, PlanError> {
    let total = clusters.len();
    let mut left: Vec<&Candidate> = clusters.iter().collect();
    left.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out: Vec<Vec<String>> = Vec::with_capacity(waves.len());
    for (i, w) in waves.iter().enumerate() {
        let field = format!("spec.strategy.waves[{i}]");
        if let Some(label) = &w.sort_by {
            // NB: clusters without the label go last, then by name (the sort is stable).
            left.sort_by(|a, b| {
                (!a.labels.contains_key(label), a.labels.get(label), &a.name).cmp(&(
                    !b.labels.contains_key(label),
                    b.labels.get(label),
                    &b.name,
                ))
            });
        }
        let take: Vec<usize> = if let Some(sel) = &w.clusters {
            let s = select(sel, &format!("{field}.clusters")).map_err(|why| PlanError {
                field: format!("{field}.clusters"),
                why,
            })?;
            left.iter()
                .enumerate()
                .filter(|(_, c)| s.matches_with(&c.name, &c.labels))
                .map(|(j, _)| j)
                .collect()
        } else if let Some(n) = w.count {
            (0..(n as usize).min(left.len())).collect()
        } else if let Some(p) = w.percent {
            let n = IntOrPercent::Percent(format!("{p}%"))
                .of(total)
                .unwrap_or(1)
                .min(left.len());
            (0..n).collect()
        } else {
            (0..left.len()).collect()
        };
        let mut wave = Vec::with_capacity(take.len());
        for j in take.iter().rev() {
            wave.push(left.remove(*j).name.clone());
        }
        wave.reverse();
        out.push(wave);
    }
    // NB: clusters no wave took join the last one: a rollout never leaves a selected
    // cluster behind silently.
    if let Some(last) = out.last_mut() {
        last.extend(left.into_iter().map(|c| c.name.clone()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet(n: usize) -> Vec<Candidate> {
        (0..n)
            .map(|i| Candidate {
                name: format!("c{i:02}"),
                labels: BTreeMap::from([("ring".to_string(), (i % 3).to_string())]),
            })
            .collect()
    }

    fn select(c: &crate::crd::command::ClusterSelection, _: &str) -> Result<Selection, String> {
        let mut s = Selection::parse(None, c.selector.as_deref()).map_err(|e| e.to_string())?;
        s.names.clone_from(&c.names);
        Ok(s)
    }

    #[test]
    fn default_strategy_is_canary_ten_fifty_rest() {
        let p = plan(&default_waves(), &fleet(30), select).unwrap();
        let sizes: Vec<usize> = p.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![1, 3, 15, 11]);
        assert_eq!(p[0], vec!["c00"]);
        let mut all: Vec<String> = p.concat();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 30, "every cluster once");
        assert_eq!(p, plan(&default_waves(), &fleet(30), select).unwrap(), "deterministic");
        let tiny = plan(&default_waves(), &fleet(1), select).unwrap();
        assert_eq!(tiny.iter().map(Vec::len).collect::<Vec<_>>(), vec![1, 0, 0, 0]);
    }

    #[test]
    fn labels_sort_and_leftovers() {
        let waves = vec![
            Wave {
                clusters: Some(crate::crd::command::ClusterSelection {
                    selector: Some("ring=0".into()),
                    ..Default::default()
                }),
                ..Wave::default()
            },
            Wave {
                count: Some(2),
                sort_by: Some("ring".into()),
                ..Wave::default()
            },
        ];
        let p = plan(&waves, &fleet(9), select).unwrap();
        assert_eq!(p[0], vec!["c00", "c03", "c06"]);
        assert_eq!(
            p[1][..2],
            ["c01".to_string(), "c04".to_string()],
            "ring 1 first, by name"
        );
        assert_eq!(p[1].len(), 6, "the rest join the last wave");
    }

    #[test]
    fn bad_strategies_name_the_field() {
        let bad = |w: Wave| {
            validate(&Strategy {
                waves: vec![Wave::default(), w],
                ..Strategy::default()
            })
            .unwrap_err()
            .to_string()
        };
        assert!(
            bad(Wave {
                percent: Some(0),
                ..Wave::default()
            })
            .starts_with("spec.strategy.waves[1].percent")
        );
        assert!(
            bad(Wave {
                count: Some(0),
                ..Wave::default()
            })
            .contains("waves[1].count")
        );
        assert!(
            bad(Wave {
                count: Some(1),
                percent: Some(5),
                ..Wave::default()
            })
            .contains("one of")
        );
        assert!(
            bad(Wave {
                max_concurrency: Some(IntOrPercent::Percent("lots".into())),
                ..Wave::default()
            })
            .contains("maxConcurrency")
        );
        assert!(
            bad(Wave {
                sort_by: Some("a b".into()),
                ..Wave::default()
            })
            .contains("sortBy")
        );
        assert_eq!(IntOrPercent::Percent("10%".into()).of(30), Ok(3));
        assert_eq!(IntOrPercent::Percent("10%".into()).of(5), Ok(1));
        assert_eq!(IntOrPercent::Int(0).of(5), Ok(1));
    }
}
