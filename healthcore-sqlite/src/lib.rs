//! # healthcore-sqlite
//!
//! The embedded default [`Store`](healthcore::store::Store) for
//! healthcore: one SQLite file, no server. Open it, share it as
//! `Arc<dyn Store>`, and hand it to the engine.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use healthcore::store::Store;
//! use healthcore_sqlite::SqliteStore;
//!
//! let store: Arc<dyn Store> = Arc::new(SqliteStore::open("/var/lib/healthd/health.db").await?);
//! # Ok(()) }
//! ```
//!
//! ## What it guarantees
//!
//! - **Bad input is refused at open, untouched**: a file that is not a
//!   healthcore database, a schema newer than this build
//!   ([`SCHEMA_VERSION`]) or a read-only path gives a [`SqliteError`]
//!   before anything is written.
//! - **Migrations** are numbered `.sql` files in `migrations/`, applied in
//!   order under `PRAGMA user_version`, each in one transaction; they are
//!   append-only once landed. `PRAGMA application_id` marks the file as
//!   healthcore's ([`APPLICATION_ID`]).
//! - **Durability**: WAL journal; [`Durability::Full`] (the default) makes
//!   every commit wait for the log to reach stable storage, so a committed
//!   alert or acknowledgement survives a process crash and a power loss;
//!   [`Durability::Normal`] survives a process crash only. The crash test
//!   (`tests/crash.rs`) kills a writing child process with `SIGKILL` many
//!   times and checks integrity and every reported commit.
//! - **No busy errors**: one writer thread (the only writing connection,
//!   `BEGIN IMMEDIATE`), readers on their own connections over WAL
//!   snapshots, and a `busy_timeout` for the rare checkpoint race.
//! - **Storage shape** (DESIGN.md §6): raw results are append-ordered with
//!   no secondary index at all; per-check recent results come from a
//!   capped pointer table kept in the same transaction (so
//!   `recent_results` returns at most [`SqliteOptions::recent_per_check`]
//!   results of one check); rollups are merged in the same transaction as
//!   the batch that feeds them and are what uptime reads; alert dedup is a
//!   partial unique index over unresolved alerts, and a trigger keeps
//!   resolved alerts resolved; retention deletes in bounded chunks, raw
//!   results by `seq` range.
//! - **One process owns the file**: the store does not offer
//!   multi-instance claims ([`Capabilities::claims`] is off); use the
//!   Postgres store to scale out.
//!
//! [`Capabilities::claims`]: healthcore::store::Capabilities::claims
//!
//! ## Features
//!
//! - `bundled` (default): compile SQLite from source; without it the
//!   system's `libsqlite3` (3.38 or later) is linked.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod codec;
mod error;
mod options;
mod schema;
mod sql;
mod store;
mod threads;

pub use error::{SqliteError, store_error};
pub use options::{Durability, SqliteOptions};
pub use schema::{APPLICATION_ID, SCHEMA_VERSION};
pub use store::SqliteStore;
