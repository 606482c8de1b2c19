//! [`SqliteError`] (what can go wrong opening a store) and
//! [`store_error`], the one function that turns a rusqlite error into a
//! [`StoreError`] a caller can act on.
//!
//! This module owns the mapping and nothing else: it does no I/O.

use std::path::PathBuf;

use healthcore::ValidationError;
use healthcore::store::StoreError;
use rusqlite::ErrorCode;

/// What can go wrong opening a [`SqliteStore`](crate::SqliteStore).
///
/// Every refusal at open leaves the file as it was: the checks that can
/// refuse run before anything is written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqliteError {
    /// The file exists but is not a healthcore database (not SQLite at all,
    /// or another application's SQLite database).
    #[error("{path}: not a healthcore database ({reason}); nothing was changed")]
    NotHealthcore {
        /// The file.
        path: PathBuf,
        /// What gave it away.
        reason: String,
    },
    /// The database was written by a newer healthcore-sqlite.
    #[error(
        "{path}: schema version {found} is newer than this build knows ({known}); \
         upgrade healthcore-sqlite to open it (nothing was changed)"
    )]
    SchemaTooNew {
        /// The file.
        path: PathBuf,
        /// The file's `PRAGMA user_version`.
        found: i64,
        /// The newest migration this build carries.
        known: i64,
    },
    /// The file or its folder cannot be written; the store must write.
    #[error("{path}: the database is read-only (healthcore must write to it); nothing was changed")]
    ReadOnly {
        /// The file.
        path: PathBuf,
    },
    /// SQLite could not open or create the file (missing folder, no
    /// permission, read-only file system, …).
    #[error("{path}: cannot open or create the database: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A migration failed; its transaction was rolled back.
    #[error("migration {version} failed: {source}")]
    Migration {
        /// The migration's number.
        version: u32,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// An option was refused.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// A thread for SQLite could not be started.
    #[error("cannot start a SQLite thread: {0}")]
    Thread(#[source] std::io::Error),
    /// Any other SQLite error while opening.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

impl From<SqliteError> for StoreError {
    fn from(e: SqliteError) -> Self {
        match e {
            SqliteError::Sqlite(e) => store_error("open", e),
            SqliteError::Open { .. } | SqliteError::Thread(_) => {
                StoreError::Unavailable(e.to_string())
            }
            other => StoreError::Data(other.to_string()),
        }
    }
}

/// Maps a rusqlite error to a [`StoreError`]; `doing` says what the store
/// was doing (`"append results"`).
///
/// - busy or locked → [`StoreError::Unavailable`] (retry later);
/// - a constraint (unique, check, trigger) → [`StoreError::Conflict`];
/// - a full disk or an I/O error → [`StoreError::Unavailable`];
/// - a value that does not fit its Rust type → [`StoreError::Data`];
/// - anything else → [`StoreError::Backend`] with the error as `source`.
///
/// ```
/// use healthcore::store::StoreError;
/// let busy = rusqlite::Error::SqliteFailure(
///     rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
///     None,
/// );
/// assert!(matches!(healthcore_sqlite::store_error("read", busy), StoreError::Unavailable(_)));
/// ```
pub fn store_error(doing: &str, e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, msg) => {
            let text = msg.clone().unwrap_or_else(|| f.to_string());
            match f.code {
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                    StoreError::Unavailable(format!("{doing}: {text}"))
                }
                ErrorCode::ConstraintViolation => StoreError::Conflict(format!("{doing}: {text}")),
                ErrorCode::DiskFull
                | ErrorCode::SystemIoFailure
                | ErrorCode::CannotOpen
                | ErrorCode::OutOfMemory => StoreError::Unavailable(format!("{doing}: {text}")),
                _ => backend(doing, e),
            }
        }
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::Utf8Error(..) => StoreError::Data(format!("{doing}: {e}")),
        _ => backend(doing, e),
    }
}

fn backend(doing: &str, e: rusqlite::Error) -> StoreError {
    StoreError::Backend {
        store: "sqlite",
        message: doing.to_owned(),
        source: Box::new(e),
    }
}

/// `.ctx("doing")` on rusqlite results: maps the error with [`store_error`].
pub(crate) trait Ctx<T> {
    fn ctx(self, doing: &str) -> Result<T, StoreError>;
}

impl<T> Ctx<T> for Result<T, rusqlite::Error> {
    fn ctx(self, doing: &str) -> Result<T, StoreError> {
        self.map_err(|e| store_error(doing, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::ffi;

    fn failure(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), Some("msg".into()))
    }

    #[test]
    fn busy_and_locked_are_unavailable() {
        assert!(matches!(
            store_error("x", failure(ffi::SQLITE_BUSY)),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            store_error("x", failure(ffi::SQLITE_LOCKED)),
            StoreError::Unavailable(_)
        ));
        assert!(store_error("x", failure(ffi::SQLITE_BUSY)).is_transient());
    }

    #[test]
    fn constraint_is_conflict() {
        let e = store_error("insert", failure(ffi::SQLITE_CONSTRAINT_UNIQUE));
        match e {
            StoreError::Conflict(m) => assert!(m.contains("insert") && m.contains("msg")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn full_disk_is_unavailable() {
        assert!(matches!(
            store_error("x", failure(ffi::SQLITE_FULL)),
            StoreError::Unavailable(_)
        ));
    }

    #[test]
    fn conversions_are_data_errors() {
        let e = rusqlite::Error::IntegralValueOutOfRange(0, -1);
        assert!(matches!(store_error("x", e), StoreError::Data(_)));
    }

    #[test]
    fn others_are_backend_with_source() {
        let e = store_error("query", failure(ffi::SQLITE_CORRUPT));
        match &e {
            StoreError::Backend { store, message, .. } => {
                assert_eq!(*store, "sqlite");
                assert_eq!(message, "query");
            }
            other => panic!("{other:?}"),
        }
        assert!(std::error::Error::source(&e).is_some());
    }

    #[test]
    fn open_errors_convert() {
        let e: StoreError = SqliteError::SchemaTooNew {
            path: "x.db".into(),
            found: 9,
            known: 1,
        }
        .into();
        assert!(matches!(e, StoreError::Data(m) if m.contains("newer")));
    }
}
