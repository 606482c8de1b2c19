//! The multi-tenant cloud of seed 002, composed from healthcore: pods with
//! `tcp` and `http` checks, auto-heal policies per tenant, and tenant-scoped
//! API tokens. Engine + SQLite store + the HTTP API on a loopback port.
//!
//! A pod here is two real loopback servers: its service (a TCP listener
//! on a fixed port) and its sidecar's health endpoint (an axum server
//! answering `GET /healthz` with 200 while the service is listening and
//! sound, 503 otherwise). The [`PodHealer`] (a
//! [`Healer`](healthcore::healer::Healer)) restarts a pod's service on the
//! same port.
//!
//! This file is shared: `main.rs` narrates the story, and
//! `tests/example_pod_autoheal.rs` includes it with `#[path]` and asserts
//! the outcomes through the same HTTP API.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use healthcore::engine::{Engine, EngineConfig};
use healthcore::heal::{HealAction, HealOutcome};
use healthcore::healer::Healer;
use healthcore::model::{CheckId, CheckKey, Target, TenantId};
use healthcore_http::client::{EgressPolicy, HttpProbe};
use healthcore_http::server::{ApiConfig, ApiState, Auth, CheckPolicy, Scope};
use healthcore_probes::TcpChecker;
use healthcore_sqlite::SqliteStore;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Errors of the example: anything, with a message.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The platform operator's admin token.
pub const ADMIN_TOKEN: &str = "platform-admin-token-5c2e8a";
/// Tenant acme's API token.
pub const ACME_TOKEN: &str = "acme-api-token-91b3f7d2";
/// Tenant globex's API token.
pub const GLOBEX_TOKEN: &str = "globex-api-token-4e6a0c8b";
/// Where the API is mounted.
pub const API_PREFIX: &str = "/api/v1";

/// Check interval (the engine's minimum; seed 002 defaults to 60 s).
pub const INTERVAL: &str = "1s";
/// Check timeout.
pub const TIMEOUT: &str = "500ms";
/// globex's heal cooldown (seed 002's default is 10 min; short here so the
/// story fits in seconds).
pub const GLOBEX_COOLDOWN: &str = "2s";
/// [`GLOBEX_COOLDOWN`] in milliseconds.
pub const GLOBEX_COOLDOWN_MS: i64 = 2_000;
/// globex's heal attempts before giving up.
pub const GLOBEX_MAX_ATTEMPTS: u32 = 2;
/// How long the healer waits for a restarted pod to answer its health
/// endpoint before calling the restart failed.
pub const READY_WITHIN: Duration = Duration::from_millis(500);

/// The pods: (id, tenant, display name).
pub const PODS: [(&str, &str, &str); 4] = [
    ("acme-web", "acme", "acme storefront"),
    ("acme-api", "acme", "acme orders API"),
    ("globex-web", "globex", "globex site"),
    ("globex-worker", "globex", "globex billing worker"),
];

/// The token of a tenant.
pub fn token_of(tenant: &str) -> &'static str {
    match tenant {
        "acme" => ACME_TOKEN,
        "globex" => GLOBEX_TOKEN,
        _ => ADMIN_TOKEN,
    }
}

// ---- pods ------------------------------------------------------------------

/// One pod: a service listener and a health endpoint on loopback.
#[derive(Debug)]
pub struct Pod {
    /// Target id.
    pub id: String,
    /// The service's port (kept across restarts).
    pub service_port: u16,
    /// The health endpoint's port.
    pub health_port: u16,
    serving: AtomicBool,
    broken: AtomicBool,
    restarts: AtomicU32,
    service: tokio::sync::Mutex<Option<JoinHandle<()>>>,
    health: Mutex<Option<JoinHandle<()>>>,
}

impl Pod {
    /// Starts a pod: its service on an ephemeral port, its health endpoint
    /// on another.
    pub async fn spawn(id: &str) -> Result<Arc<Self>, Error> {
        let service = TcpListener::bind("127.0.0.1:0").await?;
        let service_port = service.local_addr()?.port();
        let health = TcpListener::bind("127.0.0.1:0").await?;
        let health_port = health.local_addr()?.port();
        let pod = Arc::new(Self {
            id: id.to_owned(),
            service_port,
            health_port,
            serving: AtomicBool::new(false),
            broken: AtomicBool::new(false),
            restarts: AtomicU32::new(0),
            service: tokio::sync::Mutex::new(None),
            health: Mutex::new(None),
        });
        pod.run_service(service).await;
        let router = axum::Router::new()
            .route("/healthz", get(healthz))
            .with_state(pod.clone());
        let h = tokio::spawn(async move {
            let _ = axum::serve(health, router).await;
        });
        *lock(&pod.health) = Some(h);
        Ok(pod)
    }

    async fn run_service(&self, listener: TcpListener) {
        let h = tokio::spawn(async move {
            // accept and hang up: a connection is all the tcp check needs
            while let Ok((conn, _)) = listener.accept().await {
                drop(conn);
            }
        });
        *self.service.lock().await = Some(h);
        self.serving.store(true, Ordering::SeqCst);
    }

    /// The service process dies: its listener closes (connections are
    /// refused from now on).
    pub async fn kill(&self) {
        self.serving.store(false, Ordering::SeqCst);
        if let Some(h) = self.service.lock().await.take() {
            h.abort();
            let _ = h.await;
        }
    }

    /// The pod is redeployed with a broken configuration: it keeps
    /// listening, but its health endpoint answers 503, restart or not.
    pub fn break_config(&self) {
        self.broken.store(true, Ordering::SeqCst);
    }

    /// Restarts the service on the same port.
    pub async fn restart(&self) -> std::io::Result<()> {
        self.kill().await;
        let listener = TcpListener::bind(("127.0.0.1", self.service_port)).await?;
        self.run_service(listener).await;
        self.restarts.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Restarts so far.
    pub fn restarts(&self) -> u32 {
        self.restarts.load(Ordering::SeqCst)
    }

    /// The health endpoint's URL.
    pub fn health_url(&self) -> String {
        format!("http://127.0.0.1:{}/healthz", self.health_port)
    }

    /// Stops both servers.
    pub async fn stop(&self) {
        self.kill().await;
        let health = lock(&self.health).take();
        if let Some(h) = health {
            h.abort();
            let _ = h.await;
        }
    }
}

async fn healthz(State(pod): State<Arc<Pod>>) -> (StatusCode, axum::Json<Value>) {
    if !pod.serving.load(Ordering::SeqCst) {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "down", "reason": "service not listening"})),
        )
    } else if pod.broken.load(Ordering::SeqCst) {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "down", "reason": "cannot connect to database"})),
        )
    } else {
        (StatusCode::OK, axum::Json(json!({"status": "ok"})))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---- the healer ------------------------------------------------------------

/// Carries out heal actions on the pods: `restart` restarts the pod's
/// service on its port and waits until the health endpoint answers 200;
/// then it asks the engine to re-check the pod now, so the heal event's
/// `new_status` is the pod after the restart. Other actions are refused.
#[derive(Debug)]
pub struct PodHealer {
    pods: BTreeMap<String, Arc<Pod>>,
    http: reqwest::Client,
    engine: Mutex<Option<Engine>>,
}

impl PodHealer {
    fn new(pods: BTreeMap<String, Arc<Pod>>) -> Self {
        Self {
            pods,
            http: http_client(),
            engine: Mutex::new(None),
        }
    }

    async fn ready(&self, pod: &Pod) -> bool {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            let ok = self
                .http
                .get(pod.health_url())
                .timeout(Duration::from_millis(200))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[async_trait]
impl Healer for PodHealer {
    async fn heal(&self, target: &Target, action: &HealAction) -> HealOutcome {
        let Some(pod) = self.pods.get(target.id.as_str()) else {
            return HealOutcome::failed(format!("no pod {}", target.id));
        };
        if *action != HealAction::Restart {
            return HealOutcome::failed(format!("action {action} is not supported for pods"));
        }
        let started = Instant::now();
        if let Err(e) = pod.restart().await {
            return HealOutcome::failed(format!("restart failed: {e}"));
        }
        if !self.ready(pod).await {
            return HealOutcome::failed(format!(
                "restarted (restart #{}), but /healthz is not OK within {}ms",
                pod.restarts(),
                READY_WITHIN.as_millis()
            ));
        }
        let engine = lock(&self.engine).clone();
        if let Some(engine) = engine {
            for check in ["tcp", "http"] {
                if let Ok(id) = CheckId::new(check) {
                    let key = CheckKey::new(target.id.clone(), id);
                    let _ = engine.recheck(&key, "pod-healer").await;
                }
            }
        }
        HealOutcome::Success {
            message: Some(format!(
                "restarted on port {} (restart #{}), ready in {}ms",
                pod.service_port,
                pod.restarts(),
                started.elapsed().as_millis()
            )),
        }
    }
}

// ---- the API client ----------------------------------------------------------

fn http_client() -> reqwest::Client {
    // reqwest comes without a TLS provider in this workspace; the client
    // talks plain HTTP, but building it needs one installed
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// A small JSON client for the API.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    /// A client for the API at `base`.
    pub fn new(base: impl Into<String>) -> Self {
        Self {
            http: http_client(),
            base: base.into(),
        }
    }

    /// The API's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn call(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), Error> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(serde_json::to_vec(b)?);
        }
        let res = req.send().await?;
        let status = res.status().as_u16();
        let bytes = res.bytes().await?;
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)?
        };
        Ok((status, value))
    }

    /// `GET path`: (status, JSON body).
    pub async fn get(&self, token: &str, path: &str) -> Result<(u16, Value), Error> {
        self.call(reqwest::Method::GET, token, path, None).await
    }

    /// `GET path`, requiring a 200.
    pub async fn get_ok(&self, token: &str, path: &str) -> Result<Value, Error> {
        match self.get(token, path).await? {
            (200, v) => Ok(v),
            (s, v) => Err(format!("GET {path}: {s} {v}").into()),
        }
    }

    /// `method path` with a JSON body, requiring a 2xx.
    pub async fn send_ok(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: &Value,
    ) -> Result<Value, Error> {
        match self.call(method.clone(), token, path, Some(body)).await? {
            (s, v) if (200..300).contains(&s) => Ok(v),
            (s, v) => Err(format!("{method} {path}: {s} {v}").into()),
        }
    }
}

// ---- the application ---------------------------------------------------------

/// The running platform.
#[derive(Debug)]
pub struct App {
    /// The engine (for shutdown; everything else goes through HTTP).
    pub engine: Engine,
    /// A client for the served API.
    pub api: Api,
    /// Where the API listens.
    pub addr: SocketAddr,
    /// The pods by id.
    pub pods: BTreeMap<String, Arc<Pod>>,
    healer: Arc<PodHealer>,
    server: JoinHandle<()>,
    /// When the platform started (for the narration).
    pub started: Instant,
}

fn auth() -> Result<Auth, Error> {
    Ok(Auth::new()
        .with_token("platform", ADMIN_TOKEN, Scope::Admin)
        .with_token("acme-ci", ACME_TOKEN, Scope::Tenant(TenantId::new("acme")?))
        .with_token(
            "globex-ci",
            GLOBEX_TOKEN,
            Scope::Tenant(TenantId::new("globex")?),
        ))
}

impl App {
    /// Starts the pods, the engine (tcp checker, http probe allowed to
    /// reach loopback only, the pod healer, SQLite at `db`) and serves the
    /// API on `bind`.
    pub async fn start(db: &Path, bind: SocketAddr) -> Result<Self, Error> {
        let mut pods = BTreeMap::new();
        for (id, _, _) in PODS {
            pods.insert(id.to_owned(), Pod::spawn(id).await?);
        }
        let healer = Arc::new(PodHealer::new(pods.clone()));
        // the probes talk to 127.0.0.1: allowed explicitly (the default
        // probe policy refuses loopback, private and metadata addresses);
        // the checks are defined through the API, whose check policy
        // judges their destinations by the same policy
        let probe_policy = EgressPolicy::probes()
            .schemes(&["http"])
            .allow_cidr("127.0.0.0/8")?;
        let mut config = EngineConfig::default();
        // the circuit breaker (seed 003) would stop healing after the 3rd
        // failure for its 30 min cooldown; here it trips only after 30
        // failures in a row, so the heal policy's own cooldown and
        // max attempts are what the story shows
        config.rules.breaker.failure_threshold = 30;
        let store = Arc::new(SqliteStore::open(db).await?);
        let engine = Engine::builder(store)
            .checker(Arc::new(TcpChecker::new()))
            .checker(Arc::new(HttpProbe::new(probe_policy.clone())?))
            .healer(healer.clone())
            .config(config)
            .build()?;
        engine.start().await?;
        *lock(&healer.engine) = Some(engine.clone());

        let state = ApiState::new(engine.clone(), auth()?).with_config(
            ApiConfig::default().check_policy(CheckPolicy::default().egress(probe_policy)),
        );
        let router = axum::Router::new().nest(API_PREFIX, healthcore_http::router(state));
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let svc = router.into_make_service_with_connect_info::<SocketAddr>();
            if let Err(e) = axum::serve(listener, svc).await {
                eprintln!("API server stopped: {e}");
            }
        });
        Ok(Self {
            engine,
            api: Api::new(format!("http://{addr}{API_PREFIX}")),
            addr,
            pods,
            healer,
            server,
            started: Instant::now(),
        })
    }

    /// The pod `id`.
    pub fn pod(&self, id: &str) -> Result<&Arc<Pod>, Error> {
        self.pods
            .get(id)
            .ok_or_else(|| format!("no pod {id}").into())
    }

    /// What each tenant does through the API with its own token: registers
    /// its pods with a `tcp` check on the service port and an `http` check
    /// on the health endpoint (seed 002's thresholds: 3 failures, 1
    /// success), and saves its heal policy. acme keeps seed 002's defaults
    /// (restart after 3 failures, 10 min cooldown, 3 attempts); globex
    /// tightens cooldown and attempts.
    pub async fn provision(&self) -> Result<(), Error> {
        use reqwest::Method;
        for (id, tenant, name) in PODS {
            let token = token_of(tenant);
            let pod = self.pod(id)?;
            self.api
                .send_ok(
                    Method::POST,
                    token,
                    "/targets",
                    &json!({"id": id, "name": name, "kind": "pod", "labels": {"tier": "prod"}}),
                )
                .await?;
            let thresholds = json!({"interval": INTERVAL, "timeout": TIMEOUT,
                                    "failure_threshold": 3, "success_threshold": 1});
            let mut tcp = thresholds.clone();
            tcp["params"] = json!({"host": "127.0.0.1", "port": pod.service_port});
            self.api
                .send_ok(
                    Method::PUT,
                    token,
                    &format!("/targets/{id}/checks/tcp"),
                    &tcp,
                )
                .await?;
            let mut http = thresholds;
            http["params"] = json!({"url": pod.health_url(), "expected_status": [200]});
            self.api
                .send_ok(
                    Method::PUT,
                    token,
                    &format!("/targets/{id}/checks/http"),
                    &http,
                )
                .await?;
        }
        self.api
            .send_ok(
                Method::POST,
                ACME_TOKEN,
                "/heal/policies",
                &json!({"id": "acme-restart", "name": "restart unhealthy pods",
                        "selector": {"kinds": ["pod"]}}),
            )
            .await?;
        self.api
            .send_ok(
                Method::POST,
                GLOBEX_TOKEN,
                "/heal/policies",
                &json!({"id": "globex-restart", "name": "restart, but not forever",
                        "trigger_after_failures": 3, "action": "restart",
                        "cooldown": GLOBEX_COOLDOWN, "max_attempts": GLOBEX_MAX_ATTEMPTS}),
            )
            .await?;
        Ok(())
    }

    /// Polls `f` every 100 ms until it returns `Some`, or fails after
    /// `within`.
    pub async fn until<T, F, Fut>(&self, within: Duration, what: &str, mut f: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>, Error>>,
    {
        let deadline = Instant::now() + within;
        loop {
            if let Some(v) = f().await? {
                return Ok(v);
            }
            if Instant::now() >= deadline {
                return Err(format!("timed out after {within:?} waiting for {what}").into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until every pod is healthy, as the admin's overview says.
    pub async fn all_healthy(&self, within: Duration) -> Result<Value, Error> {
        let api = self.api.clone();
        self.until(within, "every pod healthy", || {
            let api = api.clone();
            async move {
                let o = api.get_ok(ADMIN_TOKEN, "/health/overview").await?;
                let n = PODS.len() as u64;
                Ok((o["summary"]["healthy"].as_u64() == Some(n)).then_some(o))
            }
        })
        .await
    }

    /// A target's heal events through the API (newest first), with the
    /// token of its tenant.
    pub async fn heal_history(&self, token: &str, id: &str) -> Result<Vec<Value>, Error> {
        let v = self
            .api
            .get_ok(token, &format!("/targets/{id}/heal/history?limit=100"))
            .await?;
        Ok(v["data"].as_array().cloned().unwrap_or_default())
    }

    /// Seconds since start, for the narration.
    pub fn t(&self) -> String {
        format!("[t+{:5.1}s]", self.started.elapsed().as_secs_f64())
    }

    /// Stops the API, the engine and the pods.
    pub async fn shutdown(self) {
        self.server.abort();
        let _ = self.server.await;
        // the healer holds the engine: let go of it first
        lock(&self.healer.engine).take();
        self.engine.shutdown().await;
        for pod in self.pods.values() {
            pod.stop().await;
        }
    }
}
