//! Resident memory per scheduled check (issue 4, budget ≤ 4 KiB).
//!
//! Starts N scheduled checks (one target each, 1 s interval scaled so the
//! engine runs 10,000 checks/s) with an in-process checker on a store that
//! keeps the catalog (targets, checks) in memory but discards results,
//! rollups, journal entries and state (so retained history does not
//! count), waits until
//! every check has run at least twice, and reports per check:
//!
//! - live heap bytes (a counting global allocator; everything runs on one
//!   current-thread runtime so every allocation is seen), split into the
//!   store's catalog and the engine's own part (fleet, scheduler, tasks);
//! - the pure [`Fleet`]'s share of it, measured on its own;
//! - resident set growth (RSS steady − RSS before registration).
//!
//! Run: `cargo bench --bench engine_memory` (env `CHECKS`, default
//! `10000,50000`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use healthcore::alert::{Alert, AlertStatus};
use healthcore::checker::Checker;
use healthcore::engine::{Engine, EngineConfig};
use healthcore::fleet::{Fleet, FleetConfig};
use healthcore::memory::InMemoryStore;
use healthcore::model::{CheckKey, CheckSpec, Observation, Outcome, Target, TargetId};
use healthcore::store::*;

#[derive(Debug)]
struct Instant200;

#[async_trait]
impl Checker for Instant200 {
    fn kind(&self) -> &str {
        "fake"
    }
    async fn check(&self, _spec: &CheckSpec) -> Observation {
        Observation::new(Utc::now(), Outcome::Pass).with_latency(Duration::from_micros(50))
    }
}

/// The in-memory catalog, with results, rollups, journal entries and
/// state counted and discarded (a database store keeps those on disk, not in this process).
#[derive(Debug, Default)]
struct CatalogOnly {
    inner: InMemoryStore,
    results: AtomicU64,
    entries: AtomicU64,
}

#[async_trait]
impl Store for CatalogOnly {
    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE
    }
    async fn put_target(&self, target: &Target) -> StoreResult<()> {
        self.inner.put_target(target).await
    }
    async fn get_target(&self, id: &TargetId) -> StoreResult<Option<Target>> {
        self.inner.get_target(id).await
    }
    async fn list_targets(&self, query: &TargetQuery) -> StoreResult<Page<Target>> {
        self.inner.list_targets(query).await
    }
    async fn delete_target(&self, id: &TargetId) -> StoreResult<bool> {
        self.inner.delete_target(id).await
    }
    async fn put_check(&self, target: &TargetId, spec: &CheckSpec) -> StoreResult<()> {
        self.inner.put_check(target, spec).await
    }
    async fn list_checks(
        &self,
        target: Option<&TargetId>,
    ) -> StoreResult<Vec<(TargetId, CheckSpec)>> {
        self.inner.list_checks(target).await
    }
    async fn delete_check(&self, key: &CheckKey) -> StoreResult<bool> {
        self.inner.delete_check(key).await
    }
    async fn append_results(&self, batch: &ResultBatch) -> StoreResult<()> {
        self.results
            .fetch_add(batch.results.len() as u64, Ordering::Relaxed);
        Ok(())
    }
    async fn recent_results(&self, query: &ResultQuery) -> StoreResult<Vec<StoredResult>> {
        self.inner.recent_results(query).await
    }
    async fn rollups(&self, query: &RollupQuery) -> StoreResult<Vec<TargetBucket>> {
        self.inner.rollups(query).await
    }
    async fn put_states(&self, _records: &[StateRecord]) -> StoreResult<()> {
        Ok(())
    }
    async fn load_states(&self) -> StoreResult<Vec<StateRecord>> {
        self.inner.load_states().await
    }
    async fn insert_alert(&self, alert: &Alert) -> StoreResult<InsertAlert> {
        self.inner.insert_alert(alert).await
    }
    async fn update_alert(&self, alert: &Alert, expected: AlertStatus) -> StoreResult<()> {
        self.inner.update_alert(alert, expected).await
    }
    async fn get_alert(&self, id: &str) -> StoreResult<Option<Alert>> {
        self.inner.get_alert(id).await
    }
    async fn list_alerts(&self, query: &AlertQuery) -> StoreResult<Page<Alert>> {
        self.inner.list_alerts(query).await
    }
    async fn put_doc(&self, doc: &Doc) -> StoreResult<()> {
        self.inner.put_doc(doc).await
    }
    async fn get_doc(&self, kind: &str, id: &str) -> StoreResult<Option<Doc>> {
        self.inner.get_doc(kind, id).await
    }
    async fn list_docs(&self, query: &DocQuery) -> StoreResult<Vec<Doc>> {
        self.inner.list_docs(query).await
    }
    async fn delete_doc(&self, kind: &str, id: &str) -> StoreResult<bool> {
        self.inner.delete_doc(kind, id).await
    }
    async fn append_entries(&self, entries: &[Entry]) -> StoreResult<()> {
        self.entries
            .fetch_add(entries.len() as u64, Ordering::Relaxed);
        Ok(())
    }
    async fn query_entries(&self, query: &EntryQuery) -> StoreResult<Page<Entry>> {
        self.inner.query_entries(query).await
    }
    async fn purge(&self, retention: &Retention, now: DateTime<Utc>) -> StoreResult<PurgeReport> {
        self.inner.purge(retention, now).await
    }
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
        * 1024
}

fn target(i: usize) -> Target {
    let id = TargetId::new(format!("t{i:06}")).expect("id");
    Target::new(id, format!("t{i}"))
}

fn spec(interval: Duration) -> CheckSpec {
    CheckSpec::new("fake").every(interval, interval / 2)
}

/// The pure fleet's live bytes for `n` targets with one observed check each.
fn fleet_bytes(n: usize, interval: Duration) -> i64 {
    let now = Utc::now();
    let mut kept = None;
    let info = allocation_counter::measure(|| {
        let mut fleet = Fleet::new(FleetConfig::default(), "m");
        let mut out = Vec::new();
        for i in 0..n {
            let t = target(i);
            let id = t.id.clone();
            fleet.upsert_target(t, now);
            let key = fleet.upsert_check(&id, spec(interval)).expect("check");
            let obs = Observation::new(now, Outcome::Pass).with_latency(Duration::from_micros(50));
            fleet.observe(&key, &obs, &mut out).expect("observe");
            out.clear();
        }
        // what the writer drains every flush
        let _ = fleet.drain_rollups();
        let _ = fleet.take_dirty_states(now);
        kept = Some(fleet);
    });
    drop(kept);
    info.bytes_current
}

/// The in-memory catalog's live bytes for `n` targets with one check each.
fn catalog_bytes(rt: &tokio::runtime::Runtime, n: usize, interval: Duration) -> i64 {
    let mut kept = None;
    let info = allocation_counter::measure(|| {
        rt.block_on(async {
            let store = InMemoryStore::new();
            for i in 0..n {
                let t = target(i);
                store.put_target(&t).await.expect("target");
                store
                    .put_check(&t.id, &spec(interval))
                    .await
                    .expect("check");
            }
            kept = Some(store);
        })
    });
    drop(kept);
    info.bytes_current
}

fn run(n: usize) {
    // 10,000 checks/s whatever N is
    let interval = Duration::from_millis(((n as u64) / 10).max(1000));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let store = Arc::new(CatalogOnly::default());
    let engine = rt.block_on(async {
        let mut cfg = EngineConfig::default();
        cfg.limits.max_concurrency = 1024;
        let engine = Engine::builder(store.clone())
            .checker(Arc::new(Instant200))
            .config(cfg)
            .build()
            .expect("engine");
        engine.start().await.expect("start");
        tokio::time::sleep(Duration::from_millis(200)).await;
        engine
    });
    let rss0 = rss_bytes();
    let mut ran = 0;
    let info = allocation_counter::measure(|| {
        rt.block_on(async {
            for i in 0..n {
                let t = target(i);
                let id = t.id.clone();
                engine.add_target(t).await.expect("target");
                engine.add_check(&id, spec(interval)).await.expect("check");
            }
            let m0 = engine.metrics().checks;
            // every check runs at least twice (first runs are spread over
            // one interval), then one more flush interval
            tokio::time::sleep(interval * 3 + Duration::from_secs(1)).await;
            ran = engine.metrics().checks - m0;
        })
    });
    let rss1 = rss_bytes();
    let catalog = catalog_bytes(&rt, n, interval);
    let fleet = fleet_bytes(n, interval);
    let per = |b: i64| b as f64 / n as f64;
    println!("checks:                 {n} (interval {interval:?}), ran {ran} after registration");
    println!(
        "heap per check:         {:.0} B total = {:.0} B engine + {:.0} B in-memory catalog (store)",
        per(info.bytes_current),
        per(info.bytes_current - catalog),
        per(catalog)
    );
    println!(
        "  of the engine's:      {:.0} B pure fleet state, {:.0} B scheduler + tasks + timers",
        per(fleet),
        per(info.bytes_current - catalog - fleet)
    );
    println!(
        "  live allocations:     {:.1} per check",
        info.count_current as f64 / n as f64
    );
    println!(
        "resident per check:     {:.0} B (RSS {} → {} KiB)",
        (rss1.saturating_sub(rss0)) as f64 / n as f64,
        rss0 / 1024,
        rss1 / 1024
    );
    println!(
        "peak heap per check:    {:.0} B (registration and start-up burst included)",
        per(info.bytes_max as i64)
    );
    println!(
        "discarded:              {} results, {} journal entries",
        store.results.load(Ordering::Relaxed),
        store.entries.load(Ordering::Relaxed)
    );
    rt.block_on(engine.shutdown());
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` smoke mode
    }
    let sizes: Vec<usize> = std::env::var("CHECKS")
        .unwrap_or_else(|_| "10000,50000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    for n in sizes {
        run(n);
    }
}
