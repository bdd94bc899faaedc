//! The built-in Kubernetes resources every conformant API server serves, as a static table:
//! resolving `deploy`, `pods` or `clusterrolebindings.rbac.authorization.k8s.io` needs no
//! discovery request, and the policy knows which kinds are cluster-scoped before any call.
//! Anything else (custom resources) is resolved through each cluster's discovery.

/// One built-in resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Builtin {
    pub kind: &'static str,
    pub plural: &'static str,
    pub short: &'static [&'static str],
    /// Empty for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub namespaced: bool,
}

const fn b(
    kind: &'static str,
    plural: &'static str,
    short: &'static [&'static str],
    group: &'static str,
    version: &'static str,
    namespaced: bool,
) -> Builtin {
    Builtin {
        kind,
        plural,
        short,
        group,
        version,
        namespaced,
    }
}

/// The table (stable GA versions, as kube-apiserver 1.37 serves them).
pub const BUILTINS: &[Builtin] = &[
    b("Pod", "pods", &["po"], "", "v1", true),
    b("Service", "services", &["svc"], "", "v1", true),
    b("ConfigMap", "configmaps", &["cm"], "", "v1", true),
    b("Secret", "secrets", &[], "", "v1", true),
    b("ServiceAccount", "serviceaccounts", &["sa"], "", "v1", true),
    b("Endpoints", "endpoints", &["ep"], "", "v1", true),
    b("Event", "events", &["ev"], "", "v1", true),
    b(
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        &["pvc"],
        "",
        "v1",
        true,
    ),
    b(
        "ReplicationController",
        "replicationcontrollers",
        &["rc"],
        "",
        "v1",
        true,
    ),
    b("ResourceQuota", "resourcequotas", &["quota"], "", "v1", true),
    b("LimitRange", "limitranges", &["limits"], "", "v1", true),
    b("PodTemplate", "podtemplates", &[], "", "v1", true),
    b("Namespace", "namespaces", &["ns"], "", "v1", false),
    b("Node", "nodes", &["no"], "", "v1", false),
    b("PersistentVolume", "persistentvolumes", &["pv"], "", "v1", false),
    b("Deployment", "deployments", &["deploy"], "apps", "v1", true),
    b("ReplicaSet", "replicasets", &["rs"], "apps", "v1", true),
    b("StatefulSet", "statefulsets", &["sts"], "apps", "v1", true),
    b("DaemonSet", "daemonsets", &["ds"], "apps", "v1", true),
    b("ControllerRevision", "controllerrevisions", &[], "apps", "v1", true),
    b("Job", "jobs", &[], "batch", "v1", true),
    b("CronJob", "cronjobs", &["cj"], "batch", "v1", true),
    b(
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        &["hpa"],
        "autoscaling",
        "v2",
        true,
    ),
    b("Ingress", "ingresses", &["ing"], "networking.k8s.io", "v1", true),
    b(
        "NetworkPolicy",
        "networkpolicies",
        &["netpol"],
        "networking.k8s.io",
        "v1",
        true,
    ),
    b("IngressClass", "ingressclasses", &[], "networking.k8s.io", "v1", false),
    b(
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        &["pdb"],
        "policy",
        "v1",
        true,
    ),
    b("Role", "roles", &[], "rbac.authorization.k8s.io", "v1", true),
    b(
        "RoleBinding",
        "rolebindings",
        &[],
        "rbac.authorization.k8s.io",
        "v1",
        true,
    ),
    b(
        "ClusterRole",
        "clusterroles",
        &[],
        "rbac.authorization.k8s.io",
        "v1",
        false,
    ),
    b(
        "ClusterRoleBinding",
        "clusterrolebindings",
        &[],
        "rbac.authorization.k8s.io",
        "v1",
        false,
    ),
    b("Lease", "leases", &[], "coordination.k8s.io", "v1", true),
    b("EndpointSlice", "endpointslices", &[], "discovery.k8s.io", "v1", true),
    b("StorageClass", "storageclasses", &["sc"], "storage.k8s.io", "v1", false),
    b("CSIDriver", "csidrivers", &[], "storage.k8s.io", "v1", false),
    b("CSINode", "csinodes", &[], "storage.k8s.io", "v1", false),
    b(
        "VolumeAttachment",
        "volumeattachments",
        &[],
        "storage.k8s.io",
        "v1",
        false,
    ),
    b(
        "PriorityClass",
        "priorityclasses",
        &["pc"],
        "scheduling.k8s.io",
        "v1",
        false,
    ),
    b("RuntimeClass", "runtimeclasses", &[], "node.k8s.io", "v1", false),
    b(
        "CustomResourceDefinition",
        "customresourcedefinitions",
        &["crd", "crds"],
        "apiextensions.k8s.io",
        "v1",
        false,
    ),
    b("APIService", "apiservices", &[], "apiregistration.k8s.io", "v1", false),
    b(
        "CertificateSigningRequest",
        "certificatesigningrequests",
        &["csr"],
        "certificates.k8s.io",
        "v1",
        false,
    ),
    b(
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        &[],
        "admissionregistration.k8s.io",
        "v1",
        false,
    ),
    b(
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        &[],
        "admissionregistration.k8s.io",
        "v1",
        false,
    ),
    b(
        "ValidatingAdmissionPolicy",
        "validatingadmissionpolicies",
        &[],
        "admissionregistration.k8s.io",
        "v1",
        false,
    ),
    b(
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        &[],
        "admissionregistration.k8s.io",
        "v1",
        false,
    ),
    b("ComponentStatus", "componentstatuses", &["cs"], "", "v1", false),
    b("IPAddress", "ipaddresses", &["ip"], "networking.k8s.io", "v1", false),
    b("ServiceCIDR", "servicecidrs", &[], "networking.k8s.io", "v1", false),
    b(
        "VolumeAttributesClass",
        "volumeattributesclasses",
        &["vac"],
        "storage.k8s.io",
        "v1",
        false,
    ),
    b(
        "CSIStorageCapacity",
        "csistoragecapacities",
        &[],
        "storage.k8s.io",
        "v1",
        true,
    ),
    b("DeviceClass", "deviceclasses", &[], "resource.k8s.io", "v1", false),
    b("ResourceSlice", "resourceslices", &[], "resource.k8s.io", "v1", false),
    b("ResourceClaim", "resourceclaims", &[], "resource.k8s.io", "v1", true),
    b(
        "ResourceClaimTemplate",
        "resourceclaimtemplates",
        &[],
        "resource.k8s.io",
        "v1",
        true,
    ),
    b("TokenReview", "tokenreviews", &[], "authentication.k8s.io", "v1", false),
    b(
        "SelfSubjectReview",
        "selfsubjectreviews",
        &[],
        "authentication.k8s.io",
        "v1",
        false,
    ),
    b(
        "SubjectAccessReview",
        "subjectaccessreviews",
        &[],
        "authorization.k8s.io",
        "v1",
        false,
    ),
    b(
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
        &[],
        "authorization.k8s.io",
        "v1",
        false,
    ),
    b(
        "SelfSubjectRulesReview",
        "selfsubjectrulesreviews",
        &[],
        "authorization.k8s.io",
        "v1",
        false,
    ),
    b(
        "LocalSubjectAccessReview",
        "localsubjectaccessreviews",
        &[],
        "authorization.k8s.io",
        "v1",
        true,
    ),
    b(
        "FlowSchema",
        "flowschemas",
        &[],
        "flowcontrol.apiserver.k8s.io",
        "v1",
        false,
    ),
    b(
        "PriorityLevelConfiguration",
        "prioritylevelconfigurations",
        &[],
        "flowcontrol.apiserver.k8s.io",
        "v1",
        false,
    ),
];

impl Builtin {
    /// `apps/v1`, or `v1` for the core group.
    #[must_use]
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `deployment.apps`, as kubectl names a resource in messages.
    #[must_use]
    pub fn qualified(&self) -> String {
        let singular = self.kind.to_ascii_lowercase();
        if self.group.is_empty() {
            singular
        } else {
            format!("{singular}.{}", self.group)
        }
    }

    /// Whether a typed resource name (`deploy`, `Deployment`, `deployments.apps`) means this.
    #[must_use]
    pub fn matches(&self, resource: &str) -> bool {
        let (name, group) = match resource.split_once('.') {
            Some((n, g)) => (n, Some(g)),
            None => (resource, None),
        };
        group.is_none_or(|g| g == self.group || (self.group.is_empty() && g == "core"))
            && (name.eq_ignore_ascii_case(self.plural)
                || name.eq_ignore_ascii_case(self.kind)
                || self.short.iter().any(|s| name.eq_ignore_ascii_case(s)))
    }
}

/// The built-in resource a typed name means, if any.
#[must_use]
pub fn lookup(resource: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.matches(resource))
}

/// The built-in resource of a manifest's `apiVersion` and `kind`, if any.
#[must_use]
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static Builtin> {
    BUILTINS
        .iter()
        .find(|b| b.kind == kind && b.api_version_matches(api_version))
}

impl Builtin {
    fn api_version_matches(&self, api_version: &str) -> bool {
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        group == self.group
    }
}

/// Whether a kind is a built-in cluster-scoped kind (Namespace, ClusterRoleBinding, ...).
#[must_use]
pub fn is_cluster_scoped(kind: &str) -> bool {
    BUILTINS.iter().any(|b| b.kind == kind && !b.namespaced)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_names_resolve() {
        for (typed, kind) in [
            ("deploy", "Deployment"),
            ("deployments", "Deployment"),
            ("Deployment", "Deployment"),
            ("deployments.apps", "Deployment"),
            ("po", "Pod"),
            ("pods.core", "Pod"),
            ("svc", "Service"),
            ("crd", "CustomResourceDefinition"),
            ("clusterrolebindings.rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ] {
            assert_eq!(lookup(typed).map(|b| b.kind), Some(kind), "{typed}");
        }
        assert!(lookup("widgets").is_none());
        assert!(
            lookup("deployments.example.com").is_none(),
            "a CRD named like a built-in"
        );
        assert_eq!(by_kind("apps/v1", "Deployment").unwrap().plural, "deployments");
        assert!(by_kind("example.com/v1", "Deployment").is_none());
        assert!(is_cluster_scoped("ClusterRoleBinding") && !is_cluster_scoped("Deployment"));
        for kind in [
            "IPAddress",
            "ServiceCIDR",
            "DeviceClass",
            "ResourceSlice",
            "VolumeAttributesClass",
            "ComponentStatus",
            "TokenReview",
            "SubjectAccessReview",
        ] {
            assert!(is_cluster_scoped(kind), "{kind}");
        }
        assert!(!is_cluster_scoped("ResourceClaim") && !is_cluster_scoped("LocalSubjectAccessReview"));
        assert_eq!(lookup("deploy").unwrap().qualified(), "deployment.apps");
    }
}
