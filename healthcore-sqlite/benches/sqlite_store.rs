//! SQLite store budgets (DESIGN.md §8):
//!
//! - `append`: batched result writes, ≥ 200,000 rows/s. One batch is
//!   10,000 results spread over 1,000 targets (10 each, interleaved as
//!   they arrive) with, in `with_rollups`, the 3,000 rollup deltas
//!   (minute, hour, day per target) merged in the same transaction.
//!   `worst_1_per_target` is the expensive shape: 1,000 results, one per
//!   target, each with its 3 deltas. File store, default options (WAL,
//!   `synchronous = FULL`).
//! - `uptime_30d`: 30-day uptime and timeline for 1,000 targets from day
//!   rollups (read + `uptime_from_buckets` + `timeline_from_buckets` per
//!   target), < 100 ms, measured with `raw` results in the file and again
//!   after the raw table grew tenfold; the time must not grow.
//!
//! Run briefly: `cargo bench -p healthcore-sqlite --bench sqlite_store --
//! --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use healthcore::model::{CheckId, CheckKey, Observation, Outcome, Status, TargetId};
use healthcore::rollup::{Bucket, Granularity, timeline_from_buckets, uptime_from_buckets};
use healthcore::store::{ResultBatch, RollupQuery, Store, StoredResult, TargetBucket};
use healthcore::uptime::UptimeConfig;
use healthcore_sqlite::SqliteStore;
use tokio::runtime::Runtime;

const TARGETS: usize = 1_000;
const PER_TARGET: usize = 10;
const BATCH: usize = TARGETS * PER_TARGET;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
        .single()
        .expect("t0")
}

fn ids() -> (Vec<TargetId>, CheckId) {
    (
        (0..TARGETS)
            .map(|i| TargetId::new(format!("node-{i:04}")).expect("id"))
            .collect(),
        CheckId::new("tcp").expect("id"),
    )
}

/// Batch number `k`: `per` results per target, one second apart, arriving
/// interleaved (target 0, 1, …, 999, 0, 1, …).
fn batch(k: u64, per: usize, targets: &[TargetId], check: &CheckId, rollups: bool) -> ResultBatch {
    let step = i64::try_from(per).unwrap_or(1);
    let base = t0() + chrono::Duration::seconds(i64::try_from(k).unwrap_or(0) * step);
    let mut results = Vec::with_capacity(per * targets.len());
    for s in 0..per {
        let at = base + chrono::Duration::seconds(s as i64);
        for t in targets {
            results.push(StoredResult {
                key: CheckKey::new(t.clone(), check.clone()),
                observation: Observation::new(at, Outcome::Pass)
                    .with_latency(Duration::from_micros(800 + s as u64)),
                status: Status::Healthy,
            });
        }
    }
    let mut deltas = Vec::new();
    if rollups {
        for t in targets {
            for g in Granularity::ALL {
                let mut b = Bucket::new(g, base);
                for _ in 0..per {
                    b.add_observation(Outcome::Pass, Some(Duration::from_micros(800)));
                }
                b.add_interval(
                    Status::Healthy,
                    false,
                    base,
                    base + chrono::Duration::seconds(step),
                );
                deltas.push(TargetBucket {
                    target: t.clone(),
                    bucket: b,
                });
            }
        }
    }
    ResultBatch {
        results,
        rollups: deltas,
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("healthcore-sqlite-bench");
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join(name);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

fn append(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let (targets, check) = ids();
    let mut g = c.benchmark_group("append");
    g.sample_size(10);
    for (name, per, rollups) in [
        ("results_only", PER_TARGET, false),
        ("with_rollups", PER_TARGET, true),
        ("worst_1_per_target", 1, true),
    ] {
        g.throughput(Throughput::Elements((per * TARGETS) as u64));
        let store = rt
            .block_on(SqliteStore::open(scratch(&format!("append-{name}.db"))))
            .expect("open");
        let mut k = 0u64;
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    k += 1;
                    batch(k, per, &targets, &check, rollups)
                },
                |batch| {
                    rt.block_on(store.append_results(&batch)).expect("append");
                },
                BatchSize::PerIteration,
            );
        });
        rt.block_on(store.close());
    }
    g.finish();
}

/// 30 days of day buckets for every target, then raw results up to `raw`.
async fn fill(store: &SqliteStore, raw: u64, targets: &[TargetId], check: &CheckId) {
    let have = store.result_count().await.expect("count");
    let mut k = 1_000_000 + have / BATCH as u64;
    let mut n = have;
    while n < raw {
        store
            .append_results(&batch(k, PER_TARGET, targets, check, false))
            .await
            .expect("raw");
        k += 1;
        n += BATCH as u64;
    }
}

async fn day_rollups(store: &SqliteStore, targets: &[TargetId]) {
    for day in 0..30 {
        let start = t0() + chrono::Duration::days(day);
        let rollups = targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let mut b = Bucket::new(Granularity::Day, start);
                b.add_observation(Outcome::Pass, Some(Duration::from_millis(1)));
                let down = if (i + day as usize) % 17 == 0 {
                    3_600_000
                } else {
                    0
                };
                b.add_time_ms(Status::Healthy, false, 86_400_000 - down);
                b.add_time_ms(Status::Down, false, down);
                TargetBucket {
                    target: t.clone(),
                    bucket: b,
                }
            })
            .collect();
        store
            .append_results(&ResultBatch {
                results: vec![],
                rollups,
            })
            .await
            .expect("rollups");
    }
}

async fn uptime_and_timeline(store: &SqliteStore) -> usize {
    let (from, to) = (t0(), t0() + chrono::Duration::days(30));
    let buckets = store
        .rollups(&RollupQuery {
            targets: vec![],
            granularity: Granularity::Day,
            from,
            to,
        })
        .await
        .expect("rollups");
    let cfg = UptimeConfig::default();
    let mut segments = 0;
    let mut i = 0;
    while i < buckets.len() {
        let t = &buckets[i].target;
        let mut j = i;
        while j < buckets.len() && &buckets[j].target == t {
            j += 1;
        }
        let mine: Vec<Bucket> = buckets[i..j].iter().map(|b| b.bucket).collect();
        black_box(uptime_from_buckets(&mine, from, to, &cfg));
        segments += timeline_from_buckets(&mine, from, to).len();
        i = j;
    }
    segments
}

fn uptime(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let (targets, check) = ids();
    let store = rt
        .block_on(SqliteStore::open(scratch("uptime.db")))
        .expect("open");
    rt.block_on(day_rollups(&store, &targets));
    let mut g = c.benchmark_group("uptime_30d");
    g.sample_size(20);
    for raw in [100_000u64, 1_000_000] {
        rt.block_on(fill(&store, raw, &targets, &check));
        let held = rt.block_on(store.result_count()).expect("count");
        assert!(rt.block_on(uptime_and_timeline(&store)) >= TARGETS);
        g.bench_function(format!("1000_targets_raw_{held}"), |b| {
            b.iter(|| rt.block_on(uptime_and_timeline(&store)));
        });
    }
    g.finish();
    rt.block_on(store.close());
}

criterion_group!(benches, append, uptime);
criterion_main!(benches);
