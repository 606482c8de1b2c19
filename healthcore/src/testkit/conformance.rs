//! The store conformance suite: one public async function per behaviour,
//! each taking a fresh store. Run it with
//! [`store_conformance!`](crate::store_conformance).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use crate::alert::{Alert, AlertKind, AlertStatus, Severity};
use crate::heal::{HealAction, HealEvent, HealPolicy, HealResult};
use crate::maintenance::MaintenanceWindow;
use crate::model::{
    CheckId, CheckKey, CheckSpec, Observation, Outcome, Status, Target, TargetId, TenantId,
};
use crate::rollup::{Bucket, Granularity};
use crate::store::*;
use crate::uptime::StatusWindow;

/// A fixed instant to build test data around.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

fn tid(s: &str) -> TargetId {
    TargetId::new(s).expect("valid id")
}

fn tenant(s: &str) -> TenantId {
    TenantId::new(s).expect("valid tenant")
}

fn target(id: &str, ten: &str) -> Target {
    let mut t = Target::new(tid(id), id);
    t.tenant = tenant(ten);
    t
}

fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

/// Says loudly that a behaviour was not run and why. Written straight to
/// the process's stderr: the test harness captures `eprintln!` of passing
/// tests, and a skip must show in every run's log.
fn skipped(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED conformance::{test}: {why} (the store's declared capabilities are asserted by `declared_capabilities`)"
    );
}

/// The store reports exactly the capabilities its suite declared, so a
/// store whose capability flag regresses fails here instead of skipping
/// the behaviours behind that flag.
pub async fn declared_capabilities(s: &dyn Store, declared: Capabilities) {
    assert_eq!(
        s.capabilities(),
        declared,
        "the store's capabilities differ from what its conformance suite declares"
    );
}

/// An active alert for tests.
pub fn alert(id: &str, target: &str, kind: AlertKind, at: DateTime<Utc>) -> Alert {
    Alert {
        id: id.to_owned(),
        target: tid(target),
        severity: Severity::default_for(&kind),
        kind,
        status: AlertStatus::Active,
        message: format!("{id} message"),
        details: None,
        check: None,
        created_at: at,
        acknowledged_at: None,
        acknowledged_by: None,
        resolved_at: None,
        suppressed: false,
        suppressed_reason: None,
        escalated_at: None,
        first_notified_at: None,
        last_notified_at: None,
        reminders_sent: 0,
    }
}

/// Targets: put, get, replace, list with tenant filter, MAC lookup and
/// paging, delete.
pub async fn targets_crud(s: &dyn Store) {
    let mut a = target("a", "t1");
    a.mac_address = Some("aa:bb:cc:dd:ee:01".into());
    a.labels.insert("role".into(), "db".into());
    a.parents = vec![];
    s.put_target(&a).await.expect("put a");
    s.put_target(&target("b", "t2")).await.expect("put b");
    s.put_target(&target("c", "t1")).await.expect("put c");
    assert_eq!(s.get_target(&tid("a")).await.expect("get"), Some(a.clone()));
    assert_eq!(s.get_target(&tid("zz")).await.expect("get none"), None);
    a.name = "renamed".into();
    s.put_target(&a).await.expect("replace");
    assert_eq!(
        s.get_target(&tid("a")).await.expect("get").map(|t| t.name),
        Some("renamed".into())
    );

    let all = s.list_targets(&TargetQuery::default()).await.expect("list");
    assert_eq!(all.total, 3);
    assert_eq!(
        all.items.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
    let t1 = s
        .list_targets(&TargetQuery {
            tenant: Some(tenant("t1")),
            ..Default::default()
        })
        .await
        .expect("list t1");
    assert_eq!(t1.total, 2);
    let by_mac = s
        .list_targets(&TargetQuery {
            mac_address: Some("aa:bb:cc:dd:ee:01".into()),
            ..Default::default()
        })
        .await
        .expect("mac");
    assert_eq!(by_mac.items.len(), 1);
    assert_eq!(by_mac.items[0].id, tid("a"));
    let page = s
        .list_targets(&TargetQuery {
            page: PageRequest::new(1, 1),
            ..Default::default()
        })
        .await
        .expect("page");
    assert_eq!(page.total, 3);
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].id, tid("b"));

    assert!(s.delete_target(&tid("b")).await.expect("delete"));
    assert!(!s.delete_target(&tid("b")).await.expect("delete again"));
    assert_eq!(
        s.list_targets(&TargetQuery::default())
            .await
            .expect("list")
            .total,
        2
    );
}

/// Checks: put on a missing target is NotFound; put, replace, list, delete.
pub async fn checks_crud(s: &dyn Store) {
    let err = s.put_check(&tid("nope"), &CheckSpec::new("tcp")).await;
    assert!(matches!(err, Err(StoreError::NotFound { .. })), "{err:?}");
    s.put_target(&target("a", "t1")).await.expect("put");
    s.put_target(&target("b", "t1")).await.expect("put");
    let tcp = CheckSpec::new("tcp").with_params(serde_json::json!({"port": 22}));
    s.put_check(&tid("a"), &tcp).await.expect("check");
    s.put_check(&tid("a"), &CheckSpec::new("http"))
        .await
        .expect("check");
    s.put_check(&tid("b"), &CheckSpec::new("tcp"))
        .await
        .expect("check");
    let mut changed = tcp.clone();
    changed.failure_threshold = 5;
    s.put_check(&tid("a"), &changed).await.expect("replace");
    let a = s.list_checks(Some(&tid("a"))).await.expect("list");
    assert_eq!(a.len(), 2);
    let stored = a
        .iter()
        .find(|(_, c)| c.kind == "tcp")
        .expect("tcp")
        .1
        .clone();
    assert_eq!(stored, changed);
    assert_eq!(s.list_checks(None).await.expect("all").len(), 3);
    let key = CheckKey::new(tid("a"), CheckId::new("http").expect("id"));
    assert!(s.delete_check(&key).await.expect("delete"));
    assert!(!s.delete_check(&key).await.expect("delete again"));
    assert_eq!(s.list_checks(Some(&tid("a"))).await.expect("list").len(), 1);
}

fn result(target: &str, check: &str, at: DateTime<Utc>, outcome: Outcome) -> StoredResult {
    StoredResult {
        key: CheckKey::new(tid(target), CheckId::new(check).expect("id")),
        observation: Observation::new(at, outcome).with_latency(Duration::from_millis(10)),
        status: if outcome.is_success() {
            Status::Healthy
        } else {
            Status::Down
        },
    }
}

/// Per-check hourly counts ([`Store::check_counts`]): merged across
/// batches from the raw results, per check, summed over the hours asked
/// for (far more results than `recent_results` returns), zero for a check
/// without results, purged with hour rollups.
pub async fn check_counts_per_hour(s: &dyn Store) {
    if !s.capabilities().check_counts {
        skipped(
            "check_counts_per_hour",
            "the store keeps no per-check counts",
        );
        assert_eq!(
            s.check_counts(&CheckCountsQuery {
                key: CheckKey::new(tid("a"), CheckId::new("tcp").expect("id")),
                from: t0(),
                to: t0() + chrono::Duration::hours(1),
            })
            .await
            .expect("counts"),
            None
        );
        return;
    }
    s.put_target(&target("a", "t1")).await.expect("put");
    let hour = Granularity::Hour.bucket_start(t0());
    let key = |c: &str| CheckKey::new(tid("a"), CheckId::new(c).expect("id"));
    // three hours of `tcp` (1,500 results: more than any recent list) and
    // some `http`, in two batches that share an hour
    let mut first = Vec::new();
    for i in 0..1_000i64 {
        let outcome = if i % 10 == 0 {
            Outcome::Fail
        } else {
            Outcome::Pass
        };
        first.push(result("a", "tcp", hour + secs(i * 5), outcome));
    }
    first.push(result("a", "http", hour + secs(30), Outcome::Unknown));
    let mut second = Vec::new();
    for i in 0..500i64 {
        second.push(result(
            "a",
            "tcp",
            hour + secs(5_000 + i * 10),
            Outcome::Pass,
        ));
    }
    for batch in [first, second] {
        s.append_results(&ResultBatch {
            results: batch,
            rollups: vec![],
        })
        .await
        .expect("append");
    }
    let counts = |c: &'static str, from: i64, to: i64| {
        let q = CheckCountsQuery {
            key: key(c),
            from: hour + chrono::Duration::hours(from),
            to: hour + chrono::Duration::hours(to),
        };
        async move { s.check_counts(&q).await }
    };
    let all = counts("tcp", 0, 3).await.expect("counts").expect("kept");
    assert_eq!(all.checks_total, 1_500);
    assert_eq!(all.checks_failed, 100);
    assert_eq!(all.checks_healthy, 1_400);
    assert_eq!(all.latency_count, 1_500);
    assert_eq!(all.latency_sum_us, 1_500 * 10_000);
    assert_eq!(
        (all.latency_min_us, all.latency_max_us),
        (Some(10_000), Some(10_000))
    );
    // hour by hour: 720, 280 + 220, 280
    let first_hour = counts("tcp", 0, 1).await.expect("counts").expect("kept");
    assert_eq!(first_hour.checks_total, 720);
    let later = counts("tcp", 1, 3).await.expect("counts").expect("kept");
    assert_eq!(later.checks_total, 780);
    let http = counts("http", 0, 3).await.expect("counts").expect("kept");
    assert_eq!(
        (http.checks_total, http.checks_healthy, http.checks_failed),
        (1, 0, 0)
    );
    let none = counts("dns", 0, 3).await.expect("counts").expect("kept");
    assert_eq!(none.checks_total, 0);
    // purged with hour rollups
    let r = Retention {
        hour_rollups: Duration::from_secs(3600),
        ..Default::default()
    };
    let report = s
        .purge(&r, hour + chrono::Duration::hours(3))
        .await
        .expect("purge");
    assert_eq!(report.check_counts, 3, "tcp's first two hours and http's");
    let left = counts("tcp", 0, 3).await.expect("counts").expect("kept");
    assert_eq!(
        left.checks_total, 280,
        "only the third hour is left: {left:?}"
    );
}

/// Results append in batches; rollup deltas merge into existing buckets.
pub async fn results_and_rollups(s: &dyn Store) {
    s.put_target(&target("a", "t1")).await.expect("put");
    let t = t0();
    let mut b1 = Bucket::new(Granularity::Minute, t);
    b1.add_observation(Outcome::Pass, Some(Duration::from_millis(10)));
    b1.add_interval(Status::Healthy, false, t, t + secs(30));
    let batch = ResultBatch {
        results: (0..500)
            .map(|i| result("a", "tcp", t + secs(i), Outcome::Pass))
            .collect(),
        rollups: vec![TargetBucket {
            target: tid("a"),
            bucket: b1,
        }],
    };
    s.append_results(&batch).await.expect("append");
    let mut b2 = Bucket::new(Granularity::Minute, t);
    b2.add_observation(Outcome::Fail, Some(Duration::from_millis(30)));
    b2.add_interval(Status::Down, false, t + secs(30), t + secs(60));
    s.append_results(&ResultBatch {
        results: vec![],
        rollups: vec![TargetBucket {
            target: tid("a"),
            bucket: b2,
        }],
    })
    .await
    .expect("append rollup");
    let got = s
        .rollups(&RollupQuery {
            targets: vec![tid("a")],
            granularity: Granularity::Minute,
            from: t - secs(60),
            to: t + secs(60),
        })
        .await
        .expect("rollups");
    assert_eq!(got.len(), 1);
    let mut expect = b1;
    expect.merge(&b2);
    assert_eq!(got[0].bucket, expect);
    assert_eq!(got[0].bucket.checks_total, 2);
    assert_eq!(got[0].bucket.healthy_ms, 30_000);
    assert_eq!(got[0].bucket.down_ms, 30_000);
    // other granularity and out-of-range queries see nothing
    let none = s
        .rollups(&RollupQuery {
            targets: vec![],
            granularity: Granularity::Hour,
            from: t - secs(3600),
            to: t + secs(3600),
        })
        .await
        .expect("hour");
    assert!(none.is_empty());
    let recent = s
        .recent_results(&ResultQuery {
            target: tid("a"),
            check: None,
            since: None,
            limit: 10,
        })
        .await
        .expect("recent");
    assert_eq!(recent.len(), 10);
    assert_eq!(recent[0].observation.at, t + secs(499), "newest first");
}

/// Rollups are kept apart per granularity and target, read in `[from, to)`
/// ordered by target then start; `rollup_totals` gives one summed bucket
/// per target equal to adding up what `rollups` returns.
pub async fn rollups_by_granularity_and_totals(s: &dyn Store) {
    for id in ["a", "b", "c"] {
        s.put_target(&target(id, "t1")).await.expect("put");
    }
    let t = t0();
    let mut rollups = Vec::new();
    for (id, n) in [("a", 3i64), ("b", 2)] {
        for g in [Granularity::Minute, Granularity::Hour, Granularity::Day] {
            for i in 0..n {
                let start = match g {
                    Granularity::Minute => t + secs(60 * i),
                    Granularity::Hour => t + secs(3600 * i),
                    Granularity::Day => t + secs(86_400 * i),
                };
                let mut b = Bucket::new(g, start);
                let fail = i % 2 == 1;
                b.add_observation(
                    if fail { Outcome::Fail } else { Outcome::Pass },
                    Some(Duration::from_millis(10 + 5 * i as u64)),
                );
                b.add_interval(
                    if fail { Status::Down } else { Status::Healthy },
                    false,
                    start,
                    start + secs(30),
                );
                rollups.push(TargetBucket {
                    target: tid(id),
                    bucket: b,
                });
            }
        }
    }
    s.append_results(&ResultBatch {
        results: vec![],
        rollups,
    })
    .await
    .expect("append");
    for g in [Granularity::Minute, Granularity::Hour, Granularity::Day] {
        let q = RollupQuery {
            targets: vec![],
            granularity: g,
            from: t - secs(86_400),
            to: t + secs(86_400 * 10),
        };
        let got = s.rollups(&q).await.expect("rollups");
        assert_eq!(got.len(), 5, "{g:?}: 3 buckets of a and 2 of b");
        assert!(got.iter().all(|tb| tb.bucket.granularity == g));
        let order: Vec<(String, DateTime<Utc>)> = got
            .iter()
            .map(|tb| (tb.target.to_string(), tb.bucket.start))
            .collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted, "{g:?}: ordered by target then start");
        // the end of the range is exclusive
        let second = got[1].bucket.start;
        let upto = s
            .rollups(&RollupQuery {
                targets: vec![tid("a")],
                granularity: g,
                from: got[0].bucket.start,
                to: second,
            })
            .await
            .expect("range");
        assert_eq!(upto.len(), 1, "{g:?}: [from, to)");
        // totals: one per target, equal to the sum of its buckets
        let totals = s.rollup_totals(&q).await.expect("totals");
        assert_eq!(
            totals
                .iter()
                .map(|tb| tb.target.to_string())
                .collect::<Vec<_>>(),
            ["a", "b"],
            "{g:?}: one total per target with buckets, by target"
        );
        for total in &totals {
            let mine: Vec<&TargetBucket> =
                got.iter().filter(|tb| tb.target == total.target).collect();
            let mut sum = Bucket::sum();
            for tb in &mine {
                sum.merge_counts(&tb.bucket);
            }
            sum.start = mine[0].bucket.start;
            sum.granularity = g;
            assert_eq!(
                total.bucket, sum,
                "{g:?}: a total is its target's buckets added up, starting at its first bucket in range"
            );
        }
        // a target filter and an empty range
        let only_b = s
            .rollup_totals(&RollupQuery {
                targets: vec![tid("b"), tid("c")],
                ..q.clone()
            })
            .await
            .expect("totals b");
        assert_eq!(only_b.len(), 1);
        assert_eq!(only_b[0].target, tid("b"));
        assert!(
            s.rollup_totals(&RollupQuery {
                from: t - secs(86_400 * 3),
                to: t - secs(86_400 * 2),
                ..q.clone()
            })
            .await
            .expect("empty")
            .is_empty()
        );
    }
}

/// Recent results filter by target, check and time, newest first.
pub async fn recent_results_filters(s: &dyn Store) {
    s.put_target(&target("a", "t1")).await.expect("put");
    s.put_target(&target("b", "t1")).await.expect("put");
    let t = t0();
    let mut results = Vec::new();
    for i in 0..20 {
        results.push(result(
            "a",
            if i % 2 == 0 { "tcp" } else { "http" },
            t + secs(i),
            Outcome::Pass,
        ));
        results.push(result("b", "tcp", t + secs(i), Outcome::Fail));
    }
    s.append_results(&ResultBatch {
        results,
        rollups: vec![],
    })
    .await
    .expect("append");
    let a_tcp = s
        .recent_results(&ResultQuery {
            target: tid("a"),
            check: Some(CheckId::new("tcp").expect("id")),
            since: Some(t + secs(10)),
            limit: 100,
        })
        .await
        .expect("q");
    assert_eq!(a_tcp.len(), 5);
    assert!(
        a_tcp
            .iter()
            .all(|r| r.key.target == tid("a") && r.key.check.as_str() == "tcp")
    );
    assert!(
        a_tcp
            .windows(2)
            .all(|w| w[0].observation.at >= w[1].observation.at)
    );
    let b = s
        .recent_results(&ResultQuery {
            target: tid("b"),
            check: None,
            since: None,
            limit: 3,
        })
        .await
        .expect("q");
    assert_eq!(b.len(), 3);
    assert!(b.iter().all(|r| r.observation.outcome == Outcome::Fail));
}

/// State records upsert per scope and load back whole.
pub async fn state_round_trip(s: &dyn Store) {
    s.put_target(&target("a", "t1")).await.expect("put");
    let key = CheckKey::new(tid("a"), CheckId::new("tcp").expect("id"));
    let recs = vec![
        StateRecord {
            scope: StateScope::Check { key: key.clone() },
            body: serde_json::json!({"n": 1}),
            updated_at: t0(),
        },
        StateRecord {
            scope: StateScope::Target { target: tid("a") },
            body: serde_json::json!({"t": true}),
            updated_at: t0(),
        },
    ];
    s.put_states(&recs).await.expect("put");
    s.put_states(&[StateRecord {
        scope: StateScope::Check { key: key.clone() },
        body: serde_json::json!({"n": 2}),
        updated_at: t0() + secs(1),
    }])
    .await
    .expect("update");
    let mut loaded = s.load_states().await.expect("load");
    loaded.sort_by(|a, b| a.scope.cmp(&b.scope));
    assert_eq!(loaded.len(), 2);
    let check = loaded
        .iter()
        .find(|r| matches!(r.scope, StateScope::Check { .. }))
        .expect("check state");
    assert_eq!(check.body, serde_json::json!({"n": 2}));
    assert_eq!(check.updated_at, t0() + secs(1));
}

/// At most one unresolved alert per (target, kind); after resolving, a new
/// alert of the key may open; a different kind is independent.
pub async fn alert_dedup(s: &dyn Store) {
    s.put_target(&target("a", "t1")).await.expect("put");
    let a1 = alert("a1", "a", AlertKind::Down, t0());
    assert_eq!(
        s.insert_alert(&a1).await.expect("insert"),
        InsertAlert::Created
    );
    let dup = alert("a2", "a", AlertKind::Down, t0() + secs(1));
    match s.insert_alert(&dup).await.expect("dup") {
        InsertAlert::Exists(existing) => assert_eq!(existing.id, "a1"),
        other => panic!("expected Exists, got {other:?}"),
    }
    assert_eq!(
        s.insert_alert(&alert("a3", "a", AlertKind::Stale, t0()))
            .await
            .expect("other kind"),
        InsertAlert::Created
    );
    // acknowledged still counts as open
    let mut acked = a1.clone();
    acked.status = AlertStatus::Acknowledged;
    acked.acknowledged_at = Some(t0() + secs(2));
    acked.acknowledged_by = Some("ops".into());
    s.update_alert(&acked, AlertStatus::Active)
        .await
        .expect("ack");
    assert!(matches!(
        s.insert_alert(&dup).await.expect("dup"),
        InsertAlert::Exists(_)
    ));
    let mut resolved = acked.clone();
    resolved.status = AlertStatus::Resolved;
    resolved.resolved_at = Some(t0() + secs(3));
    s.update_alert(&resolved, AlertStatus::Acknowledged)
        .await
        .expect("resolve");
    assert_eq!(
        s.insert_alert(&dup).await.expect("new after resolve"),
        InsertAlert::Created
    );
    let open = s
        .list_alerts(&AlertQuery {
            open_only: true,
            ..Default::default()
        })
        .await
        .expect("open");
    assert_eq!(open.total, 2);
}

/// Two concurrent inserts of one key create one alert.
pub async fn alert_dedup_concurrent(s: &dyn Store) {
    s.put_target(&target("a", "t1")).await.expect("put");
    for round in 0..10 {
        let x = alert(&format!("x{round}"), "a", AlertKind::Offline, t0());
        let y = alert(&format!("y{round}"), "a", AlertKind::Offline, t0());
        let (rx, ry) = tokio::join!(s.insert_alert(&x), s.insert_alert(&y));
        let created = [rx.expect("x"), ry.expect("y")]
            .iter()
            .filter(|r| **r == InsertAlert::Created)
            .count();
        assert_eq!(created, 1, "round {round}: exactly one insert wins");
        let open = s
            .list_alerts(&AlertQuery {
                open_only: true,
                kind: Some(AlertKind::Offline),
                ..Default::default()
            })
            .await
            .expect("list");
        assert_eq!(open.total, 1);
        let mut a = open.items[0].clone();
        a.status = AlertStatus::Resolved;
        a.resolved_at = Some(t0());
        s.update_alert(&a, AlertStatus::Active)
            .await
            .expect("resolve");
    }
}

/// Compare-and-set: a stale expected status is a Conflict; unknown ids
/// are NotFound; a resolved alert never reopens.
pub async fn alert_ack_resolve_rules(s: &dyn Store) {
    s.put_target(&target("a", "t1")).await.expect("put");
    let a = alert("a1", "a", AlertKind::Down, t0());
    s.insert_alert(&a).await.expect("insert");
    let mut acked = a.clone();
    acked.status = AlertStatus::Acknowledged;
    acked.acknowledged_by = Some("me".into());
    acked.acknowledged_at = Some(t0());
    s.update_alert(&acked, AlertStatus::Active)
        .await
        .expect("ack");
    let again = s.update_alert(&acked, AlertStatus::Active).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let missing = s
        .update_alert(
            &alert("zz", "a", AlertKind::Down, t0()),
            AlertStatus::Active,
        )
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound { .. })),
        "{missing:?}"
    );
    let mut resolved = acked.clone();
    resolved.status = AlertStatus::Resolved;
    resolved.resolved_at = Some(t0() + secs(5));
    s.update_alert(&resolved, AlertStatus::Acknowledged)
        .await
        .expect("resolve");
    let mut reopen = resolved.clone();
    reopen.status = AlertStatus::Active;
    assert!(
        s.update_alert(&reopen, AlertStatus::Resolved)
            .await
            .is_err(),
        "resolved never reopens"
    );
    let got = s.get_alert("a1").await.expect("get").expect("exists");
    assert_eq!(got.status, AlertStatus::Resolved);
    assert_eq!(got.acknowledged_by.as_deref(), Some("me"));
    assert_eq!(got.resolved_at, Some(t0() + secs(5)));
    assert_eq!(s.get_alert("nope").await.expect("get"), None);
}

/// Listing filters by status, severity, target, kind, tenant; newest
/// first; paged with a total.
pub async fn alert_listing(s: &dyn Store) {
    s.put_target(&target("a", "t1")).await.expect("put");
    s.put_target(&target("b", "t2")).await.expect("put");
    s.insert_alert(&alert("1", "a", AlertKind::Stale, t0()))
        .await
        .expect("i");
    s.insert_alert(&alert("2", "a", AlertKind::Offline, t0() + secs(1)))
        .await
        .expect("i");
    s.insert_alert(&alert("3", "b", AlertKind::Down, t0() + secs(2)))
        .await
        .expect("i");
    let all = s.list_alerts(&AlertQuery::default()).await.expect("all");
    assert_eq!(all.total, 3);
    assert_eq!(
        all.items.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        ["3", "2", "1"]
    );
    let crit = s
        .list_alerts(&AlertQuery {
            severity: Some(Severity::Critical),
            ..Default::default()
        })
        .await
        .expect("crit");
    assert!(crit.items.iter().all(|a| a.severity == Severity::Critical));
    assert_eq!(crit.total, 2);
    let t1 = s
        .list_alerts(&AlertQuery {
            tenant: Some(tenant("t1")),
            ..Default::default()
        })
        .await
        .expect("t1");
    assert_eq!(t1.total, 2);
    let target_b = s
        .list_alerts(&AlertQuery {
            target: Some(tid("b")),
            ..Default::default()
        })
        .await
        .expect("b");
    assert_eq!(target_b.total, 1);
    let page = s
        .list_alerts(&AlertQuery {
            page: PageRequest::new(2, 1),
            ..Default::default()
        })
        .await
        .expect("page");
    assert_eq!(page.total, 3);
    assert_eq!(page.items.len(), 2);
    assert_eq!(page.items[0].id, "2");
    let stale = s
        .list_alerts(&AlertQuery {
            kind: Some(AlertKind::Stale),
            status: Some(AlertStatus::Active),
            ..Default::default()
        })
        .await
        .expect("stale");
    assert_eq!(stale.total, 1);
}

/// Documents: put, get, replace, list by kind and tenant, delete.
pub async fn docs_crud(s: &dyn Store) {
    let d = |kind: &str, id: &str, ten: Option<&str>| Doc {
        kind: kind.into(),
        id: id.into(),
        tenant: ten.map(tenant),
        target: None,
        body: serde_json::json!({"id": id}),
        updated_at: t0(),
    };
    s.put_doc(&d("k", "1", Some("t1"))).await.expect("put");
    s.put_doc(&d("k", "2", Some("t2"))).await.expect("put");
    s.put_doc(&d("other", "1", None)).await.expect("put");
    let mut replaced = d("k", "1", Some("t1"));
    replaced.body = serde_json::json!({"v": 2});
    s.put_doc(&replaced).await.expect("replace");
    assert_eq!(s.get_doc("k", "1").await.expect("get"), Some(replaced));
    assert_eq!(s.get_doc("k", "9").await.expect("get"), None);
    assert_eq!(
        s.list_docs(&DocQuery {
            kind: "k".into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .len(),
        2
    );
    assert_eq!(
        s.list_docs(&DocQuery {
            kind: "k".into(),
            tenant: Some(tenant("t2")),
            ..Default::default()
        })
        .await
        .expect("list")
        .len(),
        1
    );
    assert!(s.delete_doc("k", "1").await.expect("delete"));
    assert!(!s.delete_doc("k", "1").await.expect("delete again"));
}

/// Heal policies round-trip; heal events append, complete (replace by id)
/// and list newest first.
pub async fn heal_policies_and_events(s: &dyn Store) {
    let p = HealPolicy::new("p1", tenant("t1"), "restart web");
    s.put_heal_policy(&p, t0()).await.expect("policy");
    assert_eq!(
        s.heal_policies(Some(&tenant("t1"))).await.expect("list"),
        vec![p.clone()]
    );
    assert!(
        s.heal_policies(Some(&tenant("t2")))
            .await
            .expect("list")
            .is_empty()
    );
    s.put_target(&target("a", "t1")).await.expect("put");
    let mut e1 = HealEvent::pending(
        "h1",
        tid("a"),
        Some("p1".into()),
        HealAction::Restart,
        "3 consecutive failures",
        Some(Status::Down),
        t0(),
    );
    let e2 = HealEvent::skipped(
        "h2",
        tid("a"),
        Some("p1".into()),
        HealAction::Restart,
        "in cooldown",
        Some(Status::Down),
        t0() + secs(60),
    );
    s.put_heal_events(&[e1.clone(), e2.clone()], Some(&tenant("t1")))
        .await
        .expect("events");
    e1.complete(
        HealResult::Success,
        None,
        Some(Status::Healthy),
        t0() + secs(5),
    );
    s.put_heal_events(std::slice::from_ref(&e1), Some(&tenant("t1")))
        .await
        .expect("complete");
    let page = s
        .heal_events(&tid("a"), PageRequest::default())
        .await
        .expect("list");
    assert_eq!(page.total, 2);
    assert_eq!(page.items[0], e2);
    assert_eq!(page.items[1], e1);
    assert_eq!(page.items[1].result, HealResult::Success);
}

/// Lifecycle events page newest first and filter by type.
pub async fn lifecycle_events_paging(s: &dyn Store) {
    s.put_target(&target("a", "t1")).await.expect("put");
    let types = [
        "boot_started",
        "install_started",
        "install_progress",
        "install_progress",
        "install_complete",
    ];
    let events: Vec<LifecycleEventRecord> = types
        .iter()
        .enumerate()
        .map(|(i, ty)| LifecycleEventRecord {
            id: format!("e{i}"),
            target: tid("a"),
            event_type: (*ty).into(),
            status: "success".into(),
            message: None,
            progress: Some((i * 20) as u8),
            metadata: Some(serde_json::json!({"i": i})),
            ip_address: Some("10.0.0.5".into()),
            created_at: t0() + secs(i as i64),
        })
        .collect();
    s.put_lifecycle_events(&events, Some(&tenant("t1")))
        .await
        .expect("put");
    let page = s
        .lifecycle_events(&tid("a"), None, PageRequest::new(2, 0))
        .await
        .expect("page");
    assert_eq!(page.total, 5);
    assert_eq!(
        page.items.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["e4", "e3"]
    );
    let progress = s
        .lifecycle_events(&tid("a"), Some("install_progress"), PageRequest::default())
        .await
        .expect("type");
    assert_eq!(progress.total, 2);
    assert_eq!(progress.items[0], events[3]);
}

/// Snapshots come back oldest first from `since`.
pub async fn snapshots(s: &dyn Store) {
    let snaps: Vec<Snapshot> = (0..6)
        .map(|i| Snapshot {
            target: tid("a"),
            timestamp: t0() + secs(300 * i),
            health_status: Status::Healthy,
            cause: crate::model::Cause::Passing,
            health_score: 100 - i as u8,
            last_seen_seconds_ago: 5,
            boot_count: 1,
            install_attempts: 0,
            ip_address: None,
        })
        .collect();
    s.put_snapshots(&snaps, Some(&tenant("t1")))
        .await
        .expect("put");
    let got = s.snapshots(&tid("a"), t0() + secs(600)).await.expect("get");
    assert_eq!(got, snaps[2..].to_vec());
}

/// Status windows: an open window is replaced when it closes.
pub async fn status_windows(s: &dyn Store) {
    let open = StatusWindow::open(Status::Healthy, crate::model::Cause::Passing, t0());
    s.put_status_window(&tid("a"), None, &open)
        .await
        .expect("open");
    let closed = open.clone().closed_at(t0() + secs(100));
    s.put_status_window(&tid("a"), None, &closed)
        .await
        .expect("close");
    let next = StatusWindow::open(Status::Down, crate::model::Cause::Failing, t0() + secs(100));
    s.put_status_window(&tid("a"), None, &next)
        .await
        .expect("next");
    let got = s
        .status_windows(&tid("a"), t0(), t0() + secs(1000))
        .await
        .expect("get");
    assert_eq!(got, vec![closed, next]);
}

/// The audit log keeps actor, action and result, newest first.
pub async fn audit_log(s: &dyn Store) {
    let rows: Vec<AuditEntry> = ["restart", "diagnose", "restart"]
        .iter()
        .enumerate()
        .map(|(i, a)| AuditEntry {
            id: format!("au{i}"),
            at: t0() + secs(i as i64),
            actor: "admin".into(),
            action: (*a).into(),
            target: Some(tid("a")),
            tenant: Some(tenant("t1")),
            result: "ok".into(),
            details: serde_json::json!({"i": i}),
        })
        .collect();
    s.put_audit(&rows).await.expect("put");
    let restarts = s
        .audit_log(Some(&tid("a")), Some("restart"), PageRequest::default())
        .await
        .expect("get");
    assert_eq!(restarts.total, 2);
    assert_eq!(restarts.items[0], rows[2]);
    assert_eq!(
        s.audit_log(None, None, PageRequest::default())
            .await
            .expect("all")
            .total,
        3
    );
}

/// Maintenance windows round-trip through documents.
pub async fn maintenance_windows(s: &dyn Store) {
    let w: MaintenanceWindow = serde_json::from_value(serde_json::json!({
        "id": "mw1",
        "name": "patching",
        "schedule": {"type": "one_off", "start": "2026-03-01T00:00:00Z", "end": "2026-03-01T02:00:00Z"},
        "selector": {"targets": ["a"]}
    }))
    .expect("window json");
    s.put_maintenance(&w, Some(&tenant("t1")), t0())
        .await
        .expect("put");
    assert_eq!(s.maintenance_windows(None).await.expect("list"), vec![w]);
    assert!(
        s.delete_doc(doc_kind::MAINTENANCE, "mw1")
            .await
            .expect("delete")
    );
    assert!(s.maintenance_windows(None).await.expect("list").is_empty());
}

/// Retention removes old results, entries, rollups and resolved alerts,
/// and keeps everything newer and every open alert.
pub async fn retention(s: &dyn Store) {
    s.put_target(&target("a", "t1")).await.expect("put");
    let now = t0() + chrono::Duration::days(100);
    let old = t0();
    let recent = now - secs(60);
    let mut ob = Bucket::new(Granularity::Minute, old);
    ob.add_observation(Outcome::Pass, None);
    let mut nb = Bucket::new(Granularity::Minute, recent);
    nb.add_observation(Outcome::Pass, None);
    let mut results: Vec<StoredResult> = (0..50)
        .map(|i| result("a", "tcp", old + secs(i), Outcome::Pass))
        .collect();
    results.push(result("a", "tcp", recent, Outcome::Pass));
    s.append_results(&ResultBatch {
        results,
        rollups: vec![
            TargetBucket {
                target: tid("a"),
                bucket: ob,
            },
            TargetBucket {
                target: tid("a"),
                bucket: nb,
            },
        ],
    })
    .await
    .expect("append");
    let mut resolved = alert("r", "a", AlertKind::Down, old);
    s.insert_alert(&resolved).await.expect("insert");
    resolved.status = AlertStatus::Resolved;
    resolved.resolved_at = Some(old + secs(10));
    s.update_alert(&resolved, AlertStatus::Active)
        .await
        .expect("resolve");
    s.insert_alert(&alert("o", "a", AlertKind::Stale, old))
        .await
        .expect("open alert");
    let he = HealEvent::skipped("h-old", tid("a"), None, HealAction::Restart, "x", None, old);
    let he_new = HealEvent::skipped(
        "h-new",
        tid("a"),
        None,
        HealAction::Restart,
        "x",
        None,
        recent,
    );
    s.put_heal_events(&[he, he_new], None).await.expect("heal");

    // a small chunk forces several delete rounds
    let r = Retention {
        chunk: 7,
        ..Default::default()
    };
    let report = s.purge(&r, now).await.expect("purge");
    assert_eq!(report.results, 50);
    assert_eq!(report.rollups, 1);
    assert_eq!(report.alerts, 1);
    assert!(report.entries >= 1);
    let left = s
        .recent_results(&ResultQuery {
            target: tid("a"),
            check: None,
            since: None,
            limit: 1000,
        })
        .await
        .expect("recent");
    assert_eq!(left.len(), 1);
    assert_eq!(s.get_alert("r").await.expect("get"), None);
    assert!(
        s.get_alert("o").await.expect("get").is_some(),
        "open alerts are never purged"
    );
    let heal = s
        .heal_events(&tid("a"), PageRequest::default())
        .await
        .expect("heal");
    assert_eq!(
        heal.items.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["h-new"]
    );
    // a second purge finds nothing more
    assert_eq!(
        s.purge(&r, now).await.expect("purge"),
        PurgeReport::default()
    );
}

/// Retention keeps each kind of data for its own duration: every journal
/// kind (snapshots, heal events, lifecycle events, status windows, audit)
/// and every rollup granularity, one row just past its cutoff (purged) and
/// one just inside it (kept).
pub async fn retention_per_kind(s: &dyn Store) {
    s.put_target(&target("a", "t1")).await.expect("put");
    let now = t0() + chrono::Duration::days(400);
    let day = |n: u64| Duration::from_secs(n * 86_400);
    let r = Retention {
        results: day(1),
        snapshots: day(2),
        heal_events: day(3),
        lifecycle_events: day(4),
        status_windows: day(5),
        audit: day(6),
        resolved_alerts: day(7),
        minute_rollups: day(8),
        hour_rollups: day(9),
        day_rollups: day(10),
        chunk: 3,
    };
    let hour = chrono::Duration::hours(1);
    let old = |keep: Duration| Retention::cutoff(now, keep) - hour;
    let young = |keep: Duration| Retention::cutoff(now, keep) + hour;
    let kinds = [
        (entry_kind::SNAPSHOT, r.snapshots),
        (entry_kind::HEAL_EVENT, r.heal_events),
        (entry_kind::LIFECYCLE_EVENT, r.lifecycle_events),
        (entry_kind::STATUS_WINDOW, r.status_windows),
        (entry_kind::AUDIT, r.audit),
    ];
    let mut entries = Vec::new();
    for (kind, keep) in kinds {
        for (id, at) in [("old", old(keep)), ("young", young(keep))] {
            entries.push(Entry {
                kind: kind.to_owned(),
                id: format!("{kind}-{id}"),
                target: Some(tid("a")),
                tenant: Some(tenant("t1")),
                at,
                subtype: None,
                body: serde_json::json!({ "id": id }),
            });
        }
    }
    s.append_entries(&entries).await.expect("entries");
    let mut rollups = Vec::new();
    for g in [Granularity::Minute, Granularity::Hour, Granularity::Day] {
        let keep = r.for_granularity(g);
        // bucket starts: a whole bucket before the cutoff, and the bucket
        // after the one holding it
        let cut = Retention::cutoff(now, keep);
        let step = match g {
            Granularity::Minute => secs(60),
            Granularity::Hour => secs(3600),
            Granularity::Day => secs(86_400),
        };
        for at in [g.bucket_start(cut) - step, g.bucket_start(cut) + step] {
            let mut b = Bucket::new(g, at);
            b.add_observation(Outcome::Pass, None);
            rollups.push(TargetBucket {
                target: tid("a"),
                bucket: b,
            });
        }
    }
    s.append_results(&ResultBatch {
        results: vec![
            result("a", "tcp", old(r.results), Outcome::Pass),
            result("a", "tcp", young(r.results), Outcome::Pass),
        ],
        rollups,
    })
    .await
    .expect("append");

    let report = s.purge(&r, now).await.expect("purge");
    assert_eq!(report.results, 1, "{report:?}");
    assert_eq!(report.entries, kinds.len() as u64, "{report:?}");
    assert_eq!(report.rollups, 3, "{report:?}");
    for (kind, _) in kinds {
        let left = s
            .query_entries(&EntryQuery {
                kind: kind.to_owned(),
                target: Some(tid("a")),
                ..Default::default()
            })
            .await
            .expect("query");
        assert_eq!(
            left.items.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
            [format!("{kind}-young")],
            "{kind}: the old row purged, the young one kept"
        );
    }
    for g in [Granularity::Minute, Granularity::Hour, Granularity::Day] {
        let left = s
            .rollups(&RollupQuery {
                targets: vec![tid("a")],
                granularity: g,
                from: t0() - chrono::Duration::days(1),
                to: now + chrono::Duration::days(1),
            })
            .await
            .expect("rollups");
        assert_eq!(
            left.len(),
            1,
            "{g:?}: the old bucket purged, the young one kept"
        );
        assert!(left[0].bucket.start >= Retention::cutoff(now, r.for_granularity(g)));
    }
    assert_eq!(
        s.purge(&r, now).await.expect("again"),
        PurgeReport::default(),
        "a second purge finds nothing"
    );
}

/// Tenant filters never leak another tenant's rows.
pub async fn tenant_scoping(s: &dyn Store) {
    for (id, ten) in [("a", "t1"), ("b", "t2"), ("c", "t2")] {
        s.put_target(&target(id, ten)).await.expect("put");
        s.insert_alert(&alert(&format!("al-{id}"), id, AlertKind::Down, t0()))
            .await
            .expect("alert");
        s.put_audit(&[AuditEntry {
            id: format!("au-{id}"),
            at: t0(),
            actor: "x".into(),
            action: "recheck".into(),
            target: Some(tid(id)),
            tenant: Some(tenant(ten)),
            result: "ok".into(),
            details: serde_json::Value::Null,
        }])
        .await
        .expect("audit");
    }
    let t2 = s
        .list_targets(&TargetQuery {
            tenant: Some(tenant("t2")),
            ..Default::default()
        })
        .await
        .expect("t");
    assert!(t2.items.iter().all(|t| t.tenant == tenant("t2")));
    assert_eq!(t2.total, 2);
    let a1 = s
        .list_alerts(&AlertQuery {
            tenant: Some(tenant("t1")),
            ..Default::default()
        })
        .await
        .expect("a");
    assert_eq!(
        a1.items.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        ["al-a"]
    );
    let au = s
        .query_entries(&EntryQuery {
            kind: entry_kind::AUDIT.into(),
            tenant: Some(tenant("t2")),
            ..Default::default()
        })
        .await
        .expect("entries");
    assert_eq!(au.total, 2);
}

/// Deleting a target removes its checks, state and open alerts.
pub async fn delete_target_cascades(s: &dyn Store) {
    s.put_target(&target("a", "t1")).await.expect("put");
    s.put_target(&target("b", "t1")).await.expect("put");
    s.put_check(&tid("a"), &CheckSpec::new("tcp"))
        .await
        .expect("check");
    s.put_check(&tid("b"), &CheckSpec::new("tcp"))
        .await
        .expect("check");
    s.put_states(&[StateRecord {
        scope: StateScope::Target { target: tid("a") },
        body: serde_json::json!(1),
        updated_at: t0(),
    }])
    .await
    .expect("state");
    s.insert_alert(&alert("x", "a", AlertKind::Down, t0()))
        .await
        .expect("alert");
    assert!(s.delete_target(&tid("a")).await.expect("delete"));
    assert!(
        s.list_checks(Some(&tid("a")))
            .await
            .expect("checks")
            .is_empty()
    );
    assert_eq!(s.list_checks(None).await.expect("checks").len(), 1);
    assert!(
        s.load_states()
            .await
            .expect("states")
            .iter()
            .all(|r| r.scope.target() != &tid("a"))
    );
    assert_eq!(
        s.list_alerts(&AlertQuery {
            open_only: true,
            ..Default::default()
        })
        .await
        .expect("alerts")
        .total,
        0
    );
}

/// Claims (capability `claims`): a due check is claimed by one instance
/// at a time, epochs only increase, a completed claim is not due again
/// until `next_due`, and a lost lease is fenced.
pub async fn claims(s: &dyn Store) {
    if !s.capabilities().claims {
        skipped(
            "claims",
            "this store does not offer the `claims` capability",
        );
        return;
    }
    s.put_target(&target("a", "t1")).await.expect("put");
    for k in ["c1", "c2", "c3"] {
        s.put_check(
            &tid("a"),
            &CheckSpec::new("tcp").named(CheckId::new(k).expect("id")),
        )
        .await
        .expect("check");
    }
    let req = |inst: &str, limit| ClaimRequest {
        instance: inst.into(),
        limit,
        lease: Duration::from_secs(30),
    };
    let one = s.claim_due(&req("i1", 2)).await.expect("claim");
    assert_eq!(one.len(), 2);
    let two = s.claim_due(&req("i2", 10)).await.expect("claim");
    assert_eq!(two.len(), 1, "held leases are not claimed twice");
    assert!(one.iter().all(|l| !two.iter().any(|m| m.key == l.key)));
    assert!(s.claim_due(&req("i3", 10)).await.expect("claim").is_empty());
    // completing with a far next_due: not due again
    let far = Utc::now() + chrono::Duration::days(1);
    s.complete_claim(&one[0], far).await.expect("complete");
    assert!(s.claim_due(&req("i3", 10)).await.expect("claim").is_empty());
    // a stale lease (wrong epoch) is fenced
    let mut stale = two[0].clone();
    stale.epoch -= 1;
    assert!(matches!(
        s.complete_claim(&stale, far).await,
        Err(StoreError::Fenced(_))
    ));
    let mut other_owner = two[0].clone();
    other_owner.owner = "intruder".into();
    assert!(matches!(
        s.complete_claim(&other_owner, far).await,
        Err(StoreError::Fenced(_))
    ));
    assert!(two[0].epoch >= 1);
}

/// Claiming one check (capability `claims`), as a recheck does: a free
/// check is claimed under a new epoch whatever its due time and leaves
/// the due set; another instance is told who holds it and changes
/// nothing; the holder renews it (same epoch); a completed claim can be
/// claimed again with a higher epoch and the old lease is fenced; an
/// unknown check is not found.
pub async fn claim_one(s: &dyn Store) {
    if !s.capabilities().claims {
        skipped(
            "claim_one",
            "this store does not offer the `claims` capability",
        );
        return;
    }
    s.put_target(&target("o", "t1")).await.expect("put");
    for k in ["c1", "c2"] {
        s.put_check(
            &tid("o"),
            &CheckSpec::new("tcp").named(CheckId::new(k).expect("id")),
        )
        .await
        .expect("check");
    }
    let key = |c: &str| CheckKey::new(tid("o"), CheckId::new(c).expect("id"));
    let lease = Duration::from_secs(30);
    let l1 = match s.claim_check(&key("c1"), "i1", lease).await {
        Ok(CheckClaim::Claimed(l)) => l,
        other => panic!("a free check is claimed, got {other:?}"),
    };
    assert_eq!((l1.key.clone(), l1.owner.as_str()), (key("c1"), "i1"));
    match s.claim_check(&key("c1"), "i2", lease).await {
        Ok(CheckClaim::Held { owner, expires_at }) => {
            assert_eq!(owner, "i1");
            assert_eq!(expires_at, l1.expires_at);
        }
        other => panic!("another holder is reported, got {other:?}"),
    }
    match s
        .claim_check(&key("c1"), "i1", Duration::from_secs(60))
        .await
    {
        Ok(CheckClaim::Renewed(l)) => {
            assert_eq!(l.epoch, l1.epoch, "renewing keeps the epoch");
            assert!(l.expires_at > l1.expires_at);
        }
        other => panic!("the holder renews, got {other:?}"),
    }
    // held: not claimed by claim_due; the other check is
    let due = s
        .claim_due(&ClaimRequest {
            instance: "i2".into(),
            limit: 10,
            lease,
        })
        .await
        .expect("claim");
    assert_eq!(
        due.iter().map(|l| l.key.clone()).collect::<Vec<_>>(),
        vec![key("c2")]
    );
    // completed far ahead: not due, but a recheck can still claim it
    let far = Utc::now() + chrono::Duration::days(1);
    s.complete_claim(&l1, far).await.expect("complete");
    let l2 = match s.claim_check(&key("c1"), "i2", lease).await {
        Ok(CheckClaim::Claimed(l)) => l,
        other => panic!("a completed check is claimed again, got {other:?}"),
    };
    assert!(l2.epoch > l1.epoch, "epochs only increase");
    assert!(matches!(
        s.fenced(&l1, &[FencedWrite::Complete(far)]).await,
        Err(StoreError::Fenced(_))
    ));
    s.fenced(&l2, &[FencedWrite::Complete(far)])
        .await
        .expect("the new holder writes");
    assert!(matches!(
        s.claim_check(&key("zz"), "i1", lease).await,
        Err(StoreError::NotFound { .. })
    ));
}

/// Fenced writes (capability `claims`): side effects under a held lease
/// are written atomically with the completion; under a lost lease
/// nothing is written; a failing write rolls the whole batch back;
/// an insert of an open alert key reports the existing alert; renew and
/// release work; the default batched completion reports refused keys.
pub async fn fenced_writes(s: &dyn Store) {
    if !s.capabilities().claims {
        skipped(
            "fenced_writes",
            "this store does not offer the `claims` capability",
        );
        return;
    }
    s.put_target(&target("f", "t1")).await.expect("put");
    for k in ["c1", "c2"] {
        s.put_check(
            &tid("f"),
            &CheckSpec::new("tcp").named(CheckId::new(k).expect("id")),
        )
        .await
        .expect("check");
    }
    let req = |inst: &str| ClaimRequest {
        instance: inst.into(),
        limit: 10,
        lease: Duration::from_secs(30),
    };
    let leases = s.claim_due(&req("i1")).await.expect("claim");
    assert_eq!(leases.len(), 2);
    let (l1, l2) = (&leases[0], &leases[1]);
    let key = CheckKey::new(tid("f"), CheckId::new("c1").expect("id"));
    let state = |n: i64| StateRecord {
        scope: StateScope::Check { key: key.clone() },
        body: serde_json::json!({ "n": n }),
        updated_at: t0(),
    };
    let a1 = alert("fa1", "f", AlertKind::Down, t0());
    let mut heal = HealEvent::pending(
        "fh1",
        tid("f"),
        None,
        HealAction::Restart,
        "3 failures",
        Some(Status::Down),
        t0(),
    );
    let far = Utc::now() + chrono::Duration::days(1);
    let entry = heal_event_entry(&heal, None).expect("entry");
    let out = s
        .fenced(
            l1,
            &[
                FencedWrite::States(&[state(1)]),
                FencedWrite::InsertAlert(&a1),
                FencedWrite::Entries(std::slice::from_ref(&entry)),
                FencedWrite::Complete(far),
            ],
        )
        .await
        .expect("fenced");
    assert_eq!(out.len(), 4);
    assert_eq!(out[1], FencedOutcome::Alert(InsertAlert::Created));
    assert_eq!(s.load_states().await.expect("states"), vec![state(1)]);
    assert!(s.get_alert("fa1").await.expect("get").is_some());
    assert_eq!(
        s.heal_events(&tid("f"), PageRequest::max())
            .await
            .expect("heal")
            .items
            .len(),
        1
    );
    // completed: the lease is gone, later writes under it are fenced and change nothing
    let a2 = alert("fa2", "f", AlertKind::Stale, t0());
    let err = s
        .fenced(
            l1,
            &[
                FencedWrite::States(&[state(2)]),
                FencedWrite::InsertAlert(&a2),
            ],
        )
        .await;
    assert!(matches!(err, Err(StoreError::Fenced(_))), "{err:?}");
    assert_eq!(s.load_states().await.expect("states"), vec![state(1)]);
    assert!(s.get_alert("fa2").await.expect("get").is_none());
    // the completion set next_due: c1 is not due again
    assert!(s.claim_due(&req("i2")).await.expect("claim").is_empty());
    // a stale epoch or another owner is fenced
    let mut stale = l2.clone();
    stale.epoch -= 1;
    assert!(matches!(
        s.fenced(&stale, &[FencedWrite::States(&[state(3)])]).await,
        Err(StoreError::Fenced(_))
    ));
    // an insert of an open key reports the existing alert, nothing else changes
    let dup = alert("fa3", "f", AlertKind::Down, t0() + secs(5));
    let out = s
        .fenced(l2, &[FencedWrite::InsertAlert(&dup)])
        .await
        .expect("fenced");
    match &out[0] {
        FencedOutcome::Alert(InsertAlert::Exists(existing)) => assert_eq!(existing.id, "fa1"),
        other => panic!("expected Exists, got {other:?}"),
    }
    assert!(s.get_alert("fa3").await.expect("get").is_none());
    // all or nothing: a failing update rolls back the state written before it
    let mut resolved = a1.clone();
    resolved.resolve(t0() + secs(9)).expect("resolve");
    let err = s
        .fenced(
            l2,
            &[
                FencedWrite::States(&[state(4)]),
                FencedWrite::UpdateAlert(&resolved, AlertStatus::Acknowledged),
            ],
        )
        .await;
    assert!(matches!(err, Err(StoreError::Conflict(_))), "{err:?}");
    assert_eq!(s.load_states().await.expect("states"), vec![state(1)]);
    assert_eq!(
        s.get_alert("fa1").await.expect("get").map(|a| a.status),
        Some(AlertStatus::Active)
    );
    // renew keeps the epoch; a heal completion replaces the pending event
    let renewed = s
        .renew_lease(l2, Duration::from_secs(60))
        .await
        .expect("renew");
    assert_eq!(renewed.epoch, l2.epoch);
    assert!(renewed.expires_at >= l2.expires_at);
    heal.complete(
        HealResult::Success,
        None,
        Some(Status::Healthy),
        t0() + secs(20),
    );
    let done = heal_event_entry(&heal, None).expect("entry");
    s.fenced(
        &renewed,
        &[
            FencedWrite::UpdateAlert(&resolved, AlertStatus::Active),
            FencedWrite::Entries(std::slice::from_ref(&done)),
        ],
    )
    .await
    .expect("fenced");
    let events = s
        .heal_events(&tid("f"), PageRequest::max())
        .await
        .expect("heal");
    assert_eq!(events.items.len(), 1);
    assert_eq!(events.items[0].result, HealResult::Success);
    // release gives the lease back: due again at once, writes under it fenced
    assert_eq!(s.release_claims("i1").await.expect("release"), 1);
    assert!(matches!(
        s.fenced(&renewed, &[FencedWrite::Complete(far)]).await,
        Err(StoreError::Fenced(_))
    ));
    let again = s.claim_due(&req("i2")).await.expect("claim");
    assert_eq!(again.len(), 1);
    assert!(again[0].epoch > l2.epoch, "epochs only increase");
    // batched completion: the held lease completes, a lost one is refused
    let refused = s
        .complete_claims(&[(again[0].clone(), far), (l1.clone(), far)])
        .await
        .expect("complete");
    assert_eq!(refused, vec![l1.key.clone()]);
    assert!(s.claim_due(&req("i3")).await.expect("claim").is_empty());
    // states of some targets
    let of = s.load_states_of(&[tid("f")]).await.expect("states");
    assert_eq!(of, vec![state(1)]);
    assert!(
        s.load_states_of(&[tid("zz")])
            .await
            .expect("states")
            .is_empty()
    );
}

/// Persistence (capability `persistent`): data written through one handle
/// is read back through a reopened one.
pub async fn persistence_across_reopen<F, Fut>(store: Arc<dyn Store>, reopen: Option<F>)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: std::future::Future<Output = Arc<dyn Store>>,
{
    if !store.capabilities().persistent {
        skipped(
            "persistence_across_reopen",
            "this store is not persistent (capability `persistent` is off)",
        );
        return;
    }
    let Some(reopen) = reopen else {
        panic!("a persistent store must give the suite a `reopen` constructor");
    };
    store.put_target(&target("a", "t1")).await.expect("put");
    store
        .put_check(&tid("a"), &CheckSpec::new("tcp"))
        .await
        .expect("check");
    store
        .insert_alert(&alert("p1", "a", AlertKind::Down, t0()))
        .await
        .expect("alert");
    let mut acked = alert("p1", "a", AlertKind::Down, t0());
    acked.status = AlertStatus::Acknowledged;
    acked.acknowledged_by = Some("ops".into());
    acked.acknowledged_at = Some(t0());
    store
        .update_alert(&acked, AlertStatus::Active)
        .await
        .expect("ack");
    store
        .put_states(&[StateRecord {
            scope: StateScope::Target { target: tid("a") },
            body: serde_json::json!({"k": 1}),
            updated_at: t0(),
        }])
        .await
        .expect("state");
    store
        .append_results(&ResultBatch {
            results: vec![result("a", "tcp", t0(), Outcome::Pass)],
            rollups: vec![],
        })
        .await
        .expect("results");
    let again = reopen(store).await;
    assert!(again.get_target(&tid("a")).await.expect("get").is_some());
    assert_eq!(again.list_checks(None).await.expect("checks").len(), 1);
    assert_eq!(again.get_alert("p1").await.expect("alert"), Some(acked));
    assert_eq!(again.load_states().await.expect("states").len(), 1);
    assert_eq!(
        again
            .recent_results(&ResultQuery {
                target: tid("a"),
                check: None,
                since: None,
                limit: 10
            })
            .await
            .expect("results")
            .len(),
        1
    );
}
