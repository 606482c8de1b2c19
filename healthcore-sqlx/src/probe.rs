//! [`PostgresChecker`]: the `postgres` probe (seed 004): a connection
//! test with latency, pool utilisation and migration status, as a
//! [`Checker`].
//!
//! It checks pools the application registered by name (its own pool, the
//! store's), never a URL from check params, so credentials stay in code
//! or in the application's secrets, not in check configuration. It judges
//! only what it measured: unreachable server → `unreachable`; server
//! refusing work or a failed migration → `fail`; pool nearly full,
//! migrations pending or newer → `warn`; a checker-side fault (unknown
//! pool name, bad params, credentials refused) → `unknown`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use healthcore::ValidationError;
use healthcore::checker::Checker;
use healthcore::model::{CheckSpec, Observation, Outcome};
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgPool;

use crate::PgStore;
use crate::store::{MIGRATIONS_TABLE, known_version};

/// The check kind this probe serves.
pub const KIND: &str = "postgres";

/// Name of the pool used when `params.pool` is not given.
pub const DEFAULT_POOL: &str = "default";

/// Parameters of a `postgres` check (`spec.params`).
///
/// ```
/// use healthcore_sqlx::PostgresParams;
/// let p: PostgresParams = serde_json::from_value(serde_json::json!({
///     "pool_warn_ratio": 0.8, "migrations_table": "_sqlx_migrations", "expected_migration": 20240101
/// })).unwrap();
/// assert_eq!(p.pool, "default");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresParams {
    /// Which registered pool (default `default`).
    #[serde(default = "default_pool")]
    pub pool: String,
    /// Connections in use over the pool's maximum at or above which the
    /// check warns (0 < r ≤ 1, default 0.9).
    #[serde(default = "default_ratio")]
    pub pool_warn_ratio: f64,
    /// Check migration status (default true).
    #[serde(default = "yes")]
    pub check_migrations: bool,
    /// The migrations table to read (default healthcore's own,
    /// `_healthcore_migrations`); `schema.table` or `table`.
    #[serde(default)]
    pub migrations_table: Option<String>,
    /// The newest migration the application expects; defaults to the
    /// newest healthcore migration when the table is healthcore's, else
    /// only failed migrations are reported.
    #[serde(default)]
    pub expected_migration: Option<i64>,
}

fn default_pool() -> String {
    DEFAULT_POOL.to_owned()
}
fn default_ratio() -> f64 {
    0.9
}
fn yes() -> bool {
    true
}

impl Default for PostgresParams {
    fn default() -> Self {
        Self {
            pool: default_pool(),
            pool_warn_ratio: default_ratio(),
            check_migrations: true,
            migrations_table: None,
            expected_migration: None,
        }
    }
}

fn valid_table(t: &str) -> bool {
    let part = |p: &str| {
        !p.is_empty()
            && p.len() <= 63
            && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !p.as_bytes()[0].is_ascii_digit()
    };
    match t.split_once('.') {
        Some((s, n)) => part(s) && part(n),
        None => part(t),
    }
}

impl PostgresParams {
    /// Parses `spec.params`, naming the field as `params.<field>`.
    pub fn parse(spec: &CheckSpec) -> Result<Self, ValidationError> {
        let params = if spec.params.is_null() {
            serde_json::json!({})
        } else {
            spec.params.clone()
        };
        if !params.is_object() {
            return Err(ValidationError::new("params", "must be a JSON object"));
        }
        let p: PostgresParams = serde_json::from_value(params).map_err(|e| {
            let msg = e.to_string();
            let field = msg
                .split('`')
                .nth(1)
                .map(|f| format!("params.{f}"))
                .unwrap_or_else(|| "params".to_owned());
            ValidationError::new(field, msg)
        })?;
        if !(p.pool_warn_ratio > 0.0 && p.pool_warn_ratio <= 1.0) {
            return Err(ValidationError::new(
                "params.pool_warn_ratio",
                "must be above 0 and at most 1",
            ));
        }
        if p.migrations_table
            .as_deref()
            .is_some_and(|t| !valid_table(t))
        {
            return Err(ValidationError::new(
                "params.migrations_table",
                "must be `table` or `schema.table` of [A-Za-z0-9_], at most 63 each",
            ));
        }
        Ok(p)
    }
}

/// The `postgres` probe over named pools.
///
/// ```no_run
/// # async fn demo(store: healthcore_sqlx::PgStore) {
/// use healthcore::checker::Checker;
/// use healthcore::model::CheckSpec;
/// let checker = healthcore_sqlx::PostgresChecker::for_store(&store);
/// let seen = checker.check(&CheckSpec::new("postgres")).await;
/// println!("{:?} {:?}", seen.outcome, seen.details);
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct PostgresChecker {
    pools: BTreeMap<String, PgPool>,
}

impl PostgresChecker {
    /// A checker for one pool, registered as `default`.
    pub fn new(pool: PgPool) -> Self {
        Self::default().with_pool(DEFAULT_POOL, pool)
    }

    /// A checker for a store's pool, registered as `default`.
    pub fn for_store(store: &PgStore) -> Self {
        Self::new(store.pool().clone())
    }

    /// Registers another pool under `name`.
    #[must_use]
    pub fn with_pool(mut self, name: impl Into<String>, pool: PgPool) -> Self {
        self.pools.insert(name.into(), pool);
        self
    }

    async fn run(&self, spec: &CheckSpec, p: &PostgresParams) -> Observation {
        let Some(pool) = self.pools.get(&p.pool) else {
            return unknown(format!("no pool named {:?} is registered", p.pool));
        };
        let max = pool.options().get_max_connections();
        let size = pool.size();
        let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
        let in_use = size.saturating_sub(idle);
        let ratio = if max == 0 {
            0.0
        } else {
            f64::from(in_use) / f64::from(max)
        };
        let pool_details = serde_json::json!({
            "size": size, "idle": idle, "in_use": in_use, "max": max,
            "utilisation": (ratio * 1000.0).round() / 1000.0,
        });
        let deadline = spec.timeout.max(Duration::from_millis(1));
        let started = Instant::now();
        let probe = async {
            let mut conn = pool.acquire().await?;
            let row: (String, bool) =
                sqlx::query_as("SELECT current_setting('server_version'), pg_is_in_recovery()")
                    .fetch_one(&mut *conn)
                    .await?;
            Ok::<_, sqlx::Error>(row)
        };
        let (version, in_recovery) = match tokio::time::timeout(deadline, probe).await {
            Err(_) => {
                return Observation::new(Utc::now(), Outcome::Unreachable)
                    .with_latency(started.elapsed())
                    .with_message(format!("no answer within {deadline:?}"))
                    .with_details(serde_json::json!({ "pool": pool_details }));
            }
            Ok(Err(e)) => {
                let exhausted = matches!(e, sqlx::Error::PoolTimedOut) && in_use >= max;
                return Observation::new(Utc::now(), judge_error(&e, exhausted))
                    .with_latency(started.elapsed())
                    .with_message(if exhausted {
                        format!("pool exhausted ({in_use}/{max} in use): {e}")
                    } else {
                        e.to_string()
                    })
                    .with_details(serde_json::json!({ "pool": pool_details }));
            }
            Ok(Ok(row)) => row,
        };
        let latency = started.elapsed();
        let mut outcome = Outcome::Pass;
        let mut notes: Vec<String> = Vec::new();
        if ratio >= p.pool_warn_ratio {
            outcome = Outcome::Warn;
            notes.push(format!("pool {in_use}/{max} in use"));
        }
        let mut migrations = serde_json::Value::Null;
        if p.check_migrations {
            let (o, note, details) = migration_check(pool, p).await;
            outcome = worse(outcome, o);
            if let Some(n) = note {
                notes.push(n);
            }
            migrations = details;
        }
        let message = if notes.is_empty() {
            format!("ok in {} ms", latency.as_millis())
        } else {
            notes.join("; ")
        };
        Observation::new(Utc::now(), outcome)
            .with_latency(latency)
            .with_message(message)
            .with_details(serde_json::json!({
                "server_version": version,
                "in_recovery": in_recovery,
                "latency_ms": latency.as_secs_f64() * 1000.0,
                "pool": pool_details,
                "migrations": migrations,
            }))
    }
}

fn unknown(message: String) -> Observation {
    Observation::new(Utc::now(), Outcome::Unknown).with_message(message)
}

/// The worse of two outcomes for this probe (pass < warn < fail).
fn worse(a: Outcome, b: Outcome) -> Outcome {
    let rank = |o: Outcome| match o {
        Outcome::Pass => 0,
        Outcome::Warn => 1,
        Outcome::Unknown => 2,
        Outcome::Fail => 3,
        Outcome::Unreachable => 4,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// Outcome for an error of the connection test.
fn judge_error(e: &sqlx::Error, pool_exhausted: bool) -> Outcome {
    if pool_exhausted {
        return Outcome::Fail;
    }
    if let Some(code) = crate::error::code_of(e) {
        return match code.get(..2).unwrap_or("") {
            // credentials or database name: our configuration, not the server
            "28" | "3D" => Outcome::Unknown,
            "08" => Outcome::Unreachable,
            _ => Outcome::Fail,
        };
    }
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut => {
            Outcome::Unreachable
        }
        sqlx::Error::Configuration(_) | sqlx::Error::PoolClosed => Outcome::Unknown,
        _ => Outcome::Fail,
    }
}

async fn migration_check(
    pool: &PgPool,
    p: &PostgresParams,
) -> (Outcome, Option<String>, serde_json::Value) {
    let table = p.migrations_table.as_deref().unwrap_or(MIGRATIONS_TABLE);
    let expected = p
        .expected_migration
        .or_else(|| p.migrations_table.is_none().then(known_version));
    let exists: Result<Option<String>, _> = sqlx::query_scalar("SELECT to_regclass($1)::text")
        .bind(table)
        .fetch_one(pool)
        .await;
    match exists {
        Err(e) => {
            return (
                Outcome::Unknown,
                Some(format!("cannot read migration status: {e}")),
                serde_json::json!({ "table": table }),
            );
        }
        Ok(None) => {
            return (
                Outcome::Warn,
                Some(format!(
                    "migrations table {table} not found: schema not migrated"
                )),
                serde_json::json!({ "table": table, "applied": null, "expected": expected }),
            );
        }
        Ok(Some(_)) => {}
    }
    // the name was validated: [A-Za-z0-9_] and one optional dot
    let row: Result<(Option<i64>, i64, i64), _> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT max(version), count(*), count(*) FILTER (WHERE NOT success) FROM {table}"
    )))
    .fetch_one(pool)
    .await;
    let (applied, count, failed) = match row {
        Ok(r) => r,
        Err(e) => {
            return (
                Outcome::Unknown,
                Some(format!("cannot read {table}: {e}")),
                serde_json::json!({ "table": table }),
            );
        }
    };
    let details = serde_json::json!({
        "table": table, "applied": applied, "count": count, "failed": failed, "expected": expected,
    });
    if failed > 0 {
        return (
            Outcome::Fail,
            Some(format!("{failed} migration(s) failed")),
            details,
        );
    }
    match (applied, expected) {
        (None, _) => (
            Outcome::Warn,
            Some("no migration applied".to_owned()),
            details,
        ),
        (Some(a), Some(e)) if a < e => (
            Outcome::Warn,
            Some(format!("migrations pending: at {a}, code expects {e}")),
            details,
        ),
        (Some(a), Some(e)) if a > e => (
            Outcome::Warn,
            Some(format!(
                "schema at migration {a} is newer than the code ({e})"
            )),
            details,
        ),
        _ => (Outcome::Pass, None, details),
    }
}

#[async_trait]
impl Checker for PostgresChecker {
    fn kind(&self) -> &str {
        KIND
    }

    fn validate(&self, spec: &CheckSpec) -> Result<(), ValidationError> {
        let p = PostgresParams::parse(spec)?;
        if !self.pools.contains_key(&p.pool) {
            return Err(ValidationError::new(
                "params.pool",
                format!(
                    "no pool named {:?} is registered (known: {})",
                    p.pool,
                    self.pools.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        Ok(())
    }

    async fn check(&self, spec: &CheckSpec) -> Observation {
        match PostgresParams::parse(spec) {
            Ok(p) => self.run(spec, &p).await,
            Err(e) => unknown(e.to_string()),
        }
    }

    async fn diagnose(&self, spec: &CheckSpec) -> Observation {
        let mut seen = self.check(spec).await;
        let Ok(p) = PostgresParams::parse(spec) else {
            return seen;
        };
        let Some(pool) = self.pools.get(&p.pool) else {
            return seen;
        };
        let extra: Result<(i64, i64, String), _> = sqlx::query_as(
            "SELECT (SELECT count(*) FROM pg_stat_activity), \
             current_setting('max_connections')::bigint, current_database()",
        )
        .fetch_one(pool)
        .await;
        if let (Ok((active, max, db)), Some(serde_json::Value::Object(d))) =
            (extra, seen.details.as_mut())
        {
            d.insert(
                "server".into(),
                serde_json::json!({
                    "connections": active, "max_connections": max, "database": db,
                }),
            );
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(params: serde_json::Value) -> CheckSpec {
        CheckSpec::new("postgres").with_params(params)
    }

    #[test]
    fn params_default_and_name_bad_fields() {
        let p = PostgresParams::parse(&spec(serde_json::json!({}))).unwrap();
        assert_eq!(p, PostgresParams::default());
        let e = PostgresParams::parse(&spec(serde_json::json!({"poool": "x"}))).unwrap_err();
        assert_eq!(e.field(), "params.poool");
        let e =
            PostgresParams::parse(&spec(serde_json::json!({"pool_warn_ratio": 0}))).unwrap_err();
        assert_eq!(e.field(), "params.pool_warn_ratio");
        let e =
            PostgresParams::parse(&spec(serde_json::json!({"pool_warn_ratio": 1.5}))).unwrap_err();
        assert_eq!(e.field(), "params.pool_warn_ratio");
        let e = PostgresParams::parse(&spec(serde_json::json!({"migrations_table": "x; drop"})))
            .unwrap_err();
        assert_eq!(e.field(), "params.migrations_table");
        let e = PostgresParams::parse(&spec(serde_json::json!([1]))).unwrap_err();
        assert_eq!(e.field(), "params");
        PostgresParams::parse(&spec(
            serde_json::json!({"migrations_table": "app._sqlx_migrations"}),
        ))
        .unwrap();
    }

    #[test]
    fn table_names() {
        assert!(valid_table("_sqlx_migrations"));
        assert!(valid_table("app.t1"));
        assert!(!valid_table("a.b.c"));
        assert!(!valid_table("1t"));
        assert!(!valid_table(""));
        assert!(!valid_table("t\"x"));
    }

    #[test]
    fn worse_orders_outcomes() {
        assert_eq!(worse(Outcome::Pass, Outcome::Warn), Outcome::Warn);
        assert_eq!(worse(Outcome::Fail, Outcome::Warn), Outcome::Fail);
        assert_eq!(worse(Outcome::Warn, Outcome::Pass), Outcome::Warn);
    }

    #[test]
    fn errors_judged() {
        assert_eq!(
            judge_error(&sqlx::Error::PoolTimedOut, false),
            Outcome::Unreachable
        );
        assert_eq!(judge_error(&sqlx::Error::PoolTimedOut, true), Outcome::Fail);
        assert_eq!(
            judge_error(
                &sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
                false
            ),
            Outcome::Unreachable
        );
        assert_eq!(
            judge_error(&sqlx::Error::PoolClosed, false),
            Outcome::Unknown
        );
    }
}
