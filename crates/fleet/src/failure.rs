//! Failures of requests, classified, and the retry rules: which failures are transient,
//! which requests may be sent again (reads, idempotent writes, never an exec stream that
//! opened), and how long to wait (exponential backoff with full jitter).

use std::time::Duration;

use muster_core::duration::human;
use muster_core::result::{ExecError, Status};

/// What sending a request twice would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotence {
    /// A read: always safe to repeat.
    Read,
    /// A write whose repetition changes nothing more (server-side apply with muster's field
    /// manager, scale to N, restart with the command's stamp, delete where 404 means done).
    IdempotentWrite,
    /// Starts something that must not run twice (an exec stream): repeated only when the
    /// server refused it with a status before anything ran.
    Once,
}

/// One request's failure, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What this failure means for the cluster's result if it is the last one.
    pub status: Status,
    /// Stable label: the API's `reason` (`NotFound`, `Conflict`, ...) or muster's
    /// (`ConnectionFailed`, `CallTimeout`, `DeadlineExceeded`, ...).
    pub reason: String,
    pub code: Option<u16>,
    /// What the server or the transport said (without the cluster and target prefix).
    pub detail: String,
    /// Whether trying again may succeed.
    pub transient: bool,
    /// The response came from the server before anything ran (429/5xx status, refused
    /// upgrade), so even an [`Idempotence::Once`] request may be repeated.
    pub refused_by_server: bool,
    /// A plain 500: final, unless the server asked to retry it with `Retry-After`
    /// (client-go's rule; a typed-patch error or an unreachable kubelet is deterministic).
    pub retry_if_asked: bool,
}

impl Failure {
    /// A failure from an HTTP status code and the server's message.
    #[must_use]
    pub fn http(code: u16, reason: &str, detail: &str) -> Self {
        // NB: client-go retries 429 and 502/503/504, and other 5xx only with Retry-After.
        let transient = matches!(code, 429 | 502 | 503 | 504);
        let reason = if reason.is_empty() {
            default_reason(code)
        } else {
            reason
        };
        Self {
            status: if code == 429 { Status::Throttled } else { Status::Failed },
            reason: reason.to_string(),
            code: Some(code),
            detail: format!("{code} {reason}: {detail}"),
            transient,
            refused_by_server: transient || code >= 500,
            retry_if_asked: code >= 500 && !transient,
        }
    }

    /// The per-call timeout elapsed.
    #[must_use]
    pub fn call_timeout(after: Duration) -> Self {
        Self::local(
            Status::TimedOut,
            "CallTimeout",
            format!("no answer within {}", human(after)),
            true,
        )
    }

    /// The whole command's deadline passed.
    #[must_use]
    pub fn deadline() -> Self {
        Self::local(
            Status::TimedOut,
            "DeadlineExceeded",
            "the command's deadline passed".into(),
            false,
        )
    }

    /// A failure muster found itself (no HTTP status).
    #[must_use]
    pub fn local(status: Status, reason: &str, detail: String, transient: bool) -> Self {
        Self {
            status,
            reason: reason.to_string(),
            code: None,
            detail,
            transient,
            refused_by_server: false,
            retry_if_asked: false,
        }
    }

    /// The same failure, its detail prefixed with what was being done (`deployment.apps/web`).
    #[must_use]
    pub fn within(mut self, what: &str) -> Self {
        self.detail = format!("{what}: {}", self.detail);
        self
    }

    /// A request that can never succeed as given (muster's own check, no request sent).
    #[must_use]
    pub fn invalid(reason: &str, detail: String) -> Self {
        Self::local(Status::Failed, reason, detail, false)
    }

    /// Whether a request of this idempotence may be sent again after this failure;
    /// `asked` says the server sent `Retry-After` with it.
    #[must_use]
    pub fn may_retry(&self, idempotence: Idempotence, asked: bool) -> bool {
        (self.transient || (self.retry_if_asked && asked))
            && (idempotence != Idempotence::Once || self.refused_by_server)
    }

    /// The result's error, naming the cluster and what was done.
    #[must_use]
    pub fn to_error(&self, cluster: &str, what: &str) -> ExecError {
        ExecError {
            reason: self.reason.clone(),
            code: self.code,
            message: format!("cluster {cluster}: {what}: {}", self.detail),
        }
    }
}

fn default_reason(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        410 => "Gone",
        413 => "RequestEntityTooLarge",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "HttpError",
    }
}

/// Classify a kube client error.
#[must_use]
pub fn classify(error: &kube::Error) -> Failure {
    use kube::Error as E;
    match error {
        E::Api(s) => Failure::http(s.code, &s.reason, first_line(&s.message)),
        E::UpgradeConnection(kube::client::UpgradeConnectionError::ProtocolSwitch(code)) => Failure::http(
            code.as_u16(),
            "",
            code.canonical_reason().unwrap_or("the server refused the stream"),
        ),
        // NB: a certificate the client does not trust will not be trusted on a retry either.
        _ if tls_verification_failed(error) => {
            Failure::local(Status::Failed, "TLSVerificationFailed", transport_detail(error), false)
        }
        E::HyperError(_) | E::Service(_) | E::RustlsTls(_) | E::ReadEvents(_) => {
            Failure::local(Status::Unreachable, "ConnectionFailed", transport_detail(error), true)
        }
        E::Auth(_) => Failure::local(Status::Failed, "AuthFailed", transport_detail(error), false),
        other => Failure::local(Status::Failed, "ClientError", transport_detail(other), false),
    }
}

/// A `Status` object with `status: Failure` that came back with a 2xx code: a failure all
/// the same (a proxy or aggregated API may answer so), or `None` for any other body.
#[must_use]
pub fn failure_in_body(body: &serde_json::Value) -> Option<Failure> {
    let text = |k: &str| body.get(k).and_then(serde_json::Value::as_str);
    if text("kind") != Some("Status") || text("status") != Some("Failure") {
        return None;
    }
    let code = body
        .get("code")
        .and_then(serde_json::Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| *c >= 400)
        .unwrap_or(500);
    let mut f = Failure::http(
        code,
        text("reason").unwrap_or_default(),
        text("message").unwrap_or("failed"),
    );
    f.detail = format!("{} (in a successful response)", f.detail);
    Some(f)
}

/// [`failure_in_body`] of JSON text, parsing it only when it may be a `Status`.
#[must_use]
pub fn failure_in_text(text: &str) -> Option<Failure> {
    if !text.contains("\"Status\"") {
        return None;
    }
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| failure_in_body(&v))
}

/// Whether a transport error is the server's certificate failing verification (an unknown
/// issuer, a wrong name, an expired certificate).
fn tls_verification_failed(error: &kube::Error) -> bool {
    let mut cause: Option<&dyn std::error::Error> = Some(error);
    while let Some(e) = cause {
        let text = e.to_string();
        if text.contains("invalid peer certificate") || text.contains("certificate verify failed") {
            return true;
        }
        cause = e.source();
    }
    false
}

/// The innermost cause of a transport error, on one line ("Connection refused (os error
/// 111)"), which says more than kube's outer "ServiceError: client error (Connect)".
fn transport_detail(error: &kube::Error) -> String {
    let mut innermost: &dyn std::error::Error = error;
    while let Some(next) = innermost.source() {
        innermost = next;
    }
    let outer = first_line(&error.to_string()).to_string();
    let inner = first_line(&innermost.to_string()).to_string();
    if inner == outer {
        outer
    } else {
        format!("{outer}: {inner}")
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

/// Exponential backoff with full jitter (AWS architecture blog): a uniform draw in
/// `0..=min(cap, base * 2^attempt)`; `attempt` counts from 1.
#[must_use]
pub fn backoff(attempt: u32, base: Duration, cap: Duration, draw: f64) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    exp.min(cap).mul_f64(draw.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_failures_and_who_may_retry() {
        let throttled = Failure::http(429, "TooManyRequests", "slow down");
        assert_eq!(throttled.status, Status::Throttled);
        assert!(throttled.may_retry(Idempotence::Read, false));
        assert!(
            throttled.may_retry(Idempotence::Once, false),
            "nothing ran behind a 429"
        );
        let unavailable = Failure::http(503, "", "x");
        assert_eq!(unavailable.reason, "ServiceUnavailable");
        assert!(unavailable.may_retry(Idempotence::IdempotentWrite, false));
        for code in [502, 504] {
            assert!(
                Failure::http(code, "", "x").may_retry(Idempotence::Read, false),
                "{code}"
            );
        }
        // A plain 500 is deterministic (a typed-patch error, an unreachable kubelet) unless
        // the server asked for a retry.
        let internal = Failure::http(500, "InternalError", "failed to create typed patch object");
        assert!(!internal.may_retry(Idempotence::Read, false));
        assert!(internal.may_retry(Idempotence::Read, true));
        assert!(!Failure::http(501, "", "x").may_retry(Idempotence::Read, false));
        let not_found = Failure::http(404, "NotFound", "deployments.apps \"web\" not found");
        assert!(!not_found.may_retry(Idempotence::Read, true));
        let dropped = Failure::local(Status::Unreachable, "ConnectionFailed", "reset".into(), true);
        assert!(dropped.may_retry(Idempotence::Read, false) && dropped.may_retry(Idempotence::IdempotentWrite, false));
        assert!(
            !dropped.may_retry(Idempotence::Once, false),
            "an exec stream may have started"
        );
        assert!(!Failure::call_timeout(Duration::from_secs(1)).may_retry(Idempotence::Once, false));
        assert!(!Failure::deadline().may_retry(Idempotence::Read, false));
        let e = not_found.to_error("prod-1", "get deploy/web");
        assert_eq!(e.code, Some(404));
        assert_eq!(
            e.message,
            "cluster prod-1: get deploy/web: 404 NotFound: deployments.apps \"web\" not found"
        );
    }

    #[test]
    fn a_failure_status_in_a_success_is_a_failure() {
        let f = failure_in_text(
            r#"{"kind":"Status","apiVersion":"v1","status":"Failure","code":403,"reason":"Forbidden","message":"no"}"#,
        )
        .unwrap();
        assert_eq!(
            (f.code, f.reason.as_str(), f.status),
            (Some(403), "Forbidden", Status::Failed)
        );
        let f = failure_in_text(r#"{"kind":"Status","status":"Failure","message":"boom"}"#).unwrap();
        assert_eq!(f.code, Some(500));
        assert!(failure_in_text(r#"{"kind":"Status","status":"Success"}"#).is_none());
        assert!(failure_in_text(r#"{"kind":"ConfigMap","data":{"a":"Status"}}"#).is_none());
    }

    #[test]
    fn backoff_is_capped_full_jitter() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(2);
        assert_eq!(backoff(1, base, cap, 1.0), base);
        assert_eq!(backoff(3, base, cap, 1.0), Duration::from_millis(400));
        assert_eq!(backoff(30, base, cap, 1.0), cap);
        assert_eq!(backoff(3, base, cap, 0.0), Duration::ZERO);
        assert_eq!(backoff(3, base, cap, 0.5), Duration::from_millis(200));
    }
}
