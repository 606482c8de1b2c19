//! # healthcore-sqlx
//!
//! healthcore's [`Store`](healthcore::store::Store) on PostgreSQL (sqlx),
//! for applications where one process is not enough: several engine
//! instances share one database and split the checks between them through
//! **claims** — leases on database time with an epoch that only increases,
//! taken with `FOR UPDATE SKIP LOCKED` — so a check runs once per interval
//! and an alert is raised once, by the database's rules, not by luck.
//!
//! | piece | what |
//! | --- | --- |
//! | [`PgStore`] | every `Store` method; results by `COPY` with the rollup deltas in the same transaction; alert dedup by a partial unique index; retention in bounded chunks; claims |
//! | [`PgStore::claim_due`](healthcore::store::Store::claim_due) / [`complete_claim`](healthcore::store::Store::complete_claim) | the multi-instance schedule |
//! | [`PgStore::fenced`] | side effects of a claimed check (state, alerts, heal events) written only while the lease is held |
//! | [`PostgresChecker`] | the `postgres` probe (seed 004): connection test with latency, pool utilisation, migration status |
//! | [`map_sqlx_error`] | driver errors as [`StoreError`](healthcore::store::StoreError)s |
//! | [`ConnectError`] | a bad URL, an unreachable server, wrong credentials or a schema newer than the code, told apart at connect |
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use healthcore::store::Store;
//! use healthcore_sqlx::PgStore;
//!
//! let store = PgStore::connect("postgres://healthcore@db.internal/health").await?;
//! let store: Arc<dyn Store> = Arc::new(store);
//! assert!(store.capabilities().claims);
//! # Ok(()) }
//! ```
//!
//! The schema lives in `migrations/` and is embedded with
//! `sqlx::migrate!`; migrations are append-only and tracked in the table
//! `_healthcore_migrations` of the connection's first `search_path`
//! schema ([`PgStoreOptions::schema`] picks one), so healthcore never
//! collides with an application's own `_sqlx_migrations`.
//!
//! Everything here is behind the `postgres` feature (on by default). The
//! crate holds no health rule: what to write is decided by the pure core.
//! Never enable sqlx's `sqlite` feature in this workspace (DESIGN.md §9).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "postgres")]
mod claims;
#[cfg(feature = "postgres")]
mod error;
#[cfg(feature = "postgres")]
mod probe;
#[cfg(feature = "postgres")]
mod rows;
#[cfg(feature = "postgres")]
mod store;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

#[cfg(feature = "postgres")]
pub use claims::fresh_instance_id;
#[cfg(feature = "postgres")]
pub use error::{ConnectError, map_sqlx_error};
/// Re-exported from healthcore: the fenced writes are part of the
/// [`Store`](healthcore::store::Store) trait.
#[cfg(feature = "postgres")]
pub use healthcore::store::{FencedOutcome, FencedWrite};
#[cfg(feature = "postgres")]
pub use probe::{PostgresChecker, PostgresParams};
#[cfg(feature = "postgres")]
pub use store::{MIGRATIONS_TABLE, MigrationStatus, PgStore, PgStoreOptions};

/// sqlx, re-exported so applications build pools with the same version.
#[cfg(feature = "postgres")]
pub use sqlx;
