//! `healthd serve` on a PostgreSQL store (the local test server, a fresh
//! schema; skipped loudly without a server unless HEALTHCORE_REQUIRE_PG=1):
//! the store is migrated, the API answers, and the `postgres` check reads
//! the store's own pool.

#[path = "healthd_support/mod.rs"]
mod support;

use healthcore::model::{CheckKey, Outcome};
use healthcore_sqlx::testing::{TestDb, url};
use healthcore_suite::healthd::serve::{Daemon, ServeOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_on_postgres_and_checks_its_pool() {
    let Some(db) = TestDb::create("healthd_serves_on_postgres").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("healthd.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
store = {{ kind = "postgres", url = "{url}", schema = "{schema}", max_connections = 4 }}

[[tokens]]
name = "ops"
admin = true
sha256 = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"

[[targets]]
id = "database"
[[targets.checks]]
kind = "postgres"
interval = "1m"
timeout = "5s"
"#,
            url = url(),
            schema = db.schema()
        ),
    )
    .unwrap();
    let daemon = Daemon::start(ServeOptions {
        config: Some(cfg),
        listen: Some("127.0.0.1:0".parse().unwrap()),
        db: None,
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let addr = daemon.addr();
    let r = tokio::task::spawn_blocking(move || {
        support::get(addr, "/targets/database", Some("password"))
    })
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);

    let key = CheckKey::new("database".parse().unwrap(), "postgres".parse().unwrap());
    let (_, obs) = daemon.engine().recheck(&key, "test").await.unwrap();
    assert_eq!(obs.outcome, Outcome::Pass, "{obs:?}");

    let report = daemon.shutdown().await;
    assert!(report.store_closed);
    db.drop_schema().await;
}
