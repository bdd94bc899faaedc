//! Discovery documents per cluster (the group list and each group-version's resources),
//! fetched once and shared by every command the process runs.

use std::sync::Arc;

use dashmap::DashMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{APIGroupList, APIResourceList};

/// Discovery documents per cluster, fetched once.
#[derive(Debug, Default)]
pub struct DiscoveryCache {
    groups: DashMap<String, Arc<APIGroupList>>,
    resources: DashMap<(String, String), Arc<APIResourceList>>,
}

impl DiscoveryCache {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The cached group list of `cluster`.
    #[must_use]
    pub fn group_list(&self, cluster: &str) -> Option<Arc<APIGroupList>> {
        self.groups.get(cluster).map(|g| g.clone())
    }

    pub fn set_group_list(&self, cluster: &str, list: Arc<APIGroupList>) {
        self.groups.insert(cluster.to_string(), list);
    }

    /// The cached resources of `group_version` on `cluster`.
    #[must_use]
    pub fn resource_list(&self, cluster: &str, group_version: &str) -> Option<Arc<APIResourceList>> {
        self.resources
            .get(&(cluster.to_string(), group_version.to_string()))
            .map(|r| r.clone())
    }

    pub fn set_resource_list(&self, cluster: &str, group_version: &str, list: Arc<APIResourceList>) {
        self.resources
            .insert((cluster.to_string(), group_version.to_string()), list);
    }

    /// Forget what is known of one API group on `cluster` (a CRD of it was just
    /// established): its resource lists, and the group list.
    pub fn forget_group(&self, cluster: &str, group: &str) {
        self.groups.remove(cluster);
        let prefix = format!("{group}/");
        self.resources
            .retain(|(c, gv), _| c != cluster || !gv.starts_with(&prefix));
    }

    /// Forget what is known of `cluster` (it was removed or replaced).
    pub fn forget(&self, cluster: &str) {
        self.groups.remove(cluster);
        self.resources.retain(|(c, _), _| c != cluster);
    }
}
