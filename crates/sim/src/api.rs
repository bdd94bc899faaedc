//! The Kubernetes REST API of one simulated cluster: authentication, discovery, and the
//! verbs get, list, watch, create, update, patch, delete and deletecollection on every
//! served resource and its `status` and `scale` subresources.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use futures::StreamExt as _;
use http::{HeaderMap, Method, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full, Limited, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::{Frame, Incoming};
use serde_json::{Value, json};

use super::apply::{self, Part, WriteCtx};
use super::cluster::{Cluster, Identity, new_uid, now_rfc3339};
use super::discovery;
use super::exec;
use super::gc::{Deleted, Propagation, collect_garbage, delete_object};
use super::logs;
use super::objects;
use super::patch;
use super::protobuf;
use super::request::{Query, ResourcePath, Route, route};
use super::resources::{self, GroupResource, ResourceDef};
use super::status::{ApiError, ApiResult};
use super::store::{ObjKey, Object, Stored};
use super::table::{self, IncludeObject};
use super::watch::{self, Filter, Start, WatchRequest};
use muster_core::selector::{FieldSelector, LabelSelector};

/// The response body type of the simulated server.
pub type Body = UnsyncBoxBody<Bytes, Infallible>;

/// kube-apiserver's request body limit (3 MiB).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed_unsync()
}

fn json_response(code: u16, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "application/json")
        .body(full(body))
        .expect("static response parts are valid")
}

fn value_response(code: u16, v: &Value) -> Response<Body> {
    json_response(code, serde_json::to_vec(v).expect("a JSON value serialises"))
}

/// The response for an API error.
#[must_use]
pub fn error_response(e: &ApiError) -> Response<Body> {
    let mut resp = value_response(e.code, &e.to_status());
    if let Some(secs) = e.retry_after {
        resp.headers_mut().insert(header::RETRY_AFTER, secs.into());
    }
    resp
}

/// Serve one request on `cluster`. Never fails: every error becomes a `Status` response.
pub async fn handle(cluster: Arc<Cluster>, req: http::Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let (parts, body) = req.into_parts();
    let result = async {
        let auth = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let identity = cluster.credentials.identify(auth).ok_or_else(ApiError::unauthorized)?;
        // exec upgrades the connection, so it takes the request before its body is read.
        if let Route::Resource(p) = route(parts.uri.path())
            && p.group.is_empty()
            && p.resource == "pods"
            && p.subresource.as_deref() == Some("exec")
        {
            let query = Query::parse(parts.uri.query());
            let pod = RequestCtx::new(&cluster, &identity, &parts.method, p, &query, &parts.headers)?.current()?;
            return exec::upgrade(&cluster, &pod.parse(), http::Request::from_parts(parts, body));
        }
        let body = Limited::new(body, MAX_BODY_BYTES)
            .collect()
            .await
            .map_err(|e| {
                if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                    ApiError::too_large()
                } else {
                    ApiError::bad_request(format!("reading the request body failed: {e}"))
                }
            })?
            .to_bytes();
        let query = Query::parse(parts.uri.query());
        dispatch(
            &cluster,
            &identity,
            &parts.method,
            parts.uri.path(),
            &query,
            &parts.headers,
            body,
        )
    }
    .await;
    Ok(result.unwrap_or_else(|e| error_response(&e)))
}

fn dispatch(
    cluster: &Arc<Cluster>,
    identity: &Identity,
    method: &Method,
    path: &str,
    query: &Query,
    headers: &HeaderMap,
    body: Bytes,
) -> ApiResult<Response<Body>> {
    let r = route(path);
    if !matches!(r, Route::Resource(_)) && method != Method::GET {
        return Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({method} {path})"
        )));
    }
    let defs = cluster.resources.all();
    match r {
        Route::Version => Ok(value_response(200, &discovery::version(&cluster.kubernetes_version))),
        Route::Health => Ok(Response::builder()
            .status(200)
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(full("ok"))
            .expect("static response parts are valid")),
        Route::CoreVersions => Ok(value_response(200, &discovery::core_versions(&cluster.address))),
        Route::GroupList => Ok(value_response(200, &discovery::group_list(&defs))),
        Route::Group(g) => discovery::group(&defs, &g)
            .map(|d| value_response(200, &d))
            .ok_or_else(ApiError::no_route),
        Route::ResourceList { group, version } => discovery::resource_list(&defs, &group, &version)
            .map(|d| value_response(200, &d))
            .ok_or_else(ApiError::no_route),
        Route::OpenApiV3Root => Ok(value_response(200, &discovery::openapi_root(&defs))),
        Route::OpenApiV3 { group, version } => discovery::openapi_doc(&defs, &group, &version)
            .map(|d| value_response(200, &d))
            .ok_or_else(ApiError::no_route),
        Route::NotFound => Err(ApiError::no_route()),
        Route::Resource(p) => {
            let ctx = RequestCtx::new(cluster, identity, method, p, query, headers)?;
            ctx.serve(body)
        }
    }
}

/// What kind of reply the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Object,
    Table(IncludeObject),
}

/// One validated resource request.
struct RequestCtx<'a> {
    cluster: &'a Arc<Cluster>,
    def: Arc<ResourceDef>,
    gr: GroupResource,
    method: &'a Method,
    path: ResourcePath,
    query: &'a Query,
    headers: &'a HeaderMap,
    format: Format,
    dry_run: bool,
    /// `apiVersion` of the addressed group-version, for managedFields entries.
    api_version: String,
}

fn verb_of(method: &Method, path: &ResourcePath, query: &Query) -> &'static str {
    match (method.as_str(), path.name.is_some()) {
        ("GET", true) if path.watch_prefix || query.flag("watch") => "watch",
        ("GET", true) => "get",
        ("GET", false) if path.watch_prefix || query.flag("watch") => "watch",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "unknown",
    }
}

impl<'a> RequestCtx<'a> {
    fn new(
        cluster: &'a Arc<Cluster>,
        identity: &'a Identity,
        method: &'a Method,
        path: ResourcePath,
        query: &'a Query,
        headers: &'a HeaderMap,
    ) -> ApiResult<Self> {
        let def = cluster
            .resources
            .find(&path.group, &path.version, &path.resource)
            .ok_or_else(ApiError::no_route)?;
        if path.namespace.is_some() && !def.namespaced {
            return Err(ApiError::no_route());
        }
        match path.subresource.as_deref() {
            None => {}
            Some("status") if def.status_subresource => {}
            Some("scale") if def.scale.is_some() => {}
            Some("log" | "exec") if def.kind == "Pod" && def.is_builtin() => {}
            Some(_) => return Err(ApiError::no_route()),
        }
        if let Identity::Restricted { user, namespaces } = identity {
            let verb = verb_of(method, &path, query);
            let allowed = path.namespace.as_ref().is_some_and(|ns| namespaces.contains(ns));
            if !allowed {
                return Err(ApiError::forbidden(
                    user,
                    verb,
                    &path.group,
                    &path.resource,
                    path.namespace.as_deref(),
                ));
            }
        }
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let format = if accept.split(',').any(|a| a.contains("as=Table")) {
            Format::Table(IncludeObject::parse(query.get("includeObject")))
        } else {
            Format::Object
        };
        let dry_run = match query.get("dryRun") {
            None => false,
            Some("All") => true,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "unsupported dry run directive {other:?}; only All is supported"
                )));
            }
        };
        let def_api_version = def.api_version();
        Ok(Self {
            cluster,
            gr: def.group_resource(),
            def,
            method,
            path,
            query,
            headers,
            format,
            dry_run,
            api_version: def_api_version,
        })
    }

    fn serve(self, body: Bytes) -> ApiResult<Response<Body>> {
        match (self.path.subresource.as_deref(), self.method.as_str()) {
            (Some("log"), "GET") => return self.logs(),
            (Some("exec"), _) => {
                return Err(ApiError::bad_request(
                    "exec needs a WebSocket upgrade (Upgrade: websocket with a v4/v5.channel.k8s.io subprotocol)",
                ));
            }
            (Some("log"), _) => return Err(ApiError::method_not_allowed("pods/log only supports GET")),
            _ => {}
        }
        match verb_of(self.method, &self.path, self.query) {
            "get" => self.get(),
            "list" => self.list(),
            "watch" => self.watch(),
            "create" if self.path.name.is_none() => self.create(&body),
            "update" => self.update(&body),
            "patch" => self.patch_retrying(&body),
            "delete" => self.delete(&body),
            "deletecollection" => self.delete_collection(&body),
            _ => Err(ApiError::method_not_allowed(format!(
                "the server does not allow this method on the requested resource ({} {})",
                self.method, self.path.resource
            ))),
        }
    }

    fn ns(&self) -> &str {
        self.path.namespace.as_deref().unwrap_or_default()
    }

    fn name(&self) -> &str {
        self.path.name.as_deref().unwrap_or_default()
    }

    fn not_found(&self) -> ApiError {
        ApiError::not_found(&self.def.group, &self.def.resource, self.name())
    }

    fn current(&self) -> ApiResult<Arc<Stored>> {
        self.cluster
            .store
            .get(&self.gr, self.ns(), self.name())
            .ok_or_else(|| self.not_found())
    }

    fn respond_object(&self, code: u16, obj: &Stored) -> Response<Body> {
        match (self.format, self.path.subresource.as_deref()) {
            (_, Some("scale")) => value_response(code, &self.scale_of(&obj.value())),
            (Format::Table(include), _) => {
                let now = jiff::Timestamp::now().as_second();
                let row = table::row(&self.def, &obj.value(), include, now);
                value_response(code, &table::table(&self.def, vec![row], &obj.rv.to_string(), None))
            }
            (Format::Object, _) => json_response(code, self.cluster.present(&self.def, obj)),
        }
    }

    /// A value that is not (yet) stored, e.g. a dry-run result.
    fn respond_value(&self, code: u16, v: Value) -> Response<Body> {
        let rv = v
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        self.respond_object(code, &Stored::new(&v, rv))
    }

    fn get(&self) -> ApiResult<Response<Body>> {
        Ok(self.respond_object(200, &*self.current()?))
    }

    /// `pods/log`: a plain-text stream of the container's log.
    fn logs(&self) -> ApiResult<Response<Body>> {
        let pod = self.current()?;
        let opts = logs::Options::parse(self.query)?;
        let instance = logs::resolve(self.cluster, &pod.parse(), &opts)?;
        let stream = logs::stream(self.cluster, instance, opts);
        let body = StreamBody::new(stream.map(|b| Ok::<_, Infallible>(Frame::data(b))));
        Ok(Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/plain")
            .body(body.boxed_unsync())
            .expect("static response parts are valid"))
    }

    fn filter(&self) -> ApiResult<Filter> {
        let labels = LabelSelector::parse(self.query.get("labelSelector").unwrap_or_default())
            .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
        let fields = FieldSelector::parse(self.query.get("fieldSelector").unwrap_or_default())
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        if let Some(bad) = fields.fields().find(|f| !self.def.supports_field(f)) {
            return Err(ApiError::bad_request(format!("field label not supported: {bad}")));
        }
        Ok(Filter {
            namespace: self.path.namespace.clone(),
            labels,
            fields,
        })
    }

    fn list(&self) -> ApiResult<Response<Body>> {
        let filter = self.filter()?;
        let limit = match self.query.get("limit") {
            None => None,
            Some(l) => match l.parse::<i64>() {
                Ok(n) if n > 0 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
                Ok(_) => None,
                Err(_) => return Err(ApiError::bad_request(format!("invalid limit {l:?}"))),
            },
        };
        let after = self.query.get("continue").map(decode_continue).transpose()?;
        let (objects, more, rv) =
            self.cluster
                .store
                .list(&self.gr, filter.namespace.as_deref(), after.as_ref(), limit, |o| {
                    filter.matches(o)
                });
        let next = if more {
            objects.last().map(|o| encode_continue(rv, o.namespace(), o.name()))
        } else {
            None
        };
        let rv_s = rv.to_string();
        if let Format::Table(include) = self.format {
            let now = jiff::Timestamp::now().as_second();
            let rows = objects
                .iter()
                .map(|o| table::row(&self.def, &o.value(), include, now))
                .collect();
            return Ok(value_response(
                200,
                &table::table(&self.def, rows, &rv_s, next.as_deref()),
            ));
        }
        // NB: items are spliced in as their stored bytes, so a list serialises nothing twice.
        let mut meta = json!({"resourceVersion": rv_s});
        if let Some(c) = &next {
            meta["continue"] = json!(c);
        }
        let mut out = Vec::with_capacity(128 + objects.iter().map(|o| o.json.len() + 1).sum::<usize>());
        out.extend_from_slice(
            format!(
                "{{\"kind\":\"{}List\",\"apiVersion\":\"{}\",\"metadata\":{meta},\"items\":[",
                self.def.kind,
                self.def.api_version()
            )
            .as_bytes(),
        );
        for (i, o) in objects.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&self.cluster.present(&self.def, o));
        }
        out.extend_from_slice(b"]}");
        Ok(json_response(200, out))
    }

    fn watch(&self) -> ApiResult<Response<Body>> {
        let mut filter = self.filter()?;
        if let Some(name) = &self.path.name {
            filter.fields = FieldSelector::parse(&format!("metadata.name={name}"))
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
        }
        let start = match self.query.get("resourceVersion") {
            None | Some("0") => Start::CurrentState {
                initial_events_end_bookmark: self.query.flag("sendInitialEvents"),
            },
            Some(rv) => {
                let n = rv
                    .parse::<u64>()
                    .map_err(|_| ApiError::bad_request(format!("invalid resource version {rv:?}")))?;
                if self.query.flag("sendInitialEvents") {
                    Start::CurrentState {
                        initial_events_end_bookmark: true,
                    }
                } else {
                    Start::After(n)
                }
            }
        };
        let timeout = match self.query.get("timeoutSeconds") {
            Some(t) => Duration::from_secs(
                t.parse()
                    .map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds {t:?}")))?,
            ),
            None => watch::DEFAULT_TIMEOUT,
        };
        let stream = watch::stream(WatchRequest {
            cluster: self.cluster.clone(),
            def: self.def.clone(),
            filter,
            start,
            bookmarks: self.query.flag("allowWatchBookmarks"),
            timeout,
            table: match self.format {
                Format::Table(i) => Some(i),
                Format::Object => None,
            },
        });
        let body = StreamBody::new(stream.map(|b| Ok::<_, Infallible>(Frame::data(b))));
        let content_type = match self.format {
            Format::Table(_) => "application/json;as=Table;v=v1;g=meta.k8s.io",
            Format::Object => "application/json",
        };
        Ok(Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, content_type)
            .header(header::CACHE_CONTROL, "no-cache, private")
            .body(body.boxed_unsync())
            .expect("static response parts are valid"))
    }

    fn parse_body(&self, body: &[u8]) -> ApiResult<Value> {
        let v = decode_body(self.content_type(), body)?;
        if !v.is_object() {
            return Err(ApiError::bad_request("the request body must be an object"));
        }
        Ok(v)
    }

    fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
    }

    fn field_manager(&self) -> ApiResult<String> {
        if let Some(m) = self.query.get("fieldManager") {
            if m.len() > 128 || m.chars().any(char::is_control) {
                return Err(ApiError::invalid(
                    "",
                    "",
                    "",
                    &[(
                        "fieldManager".into(),
                        "Invalid value: must be at most 128 printable characters".into(),
                    )],
                ));
            }
            return Ok(m.to_string());
        }
        let ua = self
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("unknown");
        Ok(ua.split('/').next().unwrap_or("unknown").chars().take(128).collect())
    }

    /// Check `apiVersion`, `kind`, name and namespace of a request body against the URL,
    /// then convert it to the storage shape.
    fn check_identity(&self, obj: &mut Value) -> ApiResult<()> {
        let expected_av = if self.path.subresource.as_deref() == Some("scale") {
            "autoscaling/v1".to_string()
        } else {
            self.def.api_version()
        };
        let expected_kind = if self.path.subresource.as_deref() == Some("scale") {
            "Scale"
        } else {
            self.def.kind.as_str()
        };
        match obj.get("apiVersion").and_then(Value::as_str) {
            None => obj["apiVersion"] = json!(expected_av),
            Some(av) if av == expected_av => {}
            Some(av) => {
                // A CRD object may be written through any served version of its resource.
                let other_version = av.rsplit_once('/').is_some_and(|(g, v)| {
                    g == self.def.group && self.cluster.resources.find(g, v, &self.def.resource).is_some()
                });
                if !other_version {
                    return Err(ApiError::bad_request(format!(
                        "the API version in the data ({av}) does not match the expected API version ({expected_av})"
                    )));
                }
                obj["apiVersion"] = json!(expected_av);
            }
        }
        match obj.get("kind").and_then(Value::as_str) {
            None => obj["kind"] = json!(expected_kind),
            Some(k) if k == expected_kind => {}
            Some(k) => {
                return Err(ApiError::bad_request(format!(
                    "the kind in the data ({k}) does not match the expected kind ({expected_kind})"
                )));
            }
        }
        if !obj.get("metadata").is_some_and(Value::is_object) {
            if obj.get("metadata").is_some_and(|m| !m.is_null()) {
                return Err(ApiError::bad_request("metadata must be an object"));
            }
            obj["metadata"] = json!({});
        }
        match (
            obj.pointer("/metadata/namespace").and_then(Value::as_str),
            self.path.namespace.as_deref(),
        ) {
            (Some(body_ns), Some(url_ns)) if !body_ns.is_empty() && body_ns != url_ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            (_, Some(url_ns)) => obj["metadata"]["namespace"] = json!(url_ns),
            (_, None) => {
                if let Some(m) = obj["metadata"].as_object_mut() {
                    m.remove("namespace");
                }
            }
        }
        if let Some(url_name) = &self.path.name {
            match obj.pointer("/metadata/name").and_then(Value::as_str) {
                Some(n) if n != url_name => {
                    return Err(ApiError::bad_request(format!(
                        "the name of the object ({n}) does not match the name on the URL ({url_name})"
                    )));
                }
                _ => obj["metadata"]["name"] = json!(url_name),
            }
        }
        // Store what is written in the storage shape (a no-op for most resources).
        *obj = self.def.conversion.to_storage(std::mem::take(obj));
        Ok(())
    }

    fn require_namespace(&self) -> ApiResult<()> {
        if !self.def.namespaced {
            return Ok(());
        }
        let ns = self
            .path
            .namespace
            .as_deref()
            .ok_or_else(|| ApiError::bad_request("a namespace is required to create a namespaced object"))?;
        match self.cluster.namespace_state(ns) {
            None => Err(ApiError::not_found("", "namespaces", ns)),
            Some(true) => Err(ApiError::new(
                403,
                "Forbidden",
                format!(
                    "{} \"{}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                    self.def.resource,
                    self.name()
                ),
            )),
            Some(false) => Ok(()),
        }
    }

    fn write_ctx<'b>(&'b self, manager: &'b str, now: &'b str) -> WriteCtx<'b> {
        let status_part = self.path.subresource.as_deref() == Some("status");
        WriteCtx {
            manager,
            api_version: if self.path.subresource.as_deref() == Some("scale") {
                "autoscaling/v1"
            } else {
                &self.api_version
            },
            subresource: self.path.subresource.as_deref(),
            builtin: self.def.is_builtin(),
            part: if status_part {
                Part::Status
            } else {
                Part::Main {
                    include_status: !self.def.status_subresource,
                }
            },
            now,
        }
    }

    /// Fill in what the server owns on a new object.
    fn prepare_new(&self, obj: &mut Value, now: &str) -> ApiResult<()> {
        let meta = obj["metadata"].as_object_mut().expect("checked to be an object");
        for k in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "managedFields",
            "selfLink",
        ] {
            meta.remove(k);
        }
        meta.insert("uid".into(), json!(new_uid()));
        meta.insert("creationTimestamp".into(), json!(now));
        if objects::has_generation(&self.def) {
            meta.insert("generation".into(), json!(1));
        }
        // NB: status is the controllers' to write; a create cannot set it (kinds whose
        // initial status the server itself fills in are defaulted below).
        if self.def.status_subresource
            && let Some(m) = obj.as_object_mut()
        {
            m.remove("status");
        }
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        objects::apply_defaults(&self.def, obj, &**self.cluster).map_err(|(field, message)| {
            ApiError::invalid(&self.def.kind, &self.def.group, &name, &[(field, message)])
        })?;
        if self.def.kind == "CustomResourceDefinition" {
            crd_status(obj);
        }
        Ok(())
    }

    fn generate_name(obj: &mut Value) {
        if obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
            && let Some(prefix) = obj
                .pointer("/metadata/generateName")
                .and_then(Value::as_str)
                .map(String::from)
        {
            // The alphabet apiserver uses (no vowels, no confusable characters).
            const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
            let suffix: String = (0..5)
                .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
                .collect();
            obj["metadata"]["name"] = json!(format!("{prefix}{suffix}"));
        }
    }

    fn create(&self, body: &[u8]) -> ApiResult<Response<Body>> {
        if self.path.subresource.is_some() {
            return Err(ApiError::method_not_allowed(
                "create is not supported on this subresource",
            ));
        }
        let mut obj = self.parse_body(body)?;
        self.check_identity(&mut obj)?;
        Self::generate_name(&mut obj);
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        objects::validate(&self.def, &obj)?;
        self.require_namespace()?;
        let now = now_rfc3339();
        self.prepare_new(&mut obj, &now)?;
        let crd_defs = self.crd_defs(&obj)?;
        let manager = self.field_manager()?;
        apply::track_update(None, &mut obj, &self.write_ctx(&manager, &now));
        if self.dry_run {
            if self.cluster.store.get(&self.gr, self.ns(), &name).is_some() {
                return Err(ApiError::already_exists(&self.def.group, &self.def.resource, &name));
            }
            return Ok(self.respond_value(201, obj));
        }
        let stored = self.cluster.store.transact(|t| {
            if t.get(&self.gr, self.ns(), &name).is_some() {
                return Err(ApiError::already_exists(&self.def.group, &self.def.resource, &name));
            }
            Ok(t.put(&self.gr, obj))
        })?;
        self.after_crd_write(&stored, crd_defs);
        Ok(self.respond_object(201, &stored))
    }

    /// For CRD writes: validate and derive the resources it defines (before storing).
    fn crd_defs(&self, obj: &Value) -> ApiResult<Option<Vec<Arc<ResourceDef>>>> {
        if self.def.kind == "CustomResourceDefinition" && self.def.group == "apiextensions.k8s.io" {
            return resources::defs_from_crd(obj).map(Some);
        }
        Ok(None)
    }

    /// A CRD's resources are served once it is Established. A new CRD becomes Established
    /// a moment after it is created (kube-apiserver's apiextensions controllers run
    /// asynchronously): until then its custom objects are refused with 404, as a real
    /// server refuses them, so a client must wait for the condition (muster's apply does).
    fn after_crd_write(&self, stored: &Arc<Stored>, defs: Option<Vec<Arc<ResourceDef>>>) {
        let Some(defs) = defs else { return };
        let value = stored.value();
        let Ok(gr) = resources::crd_group_resource(&value) else {
            return;
        };
        if crd_established(&value) || self.dry_run {
            if !self.dry_run {
                self.cluster.resources.set_crd(&gr, defs);
            }
            return;
        }
        let cluster = self.cluster.clone();
        let name = stored.name().to_string();
        // NB: seeded, 50-150 ms: long enough that a client sending the CRD and its objects
        // in one breath sees the objects refused, as on a real cluster.
        let delay =
            std::time::Duration::from_millis(50 + fastrand::Rng::with_seed(cluster.seed ^ fnv(&name)).u64(0..100));
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let crds = crate::cluster::gr("apiextensions.k8s.io", "customresourcedefinitions");
            let established = cluster.store.transact(|t| {
                let Some(cur) = t.get(&crds, "", &name) else {
                    return false;
                };
                let mut v = cur.value();
                if let Some(conds) = v.pointer_mut("/status/conditions").and_then(Value::as_array_mut) {
                    for c in conds.iter_mut().filter(|c| c["type"] == "Established") {
                        c["status"] = json!("True");
                        c["reason"] = json!("InitialNamesAccepted");
                        c["message"] = json!("the initial names have been accepted");
                        c["lastTransitionTime"] = json!(now_rfc3339());
                    }
                }
                t.put(&crds, v);
                true
            });
            if established {
                cluster.resources.set_crd(&gr, defs);
            }
        });
    }

    fn update(&self, body: &[u8]) -> ApiResult<Response<Body>> {
        let mut obj = self.parse_body(body)?;
        if self.path.subresource.as_deref() == Some("scale") {
            return self.write_scale(|_| Ok(obj));
        }
        self.check_identity(&mut obj)?;
        let current = self.current()?.parse();
        if let Some(rv) = obj.pointer("/metadata/resourceVersion").and_then(Value::as_str)
            && !rv.is_empty()
            && rv != current.rv.to_string()
        {
            return Err(ApiError::conflict(
                &self.def.group,
                &self.def.resource,
                self.name(),
                "the object has been modified; please apply your changes to the latest version and try again",
            ));
        }
        let manager = self.field_manager()?;
        self.commit(&current, obj, &manager, Some(current.rv))
    }

    /// A patch (or apply) runs as kube-apiserver's `GuaranteedUpdate` does: read, patch,
    /// write if nothing changed meanwhile, else read again and retry, so a controller
    /// writing status concurrently never fails a client's patch. A precondition the client
    /// set (`metadata.resourceVersion` in the patch) fails at once.
    fn patch_retrying(&self, body: &[u8]) -> ApiResult<Response<Body>> {
        const TRIES: usize = 8;
        let mut tried = 0;
        loop {
            tried += 1;
            match self.patch(body) {
                Err(e) if e.lost_race && tried < TRIES => {}
                other => return other,
            }
        }
    }

    fn patch(&self, body: &[u8]) -> ApiResult<Response<Body>> {
        let ct = self
            .content_type()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        if self.path.subresource.as_deref() == Some("scale") {
            let p = self.parse_patch_body(&ct, body)?;
            return self.write_scale(|scale| {
                let mut scale = scale;
                self.apply_patch_doc(&ct, &mut scale, &p)?;
                Ok(scale)
            });
        }
        if ct == "application/apply-patch+yaml" || ct == "application/apply-patch+json" {
            return self.server_side_apply(body);
        }
        let p = self.parse_patch_body(&ct, body)?;
        let current = self.current()?.parse();
        // A patch is written against the served shape of the object.
        let mut obj = self.def.conversion.to_served(current.value.clone());
        self.apply_patch_doc(&ct, &mut obj, &p)?;
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the patch produced a value that is not an object",
            ));
        }
        self.check_identity(&mut obj)?;
        // A patch that sets resourceVersion asks for optimistic concurrency.
        let precondition = p.pointer("/metadata/resourceVersion").and_then(Value::as_str);
        if let Some(rv) = precondition
            && rv != current.rv.to_string()
        {
            return Err(ApiError::conflict(
                &self.def.group,
                &self.def.resource,
                self.name(),
                "the object has been modified; please apply your changes to the latest version and try again",
            ));
        }
        let manager = self.field_manager()?;
        self.commit(&current, obj, &manager, Some(current.rv))
    }

    fn parse_patch_body(&self, ct: &str, body: &[u8]) -> ApiResult<Value> {
        match ct {
            "application/json-patch+json"
            | "application/merge-patch+json"
            | "application/strategic-merge-patch+json" => serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("the patch is not valid JSON: {e}"))),
            other => Err(ApiError::unsupported_media_type(other)),
        }
    }

    fn apply_patch_doc(&self, ct: &str, target: &mut Value, p: &Value) -> ApiResult<()> {
        match ct {
            "application/json-patch+json" => patch::json_patch(target, p),
            "application/merge-patch+json" => patch::merge_patch(target, p),
            "application/strategic-merge-patch+json" => {
                if !self.def.is_builtin() {
                    return Err(ApiError::new(
                        415,
                        "UnsupportedMediaType",
                        "strategic merge patch is not supported for custom resources; use a JSON merge patch or server-side apply",
                    ));
                }
                patch::strategic_merge_patch(target, p)
            }
            other => Err(ApiError::unsupported_media_type(other)),
        }
    }

    fn server_side_apply(&self, body: &[u8]) -> ApiResult<Response<Body>> {
        let manager = self.query.get("fieldManager").ok_or_else(|| {
            ApiError::invalid(
                &self.def.kind,
                &self.def.group,
                self.name(),
                &[(
                    "fieldManager".into(),
                    "Required value: is required for apply patch".into(),
                )],
            )
        })?;
        let manager = self.field_manager().map(|_| manager.to_string())?;
        let mut applied: Value =
            crate::yaml::parse_slice(body).map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
        if !applied.is_object() {
            return Err(ApiError::bad_request("the apply configuration must be an object"));
        }
        if applied.get("apiVersion").is_none() || applied.get("kind").is_none() {
            return Err(ApiError::bad_request(
                "apiVersion and kind must be set in an apply configuration",
            ));
        }
        self.check_identity(&mut applied)?;
        let force = self.query.flag("force");
        let now = now_rfc3339();
        let ctx = self.write_ctx(&manager, &now);
        match self.cluster.store.get(&self.gr, self.ns(), self.name()) {
            None => {
                if self.path.subresource.is_some() {
                    return Err(self.not_found());
                }
                let mut obj = apply::apply(None, &applied, force, &ctx)?;
                objects::validate(&self.def, &obj)?;
                self.require_namespace()?;
                let managed = obj.pointer("/metadata/managedFields").cloned();
                self.prepare_new(&mut obj, &now)?;
                if let Some(m) = managed {
                    obj["metadata"]["managedFields"] = m;
                }
                let crd_defs = self.crd_defs(&obj)?;
                if self.dry_run {
                    return Ok(self.respond_value(201, obj));
                }
                let name = self.name().to_string();
                let stored = self.cluster.store.transact(|t| {
                    if t.get(&self.gr, self.ns(), &name).is_some() {
                        let mut e = ApiError::conflict(
                            &self.def.group,
                            &self.def.resource,
                            &name,
                            "the object was created concurrently; retry the apply",
                        );
                        e.lost_race = true;
                        return Err(e);
                    }
                    Ok(t.put(&self.gr, obj))
                })?;
                self.after_crd_write(&stored, crd_defs);
                Ok(self.respond_object(201, &stored))
            }
            Some(current) => {
                let current = current.parse();
                let obj = apply::apply(Some(&current.value), &applied, force, &ctx)?;
                self.commit_tracked(&current, obj, Some(current.rv))
            }
        }
    }

    /// Finish an update or non-apply patch: keep what the client may not change, record
    /// field ownership, validate, and store.
    fn commit(&self, current: &Object, new: Value, manager: &str, expect_rv: Option<u64>) -> ApiResult<Response<Body>> {
        let now = now_rfc3339();
        let mut new = new;
        self.preserve_server_fields(&current.value, &mut new);
        apply::track_update(Some(&current.value), &mut new, &self.write_ctx(manager, &now));
        self.commit_tracked(current, new, expect_rv)
    }

    fn preserve_server_fields(&self, old: &Value, new: &mut Value) {
        match self.path.subresource.as_deref() {
            Some("status") => {
                // Only status may change through /status.
                let status = new.get("status").cloned();
                *new = old.clone();
                match status {
                    Some(s) => new["status"] = s,
                    None => {
                        if let Some(m) = new.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
            }
            _ => {
                if self.def.status_subresource {
                    match old.get("status") {
                        Some(s) => new["status"] = s.clone(),
                        None => {
                            if let Some(m) = new.as_object_mut() {
                                m.remove("status");
                            }
                        }
                    }
                }
            }
        }
        for k in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "managedFields",
        ] {
            match old.pointer(&format!("/metadata/{k}")) {
                Some(v) => new["metadata"][k] = v.clone(),
                None => {
                    if let Some(m) = new["metadata"].as_object_mut() {
                        m.remove(k);
                    }
                }
            }
        }
    }

    fn commit_tracked(&self, current: &Object, mut new: Value, expect_rv: Option<u64>) -> ApiResult<Response<Body>> {
        // Generation counts spec changes: anything outside metadata and status.
        if objects::has_generation(&self.def) {
            let strip = |v: &Value| {
                let mut v = v.clone();
                if let Some(m) = v.as_object_mut() {
                    m.remove("metadata");
                    m.remove("status");
                }
                v
            };
            let generation = current
                .value
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let bumped = if strip(&current.value) == strip(&new) {
                generation
            } else {
                generation + 1
            };
            new["metadata"]["generation"] = json!(bumped);
        }
        if self.path.subresource.is_none() {
            objects::validate(&self.def, &new)?;
        }
        let crd_defs = self.crd_defs(&new)?;
        if let Some(m) = new["metadata"].as_object_mut() {
            m.insert("resourceVersion".into(), json!(current.rv.to_string()));
        }
        if self.dry_run {
            return Ok(self.respond_value(200, new));
        }
        if new == current.value {
            return Ok(self.respond_object(200, current));
        }
        let finalized = new.pointer("/metadata/deletionTimestamp").is_some()
            && new
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty);
        let name = self.name().to_string();
        let stored = self.cluster.store.transact(|t| {
            let now_rv = t.get(&self.gr, self.ns(), &name).map(|o| o.rv);
            match now_rv {
                None => return Err(self.not_found()),
                Some(rv) if expect_rv.is_some_and(|e| e != rv) => {
                    let mut e = ApiError::conflict(
                        &self.def.group,
                        &self.def.resource,
                        &name,
                        "the object has been modified; please apply your changes to the latest version and try again",
                    );
                    e.lost_race = true;
                    return Err(e);
                }
                Some(_) => {}
            }
            let stored = t.put(&self.gr, new);
            if finalized {
                // The last finalizer is gone from an object being deleted: it goes now.
                let removed = t.remove(&self.gr, self.ns(), &name);
                collect_garbage(t, stored.uid(), Propagation::Background);
                return Ok(removed.unwrap_or(stored));
            }
            Ok(stored)
        })?;
        if finalized && self.def.kind == "CustomResourceDefinition" {
            self.remove_crd(&stored.value());
        } else {
            self.after_crd_write(&stored, crd_defs);
        }
        Ok(self.respond_object(200, &stored))
    }

    /// The `autoscaling/v1` Scale view of an object.
    fn scale_of(&self, obj: &Value) -> Value {
        let spec = self
            .def
            .scale
            .as_ref()
            .expect("scale requests are only routed for scalable kinds");
        let selector = if spec.selector_from_spec {
            table::selector_string(obj.pointer("/spec/selector"))
        } else {
            spec.label_selector
                .as_ref()
                .and_then(|p| obj.pointer(p))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        json!({
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                "name": obj.pointer("/metadata/name"),
                "namespace": obj.pointer("/metadata/namespace"),
                "uid": obj.pointer("/metadata/uid"),
                "resourceVersion": obj.pointer("/metadata/resourceVersion"),
                "creationTimestamp": obj.pointer("/metadata/creationTimestamp"),
            },
            "spec": {"replicas": obj.pointer(&spec.spec_replicas).and_then(Value::as_i64).unwrap_or(0)},
            "status": {"replicas": obj.pointer(&spec.status_replicas).and_then(Value::as_i64).unwrap_or(0), "selector": selector},
        })
    }

    fn write_scale(&self, edit: impl FnOnce(Value) -> ApiResult<Value>) -> ApiResult<Response<Body>> {
        let current = self.current()?.parse();
        let mut scale = edit(self.scale_of(&current.value))?;
        self.check_identity(&mut scale)?;
        if let Some(rv) = scale.pointer("/metadata/resourceVersion").and_then(Value::as_str)
            && rv != current.rv.to_string()
        {
            return Err(ApiError::conflict(
                &self.def.group,
                &self.def.resource,
                self.name(),
                "the object has been modified; please apply your changes to the latest version and try again",
            ));
        }
        let replicas = scale
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .filter(|r| *r >= 0)
            .ok_or_else(|| {
                ApiError::invalid(
                    "Scale",
                    "autoscaling",
                    self.name(),
                    &[(
                        "spec.replicas".into(),
                        "Invalid value: must be greater than or equal to 0".into(),
                    )],
                )
            })?;
        let spec = self
            .def
            .scale
            .as_ref()
            .expect("scale requests are only routed for scalable kinds");
        let mut new = current.value.clone();
        set_pointer(&mut new, &spec.spec_replicas, json!(replicas));
        let manager = self.field_manager()?;
        let now = now_rfc3339();
        let ctx = WriteCtx {
            part: Part::Main {
                include_status: !self.def.status_subresource,
            },
            ..self.write_ctx(&manager, &now)
        };
        apply::track_update(Some(&current.value), &mut new, &ctx);
        self.commit_tracked(&current, new, Some(current.rv))
    }

    fn delete_options(&self, body: &[u8]) -> ApiResult<(Propagation, Option<Value>)> {
        let opts: Value = if body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            decode_body(self.content_type(), body)?
        };
        let policy = opts
            .get("propagationPolicy")
            .and_then(Value::as_str)
            .or_else(|| self.query.get("propagationPolicy"))
            .map(str::to_string)
            .or_else(|| {
                opts.get("orphanDependents")
                    .and_then(Value::as_bool)
                    .and_then(|o| o.then(|| "Orphan".to_string()))
            });
        let policy = match policy.as_deref() {
            None | Some("Background") => Propagation::Background,
            Some("Foreground") => Propagation::Foreground,
            Some("Orphan") => Propagation::Orphan,
            Some(other) => {
                return Err(ApiError::invalid(
                    "DeleteOptions",
                    "",
                    "",
                    &[(
                        "propagationPolicy".into(),
                        format!(
                            "Unsupported value: {other:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""
                        ),
                    )],
                ));
            }
        };
        if opts
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|d| d.iter().any(|x| x != "All"))
        {
            return Err(ApiError::bad_request(
                "unsupported dry run directive; only All is supported",
            ));
        }
        Ok((policy, opts.get("preconditions").cloned()))
    }

    fn delete(&self, body: &[u8]) -> ApiResult<Response<Body>> {
        if self.path.subresource.is_some() {
            return Err(ApiError::method_not_allowed("delete is not supported on subresources"));
        }
        let (policy, preconditions) = self.delete_options(body)?;
        let dry_run = self.dry_run || body_dry_run(body);
        let name = self.name().to_string();
        let outcome = self.cluster.store.transact(|t| -> ApiResult<Deleted> {
            let current = t.get(&self.gr, self.ns(), &name).ok_or_else(|| self.not_found())?;
            if let Some(pre) = &preconditions {
                let uid_ok = pre
                    .get("uid")
                    .and_then(Value::as_str)
                    .is_none_or(|u| current.uid() == u);
                let rv_ok = pre
                    .get("resourceVersion")
                    .and_then(Value::as_str)
                    .is_none_or(|rv| rv == current.rv.to_string());
                if !uid_ok || !rv_ok {
                    return Err(ApiError::conflict(
                        &self.def.group,
                        &self.def.resource,
                        &name,
                        "Precondition failed: the UID or resourceVersion in the precondition does not match",
                    ));
                }
            }
            if dry_run {
                return Ok(Deleted::Kept(current));
            }
            Ok(delete_object(t, &self.gr, &current, policy))
        })?;
        match outcome {
            Deleted::Kept(obj) => {
                if !dry_run && self.def.kind == "CustomResourceDefinition" && !obj.is_terminating() {
                    self.remove_crd(&obj.value());
                }
                Ok(self.respond_object(200, &obj))
            }
            Deleted::Gone(obj) => {
                if self.def.kind == "CustomResourceDefinition" {
                    self.remove_crd(&obj.value());
                }
                if self.def.kind == "Namespace" || self.def.kind == "Pod" {
                    return Ok(self.respond_object(200, &obj));
                }
                Ok(value_response(
                    200,
                    &json!({
                        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                        "details": {"name": name, "group": self.def.group, "kind": self.def.resource,
                            "uid": obj.uid()},
                    }),
                ))
            }
        }
    }

    fn delete_collection(&self, body: &[u8]) -> ApiResult<Response<Body>> {
        if self.path.subresource.is_some() {
            return Err(ApiError::method_not_allowed(
                "deletecollection is not supported on subresources",
            ));
        }
        let filter = self.filter()?;
        let (policy, _) = self.delete_options(body)?;
        let dry_run = self.dry_run || body_dry_run(body);
        let (objects, _, _) = self
            .cluster
            .store
            .list(&self.gr, filter.namespace.as_deref(), None, None, |o| filter.matches(o));
        let mut deleted = Vec::new();
        if dry_run {
            deleted = objects;
        } else {
            self.cluster.store.transact(|t| {
                for o in &objects {
                    if let Some(cur) = t.get(&self.gr, o.namespace(), o.name()) {
                        match delete_object(t, &self.gr, &cur, policy) {
                            Deleted::Kept(k) | Deleted::Gone(k) => deleted.push(k),
                        }
                    }
                }
            });
            if self.def.kind == "CustomResourceDefinition" {
                for d in &deleted {
                    self.remove_crd(&d.value());
                }
            }
        }
        let items: Vec<Value> = deleted.iter().map(|o| o.value()).collect();
        Ok(value_response(
            200,
            &json!({
                "kind": format!("{}List", self.def.kind),
                "apiVersion": self.def.api_version(),
                "metadata": {"resourceVersion": self.cluster.store.resource_version().to_string()},
                "items": items,
            }),
        ))
    }

    /// Stop serving a deleted CRD's resources and drop its objects.
    fn remove_crd(&self, crd: &Value) {
        let Ok(gr) = resources::crd_group_resource(crd) else {
            return;
        };
        self.cluster.resources.remove_crd(&gr);
        let (objects, _, _) = self.cluster.store.list(&gr, None, None, None, |_| true);
        self.cluster.store.transact(|t| {
            for o in objects {
                t.remove(&gr, o.namespace(), o.name());
            }
        });
    }
}

/// Decode a request body by its content type: JSON, YAML or Kubernetes protobuf.
fn decode_body(content_type: &str, body: &[u8]) -> ApiResult<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    if content_type.contains("protobuf") {
        return protobuf::decode(body)
            .map_err(|e| ApiError::bad_request(format!("the protobuf request body could not be decoded: {e}")));
    }
    // NB: CBOR is not spoken. Answering 415 is what an apiserver without it does, and
    // client-go then falls back to JSON for the rest of its requests.
    if content_type.contains("cbor") {
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got {content_type:?})"
            ),
        ));
    }
    if content_type.contains("yaml") {
        return crate::yaml::parse_slice(body)
            .map_err(|e| ApiError::bad_request(format!("the request body is not valid YAML: {e}")));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))
}

fn body_dry_run(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            v.get("dryRun")
                .and_then(Value::as_array)
                .map(|d| d.iter().any(|x| x == "All"))
        })
        .unwrap_or(false)
}

fn set_pointer(obj: &mut Value, pointer: &str, value: Value) {
    let mut cur = obj;
    let parts: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect();
    for (i, p) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = json!({});
        }
        let m = cur.as_object_mut().expect("made an object");
        if i + 1 == parts.len() {
            m.insert(p.clone(), value);
            return;
        }
        cur = m.entry(p.clone()).or_insert_with(|| json!({}));
    }
}

/// Whether a CRD's `Established` condition is true.
fn crd_established(crd: &Value) -> bool {
    crd.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Established" && c["status"] == "True"))
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// CRD status as the apiextensions controller writes it once names are accepted: not yet
/// Established (that follows a moment later, see `after_crd_write`).
fn crd_status(obj: &mut Value) {
    let now = now_rfc3339();
    let storage: Vec<Value> = obj
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .filter_map(|v| v.get("name").cloned())
                .collect()
        })
        .unwrap_or_default();
    let names = obj.pointer("/spec/names").cloned().unwrap_or_else(|| json!({}));
    obj["status"] = json!({
        "acceptedNames": names,
        "storedVersions": storage,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now},
            {"type": "Established", "status": "False", "reason": "Installing", "message": "the initial names have been accepted", "lastTransitionTime": now},
        ],
    });
}

fn encode_continue(rv: u64, ns: &str, name: &str) -> String {
    let token = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": [ns, name]});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token.to_string())
}

fn decode_continue(token: &str) -> ApiResult<ObjKey> {
    let bad =
        || ApiError::bad_request("continue key is not valid: the token is malformed; restart the list without it");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let start = v.get("start").and_then(Value::as_array).ok_or_else(bad)?;
    match (
        start.first().and_then(Value::as_str),
        start.get(1).and_then(Value::as_str),
    ) {
        (Some(ns), Some(name)) => Ok((ns.to_string(), name.to_string())),
        _ => Err(bad()),
    }
}
