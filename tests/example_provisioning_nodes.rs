//! End-to-end test of `examples/provisioning_nodes` (seeds 000 and 001):
//! the example's application (engine + SQLite file + HTTP API on a loopback
//! port, node agents reporting over HTTP) is started as the example starts
//! it, and every outcome is asserted through the HTTP API.

#[path = "../examples/provisioning_nodes/app.rs"]
mod app;

use std::net::SocketAddr;

use app::{ADMIN_TOKEN, AGENT_TOKEN, App, NODES};
use serde_json::{Value, json};

type R = Result<(), app::Error>;

async fn start(dir: &tempfile::TempDir) -> Result<App, app::Error> {
    App::start(
        &dir.path().join("nodes.db"),
        SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
}

async fn health(app: &App, id: &str) -> Result<Value, app::Error> {
    app.api
        .get_ok(ADMIN_TOKEN, &format!("/targets/{id}/health"))
        .await
}

async fn alerts(app: &App, query: &str) -> Result<Vec<Value>, app::Error> {
    let v = app
        .api
        .get_ok(ADMIN_TOKEN, &format!("/health/alerts?{query}"))
        .await?;
    Ok(v["data"].as_array().cloned().unwrap_or_default())
}

fn kinds(alerts: &[Value]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = alerts
        .iter()
        .map(|a| {
            (
                a["kind"].as_str().unwrap_or("?").to_owned(),
                a["status"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

fn strs<'a>(v: &'a Value, field: &str) -> Vec<&'a str> {
    v["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e[field].as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_story_through_the_api() -> R {
    let dir = tempfile::tempdir()?;
    let app = start(&dir).await?;
    let api = app.api.clone();

    // 08:00, registered but never seen: unknown, full staleness penalty
    let s = api.get_ok(ADMIN_TOKEN, "/health/summary").await?;
    assert_eq!(s["total_targets"], 4);
    assert_eq!(s["by_status"], json!({"unknown": 4}));
    assert_eq!(s["average_score"], 60.0);

    // the report endpoint refuses what it should, naming the field
    let hb = json!({"mac_address": NODES[0].mac, "event": "heartbeat"});
    assert_eq!(api.post("wrong-token", "/report", &hb).await?.0, 401);
    let (st, body) = api
        .post(
            AGENT_TOKEN,
            "/report",
            &json!({"mac_address": "aa:bb:cc:99:99:99", "event": "heartbeat"}),
        )
        .await?;
    assert_eq!(st, 404, "{body}");
    let (st, body) = api
        .post(
            AGENT_TOKEN,
            "/report",
            &json!({"mac_address": NODES[0].mac, "event": "reboot_now"}),
        )
        .await?;
    assert_eq!(
        (st, &body["error"]["field"]),
        (422, &json!("event")),
        "{body}"
    );
    let (st, body) = api
        .post(
            AGENT_TOKEN,
            "/report",
            &json!({"mac_address": "not-a-mac", "event": "heartbeat"}),
        )
        .await?;
    assert_eq!(
        (st, &body["error"]["field"]),
        (422, &json!("mac_address")),
        "{body}"
    );

    // 08:00-08:20: boots and installs
    let said = app.run_until(20).await?;
    assert!(said.contains(&("node-02".into(), "Status reported successfully".into())));
    assert!(said.contains(&(
        "node-03".into(),
        "Installation failed after 3 attempts".into()
    )));

    let n1 = health(&app, "node-01").await?;
    assert_eq!(n1["health_status"], "healthy");
    assert_eq!(n1["lifecycle"]["state"], "active");
    assert_eq!(n1["boot_count"], 2);
    assert_eq!(n1["health_score"], 100);
    assert_eq!(
        n1["score_breakdown"],
        json!({"staleness": 0, "install_failures": 0, "boot_stability": 0})
    );
    // node-02 installed through the legacy installation_status form
    let n2 = health(&app, "node-02").await?;
    assert_eq!(n2["lifecycle"]["state"], "active");
    let legacy = api
        .get_ok(
            ADMIN_TOKEN,
            "/targets/node-02/events?event_type=install_progress",
        )
        .await?;
    assert_eq!(legacy["total"], 2);
    let progress: Vec<i64> = legacy["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["progress"].as_i64())
        .collect();
    assert_eq!(progress, vec![70, 30]);
    // node-03 used its three attempts
    let n3 = health(&app, "node-03").await?;
    assert_eq!(n3["lifecycle"]["state"], "install_failed");
    assert_eq!(n3["install_attempts"], 3);
    assert_eq!(n3["health_score"], 82);
    assert_eq!(n3["score_breakdown"]["install_failures"], -18);
    assert_eq!(
        health(&app, "node-04").await?["lifecycle"]["state"],
        "installing"
    );

    // events: newest first, paginated, filtered by type
    let page = api
        .get_ok(ADMIN_TOKEN, "/targets/node-01/events?limit=4&offset=0")
        .await?;
    assert_eq!(page["total"], 9);
    assert_eq!(
        strs(&page, "event_type"),
        vec![
            "heartbeat",
            "first_boot",
            "boot_started",
            "install_complete"
        ]
    );
    let last = api
        .get_ok(ADMIN_TOKEN, "/targets/node-01/events?limit=4&offset=8")
        .await?;
    assert_eq!(strs(&last, "event_type"), vec!["boot_started"]);
    assert_eq!(last["data"][0]["message"], "PXE boot");
    assert_eq!(last["data"][0]["metadata"]["hostname"], "rack1-node01");
    let typed = api
        .get_ok(ADMIN_TOKEN, "/targets/node-01/events?type=install_progress")
        .await?;
    assert_eq!(typed["total"], 3);
    let (st, body) = api
        .get(ADMIN_TOKEN, "/targets/node-01/events?event_type=nope")
        .await?;
    assert_eq!((st, &body["error"]["field"]), (400, &json!("event_type")));
    let s = api.get_ok(ADMIN_TOKEN, "/health/summary").await?;
    assert_eq!(s["by_status"], json!({"healthy": 4}));
    assert_eq!(s["active_alerts"], 0);

    // 08:45: node-02 (silent since 08:20) and node-04 (since 08:05) are stale
    app.run_until(45).await?;
    let s = api.get_ok(ADMIN_TOKEN, "/health/summary").await?;
    assert_eq!(s["by_status"], json!({"healthy": 2, "stale": 2}));
    assert_eq!(
        (s["active_alerts"].clone(), s["critical_alerts"].clone()),
        (json!(2), json!(0))
    );
    let n2_alerts = alerts(&app, "target=node-02").await?;
    assert_eq!(kinds(&n2_alerts), vec![("stale".into(), "active".into())]);
    assert_eq!(n2_alerts[0]["severity"], "warning");
    // acknowledge it; twice is a conflict
    let id = n2_alerts[0]["id"].as_str().unwrap_or_default().to_owned();
    let ack = api
        .post_ok(
            ADMIN_TOKEN,
            &format!("/health/alerts/{id}/acknowledge"),
            &json!({"by": "alice"}),
        )
        .await?;
    assert_eq!(ack["status"], "acknowledged");
    assert_eq!(ack["acknowledged_by"], "alice");
    let again = api
        .post(
            ADMIN_TOKEN,
            &format!("/health/alerts/{id}/acknowledge"),
            &json!({}),
        )
        .await?;
    assert_eq!(again.0, 409);
    let s = api.get_ok(ADMIN_TOKEN, "/health/summary").await?;
    assert_eq!(s["active_alerts"], 1, "acknowledged alerts are not active");
    // the alert list reads the store, which the engine writes just after
    // answering: poll briefly
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let acked = alerts(&app, "status=acknowledged").await?;
        if acked.len() == 1 {
            assert_eq!(acked[0]["target"], "node-02");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{acked:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // 09:02: node-04's install (started 08:01) is past the 60 min timeout
    app.run_until(62).await?;
    let stalled = api.get_ok(ADMIN_TOKEN, "/targets/stalled").await?;
    assert_eq!(strs(&stalled, "id"), vec!["node-04"]);
    let n4_open = alerts(&app, "target=node-04&status=active").await?;
    let timeout = n4_open
        .iter()
        .find(|a| a["kind"] == "install_timeout")
        .ok_or("no install_timeout alert")?;
    assert_eq!(timeout["severity"], "critical");
    assert_eq!(health(&app, "node-04").await?["install_attempts"], 1);

    // 09:25: node-02 is offline; its stale alert resolved, not duplicated
    // by the 45 health checks that saw it stale
    app.run_until(85).await?;
    let n2_alerts = alerts(&app, "target=node-02").await?;
    assert_eq!(
        kinds(&n2_alerts),
        vec![
            ("offline".into(), "active".into()),
            ("stale".into(), "resolved".into())
        ]
    );
    let stale = n2_alerts
        .iter()
        .find(|a| a["kind"] == "stale")
        .ok_or("no stale alert")?;
    assert_eq!(stale["acknowledged_by"], "alice");
    let s = api.get_ok(ADMIN_TOKEN, "/health/summary").await?;
    assert_eq!(s["by_status"], json!({"healthy": 2, "offline": 2}));
    assert_eq!(health(&app, "node-02").await?["health_score"], 60);

    // 09:35: node-02's heartbeat resolves the offline alert at once
    app.run_until(95).await?;
    let n2_alerts = alerts(&app, "target=node-02").await?;
    assert_eq!(
        kinds(&n2_alerts),
        vec![
            ("offline".into(), "resolved".into()),
            ("stale".into(), "resolved".into())
        ]
    );
    assert!(n2_alerts.iter().all(|a| a["resolved_at"].is_string()));
    assert_eq!(health(&app, "node-02").await?["health_status"], "healthy");
    // node-01's DHCP lease changed at 08:30
    let n1 = health(&app, "node-01").await?;
    assert_eq!(n1["ip_address"], app::NODE01_NEW_IP);
    assert_eq!(n1["previous_ip_address"], NODES[0].ip);
    assert_eq!(n1["last_ip_change_at"], "2026-01-05T08:30:00Z");

    // 10:05: node-04 timed out twice: offline -40, installs -12 → 48 < 50
    app.run_until(125).await?;
    let n4 = health(&app, "node-04").await?;
    assert_eq!(n4["health_status"], "offline");
    assert_eq!(n4["install_attempts"], 2);
    assert_eq!(n4["health_score"], 48);
    assert_eq!(
        n4["score_breakdown"],
        json!({"staleness": -40, "install_failures": -12, "boot_stability": 0})
    );
    let n4_open = alerts(&app, "target=node-04&status=active").await?;
    assert_eq!(
        kinds(&n4_open),
        vec![
            ("install_timeout".into(), "active".into()),
            ("low_score".into(), "active".into()),
            ("offline".into(), "active".into())
        ]
    );
    assert_eq!(
        strs(&api.get_ok(ADMIN_TOKEN, "/targets/stalled").await?, "id"),
        vec!["node-04"]
    );
    let s = api.get_ok(ADMIN_TOKEN, "/health/summary").await?;
    assert_eq!(s["by_status"], json!({"healthy": 3, "offline": 1}));
    assert_eq!(
        (s["active_alerts"].clone(), s["critical_alerts"].clone()),
        (json!(3), json!(2))
    );

    // snapshots every 5 minutes: node-02's trend, oldest first
    let hist = api
        .get_ok(ADMIN_TOKEN, "/targets/node-02/health/history?hours=3")
        .await?;
    assert_eq!(hist["total"], 26);
    let at = |minute: usize| -> (Value, Value) {
        let s = &hist["data"][minute / 5];
        (s["health_status"].clone(), s["cause"].clone())
    };
    assert_eq!(at(0).0, "healthy");
    assert_eq!(at(40), (json!("degraded"), json!("stale")));
    assert_eq!(at(85), (json!("down"), json!("offline")));
    assert_eq!(at(95).0, "healthy");
    assert_eq!(hist["data"][17]["last_seen_seconds_ago"], 65 * 60);
    let recent = api
        .get_ok(ADMIN_TOKEN, "/targets/node-02/health/history?hours=1")
        .await?;
    assert_eq!(recent["total"], 13);

    app.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_story_survives_a_restart_on_the_same_database() -> R {
    let dir = tempfile::tempdir()?;
    let app = start(&dir).await?;
    app.run_until(62).await?;
    app.shutdown().await;

    // a new process over the same SQLite file: the nodes, their lifecycle
    // and the open alerts are back (the clock restarts at 08:00 here, so
    // only stored facts are compared)
    let app = start(&dir).await?;
    let n3 = health(&app, "node-03").await?;
    assert_eq!(n3["lifecycle"]["state"], "install_failed");
    assert_eq!(n3["install_attempts"], 3);
    let open = alerts(&app, "target=node-04&status=active").await?;
    assert!(
        open.iter().any(|a| a["kind"] == "install_timeout"),
        "{open:?}"
    );
    let events = app
        .api
        .get_ok(ADMIN_TOKEN, "/targets/node-01/events?limit=1")
        .await?;
    assert_eq!(events["total"], 17);
    app.shutdown().await;
    Ok(())
}
