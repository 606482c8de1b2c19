//! The API's safety rules, each against the attack that found it missing:
//!
//! - checks defined through the API cannot run commands, read the
//!   server's environment variables or files, or reach addresses the probe
//!   egress policy refuses (real `command`, `redis`, `disk` and `tcp`
//!   probes registered, so a refusal that failed would run them);
//! - a MAC address belongs to one target (another tenant's node cannot be
//!   hijacked for its reports);
//! - parents never form a cycle;
//! - creating an id is atomic (SQLite store: its writes yield, so the
//!   handlers really interleave).

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::StatusCode;
use common::*;
use healthcore::engine::Engine;
use healthcore::memory::InMemoryStore;
use healthcore::store::Store;
use healthcore::testkit::fakes::ScriptedChecker;
use healthcore_http::egress::{EgressPolicy, StaticResolver};
use healthcore_http::server::{ApiConfig, ApiState, CheckPolicy};
use healthcore_probes::{CommandChecker, DiskChecker, RedisChecker, TcpChecker};
use serde_json::{Value, json};

/// A file path of its own under cargo's temporary folder.
fn fresh_path(what: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("healthcore-http-security");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!(
        "{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

fn resolver() -> Arc<StaticResolver> {
    Arc::new(
        StaticResolver::new()
            .with("public.test", &["93.184.216.34".parse().unwrap()])
            .with("meta.test", &["169.254.169.254".parse().unwrap()])
            .with("lan.test", &["10.0.0.7".parse().unwrap()]),
    )
}

/// The API over an engine with real probes: `command`, `redis`, `disk`
/// and `tcp`.
async fn probes_harness(config: ApiConfig, store: Arc<dyn Store>) -> Harness {
    let engine = Engine::builder(store)
        .checker(Arc::new(CommandChecker::new()))
        .checker(Arc::new(RedisChecker::new()))
        .checker(Arc::new(DiskChecker::new()))
        .checker(Arc::new(TcpChecker::new()))
        .without_scheduler()
        .build()
        .unwrap();
    engine.start().await.unwrap();
    let state = ApiState::new(engine.clone(), auth())
        .with_config(config)
        .with_resolver(resolver());
    Harness {
        engine,
        app: healthcore_http::router(state),
        checker: ScriptedChecker::new("unused"),
    }
}

/// Probes may reach loopback here, so what refuses a check below is the
/// rule under test, not the destination.
fn loopback_config() -> ApiConfig {
    let lo = EgressPolicy::probes().allow_cidr("127.0.0.0/8").unwrap();
    ApiConfig::default().check_policy(CheckPolicy::default().egress(lo))
}

async fn memory_harness(config: ApiConfig) -> Harness {
    probes_harness(config, Arc::new(InMemoryStore::new())).await
}

fn refused(s: StatusCode, v: &Value, field: &str) {
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["code"], "invalid_field", "{v}");
    assert_eq!(v["error"]["field"], field, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
}

/// Runs every way the API triggers a target's checks. Quick actions are
/// admin-only, so an operator runs them: a check a tenant planted would
/// run with the daemon's rights whoever asked.
async fn trigger(h: &Harness, id: &str) {
    for action in ["recheck", "diagnose"] {
        let (s, v) = h
            .post(&format!("/targets/{id}/actions/{action}"), ADMIN, json!({}))
            .await;
        assert_eq!(s, StatusCode::OK, "{action}: {v}");
        assert_eq!(v["checks"], json!([]), "{action} ran a check: {v}");
    }
}

#[tokio::test]
async fn command_checks_cannot_be_defined_through_the_api() {
    let h = memory_harness(loopback_config()).await;
    let marker = fresh_path("touched");
    let argv = json!(["touch", marker.display().to_string()]);
    for (token, id) in [(ACME, "cmd-acme"), (ADMIN, "cmd-admin")] {
        let (s, v) = h
            .post("/targets", token, json!({"id": id, "name": id}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        for (check, body) in [
            ("pwn", json!({"kind": "command", "params": {"argv": argv}})),
            // the kind defaults to the check's name
            ("command", json!({"params": {"argv": argv}})),
        ] {
            let (s, v) = h
                .put(&format!("/targets/{id}/checks/{check}"), token, body)
                .await;
            refused(s, &v, "kind");
            assert!(
                v["error"]["message"].as_str().unwrap().contains("operator"),
                "{v}"
            );
        }
        trigger(&h, id).await;
    }
    assert!(!marker.exists(), "a command ran");
    // not even an operator who lists the kind makes it definable
    let h = memory_harness(
        ApiConfig::default().check_policy(CheckPolicy::default().allow_kind("command")),
    )
    .await;
    h.post("/targets", ADMIN, json!({"id": "c", "name": "c"}))
        .await;
    let (s, v) = h
        .put(
            "/targets/c/checks/command",
            ADMIN,
            json!({"params": {"argv": argv}}),
        )
        .await;
    refused(s, &v, "kind");
    assert!(!marker.exists(), "a command ran");
}

#[tokio::test]
async fn a_tenant_cannot_exfiltrate_environment_variables() {
    let h = memory_harness(loopback_config()).await;
    // the attacker's listener, where AUTH <value> would arrive
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let (s, v) = h
        .post("/targets", ACME, json!({"id": "exf", "name": "exf"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    // PATH is surely set: were the check accepted, its value would be sent
    for var in ["ADMIN_TOKEN_VAR", "PATH"] {
        let (s, v) = h
            .put(
                "/targets/exf/checks/redis",
                ACME,
                json!({"params": {"host": "127.0.0.1", "port": port, "password_env": var}}),
            )
            .await;
        refused(s, &v, "params.password_env");
    }
    trigger(&h, "exf").await;
    // the actions above have returned: a probe's connection would be queued
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the listener was reached: {other:?}"),
    }
    // the same probe with the caller's own password is fine
    let (s, v) = h
        .put(
            "/targets/exf/checks/redis",
            ACME,
            json!({"params": {"host": "127.0.0.1", "port": port, "password": "mine"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn parameters_naming_server_files_are_refused() {
    let config = loopback_config();
    // even where an operator lets the API define disk checks
    let checks = config.checks.clone().allow_kind("disk");
    let config = config.check_policy(checks);
    let h = memory_harness(config).await;
    h.post("/targets", ACME, json!({"id": "f", "name": "f"}))
        .await;
    let dir = fresh_path("write-test");
    std::fs::create_dir_all(&dir).unwrap();
    for (check, params, field) in [
        (
            "disk",
            json!({"path": "/", "write_test_dir": dir}),
            "params.path",
        ),
        (
            "disk2",
            json!({"write_test_dir": dir}),
            "params.write_test_dir",
        ),
        (
            "tcp",
            json!({"host": "127.0.0.1", "port": 1, "ca_file": "/etc/shadow"}),
            "params.ca_file",
        ),
        (
            "tcp",
            json!({"host": "127.0.0.1", "port": 1, "key_file": "/root/.ssh/id_ed25519"}),
            "params.key_file",
        ),
    ] {
        let kind = if check.starts_with("disk") {
            "disk"
        } else {
            "tcp"
        };
        let (s, v) = h
            .put(
                &format!("/targets/f/checks/{check}"),
                ACME,
                json!({"kind": kind, "params": params}),
            )
            .await;
        refused(s, &v, field);
    }
    // kinds about the server itself are not definable by default
    let h = memory_harness(loopback_config()).await;
    h.post("/targets", ACME, json!({"id": "g", "name": "g"}))
        .await;
    for kind in ["disk", "ssh", "postgres"] {
        let (s, v) = h
            .put(
                &format!("/targets/g/checks/{kind}"),
                ACME,
                json!({"params": {}}),
            )
            .await;
        refused(s, &v, "kind");
    }
    trigger(&h, "g").await;
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
}

#[tokio::test]
async fn probe_destinations_follow_the_egress_policy() {
    let h = memory_harness(ApiConfig::default()).await;
    h.post("/targets", ACME, json!({"id": "e", "name": "e"}))
        .await;
    for (token, host) in [
        (ACME, "169.254.169.254"),
        (ADMIN, "169.254.169.254"),
        (ACME, "2852039166"), // 169.254.169.254 as one integer
        (ACME, "::ffff:169.254.169.254"),
        (ACME, "[fd00:ec2::254]"),
        (ACME, "meta.test"),
        (ACME, "127.0.0.1"),
        (ACME, "localhost"),
        (ACME, "10.0.0.7"),
        (ACME, "lan.test"),
        (ACME, "nowhere.test"), // resolver error: fail closed
    ] {
        let (s, v) = h
            .put(
                "/targets/e/checks/tcp",
                token,
                json!({"params": {"host": host, "port": 80}}),
            )
            .await;
        refused(s, &v, "params.host");
    }
    for host in ["93.184.216.34", "public.test"] {
        let (s, v) = h
            .put(
                "/targets/e/checks/tcp",
                ACME,
                json!({"params": {"host": host, "port": 80}}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{host}: {v}");
    }
    // private ranges only where configured; metadata never
    let private = EgressPolicy::probes().allow_private(true);
    let h =
        memory_harness(ApiConfig::default().check_policy(CheckPolicy::default().egress(private)))
            .await;
    h.post("/targets", ACME, json!({"id": "e", "name": "e"}))
        .await;
    for host in ["10.0.0.7", "lan.test"] {
        let (s, v) = h
            .put(
                "/targets/e/checks/tcp",
                ACME,
                json!({"params": {"host": host, "port": 80}}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{host}: {v}");
    }
    for host in ["169.254.169.254", "meta.test", "127.0.0.1"] {
        let (s, v) = h
            .put(
                "/targets/e/checks/tcp",
                ACME,
                json!({"params": {"host": host, "port": 80}}),
            )
            .await;
        refused(s, &v, "params.host");
    }
}

#[tokio::test]
async fn a_mac_address_belongs_to_one_target() {
    let h = memory_harness(ApiConfig::default()).await;
    let mac = "aa:bb:cc:00:11:33";
    let (s, v) = h
        .post(
            "/targets",
            ADMIN,
            json!({"id": "gx-node", "name": "n", "kind": "node", "tenant": "globex", "mac_address": mac}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    // another tenant, in any spelling of the address
    for spelled in [mac, "AA-BB-CC-00-11-33", "aabb.cc00.1133"] {
        let (s, v) = h
            .post(
                "/targets",
                ACME,
                json!({"id": "mac-dup", "name": "x", "mac_address": spelled}),
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{spelled}: {v}");
        assert_eq!(v["error"]["field"], "mac_address", "{v}");
        // the other tenant's target is not named
        assert!(!v.to_string().contains("gx-node"), "{v}");
    }
    let (s, _) = h.get("/targets/mac-dup", ADMIN).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // on update too, creating through PUT included
    let (s, v) = h
        .post(
            "/targets",
            ACME,
            json!({"id": "mine", "name": "mine", "mac_address": "aa:bb:cc:00:11:44"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    for id in ["mine", "new-one"] {
        let (s, v) = h
            .put(
                &format!("/targets/{id}"),
                ACME,
                json!({"name": "x", "mac_address": mac}),
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{id}: {v}");
        assert_eq!(v["error"]["field"], "mac_address", "{v}");
    }
    // keeping one's own address is no conflict
    let (s, v) = h
        .put(
            "/targets/mine",
            ACME,
            json!({"name": "renamed", "mac_address": "AA:BB:CC:00:11:44"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // the node's reports still reach the node
    let (s, v) = h
        .post(
            "/report",
            GLOBEX,
            json!({"mac_address": mac, "event": "heartbeat"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["id"], "gx-node", "{v}");
    // once the holder is gone the address is free
    let (s, _) = h.delete("/targets/gx-node", ADMIN).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = h
        .post(
            "/targets",
            ACME,
            json!({"id": "mac-dup", "name": "x", "mac_address": mac}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
}

#[tokio::test]
async fn parents_never_form_a_cycle() {
    let h = memory_harness(ApiConfig::default()).await;
    let (s, v) = h
        .post("/targets", ACME, json!({"id": "cyc-a", "name": "a"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = h
        .put(
            "/targets/cyc-b",
            ACME,
            json!({"name": "b", "parents": ["cyc-a"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = h
        .put(
            "/targets/cyc-a",
            ACME,
            json!({"name": "a", "parents": ["cyc-b"]}),
        )
        .await;
    refused(s, &v, "parents");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cyc-a -> cyc-b -> cyc-a"),
        "{v}"
    );
    // a longer loop, closed by a create
    let (s, v) = h
        .put(
            "/targets/cyc-c",
            ACME,
            json!({"name": "c", "parents": ["cyc-b"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = h
        .put(
            "/targets/cyc-a",
            ACME,
            json!({"name": "a", "parents": ["cyc-c"]}),
        )
        .await;
    refused(s, &v, "parents");
    // the refused updates changed nothing
    let (_, v) = h.get("/targets/cyc-a", ACME).await;
    assert_eq!(v["parents"], json!([]), "{v}");
    // and a diamond is not a cycle
    let (s, v) = h
        .put(
            "/targets/cyc-d",
            ACME,
            json!({"name": "d", "parents": ["cyc-b", "cyc-c"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_of_one_id_make_one_target() {
    let store = healthcore_sqlite::SqliteStore::open(&fresh_path("race.db"))
        .await
        .unwrap();
    let h = Arc::new(probes_harness(ApiConfig::default(), Arc::new(store)).await);
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let h = h.clone();
            tokio::spawn(async move {
                h.post(
                    "/targets",
                    ACME,
                    json!({"id": "race0", "name": format!("racer {i}")}),
                )
                .await
            })
        })
        .collect();
    let mut created = Vec::new();
    let mut conflicts = 0;
    for t in tasks {
        let (s, v) = t.await.unwrap();
        match s {
            StatusCode::CREATED => created.push(v["name"].clone()),
            StatusCode::CONFLICT => {
                assert_eq!(v["error"]["field"], "id", "{v}");
                conflicts += 1;
            }
            other => panic!("{other}: {v}"),
        }
    }
    assert_eq!((created.len(), conflicts), (1, 9), "{created:?}");
    // the one that answered 201 is the one stored
    let (_, v) = h.get("/targets/race0", ACME).await;
    assert_eq!(v["name"], created[0]);

    // two tenants putting one new id: one owns it, the other gets a 404
    let tasks: Vec<_> = [(ACME, "acme"), (GLOBEX, "globex")]
        .into_iter()
        .flat_map(|who| std::iter::repeat_n(who, 5))
        .map(|(token, tenant)| {
            let h = h.clone();
            tokio::spawn(async move {
                let r = h.put("/targets/race1", token, json!({"name": "r"})).await;
                (tenant, r)
            })
        })
        .collect();
    let mut winners = std::collections::BTreeSet::new();
    for t in tasks {
        let (tenant, (s, v)) = t.await.unwrap();
        match s {
            StatusCode::OK => {
                winners.insert(tenant);
            }
            StatusCode::NOT_FOUND => {}
            other => panic!("{other}: {v}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let (_, v) = h.get("/targets/race1", ADMIN).await;
    assert_eq!(v["tenant"], *winners.first().unwrap());
}
