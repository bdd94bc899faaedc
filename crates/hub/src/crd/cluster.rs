//! `FleetCluster` (cluster-scoped): one per registry member, created, updated and deleted by
//! the hub as its sources change. People may label it (the labels count for selection) and
//! cordon it (`spec.cordoned: true` keeps it out of new commands). The hub writes its status
//! only when something in it changes.
// NB: kube's `printcolumn(...)` repeats `type_ =` per column; clippy reads that as duplicates.
#![allow(clippy::duplicated_attributes)]

use std::collections::BTreeMap;

use super::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A member cluster as the hub sees it.
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "muster.dev",
    version = "v1alpha1",
    kind = "FleetCluster",
    status = "FleetClusterStatus",
    shortname = "fcl",
    category = "muster",
    printcolumn(name = "Member", type_ = "string", json_path = ".status.member"),
    printcolumn(name = "Health", type_ = "string", json_path = ".status.health"),
    printcolumn(name = "Version", type_ = "string", json_path = ".status.version"),
    printcolumn(name = "Cordoned", type_ = "boolean", json_path = ".spec.cordoned"),
    printcolumn(name = "Source", type_ = "string", json_path = ".status.source", priority = 1),
    printcolumn(
        name = "Cert-Expiry",
        type_ = "string",
        json_path = ".status.certExpiry",
        priority = 1
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct FleetClusterSpec {
    /// Keep this cluster out of new commands.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cordoned: bool,
}

/// What the hub knows of a member.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FleetClusterStatus {
    /// The registry name (`<namespace>/<cluster>` for Cluster API).
    #[serde(default)]
    pub member: String,
    /// `Unknown`, `Healthy`, `Unhealthy` or `Invalid`.
    #[serde(default)]
    pub health: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Where it came from (`capi:ns/name-kubeconfig`, `secret:ns/name`).
    #[serde(default)]
    pub source: String,
    /// The labels selection sees (the source's, then this object's own).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_expiry: Option<String>,
    /// Why it cannot be used (an Invalid member).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When `health` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// The FleetCluster name of a member: a DNS subdomain. `ns/cluster` (Cluster API) becomes
/// `ns.cluster`; any other name that is not already a lowercase DNS label gets a hash of
/// the original appended, so two members never share a FleetCluster.
#[must_use]
pub fn fleet_cluster_name(member: &str) -> String {
    let is_label = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    };
    if let Some((ns, c)) = member.split_once('/')
        && is_label(ns)
        && is_label(c)
    {
        return format!("{ns}.{c}");
    }
    if is_label(member) {
        return member.to_string();
    }
    let mut out: String = member
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    out.truncate(200);
    let out = out.trim_matches('-');
    let hash = member.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    if out.is_empty() {
        format!("x-{hash:016x}")
    } else {
        format!("{out}-{hash:016x}")
    }
}

#[cfg(test)]
mod tests {
    use super::fleet_cluster_name;

    #[test]
    fn names_are_dns_subdomains_and_distinct() {
        assert_eq!(fleet_cluster_name("capi/prod-1"), "capi.prod-1");
        assert_eq!(fleet_cluster_name("prod-1"), "prod-1");
        let odd = [
            "Prod_1",
            "prod_1",
            "a.b",
            "a/b/c",
            "",
            "---",
            "ünï/cødé",
            &"x".repeat(400),
            "arn:aws:eks:eu-west-1:1:cluster/prod",
        ];
        let mut seen = std::collections::HashSet::new();
        for n in odd {
            let f = fleet_cluster_name(n);
            assert!(f.len() <= 253 && !f.is_empty(), "{n:?} -> {f}");
            assert!(
                f.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'),
                "{n:?} -> {f}"
            );
            assert!(f.as_bytes()[0].is_ascii_alphanumeric() && f.as_bytes()[f.len() - 1].is_ascii_alphanumeric());
            assert!(seen.insert(f.clone()), "{n:?} collides as {f}");
        }
        assert_ne!(fleet_cluster_name("a.b"), fleet_cluster_name("a/b"));
    }
}
