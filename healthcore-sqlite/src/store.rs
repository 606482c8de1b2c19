//! [`SqliteStore`]: the [`Store`] on one SQLite file.
//!
//! This module is the async face: it encodes records (JSON, integers) on
//! the caller's task, hands a closure to the writer or a reader thread,
//! and awaits the answer. It never calls rusqlite itself.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use healthcore::alert::{Alert, AlertStatus};
use healthcore::model::{CheckKey, CheckSpec, Target, TargetId};
use healthcore::rollup::{Bucket, Granularity};
use healthcore::store::{
    AlertQuery, Capabilities, CheckCountsQuery, Doc, DocQuery, Entry, EntryQuery, InsertAlert,
    Page, PurgeReport, ResultBatch, ResultQuery, Retention, RollupQuery, StateRecord, Store,
    StoreError, StoreResult, StoredResult, TargetBucket, TargetQuery,
};

use crate::codec::{gran_code, ns, to_json};
use crate::error::{Ctx, SqliteError};
use crate::options::SqliteOptions;
use crate::schema::Location;
use crate::sql::{alerts, catalog, journal, results, retention};
use crate::threads::{Threads, WriterCache};

/// A [`Store`] on one SQLite file (or in memory), no server.
///
/// - **Threads.** One writer thread owns the only writing connection and
///   runs every write in its own `BEGIN IMMEDIATE` transaction; reads run
///   on [`SqliteOptions::readers`] reader threads, each with its own
///   connection. rusqlite is never called on an async worker thread.
/// - **Files.** WAL journal, [`Durability`](crate::Durability) as set
///   (default `FULL`), `busy_timeout` as set. A single process owns the
///   file, through one `SqliteStore`: [`Capabilities::claims`] is off
///   (multi-instance leases are the Postgres store's job);
///   [`Capabilities::persistent`] is on for a file, off in memory. (A
///   second store on the same file stays correct — the writer notices
///   other connections' commits through `PRAGMA data_version` — but the
///   two writers then take turns on SQLite's lock.)
/// - **Results.** Raw results are append-ordered with no index besides
///   their `seq`. [`Store::recent_results`] reads a small `recent` table —
///   per check, a list of pointers to its newest
///   [`SqliteOptions::recent_per_check`] raw rows (default 100), rewritten
///   once per check per batch in the appending transaction — so a query
///   returns at most that many results of one check. Uptime reads rollups,
///   merged (with the core's `Bucket::merge`) in the same transaction as
///   the batch that feeds them. Neither ever scans the raw table.
/// - **Retention** finds old raw results through a `batches` table (each
///   appended batch's `seq` range and time span) and deletes them by `seq`
///   range; every kind of data goes in chunks of [`Retention::chunk`]
///   rows, each chunk its own writer transaction, so writes queue behind
///   one chunk at most.
/// - **Instants** are stored as nanoseconds since the Unix epoch; instants
///   outside 1677..2262 are clamped. Records (targets, checks, alerts,
///   documents, entries, state) are stored whole as JSON next to the
///   columns that filter and order them.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use healthcore::model::{Target, TargetId};
/// use healthcore::store::Store;
/// use healthcore_sqlite::SqliteStore;
///
/// let store = SqliteStore::open_in_memory().await.unwrap();
/// let t = Target::new(TargetId::new("web-1").unwrap(), "Web 1");
/// store.put_target(&t).await.unwrap();
/// assert_eq!(store.get_target(&t.id).await.unwrap(), Some(t));
/// store.close().await;
/// # });
/// ```
#[derive(Debug)]
pub struct SqliteStore {
    threads: Threads,
    path: Option<PathBuf>,
    options: SqliteOptions,
}

impl SqliteStore {
    /// Opens (or creates) the database at `path` with default options.
    ///
    /// Refuses, with nothing changed, a file that is not a healthcore
    /// database ([`SqliteError::NotHealthcore`]), one written by a newer
    /// version ([`SqliteError::SchemaTooNew`]) and a read-only file
    /// ([`SqliteError::ReadOnly`]); applies pending migrations otherwise.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, SqliteError> {
        Self::open_with(path, SqliteOptions::default()).await
    }

    /// [`open`](Self::open) with options.
    pub async fn open_with(
        path: impl AsRef<Path>,
        options: SqliteOptions,
    ) -> Result<Self, SqliteError> {
        let path = path.as_ref().to_owned();
        let threads = Threads::start(Location::File(path.clone()), options.clone()).await?;
        Ok(Self {
            threads,
            path: Some(path),
            options,
        })
    }

    /// A private in-memory database: one connection (reads run on the
    /// writer thread), nothing survives [`close`](Self::close) or a drop.
    pub async fn open_in_memory() -> Result<Self, SqliteError> {
        Self::open_in_memory_with(SqliteOptions::default()).await
    }

    /// [`open_in_memory`](Self::open_in_memory) with options (`readers` is
    /// ignored).
    pub async fn open_in_memory_with(options: SqliteOptions) -> Result<Self, SqliteError> {
        let threads = Threads::start(Location::Memory, options.clone()).await?;
        Ok(Self {
            threads,
            path: None,
            options,
        })
    }

    /// The file, or `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The options it was opened with.
    pub fn options(&self) -> &SqliteOptions {
        &self.options
    }

    /// Finishes queued work, closes every connection (the last one
    /// checkpoints the WAL) and returns when the file is released.
    /// Dropping the store does the same without waiting.
    pub async fn close(self) {
        self.threads.close().await;
    }

    /// Runs `PRAGMA integrity_check`; `Data` with SQLite's findings when
    /// the file is damaged.
    pub async fn integrity_check(&self) -> StoreResult<()> {
        let found: Vec<String> = self
            .threads
            .read(|c| {
                let mut stmt = c.prepare("PRAGMA integrity_check").ctx("integrity check")?;
                stmt.query_map([], |r| r.get(0))
                    .ctx("integrity check")?
                    .collect::<rusqlite::Result<_>>()
                    .ctx("integrity check")
            })
            .await?;
        if found == ["ok"] {
            Ok(())
        } else {
            Err(StoreError::Data(format!(
                "integrity check: {}",
                found.join("; ")
            )))
        }
    }

    /// How many raw results the file holds (a full count: for tests and
    /// benches, not for request paths).
    pub async fn result_count(&self) -> StoreResult<u64> {
        self.threads.read(|c| results::count(c)).await
    }
}

fn chunk_of(r: &Retention) -> i64 {
    i64::from(r.chunk.max(1))
}

#[async_trait]
impl Store for SqliteStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE
            .persistent(self.path.is_some())
            .check_counts(true)
    }

    async fn put_target(&self, target: &Target) -> StoreResult<()> {
        let record = to_json(target)?;
        let t = target.clone();
        self.threads
            .write(move |w| {
                w.immediate("put target", |tx, _, _| {
                    catalog::put_target(tx, &t, &record)
                })
            })
            .await
    }

    async fn get_target(&self, id: &TargetId) -> StoreResult<Option<Target>> {
        let id = id.clone();
        self.threads
            .read(move |c| catalog::get_target(c, &id))
            .await
    }

    async fn list_targets(&self, query: &TargetQuery) -> StoreResult<Page<Target>> {
        let q = query.clone();
        self.threads
            .read(move |c| catalog::list_targets(c, &q))
            .await
    }

    async fn delete_target(&self, id: &TargetId) -> StoreResult<bool> {
        let id = id.clone();
        self.threads
            .write(move |w| {
                w.immediate("delete target", |tx, _, _| catalog::delete_target(tx, &id))
            })
            .await
    }

    async fn put_check(&self, target: &TargetId, spec: &CheckSpec) -> StoreResult<()> {
        let record = to_json(spec)?;
        let (t, s) = (target.clone(), spec.clone());
        self.threads
            .write(move |w| {
                w.immediate("put check", |tx, _, _| {
                    catalog::put_check(tx, &t, &s, &record)
                })
            })
            .await
    }

    async fn list_checks(
        &self,
        target: Option<&TargetId>,
    ) -> StoreResult<Vec<(TargetId, CheckSpec)>> {
        let t = target.cloned();
        self.threads
            .read(move |c| catalog::list_checks(c, t.as_ref()))
            .await
    }

    async fn delete_check(&self, key: &CheckKey) -> StoreResult<bool> {
        let k = key.clone();
        self.threads
            .write(move |w| w.immediate("delete check", |tx, _, _| catalog::delete_check(tx, &k)))
            .await
    }

    async fn append_results(&self, batch: &ResultBatch) -> StoreResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let encoded = results::encode(batch)?;
        self.threads
            .write(move |w| {
                w.immediate("append results", |tx, cache, cap| {
                    results::append(tx, cache, cap, &encoded)
                })
            })
            .await
    }

    async fn recent_results(&self, query: &ResultQuery) -> StoreResult<Vec<StoredResult>> {
        let q = query.clone();
        self.threads.read(move |c| results::recent(c, &q)).await
    }

    async fn rollups(&self, query: &RollupQuery) -> StoreResult<Vec<TargetBucket>> {
        let q = query.clone();
        self.threads.read(move |c| results::rollups(c, &q)).await
    }

    async fn check_counts(&self, query: &CheckCountsQuery) -> StoreResult<Option<Bucket>> {
        let q = query.clone();
        self.threads
            .read(move |c| results::check_counts(c, &q))
            .await
            .map(Some)
    }

    async fn put_states(&self, records: &[StateRecord]) -> StoreResult<()> {
        if records.is_empty() {
            return Ok(());
        }
        let rows = catalog::encode_states(records)?;
        self.threads
            .write(move |w| w.immediate("put states", |tx, _, _| catalog::put_states(tx, &rows)))
            .await
    }

    async fn load_states(&self) -> StoreResult<Vec<StateRecord>> {
        self.threads.read(|c| catalog::load_states(c)).await
    }

    async fn insert_alert(&self, alert: &Alert) -> StoreResult<InsertAlert> {
        let record = alerts::record(alert)?;
        let a = alert.clone();
        self.threads
            .write(move |w| w.immediate("insert alert", |tx, _, _| alerts::insert(tx, &a, &record)))
            .await
    }

    async fn update_alert(&self, alert: &Alert, expected: AlertStatus) -> StoreResult<()> {
        let record = alerts::record(alert)?;
        let a = alert.clone();
        self.threads
            .write(move |w| {
                w.immediate("update alert", |tx, _, _| {
                    alerts::update(tx, &a, expected, &record)
                })
            })
            .await
    }

    async fn get_alert(&self, id: &str) -> StoreResult<Option<Alert>> {
        let id = id.to_owned();
        self.threads.read(move |c| alerts::get(c, &id)).await
    }

    async fn list_alerts(&self, query: &AlertQuery) -> StoreResult<Page<Alert>> {
        let q = query.clone();
        self.threads.read(move |c| alerts::list(c, &q)).await
    }

    async fn put_doc(&self, doc: &Doc) -> StoreResult<()> {
        let record = to_json(doc)?;
        let d = doc.clone();
        self.threads
            .write(move |w| w.immediate("put doc", |tx, _, _| catalog::put_doc(tx, &d, &record)))
            .await
    }

    async fn get_doc(&self, kind: &str, id: &str) -> StoreResult<Option<Doc>> {
        let (k, i) = (kind.to_owned(), id.to_owned());
        self.threads
            .read(move |c| catalog::get_doc(c, &k, &i))
            .await
    }

    async fn list_docs(&self, query: &DocQuery) -> StoreResult<Vec<Doc>> {
        let q = query.clone();
        self.threads.read(move |c| catalog::list_docs(c, &q)).await
    }

    async fn delete_doc(&self, kind: &str, id: &str) -> StoreResult<bool> {
        let (k, i) = (kind.to_owned(), id.to_owned());
        self.threads
            .write(move |w| w.immediate("delete doc", |tx, _, _| catalog::delete_doc(tx, &k, &i)))
            .await
    }

    async fn append_entries(&self, entries: &[Entry]) -> StoreResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let rows = journal::encode(entries)?;
        self.threads
            .write(move |w| w.immediate("append entries", |tx, _, _| journal::append(tx, &rows)))
            .await
    }

    async fn query_entries(&self, query: &EntryQuery) -> StoreResult<Page<Entry>> {
        let q = query.clone();
        self.threads.read(move |c| journal::query(c, &q)).await
    }

    async fn purge(&self, r: &Retention, now: DateTime<Utc>) -> StoreResult<PurgeReport> {
        let chunk = chunk_of(r);
        let mut rep = PurgeReport::default();

        let cut = ns(Retention::cutoff(now, r.results));
        let mut cursor = None;
        loop {
            let (n, next, done) = self
                .threads
                .write(move |w| {
                    w.immediate("purge results", |tx, _, _| {
                        retention::results_step(tx, cut, chunk, cursor)
                    })
                })
                .await?;
            rep.results = rep.results.saturating_add(n);
            if done {
                break;
            }
            cursor = next;
        }
        self.drain(
            move |tx, cache| {
                cache.recent.clear();
                retention::recent_chunk(tx, chunk)
            },
            chunk,
        )
        .await?;

        let kinds = self.threads.read(|c| retention::entry_kinds(c)).await?;
        for kind in kinds {
            let cut = ns(Retention::cutoff(now, r.for_entry_kind(&kind)));
            let n = self
                .drain(
                    move |tx, _| retention::entries_chunk(tx, &kind, cut, chunk),
                    chunk,
                )
                .await?;
            rep.entries = rep.entries.saturating_add(n);
        }

        for g in Granularity::ALL {
            let code = gran_code(g)?;
            let cut = ns(Retention::cutoff(now, r.for_granularity(g)));
            let n = self
                .drain(
                    move |tx, cache| {
                        cache.rollups.clear();
                        retention::rollups_chunk(tx, code, cut, chunk)
                    },
                    chunk,
                )
                .await?;
            rep.rollups = rep.rollups.saturating_add(n);
        }

        let cut = ns(Retention::cutoff(now, r.hour_rollups));
        rep.check_counts = self
            .drain(
                move |tx, _| retention::check_counts_chunk(tx, cut, chunk),
                chunk,
            )
            .await?;

        let cut = ns(Retention::cutoff(now, r.resolved_alerts));
        rep.alerts = self
            .drain(move |tx, _| retention::alerts_chunk(tx, cut, chunk), chunk)
            .await?;
        Ok(rep)
    }
}

impl SqliteStore {
    /// Runs `step` as separate writer transactions until one deletes fewer
    /// than `chunk` rows; returns the total deleted.
    async fn drain<F>(&self, step: F, chunk: i64) -> StoreResult<u64>
    where
        F: Fn(&rusqlite::Transaction<'_>, &mut WriterCache) -> StoreResult<u64>
            + Clone
            + Send
            + 'static,
    {
        let full = u64::try_from(chunk).unwrap_or(1);
        let mut total = 0u64;
        loop {
            let step = step.clone();
            let n = self
                .threads
                .write(move |w| w.immediate("purge", |tx, cache, _| step(tx, cache)))
                .await?;
            total = total.saturating_add(n);
            if n < full {
                return Ok(total);
            }
        }
    }
}
