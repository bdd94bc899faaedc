//! A Service's topology on each cluster (Service -> EndpointSlices -> pods -> nodes and
//! zones, ready or not), compared across the fleet: the clusters where it has no ready
//! endpoint, or its ready endpoints sit on fewer nodes or zones than on most clusters,
//! stand out. Pure and deterministic.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One endpoint of the Service on one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    pub pod: String,
    pub address: String,
    pub node: String,
    pub zone: String,
    pub ready: bool,
}

/// The Service on one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterTopology {
    pub cluster: String,
    /// The Service exists there.
    pub service: bool,
    pub ready: u64,
    pub not_ready: u64,
    /// Nodes and zones of the ready endpoints.
    pub nodes: BTreeSet<String>,
    pub zones: BTreeSet<String>,
    pub endpoints: Vec<Endpoint>,
    /// Why it stands out (empty: it does not).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stands_out: Vec<String>,
}

/// The fleet's view of one Service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Topology {
    pub service: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The usual number of nodes and zones of ready endpoints (the median).
    pub usual_nodes: u64,
    pub usual_zones: u64,
    pub clusters: Vec<ClusterTopology>,
    pub failed: BTreeMap<String, String>,
}

impl Topology {
    /// The clusters that stand out.
    #[must_use]
    pub fn outliers(&self) -> Vec<&ClusterTopology> {
        self.clusters.iter().filter(|c| !c.stands_out.is_empty()).collect()
    }
}

fn median(mut v: Vec<u64>) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    v[v.len() / 2]
}

/// The topology of one cluster from its Service (`None`: absent) and EndpointSlices.
#[must_use]
pub fn of_cluster(cluster: &str, service: Option<&Value>, slices: &[Value]) -> ClusterTopology {
    let mut endpoints = Vec::new();
    for s in slices {
        for e in s.get("endpoints").and_then(Value::as_array).into_iter().flatten() {
            let text = |p: &str| e.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
            // NB: `ready` absent means ready (the EndpointSlice API's rule).
            let ready = e.pointer("/conditions/ready").and_then(Value::as_bool).unwrap_or(true);
            endpoints.push(Endpoint {
                pod: text("/targetRef/name"),
                address: text("/addresses/0"),
                node: text("/nodeName"),
                zone: text("/zone"),
                ready,
            });
        }
    }
    endpoints.sort_by(|a, b| (&a.pod, &a.address).cmp(&(&b.pod, &b.address)));
    let ready: Vec<&Endpoint> = endpoints.iter().filter(|e| e.ready).collect();
    ClusterTopology {
        cluster: cluster.to_string(),
        service: service.is_some(),
        ready: ready.len() as u64,
        not_ready: (endpoints.len() - ready.len()) as u64,
        nodes: ready
            .iter()
            .filter(|e| !e.node.is_empty())
            .map(|e| e.node.clone())
            .collect(),
        zones: ready
            .iter()
            .filter(|e| !e.zone.is_empty())
            .map(|e| e.zone.clone())
            .collect(),
        endpoints,
        stands_out: Vec::new(),
    }
}

/// Compare the clusters: mark those without the Service, without a ready endpoint, or
/// with ready endpoints on fewer nodes or zones than the usual (median) cluster.
#[must_use]
pub fn build(
    service: &str,
    namespace: Option<&str>,
    mut clusters: Vec<ClusterTopology>,
    failed: BTreeMap<String, String>,
) -> Topology {
    clusters.sort_by(|a, b| a.cluster.cmp(&b.cluster));
    let present: Vec<&ClusterTopology> = clusters.iter().filter(|c| c.service).collect();
    let usual_nodes = median(present.iter().map(|c| c.nodes.len() as u64).collect());
    let usual_zones = median(present.iter().map(|c| c.zones.len() as u64).collect());
    for c in &mut clusters {
        if !c.service {
            c.stands_out.push("the Service does not exist".into());
            continue;
        }
        if c.ready == 0 {
            c.stands_out
                .push(format!("no ready endpoint ({} not ready)", c.not_ready));
            continue;
        }
        if (c.nodes.len() as u64) < usual_nodes {
            c.stands_out.push(format!(
                "ready endpoints on {} node(s), {usual_nodes} on most clusters",
                c.nodes.len()
            ));
        }
        if (c.zones.len() as u64) < usual_zones {
            c.stands_out.push(format!(
                "ready endpoints in {} zone(s), {usual_zones} on most clusters",
                c.zones.len()
            ));
        }
    }
    Topology {
        service: service.to_string(),
        namespace: namespace.map(String::from),
        usual_nodes,
        usual_zones,
        clusters,
        failed,
    }
}

/// The terminal (and plain-text) view: a row per cluster, the outliers marked.
#[must_use]
pub fn render(t: &Topology) -> String {
    use std::fmt::Write as _;
    let ns = t.namespace.as_deref().map(|n| format!(" in {n}")).unwrap_or_default();
    let mut out = format!(
        "{}{ns}: {} cluster(s), {} stand out (usual: ready endpoints on {} node(s) in {} zone(s))\n",
        t.service,
        t.clusters.len(),
        t.outliers().len(),
        t.usual_nodes,
        t.usual_zones
    );
    let _ = writeln!(
        out,
        "{:<24} {:>6} {:>10} {:>6} {:>6}  NOTE",
        "CLUSTER", "READY", "NOT-READY", "NODES", "ZONES"
    );
    for c in &t.clusters {
        let _ = writeln!(
            out,
            "{:<24} {:>6} {:>10} {:>6} {:>6}  {}",
            c.cluster,
            c.ready,
            c.not_ready,
            c.nodes.len(),
            c.zones.len(),
            c.stands_out.join("; ")
        );
    }
    for (cluster, why) in &t.failed {
        let _ = writeln!(out, "{cluster:<24} not asked: {why}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn slice(eps: &[(&str, &str, &str, bool)]) -> Value {
        json!({"endpoints": eps.iter().map(|(pod, node, zone, ready)| json!({
            "addresses": ["10.0.0.1"], "nodeName": node, "zone": zone, "conditions": {"ready": ready},
            "targetRef": {"kind": "Pod", "name": pod}})).collect::<Vec<_>>()})
    }

    #[test]
    fn the_odd_clusters_stand_out() {
        let svc = json!({"kind": "Service"});
        let spread = slice(&[
            ("a", "n1", "z1", true),
            ("b", "n2", "z2", true),
            ("c", "n3", "z3", true),
        ]);
        let mut clusters: Vec<ClusterTopology> = (0..5)
            .map(|i| of_cluster(&format!("c{i}"), Some(&svc), std::slice::from_ref(&spread)))
            .collect();
        clusters.push(of_cluster(
            "one-zone",
            Some(&svc),
            &[slice(&[
                ("a", "n1", "z1", true),
                ("b", "n1", "z1", true),
                ("c", "n1", "z1", true),
            ])],
        ));
        clusters.push(of_cluster(
            "down",
            Some(&svc),
            &[slice(&[("a", "n1", "z1", false), ("b", "n2", "z2", false)])],
        ));
        clusters.push(of_cluster("gone", None, &[]));
        let t = build("svc/web", Some("shop"), clusters, BTreeMap::new());
        assert_eq!((t.usual_nodes, t.usual_zones), (3, 3));
        let out: Vec<&str> = t.outliers().iter().map(|c| c.cluster.as_str()).collect();
        assert_eq!(out, ["down", "gone", "one-zone"]);
        let down = t.clusters.iter().find(|c| c.cluster == "down").unwrap();
        assert_eq!(down.stands_out, ["no ready endpoint (2 not ready)"]);
        let one = t.clusters.iter().find(|c| c.cluster == "one-zone").unwrap();
        assert_eq!(one.stands_out.len(), 2, "{one:?}");
        assert!(render(&t).contains("one-zone") && render(&t).contains("3 stand out"));
    }
}
