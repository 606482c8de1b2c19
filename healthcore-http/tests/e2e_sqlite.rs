//! End to end on SQLite: the real router on a loopback port over an engine
//! whose store is `healthcore_sqlite::SqliteStore` on a real file. Targets
//! and checks are made through the API, observations flow in, alerts go
//! through their whole lifecycle, heal policies, maintenance windows,
//! uptime, results and history are read back from the file; then the
//! engine is dropped, the same file is reopened by a new engine and router,
//! and everything (targets, checks, alerts, status, counters, breaker) is
//! still there through the API. A second test delivers a target's alerts to
//! its own webhook URL (a loopback receiver allow-listed by the egress
//! policy) and checks that a disabled config delivers nothing externally.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::post;
use common::{ACME, ADMIN, GLOBEX, auth};
use healthcore::engine::Engine;
use healthcore::model::{CheckId, CheckKey, Observation, Outcome, TargetId};
use healthcore::store::Store;
use healthcore::testkit::fakes::{FixedLogs, FlakyHealer, ScriptedChecker};
use healthcore_http::client::{EgressPolicy, StaticResolver, WebhookNotifier, WebhookSecret};
use healthcore_http::server::ApiState;
use healthcore_sqlite::SqliteStore;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A database path of its own under cargo's temporary folder.
fn fresh_db() -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("healthcore-http-e2e");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!(
        "{}-{}.db",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

async fn serve(app: Router) -> (SocketAddr, JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(l, app.into_make_service_with_connect_info::<SocketAddr>())
            .await
            .unwrap();
    });
    (addr, task)
}

/// One engine + router over one SQLite file, served on a loopback port.
struct Node {
    engine: Engine,
    store: Arc<SqliteStore>,
    server: JoinHandle<()>,
    base: String,
    http: reqwest::Client,
}

async fn node(path: &Path, notifier: Option<WebhookNotifier>, webhooks: EgressPolicy) -> Node {
    let store = Arc::new(SqliteStore::open(path).await.unwrap());
    let mut b = Engine::builder(store.clone() as Arc<dyn Store>)
        .checker(ScriptedChecker::new("tcp"))
        .healer(FlakyHealer::new())
        .log_source(Arc::new(FixedLogs))
        .without_scheduler();
    if let Some(n) = notifier {
        b = b.notifier(Arc::new(n));
    }
    let engine = b.build().unwrap();
    engine.start().await.unwrap();
    let state = ApiState::new(engine.clone(), auth()).with_webhook_policy(webhooks);
    let (addr, server) = serve(healthcore_http::router(state)).await;
    Node {
        engine,
        store,
        server,
        base: format!("http://{addr}"),
        http: {
            // reqwest is built without a default TLS provider; plain HTTP
            // still needs one installed to build a client
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::builder().no_proxy().build().unwrap()
        },
    }
}

impl Node {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let bytes = res.bytes().await.unwrap();
        let v = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        (status, v)
    }

    async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, token, None).await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    async fn put(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::PUT, path, token, Some(body))
            .await
    }

    async fn text(&self, path: &str, token: &str) -> String {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Feeds `n` observations of `outcome` to a target's `tcp` check.
    async fn feed(&self, id: &str, outcome: Outcome, n: usize) {
        let key = CheckKey::new(TargetId::new(id).unwrap(), CheckId::new("tcp").unwrap());
        for _ in 0..n {
            let obs = Observation::new(self.engine.now(), outcome)
                .with_latency(Duration::from_millis(12));
            self.engine.ingest(&key, obs).unwrap();
        }
        self.engine.flush().await;
    }

    /// Stops serving, shuts the engine down and closes the file.
    async fn stop(self) {
        self.server.abort();
        let _ = self.server.await;
        self.engine.shutdown().await;
        drop(self.engine);
        match Arc::try_unwrap(self.store) {
            Ok(store) => store.close().await,
            Err(still_shared) => drop(still_shared),
        }
    }
}

/// The kinds in an alert list, sorted.
fn kinds(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap().to_owned())
        .collect();
    k.sort();
    k
}

/// The id of the alert of `kind` in an alert list.
fn of_kind(v: &Value, kind: &str) -> String {
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == kind)
        .and_then(|a| a["id"].as_str())
        .unwrap_or_else(|| panic!("no {kind} alert in {v}"))
        .to_owned()
}

/// The state of a target's checks that must survive a restart.
fn durable(health: &Value) -> Value {
    let checks: Vec<Value> = health["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            json!({
                "id": c["id"], "status": c["status"], "cause": c["cause"],
                "consecutive_failures": c["consecutive_failures"],
                "consecutive_successes": c["consecutive_successes"],
                "total_checks": c["total_checks"], "total_failures": c["total_failures"],
                "total_recoveries": c["total_recoveries"],
                "last_outcome": c["last_outcome"],
                "breaker": c["breaker"], "breaker_detail": c["breaker_detail"],
            })
        })
        .collect();
    json!({"status": health["status"], "cause": health["cause"], "checks": checks})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_over_sqlite_survives_a_restart() {
    let path = fresh_db();
    let webhooks = || EgressPolicy::webhooks();
    let n = node(&path, None, webhooks()).await;

    // ---- targets and checks through the API
    for (id, tenant) in [
        ("web", "acme"),
        ("db", "acme"),
        ("batch", "acme"),
        ("gx", "globex"),
    ] {
        let (s, v) = n
            .post(
                "/targets",
                ADMIN,
                json!({"id": id, "name": format!("{id} node"), "tenant": tenant}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let (s, v) = n
            .put(
                &format!("/targets/{id}/checks/tcp"),
                ADMIN,
                json!({"interval": "30s", "timeout": "5s"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let (s, v) = n.get("/targets?limit=2", ACME).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (v["total"].clone(), v["data"].as_array().unwrap().len()),
        (json!(3), 2),
        "{v}"
    );
    // another tenant's ids are 404 for a tenant token
    let (s, v) = n.get("/targets/gx", ACME).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");

    // ---- a heal policy (CRUD) and a maintenance window for `batch`
    let (s, v) = n
        .post(
            "/heal/policies",
            ACME,
            json!({"id": "restart-web", "name": "restart", "cooldown": "5m", "max_attempts": 2}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = n
        .put(
            "/heal/policies/restart-web",
            ACME,
            json!({"name": "restart web", "cooldown": "10m"}),
        )
        .await;
    assert_eq!(
        (s, v["name"].clone()),
        (StatusCode::OK, json!("restart web")),
        "{v}"
    );
    let (s, _) = n.get("/heal/policies/restart-web", GLOBEX).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let now = chrono::Utc::now();
    let (s, v) = n
        .post("/maintenance", ADMIN, json!({"id": "mw-batch", "name": "batch upgrade",
            "schedule": {"type": "one_off", "start": now - chrono::Duration::hours(1), "end": now + chrono::Duration::hours(6)},
            "selector": {"targets": ["batch"]}}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (_, v) = n.get("/maintenance/mw-batch", ADMIN).await;
    assert_eq!(v["active"], true, "{v}");

    // ---- observations: web fails then recovers, db stays down, batch fails in maintenance
    n.feed("web", Outcome::Pass, 2).await;
    n.feed("web", Outcome::Fail, 3).await;
    n.feed("db", Outcome::Pass, 1).await;
    n.feed("db", Outcome::Fail, 4).await;
    n.feed("batch", Outcome::Fail, 3).await;
    n.feed("gx", Outcome::Pass, 2).await;

    // ---- alert raised → listed → acknowledged (409 again) → resolved
    let (s, v) = n
        .get("/health/alerts?status=active&node_id=web", ACME)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // down (the breaker counts failed restarts, and none failed)
    assert_eq!(kinds(&v), ["down"], "{v}");
    let web_alert = of_kind(&v, "down");
    let (s, v) = n.get("/health/alerts", GLOBEX).await;
    assert_eq!((s, v["total"].clone()), (StatusCode::OK, json!(0)), "{v}");
    let (s, _) = n
        .post(
            &format!("/health/alerts/{web_alert}/acknowledge"),
            GLOBEX,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "another tenant's alert is 404");
    let (s, v) = n
        .post(
            &format!("/health/alerts/{web_alert}/acknowledge"),
            ACME,
            json!({"by": "alice"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "acknowledged");
    let (s, v) = n
        .post(
            &format!("/health/alerts/{web_alert}/acknowledge"),
            ACME,
            json!({"by": "bob"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["error"]["code"], "conflict");
    let (s, v) = n
        .post(
            &format!("/health/alerts/{web_alert}/resolve"),
            ACME,
            json!({}),
        )
        .await;
    assert_eq!(
        (s, v["status"].clone()),
        (StatusCode::OK, json!("resolved")),
        "{v}"
    );
    n.feed("web", Outcome::Pass, 2).await;
    // db's alert stays open; acknowledge it so the state to survive is richer
    let (_, v) = n.get("/health/alerts?status=active&node_id=db", ACME).await;
    let db_alert = of_kind(&v, "down");
    let (s, _) = n
        .post(
            &format!("/health/alerts/{db_alert}/acknowledge"),
            ADMIN,
            json!({"by": "carol"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // batch's alert is recorded, suppressed by its maintenance window
    let (_, v) = n.get("/health/alerts?node_id=batch", ACME).await;
    assert!(kinds(&v).contains(&"down".to_owned()), "{v}");
    for a in v["data"].as_array().unwrap() {
        assert_eq!(a["suppressed"], true, "{v}");
        assert_eq!(a["suppressed_reason"]["reason"], "maintenance", "{v}");
    }

    // ---- heal history (the policy acted on web's failures)
    let (s, v) = n.get("/targets/web/heal/history", ACME).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["total"].as_u64().unwrap() >= 1, "{v}");
    let heal_before = v["total"].clone();

    // ---- uptime, results and history come back from the file
    n.engine.snapshot_now();
    n.engine.flush().await;
    let (s, v) = n.get("/targets/web/results?hours=1", ACME).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["total_checks"], 7, "{v}");
    assert_eq!(v["healthy_checks"], 4, "{v}");
    let results_before = v.clone();
    assert_eq!(n.store.result_count().await.unwrap(), 7 + 5 + 3 + 2);
    let (s, v) = n.get("/targets/web/health/history?hours=1", ACME).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["total"].as_u64().unwrap() >= 1, "{v}");
    let (s, v) = n.get("/targets/db/uptime?window=24h", ACME).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(
        v["timeline"].as_array().is_some_and(|t| !t.is_empty()),
        "{v}"
    );
    let (s, v) = n.get("/uptime?window=24h", ACME).await;
    assert_eq!((s, v["total"].clone()), (StatusCode::OK, json!(3)), "{v}");

    // the state to compare after the restart
    let mut before = Vec::new();
    for id in ["web", "db", "batch", "gx"] {
        let (s, v) = n.get(&format!("/targets/{id}/health"), ADMIN).await;
        assert_eq!(s, StatusCode::OK);
        before.push(durable(&v));
    }
    assert_eq!(before[1]["status"], "down");
    // the breaker (state, counts, trips) is compared whole after the restart
    assert!(
        before[1]["checks"][0]["breaker_detail"].is_object(),
        "{}",
        before[1]
    );
    assert_eq!(
        before[0]["checks"][0]["total_recoveries"], 1,
        "{}",
        before[0]
    );
    let (_, alerts_before) = n.get("/health/alerts?limit=500", ADMIN).await;
    let metrics = n.text("/metrics", ADMIN).await;
    assert!(metrics.contains("healthcore_checks_total 17"), "{metrics}");

    // ---- drop everything, reopen the same file
    n.stop().await;
    let n = node(&path, None, webhooks()).await;

    let (s, v) = n.get("/targets", ADMIN).await;
    assert_eq!((s, v["total"].clone()), (StatusCode::OK, json!(4)), "{v}");
    let (s, v) = n.get("/targets/db/checks", ACME).await;
    assert_eq!((s, v["total"].clone()), (StatusCode::OK, json!(1)), "{v}");
    assert_eq!(v["data"][0]["spec"]["interval"], "30s");
    for (i, id) in ["web", "db", "batch", "gx"].into_iter().enumerate() {
        let (s, v) = n.get(&format!("/targets/{id}/health"), ADMIN).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(durable(&v), before[i], "{id} after restart");
    }
    let (_, alerts_after) = n.get("/health/alerts?limit=500", ADMIN).await;
    assert_eq!(alerts_after["total"], alerts_before["total"]);
    let by_id = |v: &Value, id: &str| {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} missing from {v}"))
    };
    assert_eq!(by_id(&alerts_after, &web_alert)["status"], "resolved");
    let db = by_id(&alerts_after, &db_alert);
    assert_eq!(
        (db["status"].as_str(), db["acknowledged_by"].as_str()),
        (Some("acknowledged"), Some("carol"))
    );
    // still one open alert per key: db keeps failing without a duplicate
    n.feed("db", Outcome::Fail, 2).await;
    let (_, v) = n
        .get("/health/alerts?node_id=db&status=acknowledged", ACME)
        .await;
    assert_eq!(kinds(&v), ["down"], "{v}");
    let (_, v) = n.get("/health/alerts?node_id=db", ACME).await;
    let open_db: Vec<&Value> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "down" && a["status"] != "resolved")
        .collect();
    assert_eq!(open_db.len(), 1, "one open alert per key: {v}");
    // and the acknowledged alert still cannot be acknowledged again
    let (s, _) = n
        .post(
            &format!("/health/alerts/{db_alert}/acknowledge"),
            ACME,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    // policies, maintenance, heal history, results survive too
    let (s, v) = n.get("/heal/policies/restart-web", ACME).await;
    assert_eq!(
        (s, v["name"].clone()),
        (StatusCode::OK, json!("restart web")),
        "{v}"
    );
    let (s, v) = n.get("/maintenance/mw-batch", ADMIN).await;
    assert_eq!(
        (s, v["active"].clone()),
        (StatusCode::OK, json!(true)),
        "{v}"
    );
    let (_, v) = n.get("/targets/web/heal/history", ACME).await;
    assert_eq!(v["total"], heal_before);
    let (_, v) = n.get("/targets/web/results?hours=1", ACME).await;
    assert_eq!(v["total_checks"], results_before["total_checks"]);
    assert_eq!(v["healthy_checks"], results_before["healthy_checks"]);
    let (_, v) = n.get("/targets/web/health/history?hours=1", ACME).await;
    assert!(v["total"].as_u64().unwrap() >= 1, "{v}");
    n.stop().await;
}

/// Standard Webhooks verification written from the spec: HMAC-SHA256 over
/// `{id}.{timestamp}.{body}` with the base64 part of a `whsec_` secret.
fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> Result<(), String> {
    use base64::Engine as _;
    use hmac::{Hmac, Mac};
    let b64 = base64::engine::general_purpose::STANDARD;
    let h = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or(format!("{k} missing"))
    };
    let (id, ts, sigs) = (
        h("webhook-id")?,
        h("webhook-timestamp")?,
        h("webhook-signature")?,
    );
    let ts_n: i64 = ts.parse().map_err(|_| "bad timestamp")?;
    if (chrono::Utc::now().timestamp() - ts_n).abs() > 300 {
        return Err("timestamp outside tolerance".into());
    }
    let key = b64
        .decode(secret.trim_start_matches("whsec_"))
        .map_err(|e| e.to_string())?;
    for sig in sigs.split(' ') {
        let Some(("v1", s)) = sig.split_once(',') else {
            continue;
        };
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
        mac.update(format!("{id}.{ts}.").as_bytes());
        mac.update(body);
        if b64.decode(s).is_ok_and(|s| mac.verify_slice(&s).is_ok()) {
            return Ok(());
        }
    }
    Err("no matching signature".into())
}

type Seen = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

/// A webhook receiver on 127.0.0.2.
async fn receiver() -> (SocketAddr, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let s = s.clone();
            async move {
                s.lock().unwrap().push((headers, body.to_vec()));
                "ok"
            }
        }),
    );
    let l = TcpListener::bind("127.0.0.2:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (addr, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_targets_alerts_reach_its_own_signed_webhook_and_a_disabled_config_stays_silent() {
    use base64::Engine as _;
    let secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode([5u8; 32])
    );
    let (addr, seen) = receiver().await;
    // loopback is refused by default; the test allow-lists 127.0.0.2 only
    let policy = || EgressPolicy::webhooks().allow_cidr("127.0.0.2/32").unwrap();
    let notifier = WebhookNotifier::routed(
        WebhookSecret::parse(&secret).unwrap(),
        policy(),
        Arc::new(StaticResolver::new()),
    )
    .unwrap()
    .retries(2, Duration::from_millis(50), Duration::from_secs(2));
    let path = fresh_db();
    let n = node(&path, Some(notifier), policy()).await;
    let hook = format!("http://127.0.0.2:{}/hook", addr.port());
    for id in ["loud", "muted", "plain"] {
        let (s, v) = n
            .post(
                "/targets",
                ADMIN,
                json!({"id": id, "name": id, "tenant": "acme"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let (s, _) = n
            .put(&format!("/targets/{id}/checks/tcp"), ADMIN, json!({}))
            .await;
        assert_eq!(s, StatusCode::OK);
    }
    // a webhook URL outside the policy is refused with the field named
    let (s, v) = n
        .put(
            "/health/alert-channels/loud",
            ACME,
            json!({"webhook_url": "http://127.0.0.1:9/hook"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["field"], "webhook_url");
    let (s, v) = n
        .put("/health/alert-channels/loud", ACME,
            json!({"escalation_delay": "0s", "channels": ["dashboard", "webhook"], "webhook_url": hook}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = n
        .put(
            "/health/alert-channels/muted",
            ACME,
            json!({"escalation_delay": "0s", "webhook_url": hook, "enabled": false}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");

    n.feed("muted", Outcome::Fail, 3).await;
    n.feed("plain", Outcome::Fail, 3).await;
    n.feed("loud", Outcome::Fail, 3).await;
    // the loud target's alert arrives, signed and verifiable: with a zero
    // delay it is escalated as it fires, so external channels hear of it
    // as an escalation (the dashboard gets the firing)
    let mut waited = Duration::ZERO;
    while seen.lock().unwrap().is_empty() && waited < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    }
    // give any wrongly routed delivery time to arrive too
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = seen.lock().unwrap().clone();
    assert_eq!(
        got.len(),
        1,
        "only the loud target's alert is delivered: {got:?}"
    );
    let (headers, body) = &got[0];
    verify(&secret, headers, body).unwrap();
    let v: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(v["type"], "alert.escalation", "{v}");
    assert_eq!(v["data"]["alert"]["target"], "loud", "{v}");
    assert_eq!(v["data"]["audience"], "external");
    // a tampered body does not verify
    let mut tampered = body.clone();
    tampered.push(b' ');
    assert!(verify(&secret, headers, &tampered).is_err());
    // the muted target's alert is recorded and listed, and counted as silenced
    let (_, v) = n.get("/health/alerts?node_id=muted", ACME).await;
    assert_eq!(v["total"], 1, "{v}");
    let metrics = n.text("/metrics", ADMIN).await;
    assert!(
        metrics.contains("healthcore_notifications_silenced_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("healthcore_notifications_sent_total 1"),
        "{metrics}"
    );
    // the config survives a restart: after it, the loud target's recovery
    // still goes to its own webhook
    n.stop().await;
    let notifier = WebhookNotifier::routed(
        WebhookSecret::parse(&secret).unwrap(),
        policy(),
        Arc::new(StaticResolver::new()),
    )
    .unwrap();
    let n = node(&path, Some(notifier), policy()).await;
    n.feed("loud", Outcome::Pass, 1).await;
    let mut waited = Duration::ZERO;
    while seen.lock().unwrap().len() < 2 && waited < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    }
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "{got:?}");
    verify(&secret, &got[1].0, &got[1].1).unwrap();
    let v: Value = serde_json::from_slice(&got[1].1).unwrap();
    assert_eq!(v["type"], "alert.resolved", "{v}");
    assert_eq!(v["data"]["alert"]["target"], "loud");
    n.stop().await;
}
