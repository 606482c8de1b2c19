//! The rules the schema itself enforces, checked on the file with plain
//! SQL: no per-target index on raw results, alert dedup by a unique index,
//! resolved alerts never reopen, the capped `recent` table.

mod common;

use std::path::Path;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use healthcore::model::{CheckId, CheckKey, Observation, Outcome, Status, TargetId};
use healthcore::store::{ResultBatch, ResultQuery, Retention, Store, StoredResult};
use healthcore_sqlite::{SqliteOptions, SqliteStore};

fn t0() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
        .single()
        .expect("t0")
}

async fn created() -> std::path::PathBuf {
    let path = common::fresh_db("schema");
    SqliteStore::open(&path)
        .await
        .expect("create")
        .close()
        .await;
    path
}

fn sql(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).expect("open")
}

#[tokio::test]
async fn raw_results_have_no_per_target_index() {
    let c = sql(&created().await);
    let mut stmt = c
        .prepare("SELECT name FROM pragma_index_list('results')")
        .expect("prepare");
    let indexes: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert!(
        indexes.is_empty(),
        "raw results carry no secondary index: {indexes:?}"
    );
}

#[tokio::test]
async fn alert_dedup_is_a_unique_index_over_open_alerts() {
    let c = sql(&created().await);
    let insert = |id: &str, status: &str| {
        c.execute(
            "INSERT INTO alerts (id, target, kind, status, severity, created_at, record)
             VALUES (?1, 'a', 'down', ?2, 'critical', 0, '{}')",
            [id, status],
        )
    };
    insert("r1", "resolved").expect("resolved");
    insert("r2", "resolved").expect("resolved ones may repeat");
    insert("o1", "active").expect("first open");
    let err = insert("o2", "acknowledged").expect_err("second open alert of the key");
    assert_eq!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::ConstraintViolation),
        "{err}"
    );
    c.execute("UPDATE alerts SET status = 'resolved' WHERE id = 'o1'", [])
        .expect("resolve");
    insert("o3", "active").expect("a new one after resolving");
    let err = c
        .execute("UPDATE alerts SET status = 'active' WHERE id = 'o1'", [])
        .expect_err("reopen");
    assert!(err.to_string().contains("never reopens"), "{err}");
    let err = insert("o4", "bogus").expect_err("status is checked");
    assert_eq!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::ConstraintViolation)
    );
}

fn results(check: &str, from: i64, n: i64) -> Vec<StoredResult> {
    (from..from + n)
        .map(|i| StoredResult {
            key: CheckKey::new(
                TargetId::new("a").expect("id"),
                CheckId::new(check).expect("id"),
            ),
            observation: Observation::new(t0() + chrono::Duration::seconds(i), Outcome::Pass)
                .with_latency(Duration::from_millis(1)),
            status: Status::Healthy,
        })
        .collect()
}

fn recent_rows(path: &Path) -> i64 {
    sql(path)
        .query_row("SELECT count(*) FROM recent", [], |r| r.get(0))
        .expect("count")
}

#[tokio::test]
async fn recent_results_are_capped_per_check_and_purged_with_raw_rows() {
    let path = common::fresh_db("schema");
    let s = SqliteStore::open_with(
        &path,
        SqliteOptions {
            recent_per_check: 5,
            ..Default::default()
        },
    )
    .await
    .expect("open");
    for k in 0..3 {
        let mut rs = results("tcp", k * 4, 4);
        rs.extend(results("http", k * 4, 1));
        s.append_results(&ResultBatch {
            results: rs,
            rollups: vec![],
        })
        .await
        .expect("append");
    }
    // one big batch: rows beyond the cap get no pointer at all
    s.append_results(&ResultBatch {
        results: results("tcp", 100, 50),
        rollups: vec![],
    })
    .await
    .expect("append");
    assert_eq!(s.result_count().await.expect("count"), 12 + 3 + 50);
    assert_eq!(recent_rows(&path), 2, "one pointer list per check");
    let q = |check: Option<&str>| ResultQuery {
        target: TargetId::new("a").expect("id"),
        check: check.map(|c| CheckId::new(c).expect("id")),
        since: None,
        limit: 1000,
    };
    let tcp = s.recent_results(&q(Some("tcp"))).await.expect("tcp");
    let secs: Vec<i64> = tcp
        .iter()
        .map(|r| (r.observation.at - t0()).num_seconds())
        .collect();
    assert_eq!(secs, [149, 148, 147, 146, 145]);
    assert_eq!(s.recent_results(&q(None)).await.expect("all").len(), 8);

    let report = s
        .purge(
            &Retention {
                chunk: 3,
                ..Default::default()
            },
            t0() + chrono::Duration::days(365),
        )
        .await
        .expect("purge");
    assert_eq!(report.results, 65);
    assert_eq!(s.result_count().await.expect("count"), 0);
    assert_eq!(recent_rows(&path), 0, "pointer lists go with their rows");
    assert!(s.recent_results(&q(None)).await.expect("none").is_empty());
    s.close().await;
}

#[tokio::test]
async fn two_stores_on_one_file_stay_exact() {
    use healthcore::rollup::{Bucket, Granularity};
    use healthcore::store::{RollupQuery, TargetBucket};
    // Not the intended set-up (one process, one store per file), but the
    // writer's caches must notice another connection's commits.
    let path = common::fresh_db("schema");
    let a = SqliteStore::open(&path).await.expect("a");
    let b = SqliteStore::open(&path).await.expect("b");
    let delta = || {
        let mut bucket = Bucket::new(Granularity::Minute, t0());
        bucket.add_observation(Outcome::Pass, Some(Duration::from_millis(2)));
        ResultBatch {
            results: results("tcp", 0, 3),
            rollups: vec![TargetBucket {
                target: TargetId::new("a").expect("id"),
                bucket,
            }],
        }
    };
    for s in [&a, &b, &a, &b, &a] {
        s.append_results(&delta()).await.expect("append");
    }
    let got = a
        .rollups(&RollupQuery {
            targets: vec![],
            granularity: Granularity::Minute,
            from: t0(),
            to: t0() + chrono::Duration::minutes(1),
        })
        .await
        .expect("rollups");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].bucket.checks_total, 5, "every merge counted once");
    assert_eq!(b.result_count().await.expect("count"), 15);
    let recent = b
        .recent_results(&ResultQuery {
            target: TargetId::new("a").expect("id"),
            check: None,
            since: None,
            limit: 1000,
        })
        .await
        .expect("recent");
    assert_eq!(recent.len(), 15);
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_lets_writes_through_between_chunks() {
    use std::sync::atomic::{AtomicU32, Ordering};
    let path = common::fresh_db("schema");
    let s = SqliteStore::open(&path).await.expect("open");
    for k in 0..20 {
        s.append_results(&ResultBatch {
            results: results("tcp", k * 1000, 1000),
            rollups: vec![],
        })
        .await
        .expect("old results");
    }
    let order = AtomicU32::new(0);
    let r = Retention {
        chunk: 100,
        ..Default::default()
    };
    // 20,000 rows in chunks of 100: 200 writer transactions. A batch
    // appended meanwhile waits for one chunk, not for the purge.
    let (purged, written) = tokio::join!(
        async {
            let rep = s
                .purge(&r, t0() + chrono::Duration::days(400))
                .await
                .expect("purge");
            (rep, order.fetch_add(1, Ordering::SeqCst))
        },
        async {
            s.append_results(&ResultBatch {
                results: results("http", 0, 10),
                rollups: vec![],
            })
            .await
            .expect("append during purge");
            order.fetch_add(1, Ordering::SeqCst)
        }
    );
    assert_eq!(purged.0.results, 20_000 + 10, "the new batch is old too");
    assert_eq!(written, 0, "the append finished first");
    assert_eq!(purged.1, 1);
    s.close().await;
}
