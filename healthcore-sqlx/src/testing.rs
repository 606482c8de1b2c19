//! Test support (feature `testing`): a real PostgreSQL per test, isolated
//! in its own schema, with loud skips.
//!
//! - The server comes from `HEALTHCORE_PG_URL` (default
//!   `postgres://postgres@127.0.0.1:5432/test`, the local cluster that
//!   `.ci/pg-setup.sh` starts).
//! - [`TestDb::create`] makes a fresh schema `hct_<unix secs>_<random>`;
//!   every store opened on it sets `search_path` to it, so migrations and
//!   data stay inside. Schemas older than an hour from earlier runs are
//!   dropped on the first use in a process.
//! - When no server answers, it prints a line with `SKIPPED` and the
//!   reason and returns `None`, so the test passes — unless
//!   `HEALTHCORE_REQUIRE_PG=1` (CI), when it panics instead.
//!
//! ```no_run
//! # async fn demo() {
//! use healthcore_sqlx::testing::TestDb;
//! let Some(db) = TestDb::create("my_test").await else { return };
//! let a = db.store().await; // one instance
//! let b = db.store().await; // another, same data
//! # let _ = (a, b);
//! db.drop_schema().await;
//! # }
//! ```
//!
//! Must not be used outside tests and benches.

use std::cell::RefCell;
use std::hash::{BuildHasher, Hasher};
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::PgConnection;

use crate::{PgStore, PgStoreOptions};

/// Environment variable with the server URL.
pub const URL_ENV: &str = "HEALTHCORE_PG_URL";
/// Environment variable that turns skips into failures when `1`.
pub const REQUIRE_ENV: &str = "HEALTHCORE_REQUIRE_PG";
/// The URL used when [`URL_ENV`] is unset.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The server URL for tests.
pub fn url() -> String {
    std::env::var(URL_ENV)
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_owned())
}

/// True when tests must fail rather than skip without a server.
pub fn required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1")
}

/// Prints a loud `SKIPPED` line for `test` with the reason, or panics
/// when [`REQUIRE_ENV`] is `1`.
pub fn skip(test: &str, reason: &str) {
    if required() {
        panic!(
            "{test}: {REQUIRE_ENV}=1 but PostgreSQL is not usable at {}: {reason}",
            url()
        );
    }
    // Written to the stderr handle, not with eprintln!, so the test
    // harness does not swallow it when the test passes.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: PostgreSQL is not usable at {} ({reason}); \
         start it with .ci/pg-setup.sh, or set {REQUIRE_ENV}=1 to make this a failure",
        url()
    );
}

fn random_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    format!("{:012x}", h.finish() & 0xffff_ffff_ffff)
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn admin() -> Result<PgConnection, String> {
    let url = url();
    match tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(&url)).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer within 5 s".into()),
    }
}

/// Drops test schemas left by runs older than an hour (once per process).
async fn sweep(conn: &mut PgConnection) {
    static DONE: AtomicBool = AtomicBool::new(false);
    if DONE.swap(true, Ordering::SeqCst) {
        return;
    }
    let cutoff = unix_secs().saturating_sub(3600);
    let names: Vec<String> =
        sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'hct\\_%'")
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    for n in names {
        let secs = n
            .strip_prefix("hct_")
            .and_then(|r| r.split('_').next())
            .and_then(|s| s.parse::<u64>().ok());
        if secs.is_some_and(|s| s < cutoff) {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {n} CASCADE"
            )))
            .execute(&mut *conn)
            .await;
        }
    }
}

/// One isolated schema on the test server.
#[derive(Debug, Clone)]
pub struct TestDb {
    schema: String,
}

impl TestDb {
    /// Creates a fresh schema; `None` (after a loud skip) when no server
    /// answers and [`REQUIRE_ENV`] is not `1`.
    pub async fn create(test: &str) -> Option<TestDb> {
        let mut conn = match admin().await {
            Ok(c) => c,
            Err(reason) => {
                skip(test, &reason);
                return None;
            }
        };
        sweep(&mut conn).await;
        let schema = format!("hct_{}_{}", unix_secs(), random_suffix());
        if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut conn)
            .await
        {
            skip(test, &format!("cannot create a schema: {e}"));
            return None;
        }
        let _ = conn.close().await;
        Some(TestDb { schema })
    }

    /// The schema's name.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Options for a store on this schema (small pool).
    pub fn options(&self) -> PgStoreOptions {
        PgStoreOptions::default()
            .schema(self.schema.clone())
            .max_connections(4)
    }

    /// A new store (its own pool) on this schema; panics on failure, since
    /// the server answered a moment ago.
    pub async fn store(&self) -> PgStore {
        self.store_with(self.options()).await
    }

    /// A new store with `options` (the schema is set to this one).
    pub async fn store_with(&self, mut options: PgStoreOptions) -> PgStore {
        options.schema = Some(self.schema.clone());
        PgStore::connect_with(&url(), options)
            .await
            .unwrap_or_else(|e| panic!("connecting to test schema {}: {e}", self.schema))
    }

    /// Drops the schema and everything in it.
    pub async fn drop_schema(self) {
        if let Ok(mut conn) = admin().await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {} CASCADE",
                self.schema
            )))
            .execute(&mut conn)
            .await;
            let _ = conn.close().await;
        }
    }
}

thread_local! {
    static LAST: RefCell<Option<TestDb>> = const { RefCell::new(None) };
}

/// For `healthcore::store_conformance!`: a store on a fresh schema, or
/// `None` after a loud skip. The schema is remembered on this thread for
/// [`reopen_last`] (a `#[tokio::test]` body runs on its test thread).
pub async fn conformance_store(test: &str) -> Option<PgStore> {
    let db = TestDb::create(test).await?;
    let store = db.store().await;
    LAST.with(|l| *l.borrow_mut() = Some(db));
    Some(store)
}

/// The capabilities the conformance suite declares for the store
/// [`conformance_store`] made on this thread: a [`PgStore`]'s (persistent,
/// claims), or, when that was skipped without a server, the in-memory
/// store's that the suite then runs against.
pub fn conformance_caps() -> healthcore::store::Capabilities {
    if LAST.with(|l| l.borrow().is_some()) {
        healthcore::store::Capabilities::NONE
            .persistent(true)
            .claims(true)
            .check_counts(true)
    } else {
        healthcore::store::Capabilities::NONE
            .claims(true)
            .check_counts(true)
    }
}

/// A second store (new pool) on the schema [`conformance_store`] last made
/// on this thread.
pub async fn reopen_last() -> PgStore {
    let db = LAST
        .with(|l| l.borrow().clone())
        .expect("conformance_store ran on this thread first");
    db.store().await
}

/// Makes every lease `owner` holds lapse now, on database time, as if the
/// instance had paused past its leases (for fencing and takeover tests
/// without waiting). Returns how many leases lapsed.
pub async fn expire_leases(store: &PgStore, owner: &str) -> u64 {
    sqlx::query(
        "UPDATE hc_leases SET expires_at = now() - interval '1 millisecond', \
         next_due = now() - interval '1 millisecond' \
         WHERE owner = $1 AND expires_at > now()",
    )
    .bind(owner)
    .execute(store.pool())
    .await
    .map(|r| r.rows_affected())
    .unwrap_or_else(|e| panic!("expiring leases of {owner}: {e}"))
}

// ---- a private server that goes away mid-run -----------------------------

use std::path::PathBuf;
use std::process::Command;

const PG_BIN: &str = "/usr/lib/postgresql";

fn pg_bin(tool: &str) -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir(PG_BIN)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    versions.sort();
    versions
        .into_iter()
        .rev()
        .map(|v| v.join("bin").join(tool))
        .find(|p| p.exists())
}

/// A throwaway PostgreSQL cluster on a free loopback port, for tests of a
/// server that goes away mid-run: [`create`](Self::create) runs `initdb`
/// and starts it, [`stop`](Self::stop) and [`start`](Self::start) take it
/// down and up, dropping it stops it and deletes its files.
#[derive(Debug)]
pub struct PrivatePg {
    dir: PathBuf,
    port: u16,
}

fn as_postgres(cmd: &std::path::Path) -> Command {
    // PostgreSQL refuses to run as root
    if nix_is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(cmd);
        c
    } else {
        Command::new(cmd)
    }
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl PrivatePg {
    /// Creates and starts a cluster (trust auth, user `postgres`); the
    /// error says why it could not (no `initdb`, not permitted, …).
    pub fn create() -> Result<Self, String> {
        let initdb = pg_bin("initdb").ok_or("initdb not found under /usr/lib/postgresql")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let dir = std::env::temp_dir().join(format!("hc-pg-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        if nix_is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(&dir)
                .status()
                .map_err(|e| e.to_string())?;
            if !ok.success() {
                return Err("chown to postgres failed".into());
            }
        }
        let out = as_postgres(&initdb)
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let pg = PrivatePg { dir, port };
        pg.start()?;
        Ok(pg)
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<(), String> {
        let pg_ctl = pg_bin("pg_ctl").ok_or("pg_ctl not found")?;
        let out = as_postgres(&pg_ctl)
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "pg_ctl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// Starts the server (again).
    pub fn start(&self) -> Result<(), String> {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("log");
        self.pg_ctl(&["-o", &opts, "-l", &log.to_string_lossy(), "-w", "start"])
    }

    /// Stops the server at once (`-m immediate`).
    pub fn stop(&self) -> Result<(), String> {
        self.pg_ctl(&["-m", "immediate", "-w", "stop"])
    }

    /// Its URL (database `postgres`).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let _ = self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
