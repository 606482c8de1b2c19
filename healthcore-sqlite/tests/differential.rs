//! Differential tests against the reference `InMemoryStore`: random
//! result batches and rollup deltas go to both stores, and every query
//! must answer the same. They cover what the conformance suite samples
//! only lightly: both rollup read paths (seek per target, range scan),
//! merging, ordering, and recent results (with the cap at its maximum the
//! answers are exact).

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use healthcore::memory::InMemoryStore;
use healthcore::model::{CheckId, CheckKey, Observation, Outcome, Status, TargetId};
use healthcore::rollup::{Bucket, Granularity};
use healthcore::store::{
    ResultBatch, ResultQuery, Retention, RollupQuery, Store, StoredResult, TargetBucket,
};
use healthcore_sqlite::{SqliteOptions, SqliteStore};
use proptest::prelude::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
        .single()
        .expect("t0")
}

fn tid(i: usize) -> TargetId {
    TargetId::new(format!("t{i:03}")).expect("id")
}

const OUTCOMES: [Outcome; 5] = Outcome::ALL;

#[derive(Debug, Clone)]
struct RawSpec {
    target: usize,
    check: usize,
    at_ms: i64,
    outcome: usize,
    latency_us: Option<u64>,
    message: bool,
}

fn raw_spec() -> impl Strategy<Value = RawSpec> {
    (
        0..3usize,
        0..2usize,
        0..600_000i64,
        0..5usize,
        proptest::option::of(0..5_000_000u64),
        any::<bool>(),
    )
        .prop_map(
            |(target, check, at_ms, outcome, latency_us, message)| RawSpec {
                target,
                check,
                at_ms,
                outcome,
                latency_us,
                message,
            },
        )
}

#[derive(Debug, Clone)]
struct DeltaSpec {
    target: usize,
    gran: usize,
    offset: i64,
    outcome: usize,
    latency_us: Option<u64>,
    healthy_ms: u64,
}

fn delta_spec() -> impl Strategy<Value = DeltaSpec> {
    (
        0..90usize,
        0..3usize,
        0..40i64,
        0..5usize,
        proptest::option::of(0..1_000_000u64),
        0..60_000u64,
    )
        .prop_map(
            |(target, gran, offset, outcome, latency_us, healthy_ms)| DeltaSpec {
                target,
                gran,
                offset,
                outcome,
                latency_us,
                healthy_ms,
            },
        )
}

fn build(raws: &[RawSpec], deltas: &[DeltaSpec]) -> ResultBatch {
    let results = raws
        .iter()
        .map(|r| {
            let mut o = Observation::new(
                t0() + chrono::Duration::milliseconds(r.at_ms) + chrono::Duration::nanoseconds(7),
                OUTCOMES[r.outcome],
            );
            o.latency = r.latency_us.map(Duration::from_micros);
            if r.message {
                o.message = Some(format!("m{}", r.at_ms));
            }
            StoredResult {
                key: CheckKey::new(
                    tid(r.target),
                    CheckId::new(["tcp", "http"][r.check]).expect("id"),
                ),
                observation: o,
                status: Status::ALL[r.outcome % 4],
            }
        })
        .collect();
    let rollups = deltas
        .iter()
        .map(|d| {
            let g = Granularity::ALL[d.gran];
            let mut b = Bucket::new(g, t0() + g.width() * i32::try_from(d.offset).unwrap_or(0));
            b.add_observation(OUTCOMES[d.outcome], d.latency_us.map(Duration::from_micros));
            b.add_time_ms(Status::Healthy, false, d.healthy_ms);
            TargetBucket {
                target: tid(d.target),
                bucket: b,
            }
        })
        .collect();
    ResultBatch { results, rollups }
}

fn queries() -> Vec<RollupQuery> {
    let mut out = Vec::new();
    let lists: Vec<Vec<TargetId>> = vec![
        vec![],
        vec![tid(3)],
        vec![tid(5), tid(1), tid(5), tid(200)],
        (0..90).step_by(7).map(tid).collect(),
        (0..90).map(tid).collect(),
    ];
    for g in Granularity::ALL {
        for (a, b) in [(0, 40), (3, 17), (-5, 2), (10, 10), (20, 5)] {
            for targets in &lists {
                out.push(RollupQuery {
                    targets: targets.clone(),
                    granularity: g,
                    from: t0() + g.width() * a,
                    to: t0() + g.width() * b,
                });
            }
        }
    }
    out
}

async fn same_answers(mem: &InMemoryStore, sql: &SqliteStore) {
    for q in queries() {
        assert_eq!(
            sql.rollups(&q).await.expect("sql rollups"),
            mem.rollups(&q).await.expect("mem rollups"),
            "{q:?}"
        );
    }
    for target in 0..4 {
        for check in [None, Some("tcp"), Some("http")] {
            for since in [None, Some(t0() + chrono::Duration::seconds(300))] {
                for limit in [1, 7, 1000] {
                    let q = ResultQuery {
                        target: tid(target),
                        check: check.map(|c| CheckId::new(c).expect("id")),
                        since,
                        limit,
                    };
                    assert_eq!(
                        sql.recent_results(&q).await.expect("sql recent"),
                        mem.recent_results(&q).await.expect("mem recent"),
                        "{q:?}"
                    );
                }
            }
        }
    }
}

/// Retention with everything kept for `keep_ms`.
fn retention(keep_ms: u64, chunk: u32) -> Retention {
    let d = Duration::from_millis(keep_ms);
    Retention {
        results: d,
        snapshots: d,
        heal_events: d,
        lifecycle_events: d,
        audit: d,
        status_windows: d,
        resolved_alerts: d,
        minute_rollups: d,
        hour_rollups: d,
        day_rollups: d,
        chunk,
    }
}

async fn compare(batches: Vec<ResultBatch>, purge: Option<(i64, u64, u32)>) {
    let mem = InMemoryStore::new();
    let sql = SqliteStore::open_in_memory_with(SqliteOptions {
        recent_per_check: 1000,
        ..Default::default()
    })
    .await
    .expect("open");
    let (last, rest) = batches.split_last().expect("at least one batch");
    for b in rest {
        mem.append_results(b).await.expect("mem");
        sql.append_results(b).await.expect("sql");
    }
    same_answers(&mem, &sql).await;
    if let Some((now_ms, keep_ms, chunk)) = purge {
        let now = t0() + chrono::Duration::milliseconds(now_ms);
        let r = retention(keep_ms, chunk);
        assert_eq!(
            sql.purge(&r, now).await.expect("sql purge"),
            mem.purge(&r, now).await.expect("mem purge"),
            "purge report at {now_ms}ms keeping {keep_ms}ms in chunks of {chunk}"
        );
        same_answers(&mem, &sql).await;
    }
    // writes after a purge continue from the writer's caches
    mem.append_results(last).await.expect("mem");
    sql.append_results(last).await.expect("sql");
    same_answers(&mem, &sql).await;
    sql.close().await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn sqlite_answers_like_the_reference_store(
        batches in proptest::collection::vec(
            (proptest::collection::vec(raw_spec(), 0..60), proptest::collection::vec(delta_spec(), 0..120)),
            1..5,
        ),
        purge in proptest::option::of((prop_oneof![3 => 0..800_000i64, 1 => 0..4_000_000_000i64], 0..200_000u64, 1..20u32)),
    ) {
        let batches: Vec<ResultBatch> = batches.iter().map(|(r, d)| build(r, d)).collect();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(compare(batches, purge));
    }
}
