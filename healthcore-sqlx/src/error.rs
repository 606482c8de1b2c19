//! Errors: [`ConnectError`] for everything that can go wrong before a
//! [`PgStore`](crate::PgStore) is usable, and [`map_sqlx_error`], the one
//! function that turns a driver error into a [`StoreError`] a caller can
//! act on (the orphan rule forbids a `From` impl between foreign types).
//!
//! This module owns the SQLSTATE classification; it must not hide the
//! driver's error: it stays as `source` wherever the variant has one.

use healthcore::store::StoreError;
use sqlx::error::ErrorKind;
use sqlx::migrate::MigrateError;

/// Why [`PgStore::connect`](crate::PgStore::connect) (or
/// [`from_pool`](crate::PgStore::from_pool)) failed. Each variant says
/// what to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL (or an option in it) could not be parsed.
    #[error("invalid PostgreSQL URL: {0}")]
    InvalidUrl(String),
    /// A [`PgStoreOptions`](crate::PgStoreOptions) field is out of range.
    #[error("invalid option `{field}`: {rule}")]
    InvalidOption {
        /// The option's name.
        field: &'static str,
        /// What it must be.
        rule: String,
    },
    /// Nothing answered at the address, or not within the connect timeout.
    #[error("PostgreSQL server at {addr} is unreachable: {reason}")]
    Unreachable {
        /// `host:port` (or socket path) that was tried.
        addr: String,
        /// What the system or pool said.
        reason: String,
    },
    /// The server refused the user or password.
    #[error("PostgreSQL refused the credentials of user {user:?}: {message}")]
    Auth {
        /// The user name that was tried.
        user: String,
        /// The server's message.
        message: String,
    },
    /// The database named in the URL does not exist.
    #[error("database {database:?} does not exist on the PostgreSQL server")]
    DatabaseMissing {
        /// The database name.
        database: String,
    },
    /// The schema was migrated by a newer healthcore-sqlx than this one.
    #[error(
        "the database schema is at migration {found}, newer than this code knows (up to {known}); \
         upgrade healthcore-sqlx (migrations are never rolled back)"
    )]
    SchemaTooNew {
        /// The newest migration applied in the database.
        found: i64,
        /// The newest migration this code embeds.
        known: i64,
    },
    /// An applied migration's file was edited afterwards.
    #[error(
        "migration {version} was changed after it was applied (checksum mismatch); \
         migrations are append-only: restore the file and add a new one"
    )]
    MigrationChanged {
        /// The migration's version.
        version: i64,
    },
    /// Running the migrations failed for another reason.
    #[error("migrating the healthcore schema failed: {0}")]
    Migrate(#[source] MigrateError),
    /// Any other driver error while connecting.
    #[error("connecting to PostgreSQL failed: {0}")]
    Other(#[source] sqlx::Error),
}

impl From<ConnectError> for StoreError {
    fn from(e: ConnectError) -> Self {
        match e {
            ConnectError::Unreachable { .. } => StoreError::Unavailable(e.to_string()),
            ConnectError::Other(source) => map_sqlx_error(source),
            other => StoreError::Backend {
                store: STORE,
                message: other.to_string(),
                source: Box::new(other),
            },
        }
    }
}

/// The store name used in [`StoreError::Backend`].
pub(crate) const STORE: &str = "postgres";

/// SQLSTATE codes this crate reacts to.
pub(crate) mod sqlstate {
    /// unique_violation
    pub const UNIQUE: &str = "23505";
    /// foreign_key_violation
    pub const FOREIGN_KEY: &str = "23503";
    /// invalid_password
    pub const INVALID_PASSWORD: &str = "28P01";
    /// invalid_authorization_specification
    pub const INVALID_AUTH: &str = "28000";
    /// invalid_catalog_name (no such database)
    pub const NO_DATABASE: &str = "3D000";
}

/// The SQLSTATE of a database error, if `e` is one.
pub(crate) fn code_of(e: &sqlx::Error) -> Option<String> {
    e.as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned())
}

/// Maps a sqlx error to the [`StoreError`] a caller acts on:
///
/// | driver error | StoreError |
/// | --- | --- |
/// | unique, exclusion, check, not-null, foreign-key violation (class 23) | `Conflict` |
/// | serialization failure, deadlock (40001, 40P01) | `Unavailable` (retry) |
/// | connection exception (08), insufficient resources (53), operator intervention (57), lock not available (55P03), auth (28), no database (3D000) | `Unavailable` |
/// | I/O, TLS, protocol, pool timed out or closed, worker crashed | `Unavailable` |
/// | data exception (class 22), encode/decode errors, missing column or type | `Data` |
/// | anything else | `Backend { store: "postgres", .. }` with the error as source |
///
/// ```
/// use healthcore::store::StoreError;
/// let e = healthcore_sqlx::map_sqlx_error(sqlx::Error::PoolTimedOut);
/// assert!(matches!(e, StoreError::Unavailable(_)));
/// assert!(e.is_transient());
/// ```
pub fn map_sqlx_error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let class = code.get(..2).unwrap_or("");
            match db.kind() {
                ErrorKind::UniqueViolation
                | ErrorKind::ForeignKeyViolation
                | ErrorKind::NotNullViolation
                | ErrorKind::CheckViolation
                | ErrorKind::ExclusionViolation => {
                    return StoreError::Conflict(db.message().to_owned());
                }
                _ => {}
            }
            match (class, code.as_str()) {
                ("23", _) => StoreError::Conflict(db.message().to_owned()),
                (_, "40001") | (_, "40P01") => StoreError::Unavailable(format!(
                    "transaction aborted by a concurrent one, retry: {}",
                    db.message()
                )),
                ("08" | "53" | "57" | "28", _) | (_, "55P03") | (_, "3D000") => {
                    StoreError::Unavailable(db.message().to_owned())
                }
                ("22", _) => StoreError::Data(db.message().to_owned()),
                _ => backend("database error", e),
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => StoreError::Unavailable(e.to_string()),
        sqlx::Error::Decode(_)
        | sqlx::Error::Encode(_)
        | sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::TypeNotFound { .. } => StoreError::Data(e.to_string()),
        _ => backend("driver error", e),
    }
}

fn backend(message: &str, e: sqlx::Error) -> StoreError {
    StoreError::Backend {
        store: STORE,
        message: format!("{message}: {e}"),
        source: Box::new(e),
    }
}

/// Classifies an error met while opening the pool or migrating.
pub(crate) fn classify_connect(
    e: sqlx::Error,
    opts: &sqlx::postgres::PgConnectOptions,
) -> ConnectError {
    let addr = match opts.get_socket() {
        Some(p) => p.display().to_string(),
        None => format!("{}:{}", opts.get_host(), opts.get_port()),
    };
    if let Some(code) = code_of(&e) {
        let message = e
            .as_database_error()
            .map(|d| d.message().to_owned())
            .unwrap_or_default();
        return match code.as_str() {
            sqlstate::INVALID_PASSWORD | sqlstate::INVALID_AUTH => ConnectError::Auth {
                user: opts.get_username().to_owned(),
                message,
            },
            sqlstate::NO_DATABASE => ConnectError::DatabaseMissing {
                database: opts
                    .get_database()
                    .unwrap_or(opts.get_username())
                    .to_owned(),
            },
            c if c.starts_with("08") || c.starts_with("57") || c.starts_with("53") => {
                ConnectError::Unreachable {
                    addr,
                    reason: message,
                }
            }
            _ => ConnectError::Other(e),
        };
    }
    match e {
        sqlx::Error::Io(io) => ConnectError::Unreachable {
            addr,
            reason: io.to_string(),
        },
        sqlx::Error::PoolTimedOut => ConnectError::Unreachable {
            addr,
            reason: "no connection within the connect timeout".into(),
        },
        sqlx::Error::Tls(t) => ConnectError::Unreachable {
            addr,
            reason: format!("TLS: {t}"),
        },
        sqlx::Error::Configuration(c) => ConnectError::InvalidUrl(c.to_string()),
        sqlx::Error::Migrate(m) => classify_migrate(*m),
        other => ConnectError::Other(other),
    }
}

/// Classifies a migration error.
pub(crate) fn classify_migrate(e: MigrateError) -> ConnectError {
    match e {
        MigrateError::VersionMismatch(version) => ConnectError::MigrationChanged { version },
        other => ConnectError::Migrate(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_and_io_errors_are_unavailable() {
        for e in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::WorkerCrashed,
            sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        ] {
            let mapped = map_sqlx_error(e);
            assert!(matches!(mapped, StoreError::Unavailable(_)), "{mapped:?}");
            assert!(mapped.is_transient());
        }
    }

    #[test]
    fn decode_errors_are_data() {
        let e = map_sqlx_error(sqlx::Error::ColumnNotFound("x".into()));
        assert!(matches!(e, StoreError::Data(_)), "{e:?}");
        let e = map_sqlx_error(sqlx::Error::Decode("bad".into()));
        assert!(matches!(e, StoreError::Data(_)), "{e:?}");
    }

    #[test]
    fn other_errors_are_backend_with_source() {
        let e = map_sqlx_error(sqlx::Error::RowNotFound);
        match e {
            StoreError::Backend { store, source, .. } => {
                assert_eq!(store, "postgres");
                assert!(source.to_string().contains("no rows"));
            }
            other => panic!("expected Backend, got {other:?}"),
        }
    }

    #[test]
    fn connect_errors_convert_to_store_errors() {
        let e: StoreError = ConnectError::Unreachable {
            addr: "127.0.0.1:1".into(),
            reason: "refused".into(),
        }
        .into();
        assert!(matches!(e, StoreError::Unavailable(_)));
        let e: StoreError = ConnectError::SchemaTooNew { found: 9, known: 1 }.into();
        assert!(e.to_string().contains("newer than this code"), "{e}");
    }

    #[test]
    fn version_mismatch_is_named() {
        let e = classify_migrate(MigrateError::VersionMismatch(3));
        assert!(matches!(e, ConnectError::MigrationChanged { version: 3 }));
        assert!(e.to_string().contains("append-only"));
    }
}
