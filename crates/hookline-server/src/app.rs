//! [`app`]: the HTTP router of a built server — REST resources under `/api`, the custom
//! routes, login, health, metrics, the OpenAPI document and its docs page — with the
//! middleware (CORS, request ids, logs and metrics, timeout, panic catching, body limit).
//!
//! The server's own endpoints are the [`BuiltIn`]s: the router mounts exactly those, and the
//! config check refuses custom routes inside their paths. What a custom route runs lives in
//! [`crate::routes`]; the REST handlers in [`crate::rest`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode, Uri};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, get, post, put};
use hookline_data::DataSource;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use utoipa_swagger_ui::{Config as SwaggerConfig, SwaggerUi};

use crate::config::Method;
use crate::error::ApiError;
use crate::extract::{ApiJson, Caller, JsonBody, MaybeCaller, QueryMap, bearer};
use crate::middleware::{RequestIds, observe, panic_response, timeout};
use crate::rest;
use crate::routes::{Route, RouteInput};
use crate::state::AppState;

/// The router serving `state`. Bind it with [`axum::serve()`] (or [`serve`](crate::serve()) for
/// graceful shutdown), or drive it in-process.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let config = hookline_server::Config::load("hookline.toml")?;
/// let state = hookline_server::AppState::build(config).await?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// axum::serve(listener, hookline_server::app(state)).await?;
/// # Ok(())
/// # }
/// ```
pub fn app(state: AppState) -> Router {
    // The server's own endpoints are mounted from `BuiltIn` only, so that the config check,
    // which refuses custom routes inside `BuiltIn` paths, knows every one of them.
    let mut router = BuiltIn::ALL
        .into_iter()
        .fold(Router::new(), |router, built_in| built_in.mount(router));
    let mut by_path: BTreeMap<&str, MethodRouter<AppState>> = BTreeMap::new();
    for route in &state.inner.routes {
        let mut methods = by_path.remove(route.path.as_str()).unwrap_or_default();
        for method in route.pipelines.keys() {
            methods = methods.on(filter(*method), route_handler(route.clone(), *method));
        }
        by_path.insert(&route.path, methods);
    }
    for (path, methods) in by_path {
        router = router.route(path, methods.fallback(method_not_allowed));
    }
    let router = router
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(state.server().body_limit_bytes))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(from_fn_with_state(state.clone(), timeout))
        .layer(from_fn_with_state(state.clone(), observe))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(RequestIds::new()));
    match cors(&state.server().cors_origins) {
        Some(cors) => router.layer(cors),
        None => router,
    }
    .with_state(state)
}

/// One of the server's own endpoints (or groups of endpoints), at a path that no custom route
/// (`[[routes]]` in the config) may use, nor anything below it.
///
/// This is the one list of them: [`app`] mounts every variant in [`BuiltIn::ALL`] with
/// [`BuiltIn::mount`], which serves nothing outside [`BuiltIn::path`], and the config check
/// refuses a custom route at or below any [`BuiltIn::path`]. A new endpoint is a new variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BuiltIn {
    /// `GET /healthz`: whether the database answers.
    Health,
    /// `GET /metrics`: the Prometheus metrics.
    Metrics,
    /// `POST /auth/login`, `GET /auth/me`, `PUT /auth/password`.
    Auth,
    /// The REST resources, `/api/{resource}…` ([`rest::router`]).
    Api,
    /// The docs page (Swagger UI) for the OpenAPI document, `/docs/…`.
    Docs,
    /// `GET /openapi.json`: the OpenAPI document.
    OpenApi,
}

impl BuiltIn {
    /// Every built-in endpoint, in the order the config check lists their paths.
    pub(crate) const ALL: [BuiltIn; 6] = [
        BuiltIn::Api,
        BuiltIn::Auth,
        BuiltIn::Docs,
        BuiltIn::OpenApi,
        BuiltIn::Metrics,
        BuiltIn::Health,
    ];

    /// The path this endpoint is served at; everything it serves is this path or below it.
    pub(crate) const fn path(self) -> &'static str {
        match self {
            BuiltIn::Health => "/healthz",
            BuiltIn::Metrics => "/metrics",
            BuiltIn::Auth => "/auth",
            BuiltIn::Api => "/api",
            BuiltIn::Docs => "/docs",
            BuiltIn::OpenApi => "/openapi.json",
        }
    }

    /// What is served there, in words, for the messages of the config check.
    pub(crate) const fn serves(self) -> &'static str {
        match self {
            BuiltIn::Health => "the health check",
            BuiltIn::Metrics => "the Prometheus metrics",
            BuiltIn::Auth => "login, the current user, password changes",
            BuiltIn::Api => "the REST resources",
            BuiltIn::Docs => "the docs page",
            BuiltIn::OpenApi => "the OpenAPI document",
        }
    }

    /// Adds this endpoint's routes to `router`, all of them at or below [`BuiltIn::path`].
    fn mount(self, router: Router<AppState>) -> Router<AppState> {
        let path = self.path();
        match self {
            BuiltIn::Health => router.route(path, get(healthz)),
            BuiltIn::Metrics => router.route(path, get(metrics)),
            BuiltIn::Auth => router
                .route(&format!("{path}/login"), post(login))
                .route(&format!("{path}/me"), get(me))
                .route(&format!("{path}/password"), put(set_password)),
            BuiltIn::Api => router.nest(path, rest::router()),
            // The page only: it fetches the document from `BuiltIn::OpenApi`.
            BuiltIn::Docs => router
                .merge(SwaggerUi::new(path).config(SwaggerConfig::new([BuiltIn::OpenApi.path()]))),
            BuiltIn::OpenApi => router.route(path, get(openapi)),
        }
    }
}

/// CORS for the configured origins (`[server] cors_origins`); none: no CORS headers at all.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        // The config check accepts only origins, which are valid header values.
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    let request_id = HeaderName::from_static("x-request-id");
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([
                axum::http::Method::GET,
                axum::http::Method::POST,
                axum::http::Method::PUT,
                axum::http::Method::PATCH,
                axum::http::Method::DELETE,
            ])
            .allow_headers([AUTHORIZATION, CONTENT_TYPE, request_id.clone()])
            .expose_headers([request_id])
            .max_age(Duration::from_secs(600)),
    )
}

fn filter(method: Method) -> MethodFilter {
    match method {
        Method::Get => MethodFilter::GET,
        Method::Post => MethodFilter::POST,
        Method::Put => MethodFilter::PUT,
        Method::Patch => MethodFilter::PATCH,
        Method::Delete => MethodFilter::DELETE,
    }
}

async fn method_not_allowed(method: axum::http::Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("`{}` does not answer {method}", uri.path()),
    )
}

async fn fallback(uri: Uri) -> ApiError {
    ApiError::not_found(format!("nothing at `{}`", uri.path()))
}

async fn healthz(State(state): State<AppState>) -> Response {
    let reachable = match state.data().source() {
        DataSource::Sqlite(pool) => pool.acquire().await.map(drop),
        DataSource::Postgres(pool) => pool.acquire().await.map(drop),
    };
    match reachable {
        Ok(()) => axum::Json(json!({ "status": "ok" })).into_response(),
        Err(error) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the database is not reachable",
        )
        .with_detail(error.to_string())
        .into_response(),
    }
}

/// The OpenAPI document of this server.
async fn openapi(State(state): State<AppState>) -> Response {
    axum::Json(state.openapi()).into_response()
}

/// The metrics, for callers with the metrics token if one is configured.
async fn metrics(State(state): State<AppState>, parts: Parts) -> Response {
    if let Some(expected) = state.metrics_token() {
        let sent = match bearer(&parts) {
            Ok(sent) => sent.unwrap_or_default(),
            Err(error) => return error.into_response(),
        };
        if !bool::from(sent.as_bytes().ct_eq(expected.as_bytes())) {
            return ApiError::unauthorized(format!(
                "{} needs `Authorization: Bearer <metrics token>` (see `[server] metrics_token_env`)",
                BuiltIn::Metrics.path()
            ))
            .into_response();
        }
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.metrics().render(),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    login: String,
    password: String,
}

async fn login(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let auth = state.auth().ok_or_else(|| {
        ApiError::not_found("authentication is off: the config has no `[auth] users`")
    })?;
    let login = auth.login(&request.login, &request.password).await?;
    Ok(axum::Json(login).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordRequest {
    password: String,
    #[serde(default)]
    current_password: Option<String>,
    #[serde(default)]
    user_id: Option<Value>,
}

async fn set_password(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(request): ApiJson<PasswordRequest>,
) -> Result<StatusCode, ApiError> {
    let auth = state.auth().ok_or_else(|| {
        ApiError::not_found("authentication is off: the config has no `[auth] users`")
    })?;
    auth.set_password(
        &actor,
        request.user_id,
        request.current_password.as_deref(),
        &request.password,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn me(Caller(actor): Caller) -> Response {
    axum::Json(json!({ "data": actor })).into_response()
}

/// The handler of one custom route method.
fn route_handler(
    route: Arc<Route>,
    method: Method,
) -> impl Fn(State<AppState>, Request) -> std::pin::Pin<Box<dyn Future<Output = Response> + Send>>
+ Clone
+ Send
+ Sync
+ 'static {
    move |State(state): State<AppState>, req: Request| {
        let route = route.clone();
        Box::pin(async move {
            serve_route(&state, &route, method, req)
                .await
                .unwrap_or_else(IntoResponse::into_response)
        })
    }
}

async fn serve_route(
    state: &AppState,
    route: &Route,
    method: Method,
    req: Request,
) -> Result<Response, ApiError> {
    let (mut parts, body) = req.into_parts();
    let actor = if route.public {
        MaybeCaller::from_request_parts(&mut parts, state).await?.0
    } else {
        Caller::from_request_parts(&mut parts, state).await?.0
    };
    if !route.roles.is_empty() && !route.roles.iter().any(|r| actor.has_role(r)) {
        return Err(ApiError::forbidden(format!(
            "{method} {} needs one of the roles: {}",
            route.path,
            route.roles.join(", ")
        )));
    }
    let Path(params) = Path::<BTreeMap<String, String>>::from_request_parts(&mut parts, state)
        .await
        .map_err(|e| ApiError::bad_request(e.body_text()))?;
    let crate::extract::ApiQuery(query) = QueryMap::from_request_parts(&mut parts, state).await?;
    let url = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let JsonBody(body) = JsonBody::from_request(Request::from_parts(parts, body), state).await?;
    let to_object = |map: &mut dyn Iterator<Item = (String, String)>| {
        Value::Object(
            map.map(|(k, v)| (k, Value::String(v)))
                .collect::<Map<_, _>>(),
        )
    };
    let input = RouteInput::new(
        actor,
        body,
        to_object(&mut query.into_iter()),
        to_object(&mut params.into_iter()),
        json!({ "request": { "method": method.as_str(), "url": url } }),
    );
    let logs = input.logs.clone();
    let result = route
        .run(method, input)
        .await
        .ok_or_else(|| ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"))?;
    let logs = state
        .debug()
        .then(|| std::mem::take(&mut *logs.lock().unwrap_or_else(|p| p.into_inner())));
    match result {
        Ok(value) => Ok(axum::Json(with_logs(value, logs)).into_response()),
        Err(error) => {
            let error = ApiError::from(error);
            Err(match logs {
                Some(logs) => error.with_logs(logs),
                None => error,
            })
        }
    }
}

/// Adds `@LOGS` to a route's response (debug mode): as a `logs` key of an object, or around
/// any other value as `{ data, logs }`.
fn with_logs(value: Value, logs: Option<Vec<Value>>) -> Value {
    match (value, logs) {
        (value, None) => value,
        (Value::Object(mut object), Some(logs)) => {
            object.insert("logs".into(), Value::Array(logs));
            Value::Object(object)
        }
        (value, Some(logs)) => json!({ "data": value, "logs": logs }),
    }
}

#[cfg(test)]
mod tests {
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;
    use crate::config::Config;

    /// A server with login on and one resource, so that every built-in endpoint has something
    /// to serve.
    const CONFIG: &str = r#"
[server]
database = "sqlite::memory:"

[auth]
users = "users"
roles = ["admin"]

[[resources]]
name = "users"
columns = [
    { name = "id", type = "integer", primary_key = true },
    { name = "email", type = "text", required = true },
    { name = "password_hash", type = "text", backend_only = true },
    { name = "role", type = "text" },
]

[[resources]]
name = "notes"
columns = [
    { name = "id", type = "integer", primary_key = true },
    { name = "text", type = "text" },
]
"#;

    /// Requests that reach each endpoint of a built-in: its method and path. The match makes a
    /// new [`BuiltIn`] name the requests that prove the router serves it.
    fn endpoints(built_in: BuiltIn) -> &'static [(&'static str, &'static str)] {
        match built_in {
            BuiltIn::Health => &[("GET", "/healthz")],
            BuiltIn::Metrics => &[("GET", "/metrics")],
            BuiltIn::Auth => &[
                ("POST", "/auth/login"),
                ("GET", "/auth/me"),
                ("PUT", "/auth/password"),
            ],
            BuiltIn::Api => &[
                ("GET", "/api/notes"),
                ("GET", "/api/notes/1"),
                ("POST", "/api/notes/_search"),
            ],
            BuiltIn::Docs => &[("GET", "/docs"), ("GET", "/docs/swagger-initializer.js")],
            BuiltIn::OpenApi => &[("GET", "/openapi.json")],
        }
    }

    /// The problems of a config that declares one custom route at `path`.
    fn route_problems(path: &str) -> Vec<String> {
        let toml = format!("[[routes]]\npath = \"{path}\"\nhandler = \"h.js\"\n");
        Config::from_toml(&toml, "t.toml")
            .unwrap()
            .problems()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn every_built_in_endpoint_is_served_by_the_router_not_the_fallback() {
        let config = Config::from_toml(CONFIG, "hookline.toml").unwrap();
        let state = AppState::build(config).await.unwrap();
        let router = app(state.clone());
        let request = Request::get("/nope").body(Body::empty()).unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        assert!(
            String::from_utf8_lossy(&body).contains("nothing at `/nope`"),
            "the fallback's answer, which no built-in endpoint may give"
        );
        for built_in in BuiltIn::ALL {
            for &(method, path) in endpoints(built_in) {
                assert!(path.starts_with(built_in.path()), "{path} of {built_in:?}");
                let request = Request::builder()
                    .method(method)
                    .uri(path)
                    .header(CONTENT_TYPE, "application/json")
                    .body(Body::from("{}"))
                    .unwrap();
                let response = router.clone().oneshot(request).await.unwrap();
                let status = response.status();
                let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
                let body = String::from_utf8_lossy(&body);
                assert!(
                    !body.contains("nothing at"),
                    "{method} {path} ({built_in:?}) fell through to the fallback: {status} {body}"
                );
                assert_ne!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path}: {body}"
                );
            }
        }
        // The docs page reads the document where `BuiltIn::OpenApi` serves it.
        let request = Request::get("/docs/swagger-initializer.js")
            .body(Body::empty())
            .unwrap();
        let response = router.oneshot(request).await.unwrap();
        let script = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let script = String::from_utf8_lossy(&script);
        assert!(script.contains("\"/openapi.json\""), "{script}");
        state.close().await;
    }

    #[test]
    fn every_built_in_path_is_refused_as_a_custom_route_path() {
        let reserved = BuiltIn::ALL.map(BuiltIn::path).join(", ");
        for built_in in BuiltIn::ALL {
            let prefix = built_in.path();
            let served = endpoints(built_in).iter().map(|&(_, path)| path);
            let below = [
                prefix.to_owned(),
                format!("{prefix}/x"),
                format!("{prefix}/{{id}}/y"),
            ];
            for path in served.map(str::to_owned).chain(below) {
                let problems = route_problems(&path);
                let expected = format!(
                    "routes[0].path: route path `{path}` is inside `{prefix}`, which hookline serves itself ({}); reserved: {reserved}",
                    built_in.serves()
                );
                assert!(
                    problems.iter().any(|p| p.ends_with(&expected)),
                    "{path}: expected `{expected}` in {problems:?}"
                );
            }
        }
        // Only whole segments are reserved.
        for path in ["/apix", "/docs-old", "/healthz2", "/", "/notes/api"] {
            assert!(
                route_problems(path).iter().all(|p| !p.contains("reserved")),
                "{path}: {:?}",
                route_problems(path)
            );
        }
    }
}
