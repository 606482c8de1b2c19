//! Concurrency: many readers and writers at once through one store give
//! zero errors to callers — in particular no SQLITE_BUSY / "database is
//! locked" (which would surface as `StoreError::Unavailable`).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use healthcore::alert::{AlertKind, AlertStatus};
use healthcore::model::{CheckId, CheckKey, Observation, Outcome, Status, Target, TargetId};
use healthcore::rollup::{Bucket, Granularity};
use healthcore::store::{
    AlertQuery, Entry, EntryQuery, InsertAlert, ResultBatch, ResultQuery, Retention, RollupQuery,
    StateRecord, StateScope, Store, StoreError, StoredResult, TargetBucket, TargetQuery,
};
use healthcore::testkit::conformance::alert;
use healthcore_sqlite::SqliteStore;

const TARGETS: usize = 50;
const BATCHES_PER_WRITER: u64 = 40;
const WRITERS: u64 = 3;
const READERS: usize = 16;

fn tid(i: usize) -> TargetId {
    TargetId::new(format!("t{i}")).expect("id")
}

fn t0() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
        .single()
        .expect("t0")
}

fn batch(w: u64, k: u64) -> ResultBatch {
    let at = t0() + chrono::Duration::seconds(i64::try_from(w * 10_000 + k).unwrap_or(0));
    let results = (0..500)
        .map(|i| StoredResult {
            key: CheckKey::new(tid(i % TARGETS), CheckId::new("tcp").expect("id")),
            observation: Observation::new(at, Outcome::Pass).with_latency(Duration::from_millis(3)),
            status: Status::Healthy,
        })
        .collect();
    let rollups = (0..TARGETS)
        .flat_map(|i| {
            Granularity::ALL.into_iter().map(move |g| {
                let mut b = Bucket::new(g, at);
                b.add_observation(Outcome::Pass, Some(Duration::from_millis(3)));
                TargetBucket {
                    target: tid(i),
                    bucket: b,
                }
            })
        })
        .collect();
    ResultBatch { results, rollups }
}

/// Counts every error a caller sees, by kind.
#[derive(Default)]
struct Errors {
    busy: AtomicU64,
    other: AtomicU64,
}

impl Errors {
    fn note<T>(&self, r: Result<T, StoreError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(StoreError::Unavailable(m)) => {
                eprintln!("unavailable: {m}");
                self.busy.fetch_add(1, Ordering::Relaxed);
                None
            }
            Err(e) => {
                eprintln!("error: {e}");
                self.other.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_and_writers_see_no_busy_errors() {
    let store = Arc::new(
        SqliteStore::open(common::fresh_db("concurrency"))
            .await
            .expect("open"),
    );
    for i in 0..TARGETS {
        store
            .put_target(&Target::new(tid(i), format!("T{i}")))
            .await
            .expect("target");
    }
    let errors = Arc::new(Errors::default());
    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));

    let mut readers = Vec::new();
    for r in 0..READERS {
        let (s, e, d, n) = (
            Arc::clone(&store),
            Arc::clone(&errors),
            Arc::clone(&done),
            Arc::clone(&reads),
        );
        readers.push(tokio::spawn(async move {
            let mut i = r;
            while !d.load(Ordering::Relaxed) {
                i += 1;
                match i % 6 {
                    0 => {
                        e.note(
                            s.recent_results(&ResultQuery {
                                target: tid(i % TARGETS),
                                check: None,
                                since: None,
                                limit: 50,
                            })
                            .await,
                        );
                    }
                    1 => {
                        e.note(
                            s.rollups(&RollupQuery {
                                targets: vec![],
                                granularity: Granularity::Minute,
                                from: t0(),
                                to: t0() + chrono::Duration::days(1),
                            })
                            .await,
                        );
                    }
                    2 => {
                        e.note(s.list_alerts(&AlertQuery::default()).await);
                    }
                    3 => {
                        e.note(s.load_states().await);
                    }
                    4 => {
                        e.note(
                            s.query_entries(&EntryQuery {
                                kind: "audit".into(),
                                ..Default::default()
                            })
                            .await,
                        );
                    }
                    _ => {
                        e.note(s.list_targets(&TargetQuery::default()).await);
                    }
                }
                n.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (s, e) = (Arc::clone(&store), Arc::clone(&errors));
        writers.push(tokio::spawn(async move {
            for k in 0..BATCHES_PER_WRITER {
                e.note(s.append_results(&batch(w, k)).await);
                let target = (w as usize * 7 + k as usize) % TARGETS;
                let id = format!("w{w}-{k}");
                let a = alert(&id, &format!("t{target}"), AlertKind::Offline, t0());
                if let Some(InsertAlert::Created) = e.note(s.insert_alert(&a).await) {
                    let mut resolved = a.clone();
                    resolved.status = AlertStatus::Resolved;
                    resolved.resolved_at = Some(t0());
                    // another writer may resolve nothing of ours; ours is still active
                    e.note(s.update_alert(&resolved, AlertStatus::Active).await);
                }
                e.note(
                    s.put_states(&[StateRecord {
                        scope: StateScope::Target {
                            target: tid(target),
                        },
                        body: serde_json::json!({"k": k}),
                        updated_at: t0(),
                    }])
                    .await,
                );
                e.note(
                    s.append_entries(&[Entry {
                        kind: "audit".into(),
                        id: id.clone(),
                        target: Some(tid(target)),
                        tenant: None,
                        at: t0(),
                        subtype: Some("recheck".into()),
                        body: serde_json::json!({}),
                    }])
                    .await,
                );
            }
        }));
    }
    // Retention running alongside, in small chunks.
    let purger = {
        let (s, e) = (Arc::clone(&store), Arc::clone(&errors));
        tokio::spawn(async move {
            let r = Retention {
                chunk: 100,
                ..Default::default()
            };
            for _ in 0..20 {
                e.note(s.purge(&r, t0() + chrono::Duration::days(31)).await);
            }
        })
    };

    for w in writers {
        w.await.expect("writer task");
    }
    purger.await.expect("purger task");
    done.store(true, Ordering::Relaxed);
    for r in readers {
        r.await.expect("reader task");
    }
    let (busy, other) = (
        errors.busy.load(Ordering::Relaxed),
        errors.other.load(Ordering::Relaxed),
    );
    let reads = reads.load(Ordering::Relaxed);
    eprintln!("concurrency: {reads} reads alongside {WRITERS} writers; busy {busy}, other {other}");
    assert_eq!(busy, 0, "SQLITE_BUSY / locked reached callers");
    assert_eq!(other, 0, "other errors reached callers");
    assert!(reads >= READERS as u64, "readers ran");
    store.integrity_check().await.expect("integrity");
}
