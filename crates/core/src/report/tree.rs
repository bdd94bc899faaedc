//! The ownership tree of an object on each cluster (a Deployment -> its ReplicaSets ->
//! their Pods, from owner references), with finalizers and deletion timestamps, and how
//! it differs across the fleet: each cluster's tree has a shape (kinds and counts per
//! level, what is being deleted, what holds finalizers); the clusters whose shape is not
//! the usual one stand out. Pure and deterministic.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One object in a tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleting_since: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Node>,
}

impl Node {
    /// The shape: kinds and counts per level, marks for finalizers and deletion, names left out.
    #[must_use]
    pub fn shape(&self) -> String {
        let mut me = self.kind.clone();
        if !self.finalizers.is_empty() {
            me.push_str(&format!("[finalizers: {}]", self.finalizers.join(",")));
        }
        if self.deleting_since.is_some() {
            me.push_str("[deleting]");
        }
        if self.children.is_empty() {
            return me;
        }
        let mut groups: BTreeMap<String, usize> = BTreeMap::new();
        for c in &self.children {
            *groups.entry(c.shape()).or_default() += 1;
        }
        let kids: Vec<String> = groups
            .into_iter()
            .map(|(s, n)| if n == 1 { s } else { format!("{n}x {s}") })
            .collect();
        format!("{me} > ({})", kids.join(", "))
    }
}

fn text(v: &Value, p: &str) -> String {
    v.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string()
}

/// The tree under `root` from `objects` (any kinds; ownership by `ownerReferences[].uid`).
#[must_use]
pub fn of(root: &Value, objects: &[Value]) -> Node {
    fn grow(v: &Value, objects: &[Value], depth: usize) -> Node {
        let uid = text(v, "/metadata/uid");
        let mut children: Vec<Node> = if depth > 8 || uid.is_empty() {
            Vec::new()
        } else {
            objects
                .iter()
                .filter(|o| {
                    o.pointer("/metadata/ownerReferences")
                        .and_then(Value::as_array)
                        .is_some_and(|rs| rs.iter().any(|r| r["uid"] == uid.as_str()))
                })
                .map(|o| grow(o, objects, depth + 1))
                .collect()
        };
        children.sort_by(|a, b| (&a.kind, &a.name).cmp(&(&b.kind, &b.name)));
        Node {
            kind: text(v, "/kind"),
            name: text(v, "/metadata/name"),
            finalizers: v
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
                .unwrap_or_default(),
            deleting_since: v
                .pointer("/metadata/deletionTimestamp")
                .and_then(Value::as_str)
                .map(String::from),
            children,
        }
    }
    grow(root, objects, 0)
}

/// The trees of the fleet, grouped by shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trees {
    pub target: String,
    /// The most common shape first.
    pub shapes: Vec<Shape>,
    /// Clusters where the object does not exist.
    pub missing: Vec<String>,
    pub failed: BTreeMap<String, String>,
}

/// One shape and the clusters whose tree has it (one example tree).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Shape {
    pub shape: String,
    pub clusters: Vec<String>,
    pub example: Node,
}

/// Group the clusters' trees by shape.
#[must_use]
pub fn build(
    target: &str,
    trees: BTreeMap<String, Node>,
    missing: Vec<String>,
    failed: BTreeMap<String, String>,
) -> Trees {
    let mut by: BTreeMap<String, (Vec<String>, Node)> = BTreeMap::new();
    for (cluster, tree) in trees {
        by.entry(tree.shape())
            .or_insert_with(|| (Vec::new(), tree.clone()))
            .0
            .push(cluster);
    }
    let mut shapes: Vec<Shape> = by
        .into_iter()
        .map(|(shape, (clusters, example))| Shape {
            shape,
            clusters,
            example,
        })
        .collect();
    shapes.sort_by(|a, b| {
        b.clusters
            .len()
            .cmp(&a.clusters.len())
            .then_with(|| a.shape.cmp(&b.shape))
    });
    Trees {
        target: target.to_string(),
        shapes,
        missing,
        failed,
    }
}

/// The terminal view: each shape with its clusters and an example tree.
#[must_use]
pub fn render(t: &Trees) -> String {
    use std::fmt::Write as _;
    fn draw(out: &mut String, n: &Node, prefix: &str, last: bool, root: bool) {
        let branch = if root {
            String::new()
        } else if last {
            "└── ".into()
        } else {
            "├── ".into()
        };
        let mut marks = String::new();
        if !n.finalizers.is_empty() {
            marks.push_str(&format!("  finalizers: {}", n.finalizers.join(",")));
        }
        if let Some(t) = &n.deleting_since {
            marks.push_str(&format!("  deleting since {t}"));
        }
        let _ = writeln!(out, "{prefix}{branch}{}/{}{marks}", n.kind, n.name);
        let child_prefix = if root {
            prefix.to_string()
        } else {
            format!("{prefix}{}", if last { "    " } else { "│   " })
        };
        for (i, c) in n.children.iter().enumerate() {
            draw(out, c, &child_prefix, i + 1 == n.children.len(), false);
        }
    }
    let mut out = format!(
        "{}: {} shape(s) across {} cluster(s)\n",
        t.target,
        t.shapes.len(),
        t.shapes.iter().map(|s| s.clusters.len()).sum::<usize>()
    );
    for (i, s) in t.shapes.iter().enumerate() {
        let label = if i == 0 { "usual" } else { "differs" };
        let _ = writeln!(
            out,
            "\n[{label}] {} on {} cluster(s): {}",
            s.shape,
            s.clusters.len(),
            super::render::names(&s.clusters, 20)
        );
        draw(&mut out, &s.example, "  ", true, true);
    }
    if !t.missing.is_empty() {
        let _ = writeln!(
            out,
            "\nmissing on {}: {}",
            t.missing.len(),
            super::render::names(&t.missing, 20)
        );
    }
    for (cluster, why) in &t.failed {
        let _ = writeln!(out, "{cluster}: not asked: {why}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(kind: &str, name: &str, uid: &str, owner: Option<&str>) -> Value {
        let mut v = json!({"kind": kind, "metadata": {"name": name, "uid": uid}});
        if let Some(o) = owner {
            v["metadata"]["ownerReferences"] = json!([{"uid": o}]);
        }
        v
    }

    #[test]
    fn trees_group_by_shape() {
        let d = obj("Deployment", "web", "d", None);
        let usual = vec![
            obj("ReplicaSet", "web-1", "r1", Some("d")),
            obj("Pod", "web-1-a", "p1", Some("r1")),
            obj("Pod", "web-1-b", "p2", Some("r1")),
            obj("Pod", "other", "p9", Some("zz")),
        ];
        let t = of(&d, &usual);
        assert_eq!(t.shape(), "Deployment > (ReplicaSet > (2x Pod))");
        let mut stuck = usual.clone();
        stuck.push(obj("ReplicaSet", "web-0", "r0", Some("d")));
        let mut p = obj("Pod", "web-0-a", "p0", Some("r0"));
        p["metadata"]["finalizers"] = json!(["example.com/hold"]);
        p["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        stuck.push(p);
        let mut trees = BTreeMap::new();
        trees.insert("a".to_string(), of(&d, &usual));
        trees.insert("b".to_string(), of(&d, &usual));
        trees.insert("c".to_string(), of(&d, &stuck));
        let all = build("deploy/web", trees, vec!["d".into()], BTreeMap::new());
        assert_eq!(all.shapes.len(), 2);
        assert_eq!(all.shapes[0].clusters, ["a", "b"]);
        assert!(
            all.shapes[1].shape.contains("[finalizers: example.com/hold][deleting]"),
            "{}",
            all.shapes[1].shape
        );
        let text = render(&all);
        assert!(
            text.contains("[differs]") && text.contains("deleting since") && text.contains("missing on 1: d"),
            "{text}"
        );
        assert!(
            text.contains("└── Pod/web-1-b") || text.contains("├── Pod/web-1-a"),
            "{text}"
        );
    }
}
