//! `healthd serve` in-process with the built-in demo config: in a temp
//! dir, on a free port, it answers `/health`, lists the demo targets to
//! the generated admin token (and nobody else), and shuts down closing
//! the SQLite store. With a config file: its tokens, its targets' log
//! sources (a file, a command) behind `GET /targets/{id}/logs`, and node
//! reports recording the client's address.

#[path = "healthd_support/mod.rs"]
mod support;

use healthcore_suite::healthd::serve::{Daemon, ServeOptions};

async fn get(
    addr: std::net::SocketAddr,
    path: &'static str,
    token: Option<String>,
) -> support::Response {
    tokio::task::spawn_blocking(move || support::get(addr, path, token.as_deref()))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_serves_health_and_targets_then_closes_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("healthd.db");
    let daemon = Daemon::start(ServeOptions {
        config: None,
        listen: Some("127.0.0.1:0".parse().unwrap()),
        db: Some(db.clone()),
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let addr = daemon.addr();
    assert_ne!(addr.port(), 0);
    let token = daemon
        .admin_token()
        .expect("the demo makes a token")
        .to_owned();
    assert_eq!(token.len(), 64);
    let url = daemon.dashboard_url();
    assert_eq!(
        url,
        format!("http://127.0.0.1:{}/#token={token}", addr.port())
    );

    // public health
    let health = get(addr, "/health", None).await;
    assert_eq!(health.status, 200, "{}", health.body);
    assert_eq!(health.json()["status"], "ok");

    // the targets, with the token
    let targets = get(addr, "/targets", Some(token.clone())).await;
    assert_eq!(targets.status, 200, "{}", targets.body);
    let body = targets.json();
    let mut names: Vec<String> = body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "demo node",
            "healthd API",
            "healthd port",
            "local command",
            "local disk"
        ]
    );
    // the engine holds their checks; the reporter fed the demo node at once
    let view = daemon
        .engine()
        .target_view(&"demo-node".parse().unwrap())
        .unwrap();
    assert!(
        view.checks.iter().any(|c| c.spec.kind == "heartbeat"),
        "{view:?}"
    );
    let api = daemon
        .engine()
        .target_view(&"healthd-api".parse().unwrap())
        .unwrap();
    assert_eq!(api.target.parents, ["healthd-port".parse().unwrap()]);

    // without the token, or with a wrong one: 401
    assert_eq!(get(addr, "/targets", None).await.status, 401);
    assert_eq!(
        get(addr, "/targets", Some("wrong".repeat(13))).await.status,
        401
    );

    let report = daemon.shutdown().await;
    assert!(report.drained);
    assert!(report.store_closed);
    // closing checkpointed the WAL and removed it; the file reopens
    assert!(db.exists());
    assert!(!dir.path().join("healthd.db-wal").exists());
    let store = healthcore_sqlite::SqliteStore::open(&db).await.unwrap();
    use healthcore::store::Store;
    assert!(
        store
            .get_target(&"local-disk".parse().unwrap())
            .await
            .unwrap()
            .is_some()
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_file_is_served_with_its_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("healthd.toml");
    // sha256("password")
    std::fs::write(
        &cfg,
        r#"
[[tokens]]
name = "ops"
admin = true
sha256 = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"

[[targets]]
id = "self"
name = "self port"
[[targets.checks]]
kind = "tcp"
params = { host = "127.0.0.1", port = 9 }
interval = "1m"
timeout = "2s"
"#,
    )
    .unwrap();
    let daemon = Daemon::start(ServeOptions {
        config: Some(cfg),
        listen: Some("127.0.0.1:0".parse().unwrap()),
        db: Some(dir.path().join("state/healthd.db")),
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(daemon.admin_token().is_none());
    let addr = daemon.addr();
    let r = get(addr, "/targets/self", Some("password".into())).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(get(addr, "/targets/self", None).await.status, 401);
    let report = daemon.shutdown().await;
    assert!(report.store_closed);
    assert!(dir.path().join("state/healthd.db").exists());
}

async fn send(
    addr: std::net::SocketAddr,
    method: &'static str,
    path: &'static str,
    body: serde_json::Value,
) -> support::Response {
    tokio::task::spawn_blocking(move || {
        support::send(addr, method, path, Some("password"), Some(&body))
    })
    .await
    .unwrap()
}

/// The API defines checks under `[probes]` and never a command; the
/// file's own command check runs; a MAC address is one target's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_defined_checks_follow_the_probes_section() {
    use serde_json::json;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("healthd.toml");
    std::fs::write(
        &cfg,
        r#"
[probes]
allow = ["127.0.0.0/8"]

[[tokens]]
name = "ops"
admin = true
sha256 = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"

[[actions]]
name = "restart-web"
argv = ["true"]

[[targets]]
id = "node"
mac_address = "aa:bb:cc:00:11:22"
[[targets.checks]]
kind = "command"
params = { argv = ["true"] }
"#,
    )
    .unwrap();
    let daemon = Daemon::start(ServeOptions {
        config: Some(cfg),
        listen: Some("127.0.0.1:0".parse().unwrap()),
        db: Some(dir.path().join("healthd.db")),
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let addr = daemon.addr();
    let r = send(addr, "POST", "/targets/node/actions/recheck", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["checks"][0]["observation"]["outcome"],
        "pass",
        "{}",
        r.body
    );
    // loopback, as [probes] allows
    let r = send(
        addr,
        "PUT",
        "/targets/node/checks/tcp",
        json!({"params": {"host": "127.0.0.1", "port": 9}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    for (path, body, field) in [
        (
            "/targets/node/checks/meta",
            json!({"kind": "tcp", "params": {"host": "169.254.169.254", "port": 80}}),
            "params.host",
        ),
        (
            "/targets/node/checks/lan",
            json!({"kind": "tcp", "params": {"host": "10.0.0.1", "port": 80}}),
            "params.host",
        ),
        (
            "/targets/node/checks/command",
            json!({"params": {"argv": ["true"]}}),
            "kind",
        ),
    ] {
        let r = send(addr, "PUT", path, body).await;
        assert_eq!(r.status, 422, "{path}: {}", r.body);
        assert_eq!(r.json()["error"]["field"], field, "{}", r.body);
    }
    let r = send(
        addr,
        "POST",
        "/targets",
        json!({"id": "dup", "name": "dup", "mac_address": "AA-BB-CC-00-11-22"}),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.json()["error"]["field"], "mac_address", "{}", r.body);
    // a heal policy names an action [[actions]] defines (or notify_only)
    let r = send(
        addr,
        "POST",
        "/heal/policies",
        json!({"name": "typo", "action": "restart-wbe"}),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.json()["error"]["field"], "action", "{}", r.body);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("restart-web")),
        "{}",
        r.body
    );
    for action in ["restart-web", "notify_only"] {
        let r = send(
            addr,
            "POST",
            "/heal/policies",
            json!({"name": action, "action": action}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let report = daemon.shutdown().await;
    assert!(report.store_closed);
}

#[tokio::test]
async fn a_bad_config_refuses_to_start_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[[targets]]\nid = \"a\"\nparents = [\"nope\"]\n").unwrap();
    let err = Daemon::start(ServeOptions {
        config: Some(cfg),
        listen: Some("127.0.0.1:0".parse().unwrap()),
        db: Some(dir.path().join("healthd.db")),
    })
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("bad.toml:3:") && text.contains("targets[0].parents[0]"),
        "{text}"
    );
    // nothing was created
    assert!(!dir.path().join("healthd.db").exists());
}

async fn call(
    addr: std::net::SocketAddr,
    method: &'static str,
    path: String,
    token: Option<&'static str>,
    body: Option<String>,
) -> support::Response {
    tokio::task::spawn_blocking(move || {
        support::request(addr, method, &path, token, body.as_deref())
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_log_sources_serve_the_logs_route() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let lines: String = (1..=300).map(|i| format!("line {i}\n")).collect();
    std::fs::write(&log, lines).unwrap();
    let cfg = dir.path().join("healthd.toml");
    // sha256("password")
    std::fs::write(
        &cfg,
        format!(
            r#"
[[tokens]]
name = "ops"
admin = true
sha256 = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"

[[targets]]
id = "filelog"
logs = {{ file = "{}" }}

[[targets]]
id = "cmdlog"
logs = {{ argv = ["seq", "1", "{{lines}}"], timeout = "5s" }}

[[targets]]
id = "nolog"
"#,
            log.display()
        ),
    )
    .unwrap();
    let daemon = Daemon::start(ServeOptions {
        config: Some(cfg),
        listen: Some("127.0.0.1:0".parse().unwrap()),
        db: Some(dir.path().join("healthd.db")),
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let addr = daemon.addr();
    let token = Some("password");
    let r = call(
        addr,
        "GET",
        "/targets/filelog/logs?lines=3".into(),
        token,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["lines"],
        serde_json::json!(["line 298", "line 299", "line 300"])
    );
    // the default is seed 004's last 100 lines
    let r = call(addr, "GET", "/targets/filelog/logs".into(), token, None).await;
    let v = r.json();
    assert_eq!(v["lines"].as_array().unwrap().len(), 100, "{v}");
    assert_eq!(v["lines"][0], "line 201");
    let r = call(
        addr,
        "GET",
        "/targets/cmdlog/logs?lines=4".into(),
        token,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["lines"], serde_json::json!(["1", "2", "3", "4"]));
    // more than the cap is served as the cap
    let r = call(
        addr,
        "GET",
        "/targets/cmdlog/logs?lines=5000".into(),
        token,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["lines"].as_array().unwrap().len(), 1000);
    // a target without a source: 501 not_configured
    let r = call(addr, "GET", "/targets/nolog/logs".into(), token, None).await;
    assert_eq!(r.status, 501, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], "not_configured");
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_record_the_client_address() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("healthd.toml");
    std::fs::write(
        &cfg,
        r#"
[server]
public_reports = true

[[tokens]]
name = "ops"
admin = true
sha256 = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"

[[targets]]
id = "node-1"
kind = "node"
mac_address = "aa:bb:cc:00:11:22"
[[targets.checks]]
kind = "heartbeat"
"#,
    )
    .unwrap();
    let daemon = Daemon::start(ServeOptions {
        config: Some(cfg),
        listen: Some("127.0.0.1:0".parse().unwrap()),
        db: Some(dir.path().join("healthd.db")),
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let addr = daemon.addr();
    let r = call(
        addr,
        "POST",
        "/report".into(),
        None,
        Some(r#"{"mac_address": "aa:bb:cc:00:11:22", "event": "boot_started"}"#.into()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // seed 001: the client's address wins over the body's
    let r = call(
        addr,
        "POST",
        "/report".into(),
        None,
        Some(
            r#"{"mac_address": "aa:bb:cc:00:11:22", "event": "heartbeat", "ip_address": "10.9.9.9"}"#
                .into(),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    daemon.engine().flush().await;
    let r = call(
        addr,
        "GET",
        "/targets/node-1/events".into(),
        Some("password"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let events = v["data"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{v}");
    for e in events {
        assert_eq!(e["ip_address"], "127.0.0.1", "{e}");
    }
    // the node's own address is still what it says it is
    let r = call(
        addr,
        "GET",
        "/targets/node-1/health".into(),
        Some("password"),
        None,
    )
    .await;
    assert_eq!(r.json()["ip_address"], "10.9.9.9", "{}", r.body);
    daemon.shutdown().await;
}
