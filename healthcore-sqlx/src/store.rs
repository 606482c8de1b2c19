//! [`PgStore`]: connecting (with errors told apart), migrating, and every
//! [`Store`] method on PostgreSQL.
//!
//! Shape (DESIGN.md §6): raw results are appended by `COPY` into an
//! append-ordered table with no per-target index, and the batch's rollup
//! deltas are merged in the same transaction; alerts are deduplicated by a
//! partial unique index over unresolved alerts; retention deletes in
//! bounded chunks, one short statement each. Claims live in `claims.rs`.
//!
//! This module must hold no health rule: what to write is decided by the
//! pure core; it only stores and reads back.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use healthcore::alert::{Alert, AlertStatus};
use healthcore::model::{CheckKey, CheckSpec, Target, TargetId};
use healthcore::store::*;
use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, Connection, PgConnection, Row};

use crate::error::{ConnectError, classify_connect, classify_migrate, sqlstate};
use crate::rows::*;

/// The table that records applied migrations, in the connection's first
/// `search_path` schema.
pub const MIGRATIONS_TABLE: &str = "_healthcore_migrations";

/// How to connect. Every field has a default; see each.
///
/// ```
/// use healthcore_sqlx::PgStoreOptions;
/// let o: PgStoreOptions = serde_json::from_value(serde_json::json!({
///     "max_connections": 20, "schema": "health", "connect_timeout": "3s"
/// })).unwrap();
/// assert_eq!(o.max_connections, 20);
/// o.validate().unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct PgStoreOptions {
    /// Largest number of pooled connections (1..=1000, default 10).
    pub max_connections: u32,
    /// Connections kept open when idle (default 0).
    pub min_connections: u32,
    /// How long connecting, or waiting for a pooled connection, may take
    /// (default 5 s).
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// A server-side timeout for every statement (default 30 s; zero
    /// turns it off).
    #[serde(with = "humantime_serde")]
    pub statement_timeout: Duration,
    /// The schema to keep healthcore's tables in (set as the connections'
    /// `search_path`); `None` keeps the server's default (`public`).
    /// Lower-case letters, digits and `_`, at most 63 characters.
    pub schema: Option<String>,
    /// Create `schema` if it does not exist (default true).
    pub create_schema: bool,
    /// Apply pending migrations at connect (default true). When false, a
    /// schema that is behind the code is refused with
    /// [`ConnectError::Migrate`].
    pub migrate: bool,
    /// `application_name` shown in `pg_stat_activity` (default
    /// `healthcore`).
    pub application_name: String,
}

impl Default for PgStoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            min_connections: 0,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
            schema: None,
            create_schema: true,
            migrate: true,
            application_name: "healthcore".to_owned(),
        }
    }
}

impl PgStoreOptions {
    /// Sets the schema.
    #[must_use]
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// Sets the pool size.
    #[must_use]
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n;
        self
    }

    /// Sets the connect timeout.
    #[must_use]
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// Sets whether to migrate at connect.
    #[must_use]
    pub fn migrate(mut self, yes: bool) -> Self {
        self.migrate = yes;
        self
    }

    /// Checks every field; the error names it.
    pub fn validate(&self) -> Result<(), ConnectError> {
        let bad = |field, rule: &str| {
            Err(ConnectError::InvalidOption {
                field,
                rule: rule.to_owned(),
            })
        };
        if !(1..=1000).contains(&self.max_connections) {
            return bad("max_connections", "must be 1..=1000");
        }
        if self.min_connections > self.max_connections {
            return bad("min_connections", "must not exceed max_connections");
        }
        if self.connect_timeout.is_zero() || self.connect_timeout > Duration::from_secs(600) {
            return bad("connect_timeout", "must be above zero and at most 10m");
        }
        if let Some(s) = &self.schema {
            let ok = !s.is_empty()
                && s.len() <= 63
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                && !s.as_bytes()[0].is_ascii_digit()
                && !s.starts_with("pg_");
            if !ok {
                return bad(
                    "schema",
                    "must be 1..=63 of [a-z0-9_], not start with a digit or pg_",
                );
            }
        }
        if self.application_name.len() > 63 || self.application_name.chars().any(char::is_control) {
            return bad(
                "application_name",
                "must be at most 63 bytes without control characters",
            );
        }
        Ok(())
    }
}

/// Where the schema stands against the migrations this code embeds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationStatus {
    /// The newest applied migration (`None`: never migrated).
    pub applied: Option<i64>,
    /// The newest migration this code embeds.
    pub known: i64,
    /// Embedded migrations not applied yet.
    pub pending: Vec<i64>,
    /// A migration failed half-way (never on PostgreSQL's transactional
    /// DDL, kept for completeness).
    pub dirty: bool,
}

impl MigrationStatus {
    /// The schema is exactly what the code expects.
    pub fn is_current(&self) -> bool {
        self.pending.is_empty() && !self.dirty && self.applied.is_some_and(|a| a <= self.known)
    }

    /// The database was migrated by newer code.
    pub fn is_newer(&self) -> bool {
        self.applied.is_some_and(|a| a > self.known)
    }
}

fn migrator() -> sqlx::migrate::Migrator {
    let mut m = sqlx::migrate!("./migrations");
    m.dangerous_set_table_name(MIGRATIONS_TABLE);
    m
}

/// The newest migration version this code embeds.
pub(crate) fn known_version() -> i64 {
    migrator()
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or_default()
}

/// Reads the migration status through `pool`.
pub(crate) async fn migration_status(pool: &PgPool) -> Result<MigrationStatus, sqlx::Error> {
    let m = migrator();
    let known = known_version();
    let exists: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
        .bind(MIGRATIONS_TABLE)
        .fetch_one(pool)
        .await?;
    if exists.is_none() {
        return Ok(MigrationStatus {
            applied: None,
            known,
            pending: m.iter().map(|x| x.version).collect(),
            dirty: false,
        });
    }
    let rows: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM _healthcore_migrations ORDER BY version")
            .fetch_all(pool)
            .await?;
    let applied = rows.iter().map(|r| r.0).max();
    let dirty = rows.iter().any(|r| !r.1);
    let pending = m
        .iter()
        .map(|x| x.version)
        .filter(|v| !rows.iter().any(|r| r.0 == *v))
        .collect();
    Ok(MigrationStatus {
        applied,
        known,
        pending,
        dirty,
    })
}

/// healthcore's [`Store`] on PostgreSQL. Cheap to clone (a pool handle).
#[derive(Debug, Clone)]
pub struct PgStore {
    pub(crate) pool: PgPool,
    schema: Option<String>,
}

impl PgStore {
    /// Connects with default [`PgStoreOptions`] and migrates.
    ///
    /// Errors say what is wrong: [`ConnectError::InvalidUrl`],
    /// [`Unreachable`](ConnectError::Unreachable),
    /// [`Auth`](ConnectError::Auth),
    /// [`DatabaseMissing`](ConnectError::DatabaseMissing),
    /// [`SchemaTooNew`](ConnectError::SchemaTooNew), …
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        Self::connect_with(url, PgStoreOptions::default()).await
    }

    /// Connects with `options` and migrates (unless told not to).
    pub async fn connect_with(url: &str, options: PgStoreOptions) -> Result<Self, ConnectError> {
        options.validate()?;
        let scheme = url.split_once("://").map(|(s, _)| s);
        if !matches!(scheme, Some("postgres" | "postgresql")) {
            return Err(ConnectError::InvalidUrl(
                "expected postgres://[user[:password]@]host[:port]/database".into(),
            ));
        }
        let mut connect = PgConnectOptions::from_str(url)
            .map_err(|e| ConnectError::InvalidUrl(redact(&e.to_string(), url)))?
            .application_name(&options.application_name);
        let mut startup: Vec<(&str, String)> = Vec::new();
        if let Some(schema) = &options.schema {
            startup.push(("search_path", schema.clone()));
        }
        if !options.statement_timeout.is_zero() {
            startup.push((
                "statement_timeout",
                options.statement_timeout.as_millis().to_string(),
            ));
        }
        if !startup.is_empty() {
            connect = connect.options(startup);
        }
        // One direct attempt first: the pool retries until its timeout and
        // loses the reason (refused, reset, …), this does not.
        match tokio::time::timeout(
            options.connect_timeout,
            PgConnection::connect_with(&connect),
        )
        .await
        {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
            }
            Ok(Err(e)) => return Err(classify_connect(e, &connect)),
            Err(_) => return Err(classify_connect(sqlx::Error::PoolTimedOut, &connect)),
        }
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .min_connections(options.min_connections)
            .acquire_timeout(options.connect_timeout)
            .connect_with(connect.clone())
            .await
            .map_err(|e| classify_connect(e, &connect))?;
        if let (Some(schema), true) = (&options.schema, options.create_schema) {
            // the name was validated: [a-z0-9_] only
            sqlx::query(AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS {schema}"
            )))
            .execute(&pool)
            .await
            .map_err(|e| classify_connect(e, &connect))?;
        }
        let mut store = Self::prepare(pool, options.migrate)
            .await
            .map_err(|e| match e {
                ConnectError::Other(inner) => classify_connect(inner, &connect),
                other => other,
            })?;
        store.schema = options.schema;
        Ok(store)
    }

    /// Uses an existing pool (its connections' `search_path` picks the
    /// schema) and migrates.
    pub async fn from_pool(pool: PgPool) -> Result<Self, ConnectError> {
        Self::prepare(pool, true).await
    }

    async fn prepare(pool: PgPool, migrate: bool) -> Result<Self, ConnectError> {
        let status = migration_status(&pool).await.map_err(ConnectError::Other)?;
        if let Some(found) = status.applied.filter(|_| status.is_newer()) {
            return Err(ConnectError::SchemaTooNew {
                found,
                known: status.known,
            });
        }
        if migrate {
            migrator().run(&pool).await.map_err(|e| match e {
                sqlx::migrate::MigrateError::VersionMissing(found) => ConnectError::SchemaTooNew {
                    found,
                    known: status.known,
                },
                other => classify_migrate(other),
            })?;
            if !status.pending.is_empty() {
                tracing::info!(
                    applied = ?status.pending,
                    "healthcore-sqlx: applied schema migrations"
                );
            }
        } else if !status.is_current() {
            return Err(ConnectError::Migrate(
                sqlx::migrate::MigrateError::VersionNotPresent(
                    status.pending.first().copied().unwrap_or(status.known),
                ),
            ));
        }
        Ok(Self { pool, schema: None })
    }

    /// The pool, for the application's own queries and the probe.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The schema given at connect, if any.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// Where the schema stands against this code's migrations.
    pub async fn migration_status(&self) -> StoreResult<MigrationStatus> {
        migration_status(&self.pool).await.db()
    }

    /// One summed bucket per target over a range (counters added,
    /// saturating; latency min and max combined), ordered by target: what
    /// an uptime over the range needs, computed by the server so 30 days
    /// of 1,000 targets come back as 1,000 rows. Each bucket's `start` is
    /// the range's first bucket of that target. Equal to merging
    /// [`Store::rollups`] per target.
    pub async fn rollup_totals(&self, q: &RollupQuery) -> StoreResult<Vec<TargetBucket>> {
        const SAT: &str = "9223372036854775807";
        fn sql(filter: &str) -> String {
            let sums = [
                "healthy_ms",
                "degraded_ms",
                "down_ms",
                "unknown_ms",
                "maintenance_ms",
                "checks_total",
                "checks_healthy",
                "checks_failed",
                "latency_count",
                "latency_sum_us",
            ]
            .map(|c| format!("LEAST(sum({c}), {SAT})::bigint"))
            .join(", ");
            format!(
                "SELECT target_id, min(start), {sums}, min(latency_min_us), max(latency_max_us) \
                 FROM hc_rollups WHERE {filter}granularity = $1 AND start >= $2 AND start < $3 \
                 GROUP BY target_id ORDER BY target_id"
            )
        }
        static ALL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| sql(""));
        static SOME: std::sync::LazyLock<String> =
            std::sync::LazyLock::new(|| sql("target_id = ANY($4) AND "));
        let query = if q.targets.is_empty() {
            sqlx::query(ALL.as_str())
        } else {
            sqlx::query(SOME.as_str())
        };
        let targets: Vec<&str> = q.targets.iter().map(|t| t.as_str()).collect();
        let query = query
            .bind(gran_code(q.granularity)?)
            .bind(clamp(q.from))
            .bind(clamp(q.to));
        let query = if q.targets.is_empty() {
            query
        } else {
            query.bind(targets)
        };
        let rows = query.fetch_all(&self.pool).await.db()?;
        rows.into_iter()
            .map(|r| {
                let t: &str = r.try_get(0).db()?;
                let start: DateTime<Utc> = r.try_get(1).db()?;
                let mut counters = [0i64; 10];
                for (i, c) in counters.iter_mut().enumerate() {
                    *c = r.try_get(i + 2).db()?;
                }
                let cols = BucketCols {
                    counters,
                    min: r.try_get(12).db()?,
                    max: r.try_get(13).db()?,
                };
                Ok(TargetBucket {
                    target: tid(t)?,
                    bucket: cols.bucket(q.granularity, start),
                })
            })
            .collect()
    }

    /// Closes the pool: waits for checked-out connections to come back.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn conn(&self) -> StoreResult<sqlx::pool::PoolConnection<sqlx::Postgres>> {
        self.pool.acquire().await.db()
    }
}

/// Removes the password of `url` from a message, in case the driver
/// echoed it.
fn redact(message: &str, url: &str) -> String {
    let password = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, p)| p)
        .filter(|p| !p.is_empty());
    match password {
        Some(p) => message.replace(p, "***"),
        None => message.to_owned(),
    }
}

// ---- shared writers (also used inside fenced transactions) --------------

pub(crate) async fn put_states_on(
    conn: &mut PgConnection,
    records: &[StateRecord],
) -> StoreResult<()> {
    if records.is_empty() {
        return Ok(());
    }
    // last write wins per scope, also inside one call
    let mut by_key: BTreeMap<String, &StateRecord> = BTreeMap::new();
    for r in records {
        by_key.insert(r.scope.storage_key(), r);
    }
    let n = by_key.len();
    let mut keys = Vec::with_capacity(n);
    let mut targets = Vec::with_capacity(n);
    let mut scopes = Vec::with_capacity(n);
    let mut bodies = Vec::with_capacity(n);
    let mut ats = Vec::with_capacity(n);
    for (k, r) in by_key {
        keys.push(k);
        targets.push(r.scope.target().as_str());
        scopes.push(serde_json::to_value(&r.scope)?);
        bodies.push(r.body.clone());
        ats.push(r.updated_at);
    }
    sqlx::query(
        "INSERT INTO hc_states (key, target_id, scope, body, updated_at) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::jsonb[], $4::jsonb[], $5::timestamptz[]) \
         ON CONFLICT (key) DO UPDATE SET target_id = excluded.target_id, scope = excluded.scope, \
         body = excluded.body, updated_at = excluded.updated_at",
    )
    .bind(keys)
    .bind(targets)
    .bind(scopes)
    .bind(bodies)
    .bind(ats)
    .execute(&mut *conn)
    .await
    .db()?;
    Ok(())
}

fn is_open(a: &Alert) -> bool {
    a.status != AlertStatus::Resolved
}

pub(crate) async fn insert_alert_on(
    conn: &mut PgConnection,
    alert: &Alert,
) -> StoreResult<InsertAlert> {
    let kind = alert.kind.as_str();
    // A concurrent resolve can empty the slot between the two statements;
    // try again a few times, then report the race.
    for _ in 0..8 {
        let sql = if is_open(alert) {
            "INSERT INTO hc_alerts (id, target_id, kind, status, severity, created_at, resolved_at, body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (target_id, kind) WHERE status <> 'resolved' DO NOTHING"
        } else {
            "INSERT INTO hc_alerts (id, target_id, kind, status, severity, created_at, resolved_at, body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        };
        let done = sqlx::query(sql)
            .bind(&alert.id)
            .bind(alert.target.as_str())
            .bind(kind.as_ref())
            .bind(alert.status.as_str())
            .bind(alert.severity.as_str())
            .bind(alert.created_at)
            .bind(alert.resolved_at)
            .bind(Json(alert))
            .execute(&mut *conn)
            .await;
        match done {
            Ok(r) if r.rows_affected() == 1 => return Ok(InsertAlert::Created),
            Ok(_) => {}
            Err(e) if is_constraint(&e, "hc_alerts_pkey") => {
                return Err(StoreError::Conflict(format!(
                    "alert id {} exists",
                    alert.id
                )));
            }
            Err(e) => return Err(crate::map_sqlx_error(e)),
        }
        let existing: Option<Json<Alert>> = sqlx::query_scalar(
            "SELECT body FROM hc_alerts WHERE target_id = $1 AND kind = $2 AND status <> 'resolved'",
        )
        .bind(alert.target.as_str())
        .bind(kind.as_ref())
        .fetch_optional(&mut *conn)
        .await
        .db()?;
        if let Some(Json(a)) = existing {
            return Ok(InsertAlert::Exists(Box::new(a)));
        }
    }
    Err(StoreError::Conflict(format!(
        "alert {} kept racing with resolves of {}/{}",
        alert.id, alert.target, kind
    )))
}

fn is_constraint(e: &sqlx::Error, name: &str) -> bool {
    e.as_database_error().is_some_and(|d| {
        d.code().as_deref() == Some(sqlstate::UNIQUE) && d.constraint() == Some(name)
    })
}

pub(crate) async fn update_alert_on(
    conn: &mut PgConnection,
    alert: &Alert,
    expected: AlertStatus,
) -> StoreResult<()> {
    let kind = alert.kind.as_str();
    let done = sqlx::query(
        "UPDATE hc_alerts SET target_id = $2, kind = $3, status = $4, severity = $5, \
         created_at = $6, resolved_at = $7, body = $8 \
         WHERE id = $1 AND status = $9 AND NOT (status = 'resolved' AND $4 <> 'resolved')",
    )
    .bind(&alert.id)
    .bind(alert.target.as_str())
    .bind(kind.as_ref())
    .bind(alert.status.as_str())
    .bind(alert.severity.as_str())
    .bind(alert.created_at)
    .bind(alert.resolved_at)
    .bind(Json(alert))
    .bind(expected.as_str())
    .execute(&mut *conn)
    .await;
    let done = match done {
        Ok(d) => d,
        Err(e) if is_constraint(&e, "hc_alerts_open_key") => {
            return Err(StoreError::Conflict(format!(
                "another unresolved {kind} alert is open for {}",
                alert.target
            )));
        }
        Err(e) => return Err(crate::map_sqlx_error(e)),
    };
    if done.rows_affected() == 1 {
        return Ok(());
    }
    let stored: Option<String> = sqlx::query_scalar("SELECT status FROM hc_alerts WHERE id = $1")
        .bind(&alert.id)
        .fetch_optional(&mut *conn)
        .await
        .db()?;
    match stored {
        None => Err(StoreError::not_found("alert", &alert.id)),
        Some(s) if s != expected.as_str() => Err(StoreError::Conflict(format!(
            "alert {} is {s}, expected {}",
            alert.id,
            expected.as_str()
        ))),
        Some(_) => Err(StoreError::Conflict(
            "a resolved alert never reopens".into(),
        )),
    }
}

pub(crate) async fn append_entries_on(
    conn: &mut PgConnection,
    entries: &[Entry],
) -> StoreResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    // an entry with an existing (kind, id) replaces it, also inside one call
    let mut by_key: BTreeMap<(&str, &str), &Entry> = BTreeMap::new();
    for e in entries {
        by_key.insert((e.kind.as_str(), e.id.as_str()), e);
    }
    let n = by_key.len();
    let mut kinds = Vec::with_capacity(n);
    let mut ids = Vec::with_capacity(n);
    let mut targets = Vec::with_capacity(n);
    let mut tenants = Vec::with_capacity(n);
    let mut ats = Vec::with_capacity(n);
    let mut subtypes = Vec::with_capacity(n);
    let mut bodies = Vec::with_capacity(n);
    for ((kind, id), e) in by_key {
        kinds.push(kind);
        ids.push(id);
        targets.push(e.target.as_ref().map(|t| t.as_str()));
        tenants.push(e.tenant.as_ref().map(|t| t.as_str()));
        ats.push(e.at);
        subtypes.push(e.subtype.as_deref());
        bodies.push(&e.body);
    }
    sqlx::query(
        "INSERT INTO hc_entries (kind, id, target_id, tenant, at, subtype, body) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], \
         $6::text[], $7::jsonb[]) \
         ON CONFLICT (kind, id) DO UPDATE SET target_id = excluded.target_id, \
         tenant = excluded.tenant, at = excluded.at, subtype = excluded.subtype, body = excluded.body",
    )
    .bind(kinds)
    .bind(ids)
    .bind(targets)
    .bind(tenants)
    .bind(ats)
    .bind(subtypes)
    .bind(bodies.into_iter().map(Json).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await
    .db()?;
    Ok(())
}

async fn copy_results(conn: &mut PgConnection, results: &[StoredResult]) -> StoreResult<()> {
    let mut buf = Vec::with_capacity(COPY_HEADER.len() + results.len() * 80 + 2);
    buf.extend_from_slice(COPY_HEADER);
    for r in results {
        copy_result(&mut buf, r)?;
    }
    buf.extend_from_slice(COPY_TRAILER);
    let mut copy = conn
        .copy_in_raw(
            "COPY hc_results (target_id, check_id, at, outcome, status, latency_ns, message, details) \
             FROM STDIN (FORMAT binary)",
        )
        .await
        .db()?;
    if let Err(e) = copy.send(buf).await {
        let _ = copy.abort("send failed").await;
        return Err(crate::map_sqlx_error(e));
    }
    copy.finish().await.db()?;
    Ok(())
}

/// The rollup merge: counters add (saturating at `i64::MAX`), latency
/// min and max combine.
static ROLLUP_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    const SAT: &str = "9223372036854775807";
    let sets = [
        "healthy_ms",
        "degraded_ms",
        "down_ms",
        "unknown_ms",
        "maintenance_ms",
        "checks_total",
        "checks_healthy",
        "checks_failed",
        "latency_count",
        "latency_sum_us",
    ]
    .map(|c| format!("{c} = LEAST(hc_rollups.{c}::numeric + excluded.{c}, {SAT})::bigint"))
    .join(", ");
    format!(
        "INSERT INTO hc_rollups (target_id, granularity, start, healthy_ms, degraded_ms, down_ms, \
         unknown_ms, maintenance_ms, checks_total, checks_healthy, checks_failed, latency_count, \
         latency_sum_us, latency_min_us, latency_max_us) \
         SELECT * FROM UNNEST($1::text[], $2::int2[], $3::timestamptz[], $4::int8[], $5::int8[], \
         $6::int8[], $7::int8[], $8::int8[], $9::int8[], $10::int8[], $11::int8[], $12::int8[], \
         $13::int8[], $14::int8[], $15::int8[]) \
         ON CONFLICT (target_id, granularity, start) DO UPDATE SET {sets}, \
         latency_min_us = LEAST(hc_rollups.latency_min_us, excluded.latency_min_us), \
         latency_max_us = GREATEST(hc_rollups.latency_max_us, excluded.latency_max_us)"
    )
});

/// The upsert of per-check hourly counts (counters added, saturating).
static CHECK_COUNTS_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    const SAT: &str = "9223372036854775807";
    let sets = [
        "checks_total",
        "checks_healthy",
        "checks_failed",
        "latency_count",
        "latency_sum_us",
    ]
    .map(|c| format!("{c} = LEAST(hc_check_counts.{c}::numeric + excluded.{c}, {SAT})::bigint"))
    .join(", ");
    format!(
        "INSERT INTO hc_check_counts (target_id, check_id, start, checks_total, checks_healthy, \
         checks_failed, latency_count, latency_sum_us, latency_min_us, latency_max_us) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::int8[], $5::int8[], \
         $6::int8[], $7::int8[], $8::int8[], $9::int8[], $10::int8[]) \
         ON CONFLICT (target_id, check_id, start) DO UPDATE SET {sets}, \
         latency_min_us = LEAST(hc_check_counts.latency_min_us, excluded.latency_min_us), \
         latency_max_us = GREATEST(hc_check_counts.latency_max_us, excluded.latency_max_us)"
    )
});

/// Merges a batch's per-check hourly counts ([`ResultBatch::check_hour_deltas`]).
async fn merge_check_counts(conn: &mut PgConnection, batch: &ResultBatch) -> StoreResult<()> {
    let deltas = batch.check_hour_deltas();
    if deltas.is_empty() {
        return Ok(());
    }
    let n = deltas.len();
    let mut targets = Vec::with_capacity(n);
    let mut checks = Vec::with_capacity(n);
    let mut starts = Vec::with_capacity(n);
    let mut cols: [Vec<i64>; 5] = Default::default();
    let mut mins = Vec::with_capacity(n);
    let mut maxs = Vec::with_capacity(n);
    // deltas are one per (check, hour) already: no row is touched twice
    for (key, b) in &deltas {
        targets.push(key.target.as_str());
        checks.push(key.check.as_str());
        starts.push(b.start);
        let c = BucketCols::of(b);
        for (col, v) in cols.iter_mut().zip(c.counters.iter().skip(5)) {
            col.push(*v);
        }
        mins.push(c.min);
        maxs.push(c.max);
    }
    let [tot, ok, fail, lc, ls] = cols;
    sqlx::query(CHECK_COUNTS_SQL.as_str())
        .bind(targets)
        .bind(checks)
        .bind(starts)
        .bind(tot)
        .bind(ok)
        .bind(fail)
        .bind(lc)
        .bind(ls)
        .bind(mins)
        .bind(maxs)
        .execute(&mut *conn)
        .await
        .db()?;
    Ok(())
}

async fn merge_rollups(conn: &mut PgConnection, rollups: &[TargetBucket]) -> StoreResult<()> {
    if rollups.is_empty() {
        return Ok(());
    }
    // one row per key: ON CONFLICT cannot touch a row twice in a statement
    let mut merged: BTreeMap<(&str, i16, DateTime<Utc>), healthcore::rollup::Bucket> =
        BTreeMap::new();
    for tb in rollups {
        let key = (
            tb.target.as_str(),
            gran_code(tb.bucket.granularity)?,
            tb.bucket.start,
        );
        merged
            .entry(key)
            .and_modify(|b| b.merge_counts(&tb.bucket))
            .or_insert(tb.bucket);
    }
    let n = merged.len();
    let mut targets = Vec::with_capacity(n);
    let mut grans = Vec::with_capacity(n);
    let mut starts = Vec::with_capacity(n);
    let mut cols: [Vec<i64>; 10] = Default::default();
    let mut mins = Vec::with_capacity(n);
    let mut maxs = Vec::with_capacity(n);
    for ((t, g, s), b) in &merged {
        targets.push(*t);
        grans.push(*g);
        starts.push(*s);
        let c = BucketCols::of(b);
        for (col, v) in cols.iter_mut().zip(c.counters) {
            col.push(v);
        }
        mins.push(c.min);
        maxs.push(c.max);
    }
    let [h, dg, dn, un, mt, tot, ok, fail, lc, ls] = cols;
    sqlx::query(ROLLUP_SQL.as_str())
        .bind(targets)
        .bind(grans)
        .bind(starts)
        .bind(h)
        .bind(dg)
        .bind(dn)
        .bind(un)
        .bind(mt)
        .bind(tot)
        .bind(ok)
        .bind(fail)
        .bind(lc)
        .bind(ls)
        .bind(mins)
        .bind(maxs)
        .execute(&mut *conn)
        .await
        .db()?;
    Ok(())
}

macro_rules! alert_filter {
    () => {
        "($1::text IS NULL OR a.status = $1) \
    AND (NOT $2 OR a.status <> 'resolved') \
    AND ($3::text IS NULL OR a.severity = $3) \
    AND ($4::text IS NULL OR a.target_id = $4) \
    AND ($5::text IS NULL OR a.kind = $5) \
    AND ($6::timestamptz IS NULL OR a.created_at >= $6) \
    AND ($7::text IS NULL OR EXISTS (SELECT 1 FROM hc_targets t WHERE t.id = a.target_id AND t.tenant = $7))"
    };
}

macro_rules! entry_filter {
    () => {
        "kind = $1 \
    AND ($2::text IS NULL OR target_id = $2) \
    AND ($3::text IS NULL OR tenant = $3) \
    AND ($4::text IS NULL OR subtype = $4) \
    AND ($5::timestamptz IS NULL OR at >= $5) \
    AND ($6::timestamptz IS NULL OR at < $6)"
    };
}

/// Runs a chunked `DELETE` (its last parameter is the chunk size) until
/// a chunk comes back short, each chunk its own short statement; yields
/// the rows deleted.
macro_rules! purge_chunks {
    ($pool:expr, $chunk:expr, $query:expr) => {{
        let mut total = 0u64;
        loop {
            let n = $query
                .bind($chunk)
                .execute($pool)
                .await
                .db()?
                .rows_affected();
            total = total.saturating_add(n);
            if n < u64::try_from($chunk).unwrap_or(u64::MAX) {
                break total;
            }
        }
    }};
}

#[async_trait]
impl Store for PgStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE
            .persistent(true)
            .claims(true)
            .check_counts(true)
    }

    // ---- targets and checks -------------------------------------------

    async fn put_target(&self, target: &Target) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO hc_targets (id, tenant, mac_address, body) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET tenant = excluded.tenant, \
             mac_address = excluded.mac_address, body = excluded.body",
        )
        .bind(target.id.as_str())
        .bind(target.tenant.as_str())
        .bind(target.mac_address.as_deref())
        .bind(Json(target))
        .execute(&self.pool)
        .await
        .db()?;
        Ok(())
    }

    async fn get_target(&self, id: &TargetId) -> StoreResult<Option<Target>> {
        let row: Option<Json<Target>> =
            sqlx::query_scalar("SELECT body FROM hc_targets WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await
                .db()?;
        Ok(row.map(|j| j.0))
    }

    async fn list_targets(&self, q: &TargetQuery) -> StoreResult<Page<Target>> {
        macro_rules! filter {
            () => {
                "($1::text IS NULL OR tenant = $1) AND ($2::text IS NULL OR mac_address = $2)"
            };
        }
        let tenant = q.tenant.as_ref().map(|t| t.as_str());
        let mac = q.mac_address.as_deref();
        let total: i64 =
            sqlx::query_scalar(concat!("SELECT count(*) FROM hc_targets WHERE ", filter!()))
                .bind(tenant)
                .bind(mac)
                .fetch_one(&self.pool)
                .await
                .db()?;
        let items: Vec<Json<Target>> = sqlx::query_scalar(concat!(
            "SELECT body FROM hc_targets WHERE ",
            filter!(),
            " ORDER BY id LIMIT $3 OFFSET $4"
        ))
        .bind(tenant)
        .bind(mac)
        .bind(q.page.limit_usize() as i64)
        .bind(offset(q.page.offset))
        .fetch_all(&self.pool)
        .await
        .db()?;
        Ok(Page {
            items: items.into_iter().map(|j| j.0).collect(),
            total: to_u64(total),
        })
    }

    async fn delete_target(&self, id: &TargetId) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.db()?;
        // checks (and their leases) go by ON DELETE CASCADE
        let existed = sqlx::query("DELETE FROM hc_targets WHERE id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .db()?
            .rows_affected()
            > 0;
        sqlx::query("DELETE FROM hc_states WHERE target_id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .db()?;
        sqlx::query("DELETE FROM hc_alerts WHERE target_id = $1 AND status <> 'resolved'")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .db()?;
        tx.commit().await.db()?;
        Ok(existed)
    }

    async fn put_check(&self, target: &TargetId, spec: &CheckSpec) -> StoreResult<()> {
        let key = spec.key(target);
        let done = sqlx::query(
            "WITH c AS ( \
               INSERT INTO hc_checks (target_id, check_id, spec, enabled) VALUES ($1, $2, $3, $4) \
               ON CONFLICT (target_id, check_id) DO UPDATE SET spec = excluded.spec, \
               enabled = excluded.enabled \
               RETURNING target_id, check_id, enabled) \
             INSERT INTO hc_leases (target_id, check_id, enabled) SELECT * FROM c \
             ON CONFLICT (target_id, check_id) DO UPDATE SET enabled = excluded.enabled",
        )
        .bind(key.target.as_str())
        .bind(key.check.as_str())
        .bind(Json(spec))
        .bind(spec.enabled)
        .execute(&self.pool)
        .await;
        match done {
            Ok(_) => Ok(()),
            Err(e) if crate::error::code_of(&e).as_deref() == Some(sqlstate::FOREIGN_KEY) => {
                Err(StoreError::not_found("target", target))
            }
            Err(e) => Err(crate::map_sqlx_error(e)),
        }
    }

    async fn list_checks(
        &self,
        target: Option<&TargetId>,
    ) -> StoreResult<Vec<(TargetId, CheckSpec)>> {
        let rows: Vec<(String, Json<CheckSpec>)> = sqlx::query_as(
            "SELECT target_id, spec FROM hc_checks WHERE ($1::text IS NULL OR target_id = $1) \
             ORDER BY target_id, check_id",
        )
        .bind(target.map(|t| t.as_str()))
        .fetch_all(&self.pool)
        .await
        .db()?;
        rows.into_iter()
            .map(|(t, Json(spec))| Ok((tid(&t)?, spec)))
            .collect()
    }

    async fn delete_check(&self, key: &CheckKey) -> StoreResult<bool> {
        let state_key = StateScope::Check { key: key.clone() }.storage_key();
        let n = sqlx::query(
            "WITH s AS (DELETE FROM hc_states WHERE key = $3) \
             DELETE FROM hc_checks WHERE target_id = $1 AND check_id = $2",
        )
        .bind(key.target.as_str())
        .bind(key.check.as_str())
        .bind(state_key)
        .execute(&self.pool)
        .await
        .db()?
        .rows_affected();
        Ok(n > 0)
    }

    // ---- results and rollups ------------------------------------------

    async fn append_results(&self, batch: &ResultBatch) -> StoreResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.db()?;
        if !batch.results.is_empty() {
            copy_results(&mut tx, &batch.results).await?;
            merge_check_counts(&mut tx, batch).await?;
        }
        merge_rollups(&mut tx, &batch.rollups).await?;
        tx.commit().await.db()
    }

    async fn recent_results(&self, q: &ResultQuery) -> StoreResult<Vec<StoredResult>> {
        let limit = i64::from(q.limit.clamp(1, 1000));
        // No btree on the raw table: look back through growing time windows
        // (each one pruned by the BRIN index on `at`), and only scan
        // everything when the recent past holds too few results.
        const WINDOWS_HOURS: [i64; 4] = [1, 24, 7 * 24, 35 * 24];
        let mut rows = Vec::new();
        let bounded: Vec<Option<i64>> = match q.since {
            Some(_) => vec![None],
            None => WINDOWS_HOURS
                .iter()
                .map(|h| Some(*h))
                .chain([None])
                .collect(),
        };
        for hours in bounded {
            rows = sqlx::query(
                "SELECT target_id, check_id, at, outcome, status, latency_ns, message, details \
                 FROM hc_results WHERE target_id = $1 AND ($2::text IS NULL OR check_id = $2) \
                 AND ($3::timestamptz IS NULL OR at >= $3) \
                 AND ($4::float8 IS NULL OR at >= now() - $4 * interval '1 hour') \
                 ORDER BY at DESC, ctid DESC LIMIT $5",
            )
            .bind(q.target.as_str())
            .bind(q.check.as_ref().map(|c| c.as_str()))
            .bind(q.since.map(clamp))
            .bind(hours.map(|h| h as f64))
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .db()?;
            if rows.len() as i64 >= limit {
                break;
            }
        }
        rows.into_iter()
            .map(|r| {
                ResultCols {
                    target_id: r.try_get("target_id").db()?,
                    check_id: r.try_get("check_id").db()?,
                    at: r.try_get("at").db()?,
                    outcome: r.try_get("outcome").db()?,
                    status: r.try_get("status").db()?,
                    latency_ns: r.try_get("latency_ns").db()?,
                    message: r.try_get("message").db()?,
                    details: r.try_get("details").db()?,
                }
                .into_result()
            })
            .collect()
    }

    async fn check_counts(
        &self,
        q: &CheckCountsQuery,
    ) -> StoreResult<Option<healthcore::rollup::Bucket>> {
        let row = sqlx::query(
            "SELECT LEAST(COALESCE(SUM(checks_total), 0), 9223372036854775807)::bigint, \
             LEAST(COALESCE(SUM(checks_healthy), 0), 9223372036854775807)::bigint, \
             LEAST(COALESCE(SUM(checks_failed), 0), 9223372036854775807)::bigint, \
             LEAST(COALESCE(SUM(latency_count), 0), 9223372036854775807)::bigint, \
             LEAST(COALESCE(SUM(latency_sum_us), 0), 9223372036854775807)::bigint, \
             MIN(latency_min_us), MAX(latency_max_us) FROM hc_check_counts \
             WHERE target_id = $1 AND check_id = $2 AND start >= $3 AND start < $4",
        )
        .bind(q.key.target.as_str())
        .bind(q.key.check.as_str())
        .bind(clamp(q.from))
        .bind(clamp(q.to))
        .fetch_one(&self.pool)
        .await
        .db()?;
        let mut counters = [0i64; 10];
        for (i, c) in counters.iter_mut().skip(5).enumerate() {
            *c = row.try_get(i).db()?;
        }
        let cols = BucketCols {
            counters,
            min: row.try_get(5).db()?,
            max: row.try_get(6).db()?,
        };
        Ok(Some(
            cols.bucket(healthcore::rollup::Granularity::Hour, q.from),
        ))
    }

    async fn rollups(&self, q: &RollupQuery) -> StoreResult<Vec<TargetBucket>> {
        // Unordered on the server (a sort of 30,000 rows would spill past
        // work_mem), sorted here. All targets: a binary COPY out, decoded
        // here (a 30-day read of 1,000 targets is 30,000 rows); some
        // targets: the primary key serves.
        let code = gran_code(q.granularity)?;
        if q.targets.is_empty() {
            return rollups_copy_out(&self.pool, q).await;
        }
        let targets: Vec<&str> = q.targets.iter().map(|t| t.as_str()).collect();
        let rows = sqlx::query(
            "SELECT target_id, start, healthy_ms, degraded_ms, down_ms, unknown_ms, \
             maintenance_ms, checks_total, checks_healthy, checks_failed, latency_count, \
             latency_sum_us, latency_min_us, latency_max_us FROM hc_rollups \
             WHERE target_id = ANY($4) AND granularity = $1 AND start >= $2 AND start < $3",
        )
        .bind(code)
        .bind(clamp(q.from))
        .bind(clamp(q.to))
        .bind(targets)
        .fetch_all(&self.pool)
        .await
        .db()?;
        let mut out = Vec::with_capacity(rows.len());
        let mut last: Option<(String, TargetId)> = None;
        for r in rows {
            let t: &str = r.try_get(0).db()?;
            let target = match &last {
                Some((s, id)) if s == t => id.clone(),
                _ => {
                    let id = tid(t)?;
                    last = Some((t.to_owned(), id.clone()));
                    id
                }
            };
            let start: DateTime<Utc> = r.try_get(1).db()?;
            let mut counters = [0i64; 10];
            for (i, c) in counters.iter_mut().enumerate() {
                *c = r.try_get(i + 2).db()?;
            }
            let cols = BucketCols {
                counters,
                min: r.try_get(12).db()?,
                max: r.try_get(13).db()?,
            };
            out.push(TargetBucket {
                target,
                bucket: cols.bucket(q.granularity, start),
            });
        }
        sort_buckets(&mut out);
        Ok(out)
    }

    // ---- current state ------------------------------------------------

    async fn put_states(&self, records: &[StateRecord]) -> StoreResult<()> {
        if records.is_empty() {
            return Ok(());
        }
        put_states_on(&mut *self.conn().await?, records).await
    }

    async fn load_states(&self) -> StoreResult<Vec<StateRecord>> {
        let rows: Vec<(Json<StateScope>, serde_json::Value, DateTime<Utc>)> =
            sqlx::query_as("SELECT scope, body, updated_at FROM hc_states ORDER BY key")
                .fetch_all(&self.pool)
                .await
                .db()?;
        Ok(rows
            .into_iter()
            .map(|(Json(scope), body, updated_at)| StateRecord {
                scope,
                body,
                updated_at,
            })
            .collect())
    }

    // ---- alerts -------------------------------------------------------

    async fn insert_alert(&self, alert: &Alert) -> StoreResult<InsertAlert> {
        insert_alert_on(&mut *self.conn().await?, alert).await
    }

    async fn update_alert(&self, alert: &Alert, expected: AlertStatus) -> StoreResult<()> {
        update_alert_on(&mut *self.conn().await?, alert, expected).await
    }

    async fn get_alert(&self, id: &str) -> StoreResult<Option<Alert>> {
        let row: Option<Json<Alert>> =
            sqlx::query_scalar("SELECT body FROM hc_alerts WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .db()?;
        Ok(row.map(|j| j.0))
    }

    async fn list_alerts(&self, q: &AlertQuery) -> StoreResult<Page<Alert>> {
        let kind = q.kind.as_ref().map(|k| k.as_str());
        let status = q.status.map(|s| s.as_str());
        let severity = q.severity.map(|s| s.as_str());
        let target = q.target.as_ref().map(|t| t.as_str());
        let tenant = q.tenant.as_ref().map(|t| t.as_str());
        let since = q.since.map(clamp);
        let total: i64 = sqlx::query_scalar(concat!(
            "SELECT count(*) FROM hc_alerts a WHERE ",
            alert_filter!()
        ))
        .bind(status)
        .bind(q.open_only)
        .bind(severity)
        .bind(target)
        .bind(kind.as_deref())
        .bind(since)
        .bind(tenant)
        .fetch_one(&self.pool)
        .await
        .db()?;
        let items: Vec<Json<Alert>> = sqlx::query_scalar(concat!(
            "SELECT a.body FROM hc_alerts a WHERE ",
            alert_filter!(),
            " ORDER BY a.created_at DESC, a.id DESC LIMIT $8 OFFSET $9"
        ))
        .bind(status)
        .bind(q.open_only)
        .bind(severity)
        .bind(target)
        .bind(kind.as_deref())
        .bind(since)
        .bind(tenant)
        .bind(q.page.limit_usize() as i64)
        .bind(offset(q.page.offset))
        .fetch_all(&self.pool)
        .await
        .db()?;
        Ok(Page {
            items: items.into_iter().map(|j| j.0).collect(),
            total: to_u64(total),
        })
    }

    // ---- documents ----------------------------------------------------

    async fn put_doc(&self, doc: &Doc) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO hc_docs (kind, id, tenant, target_id, body, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kind, id) DO UPDATE SET \
             tenant = excluded.tenant, target_id = excluded.target_id, body = excluded.body, \
             updated_at = excluded.updated_at",
        )
        .bind(&doc.kind)
        .bind(&doc.id)
        .bind(doc.tenant.as_ref().map(|t| t.as_str()))
        .bind(doc.target.as_ref().map(|t| t.as_str()))
        .bind(&doc.body)
        .bind(doc.updated_at)
        .execute(&self.pool)
        .await
        .db()?;
        Ok(())
    }

    async fn get_doc(&self, kind: &str, id: &str) -> StoreResult<Option<Doc>> {
        let row = sqlx::query(
            "SELECT kind, id, tenant, target_id, body, updated_at FROM hc_docs \
             WHERE kind = $1 AND id = $2",
        )
        .bind(kind)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .db()?;
        row.map(doc_of).transpose()
    }

    async fn list_docs(&self, q: &DocQuery) -> StoreResult<Vec<Doc>> {
        let rows = sqlx::query(
            "SELECT kind, id, tenant, target_id, body, updated_at FROM hc_docs \
             WHERE kind = $1 AND ($2::text IS NULL OR tenant = $2) \
             AND ($3::text IS NULL OR target_id = $3) ORDER BY id",
        )
        .bind(&q.kind)
        .bind(q.tenant.as_ref().map(|t| t.as_str()))
        .bind(q.target.as_ref().map(|t| t.as_str()))
        .fetch_all(&self.pool)
        .await
        .db()?;
        rows.into_iter().map(doc_of).collect()
    }

    async fn delete_doc(&self, kind: &str, id: &str) -> StoreResult<bool> {
        Ok(
            sqlx::query("DELETE FROM hc_docs WHERE kind = $1 AND id = $2")
                .bind(kind)
                .bind(id)
                .execute(&self.pool)
                .await
                .db()?
                .rows_affected()
                > 0,
        )
    }

    // ---- journal ------------------------------------------------------

    async fn append_entries(&self, entries: &[Entry]) -> StoreResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        append_entries_on(&mut *self.conn().await?, entries).await
    }

    async fn query_entries(&self, q: &EntryQuery) -> StoreResult<Page<Entry>> {
        let target = q.target.as_ref().map(|t| t.as_str());
        let tenant = q.tenant.as_ref().map(|t| t.as_str());
        let subtype = q.subtype.as_deref();
        let since = q.since.map(clamp);
        let until = q.until.map(clamp);
        let total: i64 = sqlx::query_scalar(concat!(
            "SELECT count(*) FROM hc_entries WHERE ",
            entry_filter!()
        ))
        .bind(&q.kind)
        .bind(target)
        .bind(tenant)
        .bind(subtype)
        .bind(since)
        .bind(until)
        .fetch_one(&self.pool)
        .await
        .db()?;
        let sql = if q.ascending {
            concat!(
                "SELECT kind, id, target_id, tenant, at, subtype, body FROM hc_entries WHERE ",
                entry_filter!(),
                " ORDER BY at ASC, id ASC LIMIT $7 OFFSET $8"
            )
        } else {
            concat!(
                "SELECT kind, id, target_id, tenant, at, subtype, body FROM hc_entries WHERE ",
                entry_filter!(),
                " ORDER BY at DESC, id DESC LIMIT $7 OFFSET $8"
            )
        };
        let rows = sqlx::query(sql)
            .bind(&q.kind)
            .bind(target)
            .bind(tenant)
            .bind(subtype)
            .bind(since)
            .bind(until)
            .bind(q.page.limit_usize() as i64)
            .bind(offset(q.page.offset))
            .fetch_all(&self.pool)
            .await
            .db()?;
        let items = rows
            .into_iter()
            .map(|r| {
                let target: Option<String> = r.try_get("target_id").db()?;
                let tenant: Option<String> = r.try_get("tenant").db()?;
                Ok(Entry {
                    kind: r.try_get("kind").db()?,
                    id: r.try_get("id").db()?,
                    target: target.as_deref().map(tid).transpose()?,
                    tenant: tenant.as_deref().map(tenant_id).transpose()?,
                    at: r.try_get("at").db()?,
                    subtype: r.try_get("subtype").db()?,
                    body: r.try_get("body").db()?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page {
            items,
            total: to_u64(total),
        })
    }

    // ---- retention ----------------------------------------------------

    async fn purge(&self, r: &Retention, now: DateTime<Utc>) -> StoreResult<PurgeReport> {
        let chunk = i64::from(r.chunk.max(1));
        let mut rep = PurgeReport::default();
        let cut = clamp(Retention::cutoff(now, r.results));
        rep.results = purge_chunks!(
            &self.pool,
            chunk,
            sqlx::query(
                "DELETE FROM hc_results WHERE ctid = ANY(ARRAY( \
                 SELECT ctid FROM hc_results WHERE at < $1 LIMIT $2))"
            )
            .bind(cut)
        );
        // every kind present, by a loose index scan over the primary key
        let kinds: Vec<String> = sqlx::query_scalar(
            "WITH RECURSIVE k AS ( \
               (SELECT kind FROM hc_entries ORDER BY kind LIMIT 1) \
               UNION ALL \
               SELECT (SELECT e.kind FROM hc_entries e WHERE e.kind > k.kind ORDER BY e.kind LIMIT 1) \
               FROM k WHERE k.kind IS NOT NULL) \
             SELECT kind FROM k WHERE kind IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await
        .db()?;
        for kind in &kinds {
            let cut = clamp(Retention::cutoff(now, r.for_entry_kind(kind)));
            let n = purge_chunks!(
                &self.pool,
                chunk,
                sqlx::query(
                    "DELETE FROM hc_entries WHERE kind = $1 AND id IN \
                     (SELECT id FROM hc_entries WHERE kind = $1 AND at < $2 LIMIT $3)"
                )
                .bind(kind.as_str())
                .bind(cut)
            );
            rep.entries = rep.entries.saturating_add(n);
        }
        for g in healthcore::rollup::Granularity::ALL {
            let cut = clamp(Retention::cutoff(now, r.for_granularity(g)));
            let code = gran_code(g)?;
            let n = purge_chunks!(
                &self.pool,
                chunk,
                sqlx::query(
                    "DELETE FROM hc_rollups WHERE granularity = $1 AND (target_id, start) IN \
                     (SELECT target_id, start FROM hc_rollups WHERE granularity = $1 \
                     AND start < $2 LIMIT $3)"
                )
                .bind(code)
                .bind(cut)
            );
            rep.rollups = rep.rollups.saturating_add(n);
        }
        let cut = clamp(Retention::cutoff(now, r.hour_rollups));
        rep.check_counts = purge_chunks!(
            &self.pool,
            chunk,
            sqlx::query(
                "DELETE FROM hc_check_counts WHERE (target_id, check_id, start) IN \
                 (SELECT target_id, check_id, start FROM hc_check_counts WHERE start < $1 LIMIT $2)"
            )
            .bind(cut)
        );
        let cut = clamp(Retention::cutoff(now, r.resolved_alerts));
        rep.alerts = purge_chunks!(
            &self.pool,
            chunk,
            sqlx::query(
                "DELETE FROM hc_alerts WHERE id IN (SELECT id FROM hc_alerts \
                 WHERE status = 'resolved' AND resolved_at < $1 LIMIT $2)"
            )
            .bind(cut)
        );
        Ok(rep)
    }

    // ---- claims (claims.rs) -------------------------------------------

    async fn claim_due(&self, request: &ClaimRequest) -> StoreResult<Vec<Lease>> {
        crate::claims::claim_due(&self.pool, request).await
    }

    async fn claim_check(
        &self,
        key: &CheckKey,
        instance: &str,
        lease: std::time::Duration,
    ) -> StoreResult<CheckClaim> {
        PgStore::claim_check(self, key, instance, lease).await
    }

    async fn complete_claim(&self, lease: &Lease, next_due: DateTime<Utc>) -> StoreResult<()> {
        crate::claims::complete_claim(&self.pool, lease, next_due).await
    }

    async fn rollup_totals(&self, q: &RollupQuery) -> StoreResult<Vec<TargetBucket>> {
        PgStore::rollup_totals(self, q).await
    }

    async fn complete_claims(
        &self,
        done: &[(Lease, DateTime<Utc>)],
    ) -> StoreResult<Vec<healthcore::model::CheckKey>> {
        PgStore::complete_claims(self, done).await
    }

    async fn fenced(
        &self,
        lease: &Lease,
        writes: &[healthcore::store::FencedWrite<'_>],
    ) -> StoreResult<Vec<healthcore::store::FencedOutcome>> {
        PgStore::fenced(self, lease, writes).await
    }

    async fn renew_lease(&self, lease: &Lease, length: std::time::Duration) -> StoreResult<Lease> {
        PgStore::renew_lease(self, lease, length).await
    }

    async fn release_claims(&self, instance: &str) -> StoreResult<u64> {
        PgStore::release_claims(self, instance).await
    }

    async fn load_states_of(&self, targets: &[TargetId]) -> StoreResult<Vec<StateRecord>> {
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = targets.iter().map(|t| t.as_str()).collect();
        let rows: Vec<(Json<StateScope>, serde_json::Value, DateTime<Utc>)> = sqlx::query_as(
            "SELECT scope, body, updated_at FROM hc_states WHERE target_id = ANY($1) ORDER BY key",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await
        .db()?;
        Ok(rows
            .into_iter()
            .map(|(Json(scope), body, updated_at)| StateRecord {
                scope,
                body,
                updated_at,
            })
            .collect())
    }
}

/// Every target's buckets of one granularity in a range, read as binary
/// COPY (no parameters: the SQL holds only a code and time literals made
/// here), sorted by target then start.
async fn rollups_copy_out(pool: &PgPool, q: &RollupQuery) -> StoreResult<Vec<TargetBucket>> {
    let sql = format!(
        "COPY (SELECT target_id, start, healthy_ms, degraded_ms, down_ms, unknown_ms, \
         maintenance_ms, checks_total, checks_healthy, checks_failed, latency_count, \
         latency_sum_us, latency_min_us, latency_max_us FROM hc_rollups \
         WHERE granularity = {} AND start >= {} AND start < {}) TO STDOUT (FORMAT binary)",
        gran_code(q.granularity)?,
        ts_literal(q.from),
        ts_literal(q.to)
    );
    let mut conn = pool.acquire().await.db()?;
    let mut data: Vec<u8> = Vec::new();
    {
        let mut stream = conn.copy_out_raw(&sql).await.db()?;
        while let Some(chunk) =
            std::future::poll_fn(|cx| futures_core::Stream::poll_next(stream.as_mut(), cx)).await
        {
            data.extend_from_slice(&chunk.db()?);
        }
    }
    let mut rd = CopyReader::new(&data)?;
    let mut out = Vec::new();
    let mut last: Option<TargetId> = None;
    while let Some(n) = rd.tuple()? {
        if n != 14 {
            return Err(StoreError::Data(format!("rollup row with {n} columns")));
        }
        let t = rd.text()?;
        let target = match &last {
            Some(id) if id.as_str() == t => id.clone(),
            _ => {
                let id = tid(t)?;
                last = Some(id.clone());
                id
            }
        };
        let start = rd.timestamp()?;
        let mut counters = [0i64; 10];
        for c in counters.iter_mut() {
            *c = rd.i64()?;
        }
        let cols = BucketCols {
            counters,
            min: rd.opt_i64()?,
            max: rd.opt_i64()?,
        };
        out.push(TargetBucket {
            target,
            bucket: cols.bucket(q.granularity, start),
        });
    }
    sort_buckets(&mut out);
    Ok(out)
}

fn doc_of(r: sqlx::postgres::PgRow) -> StoreResult<Doc> {
    let tenant: Option<String> = r.try_get("tenant").db()?;
    let target: Option<String> = r.try_get("target_id").db()?;
    Ok(Doc {
        kind: r.try_get("kind").db()?,
        id: r.try_get("id").db()?,
        tenant: tenant.as_deref().map(tenant_id).transpose()?,
        target: target.as_deref().map(tid).transpose()?,
        body: r.try_get("body").db()?,
        updated_at: r.try_get("updated_at").db()?,
    })
}

/// Rollup rows in the order `Store::rollups` promises: by target, then
/// bucket start.
fn sort_buckets(out: &mut [TargetBucket]) {
    out.sort_unstable_by(|a, b| {
        a.target
            .cmp(&b.target)
            .then(a.bucket.start.cmp(&b.bucket.start))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_defaults_validate() {
        PgStoreOptions::default().validate().unwrap();
    }

    #[test]
    fn options_refuse_bad_fields() {
        let field = |o: PgStoreOptions| match o.validate() {
            Err(ConnectError::InvalidOption { field, .. }) => field,
            other => panic!("expected InvalidOption, got {other:?}"),
        };
        assert_eq!(
            field(PgStoreOptions::default().max_connections(0)),
            "max_connections"
        );
        for bad in [
            "",
            "Public",
            "1abc",
            "pg_x",
            "a-b",
            "a;drop",
            &"x".repeat(64),
        ] {
            assert_eq!(
                field(PgStoreOptions::default().schema(bad)),
                "schema",
                "{bad}"
            );
        }
        assert_eq!(
            field(PgStoreOptions::default().connect_timeout(Duration::ZERO)),
            "connect_timeout"
        );
        PgStoreOptions::default()
            .schema("health_1")
            .validate()
            .unwrap();
    }

    #[test]
    fn options_deny_unknown_fields() {
        let e = serde_json::from_value::<PgStoreOptions>(serde_json::json!({"max_conns": 3}));
        assert!(e.is_err());
    }

    #[test]
    fn redact_hides_passwords() {
        assert_eq!(
            redact(
                "bad url postgres://u:s3cret@h/db",
                "postgres://u:s3cret@h/db"
            ),
            "bad url postgres://u:***@h/db"
        );
        assert_eq!(redact("x", "postgres://u@h/db"), "x");
    }

    #[test]
    fn migration_status_predicates() {
        let s = MigrationStatus {
            applied: Some(1),
            known: 1,
            pending: vec![],
            dirty: false,
        };
        assert!(s.is_current());
        assert!(!s.is_newer());
        let newer = MigrationStatus {
            applied: Some(2),
            ..s.clone()
        };
        assert!(newer.is_newer());
        assert!(!newer.is_current());
        let fresh = MigrationStatus {
            applied: None,
            pending: vec![1],
            ..s
        };
        assert!(!fresh.is_current());
    }

    #[test]
    fn embedded_migrations_are_numbered() {
        assert!(known_version() >= 1);
    }
}
