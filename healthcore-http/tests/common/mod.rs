//! Shared test harness: an engine on the in-memory store with scripted
//! probes, three tokens (admin, tenant acme, tenant globex) and helpers to
//! call the router with `oneshot`.
#![allow(dead_code, missing_docs)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use healthcore::engine::Engine;
use healthcore::memory::InMemoryStore;
use healthcore::model::{CheckKey, CheckSpec, Observation, Outcome, Target, TargetId, TenantId};
use healthcore::testkit::fakes::{FixedLogs, FlakyHealer, ScriptedChecker};
use healthcore_http::egress::StaticResolver;
use healthcore_http::server::{ApiConfig, ApiState, Auth, Scope};
use serde_json::Value;
use tower::ServiceExt;

pub const ADMIN: &str = "admin-token-0123456789abcdef";
pub const ACME: &str = "acme-token-0123456789abcdef";
pub const GLOBEX: &str = "globex-token-0123456789abcdef";

pub struct Harness {
    pub engine: Engine,
    pub app: Router,
    pub checker: Arc<ScriptedChecker>,
}

pub fn auth() -> Auth {
    Auth::new()
        .with_token("root", ADMIN, Scope::Admin)
        .with_token(
            "acme-bot",
            ACME,
            Scope::Tenant(TenantId::new("acme").unwrap()),
        )
        .with_token(
            "globex-bot",
            GLOBEX,
            Scope::Tenant(TenantId::new("globex").unwrap()),
        )
}

pub async fn harness() -> Harness {
    harness_with(ApiConfig::default().body_limit(16 * 1024)).await
}

pub async fn harness_with(config: ApiConfig) -> Harness {
    let checker = ScriptedChecker::new("tcp");
    let engine = Engine::builder(Arc::new(InMemoryStore::new()))
        .checker(checker.clone())
        .healer(FlakyHealer::new())
        .log_source(Arc::new(FixedLogs))
        .without_scheduler()
        .build()
        .unwrap();
    engine.start().await.unwrap();
    // destination names of API-defined checks resolve only through this
    // table (nothing else resolves: fail closed), never the network
    let resolver = StaticResolver::new().with("public.test", &["93.184.216.34".parse().unwrap()]);
    let app = healthcore_http::router(
        ApiState::new(engine.clone(), auth())
            .with_config(config)
            .with_resolver(Arc::new(resolver)),
    );
    Harness {
        engine,
        app,
        checker,
    }
}

impl Harness {
    /// Adds a target of a tenant with a `tcp` check.
    pub async fn target(&self, id: &str, tenant: &str) {
        let mut t = Target::new(TargetId::new(id).unwrap(), id);
        t.tenant = TenantId::new(tenant).unwrap();
        self.engine.add_target(t).await.unwrap();
        self.engine
            .add_check(&TargetId::new(id).unwrap(), CheckSpec::new("tcp"))
            .await
            .unwrap();
    }

    /// Feeds `n` observations of `outcome` to a target's tcp check.
    pub async fn feed(&self, id: &str, outcome: Outcome, n: usize) {
        let key = CheckKey::new(
            TargetId::new(id).unwrap(),
            healthcore::model::CheckId::new("tcp").unwrap(),
        );
        for _ in 0..n {
            let obs = Observation::new(self.engine.now(), outcome)
                .with_latency(std::time::Duration::from_millis(12));
            self.engine.ingest(&key, obs).unwrap();
        }
        self.engine.flush().await;
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (s, bytes) = self
            .raw(method, path, token, body.map(|b| b.to_string()), None)
            .await;
        let v = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        (s, v)
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
        content_type: Option<&str>,
    ) -> (StatusCode, Vec<u8>) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header(
                    header::CONTENT_TYPE,
                    content_type.unwrap_or("application/json"),
                )
                .body(Body::from(b))
                .unwrap(),
            None => req.body(Body::empty()).unwrap(),
        };
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 22)
            .await
            .unwrap()
            .to_vec();
        (status, bytes)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(token), None).await
    }
}

/// Every (method, path) of the API as the issue lists it.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/health/summary"),
    ("GET", "/health/overview"),
    ("GET", "/health/grid"),
    ("GET", "/health/alerts"),
    ("POST", "/health/alerts/{id}/acknowledge"),
    ("POST", "/health/alerts/{id}/resolve"),
    ("GET", "/health/alert-channels"),
    ("PUT", "/health/alert-channels"),
    ("PUT", "/health/alert-channels/{target}"),
    ("GET", "/targets"),
    ("POST", "/targets"),
    ("GET", "/targets/stalled"),
    ("GET", "/targets/{id}"),
    ("PUT", "/targets/{id}"),
    ("DELETE", "/targets/{id}"),
    ("GET", "/targets/{id}/health"),
    ("GET", "/targets/{id}/health/history"),
    ("GET", "/targets/{id}/results"),
    ("GET", "/targets/{id}/uptime"),
    ("GET", "/uptime"),
    ("GET", "/targets/{id}/checks"),
    ("PUT", "/targets/{id}/checks/{check}"),
    ("DELETE", "/targets/{id}/checks/{check}"),
    ("POST", "/report"),
    ("GET", "/targets/{id}/events"),
    ("GET", "/heal/policies"),
    ("POST", "/heal/policies"),
    ("GET", "/heal/policies/{id}"),
    ("PUT", "/heal/policies/{id}"),
    ("DELETE", "/heal/policies/{id}"),
    ("GET", "/targets/{id}/heal/history"),
    ("POST", "/targets/{id}/heal/reset"),
    ("GET", "/maintenance"),
    ("POST", "/maintenance"),
    ("GET", "/maintenance/{id}"),
    ("PUT", "/maintenance/{id}"),
    ("DELETE", "/maintenance/{id}"),
    ("GET", "/targets/{id}/slo"),
    ("PUT", "/targets/{id}/slo"),
    ("DELETE", "/targets/{id}/slo"),
    ("GET", "/checklist"),
    ("POST", "/checklist/{check}/override"),
    ("POST", "/targets/{id}/actions/{action}"),
    ("GET", "/targets/{id}/logs"),
    ("GET", "/activity"),
    ("GET", "/events"),
    ("POST", "/events/ticket"),
    ("GET", "/ws"),
    ("GET", "/openapi.json"),
    ("GET", "/metrics"),
];
