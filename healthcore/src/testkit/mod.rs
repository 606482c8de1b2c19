//! Test support for adapters and applications (feature `testkit`):
//! the store conformance suite and test fakes.
//!
//! Every store runs the same suite: `healthcore::store_conformance!` stamps
//! out one `#[tokio::test]` per behaviour for a constructor expression.
//! Tests that need a capability the store lacks print that they were
//! skipped and why, loudly, instead of passing silently.
//!
//! ```text
//! healthcore::store_conformance!(
//!     memory,
//!     healthcore::memory::InMemoryStore::new(),
//!     caps = healthcore::store::Capabilities::NONE
//! );
//! ```

pub mod conformance;
pub mod fakes;
pub mod system;

/// Stamps out the conformance suite as `#[tokio::test]`s in a module named
/// `$name`. `$make` is an expression (may use `.await`) evaluating to an
/// `Arc<dyn Store>`-compatible value; it runs once per test, so each test
/// gets a fresh, isolated store. `caps` declares the store's
/// [`Capabilities`](crate::store::Capabilities): a test asserts the store
/// reports exactly those, so behaviours behind a flag are never skipped by
/// a flag that regressed. An optional `reopen = |old| expr` builds a second
/// handle on the same data for the persistence test.
#[macro_export]
macro_rules! store_conformance {
    ($name:ident, $make:expr, caps = $caps:expr) => {
        $crate::store_conformance!(@inner $name, $make, $caps, None::<fn(std::sync::Arc<dyn $crate::store::Store>) -> std::pin::Pin<Box<dyn std::future::Future<Output = std::sync::Arc<dyn $crate::store::Store>> + Send>>>);
    };
    ($name:ident, $make:expr, caps = $caps:expr, reopen = $reopen:expr) => {
        $crate::store_conformance!(@inner $name, $make, $caps, Some($reopen));
    };
    (@inner $name:ident, $make:expr, $caps:expr, $reopen:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            use std::sync::Arc;
            use $crate::store::Store;
            use $crate::testkit::conformance as c;

            async fn make() -> Arc<dyn Store> {
                Arc::new($make)
            }

            $crate::store_conformance!(@tests make;
                targets_crud, checks_crud, results_and_rollups,
                rollups_by_granularity_and_totals, recent_results_filters,
                state_round_trip, alert_dedup, alert_dedup_concurrent, alert_ack_resolve_rules,
                alert_listing, docs_crud, heal_policies_and_events, lifecycle_events_paging,
                snapshots, status_windows, audit_log, maintenance_windows, retention,
                retention_per_kind, tenant_scoping, delete_target_cascades, claims,
                claim_one, fenced_writes, check_counts_per_hour
            );

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn declared_capabilities() {
                let store = make().await;
                c::declared_capabilities(store.as_ref(), $caps).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn persistence_across_reopen() {
                let store = make().await;
                let reopen = $reopen;
                c::persistence_across_reopen(store, reopen).await;
            }
        }
    };
    (@tests $make:ident; $($t:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $t() {
                let store = $make().await;
                c::$t(store.as_ref()).await;
            }
        )*
    };
}
