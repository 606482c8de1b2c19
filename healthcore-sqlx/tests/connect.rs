//! Bad input at connect, told apart: a bad URL, an unreachable server,
//! wrong credentials, a missing database, a schema newer than the code, an
//! edited migration; and a server that goes away mid-run (a private
//! server this test starts and stops) gives transient errors, then works
//! again when it is back.

use std::time::Duration;

use healthcore::model::{Target, TargetId};
use healthcore::store::{ResultBatch, Store, StoreError};
use healthcore_sqlx::testing::{self, TestDb};
use healthcore_sqlx::{ConnectError, PgStore, PgStoreOptions};

fn quick() -> PgStoreOptions {
    PgStoreOptions::default().connect_timeout(Duration::from_secs(3))
}

/// `url()` with the user and/or database replaced.
fn url_with(user: Option<&str>, db: Option<&str>) -> String {
    let base = testing::url();
    let (scheme, rest) = base.split_once("://").unwrap();
    let (userinfo, hostpath) = rest.split_once('@').unwrap_or(("postgres", rest));
    let (hostport, dbname) = hostpath.split_once('/').unwrap_or((hostpath, "test"));
    format!(
        "{scheme}://{}@{hostport}/{}",
        user.unwrap_or(userinfo),
        db.unwrap_or(dbname)
    )
}

#[tokio::test]
async fn bad_urls_are_invalid_url_and_hide_passwords() {
    for url in [
        "not a url",
        "postgres://u:s3cr3tpw@localhost:notaport/db",
        "postgres://u@localhost/db?sslmode=sometimes",
        "mysql://u@localhost/db",
        "",
    ] {
        match PgStore::connect_with(url, quick()).await {
            Err(e @ ConnectError::InvalidUrl(_)) => {
                assert!(!e.to_string().contains("s3cr3tpw"), "{e}");
            }
            other => panic!("{url}: expected InvalidUrl, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn bad_options_are_named() {
    let e = PgStore::connect_with(
        "postgres://u@127.0.0.1/db",
        PgStoreOptions::default().schema("Robert'); DROP TABLE x"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            e,
            ConnectError::InvalidOption {
                field: "schema",
                ..
            }
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn unreachable_server_is_unreachable() {
    let started = std::time::Instant::now();
    let e = PgStore::connect_with("postgres://postgres@127.0.0.1:1/test", quick())
        .await
        .unwrap_err();
    match &e {
        ConnectError::Unreachable { addr, reason } => {
            assert_eq!(addr, "127.0.0.1:1");
            assert!(reason.to_lowercase().contains("refused"), "{reason}");
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused is told at once"
    );
    assert!(e.to_string().contains("unreachable"), "{e}");
    let as_store: StoreError = e.into();
    assert!(as_store.is_transient());
}

#[tokio::test]
async fn unknown_host_is_unreachable() {
    let e = PgStore::connect_with("postgres://postgres@no-such-host.invalid/test", quick())
        .await
        .unwrap_err();
    assert!(
        matches!(e, ConnectError::Unreachable { .. }),
        "expected Unreachable, got {e:?}"
    );
}

#[tokio::test]
async fn wrong_credentials_are_auth() {
    let Some(db) = TestDb::create("wrong_credentials_are_auth").await else {
        return;
    };
    let e = PgStore::connect_with(&url_with(Some("no_such_role_hc"), None), quick())
        .await
        .unwrap_err();
    match &e {
        ConnectError::Auth { user, .. } => assert_eq!(user, "no_such_role_hc"),
        other => panic!("expected Auth, got {other:?}"),
    }
    assert!(e.to_string().contains("credentials"), "{e}");
    db.drop_schema().await;
}

#[tokio::test]
async fn missing_database_is_named() {
    let Some(db) = TestDb::create("missing_database_is_named").await else {
        return;
    };
    let e = PgStore::connect_with(&url_with(None, Some("no_such_db_hc")), quick())
        .await
        .unwrap_err();
    match &e {
        ConnectError::DatabaseMissing { database } => assert_eq!(database, "no_such_db_hc"),
        other => panic!("expected DatabaseMissing, got {other:?}"),
    }
    db.drop_schema().await;
}

#[tokio::test]
async fn schema_newer_than_code_is_refused() {
    let Some(db) = TestDb::create("schema_newer_than_code_is_refused").await else {
        return;
    };
    let store = db.store().await;
    let status = store.migration_status().await.unwrap();
    assert!(status.is_current(), "{status:?}");
    sqlx::query(
        "INSERT INTO _healthcore_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'from the future', true, '\\x00', 0)",
    )
    .execute(store.pool())
    .await
    .unwrap();
    store.close().await;
    let e = PgStore::connect_with(&testing::url(), db.options())
        .await
        .unwrap_err();
    match &e {
        ConnectError::SchemaTooNew { found, known } => {
            assert_eq!(*found, 99990101000000);
            assert!(*known >= 1 && known < found);
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    assert!(e.to_string().contains("newer than this code"), "{e}");
    db.drop_schema().await;
}

#[tokio::test]
async fn edited_migration_is_refused() {
    let Some(db) = TestDb::create("edited_migration_is_refused").await else {
        return;
    };
    let store = db.store().await;
    sqlx::query("UPDATE _healthcore_migrations SET checksum = '\\x0102' WHERE version = 1")
        .execute(store.pool())
        .await
        .unwrap();
    let e = PgStore::connect_with(&testing::url(), db.options())
        .await
        .unwrap_err();
    assert!(
        matches!(e, ConnectError::MigrationChanged { version: 1 }),
        "{e:?}"
    );
    db.drop_schema().await;
}

#[tokio::test]
async fn unmigrated_schema_without_migrate_is_refused_then_migrated() {
    let Some(db) =
        TestDb::create("unmigrated_schema_without_migrate_is_refused_then_migrated").await
    else {
        return;
    };
    let e = PgStore::connect_with(&testing::url(), db.options().migrate(false))
        .await
        .unwrap_err();
    assert!(matches!(e, ConnectError::Migrate(_)), "{e:?}");
    // connecting normally migrates; a second connect finds it current
    let a = db.store().await;
    assert!(a.migration_status().await.unwrap().is_current());
    let b = PgStore::connect_with(&testing::url(), db.options().migrate(false))
        .await
        .unwrap();
    assert!(b.migration_status().await.unwrap().is_current());
    // from_pool uses the pool's search_path
    let c = PgStore::from_pool(a.pool().clone()).await.unwrap();
    assert!(c.capabilities().persistent);
    db.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_connects_migrate_once() {
    let Some(db) = TestDb::create("concurrent_connects_migrate_once").await else {
        return;
    };
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            PgStore::connect_with(&testing::url(), db.options()).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let s = db.store().await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM _healthcore_migrations")
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(n as i64, healthcore_sqlx_known(&s).await);
    db.drop_schema().await;
}

async fn healthcore_sqlx_known(s: &PgStore) -> i64 {
    s.migration_status().await.unwrap().known
}

// ---- a private server that goes away mid-run -----------------------------

use healthcore_sqlx::testing::PrivatePg;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_going_away_gives_transient_errors_then_recovers() {
    let pg = match PrivatePg::create() {
        Ok(pg) => pg,
        Err(reason) => {
            testing::skip(
                "server_going_away_gives_transient_errors_then_recovers",
                &format!("cannot start a private PostgreSQL: {reason}"),
            );
            return;
        }
    };
    let store = PgStore::connect_with(
        &pg.url(),
        PgStoreOptions::default()
            .max_connections(2)
            .connect_timeout(Duration::from_secs(1)),
    )
    .await
    .expect("connect to the private server");
    let a = Target::new(TargetId::new("a").unwrap(), "a");
    store.put_target(&a).await.unwrap();

    pg.stop().expect("stop the server");
    for _ in 0..3 {
        let e = store
            .put_target(&Target::new(TargetId::new("b").unwrap(), "b"))
            .await
            .expect_err("the server is down");
        assert!(e.is_transient(), "{e:?}");
        assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
    }
    let e = store
        .append_results(&ResultBatch {
            results: vec![],
            rollups: vec![healthcore::store::TargetBucket {
                target: a.id.clone(),
                bucket: healthcore::rollup::Bucket::new(
                    healthcore::rollup::Granularity::Minute,
                    chrono::Utc::now(),
                ),
            }],
        })
        .await
        .expect_err("the server is down");
    assert!(e.is_transient(), "{e:?}");

    pg.start().expect("start the server again");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        match store.get_target(&a.id).await {
            Ok(got) => {
                assert_eq!(got, Some(a.clone()), "data survived the restart");
                break;
            }
            Err(e) => {
                assert!(e.is_transient(), "{e:?}");
                assert!(
                    std::time::Instant::now() < deadline,
                    "the store did not recover: {e}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    store
        .put_target(&Target::new(TargetId::new("b").unwrap(), "b"))
        .await
        .unwrap();
}
