//! The resource types a simulated cluster serves: built-in kinds and those added by CRDs.
//!
//! A [`ResourceDef`] describes one resource in one group-version: its kind, scope, short
//! names, subresources and printer. Storage is keyed by group and resource (not version), so
//! every version a CRD serves reads and writes the same objects, as with conversion `None`.

use std::sync::{Arc, LazyLock, RwLock};

use serde_json::Value;

use super::convert::Conversion;
use super::status::{ApiError, ApiResult};

/// The verbs every served resource supports.
pub const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// Where a resource's `/scale` subresource reads and writes.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleSpec {
    /// JSON pointer to the desired replicas (`/spec/replicas`).
    pub spec_replicas: String,
    /// JSON pointer to the observed replicas (`/status/replicas`).
    pub status_replicas: String,
    /// JSON pointer to a label-selector string, if any.
    pub label_selector: Option<String>,
    /// Built-ins derive the selector string from `spec.selector` instead.
    pub selector_from_spec: bool,
}

/// A server-side printer column (`additionalPrinterColumns` or a built-in one).
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub kind: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    /// For CRD columns: the `jsonPath` to read. Built-in printers compute cells in code.
    pub json_path: Option<String>,
}

/// How rows of a kind are printed as a `meta.k8s.io/v1` Table.
#[derive(Debug, Clone, PartialEq)]
pub enum Printer {
    /// A built-in kind, printed by `table::builtin_cells`.
    Builtin(&'static str),
    /// Name and Age only (custom resources without printer columns).
    Default,
    /// A CRD's `additionalPrinterColumns`.
    Custom(Vec<Column>),
}

/// One resource in one group-version.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceDef {
    pub group: String,
    pub version: String,
    /// The plural resource name used in paths.
    pub resource: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub status_subresource: bool,
    pub scale: Option<ScaleSpec>,
    pub printer: Printer,
    /// Extra field paths accepted in `fieldSelector` beyond `metadata.name/namespace`.
    pub field_selectors: Vec<String>,
    /// Another resource's storage this one is served from, if any.
    pub storage: Option<GroupResource>,
    /// How served objects map to stored ones.
    pub conversion: Conversion,
    /// A CRD version's `openAPIV3Schema`, checked on every write.
    pub schema: Option<Arc<Value>>,
}

impl ResourceDef {
    /// `apiVersion` of objects served from this definition.
    #[must_use]
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The storage key shared by every version of this resource.
    #[must_use]
    pub fn group_resource(&self) -> GroupResource {
        self.storage.clone().unwrap_or_else(|| GroupResource {
            group: self.group.clone(),
            resource: self.resource.clone(),
        })
    }

    /// Whether the field selector may use `field`.
    #[must_use]
    pub fn supports_field(&self, field: &str) -> bool {
        matches!(field, "metadata.name" | "metadata.namespace") || self.field_selectors.iter().any(|f| f == field)
    }
}

/// The storage identity of a resource: group and plural name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupResource {
    pub group: String,
    pub resource: String,
}

fn scale_builtin() -> Option<ScaleSpec> {
    Some(ScaleSpec {
        spec_replicas: "/spec/replicas".into(),
        status_replicas: "/status/replicas".into(),
        label_selector: None,
        selector_from_spec: true,
    })
}

struct Builtin {
    group: &'static str,
    version: &'static str,
    resource: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    all_category: bool,
    status: bool,
    scale: bool,
    fields: &'static [&'static str],
}

const BUILTINS: &[Builtin] = &[
    Builtin {
        group: "",
        version: "v1",
        resource: "namespaces",
        kind: "Namespace",
        namespaced: false,
        short: &["ns"],
        all_category: false,
        status: true,
        scale: false,
        fields: &["status.phase"],
    },
    Builtin {
        group: "",
        version: "v1",
        resource: "pods",
        kind: "Pod",
        namespaced: true,
        short: &["po"],
        all_category: true,
        status: true,
        scale: false,
        fields: &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
    },
    Builtin {
        group: "",
        version: "v1",
        resource: "services",
        kind: "Service",
        namespaced: true,
        short: &["svc"],
        all_category: true,
        status: true,
        scale: false,
        fields: &["spec.clusterIP", "spec.type"],
    },
    Builtin {
        group: "",
        version: "v1",
        resource: "configmaps",
        kind: "ConfigMap",
        namespaced: true,
        short: &["cm"],
        all_category: false,
        status: false,
        scale: false,
        fields: &[],
    },
    Builtin {
        group: "",
        version: "v1",
        resource: "secrets",
        kind: "Secret",
        namespaced: true,
        short: &[],
        all_category: false,
        status: false,
        scale: false,
        fields: &["type"],
    },
    Builtin {
        group: "",
        version: "v1",
        resource: "serviceaccounts",
        kind: "ServiceAccount",
        namespaced: true,
        short: &["sa"],
        all_category: false,
        status: false,
        scale: false,
        fields: &[],
    },
    Builtin {
        group: "",
        version: "v1",
        resource: "events",
        kind: "Event",
        namespaced: true,
        short: &["ev"],
        all_category: false,
        status: false,
        scale: false,
        fields: &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
    },
    Builtin {
        group: "",
        version: "v1",
        resource: "nodes",
        kind: "Node",
        namespaced: false,
        short: &["no"],
        all_category: false,
        status: true,
        scale: false,
        fields: &["spec.unschedulable"],
    },
    Builtin {
        group: "apps",
        version: "v1",
        resource: "deployments",
        kind: "Deployment",
        namespaced: true,
        short: &["deploy"],
        all_category: true,
        status: true,
        scale: true,
        fields: &[],
    },
    Builtin {
        group: "apps",
        version: "v1",
        resource: "replicasets",
        kind: "ReplicaSet",
        namespaced: true,
        short: &["rs"],
        all_category: true,
        status: true,
        scale: true,
        fields: &["status.replicas"],
    },
    Builtin {
        group: "apps",
        version: "v1",
        resource: "statefulsets",
        kind: "StatefulSet",
        namespaced: true,
        short: &["sts"],
        all_category: true,
        status: true,
        scale: true,
        fields: &[],
    },
    Builtin {
        group: "apps",
        version: "v1",
        resource: "daemonsets",
        kind: "DaemonSet",
        namespaced: true,
        short: &["ds"],
        all_category: true,
        status: true,
        scale: false,
        fields: &[],
    },
    Builtin {
        group: "discovery.k8s.io",
        version: "v1",
        resource: "endpointslices",
        kind: "EndpointSlice",
        namespaced: true,
        short: &[],
        all_category: false,
        status: false,
        scale: false,
        fields: &[],
    },
    Builtin {
        group: "coordination.k8s.io",
        version: "v1",
        resource: "leases",
        kind: "Lease",
        namespaced: true,
        short: &[],
        all_category: false,
        status: false,
        scale: false,
        fields: &[],
    },
    Builtin {
        group: "events.k8s.io",
        version: "v1",
        resource: "events",
        kind: "Event",
        namespaced: true,
        short: &["ev"],
        all_category: false,
        status: false,
        scale: false,
        fields: &[],
    },
    Builtin {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        resource: "roles",
        kind: "Role",
        namespaced: true,
        short: &[],
        all_category: false,
        status: false,
        scale: false,
        fields: &[],
    },
    Builtin {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        resource: "rolebindings",
        kind: "RoleBinding",
        namespaced: true,
        short: &[],
        all_category: false,
        status: false,
        scale: false,
        fields: &[],
    },
    Builtin {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        resource: "clusterroles",
        kind: "ClusterRole",
        namespaced: false,
        short: &[],
        all_category: false,
        status: false,
        scale: false,
        fields: &[],
    },
    Builtin {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        resource: "clusterrolebindings",
        kind: "ClusterRoleBinding",
        namespaced: false,
        short: &[],
        all_category: false,
        status: false,
        scale: false,
        fields: &[],
    },
    Builtin {
        group: "apiextensions.k8s.io",
        version: "v1",
        resource: "customresourcedefinitions",
        kind: "CustomResourceDefinition",
        namespaced: false,
        short: &["crd", "crds"],
        all_category: false,
        status: true,
        scale: false,
        fields: &[],
    },
];

/// The built-in resources, shared by every simulated cluster (built once per process).
pub static BUILTIN_DEFS: LazyLock<Vec<Arc<ResourceDef>>> = LazyLock::new(|| {
    BUILTINS
        .iter()
        .map(|b| {
            Arc::new(ResourceDef {
                group: b.group.into(),
                version: b.version.into(),
                resource: b.resource.into(),
                singular: b.kind.to_ascii_lowercase(),
                kind: b.kind.into(),
                namespaced: b.namespaced,
                short_names: b.short.iter().map(|s| (*s).to_string()).collect(),
                categories: if b.all_category { vec!["all".into()] } else { vec![] },
                status_subresource: b.status,
                scale: if b.scale { scale_builtin() } else { None },
                printer: Printer::Builtin(b.kind),
                field_selectors: b.fields.iter().map(|s| (*s).to_string()).collect(),
                // NB: events.k8s.io/v1 Events are core Events in another shape, as in kube-apiserver.
                storage: (b.group == "events.k8s.io").then(|| GroupResource {
                    group: String::new(),
                    resource: "events".into(),
                }),
                conversion: if b.group == "events.k8s.io" {
                    Conversion::EventsV1
                } else {
                    Conversion::None
                },
                schema: None,
            })
        })
        .collect()
});

/// Every resource a cluster serves: the built-ins plus those its CRDs define.
#[derive(Debug, Default)]
pub struct ResourceTable {
    custom: RwLock<Vec<Arc<ResourceDef>>>,
}

impl ResourceTable {
    /// Look up a resource by group, version and plural name.
    #[must_use]
    pub fn find(&self, group: &str, version: &str, resource: &str) -> Option<Arc<ResourceDef>> {
        let hit = |d: &&Arc<ResourceDef>| d.group == group && d.version == version && d.resource == resource;
        if let Some(d) = BUILTIN_DEFS.iter().find(hit) {
            return Some(d.clone());
        }
        self.custom
            .read()
            .expect("resource table lock")
            .iter()
            .find(hit)
            .cloned()
    }

    /// Every served definition, built-ins first, then custom ones in CRD order.
    #[must_use]
    pub fn all(&self) -> Vec<Arc<ResourceDef>> {
        let mut out: Vec<Arc<ResourceDef>> = BUILTIN_DEFS.clone();
        out.extend(self.custom.read().expect("resource table lock").iter().cloned());
        out
    }

    /// Whether a group-version is served at all.
    #[must_use]
    pub fn serves_group_version(&self, group: &str, version: &str) -> bool {
        self.all().iter().any(|d| d.group == group && d.version == version)
    }

    /// Replace the definitions contributed by one CRD (by its `group/resource`).
    pub fn set_crd(&self, gr: &GroupResource, defs: Vec<Arc<ResourceDef>>) {
        let mut custom = self.custom.write().expect("resource table lock");
        custom.retain(|d| d.group != gr.group || d.resource != gr.resource);
        custom.extend(defs);
    }

    /// Remove the definitions contributed by one CRD.
    pub fn remove_crd(&self, gr: &GroupResource) {
        self.set_crd(gr, Vec::new());
    }
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// The storage key a CRD object defines (its `spec.group` and `spec.names.plural`).
///
/// # Errors
/// `Invalid` when the CRD lacks group or plural.
pub fn crd_group_resource(crd: &Value) -> ApiResult<GroupResource> {
    let name = str_at(crd, "/metadata/name").unwrap_or_default();
    let group = str_at(crd, "/spec/group").unwrap_or_default();
    let plural = str_at(crd, "/spec/names/plural").unwrap_or_default();
    let mut causes = Vec::new();
    if group.is_empty() {
        causes.push(("spec.group".to_string(), "Required value".to_string()));
    }
    if plural.is_empty() {
        causes.push(("spec.names.plural".to_string(), "Required value".to_string()));
    }
    if causes.is_empty() && name != format!("{plural}.{group}") {
        causes.push((
            "metadata.name".to_string(),
            format!("Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid(
            "CustomResourceDefinition",
            "apiextensions.k8s.io",
            name,
            &causes,
        ));
    }
    Ok(GroupResource {
        group: group.to_string(),
        resource: plural.to_string(),
    })
}

/// Validate a CRD and derive one [`ResourceDef`] per served version.
///
/// # Errors
/// `Invalid` naming the field that makes the CRD unusable.
pub fn defs_from_crd(crd: &Value) -> ApiResult<Vec<Arc<ResourceDef>>> {
    let gr = crd_group_resource(crd)?;
    let name = str_at(crd, "/metadata/name").unwrap_or_default();
    let invalid = |field: &str, msg: &str| {
        ApiError::invalid(
            "CustomResourceDefinition",
            "apiextensions.k8s.io",
            name,
            &[(field.to_string(), msg.to_string())],
        )
    };
    let kind = str_at(crd, "/spec/names/kind").ok_or_else(|| invalid("spec.names.kind", "Required value"))?;
    let scope = str_at(crd, "/spec/scope").ok_or_else(|| invalid("spec.scope", "Required value"))?;
    if scope != "Namespaced" && scope != "Cluster" {
        return Err(invalid(
            "spec.scope",
            "Unsupported value: must be Namespaced or Cluster",
        ));
    }
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| invalid("spec.versions", "Required value: must have at least one version"))?;
    let strings = |p: &str| -> Vec<String> {
        crd.pointer(p)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
            .unwrap_or_default()
    };
    let mut defs = Vec::new();
    let mut storage_versions = 0;
    for (i, v) in versions.iter().enumerate() {
        let vname = str_at(v, "/name").ok_or_else(|| invalid(&format!("spec.versions[{i}].name"), "Required value"))?;
        if v.get("storage").and_then(Value::as_bool) == Some(true) {
            storage_versions += 1;
        }
        if v.get("served").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        let subresources = v.get("subresources");
        let scale = subresources.and_then(|s| s.get("scale")).map(|s| ScaleSpec {
            spec_replicas: json_path_to_pointer(
                s.get("specReplicasPath")
                    .and_then(Value::as_str)
                    .unwrap_or(".spec.replicas"),
            ),
            status_replicas: json_path_to_pointer(
                s.get("statusReplicasPath")
                    .and_then(Value::as_str)
                    .unwrap_or(".status.replicas"),
            ),
            label_selector: s
                .get("labelSelectorPath")
                .and_then(Value::as_str)
                .map(json_path_to_pointer),
            selector_from_spec: false,
        });
        let columns: Vec<Column> = v
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .map(|cols| {
                cols.iter()
                    .map(|c| Column {
                        name: str_at(c, "/name").unwrap_or_default().to_string(),
                        kind: str_at(c, "/type").unwrap_or("string").to_string(),
                        format: str_at(c, "/format").unwrap_or_default().to_string(),
                        description: str_at(c, "/description").unwrap_or_default().to_string(),
                        priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                        json_path: str_at(c, "/jsonPath").map(String::from),
                    })
                    .collect()
            })
            .unwrap_or_default();
        defs.push(Arc::new(ResourceDef {
            group: gr.group.clone(),
            version: vname.to_string(),
            resource: gr.resource.clone(),
            singular: str_at(crd, "/spec/names/singular").map_or_else(|| kind.to_ascii_lowercase(), String::from),
            kind: kind.to_string(),
            namespaced: scope == "Namespaced",
            short_names: strings("/spec/names/shortNames"),
            categories: strings("/spec/names/categories"),
            status_subresource: subresources.and_then(|s| s.get("status")).is_some(),
            scale,
            printer: if columns.is_empty() {
                Printer::Default
            } else {
                Printer::Custom(columns)
            },
            field_selectors: Vec::new(),
            schema: v.pointer("/schema/openAPIV3Schema").cloned().map(Arc::new),
            storage: None,
            conversion: Conversion::None,
        }));
    }
    if storage_versions != 1 {
        return Err(invalid(
            "spec.versions",
            "Invalid value: must have exactly one version marked as storage version",
        ));
    }
    Ok(defs)
}

/// Turn a simple JSONPath like `.spec.replicas` into a JSON pointer `/spec/replicas`.
#[must_use]
pub fn json_path_to_pointer(path: &str) -> String {
    let trimmed = path
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim_start_matches('$');
    trimmed
        .split('.')
        .filter(|s| !s.is_empty())
        .fold(String::new(), |mut acc, seg| {
            acc.push('/');
            acc.push_str(&seg.replace('~', "~0").replace('/', "~1"));
            acc
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn crd() -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"]},
                "versions": [
                    {"name": "v1", "served": true, "storage": true,
                     "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.size", "statusReplicasPath": ".status.size"}},
                     "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}]},
                    {"name": "v1beta1", "served": true, "storage": false},
                    {"name": "v1alpha1", "served": false, "storage": false}
                ]}
        })
    }

    #[test]
    fn crd_defines_served_versions() {
        let defs = defs_from_crd(&crd()).unwrap();
        assert_eq!(defs.len(), 2);
        assert_eq!(defs[0].kind, "Widget");
        assert_eq!(defs[0].singular, "widget");
        assert!(defs[0].status_subresource);
        assert_eq!(defs[0].scale.as_ref().unwrap().spec_replicas, "/spec/size");
        assert!(!defs[1].status_subresource);
        assert_eq!(defs[1].printer, Printer::Default);
    }

    #[test]
    fn crd_errors_name_the_field() {
        let mut c = crd();
        c["metadata"]["name"] = json!("wrong");
        let e = defs_from_crd(&c).unwrap_err();
        assert_eq!(e.code, 422);
        assert!(e.message.contains("metadata.name"), "{}", e.message);
        let mut c = crd();
        c["spec"]["versions"][0]["storage"] = json!(false);
        assert!(defs_from_crd(&c).unwrap_err().message.contains("storage version"));
    }

    #[test]
    fn table_lookup_and_replace() {
        let t = ResourceTable::default();
        assert!(t.find("apps", "v1", "deployments").is_some());
        assert!(t.find("example.com", "v1", "widgets").is_none());
        let gr = crd_group_resource(&crd()).unwrap();
        t.set_crd(&gr, defs_from_crd(&crd()).unwrap());
        assert!(t.find("example.com", "v1beta1", "widgets").is_some());
        t.remove_crd(&gr);
        assert!(t.find("example.com", "v1", "widgets").is_none());
    }
}
