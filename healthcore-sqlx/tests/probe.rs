//! The `postgres` probe against the real server: a healthy pool passes
//! with latency and details; an unreachable server, an exhausted or busy
//! pool, pending or failed migrations are told apart.

use std::time::Duration;

use healthcore::checker::Checker;
use healthcore::model::{CheckSpec, Outcome};
use healthcore_sqlx::PostgresChecker;
use healthcore_sqlx::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use healthcore_sqlx::testing::{self, TestDb};

fn spec(params: serde_json::Value) -> CheckSpec {
    CheckSpec::new("postgres")
        .with_params(params)
        .every(Duration::from_secs(30), Duration::from_secs(2))
}

/// A plain pool (not a store) on the test schema.
fn pool_on(db: &TestDb, max: u32) -> healthcore_sqlx::sqlx::PgPool {
    let opts: PgConnectOptions = testing::url().parse().unwrap();
    PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_millis(300))
        .connect_lazy_with(opts.options([("search_path", db.schema())]))
}

#[tokio::test]
async fn healthy_store_pool_passes_with_details() {
    let Some(db) = TestDb::create("healthy_store_pool_passes_with_details").await else {
        return;
    };
    let store = db.store().await;
    let checker = PostgresChecker::for_store(&store);
    assert_eq!(checker.kind(), "postgres");
    let s = spec(serde_json::json!({}));
    checker.validate(&s).unwrap();
    let seen = checker.check(&s).await;
    assert_eq!(seen.outcome, Outcome::Pass, "{seen:?}");
    assert!(seen.latency.is_some());
    let d = seen.details.clone().unwrap();
    assert!(d["server_version"].as_str().is_some_and(|v| !v.is_empty()));
    assert_eq!(d["in_recovery"], false);
    assert_eq!(d["pool"]["max"], 4);
    assert_eq!(d["migrations"]["applied"], d["migrations"]["expected"]);
    assert_eq!(d["migrations"]["failed"], 0);
    let diag = checker.diagnose(&s).await;
    assert!(
        diag.details.unwrap()["server"]["max_connections"]
            .as_i64()
            .unwrap()
            > 0
    );
    db.drop_schema().await;
}

#[tokio::test]
async fn bad_params_and_unknown_pools() {
    let Some(db) = TestDb::create("bad_params_and_unknown_pools").await else {
        return;
    };
    let checker = PostgresChecker::for_store(&db.store().await);
    let e = checker
        .validate(&spec(serde_json::json!({"pool": "replica"})))
        .unwrap_err();
    assert_eq!(e.field(), "params.pool");
    let e = checker
        .validate(&spec(serde_json::json!({"pool_warn_ratio": 2})))
        .unwrap_err();
    assert_eq!(e.field(), "params.pool_warn_ratio");
    let seen = checker
        .check(&spec(serde_json::json!({"pool": "replica"})))
        .await;
    assert_eq!(seen.outcome, Outcome::Unknown);
    let seen = checker.check(&spec(serde_json::json!({"bogus": 1}))).await;
    assert_eq!(seen.outcome, Outcome::Unknown);
    db.drop_schema().await;
}

#[tokio::test]
async fn unreachable_server_is_unreachable() {
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(300))
        .connect_lazy("postgres://postgres@127.0.0.1:1/test")
        .unwrap();
    let seen = PostgresChecker::new(pool)
        .check(&spec(serde_json::json!({})))
        .await;
    assert_eq!(seen.outcome, Outcome::Unreachable, "{seen:?}");
    assert!(seen.message.is_some());
}

#[tokio::test]
async fn unmigrated_schema_warns() {
    let Some(db) = TestDb::create("unmigrated_schema_warns").await else {
        return;
    };
    // room in the pool, so a connection the first check still holds
    // under load does not read as a saturated pool (another warn)
    let checker = PostgresChecker::new(pool_on(&db, 8));
    let seen = checker.check(&spec(serde_json::json!({}))).await;
    assert_eq!(seen.outcome, Outcome::Warn, "{seen:?}");
    assert!(seen.message.unwrap().contains("not migrated"));
    // the same pool without the migration check passes
    let seen = checker
        .check(&spec(serde_json::json!({"check_migrations": false})))
        .await;
    assert_eq!(seen.outcome, Outcome::Pass, "{seen:?}");
    db.drop_schema().await;
}

#[tokio::test]
async fn failed_or_pending_migrations_are_reported() {
    let Some(db) = TestDb::create("failed_or_pending_migrations_are_reported").await else {
        return;
    };
    let store = db.store().await;
    let checker = PostgresChecker::for_store(&store);
    // an application's own migrations table
    sqlx::query(
        "CREATE TABLE app_migrations (version bigint PRIMARY KEY, success boolean NOT NULL)",
    )
    .execute(store.pool())
    .await
    .unwrap();
    sqlx::query("INSERT INTO app_migrations VALUES (5, true)")
        .execute(store.pool())
        .await
        .unwrap();
    let app = |expected: i64| {
        spec(
            serde_json::json!({"migrations_table": "app_migrations", "expected_migration": expected}),
        )
    };
    assert_eq!(checker.check(&app(5)).await.outcome, Outcome::Pass);
    let pending = checker.check(&app(6)).await;
    assert_eq!(pending.outcome, Outcome::Warn);
    assert!(pending.message.unwrap().contains("pending"));
    let newer = checker.check(&app(4)).await;
    assert_eq!(newer.outcome, Outcome::Warn);
    sqlx::query("INSERT INTO app_migrations VALUES (6, false)")
        .execute(store.pool())
        .await
        .unwrap();
    let failed = checker.check(&app(6)).await;
    assert_eq!(failed.outcome, Outcome::Fail, "{failed:?}");
    db.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_pool_warns_and_exhausted_pool_fails() {
    let Some(db) = TestDb::create("busy_pool_warns_and_exhausted_pool_fails").await else {
        return;
    };
    let store = db.store().await; // migrates the schema
    let pool = pool_on(&db, 4);
    let checker = PostgresChecker::new(pool.clone()).with_pool("main", store.pool().clone());
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(pool.acquire().await.unwrap());
    }
    let busy = checker
        .check(&spec(serde_json::json!({"pool_warn_ratio": 0.7})))
        .await;
    assert_eq!(busy.outcome, Outcome::Warn, "{busy:?}");
    assert_eq!(busy.details.unwrap()["pool"]["in_use"], 3);
    held.push(pool.acquire().await.unwrap());
    let full = checker.check(&spec(serde_json::json!({}))).await;
    assert_eq!(full.outcome, Outcome::Fail, "{full:?}");
    assert!(full.message.unwrap().contains("exhausted"));
    // the other registered pool is fine
    let main = checker
        .check(&spec(serde_json::json!({"pool": "main"})))
        .await;
    assert_eq!(main.outcome, Outcome::Pass, "{main:?}");
    drop(held);
    db.drop_schema().await;
}
