//! The HTTPS listener of one simulated cluster: accept, TLS handshake, HTTP/1.1 keep-alive,
//! injected faults around each request, and the cluster's API (or the `/_sim/` admin
//! endpoint) as the service. Everything stops when the fleet shuts down.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Response, header};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tracing::{Instrument as _, debug, info_span, warn};

use super::api::{self, Body};
use super::cluster::Cluster;
use super::faults::Faults;
use super::{admin, request};

/// A client that connects but never finishes the TLS handshake is dropped after this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serve `cluster` on `listener` until `shutdown` turns true. While the `refuse` fault is
/// on, the listener is closed (connections are refused) and reopened when it clears.
pub async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    cluster: Arc<Cluster>,
    mut shutdown: watch::Receiver<bool>,
) {
    let addr: Option<SocketAddr> = listener.local_addr().ok();
    let mut faults = cluster.faults.subscribe();
    let mut listener = Some(listener);
    loop {
        let refusing = faults.borrow_and_update().refuse;
        if refusing {
            listener = None;
        } else if listener.is_none()
            && let Some(addr) = addr
        {
            match TcpListener::bind(addr).await {
                Ok(l) => listener = Some(l),
                Err(error) => {
                    warn!(%error, cluster = %cluster.name, %addr, "cannot listen again after refusing; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            }
        }
        let accept = async {
            match &listener {
                Some(l) => l.accept().await,
                None => std::future::pending().await,
            }
        };
        let (tcp, peer) = tokio::select! {
            accepted = accept => match accepted {
                Ok(a) => a,
                Err(error) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    debug!(%error, cluster = %cluster.name, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            changed = faults.changed() => {
                if changed.is_err() {
                    return;
                }
                continue;
            }
            _ = shutdown.changed() => return,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let cluster = cluster.clone();
        let mut conn_shutdown = shutdown.clone();
        let mut conn_faults = cluster.faults.subscribe();
        let span = info_span!("sim_conn", cluster = %cluster.name, %peer);
        tokio::spawn(
            async move {
                let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(error)) => {
                        debug!(%error, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        debug!("TLS handshake timed out");
                        return;
                    }
                };
                let service = service_fn(move |req| serve_request(cluster.clone(), req));
                let conn = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(tls), service)
                    .with_upgrades();
                tokio::pin!(conn);
                let refused = async {
                    // An open connection dies when the cluster starts refusing.
                    while conn_faults.changed().await.is_ok() {
                        if conn_faults.borrow().refuse {
                            return;
                        }
                    }
                    std::future::pending::<()>().await;
                };
                tokio::select! {
                    result = conn.as_mut() => {
                        if let Err(error) = result {
                            debug!(%error, "connection ended with an error");
                        }
                    }
                    () = refused => {}
                    _ = conn_shutdown.changed() => {}
                }
            }
            .instrument(span),
        );
    }
}

fn is_write(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE)
}

/// One request: the admin endpoint, or the API with this cluster's faults around it.
async fn serve_request(cluster: Arc<Cluster>, req: http::Request<Incoming>) -> Result<Response<Body>, Infallible> {
    if req.uri().path().starts_with(admin::PREFIX) {
        return Ok(admin::handle(&cluster, req).await);
    }
    let faults: Faults = cluster.faults.borrow().clone();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let dry_run = request::Query::parse(req.uri().query()).get("dryRun").is_some();
    cluster.counters.request(is_write(&method));
    if faults.hang {
        // Accepted, never answered; the client's timeout or disconnect ends it.
        std::future::pending::<()>().await;
    }
    let latency = faults.latency(cluster.dice.roll());
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if cluster.dice.chance(faults.error_rate) {
        return Ok(api::error_response(&faults.error()));
    }
    let resp = api::handle(cluster.clone(), req).await?;
    if is_write(&method) && resp.status().is_success() && !dry_run {
        cluster.counters.applied(method.as_str(), &path);
    }
    if cluster.dice.chance(faults.reset_rate) {
        return Ok(cut_short(resp).await);
    }
    Ok(resp)
}

/// A response that promises more bytes than it sends, so the connection is closed
/// mid-body: what a client sees when a connection resets during a response.
async fn cut_short(resp: Response<Body>) -> Response<Body> {
    let (mut parts, mut body) = resp.into_parts();
    let first: Bytes = match tokio::time::timeout(Duration::from_secs(1), body.frame()).await {
        Ok(Some(Ok(frame))) => frame.into_data().unwrap_or_default(),
        _ => Bytes::new(),
    };
    let promised = first.len() * 2 + 64;
    parts.headers.insert(header::CONTENT_LENGTH, promised.into());
    parts.headers.remove(header::TRANSFER_ENCODING);
    let half = first.slice(..first.len() / 2);
    Response::from_parts(parts, Full::new(half).boxed_unsync())
}
