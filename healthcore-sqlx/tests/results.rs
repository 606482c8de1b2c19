//! Raw results and rollups beyond the conformance suite: every field
//! round-trips through binary COPY, "recent" looks back past its time
//! windows, bad times are data errors, rollups filter and order.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use healthcore::model::{CheckId, CheckKey, Observation, Outcome, Status, TargetId};
use healthcore::rollup::{Bucket, Granularity};
use healthcore::store::*;
use healthcore_sqlx::testing::TestDb;

fn key(t: &str, c: &str) -> CheckKey {
    CheckKey::new(TargetId::new(t).unwrap(), CheckId::new(c).unwrap())
}

fn res(t: &str, c: &str, at: DateTime<Utc>) -> StoredResult {
    StoredResult {
        key: key(t, c),
        observation: Observation::new(at, Outcome::Pass),
        status: Status::Healthy,
    }
}

fn q(t: &str, limit: u32) -> ResultQuery {
    ResultQuery {
        target: TargetId::new(t).unwrap(),
        check: None,
        since: None,
        limit,
    }
}

#[tokio::test]
async fn every_field_round_trips() {
    let Some(db) = TestDb::create("every_field_round_trips").await else {
        return;
    };
    let s = db.store().await;
    let at = Utc::now();
    let full = StoredResult {
        key: key("t\\é 1", "c\"h"),
        observation: Observation::new(at, Outcome::Unreachable)
            .with_latency(Duration::from_nanos(1_234_567_891))
            .with_message("line1\nline2\ttab \\ back")
            .with_details(serde_json::json!({"é": [1, 2.5, null], "s": "a\\b\n", "big": u64::MAX})),
        status: Status::Down,
    };
    let bare = StoredResult {
        key: key("t\\é 1", "c\"h"),
        observation: Observation::new(at - chrono::Duration::seconds(1), Outcome::Unknown),
        status: Status::Unknown,
    };
    s.append_results(&ResultBatch {
        results: vec![bare.clone(), full.clone()],
        rollups: vec![],
    })
    .await
    .unwrap();
    let got = s.recent_results(&q("t\\é 1", 10)).await.unwrap();
    assert_eq!(got.len(), 2);
    let mut want = full.clone();
    // PostgreSQL keeps microseconds
    want.observation.at = DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap();
    assert_eq!(got[0], want);
    assert_eq!(got[1].observation.outcome, Outcome::Unknown);
    assert_eq!(got[1].observation.latency, None);
    assert_eq!(got[1].observation.message, None);
    assert_eq!(got[1].observation.details, None);
}

#[tokio::test]
async fn recent_results_look_past_the_windows() {
    let Some(db) = TestDb::create("recent_results_look_past_the_windows").await else {
        return;
    };
    let s = db.store().await;
    let now = Utc::now();
    let mut results = Vec::new();
    // two results 100 days ago, one 3 days ago, two just now; another target in between
    for (i, age_h) in [2400i64, 2400, 72, 0, 0].iter().enumerate() {
        results.push(res(
            "a",
            "c",
            now - chrono::Duration::hours(*age_h) + chrono::Duration::seconds(i as i64),
        ));
        results.push(res("b", "c", now));
    }
    s.append_results(&ResultBatch {
        results,
        rollups: vec![],
    })
    .await
    .unwrap();
    let got = s.recent_results(&q("a", 2)).await.unwrap();
    assert_eq!(got.len(), 2);
    assert!(
        got.iter()
            .all(|r| now - r.observation.at < chrono::Duration::minutes(1))
    );
    let got = s.recent_results(&q("a", 3)).await.unwrap();
    assert_eq!(got.len(), 3);
    assert!(now - got[2].observation.at > chrono::Duration::hours(70));
    let all = s.recent_results(&q("a", 100)).await.unwrap();
    assert_eq!(all.len(), 5);
    assert!(
        all.windows(2)
            .all(|w| w[0].observation.at >= w[1].observation.at)
    );
    let since = s
        .recent_results(&ResultQuery {
            since: Some(now - chrono::Duration::hours(100)),
            ..q("a", 100)
        })
        .await
        .unwrap();
    assert_eq!(since.len(), 3);
    assert!(s.recent_results(&q("nobody", 10)).await.unwrap().is_empty());
}

#[tokio::test]
async fn out_of_range_times_are_data_errors_and_write_nothing() {
    let Some(db) = TestDb::create("out_of_range_times_are_data_errors_and_write_nothing").await
    else {
        return;
    };
    let s = db.store().await;
    let ok = res("a", "c", Utc::now());
    let bad = res("a", "c", DateTime::<Utc>::MIN_UTC);
    let e = s
        .append_results(&ResultBatch {
            results: vec![ok.clone(), bad],
            rollups: vec![],
        })
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Data(_)), "{e:?}");
    assert!(!e.is_transient());
    assert!(
        s.recent_results(&q("a", 10)).await.unwrap().is_empty(),
        "all or nothing"
    );
    // a query bound out of range is clamped, not an error
    let got = s
        .recent_results(&ResultQuery {
            since: Some(DateTime::<Utc>::MIN_UTC),
            ..q("a", 10)
        })
        .await
        .unwrap();
    assert!(got.is_empty());
}

#[tokio::test]
async fn rollups_merge_filter_and_order() {
    let Some(db) = TestDb::create("rollups_merge_filter_and_order").await else {
        return;
    };
    let s = db.store().await;
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let bucket = |t: &str, day: i64, ms: u64, lat: u64| {
        let mut b = Bucket::new(Granularity::Day, t0 + chrono::Duration::days(day));
        b.add_time_ms(Status::Healthy, false, ms);
        b.add_observation(Outcome::Pass, Some(Duration::from_micros(lat)));
        TargetBucket {
            target: TargetId::new(t).unwrap(),
            bucket: b,
        }
    };
    // duplicates of one key inside a batch merge too
    s.append_results(&ResultBatch {
        results: vec![],
        rollups: vec![
            bucket("z", 1, 10, 5),
            bucket("a", 2, 10, 7),
            bucket("a", 1, 10, 9),
            bucket("a", 1, 5, 3),
            bucket("m", 0, 1, 1),
        ],
    })
    .await
    .unwrap();
    s.append_results(&ResultBatch {
        results: vec![],
        rollups: vec![bucket("a", 1, 1, 20)],
    })
    .await
    .unwrap();
    let all = s
        .rollups(&RollupQuery {
            targets: vec![],
            granularity: Granularity::Day,
            from: t0,
            to: t0 + chrono::Duration::days(30),
        })
        .await
        .unwrap();
    let order: Vec<(String, i64)> = all
        .iter()
        .map(|b| (b.target.to_string(), (b.bucket.start - t0).num_days()))
        .collect();
    assert_eq!(
        order,
        [("a", 1), ("a", 2), ("m", 0), ("z", 1)].map(|(t, d)| (t.to_owned(), d))
    );
    let a1 = &all[0].bucket;
    assert_eq!(a1.healthy_ms, 16);
    assert_eq!(a1.checks_total, 3);
    assert_eq!(a1.latency_min_us, Some(3));
    assert_eq!(a1.latency_max_us, Some(20));
    assert_eq!(a1.latency_sum_us, 32);
    let some = s
        .rollups(&RollupQuery {
            targets: vec![TargetId::new("z").unwrap(), TargetId::new("m").unwrap()],
            granularity: Granularity::Day,
            from: t0 + chrono::Duration::days(1),
            to: t0 + chrono::Duration::days(30),
        })
        .await
        .unwrap();
    assert_eq!(some.len(), 1);
    assert_eq!(some[0].target.as_str(), "z");
    // totals equal merging the buckets per target
    let whole = RollupQuery {
        targets: vec![],
        granularity: Granularity::Day,
        from: t0,
        to: t0 + chrono::Duration::days(30),
    };
    let totals = s.rollup_totals(&whole).await.unwrap();
    assert_eq!(totals.len(), 3);
    let mut a = all[0].bucket;
    a.merge_counts(&all[1].bucket);
    assert_eq!(totals[0].target.as_str(), "a");
    assert_eq!(totals[0].bucket, a);
    let only_m = s
        .rollup_totals(&RollupQuery {
            targets: vec![TargetId::new("m").unwrap()],
            ..whole.clone()
        })
        .await
        .unwrap();
    assert_eq!(only_m.len(), 1);
    assert_eq!(only_m[0].bucket, all[2].bucket);
    // saturating counters
    let mut huge = Bucket::new(Granularity::Day, t0);
    huge.healthy_ms = u64::MAX;
    for _ in 0..2 {
        s.append_results(&ResultBatch {
            results: vec![],
            rollups: vec![TargetBucket {
                target: TargetId::new("h").unwrap(),
                bucket: huge,
            }],
        })
        .await
        .unwrap();
    }
    let h = s
        .rollups(&RollupQuery {
            targets: vec![TargetId::new("h").unwrap()],
            granularity: Granularity::Day,
            from: t0,
            to: t0 + chrono::Duration::days(1),
        })
        .await
        .unwrap();
    assert_eq!(h[0].bucket.healthy_ms, i64::MAX as u64);
}

/// A result PostgreSQL refuses on its own (a NUL byte in its text, which
/// `text` cannot hold: SQLSTATE 22021, a data error) reaches the engine's
/// writer in a batch with good ones: the engine writes the good ones,
/// drops and counts the bad one, and goes on writing (before, the batch
/// was requeued forever and every later result stayed behind it).
#[tokio::test]
async fn the_engine_isolates_a_result_the_server_refuses() {
    let Some(db) = TestDb::create("the_engine_isolates_a_result_the_server_refuses").await else {
        return;
    };
    let store = std::sync::Arc::new(db.store().await);
    let engine = healthcore::engine::Engine::builder(store.clone())
        .claims(healthcore::engine::ClaimsMode::Off)
        .without_scheduler()
        .build()
        .unwrap();
    engine.start().await.unwrap();
    let t = TargetId::new("a").unwrap();
    engine
        .add_target(healthcore::model::Target::new(t.clone(), "a"))
        .await
        .unwrap();
    let k = engine
        .add_check(&t, healthcore::model::CheckSpec::new("heartbeat"))
        .await
        .unwrap();
    for i in 0..10 {
        let m = if i == 6 {
            "probe said \0 and stopped".to_owned()
        } else {
            format!("r{i}")
        };
        engine
            .ingest(
                &k,
                Observation::new(engine.now(), Outcome::Pass).with_message(m),
            )
            .unwrap();
    }
    engine.flush().await;
    let m = engine.metrics();
    assert_eq!((m.results_written, m.results_rejected), (9, 1), "{m:?}");
    let mut got: Vec<String> = store
        .recent_results(&q("a", 100))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.observation.message.unwrap_or_default())
        .collect();
    got.sort();
    let mut want: Vec<String> = (0..10)
        .filter(|i| *i != 6)
        .map(|i| format!("r{i}"))
        .collect();
    want.sort();
    assert_eq!(got, want);
    // not wedged: the writer task writes what comes next
    engine
        .ingest(
            &k,
            Observation::new(engine.now(), Outcome::Pass).with_message("later"),
        )
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while store.recent_results(&q("a", 100)).await.unwrap().len() < 10 {
        assert!(
            std::time::Instant::now() < deadline,
            "later result not written"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    engine.shutdown().await;
    assert_eq!(engine.metrics().results_rejected, 1);
    db.drop_schema().await;
}
