//! [`AppState`]: a built server — the resources, auth, routes, metrics and OpenAPI document —
//! shared by every request handler. [`AppState::build`] makes one from a config;
//! [`app`](crate::app) serves it.

use std::sync::Arc;
use std::time::Duration;

use hookline::Modules;
use hookline_data::Data;

use crate::auth::Auth;
use crate::config::ServerConfig;
use crate::metrics::Metrics;
use crate::routes::Route;

/// A built server. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<StateInner>,
}

pub(crate) struct StateInner {
    pub(crate) data: Data,
    pub(crate) auth: Option<Auth>,
    pub(crate) routes: Vec<Arc<Route>>,
    /// The installed config modules (their taps stay registered while this lives).
    pub(crate) modules: Modules,
    pub(crate) metrics: Metrics,
    /// The token `/metrics` requires, if one is configured.
    pub(crate) metrics_token: Option<Box<str>>,
    pub(crate) openapi: utoipa::openapi::OpenApi,
    pub(crate) server: ServerConfig,
    pub(crate) config_file: String,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.inner.config_file)
            .field("data", &self.inner.data)
            .field("routes", &self.inner.routes.len())
            .field("modules", &self.inner.modules.names())
            .finish_non_exhaustive()
    }
}

impl AppState {
    pub(crate) fn from_inner(inner: StateInner) -> Self {
        AppState {
            inner: Arc::new(inner),
        }
    }

    /// The resources.
    pub fn data(&self) -> &Data {
        &self.inner.data
    }

    /// Authentication, unless it is off (no `[auth] users`).
    pub fn auth(&self) -> Option<&Auth> {
        self.inner.auth.as_ref()
    }

    /// The `[server]` settings the state was built with.
    pub fn server(&self) -> &ServerConfig {
        &self.inner.server
    }

    /// The OpenAPI 3.1 document of this server's endpoints.
    pub fn openapi(&self) -> &utoipa::openapi::OpenApi {
        &self.inner.openapi
    }

    pub(crate) fn metrics_token(&self) -> Option<&str> {
        self.inner.metrics_token.as_deref()
    }

    pub(crate) fn debug(&self) -> bool {
        self.inner.server.debug
    }

    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_millis(self.inner.server.request_timeout_ms)
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Releases the database: the pool closes once requests in flight are done, and so does
    /// auth's own connection. Call after the server stopped.
    pub async fn close(&self) {
        if let Some(auth) = &self.inner.auth {
            auth.close().await;
        }
        self.inner.data.source().close().await;
    }
}
