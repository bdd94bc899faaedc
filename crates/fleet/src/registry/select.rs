//! Choosing members: by names and `*` globs (`--clusters 'prod-*,stage-1'`), by label
//! selector (`--cluster-selector 'env=prod,region in (eu,us),!canary'`), or all.

use std::sync::Arc;

use muster_core::selector::{LabelSelector, SelectorError, glob_match};

use super::{Member, Registry};

/// Which members a command addresses. Exact: a name that matches no member is an error,
/// and so is a `*` pattern that matches none unless [`Selection::allow_unmatched`] says
/// otherwise (a typo must not shrink a write to the clusters that happen to match).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Names or `*` patterns; empty means every name.
    pub names: Vec<String>,
    pub labels: LabelSelector,
    /// A `*` pattern may match no member.
    pub allow_unmatched: bool,
}

/// A selection that could not be parsed or selects nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    #[error("--cluster-selector: {0}")]
    Selector(#[from] SelectorError),
    #[error("no cluster matches {asked}; known clusters: {known}")]
    Empty { asked: String, known: String },
    #[error("--clusters: {} match no cluster (nothing was run); known clusters: {known}{}", unmatched.join(", "), if *glob { " (pass --allow-unmatched if a pattern may match nothing)" } else { "" })]
    Unmatched {
        unmatched: Vec<String>,
        /// Whether every unmatched entry is a pattern.
        glob: bool,
        known: String,
    },
}

impl SelectionError {
    /// A stable short label.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Selector(_) => "InvalidSelector",
            Self::Empty { .. } => "NothingSelected",
            Self::Unmatched { .. } => "UnknownCluster",
        }
    }
}

/// At most this many names are listed in an empty-selection error.
const LIST_AT_MOST: usize = 20;

impl Selection {
    /// Parse `--clusters` and `--cluster-selector`.
    ///
    /// # Errors
    /// [`SelectionError::Selector`] with the position of the error.
    pub fn parse(clusters: Option<&str>, selector: Option<&str>) -> Result<Self, SelectionError> {
        let names = clusters
            .map(|c| {
                c.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        let labels = LabelSelector::parse(selector.unwrap_or_default())?;
        Ok(Self {
            names,
            labels,
            allow_unmatched: false,
        })
    }

    /// The same selection, letting `*` patterns match nothing.
    #[must_use]
    pub fn allow_unmatched(mut self, allow: bool) -> Self {
        self.allow_unmatched = allow;
        self
    }

    /// Whether a member is selected.
    #[must_use]
    pub fn matches(&self, m: &Member) -> bool {
        self.matches_with(&m.name, &m.labels)
    }

    /// Whether a cluster of this name and these labels is selected.
    #[must_use]
    pub fn matches_with(&self, name: &str, labels: &std::collections::BTreeMap<String, String>) -> bool {
        (self.names.is_empty() || self.names.iter().any(|p| glob_match(p, name)))
            && self.labels.matches(|k| labels.get(k).map(String::as_str))
    }

    /// The selected members, by name.
    ///
    /// # Errors
    /// [`SelectionError::Empty`] saying what was asked and what exists.
    pub fn select(&self, registry: &Registry) -> Result<Vec<Arc<Member>>, SelectionError> {
        self.select_from(&registry.members(), |m| m.labels.clone())
    }

    /// The selected members of `all` (sorted by name), seen with the labels `labels_of`
    /// gives them (the hub adds a FleetCluster's own labels).
    ///
    /// # Errors
    /// As [`Selection::select`].
    pub fn select_from(
        &self,
        all: &[Arc<Member>],
        labels_of: impl Fn(&Member) -> std::collections::BTreeMap<String, String>,
    ) -> Result<Vec<Arc<Member>>, SelectionError> {
        let labelled: Vec<(&Arc<Member>, std::collections::BTreeMap<String, String>)> =
            all.iter().map(|m| (m, labels_of(m))).collect();
        let selected = |m: &Member, l: &std::collections::BTreeMap<String, String>| self.matches_with(&m.name, l);
        let unmatched: Vec<String> = self
            .names
            .iter()
            .filter(|p| !(self.allow_unmatched && p.contains('*')))
            .filter(|p| !all.iter().any(|m| glob_match(p, &m.name)))
            .cloned()
            .collect();
        if !unmatched.is_empty() && labelled.iter().any(|(m, l)| selected(m, l)) {
            return Err(SelectionError::Unmatched {
                glob: unmatched.iter().all(|p| p.contains('*')),
                unmatched,
                known: known_list(all),
            });
        }
        let chosen: Vec<Arc<Member>> = labelled
            .iter()
            .filter(|(m, l)| selected(m, l))
            .map(|(m, _)| (*m).clone())
            .collect();
        if chosen.is_empty() {
            let mut asked = Vec::new();
            if !self.names.is_empty() {
                asked.push(format!("--clusters '{}'", self.names.join(",")));
            }
            if !self.labels.is_empty() {
                asked.push(format!("--cluster-selector '{}'", self.labels));
            }
            return Err(SelectionError::Empty {
                asked: if asked.is_empty() {
                    "the selection".into()
                } else {
                    asked.join(" and ")
                },
                known: known_list(all),
            });
        }
        Ok(chosen)
    }
}

/// The first members' names, for an error saying what exists.
fn known_list(all: &[Arc<Member>]) -> String {
    if all.is_empty() {
        return "none (no kubeconfig context or Cluster API Secret was found)".into();
    }
    let mut known: Vec<&str> = all.iter().take(LIST_AT_MOST).map(|m| m.name.as_str()).collect();
    if all.len() > LIST_AT_MOST {
        known.push("...");
    }
    format!("{} ({} in all)", known.join(", "), all.len())
}
