//! The store conformance suite, unchanged, against a fresh SQLite file per
//! test (and once more in memory).

mod common;

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::Arc;

use healthcore::store::Store;
use healthcore_sqlite::SqliteStore;

thread_local! {
    // The file of the store last made on this thread. The suite's test body
    // runs on the test's own thread (`block_on`), so `reopen` finds the path
    // `make` chose for the same test here.
    static LAST: RefCell<Option<PathBuf>> = const { RefCell::new(None) };
}

async fn fresh() -> SqliteStore {
    let path = common::fresh_db("conformance");
    LAST.with(|l| *l.borrow_mut() = Some(path.clone()));
    SqliteStore::open(&path).await.expect("open a fresh file")
}

async fn reopen(old: Arc<dyn Store>) -> Arc<dyn Store> {
    let path = LAST
        .with(|l| l.borrow().clone())
        .expect("the store under test was made on this thread");
    drop(old);
    Arc::new(
        SqliteStore::open(&path)
            .await
            .expect("reopen the same file"),
    )
}

healthcore::store_conformance!(
    sqlite,
    crate::fresh().await,
    caps = healthcore::store::Capabilities::NONE
        .persistent(true)
        .check_counts(true),
    reopen = crate::reopen
);

healthcore::store_conformance!(
    sqlite_memory,
    healthcore_sqlite::SqliteStore::open_in_memory()
        .await
        .expect("open in memory"),
    caps = healthcore::store::Capabilities::NONE.check_counts(true)
);
