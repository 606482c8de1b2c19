//! A PXE provisioning server's node health (seeds 000 and 001) built on
//! healthcore: engine + SQLite store + the HTTP API on a loopback port.
//!
//! ```sh
//! cargo run --example provisioning_nodes            # tell the story and exit
//! cargo run --example provisioning_nodes -- --serve # then keep serving
//! ```
//!
//! Simulated node agents POST `/report` (the event form and the legacy
//! `installation_status` form); two simulated hours pass in about a second
//! on a manual clock. The story prints what the API answers.

mod app;

use std::net::SocketAddr;

use app::{ADMIN_TOKEN, AGENT_TOKEN, App, Error, NODES};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut serve = false;
    let mut port: u16 = 0;
    let mut db: Option<std::path::PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--serve" => serve = true,
            "--port" => port = args.next().ok_or("--port needs a value")?.parse()?,
            "--db" => db = Some(args.next().ok_or("--db needs a path")?.into()),
            "-h" | "--help" => {
                println!("usage: provisioning_nodes [--serve] [--port N] [--db PATH]");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?} (try --help)").into()),
        }
    }
    let tmp = tempfile::tempdir()?;
    let db = db.unwrap_or_else(|| tmp.path().join("provisioning.db"));
    let app = App::start(&db, SocketAddr::from(([127, 0, 0, 1], port))).await?;
    println!("healthcore example: node health for a PXE provisioning server (seeds 000 + 001)");
    println!(
        "API {} (SQLite {}), simulated clock from {}\n",
        app.api.base(),
        db.display(),
        app::epoch().format("%Y-%m-%d %H:%M UTC")
    );
    story(&app).await?;
    if serve {
        println!(
            "\nServing on {} (clock now runs in real time). Try:",
            app.api.base()
        );
        println!(
            "  curl -H 'Authorization: Bearer {ADMIN_TOKEN}' {}/health/summary",
            app.api.base()
        );
        println!(
            "  curl -H 'Authorization: Bearer {AGENT_TOKEN}' -H 'Content-Type: application/json' \\\n       -d '{{\"mac_address\":\"{}\",\"event\":\"heartbeat\"}}' {}/report",
            NODES[3].mac,
            app.api.base()
        );
        app.serve_forever().await;
    }
    app.shutdown().await;
    Ok(())
}

fn hhmm(app: &App) -> String {
    let m = app.minute();
    format!("[{:02}:{:02}]", 8 + m / 60, m % 60)
}

async fn play(app: &App, until: u32, heading: &str) -> Result<(), Error> {
    println!("── {heading}");
    let said = app.run_until(until).await?;
    let mut last = String::new();
    for (node, msg) in said {
        if msg == "Heartbeat received" {
            continue;
        }
        let line = format!("   {node}: {msg}");
        if line != last {
            println!("{line}");
        }
        last = line;
    }
    Ok(())
}

async fn summary(app: &App) -> Result<(), Error> {
    let s = app.api.get_ok(ADMIN_TOKEN, "/health/summary").await?;
    println!(
        "{} summary: {} nodes {} avg score {} | {} active alerts ({} critical)",
        hhmm(app),
        s["total_targets"],
        s["by_status"],
        s["average_score"],
        s["active_alerts"],
        s["critical_alerts"]
    );
    Ok(())
}

async fn nodes(app: &App) -> Result<(), Error> {
    let list = app.api.get_ok(ADMIN_TOKEN, "/targets?kind=node").await?;
    for t in list["data"].as_array().into_iter().flatten() {
        println!(
            "   {:8} {:15} lifecycle {:15} health {:8} score {}",
            t["id"].as_str().unwrap_or("?"),
            t["mac_address"].as_str().unwrap_or("?"),
            t["lifecycle_state"].as_str().unwrap_or("?"),
            t["health_status"].as_str().unwrap_or("?"),
            t["health_score"]
        );
    }
    Ok(())
}

async fn alerts(app: &App, query: &str) -> Result<Vec<Value>, Error> {
    let v = app
        .api
        .get_ok(ADMIN_TOKEN, &format!("/health/alerts?{query}"))
        .await?;
    let items = v["data"].as_array().cloned().unwrap_or_default();
    for a in &items {
        println!(
            "   alert {:15} {:8} {:12} {:8} {}",
            a["kind"].as_str().unwrap_or("?"),
            a["target"].as_str().unwrap_or("?"),
            a["status"].as_str().unwrap_or("?"),
            a["severity"].as_str().unwrap_or("?"),
            a["message"].as_str().unwrap_or("")
        );
    }
    Ok(items)
}

async fn story(app: &App) -> Result<(), Error> {
    summary(app).await?;
    play(app, 0, "08:00 the nodes PXE-boot and report boot_started").await?;
    play(
        app,
        20,
        "08:01-08:20 installs: node-02 speaks the legacy form, node-03 fails, node-04 hangs",
    )
    .await?;
    nodes(app).await?;
    let ev = app
        .api
        .get_ok(ADMIN_TOKEN, "/targets/node-01/events?limit=3")
        .await?;
    let types: Vec<&str> = ev["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["event_type"].as_str())
        .collect();
    println!(
        "{} node-01 has {} events; newest 3: {types:?}",
        hhmm(app),
        ev["total"]
    );
    summary(app).await?;

    play(
        app,
        45,
        "08:21-08:45 node-02 falls silent; node-04 never came back",
    )
    .await?;
    summary(app).await?;
    let open = alerts(app, "status=active").await?;
    if let Some(stale) = open
        .iter()
        .find(|a| a["target"] == "node-02" && a["kind"] == "stale")
    {
        let id = stale["id"].as_str().unwrap_or_default();
        let a = app
            .api
            .post_ok(
                ADMIN_TOKEN,
                &format!("/health/alerts/{id}/acknowledge"),
                &json!({"by": "alice"}),
            )
            .await?;
        println!(
            "{} alice acknowledges node-02's stale alert: {}",
            hhmm(app),
            a["status"]
        );
    }

    play(
        app,
        62,
        "08:46-09:02 node-04's install passes the 60 min timeout",
    )
    .await?;
    let stalled = app.api.get_ok(ADMIN_TOKEN, "/targets/stalled").await?;
    let ids: Vec<&str> = stalled["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["id"].as_str())
        .collect();
    println!("{} stalled installs: {ids:?}", hhmm(app));
    alerts(app, "target=node-04&status=active").await?;

    play(
        app,
        85,
        "09:03-09:25 node-02 has been silent for over an hour",
    )
    .await?;
    alerts(app, "target=node-02").await?;
    summary(app).await?;

    play(app, 95, "09:26-09:35 node-02 is back").await?;
    alerts(app, "target=node-02").await?;
    let h = app
        .api
        .get_ok(ADMIN_TOKEN, "/targets/node-01/health")
        .await?;
    println!(
        "{} node-01: score {} {} boots {}, ip {} (was {}, changed at {})",
        hhmm(app),
        h["health_score"],
        h["score_breakdown"],
        h["boot_count"],
        h["ip_address"],
        h["previous_ip_address"],
        h["last_ip_change_at"]
    );

    play(app, 125, "09:36-10:05 node-04 times out a second time").await?;
    let h = app
        .api
        .get_ok(ADMIN_TOKEN, "/targets/node-04/health")
        .await?;
    println!(
        "{} node-04: {} score {} {} after {} install attempts",
        hhmm(app),
        h["health_status"],
        h["health_score"],
        h["score_breakdown"],
        h["install_attempts"]
    );
    alerts(app, "target=node-04&status=active").await?;
    summary(app).await?;
    let hist = app
        .api
        .get_ok(ADMIN_TOKEN, "/targets/node-02/health/history?hours=3")
        .await?;
    let mut trail: Vec<String> = Vec::new();
    for s in hist["data"].as_array().into_iter().flatten() {
        let st = match (s["health_status"].as_str(), s["cause"].as_str()) {
            (Some("degraded"), Some("stale")) => "stale",
            (Some("down"), Some("offline")) => "offline",
            (Some(st), _) => st,
            _ => "?",
        };
        if trail.last().map(String::as_str) != Some(st) {
            trail.push(st.to_owned());
        }
    }
    println!(
        "{} node-02's {} snapshots trace: {}",
        hhmm(app),
        hist["total"],
        trail.join(" → ")
    );
    Ok(())
}
