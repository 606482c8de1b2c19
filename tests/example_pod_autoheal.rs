//! End-to-end test of `examples/pod_autoheal` (seed 002): the example's
//! platform (engine + SQLite file + HTTP API on a loopback port, real
//! loopback pods, the restart healer) is started as the example starts it,
//! and every outcome is asserted through the HTTP API (and, for the pods
//! themselves, by connecting to them).

#[path = "../examples/pod_autoheal/app.rs"]
mod app;

use std::net::SocketAddr;
use std::time::Duration;

use app::{ACME_TOKEN, ADMIN_TOKEN, App, GLOBEX_TOKEN};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

type R = Result<(), app::Error>;

fn ids(v: &Value, field: &str) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e[field].as_str().map(str::to_owned))
        .collect()
}

fn at(e: &Value, field: &str) -> Result<DateTime<Utc>, app::Error> {
    Ok(e[field].as_str().ok_or("no timestamp")?.parse()?)
}

fn attempts(events: &[Value]) -> Vec<&Value> {
    let mut v: Vec<&Value> = events.iter().filter(|e| e["result"] != "skipped").collect();
    v.sort_by_key(|e| e["triggered_at"].as_str().map(str::to_owned));
    v
}

fn has_reason(events: &[Value], prefix: &str) -> bool {
    events.iter().any(|e| {
        e["result"] == "skipped" && e["reason"].as_str().is_some_and(|r| r.starts_with(prefix))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tenants_heal_and_isolation_through_the_api() -> R {
    let dir = tempfile::tempdir()?;
    let app = App::start(
        &dir.path().join("pods.db"),
        SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await?;
    let api = app.api.clone();
    app.provision().await?;
    app.all_healthy(Duration::from_secs(10)).await?;

    // ---- tenant isolation -------------------------------------------------
    for (token, mine, theirs) in [
        (ACME_TOKEN, ["acme-api", "acme-web"], "globex-web"),
        (GLOBEX_TOKEN, ["globex-web", "globex-worker"], "acme-web"),
    ] {
        let list = api.get_ok(token, "/targets").await?;
        assert_eq!(ids(&list["data"], "id"), mine);
        assert_eq!(list["total"], 2);
        let o = api.get_ok(token, "/health/overview").await?;
        assert_eq!(o["summary"]["total"], 2);
        assert_eq!(o["summary"]["healthy"], 2);
        assert_eq!(ids(&o["targets"], "target"), mine);
        assert_eq!(
            api.get_ok(token, "/health/summary").await?["total_targets"],
            2
        );
        // another tenant's pod does not exist for this token, read or write
        for path in [
            format!("/targets/{theirs}"),
            format!("/targets/{theirs}/health"),
            format!("/targets/{theirs}/checks"),
            format!("/targets/{theirs}/heal/history"),
        ] {
            let (status, body) = api.get(token, &path).await?;
            assert_eq!(status, 404, "{path}: {body}");
        }
    }
    let admin = api.get_ok(ADMIN_TOKEN, "/health/overview").await?;
    assert_eq!(admin["summary"]["total"], 4);
    let (status, _) = api.get("not-a-token", "/targets").await?;
    assert_eq!(status, 401);
    assert!(
        api.send_ok(
            reqwest::Method::POST,
            ACME_TOKEN,
            "/targets/globex-web/heal/reset",
            &json!({})
        )
        .await
        .is_err_and(|e| e.to_string().contains("404"))
    );
    // a tenant cannot write into another tenant
    let err = api
        .send_ok(
            reqwest::Method::POST,
            ACME_TOKEN,
            "/targets",
            &json!({"id": "sneaky", "name": "sneaky", "tenant": "globex"}),
        )
        .await
        .err()
        .ok_or("creating a target in another tenant succeeded")?;
    assert!(err.to_string().contains("422"), "{err}");
    // each tenant sees only its own heal policy
    let policies = api.get_ok(ACME_TOKEN, "/heal/policies").await?;
    assert_eq!(ids(&policies["data"], "id"), ["acme-restart"]);
    assert_eq!(policies["data"][0]["cooldown"], "10m");
    let (status, _) = api.get(ACME_TOKEN, "/heal/policies/globex-restart").await?;
    assert_eq!(status, 404);
    let g = api
        .get_ok(GLOBEX_TOKEN, "/heal/policies/globex-restart")
        .await?;
    assert_eq!(g["max_attempts"], app::GLOBEX_MAX_ATTEMPTS);

    // ---- incidents ----------------------------------------------------------
    let web = app.pod("acme-web")?.clone();
    let worker = app.pod("globex-worker")?.clone();
    web.kill().await;
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", web.service_port))
            .await
            .is_err(),
        "the killed service still accepts"
    );
    worker.break_config();

    // acme-web: one restart brings it back
    let web_events = app
        .until(Duration::from_secs(10), "acme-web healed", || async {
            let ev = app.heal_history(ACME_TOKEN, "acme-web").await?;
            Ok(ev.iter().any(|e| e["result"] == "success").then_some(ev))
        })
        .await?;
    let done = attempts(&web_events);
    assert_eq!(done.len(), 1, "{web_events:?}");
    let e = done[0];
    assert_eq!(e["action"], "restart");
    assert_eq!(e["policy_id"], "acme-restart");
    assert_eq!(e["reason"], "3 consecutive failures");
    assert_eq!(e["previous_status"], "down");
    assert_eq!(e["new_status"], "healthy");
    assert!(at(e, "completed_at")? >= at(e, "triggered_at")?);
    // the restarted service listens on the same port again
    tokio::net::TcpStream::connect(("127.0.0.1", web.service_port)).await?;
    let h = api.get_ok(ACME_TOKEN, "/targets/acme-web/health").await?;
    assert_eq!(h["health_status"], "healthy");
    assert_eq!(h["heal"]["attempts"], 1);
    let down = app
        .until(
            Duration::from_secs(5),
            "acme-web's down alert resolved",
            || async {
                let v = api
                    .get_ok(ACME_TOKEN, "/health/alerts?target=acme-web")
                    .await?;
                let a = v["data"].as_array().cloned().unwrap_or_default();
                Ok((a.len() == 1 && a[0]["status"] == "resolved").then_some(a))
            },
        )
        .await?;
    assert_eq!(down[0]["kind"], "down");

    // globex-worker: two failed restarts, cooldown between them, then the
    // policy gives up and says so
    let worker_events = app
        .until(
            Duration::from_secs(15),
            "globex-worker exhausted",
            || async {
                let ev = app.heal_history(GLOBEX_TOKEN, "globex-worker").await?;
                Ok(has_reason(&ev, "max attempts reached (2 of 2)").then_some(ev))
            },
        )
        .await?;
    let done = attempts(&worker_events);
    assert_eq!(done.len(), 2, "{worker_events:?}");
    for e in &done {
        assert_eq!(e["result"], "failed");
        assert_eq!(e["previous_status"], "down");
        assert!(
            e["error_message"]
                .as_str()
                .is_some_and(|m| m.contains("/healthz is not OK")),
            "{e}"
        );
    }
    let (first, second) = (at(done[0], "triggered_at")?, at(done[1], "triggered_at")?);
    assert!(
        second - first >= chrono::Duration::milliseconds(app::GLOBEX_COOLDOWN_MS),
        "second attempt {second} came within the cooldown after {first}"
    );
    let cooldown_skip = worker_events
        .iter()
        .find(|e| {
            e["result"] == "skipped"
                && e["reason"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("in cooldown"))
        })
        .ok_or("no cooldown skip recorded")?;
    let skipped_at = at(cooldown_skip, "triggered_at")?;
    assert!(first <= skipped_at && skipped_at <= second);
    let alerts = app
        .until(Duration::from_secs(5), "heal_exhausted alert", || async {
            let v = api
                .get_ok(
                    GLOBEX_TOKEN,
                    "/health/alerts?target=globex-worker&status=active",
                )
                .await?;
            let kinds = ids(&v["data"], "kind");
            Ok(kinds.iter().any(|k| k == "heal_exhausted").then_some(kinds))
        })
        .await?;
    assert!(alerts.contains(&"down".to_owned()), "{alerts:?}");
    // acme's token sees none of globex's alerts
    let acme_alerts = api.get_ok(ACME_TOKEN, "/health/alerts").await?;
    assert!(
        ids(&acme_alerts["data"], "target")
            .iter()
            .all(|t| t.starts_with("acme-")),
        "{acme_alerts}"
    );

    // max attempts hold while the pod keeps failing
    let failures_now = |v: &Value| -> u64 {
        v["checks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["id"] == "http")
            .filter_map(|c| c["consecutive_failures"].as_u64())
            .next()
            .unwrap_or(0)
    };
    let before = failures_now(
        &api.get_ok(GLOBEX_TOKEN, "/targets/globex-worker/health")
            .await?,
    );
    app.until(
        Duration::from_secs(10),
        "two more failed checks",
        || async {
            let v = api
                .get_ok(GLOBEX_TOKEN, "/targets/globex-worker/health")
                .await?;
            Ok((failures_now(&v) >= before + 2).then_some(()))
        },
    )
    .await?;
    let later = app.heal_history(GLOBEX_TOKEN, "globex-worker").await?;
    assert_eq!(attempts(&later).len(), 2, "{later:?}");
    let h = api
        .get_ok(GLOBEX_TOKEN, "/targets/globex-worker/health")
        .await?;
    assert_eq!(h["heal"]["exhausted"], true);
    assert_eq!(h["health_status"], "down");

    // globex's operator resets the attempts: healing resumes
    api.send_ok(
        reqwest::Method::POST,
        GLOBEX_TOKEN,
        "/targets/globex-worker/heal/reset",
        &json!({}),
    )
    .await?;
    app.until(
        Duration::from_secs(10),
        "a third restart after the reset",
        || async {
            let ev = app.heal_history(GLOBEX_TOKEN, "globex-worker").await?;
            Ok((attempts(&ev).len() == 3).then_some(()))
        },
    )
    .await?;
    let v = api
        .get_ok(GLOBEX_TOKEN, "/health/alerts?target=globex-worker")
        .await?;
    let exhausted: Vec<&Value> = v["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["kind"] == "heal_exhausted")
        .collect();
    assert_eq!(exhausted.len(), 1, "{v}");
    assert_eq!(exhausted[0]["status"], "resolved", "the reset clears it");

    app.shutdown().await;
    Ok(())
}
