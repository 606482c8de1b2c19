//! The store conformance suite, unchanged, against the real PostgreSQL
//! server: each test in its own fresh schema (see
//! `healthcore_sqlx::testing`), with a `reopen` that connects a new pool
//! to the same schema.
//!
//! Without a reachable server each test prints `SKIPPED` and the reason,
//! then runs the suite against the in-memory reference store so the body
//! still executes; with `HEALTHCORE_REQUIRE_PG=1` (CI) it fails instead.

// `Arc` and `Store` are in scope inside the generated module.
healthcore::store_conformance!(
    postgres,
    match healthcore_sqlx::testing::conformance_store(module_path!()).await {
        Some(store) => store,
        None => {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED (postgres): running the suite against the in-memory store instead"
            );
            return Arc::new(healthcore::memory::InMemoryStore::new());
        }
    },
    caps = healthcore_sqlx::testing::conformance_caps(),
    reopen = |_old: Arc<dyn Store>| async move {
        Arc::new(healthcore_sqlx::testing::reopen_last().await) as Arc<dyn Store>
    }
);
