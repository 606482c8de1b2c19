//! End-to-end test of `examples/vps_breaker` (seed 003): the example's lab
//! (a real sshd on loopback, SSH checks and SSH restarts, SQLite, the
//! healthcore-http API, a webhook receiver) driven through its story, every
//! outcome asserted through HTTP.
//!
//! Needs OpenSSH's `sshd` and `ssh-keygen` (`bash .ci/probes-deps.sh`);
//! without them the test says loudly that it skipped, or fails when
//! `HEALTHCORE_REQUIRE_SYSTEM_DEPS=1` (as in CI).

#[path = "../examples/vps_breaker/app.rs"]
#[allow(dead_code)]
mod app;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use app::{Lab, LabOptions, TARGET};
use chrono::{DateTime, Utc};
use serde_json::Value;

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a timestamp: {v}"))
}

async fn health(lab: &Lab) -> Value {
    lab.api_get(&format!("/targets/{TARGET}/health"))
        .await
        .expect("GET /targets/{id}/health")
}

fn check(h: &Value) -> &Value {
    &h["checks"][0]
}

/// Heal events, oldest first.
async fn heal_history(lab: &Lab) -> Vec<Value> {
    let v = lab
        .api_get(&format!("/targets/{TARGET}/heal/history?limit=100"))
        .await
        .expect("GET /targets/{id}/heal/history");
    let mut events = v["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(v["total"], events.len(), "history fits one page");
    events.reverse();
    events
}

/// Attempts made (restarts that ran), as opposed to skipped decisions.
fn attempts(events: &[Value]) -> Vec<&Value> {
    events.iter().filter(|e| e["result"] != "skipped").collect()
}

/// The target's alerts by kind → statuses.
async fn alerts(lab: &Lab) -> BTreeMap<String, Vec<String>> {
    let v = lab
        .api_get(&format!("/health/alerts?target={TARGET}&limit=100"))
        .await
        .expect("GET /health/alerts");
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for a in v["data"].as_array().cloned().unwrap_or_default() {
        out.entry(a["kind"].as_str().unwrap().to_owned())
            .or_default()
            .push(a["status"].as_str().unwrap().to_owned());
    }
    out
}

/// Polls `f` over HTTP until it holds (alerts and heal events are written
/// by the engine's effects task, a moment after the deciding check).
async fn eventually<F, Fut>(what: &str, f: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    while !f().await {
        assert!(tokio::time::Instant::now() < until, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The lifetime counters equal what the store holds: every result is
/// stored, so `GET /targets/{id}/results` counts the same checks and
/// failures as the counters of `GET /targets/{id}/health` (polled: a result
/// reaches the store a moment after the counters move).
async fn counters_match_stored_results(lab: &Lab) {
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let h = health(lab).await;
        let r = lab
            .api_get(&format!("/targets/{TARGET}/results?hours=1"))
            .await
            .expect("GET /targets/{id}/results");
        let c = check(&h);
        if c["total_checks"] == r["total_checks"] && c["total_failures"] == r["unhealthy_checks"] {
            return;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "lifetime counters {c} differ from the stored results {}",
            json_without_results(&r)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn json_without_results(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("results");
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vps_breaker_story_through_the_api() {
    use healthcore::testkit::system;
    if !system::program_available(app::SSHD) || !system::program_available("ssh-keygen") {
        system::skip_missing(
            "vps_breaker_story_through_the_api",
            "OpenSSH (sshd and ssh-keygen: bash .ci/probes-deps.sh)",
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("hc-vps-breaker-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let opts = LabOptions::new(&dir);
    let cooldown = chrono::Duration::from_std(opts.breaker_cooldown).unwrap();
    let mut lab = Lab::start(opts)
        .await
        .unwrap_or_else(|e| panic!("the example's lab did not start: {e}"));

    // ---- 1. up ----------------------------------------------------------
    lab.phase_up().await.unwrap();
    let h = health(&lab).await;
    assert_eq!(h["status"], "healthy", "{h}");
    assert_eq!(check(&h)["breaker"], "closed");
    assert_eq!(check(&h)["last_outcome"], "pass");
    assert!(check(&h)["total_checks"].as_u64().unwrap() >= 2);
    let base_failures = check(&h)["total_failures"].as_u64().unwrap();
    let base_recoveries = check(&h)["total_recoveries"].as_u64().unwrap();
    // no restart while healthy (a restart only follows a failed check)
    let base_attempts = attempts(&heal_history(&lab).await).len();

    // ---- 2. crash: 3 failed restarts trip the breaker --------------------
    lab.phase_crash().await.unwrap();
    let h = health(&lab).await;
    let c = check(&h);
    assert_eq!(h["status"], "down", "{h}");
    // reachable but the service is bad: unhealthy, not unreachable
    assert_eq!(h["cause"], "failing");
    assert_eq!(c["last_outcome"], "fail");
    assert_eq!(c["breaker"], "open", "{h}");
    assert_eq!(c["breaker_detail"]["trips"], 1);
    let opened_first = time(&c["breaker_detail"]["opened_at"]);
    assert_eq!(
        h["heal"]["attempts"].as_u64().unwrap() as usize,
        3 + base_attempts
    );
    let events = heal_history(&lab).await;
    let tries = attempts(&events);
    assert_eq!(tries.len(), base_attempts + 3, "{events:#?}");
    for e in &tries[base_attempts..] {
        assert_eq!(e["action"], "restart");
        assert_eq!(e["result"], "failed", "{e}");
        assert!(
            e["error_message"]
                .as_str()
                .unwrap()
                .contains("Job for appsvc.service failed"),
            "the restart ran on the VPS over SSH: {e}"
        );
        assert!(time(&e["triggered_at"]) <= opened_first);
    }
    // the checks after the trip restarted nothing: one skip, breaker_open
    let after_trip: Vec<&Value> = events
        .iter()
        .filter(|e| time(&e["triggered_at"]) > opened_first)
        .collect();
    assert!(!after_trip.is_empty(), "{events:#?}");
    assert!(after_trip.iter().all(|e| e["result"] == "skipped"));
    assert!(
        after_trip[0]["reason"]
            .as_str()
            .unwrap()
            .contains("circuit breaker open"),
        "{after_trip:#?}"
    );
    let failures_while_open = c["total_failures"].as_u64().unwrap() - base_failures;
    assert!(failures_while_open >= 5, "3 before the trip, 2 after: {h}");
    eventually("down and breaker_open alerts", || async {
        let a = alerts(&lab).await;
        a.get("down") == Some(&vec!["active".to_owned()])
            && a.get("breaker_open") == Some(&vec!["active".to_owned()])
    })
    .await;

    // ---- 3. half-open after the cooldown; attempts exhausted -------------
    lab.phase_exhausted().await.unwrap();
    let h = health(&lab).await;
    let c = check(&h);
    assert_eq!(h["heal"]["exhausted"], true, "{h}");
    // the half-open check failed: open again, but not a new trip
    assert_eq!(c["breaker_detail"]["trips"], 1, "{h}");
    assert!(time(&c["breaker_detail"]["opened_at"]) >= opened_first + cooldown);
    let events = heal_history(&lab).await;
    let tries = attempts(&events);
    assert_eq!(
        tries.len(),
        base_attempts + 4,
        "one half-open trial: {events:#?}"
    );
    // the breaker let the trial through only once its cooldown was over,
    // and the failed trial re-opened it
    let trial = &tries[base_attempts + 3];
    assert_eq!(trial["result"], "failed", "{trial}");
    assert!(time(&trial["triggered_at"]) >= opened_first + cooldown);
    let exhausted = events
        .iter()
        .find(|e| {
            e["reason"]
                .as_str()
                .unwrap()
                .contains("max attempts reached")
        })
        .unwrap_or_else(|| panic!("{events:#?}"));
    assert!(time(&exhausted["triggered_at"]) >= time(&trial["triggered_at"]));
    eventually("heal_exhausted alert", || async {
        alerts(&lab).await.get("heal_exhausted") == Some(&vec!["active".to_owned()])
    })
    .await;

    // ---- 4. a new engine on the same SQLite file -------------------------
    // one more failing check while the breaker cools down: counters move
    // without a transition (state is written on transitions; the stop
    // must write the rest)
    lab.wait_checks(1).await.unwrap();
    let before = health(&lab).await;
    let before_alerts = alerts(&lab).await;
    let api_before = lab.api_url();
    lab.restart_engine().await.unwrap();
    assert_ne!(lab.api_url(), api_before, "a new API server answers");
    let after = health(&lab).await;
    let (b, a) = (check(&before), check(&after));
    // the breaker is not reset: same trips, same opening, not closed
    assert_eq!(a["breaker_detail"]["trips"], 1, "{after}");
    assert_eq!(
        a["breaker_detail"]["opened_at"],
        b["breaker_detail"]["opened_at"]
    );
    // open, or half-open once its cooldown ran out (a failing check no
    // longer re-opens it: the trial restarts are used up)
    assert_ne!(a["breaker_detail"]["state"], "closed", "{after}");
    assert_ne!(a["breaker"], "closed");
    assert_eq!(after["heal"], before["heal"]);
    assert_eq!(after["status"], "down");
    // lifetime counters continue from where they were (at most one check
    // of the new engine may have run already)
    for k in ["total_checks", "total_failures"] {
        let (x, y) = (b[k].as_u64().unwrap(), a[k].as_u64().unwrap());
        assert!(y == x || y == x + 1, "{k}: {x} before, {y} after");
    }
    assert_eq!(a["total_recoveries"], b["total_recoveries"]);
    assert_eq!(alerts(&lab).await, before_alerts, "open alerts restored");
    counters_match_stored_results(&lab).await;

    // the open breaker half-opens on the new engine too: seen through the
    // API (it cycles open 4.5 s → half-open until the next failing check)
    let until = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let h = health(&lab).await;
        if check(&h)["breaker"] == "half_open" {
            assert_eq!(check(&h)["breaker_detail"]["trips"], 1);
            break;
        }
        assert!(tokio::time::Instant::now() < until, "never half-open: {h}");
        tokio::time::sleep(Duration::from_millis(40)).await;
    }

    // ---- 5. repaired by hand: a passing check closes the breaker ---------
    let (manual, _) = lab.phase_repair().await.unwrap();
    assert!(
        matches!(manual, healthcore::heal::HealOutcome::Success { .. }),
        "{manual:?}"
    );
    let h = health(&lab).await;
    let c = check(&h);
    assert_eq!(h["status"], "healthy", "{h}");
    assert_eq!(c["breaker"], "closed");
    assert_eq!(c["breaker_detail"]["trips"], 1);
    assert_eq!(c["total_recoveries"].as_u64().unwrap(), base_recoveries + 1);
    assert_eq!(
        attempts(&heal_history(&lab).await).len(),
        base_attempts + 4,
        "the repair was the operator's, not the healer's"
    );
    eventually("down and breaker_open resolved", || async {
        let a = alerts(&lab).await;
        a.get("down") == Some(&vec!["resolved".to_owned()])
            && a.get("breaker_open") == Some(&vec!["resolved".to_owned()])
            && a.get("heal_exhausted") == Some(&vec!["active".to_owned()])
    })
    .await;
    let reset = lab
        .api_post(&format!("/targets/{TARGET}/heal/reset"))
        .await
        .unwrap();
    assert_eq!(reset["reset"], true);
    eventually("heal_exhausted resolved by the reset", || async {
        alerts(&lab).await.get("heal_exhausted") == Some(&vec!["resolved".to_owned()])
    })
    .await;
    assert_eq!(health(&lab).await["heal"]["attempts"], 0);

    // ---- 6. host unreachable: not healed ---------------------------------
    lab.phase_host_away().await.unwrap();
    let h = health(&lab).await;
    assert_eq!(check(&h)["last_outcome"], "unreachable", "{h}");
    assert_eq!(h["cause"], "unreachable");
    assert_ne!(h["status"], "healthy");
    eventually("an unreachable skip in the heal history", || async {
        heal_history(&lab).await.last().is_some_and(|e| {
            e["result"] == "skipped" && e["reason"].as_str().unwrap().contains("unreachable")
        })
    })
    .await;
    assert_eq!(
        health(&lab).await["heal"]["attempts"],
        0,
        "nothing restarted"
    );
    lab.phase_host_back().await.unwrap();
    let h = health(&lab).await;
    let c = check(&h);
    assert_eq!(h["status"], "healthy", "{h}");
    let events = heal_history(&lab).await;
    assert_eq!(attempts(&events).len(), base_attempts + 4, "{events:#?}");

    // ---- 7. lifetime counters ---------------------------------------------
    assert_eq!(c["total_recoveries"].as_u64().unwrap(), base_recoveries + 2);
    let checks = c["total_checks"].as_u64().unwrap();
    let failures = c["total_failures"].as_u64().unwrap() - base_failures;
    // 3 failed restarts' checks + ≥2 while open + the half-open one
    // + ≥1 more before the repair, and ≥2 unreachable
    assert!(failures >= 3 + 2 + 1 + 2, "{h}");
    counters_match_stored_results(&lab).await;
    // passes: 2 while up, 1 after the repair, 1 after the host came back
    let passes = checks - c["total_failures"].as_u64().unwrap();
    assert!(passes >= 4, "{h}");

    // ---- 8. notifications only on transitions ------------------------------
    let expected: BTreeSet<(String, String)> = [
        ("firing", "down"),
        ("firing", "breaker_open"),
        ("firing", "heal_exhausted"),
        ("resolved", "down"),
        ("resolved", "breaker_open"),
        ("resolved", "heal_exhausted"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_owned(), b.to_owned()))
    .collect();
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    let got = loop {
        let got = lab.panel_notifications().await.unwrap();
        let kinds: BTreeSet<(String, String)> = got
            .iter()
            .map(|n| {
                (
                    n["kind"].as_str().unwrap().to_owned(),
                    n["alert_kind"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        if expected.is_subset(&kinds) || tokio::time::Instant::now() > until {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // one firing and one resolved per alert, whatever the number of checks
    // (and none re-sent by the restarted engine)
    let mut per_alert: BTreeMap<(String, String), u32> = BTreeMap::new();
    for n in &got {
        *per_alert
            .entry((
                n["alert_id"].as_str().unwrap().to_owned(),
                n["kind"].as_str().unwrap().to_owned(),
            ))
            .or_default() += 1;
    }
    assert!(per_alert.values().all(|&n| n == 1), "{got:#?}");
    let count = |kind: &str, alert: &str| {
        got.iter()
            .filter(|n| n["kind"] == kind && n["alert_kind"] == alert)
            .count()
    };
    for (kind, alert) in &expected {
        assert_eq!(count(kind, alert), 1, "{kind} {alert}: {got:#?}");
    }
    assert!(
        (got.len() as u64) < checks / 2,
        "{} notifications",
        got.len()
    );

    lab.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
