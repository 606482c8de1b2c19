//! PostgreSQL store benches (DESIGN.md §8), against the test server in a
//! fresh schema (`healthcore_sqlx::testing`); without a server they print
//! `SKIPPED` and measure nothing.
//!
//! - `results/append_5000`: batched result writes (COPY) with rollup
//!   deltas, 5,000 rows per transaction; budget ≥ 100,000 rows/s.
//! - `claims/claim_complete_500`: one instance claims 500 due checks out
//!   of 20,000 and completes them in one batch; budget ≥ 20,000 claims/s.
//! - `uptime/day_buckets_1000x30`: the 30-day day buckets of 1,000 targets
//!   (30,000 rows), what a 30-day uptime reads; budget < 100 ms.
//! - `uptime/totals_1000x30`: the same range summed per target by the
//!   server (`PgStore::rollup_totals`): 1,000 rows.
//! - `uptime/hour_timeline_1x720`: one target's 30-day hourly timeline.
//! - `uptime/engine_reports_1000x30`: `Engine::uptime_reports` for 1,000
//!   targets over 30 days (server-side totals plus the engine's live part);
//!   `_edges` with a range off day boundaries (hours at both edges).
//! - `claims/fenced_run_100`: what one claimed run writes in claims mode —
//!   a fenced transaction with its state and the completion — 100 runs.
//!
//! Run briefly: `cargo bench -p healthcore-sqlx --bench pg -- --warm-up-time 1 --measurement-time 5`

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use healthcore::model::{
    CheckId, CheckKey, CheckSpec, Observation, Outcome, Status, Target, TargetId,
};
use healthcore::rollup::{Bucket, Granularity};
use healthcore::store::*;
use healthcore_sqlx::PgStore;
use healthcore_sqlx::testing::TestDb;

fn tid(i: usize) -> TargetId {
    TargetId::new(format!("target-{i:05}")).unwrap()
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
}

fn results_batch(n: usize, targets: usize) -> ResultBatch {
    let t = t0();
    let results = (0..n)
        .map(|i| StoredResult {
            key: CheckKey::new(tid(i % targets), CheckId::new("tcp").unwrap()),
            observation: Observation::new(
                t + chrono::Duration::milliseconds(i as i64),
                Outcome::Pass,
            )
            .with_latency(Duration::from_micros(350 + (i % 100) as u64)),
            status: Status::Healthy,
        })
        .collect();
    // one minute bucket per target touched, as the writer produces
    let rollups = (0..targets.min(n))
        .map(|i| {
            let mut b = Bucket::new(Granularity::Minute, t);
            b.add_observation(Outcome::Pass, Some(Duration::from_micros(400)));
            TargetBucket {
                target: tid(i),
                bucket: b,
            }
        })
        .collect();
    ResultBatch { results, rollups }
}

async fn seed_rollups(store: &PgStore, targets: usize, from: DateTime<Utc>) {
    let mut rollups = Vec::new();
    for t in 0..targets {
        for d in 0..30 {
            let start = from + chrono::Duration::days(d);
            let mut b = Bucket::new(Granularity::Day, start);
            b.add_observation(Outcome::Pass, Some(Duration::from_millis(2)));
            b.add_time_ms(Status::Healthy, false, 86_000_000);
            b.add_time_ms(Status::Down, false, 400_000);
            rollups.push(TargetBucket {
                target: tid(t),
                bucket: b,
            });
            for h in 0..24 {
                let mut hb = Bucket::new(Granularity::Hour, start + chrono::Duration::hours(h));
                hb.add_time_ms(Status::Healthy, false, 3_600_000);
                rollups.push(TargetBucket {
                    target: tid(t),
                    bucket: hb,
                });
            }
        }
        if rollups.len() >= 20_000 {
            store
                .append_results(&ResultBatch {
                    results: vec![],
                    rollups: std::mem::take(&mut rollups),
                })
                .await
                .unwrap();
        }
    }
    store
        .append_results(&ResultBatch {
            results: vec![],
            rollups,
        })
        .await
        .unwrap();
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let Some(db) = rt.block_on(TestDb::create("bench pg")) else {
        return;
    };
    let store = rt.block_on(db.store_with(db.options().max_connections(8)));

    // ---- batched result writes -------------------------------------------
    let batch = results_batch(5_000, 1_000);
    let mut g = c.benchmark_group("results");
    g.sample_size(10);
    g.throughput(Throughput::Elements(batch.results.len() as u64));
    g.bench_function("append_5000", |b| {
        b.iter(|| rt.block_on(store.append_results(&batch)).unwrap())
    });
    let only_results = ResultBatch {
        results: batch.results.clone(),
        rollups: vec![],
    };
    g.bench_function("append_5000_without_rollups", |b| {
        b.iter(|| rt.block_on(store.append_results(&only_results)).unwrap())
    });
    g.finish();

    // ---- claims -------------------------------------------------------------
    rt.block_on(async {
        for t in 0..200 {
            let id = TargetId::new(format!("claim-{t:04}")).unwrap();
            store
                .put_target(&Target::new(id.clone(), "c"))
                .await
                .unwrap();
            for k in 0..100 {
                let spec = CheckSpec::new("tcp").named(CheckId::new(format!("k{k:03}")).unwrap());
                store.put_check(&id, &spec).await.unwrap();
            }
        }
    });
    let req = ClaimRequest {
        instance: healthcore_sqlx::fresh_instance_id(),
        limit: 500,
        lease: Duration::from_secs(60),
    };
    let mut g = c.benchmark_group("claims");
    g.sample_size(10);
    g.throughput(Throughput::Elements(500));
    g.bench_function("claim_complete_500", |b| {
        b.iter(|| {
            rt.block_on(async {
                let leases = store.claim_due(&req).await.unwrap();
                assert_eq!(leases.len(), 500);
                // due again at once: they go to the back of the queue
                let now = Utc::now() - chrono::Duration::seconds(1);
                let done: Vec<(Lease, DateTime<Utc>)> =
                    leases.into_iter().map(|l| (l, now)).collect();
                assert!(store.complete_claims(&done).await.unwrap().is_empty());
            })
        })
    });
    g.bench_function("claim_only_500", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let started = std::time::Instant::now();
                    let leases = store.claim_due(&req).await.unwrap();
                    spent += started.elapsed();
                    if leases.len() < 500 {
                        // everything held: make it all due again (not timed)
                        store.release_claims(&req.instance).await.unwrap();
                    }
                }
                store.release_claims(&req.instance).await.unwrap();
                spent
            })
        })
    });
    g.throughput(Throughput::Elements(100));
    let fenced_req = ClaimRequest {
        instance: healthcore_sqlx::fresh_instance_id(),
        limit: 100,
        lease: Duration::from_secs(60),
    };
    g.bench_function("fenced_run_100", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let leases = store.claim_due(&fenced_req).await.unwrap();
                    assert_eq!(leases.len(), 100);
                    let started = std::time::Instant::now();
                    for l in &leases {
                        let state = StateRecord {
                            scope: StateScope::Check { key: l.key.clone() },
                            body: serde_json::json!({"state": {"status": "healthy", "consecutive_successes": 7}}),
                            updated_at: Utc::now(),
                        };
                        let due = Utc::now() - chrono::Duration::seconds(1);
                        store
                            .fenced(l, &[FencedWrite::States(&[state]), FencedWrite::Complete(due)])
                            .await
                            .unwrap();
                    }
                    spent += started.elapsed();
                }
                spent
            })
        })
    });
    g.finish();

    // ---- uptime reads ---------------------------------------------------------
    let from = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    rt.block_on(seed_rollups(&store, 1_000, from));
    let to = from + chrono::Duration::days(30);
    let mut g = c.benchmark_group("uptime");
    g.sample_size(10);
    g.bench_function("day_buckets_1000x30", |b| {
        b.iter(|| {
            let got = rt
                .block_on(store.rollups(&RollupQuery {
                    targets: vec![],
                    granularity: Granularity::Day,
                    from,
                    to,
                }))
                .unwrap();
            assert_eq!(got.len(), 30_000);
        })
    });
    g.bench_function("totals_1000x30", |b| {
        b.iter(|| {
            let got = rt
                .block_on(store.rollup_totals(&RollupQuery {
                    targets: vec![],
                    granularity: Granularity::Day,
                    from,
                    to,
                }))
                .unwrap();
            assert_eq!(got.len(), 1_000);
        })
    });
    // the engine's path: targets known, totals summed by the server
    let engine = rt.block_on(async {
        for t in 0..1_000 {
            store.put_target(&Target::new(tid(t), "u")).await.unwrap();
        }
        let engine = healthcore::engine::Engine::builder(std::sync::Arc::new(db.store().await))
            .without_scheduler()
            .build()
            .unwrap();
        engine.start().await.unwrap();
        engine
    });
    g.bench_function("engine_reports_1000x30", |b| {
        b.iter(|| {
            let got = rt.block_on(engine.uptime_reports(None, from, to)).unwrap();
            // 1,000 targets with 30 days of rollups, 200 (claims) with none
            assert_eq!(got.len(), 1_200);
        })
    });
    g.bench_function("engine_reports_1000x30_edges", |b| {
        let (f, t) = (
            from + chrono::Duration::hours(5),
            to - chrono::Duration::hours(3),
        );
        b.iter(|| {
            let got = rt.block_on(engine.uptime_reports(None, f, t)).unwrap();
            assert_eq!(got.len(), 1_200);
        })
    });
    g.bench_function("hour_timeline_1x720", |b| {
        b.iter(|| {
            let got = rt
                .block_on(store.rollups(&RollupQuery {
                    targets: vec![tid(7)],
                    granularity: Granularity::Hour,
                    from,
                    to,
                }))
                .unwrap();
            assert_eq!(got.len(), 720);
        })
    });
    g.finish();

    rt.block_on(db.drop_schema());
}

criterion_group!(pg, benches);
criterion_main!(pg);
