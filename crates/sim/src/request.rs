//! Parsing a request path and query into what it asks for, as kube-apiserver's
//! `RequestInfoFactory` does: discovery, or a verb on a resource, object or subresource.

use std::collections::HashMap;

/// A request target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Version,
    Health,
    CoreVersions,
    GroupList,
    Group(String),
    ResourceList { group: String, version: String },
    OpenApiV3Root,
    OpenApiV3 { group: String, version: String },
    Resource(ResourcePath),
    NotFound,
}

/// A path under `/api/v1` or `/apis/<group>/<version>` naming a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub resource: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
    /// The legacy `/watch/` prefix was used.
    pub watch_prefix: bool,
}

/// Decoded query parameters (first value wins, as Go's `url.Values.Get`).
#[derive(Debug, Clone, Default)]
pub struct Query(HashMap<String, String>);

impl Query {
    #[must_use]
    pub fn parse(query: Option<&str>) -> Self {
        let mut map = HashMap::new();
        for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            map.entry(k.into_owned()).or_insert_with(|| v.into_owned());
        }
        Self(map)
    }

    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str).filter(|s| !s.is_empty())
    }

    /// A boolean parameter (`true`/`1`).
    #[must_use]
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }
}

fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect()
}

/// Parse a request path.
#[must_use]
pub fn route(path: &str) -> Route {
    let segs = segments(path);
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    match s.as_slice() {
        ["version"] => Route::Version,
        ["healthz" | "livez" | "readyz", ..] => Route::Health,
        ["api"] => Route::CoreVersions,
        ["apis"] => Route::GroupList,
        ["apis", group] => Route::Group((*group).to_string()),
        ["api", version] => Route::ResourceList {
            group: String::new(),
            version: (*version).to_string(),
        },
        ["apis", group, version] => Route::ResourceList {
            group: (*group).to_string(),
            version: (*version).to_string(),
        },
        ["openapi", "v3"] => Route::OpenApiV3Root,
        ["openapi", "v3", "api", version] => Route::OpenApiV3 {
            group: String::new(),
            version: (*version).to_string(),
        },
        ["openapi", "v3", "apis", group, version] => Route::OpenApiV3 {
            group: (*group).to_string(),
            version: (*version).to_string(),
        },
        ["api", version, rest @ ..] => resource_route("", version, rest),
        ["apis", group, version, rest @ ..] => resource_route(group, version, rest),
        _ => Route::NotFound,
    }
}

fn resource_route(group: &str, version: &str, rest: &[&str]) -> Route {
    let (watch_prefix, rest) = match rest {
        ["watch", tail @ ..] => (true, tail),
        _ => (false, rest),
    };
    let mk = |namespace: Option<&str>, resource: &str, name: Option<&str>, sub: Option<&str>| {
        Route::Resource(ResourcePath {
            group: group.to_string(),
            version: version.to_string(),
            namespace: namespace.map(String::from),
            resource: resource.to_string(),
            name: name.map(String::from),
            subresource: sub.map(String::from),
            watch_prefix,
        })
    };
    // NB: `namespaces/<x>/<y>` is a resource <y> in namespace <x>, except the namespace
    // subresources `status` and `finalize` (the same disambiguation apiserver makes).
    match rest {
        ["namespaces"] => mk(None, "namespaces", None, None),
        ["namespaces", ns] => mk(None, "namespaces", Some(ns), None),
        ["namespaces", ns, sub @ ("status" | "finalize")] if group.is_empty() => {
            mk(None, "namespaces", Some(ns), Some(sub))
        }
        ["namespaces", ns, resource] => mk(Some(ns), resource, None, None),
        ["namespaces", ns, resource, name] => mk(Some(ns), resource, Some(name), None),
        ["namespaces", ns, resource, name, sub] => mk(Some(ns), resource, Some(name), Some(sub)),
        [resource] => mk(None, resource, None, None),
        [resource, name] => mk(None, resource, Some(name), None),
        [resource, name, sub] => mk(None, resource, Some(name), Some(sub)),
        _ => Route::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(path: &str) -> ResourcePath {
        match route(path) {
            Route::Resource(r) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn routes() {
        assert_eq!(route("/version"), Route::Version);
        assert_eq!(route("/apis/apps"), Route::Group("apps".into()));
        assert_eq!(
            route("/api/v1"),
            Route::ResourceList {
                group: String::new(),
                version: "v1".into()
            }
        );
        assert_eq!(route("/nope"), Route::NotFound);
        let r = res("/apis/apps/v1/namespaces/shop/deployments/web/scale");
        assert_eq!(
            (
                r.namespace.as_deref(),
                r.resource.as_str(),
                r.name.as_deref(),
                r.subresource.as_deref()
            ),
            (Some("shop"), "deployments", Some("web"), Some("scale"))
        );
        let r = res("/api/v1/namespaces/shop");
        assert_eq!(
            (r.namespace, r.resource.as_str(), r.name.as_deref()),
            (None, "namespaces", Some("shop"))
        );
        let r = res("/api/v1/namespaces/shop/status");
        assert_eq!(
            (r.resource.as_str(), r.subresource.as_deref()),
            ("namespaces", Some("status"))
        );
        let r = res("/api/v1/namespaces/shop/pods");
        assert_eq!(
            (r.namespace.as_deref(), r.resource.as_str(), r.name),
            (Some("shop"), "pods", None)
        );
        let r = res("/api/v1/watch/namespaces/shop/pods");
        assert!(r.watch_prefix);
        let r = res("/apis/example.com/v1/widgets");
        assert_eq!(
            (r.group.as_str(), r.namespace, r.resource.as_str()),
            ("example.com", None, "widgets")
        );
        assert_eq!(route("/api/v1/namespaces/a/b/c/d/e"), Route::NotFound);
    }

    #[test]
    fn query() {
        let q = Query::parse(Some("labelSelector=app%3Dweb&watch=1&limit=&x=1&x=2"));
        assert_eq!(q.get("labelSelector"), Some("app=web"));
        assert!(q.flag("watch"));
        assert_eq!(q.get("limit"), None);
        assert_eq!(q.get("x"), Some("1"));
    }
}
