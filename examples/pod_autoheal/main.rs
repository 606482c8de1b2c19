//! Pod health checks and auto-healing for a multi-tenant cloud (seed 002)
//! built on healthcore: engine + SQLite store + the HTTP API on a loopback
//! port, with real loopback pods.
//!
//! ```sh
//! cargo run --example pod_autoheal            # tell the story and exit
//! cargo run --example pod_autoheal -- --serve # then keep serving
//! ```
//!
//! Two tenants, acme and globex, each register two pods with `tcp` and
//! `http` checks and a heal policy, through the API with their own tokens.
//! acme-web's service dies and its restart brings it back; globex-worker
//! is redeployed broken, so its restarts fail until the policy's attempts
//! are used up. The story prints what the API answers, including what
//! each tenant can and cannot see.

mod app;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use app::{ACME_TOKEN, ADMIN_TOKEN, App, Error, GLOBEX_TOKEN};
use serde_json::Value;

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
                println!("usage: pod_autoheal [--serve] [--port N] [--db PATH]");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?} (try --help)").into()),
        }
    }
    let tmp = tempfile::tempdir()?;
    let db = db.unwrap_or_else(|| tmp.path().join("pods.db"));
    let app = App::start(&db, SocketAddr::from(([127, 0, 0, 1], port))).await?;
    println!("healthcore example: pod health checks and auto-healing, two tenants (seed 002)");
    println!("API {} (SQLite {})\n", app.api.base(), db.display());
    let result = story(&app).await;
    if result.is_ok() && serve {
        println!("\nServing on {}. Try:", app.api.base());
        println!(
            "  curl -H 'Authorization: Bearer {ACME_TOKEN}' {}/health/overview",
            app.api.base()
        );
        println!(
            "  curl -H 'Authorization: Bearer {GLOBEX_TOKEN}' {}/targets/globex-worker/heal/history",
            app.api.base()
        );
        std::future::pending::<()>().await;
    }
    app.shutdown().await;
    result
}

fn row(e: &Value) -> String {
    format!(
        "{} {} ({} → {}): {}{}",
        e["action"].as_str().unwrap_or("?"),
        e["result"].as_str().unwrap_or("?"),
        e["previous_status"].as_str().unwrap_or("-"),
        e["new_status"].as_str().unwrap_or("-"),
        e["reason"].as_str().unwrap_or(""),
        e["error_message"]
            .as_str()
            .map(|m| format!(" — {m}"))
            .unwrap_or_default()
    )
}

async fn overview(app: &App, who: &str, token: &str) -> Result<(), Error> {
    let o = app.api.get_ok(token, "/health/overview").await?;
    let rows: Vec<String> = o["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            format!(
                "{} {}",
                r["target"].as_str().unwrap_or("?"),
                r["status"].as_str().unwrap_or("?")
            )
        })
        .collect();
    println!("   {who:6} overview {}: {}", o["summary"], rows.join(", "));
    Ok(())
}

async fn story(app: &App) -> Result<(), Error> {
    for p in app.pods.values() {
        println!(
            "{} pod {:13} service 127.0.0.1:{}  health {}",
            app.t(),
            p.id,
            p.service_port,
            p.health_url()
        );
    }
    app.provision().await?;
    println!(
        "{} each tenant registered its pods (tcp + http checks every {}) and its heal policy",
        app.t(),
        app::INTERVAL
    );
    app.all_healthy(Duration::from_secs(15)).await?;
    println!("{} every pod is healthy", app.t());
    overview(app, "acme", ACME_TOKEN).await?;
    overview(app, "globex", GLOBEX_TOKEN).await?;

    app.pod("acme-web")?.kill().await;
    println!(
        "{} acme-web's service process dies (its port now refuses)",
        app.t()
    );
    app.pod("globex-worker")?.break_config();
    println!(
        "{} globex-worker is redeployed with a broken config (it listens, /healthz says 503)",
        app.t()
    );

    // follow both heal histories until globex-worker's policy gives up
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let watch = [("acme-web", ACME_TOKEN), ("globex-worker", GLOBEX_TOKEN)];
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut exhausted = false;
        for (id, token) in watch {
            let mut events = app.heal_history(token, id).await?;
            events.reverse();
            for e in events {
                let key = format!(
                    "{}{}",
                    e["id"].as_str().unwrap_or(""),
                    e["result"].as_str().unwrap_or("")
                );
                if e["result"] == "pending" || !seen.insert(key) {
                    continue;
                }
                println!("{} heal {id}: {}", app.t(), row(&e));
                if e["reason"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("max attempts"))
                {
                    exhausted = true;
                }
            }
        }
        if exhausted || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "{} restarts: acme-web {}, globex-worker {}",
        app.t(),
        app.pod("acme-web")?.restarts(),
        app.pod("globex-worker")?.restarts()
    );
    for (id, token) in watch {
        let h = app
            .api
            .get_ok(token, &format!("/targets/{id}/health"))
            .await?;
        println!(
            "{} {id}: {} — heal state {}",
            app.t(),
            h["health_status"],
            h["heal"]
        );
        let alerts = app
            .api
            .get_ok(token, &format!("/health/alerts?target={id}"))
            .await?;
        for a in alerts["data"].as_array().into_iter().flatten() {
            println!(
                "   alert {:15} {:9} {}",
                a["kind"].as_str().unwrap_or("?"),
                a["status"].as_str().unwrap_or("?"),
                a["message"].as_str().unwrap_or("")
            );
        }
    }

    println!("── tenant isolation");
    overview(app, "acme", ACME_TOKEN).await?;
    overview(app, "globex", GLOBEX_TOKEN).await?;
    overview(app, "admin", ADMIN_TOKEN).await?;
    for path in [
        "/targets/globex-worker/health",
        "/targets/globex-worker/heal/history",
        "/heal/policies/globex-restart",
    ] {
        let (status, _) = app.api.get(ACME_TOKEN, path).await?;
        println!("   acme GET {path} → {status}");
    }
    let policies = app.api.get_ok(ACME_TOKEN, "/heal/policies").await?;
    let ids: Vec<&str> = policies["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["id"].as_str())
        .collect();
    println!("   acme GET /heal/policies → {ids:?}");
    Ok(())
}
