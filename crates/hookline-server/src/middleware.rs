//! The server's middleware: [`RequestIds`] (an `x-request-id` for every request), [`observe`]
//! (a log line and metrics per request, in a span naming the request id; the internal detail
//! of a 5xx goes to the log, and into the response in debug mode), [`timeout`] (503 after the
//! configured time) and [`panic_response`] (a panicking handler answers a JSON 500).

use std::any::Any;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Json;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::request_id::{MakeRequestId, RequestId};
use tracing::Instrument;

use crate::error::{ApiError, ErrorEnvelope, ErrorReport};
use crate::state::AppState;

/// Request ids for requests that come without one: a random 64-bit prefix per process and a
/// counter (`5f0c9e2a71d4b38e-42`), so ids of different runs differ, without a system call per
/// request.
#[derive(Clone)]
pub(crate) struct RequestIds {
    prefix: u64,
    next: Arc<AtomicU64>,
}

impl RequestIds {
    pub(crate) fn new() -> Self {
        RequestIds {
            prefix: RandomState::new().hash_one(std::process::id()),
            next: Arc::new(AtomicU64::new(1)),
        }
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{:016x}-{n}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}

/// Logs and measures each request; completes error responses in debug mode. Everything logged
/// while the request runs (hook failures included) is inside a `request` span with its id.
pub(crate) async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let id = req
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or("")
        .to_owned();
    let span = tracing::info_span!("request", id);
    let mut response = next.run(req).instrument(span.clone()).await;
    let _entered = span.enter();
    let elapsed = start.elapsed();
    let status = response.status();
    state
        .metrics()
        .request(method.as_str(), &route, status.as_u16(), elapsed);
    let elapsed_ms = elapsed.as_secs_f64() * 1e3;
    let report = response.extensions_mut().remove::<ErrorReport>();
    match &report {
        Some(report) if status.is_server_error() => tracing::error!(
            %method, path, status = status.as_u16(), elapsed_ms,
            message = %report.body.message,
            hook = report.body.hook.as_deref(),
            tap = report.body.tap.as_deref(),
            detail = report.detail.as_deref(),
            "request failed"
        ),
        Some(report) => tracing::info!(
            %method, path, status = status.as_u16(), elapsed_ms,
            message = %report.body.message,
            hook = report.body.hook.as_deref(),
            tap = report.body.tap.as_deref(),
            "request refused"
        ),
        None => tracing::info!(%method, path, status = status.as_u16(), elapsed_ms, "request"),
    }
    match report {
        Some(ErrorReport {
            mut body,
            detail: Some(detail),
        }) if state.debug() => {
            body.detail = Some(detail);
            let mut debug = (status, Json(ErrorEnvelope { error: body })).into_response();
            std::mem::swap(debug.headers_mut(), response.headers_mut());
            debug
        }
        _ => response,
    }
}

/// Answers 503 when a request runs longer than the configured time; the work is dropped (a
/// database transaction in flight rolls back).
pub(crate) async fn timeout(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limit = state.timeout();
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the request took longer than {} ms", limit.as_millis()),
        )
        .into_response(),
    }
}

/// The response to a panic in a handler: a plain 500, with the panic in the log.
pub(crate) fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message");
    ApiError::internal(format!("handler panicked: {message}")).into_response()
}
