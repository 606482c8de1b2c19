//! Crash test: a child process (this test binary, re-run in child mode)
//! writes result batches, alerts and acknowledgements in a loop and
//! reports each commit on stdout; the parent kills it with SIGKILL at a
//! random moment, many times. After each kill the file must reopen, pass
//! `PRAGMA integrity_check`, hold every batch the child reported (whole:
//! batches are atomic) and every reported alert and acknowledgement.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use healthcore::alert::{AlertKind, AlertStatus};
use healthcore::model::{CheckId, CheckKey, Observation, Outcome, Status, TargetId};
use healthcore::rollup::{Bucket, Granularity};
use healthcore::store::{ResultBatch, Store, StoredResult, TargetBucket};
use healthcore::testkit::conformance::alert;
use healthcore_sqlite::{Durability, SqliteOptions, SqliteStore};

const CHILD_ENV: &str = "HEALTHCORE_SQLITE_CRASH_CHILD";
const ROWS_PER_BATCH: usize = 200;
const KILLS: u64 = 30;

fn tid(s: &str) -> TargetId {
    TargetId::new(s).expect("id")
}

fn batch(k: u64) -> ResultBatch {
    let t0 = Utc
        .with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
        .single()
        .expect("t0");
    let at = t0 + chrono::Duration::milliseconds(i64::try_from(k % 1_000_000).unwrap_or(0));
    let results = (0..ROWS_PER_BATCH)
        .map(|i| StoredResult {
            key: CheckKey::new(
                tid(&format!("t{}", i % 20)),
                CheckId::new("tcp").expect("id"),
            ),
            observation: Observation::new(at, Outcome::Pass)
                .with_latency(Duration::from_micros(100 + i as u64))
                .with_message(format!("b{k}")),
            status: Status::Healthy,
        })
        .collect();
    let mut b = Bucket::new(Granularity::Minute, at);
    b.add_observation(Outcome::Pass, Some(Duration::from_micros(100)));
    ResultBatch {
        results,
        rollups: vec![TargetBucket {
            target: tid("t0"),
            bucket: b,
        }],
    }
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The writing child; ignored in normal runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "child process of committed_work_survives_sigkill"]
async fn crash_child() {
    let spec = std::env::var(CHILD_ENV).expect("run by committed_work_survives_sigkill");
    let mut parts = spec.split('\n');
    let path = parts.next().expect("path").to_owned();
    let start: u64 = parts.next().expect("start").parse().expect("number");
    let durability = match parts.next() {
        Some("normal") => Durability::Normal,
        _ => Durability::Full,
    };
    let store = SqliteStore::open_with(
        &path,
        SqliteOptions {
            durability,
            ..Default::default()
        },
    )
    .await
    .expect("child open");
    say("OPEN");
    for k in start.. {
        store.append_results(&batch(k)).await.expect("append");
        say(&format!("R {k}"));
        if k % 4 == 0 {
            let id = format!("al-{k}");
            let a = alert(&id, &format!("al-{k}"), AlertKind::Down, Utc::now());
            store.insert_alert(&a).await.expect("insert alert");
            say(&format!("A {k}"));
            let mut acked = a.clone();
            acked.status = AlertStatus::Acknowledged;
            acked.acknowledged_by = Some("ops".into());
            acked.acknowledged_at = Some(Utc::now());
            store
                .update_alert(&acked, AlertStatus::Active)
                .await
                .expect("ack");
            say(&format!("K {k}"));
        }
    }
}

/// xorshift64*: enough randomness for kill delays, seeded per run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn batch_counts(path: &Path) -> BTreeMap<u64, i64> {
    let c = rusqlite::Connection::open(path).expect("open for counting");
    let mut stmt = c
        .prepare("SELECT message, count(*) FROM results GROUP BY message")
        .expect("prepare");
    stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .expect("query")
        .map(|r| {
            let (m, n) = r.expect("row");
            (m.trim_start_matches('b').parse().expect("batch id"), n)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_work_survives_sigkill() {
    let path = common::fresh_db("crash");
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0x9E37_79B9, |d| d.as_nanos() as u64)
        | 1;
    eprintln!("crash test seed {seed:#x}");
    let mut rng = Rng(seed);
    let mut committed: BTreeSet<u64> = BTreeSet::new();
    let mut alerted: BTreeSet<u64> = BTreeSet::new();
    let mut acked: BTreeSet<u64> = BTreeSet::new();
    let started = Instant::now();

    for round in 0..KILLS {
        let durability = if round % 2 == 0 { "full" } else { "normal" };
        let mut child = Command::new(std::env::current_exe().expect("exe"))
            .args(["--exact", "crash_child", "--ignored", "--nocapture"])
            .env(
                CHILD_ENV,
                format!("{}\n{}\n{durability}", path.display(), round * 1_000_000),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let (open_tx, open_rx) = std::sync::mpsc::channel();
        let reader = {
            let lines = Arc::clone(&lines);
            let out = child.stdout.take().expect("stdout");
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if line == "OPEN" {
                        let _ = open_tx.send(());
                    }
                    lines.lock().expect("lines").push(line);
                }
            })
        };
        // Kill at a random moment after the child is writing: 0..=120 ms.
        open_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("child opened the store");
        std::thread::sleep(Duration::from_millis(rng.next() % 121));
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        reader.join().expect("reader");

        for line in lines.lock().expect("lines").iter() {
            let mut w = line.split(' ');
            let (Some(tag), Some(k)) = (w.next(), w.next().and_then(|k| k.parse::<u64>().ok()))
            else {
                continue;
            };
            match tag {
                "R" => committed.insert(k),
                "A" => alerted.insert(k),
                "K" => acked.insert(k),
                _ => false,
            };
        }

        // Reopen after the crash, check integrity and every reported commit.
        let store = SqliteStore::open(&path)
            .await
            .expect("reopen after SIGKILL");
        store.integrity_check().await.expect("integrity ok");
        for k in &alerted {
            let a = store
                .get_alert(&format!("al-{k}"))
                .await
                .expect("get")
                .unwrap_or_else(|| panic!("round {round}: reported alert al-{k} lost"));
            if acked.contains(k) {
                assert_eq!(
                    a.status,
                    AlertStatus::Acknowledged,
                    "round {round}: ack of al-{k} lost"
                );
                assert_eq!(a.acknowledged_by.as_deref(), Some("ops"));
            }
        }
        store.close().await;
        let counts = batch_counts(&path);
        for k in &committed {
            assert_eq!(
                counts.get(k).copied(),
                Some(ROWS_PER_BATCH as i64),
                "round {round}: reported batch {k} missing or partial"
            );
        }
        for (k, n) in &counts {
            assert_eq!(*n, ROWS_PER_BATCH as i64, "batch {k} is partial");
        }
    }
    assert!(
        committed.len() as u64 >= KILLS,
        "the child should commit at least once per round, got {}",
        committed.len()
    );
    eprintln!(
        "crash test: {KILLS} kills, {} batches, {} alerts, {} acks verified in {:?}",
        committed.len(),
        alerted.len(),
        acked.len(),
        started.elapsed()
    );
}
