//! `[store]`: where healthd keeps its state.
//!
//! ```toml
//! store = { kind = "sqlite", path = "./healthd.db" }
//! # or
//! store = { kind = "postgres", url_env = "HEALTHD_DATABASE_URL" }
//! ```

use std::path::PathBuf;

use serde::Deserialize;

use super::Problems;

/// Default SQLite file.
pub const DEFAULT_DB: &str = "./healthd.db";

/// The store: SQLite (embedded default) or PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum StoreConfig {
    /// A SQLite file (created when missing).
    Sqlite {
        /// The database file.
        #[serde(default = "default_db")]
        path: PathBuf,
    },
    /// A PostgreSQL database (migrated on start).
    Postgres {
        /// The connection URL (prefer `url_env`: URLs carry passwords).
        #[serde(default)]
        url: Option<String>,
        /// The environment variable holding the URL.
        #[serde(default)]
        url_env: Option<String>,
        /// A schema for healthcore's tables (default: the search path).
        #[serde(default)]
        schema: Option<String>,
        /// Pool size (default 10).
        #[serde(default)]
        max_connections: Option<u32>,
    },
}

fn default_db() -> PathBuf {
    PathBuf::from(DEFAULT_DB)
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig::Sqlite { path: default_db() }
    }
}

/// What to open, with secrets read from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreTarget {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL URL and options.
    Postgres {
        /// The URL.
        url: String,
        /// The schema.
        schema: Option<String>,
        /// Pool size.
        max_connections: Option<u32>,
    },
}

/// True when a connection URL carries a password: in its user info
/// (`postgres://user:secret@host/db`) or as a `password=` parameter.
fn url_has_password(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (authority, query) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], rest[i..].split_once('?').map_or("", |(_, q)| q)),
        None => (rest, ""),
    };
    let in_userinfo = authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'));
    let in_query = query.split('&').any(|kv| {
        kv.split_once('=')
            .is_some_and(|(k, _)| k.eq_ignore_ascii_case("password"))
    });
    in_userinfo || in_query
}

impl StoreConfig {
    /// Checks the section and reads `url_env` (`None` when it is not read:
    /// a validation without secrets).
    pub(crate) fn check(&self, p: &mut Problems) -> Option<StoreTarget> {
        match self {
            StoreConfig::Sqlite { path } => {
                if path.as_os_str().is_empty() {
                    p.push("store.path", "must not be empty");
                    return None;
                }
                Some(StoreTarget::Sqlite(path.clone()))
            }
            StoreConfig::Postgres {
                url,
                url_env,
                schema,
                max_connections,
            } => {
                let url = match (url, url_env) {
                    (Some(u), None) if url_has_password(u) => {
                        p.push(
                            "store.url",
                            "holds a password: name the URL with url_env instead \
                             (secrets never appear in the file)",
                        );
                        return None;
                    }
                    (Some(u), None) => Some(u.clone()),
                    // None without secrets (replay): the rest is still checked
                    (None, Some(var)) => p.secret(var, "store.url_env".to_owned()),
                    _ => {
                        p.push("store.url", "give exactly one of url and url_env");
                        return None;
                    }
                };
                if let Some(u) = &url {
                    if !(u.starts_with("postgres://") || u.starts_with("postgresql://")) {
                        p.push(
                            if url_env.is_some() {
                                "store.url_env"
                            } else {
                                "store.url"
                            },
                            "must start with postgres:// or postgresql://",
                        );
                        return None;
                    }
                }
                if let Some(s) = schema {
                    if s.is_empty()
                        || s.len() > 63
                        || !s
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                    {
                        p.push(
                            "store.schema",
                            "must be 1..=63 characters of a-z, 0-9 or '_'",
                        );
                    }
                }
                if max_connections.is_some_and(|n| n == 0 || n > 1000) {
                    p.push("store.max_connections", "must be 1..=1000");
                }
                Some(StoreTarget::Postgres {
                    url: url?,
                    schema: schema.clone(),
                    max_connections: *max_connections,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::url_has_password;

    #[test]
    fn passwords_in_urls_are_found() {
        for url in [
            "postgres://u:secret@db.example/app",
            "postgresql://u:s%40cret@10.0.0.1:5432/app?sslmode=require",
            "postgres://db.example/app?user=u&password=secret",
            "postgres://db.example/app?sslmode=disable&PASSWORD=x",
        ] {
            assert!(url_has_password(url), "{url}");
        }
        for url in [
            "postgres://postgres@127.0.0.1:5432/test",
            "postgres://127.0.0.1/test",
            "postgresql:///test?host=/run/postgresql",
            "postgres://u@db.example/app?application_name=a:b",
        ] {
            assert!(!url_has_password(url), "{url}");
        }
    }
}
