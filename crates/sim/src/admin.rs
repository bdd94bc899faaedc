//! The simulator's admin endpoint on every cluster, `/_sim/...`, with its own token:
//! `GET|PUT|PATCH /_sim/faults` reads or changes injected faults (PATCH is a JSON merge
//! patch), `GET /_sim/counters` reads request and write counters, `DELETE /_sim/counters`
//! resets them. It is not part of the Kubernetes API and no fault applies to it.

use http::{Method, Response, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use serde_json::Value;

use super::api::{Body, MAX_BODY_BYTES, error_response};
use super::cluster::Cluster;
use super::faults::Faults;
use super::status::ApiError;

/// Paths under this prefix are the admin endpoint's.
pub const PREFIX: &str = "/_sim/";

fn json(v: &impl serde::Serialize) -> Response<Body> {
    Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(serde_json::to_vec(v).expect("serialisable").into()).boxed_unsync())
        .expect("static response parts are valid")
}

/// Serve one admin request.
pub async fn handle(cluster: &Cluster, req: http::Request<Incoming>) -> Response<Body> {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if presented != Some(cluster.credentials.sim_admin.expose()) {
        return error_response(&ApiError::unauthorized());
    }
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return error_response(&ApiError::too_large()),
    };
    let bad = |m: String| error_response(&ApiError::new(422, "Invalid", m));
    match (parts.method.clone(), parts.uri.path()) {
        (Method::GET, "/_sim/faults") => json(&*cluster.faults.borrow()),
        (Method::PUT | Method::PATCH, "/_sim/faults") => {
            let patch: Value = match serde_json::from_slice(&body) {
                Ok(v) => v,
                Err(e) => {
                    return error_response(&ApiError::bad_request(format!(
                        "faults: the body is not valid JSON: {e}"
                    )));
                }
            };
            let mut merged = if parts.method == Method::PATCH {
                serde_json::to_value(&*cluster.faults.borrow()).expect("serialisable")
            } else {
                Value::Object(Default::default())
            };
            json_patch::merge(&mut merged, &patch);
            let faults: Faults = match serde_json::from_value(merged) {
                Ok(f) => f,
                Err(e) => return bad(format!("faults: {e}")),
            };
            if let Err(m) = faults.validate() {
                return bad(format!("faults.{m}"));
            }
            cluster.faults.send_replace(faults.clone());
            json(&faults)
        }
        (Method::GET, "/_sim/counters") => json(&cluster.counters.snapshot()),
        (Method::DELETE, "/_sim/counters") => {
            cluster.counters.reset();
            json(&cluster.counters.snapshot())
        }
        (_, path) => error_response(&ApiError::new(
            404,
            "NotFound",
            format!("no admin endpoint {path}; see /_sim/faults and /_sim/counters"),
        )),
    }
}
