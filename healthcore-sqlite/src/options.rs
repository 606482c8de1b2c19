//! [`SqliteOptions`] and [`Durability`]: how a store opens its file.
//!
//! Plain configuration with defaults and validation; no I/O.

use std::time::Duration;

use healthcore::ValidationError;
use serde::{Deserialize, Serialize};

/// How hard a commit tries to reach the disk. Both settings run SQLite in
/// WAL mode, and both keep every committed transaction when the *process*
/// dies (a crash, `SIGKILL`, a panic): the data is in the operating
/// system's hands once `commit` returns. They differ when the *machine*
/// dies (power loss, kernel panic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Durability {
    /// `PRAGMA synchronous = FULL`: every commit waits for the write-ahead
    /// log to be flushed to stable storage, so committed alerts,
    /// acknowledgements and results also survive a power loss. The
    /// default; results are written in batches, so the flush is paid per
    /// batch, not per row.
    #[default]
    Full,
    /// `PRAGMA synchronous = NORMAL`: the log is flushed at checkpoints
    /// only. A power loss may roll back the last commits (the database is
    /// never corrupted); a process crash loses nothing.
    Normal,
}

impl Durability {
    /// The `PRAGMA synchronous` value.
    pub const fn synchronous(self) -> i64 {
        match self {
            Durability::Full => 2,
            Durability::Normal => 1,
        }
    }
}

/// Options for [`SqliteStore::open_with`](crate::SqliteStore::open_with).
///
/// ```
/// use healthcore_sqlite::{Durability, SqliteOptions};
/// let o: SqliteOptions = serde_json::from_str(r#"{"durability": "normal", "readers": 2}"#).unwrap();
/// assert_eq!(o.durability, Durability::Normal);
/// assert_eq!(o.recent_per_check, 100);
/// o.validate().unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SqliteOptions {
    /// Commit durability (default [`Durability::Full`]).
    pub durability: Durability,
    /// How long a statement waits on a lock held by another connection
    /// before failing with "busy" (default 5 s; 1 ms ..= 10 min).
    #[serde(with = "humantime_serde")]
    pub busy_timeout: Duration,
    /// Reader threads, each with its own connection (default 4; 1..=64).
    /// An in-memory store has none: its reads run on the writer thread.
    pub readers: usize,
    /// Results kept per check for [`recent_results`] (default 100;
    /// 1..=1000). A query returns at most this many results of one check;
    /// older ones stay in the raw table until retention.
    ///
    /// [`recent_results`]: healthcore::store::Store::recent_results
    pub recent_per_check: u32,
    /// Page cache per connection, KiB (default 16 MiB for the writer and
    /// each reader; 1 MiB ..= 1 GiB).
    pub cache_kib: u32,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            durability: Durability::Full,
            busy_timeout: Duration::from_secs(5),
            readers: 4,
            recent_per_check: 100,
            cache_kib: 16 * 1024,
        }
    }
}

impl SqliteOptions {
    /// Checks every range; the error names the field.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.busy_timeout < Duration::from_millis(1)
            || self.busy_timeout > Duration::from_secs(600)
        {
            return Err(ValidationError::new("busy_timeout", "must be 1ms ..= 10m"));
        }
        if !(1..=64).contains(&self.readers) {
            return Err(ValidationError::new("readers", "must be 1..=64"));
        }
        if !(1..=1000).contains(&self.recent_per_check) {
            return Err(ValidationError::new("recent_per_check", "must be 1..=1000"));
        }
        if !(1024..=1024 * 1024).contains(&self.cache_kib) {
            return Err(ValidationError::new(
                "cache_kib",
                "must be 1024..=1048576 (1 MiB ..= 1 GiB)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_durable() {
        let o = SqliteOptions::default();
        o.validate().expect("defaults valid");
        assert_eq!(o.durability, Durability::Full);
        assert_eq!(o.durability.synchronous(), 2);
        assert_eq!(Durability::Normal.synchronous(), 1);
        assert_eq!(o.busy_timeout, Duration::from_secs(5));
        assert_eq!(o.readers, 4);
        assert_eq!(o.recent_per_check, 100);
    }

    #[test]
    fn each_range_names_its_field() {
        let cases: [(&str, SqliteOptions); 6] = [
            (
                "busy_timeout",
                SqliteOptions {
                    busy_timeout: Duration::ZERO,
                    ..Default::default()
                },
            ),
            (
                "busy_timeout",
                SqliteOptions {
                    busy_timeout: Duration::from_secs(601),
                    ..Default::default()
                },
            ),
            (
                "readers",
                SqliteOptions {
                    readers: 0,
                    ..Default::default()
                },
            ),
            (
                "readers",
                SqliteOptions {
                    readers: 65,
                    ..Default::default()
                },
            ),
            (
                "recent_per_check",
                SqliteOptions {
                    recent_per_check: 1001,
                    ..Default::default()
                },
            ),
            (
                "cache_kib",
                SqliteOptions {
                    cache_kib: 10,
                    ..Default::default()
                },
            ),
        ];
        for (field, o) in cases {
            assert_eq!(o.validate().expect_err(field).field(), field);
        }
    }

    #[test]
    fn serde_uses_humantime_and_refuses_unknown_fields() {
        let o: SqliteOptions = serde_json::from_str(r#"{"busy_timeout": "250ms"}"#).expect("parse");
        assert_eq!(o.busy_timeout, Duration::from_millis(250));
        assert!(serde_json::from_str::<SqliteOptions>(r#"{"nope": 1}"#).is_err());
        let back: SqliteOptions =
            serde_json::from_str(&serde_json::to_string(&o).expect("ser")).expect("de");
        assert_eq!(back, o);
    }
}
