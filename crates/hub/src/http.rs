//! The hub's HTTP endpoint: `/healthz` (the process serves), `/readyz` (the registry is
//! loaded and, on the leader, the controllers run) and `/metrics` (Prometheus text).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::context::State;
use crate::metrics::Metrics;

fn respond(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default()
}

/// The answer to one request.
#[must_use]
pub fn answer(method: &Method, path: &str, state: &State, metrics: &Metrics) -> Response<Full<Bytes>> {
    const TEXT: &str = "text/plain; charset=utf-8";
    if method != Method::GET && method != Method::HEAD {
        return respond(StatusCode::METHOD_NOT_ALLOWED, TEXT, "GET only\n".into());
    }
    match path {
        "/healthz" | "/livez" => respond(StatusCode::OK, TEXT, "ok\n".into()),
        "/readyz" if state.ready() => respond(StatusCode::OK, TEXT, "ok\n".into()),
        "/readyz" => respond(StatusCode::SERVICE_UNAVAILABLE, TEXT, "not ready\n".into()),
        "/metrics" => respond(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics.encode(),
        ),
        _ => respond(StatusCode::NOT_FOUND, TEXT, "not found\n".into()),
    }
}

/// Bind `addr` (the address actually bound is returned; port 0 picks one).
///
/// # Errors
/// The address cannot be bound.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serve on `listener` until `stop`.
pub async fn serve(listener: TcpListener, state: Arc<State>, metrics: Arc<Metrics>, stop: CancellationToken) {
    loop {
        let (stream, _) = tokio::select! {
            () = stop.cancelled() => return,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    debug!(error = %e, "accept failed");
                    continue;
                }
            },
        };
        let (state, metrics) = (state.clone(), metrics.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let r = answer(req.method(), req.uri().path(), &state, &metrics);
                async move { Ok::<_, std::convert::Infallible>(r) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                debug!(error = %e, "metrics connection");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn readiness_follows_the_state() {
        let (state, metrics) = (State::default(), Metrics::default());
        let get = |p: &str, s: &State| answer(&Method::GET, p, s, &metrics).status();
        assert_eq!(get("/healthz", &state), StatusCode::OK);
        assert_eq!(
            get("/readyz", &state),
            StatusCode::SERVICE_UNAVAILABLE,
            "registry not loaded"
        );
        state.registry_loaded.store(true, Ordering::Relaxed);
        assert_eq!(get("/readyz", &state), StatusCode::OK, "a standby is ready once loaded");
        state.leading.store(true, Ordering::Relaxed);
        assert_eq!(
            get("/readyz", &state),
            StatusCode::SERVICE_UNAVAILABLE,
            "a leader needs its controllers"
        );
        state.controllers_running.store(true, Ordering::Relaxed);
        assert_eq!(get("/readyz", &state), StatusCode::OK);
        assert_eq!(get("/metrics", &state), StatusCode::OK);
        assert_eq!(get("/nope", &state), StatusCode::NOT_FOUND);
        assert_eq!(
            answer(&Method::POST, "/metrics", &state, &metrics).status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }
}
