//! Opening connections: the checks that refuse a foreign, newer or
//! read-only file before anything is written, the connection pragmas, and
//! the numbered migrations applied under `PRAGMA user_version`.
//!
//! Runs only on the store's own threads (never on an async worker).

use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

use crate::error::SqliteError;
use crate::options::SqliteOptions;

/// `PRAGMA application_id` of a healthcore database ("HCDB").
pub const APPLICATION_ID: i32 = 0x4843_4442;

/// One numbered migration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Migration {
    /// Its number; `PRAGMA user_version` holds the last one applied.
    pub version: u32,
    /// The SQL, run in one IMMEDIATE transaction.
    pub sql: &'static str,
}

/// Every migration, in order. Append-only: a landed migration never
/// changes (a test pins their numbering).
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: include_str!("../migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        sql: include_str!("../migrations/0002_check_counts.sql"),
    },
];

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = 2;

/// Where the database lives.
#[derive(Debug, Clone)]
pub(crate) enum Location {
    /// A file.
    File(PathBuf),
    /// A private in-memory database (one connection).
    Memory,
}

impl Location {
    fn display(&self) -> PathBuf {
        match self {
            Location::File(p) => p.clone(),
            Location::Memory => PathBuf::from(":memory:"),
        }
    }
}

/// Opens the writer connection: checks the file, sets WAL and the other
/// pragmas, applies pending migrations.
pub(crate) fn open_writer(loc: &Location, opts: &SqliteOptions) -> Result<Connection, SqliteError> {
    let path = loc.display();
    let mut conn = match loc {
        Location::File(p) => Connection::open_with_flags(
            p,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| open_error(p, source))?,
        Location::Memory => Connection::open_in_memory()?,
    };
    conn.busy_timeout(opts.busy_timeout)?;
    if conn.is_readonly(rusqlite::MAIN_DB)? {
        return Err(SqliteError::ReadOnly { path });
    }
    let version = check_file(&conn, &path)?;
    if let Location::File(_) = loc {
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "wal", |r| r.get(0))
            .map_err(|e| write_error(&path, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(SqliteError::NotHealthcore {
                path,
                reason: format!("cannot switch to WAL (journal_mode stays {mode})"),
            });
        }
        // Keep the -wal file from growing without bound after bursts.
        conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    }
    conn.pragma_update(None, "synchronous", opts.durability.synchronous())?;
    tune(&conn, opts)?;
    migrate(&mut conn, version, &path)?;
    Ok(conn)
}

/// Opens one reader connection on an existing, migrated file.
pub(crate) fn open_reader(path: &Path, opts: &SqliteOptions) -> Result<Connection, SqliteError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|source| open_error(path, source))?;
    conn.busy_timeout(opts.busy_timeout)?;
    conn.pragma_update(None, "query_only", true)?;
    tune(&conn, opts)?;
    Ok(conn)
}

fn tune(conn: &Connection, opts: &SqliteOptions) -> Result<(), SqliteError> {
    conn.pragma_update(None, "cache_size", -i64::from(opts.cache_kib))?;
    conn.pragma_update(None, "temp_store", "memory")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

fn open_error(path: &Path, source: rusqlite::Error) -> SqliteError {
    match source.sqlite_error_code() {
        Some(ErrorCode::ReadOnly) => SqliteError::ReadOnly {
            path: path.to_owned(),
        },
        _ => SqliteError::Open {
            path: path.to_owned(),
            source,
        },
    }
}

/// A failure of the first write: read-only files and folders say so.
fn write_error(path: &Path, e: rusqlite::Error) -> SqliteError {
    match e.sqlite_error_code() {
        Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
            SqliteError::ReadOnly {
                path: path.to_owned(),
            }
        }
        _ => SqliteError::Sqlite(e),
    }
}

/// Reads the header and refuses a file that is not ours or too new.
/// Returns the file's schema version (0 for a fresh file). Writes nothing.
fn check_file(conn: &Connection, path: &Path) -> Result<i64, SqliteError> {
    let not_ours = |reason: String| SqliteError::NotHealthcore {
        path: path.to_owned(),
        reason,
    };
    let header = |e: rusqlite::Error| match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => not_ours("the file is not a SQLite database".into()),
        Some(ErrorCode::DatabaseCorrupt) => not_ours(format!("the file is damaged: {e}")),
        _ => SqliteError::Sqlite(e),
    };
    let app: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(header)?;
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(header)?;
    let objects: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .map_err(header)?;
    if app == APPLICATION_ID {
        if version > SCHEMA_VERSION {
            return Err(SqliteError::SchemaTooNew {
                path: path.to_owned(),
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        if version < 1 {
            return Err(not_ours(format!(
                "healthcore application id with schema version {version}"
            )));
        }
        return Ok(version);
    }
    if app == 0 && version == 0 && objects == 0 {
        return Ok(0);
    }
    Err(not_ours(format!(
        "application_id {app:#x} (healthcore is {APPLICATION_ID:#x}), user_version {version}, \
         {objects} schema objects"
    )))
}

/// Applies every migration newer than `from`, each in its own IMMEDIATE
/// transaction that also records the version.
fn migrate(conn: &mut Connection, from: i64, path: &Path) -> Result<(), SqliteError> {
    for m in MIGRATIONS.iter().filter(|m| i64::from(m.version) > from) {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| write_error(path, e))?;
        // Another process may have migrated between our check and the lock.
        let now: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if now >= i64::from(m.version) {
            continue;
        }
        let fail = |source| SqliteError::Migration {
            version: m.version,
            source,
        };
        tx.execute_batch(m.sql).map_err(fail)?;
        tx.pragma_update(None, "user_version", m.version)
            .map_err(fail)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(fail)?;
        tx.commit().map_err(fail)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_one_by_one_up_to_the_schema_version() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(i64::from(m.version), i as i64 + 1, "migration {i}");
            assert!(!m.sql.trim().is_empty());
        }
        assert_eq!(
            MIGRATIONS.last().map(|m| i64::from(m.version)),
            Some(SCHEMA_VERSION)
        );
    }

    #[test]
    fn fresh_memory_database_migrates_and_is_recognised() {
        let opts = SqliteOptions::default();
        let conn = open_writer(&Location::Memory, &opts).expect("open");
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version");
        assert_eq!(v, SCHEMA_VERSION);
        assert_eq!(
            check_file(&conn, Path::new(":memory:")).expect("ours"),
            SCHEMA_VERSION
        );
        let sync: i64 = conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .expect("sync");
        assert_eq!(sync, 2);
    }

    #[test]
    fn file_connections_use_wal_and_the_chosen_durability() {
        use crate::options::Durability;
        let dir = std::env::temp_dir().join(format!(
            "healthcore-sqlite-unit-{}-durability",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("dir");
        for (d, expect) in [(Durability::Full, 2i64), (Durability::Normal, 1)] {
            let path = dir.join(format!("{d:?}.db"));
            let opts = SqliteOptions {
                durability: d,
                ..Default::default()
            };
            let w = open_writer(&Location::File(path.clone()), &opts).expect("writer");
            let r = open_reader(&path, &opts).expect("reader");
            let sync: i64 = w
                .pragma_query_value(None, "synchronous", |r| r.get(0))
                .expect("sync");
            let mode: String = w
                .pragma_query_value(None, "journal_mode", |r| r.get(0))
                .expect("mode");
            let busy: i64 = r
                .pragma_query_value(None, "busy_timeout", |r| r.get(0))
                .expect("busy");
            let query_only: i64 = r
                .pragma_query_value(None, "query_only", |r| r.get(0))
                .expect("query_only");
            assert_eq!((sync, mode.as_str()), (expect, "wal"), "{d:?}");
            assert_eq!(busy, 5000);
            assert_eq!(query_only, 1, "readers cannot write");
            assert!(r.execute_batch("DELETE FROM targets").is_err());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn foreign_schema_is_refused() {
        let conn = Connection::open_in_memory().expect("open");
        conn.execute_batch("CREATE TABLE t (x)").expect("create");
        let err = check_file(&conn, Path::new("x")).expect_err("foreign");
        assert!(matches!(err, SqliteError::NotHealthcore { .. }), "{err}");
    }

    #[test]
    fn newer_version_is_refused() {
        let mut conn = Connection::open_in_memory().expect("open");
        migrate(&mut conn, 0, Path::new("x")).expect("migrate");
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .expect("bump");
        let err = check_file(&conn, Path::new("x")).expect_err("newer");
        assert!(
            matches!(err, SqliteError::SchemaTooNew { found, known, .. } if found == SCHEMA_VERSION + 1 && known == SCHEMA_VERSION),
            "{err}"
        );
    }

    #[test]
    fn migrating_twice_is_a_no_op() {
        let mut conn = Connection::open_in_memory().expect("open");
        migrate(&mut conn, 0, Path::new("x")).expect("migrate");
        migrate(&mut conn, 0, Path::new("x")).expect("again (re-checked under the lock)");
        migrate(&mut conn, SCHEMA_VERSION, Path::new("x")).expect("up to date");
    }
}
