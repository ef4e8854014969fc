//! [`ApiError`]: every error response, as JSON
//! `{ "error": { "message", "status", "hook"?, "tap"?, "committed"? } }`.
//!
//! Statuses: 400 for bad input, 401 without a valid token, 403 when access is denied, 404 for
//! what does not exist, 409 for conflicts, a hook's own status for its rejections (422 unless
//! it chose one), 413 for a body over the limit, 503 for a request over the time limit, 504
//! for a hook over its own. A 500 never carries internals: its details go to the log (and, in
//! debug mode, into the response as `detail`, added by the observing middleware in
//! [`crate::observe`]).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hookline::HookError;
use hookline_data::DataError;
use serde::Serialize;
use serde_json::Value;

/// An error response.
///
/// ```
/// use axum::response::IntoResponse;
/// use hookline_server::ApiError;
///
/// let response = ApiError::not_found("no route for GET /nowhere").into_response();
/// assert_eq!(response.status(), 404);
/// ```
#[derive(Debug, Clone)]
pub struct ApiError(Box<Inner>);

#[derive(Debug, Clone)]
struct Inner {
    status: StatusCode,
    body: ErrorBody,
    detail: Option<String>,
    challenge: bool,
}

/// The `error` object of an error response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorBody {
    /// What went wrong, for the user.
    pub message: String,
    /// The HTTP status, repeated.
    pub status: u16,
    /// The hook that rejected or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook: Option<String>,
    /// The tap of that hook.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tap: Option<String>,
    /// `true` if the write was committed although the request failed (an `after_save` hook
    /// failed after the commit).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub committed: bool,
    /// The scripts' `@LOGS` (routes, debug mode only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logs: Option<Vec<Value>>,
    /// The internal error behind a 5xx (debug mode only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What an error response leaves for the observing middleware: the body, and the internal
/// detail to log (and show in debug mode).
#[derive(Debug, Clone)]
pub(crate) struct ErrorReport {
    pub(crate) body: ErrorBody,
    pub(crate) detail: Option<String>,
}

const INTERNAL: &str = "internal server error";

impl ApiError {
    /// An error with this status and user-facing message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError(Box::new(Inner {
            status,
            body: ErrorBody {
                message: message.into(),
                status: status.as_u16(),
                hook: None,
                tap: None,
                committed: false,
                logs: None,
                detail: None,
            },
            detail: None,
            challenge: false,
        }))
    }

    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401: no valid token; the response asks for a bearer token.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        let mut error = Self::new(StatusCode::UNAUTHORIZED, message);
        error.0.challenge = true;
        error
    }

    /// 403: the caller may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// 404: nothing here.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 500: a fault; `detail` is logged, never shown outside debug mode.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL).with_detail(detail)
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// The body's `error` object.
    pub fn body(&self) -> &ErrorBody {
        &self.0.body
    }

    /// Adds an internal detail, for the log (and the response in debug mode).
    pub(crate) fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.0.detail = Some(detail.into());
        self
    }

    /// Adds the scripts' `@LOGS`.
    pub(crate) fn with_logs(mut self, logs: Vec<Value>) -> Self {
        self.0.body.logs = Some(logs);
        self
    }
}

impl From<HookError> for ApiError {
    fn from(error: HookError) -> Self {
        let status = StatusCode::from_u16(error.status())
            .ok()
            .filter(|s| s.is_client_error() || s.is_server_error());
        let mut api = match status {
            Some(status) if error.is_rejection() && status.is_client_error() => {
                ApiError::new(status, error.user_message())
            }
            Some(status) => {
                ApiError::new(status, error.user_message()).with_detail(error.to_string())
            }
            None => ApiError::internal(format!("{error} (a rejection status must be 400 to 599)")),
        };
        api.0.body.hook = Some(error.hook().to_owned());
        api.0.body.tap = error.tap().map(|t| t.name().to_owned());
        api.0.body.committed = error.committed();
        api
    }
}

impl From<hookline_data::QueryError> for ApiError {
    /// A query of the wrong shape is the client's: 400, as [`DataError::InvalidQuery`].
    fn from(error: hookline_data::QueryError) -> Self {
        ApiError::from(DataError::from(error))
    }
}

impl From<DataError> for ApiError {
    fn from(error: DataError) -> Self {
        let committed = error.committed();
        let mut api = match error {
            DataError::Hook(hook) => return ApiError::from(hook),
            error => {
                let status = StatusCode::from_u16(error.status())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                if status.is_server_error() {
                    ApiError::new(status, INTERNAL).with_detail(error.to_string())
                } else {
                    ApiError::new(status, error.to_string())
                }
            }
        };
        api.0.body.committed = committed;
        api
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let Inner {
            status,
            body,
            detail,
            challenge,
        } = *self.0;
        let report = ErrorReport {
            body: body.clone(),
            detail,
        };
        let mut response = (status, Json(ErrorEnvelope { error: body })).into_response();
        if challenge {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response.extensions_mut().insert(report);
        response
    }
}

/// `{ "error": … }`.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorEnvelope {
    pub(crate) error: ErrorBody,
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline::{ErrorKind, Phase};

    #[test]
    fn a_rejection_keeps_its_status_message_hook_and_tap() {
        let error = HookError::new(
            "apartments.create.before_save",
            Phase::Call,
            ErrorKind::Rejected {
                status: 409,
                message: "taken".into(),
            },
        );
        let api = ApiError::from(error);
        assert_eq!(api.status(), 409);
        assert_eq!(api.body().message, "taken");
        assert_eq!(
            api.body().hook.as_deref(),
            Some("apartments.create.before_save")
        );
        assert!(api.0.detail.is_none());
    }

    #[test]
    fn a_failure_is_a_500_without_internals() {
        let error = HookError::new(
            "h",
            Phase::Call,
            ErrorKind::Failed("connection string postgres://secret@db".into()),
        );
        let api = ApiError::from(error);
        assert_eq!(api.status(), 500);
        assert!(!api.body().message.contains("secret"));
        assert!(
            api.0
                .detail
                .as_deref()
                .is_some_and(|d| d.contains("secret"))
        );
    }

    #[test]
    fn a_rejection_with_a_status_outside_4xx_and_5xx_is_a_fault() {
        let error = HookError::new(
            "h",
            Phase::Call,
            ErrorKind::Rejected {
                status: 200,
                message: "fine".into(),
            },
        );
        assert_eq!(ApiError::from(error).status(), 500);
    }
}
