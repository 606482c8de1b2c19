//! The threads that own the SQLite connections: one writer, and a few
//! readers each with its own connection. Async callers hand them closures
//! over channels and await the answer on a oneshot, so rusqlite is never
//! called on an async worker thread and a slow query never blocks one.
//!
//! Every write runs on the writer thread, in arrival order, each in its
//! own `BEGIN IMMEDIATE` transaction: there is exactly one writer, so
//! writes never contend for SQLite's lock inside the process. Readers use
//! WAL snapshots and never wait for the writer.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, mpsc};
use std::thread;

use healthcore::model::{CheckKey, TargetId};
use healthcore::rollup::Bucket;
use healthcore::store::{StoreError, StoreResult};
use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use crate::error::{Ctx, SqliteError};
use crate::options::SqliteOptions;
use crate::schema::{self, Location};

/// State the writer keeps between transactions: copies of what it last
/// committed, so the next batch skips reads. Only the writer writes, so
/// the copies stay true until a rollback (which clears them all) or a
/// retention step that deletes what they copy (which clears that part).
#[derive(Debug, Default)]
pub(crate) struct WriterCache {
    /// `series.id` of each (target, check) seen.
    pub series: HashMap<CheckKey, i64>,
    /// The next raw `seq` to hand out (`None`: read it from the file).
    pub next_seq: Option<i64>,
    /// Pointer lists of the series the last batch wrote.
    pub recent: HashMap<i64, Vec<i64>>,
    /// Rollup buckets the last batch wrote, by (granularity code, start, target).
    pub rollups: HashMap<(i64, i64, TargetId), Bucket>,
}

impl WriterCache {
    /// Forgets everything (after a rollback, ids handed out may be gone).
    pub(crate) fn clear(&mut self) {
        self.series.clear();
        self.next_seq = None;
        self.recent.clear();
        self.rollups.clear();
    }
}

/// The writer thread's connection and cache.
pub(crate) struct Writer {
    pub conn: Connection,
    pub cache: WriterCache,
    pub recent_cap: u32,
    /// `PRAGMA data_version` when the cache was last known true: it moves
    /// only when *another* connection commits, which makes the cache stale.
    seen_version: Option<i64>,
}

impl Writer {
    /// Runs `f` in one `BEGIN IMMEDIATE` transaction: committed when `f`
    /// returns `Ok`, rolled back otherwise (and the cache is cleared).
    pub(crate) fn immediate<T>(
        &mut self,
        doing: &str,
        f: impl FnOnce(&Transaction<'_>, &mut WriterCache, u32) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(doing)?;
        // Under the write lock: if anyone else committed since our last
        // transaction (a second store on the same file), forget the copies.
        let version: i64 = tx
            .pragma_query_value(None, "data_version", |r| r.get(0))
            .ctx(doing)?;
        if self.seen_version != Some(version) {
            self.cache.clear();
            self.seen_version = Some(version);
        }
        let out = f(&tx, &mut self.cache, self.recent_cap).and_then(|v| {
            tx.commit().ctx(doing)?;
            Ok(v)
        });
        if out.is_err() {
            self.cache.clear();
        }
        out
    }
}

type WriteJob = Box<dyn FnOnce(&mut Writer) + Send>;
type ReadJob = Box<dyn FnOnce(&mut Connection) + Send>;

/// Handles to the threads. Dropping it lets them finish the jobs already
/// queued and close their connections.
pub(crate) struct Threads {
    writer: mpsc::Sender<WriteJob>,
    readers: Option<mpsc::Sender<ReadJob>>,
    /// Signals from the writer and the readers that their connection closed.
    writer_done: Mutex<Option<oneshot::Receiver<()>>>,
    readers_done: Mutex<Vec<oneshot::Receiver<()>>>,
}

impl std::fmt::Debug for Threads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Threads")
            .field("readers", &self.readers.is_some())
            .finish_non_exhaustive()
    }
}

fn gone() -> StoreError {
    StoreError::Unavailable("the SQLite thread stopped".into())
}

fn lost() -> StoreError {
    StoreError::Backend {
        store: "sqlite",
        message: "the SQLite call panicked".into(),
        source: "panic in a SQLite job".into(),
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<(), SqliteError> {
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .map(drop)
        .map_err(SqliteError::Thread)
}

impl Threads {
    /// Starts the writer (which checks and migrates the file) and, for a
    /// file, the readers; returns once every connection is open.
    pub(crate) async fn start(loc: Location, opts: SqliteOptions) -> Result<Self, SqliteError> {
        opts.validate()?;
        let (init_tx, init_rx) = oneshot::channel::<Result<(), SqliteError>>();
        let (job_tx, job_rx) = mpsc::channel::<WriteJob>();
        let (done_tx, writer_done) = oneshot::channel();
        let mut readers_done = Vec::new();
        {
            let loc = loc.clone();
            let opts = opts.clone();
            spawn("healthcore-sqlite-writer", move || {
                let conn = match schema::open_writer(&loc, &opts) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = init_tx.send(Err(e));
                        return;
                    }
                };
                let _ = init_tx.send(Ok(()));
                let mut w = Writer {
                    conn,
                    cache: WriterCache::default(),
                    recent_cap: opts.recent_per_check,
                    seen_version: None,
                };
                while let Ok(job) = job_rx.recv() {
                    // A panicking job drops its answer channel (the caller
                    // sees an error); its transaction rolls back as it
                    // unwinds, and the writer goes on.
                    if std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut w))).is_err() {
                        w.cache.clear();
                    }
                }
                drop(w);
                let _ = done_tx.send(());
            })?;
        }
        init_rx
            .await
            .map_err(|_| SqliteError::Thread(std::io::Error::other("writer thread died")))??;

        let readers = match &loc {
            Location::Memory => None,
            Location::File(path) => {
                let (rtx, rrx) = mpsc::channel::<ReadJob>();
                let rrx = Arc::new(Mutex::new(rrx));
                let mut inits = Vec::with_capacity(opts.readers);
                for i in 0..opts.readers {
                    let (itx, irx) = oneshot::channel::<Result<(), SqliteError>>();
                    let (dtx, drx) = oneshot::channel();
                    let path = path.clone();
                    let opts = opts.clone();
                    let rrx = Arc::clone(&rrx);
                    spawn(&format!("healthcore-sqlite-reader-{i}"), move || {
                        let mut conn = match schema::open_reader(&path, &opts) {
                            Ok(c) => c,
                            Err(e) => {
                                let _ = itx.send(Err(e));
                                return;
                            }
                        };
                        let _ = itx.send(Ok(()));
                        loop {
                            let next = rrx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                            let Ok(job) = next else { break };
                            let _ = std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut conn)));
                        }
                        drop(conn);
                        let _ = dtx.send(());
                    })?;
                    inits.push(irx);
                    readers_done.push(drx);
                }
                for irx in inits {
                    irx.await.map_err(|_| {
                        SqliteError::Thread(std::io::Error::other("reader thread died"))
                    })??;
                }
                Some(rtx)
            }
        };
        Ok(Self {
            writer: job_tx,
            readers,
            writer_done: Mutex::new(Some(writer_done)),
            readers_done: Mutex::new(readers_done),
        })
    }

    /// Runs `f` on the writer thread.
    pub(crate) async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&mut Writer) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.writer
            .send(Box::new(move |w| {
                let _ = tx.send(f(w));
            }))
            .map_err(|_| gone())?;
        rx.await.map_err(|_| lost())?
    }

    /// Runs `f` on a reader thread (on the writer for an in-memory store).
    pub(crate) async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let Some(readers) = &self.readers else {
            return self.write(move |w| f(&mut w.conn)).await;
        };
        let (tx, rx) = oneshot::channel();
        readers
            .send(Box::new(move |c| {
                let _ = tx.send(f(c));
            }))
            .map_err(|_| gone())?;
        rx.await.map_err(|_| lost())?
    }

    /// Stops the threads after the queued jobs and waits until every
    /// connection is closed: the readers first, so that the writer's is
    /// the last one and checkpoints the WAL into the main file.
    pub(crate) async fn close(self) {
        let Threads {
            writer,
            readers,
            writer_done,
            readers_done,
        } = self;
        drop(readers);
        for d in readers_done.into_inner().unwrap_or_else(|p| p.into_inner()) {
            let _ = d.await;
        }
        drop(writer);
        if let Some(d) = writer_done.into_inner().unwrap_or_else(|p| p.into_inner()) {
            let _ = d.await;
        }
    }
}
