//! Request extractors whose failures are JSON errors: [`ApiJson`] (a JSON body; 400 when
//! malformed or of the wrong shape, 413 over the size limit, 415 without a JSON content type), [`ApiQuery`] (the
//! query string; 400), [`JsonBody`] (an optional JSON body of any shape), and [`Caller`] /
//! [`MaybeCaller`] (the actor of the bearer token; 401).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use hookline_data::Actor;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;
use crate::state::AppState;

/// A JSON body of type `T`.
#[derive(Debug)]
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let status = match &rejection {
        // A body of the wrong shape is bad input like any other: 400, not axum's 422 (which
        // hookline keeps for hook rejections).
        JsonRejection::JsonDataError(_) => StatusCode::BAD_REQUEST,
        other => other.status(),
    };
    let message = match &rejection {
        JsonRejection::MissingJsonContentType(_) => {
            "expected a JSON body with `Content-Type: application/json`".to_owned()
        }
        JsonRejection::BytesRejection(_) if status == StatusCode::PAYLOAD_TOO_LARGE => {
            "the request body is larger than the limit".to_owned()
        }
        other => other.body_text(),
    };
    ApiError::new(status, message)
}

/// An optional JSON body of any shape: `null` when empty. Whatever the content type says, a
/// non-empty body must be JSON.
#[derive(Debug)]
pub(crate) struct JsonBody(pub(crate) Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e: BytesRejection| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(e.status(), "the request body is larger than the limit")
                } else {
                    ApiError::new(e.status(), e.body_text())
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(Value::Null));
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))
    }
}

/// The query string as `T`.
#[derive(Debug)]
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| ApiQuery(value))
            .map_err(|e| ApiError::bad_request(e.body_text()))
    }
}

/// The query string as a map of strings.
pub(crate) type QueryMap = ApiQuery<HashMap<String, String>>;

/// The bearer token of a request, if it sent one; 401 for a malformed header.
pub(crate) fn bearer(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("the Authorization header is not text"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(ApiError::unauthorized(
            "expected `Authorization: Bearer <token>`",
        )),
    }
}

/// The logged-in caller. 401 without a valid token (unless authentication is off, when every
/// caller is anonymous).
#[derive(Debug, Clone)]
pub(crate) struct Caller(pub(crate) Actor);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(auth) = state.auth() else {
            return Ok(Caller(Actor::default()));
        };
        match bearer(parts)? {
            Some(token) => auth.verify(token).await.map(Caller),
            None => Err(ApiError::unauthorized(
                "log in first: send `Authorization: Bearer <token>` (POST /auth/login gives one)",
            )),
        }
    }
}

/// The caller, or an anonymous actor if no token was sent; 401 for a token that is invalid.
#[derive(Debug, Clone)]
pub(crate) struct MaybeCaller(pub(crate) Actor);

impl FromRequestParts<AppState> for MaybeCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match (state.auth(), bearer(parts)?) {
            (Some(auth), Some(token)) => auth.verify(token).await.map(MaybeCaller),
            _ => Ok(MaybeCaller(Actor::default())),
        }
    }
}
