//! The provisioning server of seeds 000 and 001, composed from healthcore:
//! the engine on a simulated clock, a SQLite store, and the HTTP API served
//! on a loopback port. Four PXE-booted nodes are driven by simulated node
//! agents that POST `/report` over HTTP, minute by minute.
//!
//! This file is shared: `main.rs` narrates the story, and
//! `tests/example_provisioning_nodes.rs` includes it with `#[path]` and
//! asserts the outcomes through the same HTTP API.
//!
//! Time: the engine reads a [`ManualClock`]; the application's own
//! scheduled jobs (seed 000's APScheduler jobs) run once per simulated
//! minute: the health check ([`Engine::tick`]: staleness, install
//! timeouts, alerts, scores) every minute and snapshots every five. The
//! thresholds are the seeds' defaults (stale after 15 min, offline after
//! 60 min, install timeout 60 min, 3 install attempts).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use healthcore::clock::ManualClock;
use healthcore::engine::{Engine, EngineConfig};
use healthcore::model::TenantId;
use healthcore_http::server::{ApiState, Auth, Scope};
use healthcore_sqlite::SqliteStore;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

/// Errors of the example: anything, with a message.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The operator's admin token.
pub const ADMIN_TOKEN: &str = "ops-admin-token-7f3a9c1e5b";
/// The token the node agents report with (scoped to the default tenant).
pub const AGENT_TOKEN: &str = "node-agent-token-2d8e4b6a0c";
/// Where the API is mounted.
pub const API_PREFIX: &str = "/api/v1";

/// One provisioned node.
#[derive(Debug, Clone, Copy)]
pub struct Node {
    /// Target id.
    pub id: &'static str,
    /// Host name.
    pub name: &'static str,
    /// MAC address, as the node's firmware prints it.
    pub mac: &'static str,
    /// The address DHCP gives it first.
    pub ip: &'static str,
}

/// The fleet: a happy install, a happy install reported in the legacy
/// `installation_status` form that later goes silent, an install that
/// fails three times, and an install that stalls.
pub const NODES: [Node; 4] = [
    Node {
        id: "node-01",
        name: "rack1-node01",
        mac: "AA:BB:CC:00:00:01",
        ip: "10.0.0.11",
    },
    Node {
        id: "node-02",
        name: "rack1-node02",
        mac: "aa-bb-cc-00-00-02",
        ip: "10.0.0.12",
    },
    Node {
        id: "node-03",
        name: "rack1-node03",
        mac: "aabb.cc00.0003",
        ip: "10.0.0.13",
    },
    Node {
        id: "node-04",
        name: "rack1-node04",
        mac: "aa:bb:cc:00:00:04",
        ip: "10.0.0.14",
    },
];

/// The new address node-01 reports from minute [`IP_CHANGE_MINUTE`].
pub const NODE01_NEW_IP: &str = "10.0.0.21";
/// When node-01's DHCP lease changes.
pub const IP_CHANGE_MINUTE: u32 = 30;
/// node-02's last heartbeat before it goes silent.
pub const NODE02_LAST_HEARD: u32 = 20;
/// When node-02 comes back.
pub const NODE02_BACK: u32 = 95;

/// The start of simulated time.
pub fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 8, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// What the node agents send at `minute`: (node index, report body without
/// the MAC address). The agents speak both forms of seed 001's report:
/// node-02's installer is old and sends `installation_status`.
pub fn script(minute: u32) -> Vec<(usize, Value)> {
    let ev = |event: &str| json!({ "event": event });
    let progress =
        |p: u32| json!({ "event": "install_progress", "status": "in_progress", "progress": p });
    let failed = |attempt: u32| {
        json!({
            "event": "install_failed",
            "status": "failed",
            "message": format!("no disk found (attempt {attempt})"),
        })
    };
    let mut out = Vec::new();
    match minute {
        0 => {
            for (i, n) in NODES.iter().enumerate() {
                out.push((
                    i,
                    json!({
                        "event": "boot_started",
                        "message": "PXE boot",
                        "ip_address": n.ip,
                        "hostname": n.name,
                        "vendor": "Supermicro",
                        "model": "SYS-1029P",
                    }),
                ));
            }
        }
        1 => {
            out.push((0, ev("install_started")));
            out.push((1, json!({ "installation_status": "started" })));
            out.push((2, ev("install_started")));
            out.push((3, ev("install_started")));
        }
        5 => {
            out.push((0, progress(25)));
            out.push((
                1,
                json!({ "installation_status": "progress", "installation_progress": 30 }),
            ));
            out.push((2, failed(1)));
            // node-04's installer hangs after this: its last word
            out.push((3, progress(10)));
        }
        8 | 13 => out.push((2, ev("install_started"))),
        10 => {
            out.push((0, progress(60)));
            out.push((
                1,
                json!({ "installation_status": "progress", "installation_progress": 70 }),
            ));
            out.push((2, failed(2)));
        }
        15 => {
            out.push((0, progress(100)));
            out.push((2, failed(3)));
        }
        16 => {
            out.push((
                0,
                json!({ "event": "install_complete", "message": "Debian 13 installed" }),
            ));
            out.push((1, json!({ "installation_status": "complete" })));
        }
        17 => {
            out.push((
                0,
                json!({ "event": "boot_started", "message": "boot from disk" }),
            ));
            out.push((
                1,
                json!({ "event": "boot_started", "message": "boot from disk" }),
            ));
        }
        18 => {
            let meta = json!({ "os": "debian-13", "kernel": "6.12.0" });
            out.push((0, json!({ "event": "first_boot", "event_metadata": meta })));
            out.push((1, json!({ "event": "first_boot", "event_metadata": meta })));
        }
        _ => {}
    }
    if minute >= 20 && minute % 5 == 0 {
        // node-01 heartbeats throughout; its lease changes at minute 30
        let ip = if minute >= IP_CHANGE_MINUTE {
            NODE01_NEW_IP
        } else {
            NODES[0].ip
        };
        out.push((0, json!({ "event": "heartbeat", "ip_address": ip })));
        // node-02 goes silent after minute 20 and comes back at 95
        if minute <= NODE02_LAST_HEARD || minute >= NODE02_BACK {
            out.push((1, ev("heartbeat")));
        }
        // node-03's rescue system keeps reporting
        out.push((2, ev("heartbeat")));
    }
    out
}

/// A small JSON client for the API (what an operator's tooling or a node
/// agent would use).
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    /// A client for the API at `base` (e.g. `http://127.0.0.1:8080/api/v1`).
    pub fn new(base: impl Into<String>) -> Self {
        // reqwest comes without a TLS provider in this workspace; the
        // client talks plain HTTP, but building it needs one installed
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self {
            http: reqwest::Client::new(),
            base: base.into(),
        }
    }

    /// The API's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET path` with a bearer token: (status, JSON body).
    pub async fn get(&self, token: &str, path: &str) -> Result<(u16, Value), Error> {
        let req = self.http.get(format!("{}{path}", self.base));
        send(req, token, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, token: &str, path: &str, body: &Value) -> Result<(u16, Value), Error> {
        let req = self.http.post(format!("{}{path}", self.base));
        send(req, token, Some(body)).await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, token: &str, path: &str, body: &Value) -> Result<(u16, Value), Error> {
        let req = self.http.put(format!("{}{path}", self.base));
        send(req, token, Some(body)).await
    }

    /// `GET path`, requiring a 200.
    pub async fn get_ok(&self, token: &str, path: &str) -> Result<Value, Error> {
        match self.get(token, path).await? {
            (200, v) => Ok(v),
            (s, v) => Err(format!("GET {path}: {s} {v}").into()),
        }
    }

    /// `POST path`, requiring a 2xx.
    pub async fn post_ok(&self, token: &str, path: &str, body: &Value) -> Result<Value, Error> {
        match self.post(token, path, body).await? {
            (s, v) if (200..300).contains(&s) => Ok(v),
            (s, v) => Err(format!("POST {path}: {s} {v}").into()),
        }
    }
}

async fn send(
    req: reqwest::RequestBuilder,
    token: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), Error> {
    let mut req = req.bearer_auth(token);
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

/// The running provisioning server.
#[derive(Debug)]
pub struct App {
    /// The engine (for shutdown; everything else goes through HTTP).
    pub engine: Engine,
    /// The simulated clock.
    pub clock: Arc<ManualClock>,
    /// A client for the served API.
    pub api: Api,
    /// Where the API listens.
    pub addr: SocketAddr,
    next_minute: Mutex<u32>,
    server: JoinHandle<()>,
}

/// The API router and its tokens: an admin for the operator, a tenant token
/// for the node agents.
fn auth() -> Result<Auth, Error> {
    Ok(Auth::new()
        .with_token("ops", ADMIN_TOKEN, Scope::Admin)
        .with_token(
            "node-agent",
            AGENT_TOKEN,
            Scope::Tenant(TenantId::new(healthcore::model::DEFAULT_TENANT)?),
        ))
}

impl App {
    /// Opens the SQLite store at `db`, starts the engine on a manual clock
    /// at [`epoch`] (the application drives the periodic jobs itself, see
    /// [`App::run_until`]), serves the API on `bind` (port 0 for any) and
    /// registers the nodes through the API, as the provisioning server does
    /// when it discovers them.
    pub async fn start(db: &Path, bind: SocketAddr) -> Result<Self, Error> {
        let store = Arc::new(SqliteStore::open(db).await?);
        let clock = Arc::new(ManualClock::new(epoch()));
        let engine = Engine::builder(store)
            .clock(clock.clone())
            .config(EngineConfig::default())
            .without_scheduler()
            .build()?;
        engine.start().await?;

        let state = ApiState::new(engine.clone(), auth()?);
        let app = axum::Router::new().nest(API_PREFIX, healthcore_http::router(state));
        let listener = tokio::net::TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let svc = app.into_make_service_with_connect_info::<SocketAddr>();
            if let Err(e) = axum::serve(listener, svc).await {
                eprintln!("API server stopped: {e}");
            }
        });
        let api = Api::new(format!("http://{addr}{API_PREFIX}"));
        let me = Self {
            engine,
            clock,
            api,
            addr,
            next_minute: Mutex::new(0),
            server,
        };
        me.register_nodes().await?;
        Ok(me)
    }

    async fn register_nodes(&self) -> Result<(), Error> {
        for n in NODES {
            let body = json!({
                "id": n.id,
                "name": n.name,
                "kind": "node",
                "mac_address": n.mac,
                "labels": { "rack": "rack1" },
            });
            match self.api.post(ADMIN_TOKEN, "/targets", &body).await? {
                (201, _) => {}
                // a restart over the same database: already registered
                (409, _) => {}
                (s, v) => return Err(format!("registering {}: {s} {v}", n.id).into()),
            }
        }
        Ok(())
    }

    /// The simulated minute the clock is at.
    pub fn minute(&self) -> i64 {
        (self.clock_now() - epoch()).num_minutes()
    }

    fn clock_now(&self) -> DateTime<Utc> {
        use healthcore::clock::Clock;
        self.clock.now()
    }

    /// Plays the timeline up to and including `minute`: for each minute,
    /// moves the clock, lets the node agents POST their reports over HTTP,
    /// then runs the application's jobs (the health check every minute,
    /// snapshots every five) and waits until their effects are stored.
    /// Returns the report answers (node id, message) in order.
    pub async fn run_until(&self, minute: u32) -> Result<Vec<(String, String)>, Error> {
        let mut next = self.next_minute.lock().await;
        let mut said = Vec::new();
        while *next <= minute {
            let m = *next;
            self.clock.set(epoch() + Duration::minutes(i64::from(m)));
            for (i, mut body) in script(m) {
                let node = NODES[i];
                if let Value::Object(map) = &mut body {
                    map.insert("mac_address".into(), json!(node.mac));
                }
                let v = self.api.post_ok(AGENT_TOKEN, "/report", &body).await?;
                let msg = v["message"].as_str().unwrap_or_default().to_owned();
                said.push((node.id.to_owned(), msg));
            }
            self.engine.tick();
            if m % 5 == 0 {
                self.engine.snapshot_now();
            }
            self.engine.flush().await;
            *next = m + 1;
        }
        Ok(said)
    }

    /// Serves on in real time: the clock follows the wall clock from where
    /// the story left it, the health check runs every minute and snapshots
    /// every five, until the process is stopped.
    pub async fn serve_forever(&self) {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
        let mut seconds: u64 = 0;
        loop {
            every.tick().await;
            self.clock.advance(Duration::seconds(1));
            seconds += 1;
            if seconds % 60 == 0 {
                self.engine.tick();
            }
            if seconds % 300 == 0 {
                self.engine.snapshot_now();
            }
        }
    }

    /// Stops the server and the engine (flushing everything to SQLite).
    pub async fn shutdown(self) {
        self.server.abort();
        let _ = self.server.await;
        self.engine.shutdown().await;
    }
}
