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
