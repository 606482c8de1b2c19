//! The axum router: REST API, live events (SSE and WebSocket), OpenAPI
//! document and Prometheus metrics over a running [`Engine`].
//!
//! This module owns the HTTP shape only: routing, authentication, request
//! limits, JSON in and out, tenant scoping, and what the API may define
//! ([`CheckPolicy`]: no commands, no parameters naming the server's
//! variables or files, destinations under the probe egress policy). Every
//! health rule stays in `healthcore`; handlers call the engine and the
//! store and translate.
//!
//! **Authentication.** Every route needs `Authorization: Bearer <token>`
//! except an explicit public list ([`Auth::public`]): `GET /health`, and
//! the [`dashboard`] page `GET /` with its `GET /assets/{file}` (which hold
//! no data; [`ApiConfig::dashboard()`] turns them off). Browsers' `EventSource`
//! cannot send headers, so `POST /events/ticket` (with the token) returns a
//! single-use ticket, valid [`EVENT_TICKET_TTL`], that `GET /events?ticket=…`
//! and `GET /ws?ticket=…` accept in place of the header, and no other route
//! does; tickets live in this process's memory, so behind a load balancer
//! the stream must reach the instance that issued it. Request spans record
//! the path, never the query string.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use healthcore::engine::Engine;
//! use healthcore::memory::InMemoryStore;
//! use healthcore_http::server::{ApiState, Auth, Scope};
//!
//! let engine = Engine::builder(Arc::new(InMemoryStore::new())).build()?;
//! engine.start().await?;
//! let auth = Auth::new().with_token("ops", "a-long-random-admin-token", Scope::Admin);
//! let app = axum::Router::new().nest("/api/v1", healthcore_http::router(ApiState::new(engine, auth)));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! // with the peer address, so POST /report records the client IP
//! axum::serve(
//!     listener,
//!     app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
//! )
//! .await?;
//! # Ok(()) }
//! ```
//!
//! **Client addresses.** `POST /report` records the address a report came
//! from (seed 001: the client's IP, else the body's `ip_address`). The
//! router learns it only from axum's `ConnectInfo<SocketAddr>`: serve it
//! with `into_make_service_with_connect_info::<SocketAddr>()` as above;
//! served with plain `axum::serve(listener, app)` (or through `oneshot`)
//! every report falls back to its body's `ip_address`. Behind a reverse
//! proxy the peer is the proxy; forwarded headers are not trusted, so
//! have the proxy pass the node's address in the body, or insert your
//! own `ConnectInfo` from a header you trust with a middleware.

mod auth;
mod check_policy;
pub mod dashboard;
mod doc;
mod error;
mod extract;
mod live;
mod metrics;
mod routes;
mod ticket;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use healthcore::engine::Engine;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub use auth::{Auth, Caller, PublicRoute, Scope};
pub use check_policy::{
    COMMAND_KIND, CheckPolicy, DEFAULT_API_CHECK_KINDS, RESOLVE_TIMEOUT, is_server_side_param,
};
pub use error::{ApiError, ApiResult};
pub use extract::{JsonBody, NoBody, OptionalJson, Params};
pub use ticket::{MAX_OUTSTANDING as MAX_EVENT_TICKETS, TICKET_TTL as EVENT_TICKET_TTL};

/// Request limits.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiConfig {
    /// Largest request body accepted (413 beyond); default 1 MiB.
    pub body_limit: usize,
    /// Time a request may take before a 503 (streams excepted once their
    /// headers are sent); default 30 s.
    pub request_timeout: Duration,
    /// Most log lines one logs request is served (a larger `lines` is
    /// clamped to it); default 1000.
    pub max_log_lines: usize,
    /// Whether [`router`] serves the dashboard page at `GET /` (and its
    /// assets at `GET /assets/{file}`) as public routes; default `true`.
    /// When `false` those paths are neither served nor public.
    pub dashboard: bool,
    /// What checks the API may define (kinds, parameters, destinations);
    /// default [`CheckPolicy::default`]: the kinds of
    /// [`DEFAULT_API_CHECK_KINDS`] reaching public addresses only.
    pub checks: CheckPolicy,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            max_log_lines: 1000,
            dashboard: true,
            checks: CheckPolicy::default(),
        }
    }
}

impl ApiConfig {
    /// Sets the body limit.
    #[must_use]
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Turns the dashboard page on or off (see [`dashboard`]).
    #[must_use]
    pub fn dashboard(mut self, on: bool) -> Self {
        self.dashboard = on;
        self
    }

    /// Sets what checks the API may define (see [`CheckPolicy`]).
    #[must_use]
    pub fn check_policy(mut self, policy: CheckPolicy) -> Self {
        self.checks = policy;
        self
    }

    /// Sets the request timeout.
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }
}

/// What every handler reads: the engine (with its `Arc<dyn Store>`), the
/// token table and the limits. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ApiState {
    pub(crate) engine: Engine,
    pub(crate) auth: Arc<Auth>,
    pub(crate) config: Arc<ApiConfig>,
    pub(crate) openapi: Arc<OnceLock<String>>,
    pub(crate) tickets: Arc<ticket::Tickets>,
    /// Resolves the destination names of checks defined through the API.
    pub(crate) resolver: Arc<dyn crate::egress::NameResolver>,
    #[cfg(feature = "client")]
    pub(crate) egress: Option<Arc<crate::client::EgressPolicy>>,
}

impl ApiState {
    /// State over a started (or to be started) engine with default limits.
    pub fn new(engine: Engine, auth: Auth) -> Self {
        Self {
            engine,
            auth: Arc::new(auth),
            config: Arc::new(ApiConfig::default()),
            openapi: Arc::new(OnceLock::new()),
            tickets: Arc::new(ticket::Tickets::default()),
            resolver: Arc::new(crate::egress::SystemResolver),
            #[cfg(feature = "client")]
            egress: Some(Arc::new(crate::client::EgressPolicy::webhooks())),
        }
    }

    /// Replaces the limits.
    #[must_use]
    pub fn with_config(mut self, config: ApiConfig) -> Self {
        self.config = Arc::new(config);
        self
    }

    /// The policy alert-channel webhook URLs are checked against when
    /// saved (default: [`EgressPolicy::webhooks`](crate::client::EgressPolicy::webhooks)).
    #[cfg(feature = "client")]
    #[cfg_attr(docsrs, doc(cfg(feature = "client")))]
    #[must_use]
    pub fn with_webhook_policy(mut self, policy: crate::client::EgressPolicy) -> Self {
        self.egress = Some(Arc::new(policy));
        self
    }

    /// Replaces the resolver that judges the destination names of checks
    /// defined through the API (default: the system's; tests pin names
    /// with a [`StaticResolver`](crate::egress::StaticResolver)).
    #[must_use]
    pub fn with_resolver(mut self, resolver: Arc<dyn crate::egress::NameResolver>) -> Self {
        self.resolver = resolver;
        self
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "healthcore",
        description = "Fleet health: targets, checks, alerts, healing, uptime, lifecycle reports and live events. \
                       Every route but the public ones needs `Authorization: Bearer <token>`; \
                       list endpoints take `limit` (1..=500, default 50) and `offset` and return `total`. \
                       Errors are `{\"error\": {\"code\", \"message\", \"field\"}}`."
    ),
    modifiers(&SecurityAddon),
    components(schemas(error::ErrorEnvelope, error::ErrorDetail)),
    tags(
        (name = "health", description = "Summary, overview, per-target health and history"),
        (name = "targets", description = "Targets and their checks"),
        (name = "alerts", description = "Alerts and alert channels"),
        (name = "healing", description = "Heal policies and heal history"),
        (name = "lifecycle", description = "Node reports, lifecycle events, stalled installs"),
        (name = "operations", description = "Maintenance, SLOs, checklist, quick actions, activity"),
        (name = "meta", description = "Live events, OpenAPI and metrics")
    )
)]
struct ApiDoc;

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every route with its OpenAPI operation, before layers.
fn api_routes() -> OpenApiRouter<ApiState> {
    let r = OpenApiRouter::with_openapi(ApiDoc::openapi());
    let r = routes::register(r);
    let r = live::register(r);
    let r = ticket::register(r);
    metrics::register(r)
}

/// The routes and their finished document ([`doc::finish`]).
fn documented_routes() -> (Router<ApiState>, utoipa::openapi::OpenApi) {
    let (api, mut doc) = api_routes().split_for_parts();
    doc::finish(&mut doc);
    (api, doc)
}

/// The OpenAPI document of [`router`] as a value (the same document
/// `GET /openapi.json` serves).
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented_routes().1
}

/// The API router over `state`, mountable under any prefix with
/// [`Router::nest`].
pub fn router(state: ApiState) -> Router {
    router_with(state, Router::new())
}

/// [`router`] with `extra` routes merged in; they sit behind the same
/// authentication, so make them public with [`Auth::public`] where that is
/// wanted. The dashboard page (see [`dashboard`]) answers only paths no
/// route of `extra` or of the API takes. Note that [`Auth::new`] lists
/// `GET /` and `GET /assets/{file}` as public for the dashboard: an `extra`
/// route on those paths that needs a token wants
/// [`Auth::without_dashboard`] (or [`ApiConfig::dashboard()`] `false`).
pub fn router_with(mut state: ApiState, extra: Router) -> Router {
    if !state.config.dashboard {
        state.auth = Arc::new(state.auth.as_ref().clone().without_dashboard());
    }
    let (api, doc) = documented_routes();
    let json = doc
        .to_json()
        .unwrap_or_else(|_| "{\"openapi\":\"3.1.0\"}".to_owned());
    let _ = state.openapi.set(json);
    let limit = state.config.body_limit;
    let dashboard_on = state.config.dashboard;
    api.with_state(state.clone())
        .merge(extra)
        .fallback(move |req: Request| fallback(dashboard_on, req))
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            declared_length_limit(limit, req, next)
        }))
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn_with_state(state.clone(), timeout))
        .layer(middleware::from_fn_with_state(state, auth::middleware))
        .layer(
            // the span names the path only: query strings may carry
            // event-stream tickets, which are not logged
            tower_http::trace::TraceLayer::new_for_http().make_span_with(|req: &Request| {
                tracing::debug_span!("request", method = %req.method(), path = %req.uri().path())
            }),
        )
}

/// Paths no route takes: the dashboard page and its assets when it is on,
/// otherwise a JSON 404.
async fn fallback(dashboard_on: bool, req: Request) -> Response {
    if dashboard_on {
        if let Some(res) = dashboard::serve(&req) {
            return res;
        }
    }
    ApiError::not_found("route").into_response()
}

/// Turns error answers made outside our handlers (axum's 405, path and
/// upgrade rejections) into the JSON envelope, so every error has one shape.
async fn json_errors(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let is_json = res
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return res;
    }
    let (code, message) = match status {
        axum::http::StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this method is not allowed on this route",
        ),
        axum::http::StatusCode::NOT_FOUND => ("not_found", "not found"),
        axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
            ("payload_too_large", "request body is too large")
        }
        s if s.is_server_error() => ("internal", "internal error; see the server log"),
        _ => ("bad_request", "the request is malformed"),
    };
    let allow = res.headers().get(axum::http::header::ALLOW).cloned();
    let mut out = ApiError::new(status, code, message).into_response();
    if let Some(a) = allow {
        out.headers_mut().insert(axum::http::header::ALLOW, a);
    }
    out
}

/// 413 for a request whose `Content-Length` is past the body limit, on
/// every route, before any handler runs: a handler that reads no body would
/// otherwise let it through (a streamed body without a length is limited
/// where it is read).
async fn declared_length_limit(limit: usize, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return ApiError::too_large().into_response();
    }
    next.run(req).await
}

async fn timeout(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(state.config.request_timeout, next.run(req)).await {
        Ok(res) => res,
        Err(_) => ApiError::unavailable("the request timed out").into_response(),
    }
}
