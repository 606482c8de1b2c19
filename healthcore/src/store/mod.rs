//! [`Store`]: persistence for everything the engine remembers.
//!
//! The trait is deliberately generic where the data is generic, and
//! specific where the database must enforce a rule:
//!
//! - **targets and checks** — typed CRUD;
//! - **results** — batched, append-ordered, with the rollup deltas of the
//!   same batch applied in the same transaction ([`ResultBatch`]);
//! - **state** — per-check and per-target JSON blobs written on
//!   transitions ([`StateRecord`]);
//! - **alerts** — dedup by the store: at most one unresolved alert per
//!   (target, kind), and compare-and-set updates;
//! - **documents** — configuration owned by the API (heal policies,
//!   maintenance windows, alert channels, SLOs), see [`Doc`];
//! - **journal** — append-only history (lifecycle events, heal events,
//!   audit log, snapshots, status windows), see [`Entry`];
//! - **retention** and **claims** for multi-instance leases.
//!
//! Typed helpers over documents and the journal live in [`StoreExt`], so
//! an adapter implements few methods and holds no health rules.

mod error;
mod ext;
mod fenced;
mod records;

pub use error::{StoreError, StoreResult};
pub use ext::{StoreExt, doc_kind, entry_kind, heal_event_entry, status_window_entry};
pub use fenced::{FencedOutcome, FencedWrite};
pub use records::*;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::alert::{Alert, AlertStatus};
use crate::model::{CheckKey, CheckSpec, Target, TargetId};
use std::time::Duration;

/// What a store can do beyond the required behaviour. The conformance
/// suite runs the matching tests only where a flag is set, and says so.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// Data survives dropping the store and opening it again.
    pub persistent: bool,
    /// [`Store::claim_due`] works (multi-instance leases).
    pub claims: bool,
    /// [`Store::check_counts`] answers (per-check hourly counts are kept).
    pub check_counts: bool,
}

impl Capabilities {
    /// No optional capability.
    pub const NONE: Capabilities = Capabilities {
        persistent: false,
        claims: false,
        check_counts: false,
    };

    /// Sets `persistent`.
    #[must_use]
    pub const fn persistent(mut self, yes: bool) -> Self {
        self.persistent = yes;
        self
    }

    /// Sets `claims`.
    #[must_use]
    pub const fn claims(mut self, yes: bool) -> Self {
        self.claims = yes;
        self
    }

    /// Sets `check_counts`.
    #[must_use]
    pub const fn check_counts(mut self, yes: bool) -> Self {
        self.check_counts = yes;
        self
    }
}

/// Persistence for the engine, shared as `Arc<dyn Store>`.
///
/// Every method is atomic on its own. Implementations must never hold a
/// health rule: what to write is decided by the pure core.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Optional capabilities.
    fn capabilities(&self) -> Capabilities;

    // ---- targets and checks -------------------------------------------

    /// Inserts or replaces a target.
    async fn put_target(&self, target: &Target) -> StoreResult<()>;
    /// One target.
    async fn get_target(&self, id: &TargetId) -> StoreResult<Option<Target>>;
    /// Targets, ordered by id, filtered and paged.
    async fn list_targets(&self, query: &TargetQuery) -> StoreResult<Page<Target>>;
    /// Deletes a target with its checks, state and open alerts; `false`
    /// when it did not exist. History (journal, results) is kept until
    /// retention removes it.
    async fn delete_target(&self, id: &TargetId) -> StoreResult<bool>;
    /// Inserts or replaces a check on an existing target (NotFound if the
    /// target does not exist).
    async fn put_check(&self, target: &TargetId, spec: &CheckSpec) -> StoreResult<()>;
    /// Checks of one target, or of all targets, ordered by key.
    async fn list_checks(
        &self,
        target: Option<&TargetId>,
    ) -> StoreResult<Vec<(TargetId, CheckSpec)>>;
    /// Deletes a check; `false` when it did not exist.
    async fn delete_check(&self, key: &CheckKey) -> StoreResult<bool>;

    // ---- results and rollups ------------------------------------------

    /// Appends results and merges rollup deltas, in one transaction.
    async fn append_results(&self, batch: &ResultBatch) -> StoreResult<()>;
    /// Most recent results first.
    async fn recent_results(&self, query: &ResultQuery) -> StoreResult<Vec<StoredResult>>;
    /// Rollup buckets of one granularity in `[from, to)`, ordered by
    /// target then start.
    async fn rollups(&self, query: &RollupQuery) -> StoreResult<Vec<TargetBucket>>;

    /// The counts of one check's results (total, healthy, failed, latency
    /// count, sum, min and max) over the hours starting in `[from, to)`,
    /// summed into one bucket (hour granularity, start `from`, no time
    /// fields): what a per-check result history counts over a window
    /// without reading raw results. A store with
    /// [`Capabilities::check_counts`] keeps them per check and hour, merged
    /// in [`append_results`](Store::append_results) from the batch's raw
    /// results ([`ResultBatch::check_hour_deltas`]), kept as long as hour
    /// rollups, and answers `Some` (all zero for a check without results);
    /// the default answers `None`: not kept.
    async fn check_counts(
        &self,
        query: &CheckCountsQuery,
    ) -> StoreResult<Option<crate::rollup::Bucket>> {
        let _ = query;
        Ok(None)
    }

    /// One summed bucket per target over the buckets [`rollups`](Store::rollups)
    /// would return (counters added, latency min and max combined; `start`
    /// is the target's first bucket in range), ordered by target: what an
    /// uptime figure over the range needs, without a timeline. The default
    /// sums [`rollups`](Store::rollups); SQL stores sum on the server.
    async fn rollup_totals(&self, query: &RollupQuery) -> StoreResult<Vec<TargetBucket>> {
        let mut out: Vec<TargetBucket> = Vec::new();
        for tb in self.rollups(query).await? {
            match out.last_mut() {
                Some(last) if last.target == tb.target => {
                    if tb.bucket.start < last.bucket.start {
                        last.bucket.start = tb.bucket.start;
                    }
                    last.bucket.merge_counts(&tb.bucket);
                }
                _ => {
                    let mut sum = crate::rollup::Bucket::sum();
                    sum.start = tb.bucket.start;
                    sum.granularity = tb.bucket.granularity;
                    sum.merge_counts(&tb.bucket);
                    out.push(TargetBucket {
                        target: tb.target,
                        bucket: sum,
                    });
                }
            }
        }
        Ok(out)
    }

    // ---- current state ------------------------------------------------

    /// Upserts state records (last write wins per scope).
    async fn put_states(&self, records: &[StateRecord]) -> StoreResult<()>;
    /// Every state record.
    async fn load_states(&self) -> StoreResult<Vec<StateRecord>>;

    // ---- alerts -------------------------------------------------------

    /// Inserts an alert unless an unresolved one of the same (target,
    /// kind) exists, atomically: two concurrent inserts of one key create
    /// one alert.
    async fn insert_alert(&self, alert: &Alert) -> StoreResult<InsertAlert>;
    /// Replaces an alert if its stored status is still `expected`
    /// (compare-and-set); `Conflict` otherwise, `NotFound` if absent.
    async fn update_alert(&self, alert: &Alert, expected: AlertStatus) -> StoreResult<()>;
    /// One alert by id.
    async fn get_alert(&self, id: &str) -> StoreResult<Option<Alert>>;
    /// Alerts, newest first, filtered and paged.
    async fn list_alerts(&self, query: &AlertQuery) -> StoreResult<Page<Alert>>;

    // ---- documents (configuration) ------------------------------------

    /// Inserts or replaces a document.
    async fn put_doc(&self, doc: &Doc) -> StoreResult<()>;
    /// One document.
    async fn get_doc(&self, kind: &str, id: &str) -> StoreResult<Option<Doc>>;
    /// Documents of a kind, ordered by id, optionally of one tenant.
    async fn list_docs(&self, query: &DocQuery) -> StoreResult<Vec<Doc>>;
    /// Deletes a document; `false` when it did not exist.
    async fn delete_doc(&self, kind: &str, id: &str) -> StoreResult<bool>;

    // ---- journal (history) --------------------------------------------

    /// Appends entries; an entry with an existing (kind, id) replaces it
    /// (used to complete a pending heal event or close a status window).
    async fn append_entries(&self, entries: &[Entry]) -> StoreResult<()>;
    /// Entries, filtered and paged, newest first unless `ascending`.
    async fn query_entries(&self, query: &EntryQuery) -> StoreResult<Page<Entry>>;

    // ---- retention ----------------------------------------------------

    /// Deletes what is older than the policy allows, in bounded chunks.
    async fn purge(&self, retention: &Retention, now: DateTime<Utc>) -> StoreResult<PurgeReport>;

    // ---- multi-instance claims ------------------------------------------

    /// Claims up to `request.limit` checks that are due, under a lease.
    /// Stores without the `claims` capability return `Unsupported`.
    async fn claim_due(&self, request: &ClaimRequest) -> StoreResult<Vec<Lease>> {
        let _ = request;
        Err(StoreError::Unsupported("claims"))
    }

    /// Claims one check now, whatever its due time, for a run outside the
    /// schedule (a recheck in claims mode): a new lease (a new epoch, the
    /// check out of the due set until it lapses) when nobody holds one,
    /// the held lease extended to `lease` from now (same epoch) when
    /// `instance` holds it, and [`CheckClaim::Held`] (nothing changed)
    /// when another instance holds an unexpired lease. `NotFound` when the
    /// check does not exist; stores without the `claims` capability return
    /// `Unsupported`.
    async fn claim_check(
        &self,
        key: &CheckKey,
        instance: &str,
        lease: Duration,
    ) -> StoreResult<CheckClaim> {
        let _ = (key, instance, lease);
        Err(StoreError::Unsupported("claims"))
    }

    /// Records that a claimed check ran and when it is next due; refused
    /// with `Fenced` when the lease was lost (owner or epoch changed).
    async fn complete_claim(&self, lease: &Lease, next_due: DateTime<Utc>) -> StoreResult<()> {
        let _ = (lease, next_due);
        Err(StoreError::Unsupported("claims"))
    }

    /// Completes many claims, each only where its lease is still held.
    /// Returns the keys that were refused (lease lost, or check gone), in
    /// key order. The default completes one by one; stores override it
    /// with one statement.
    async fn complete_claims(&self, done: &[(Lease, DateTime<Utc>)]) -> StoreResult<Vec<CheckKey>> {
        let mut refused = Vec::new();
        for (lease, next_due) in done {
            match self.complete_claim(lease, *next_due).await {
                Ok(()) => {}
                Err(StoreError::Fenced(_) | StoreError::NotFound { .. }) => {
                    refused.push(lease.key.clone());
                }
                Err(e) => return Err(e),
            }
        }
        refused.sort();
        refused.dedup();
        Ok(refused)
    }

    /// Applies `writes` atomically, only while `lease` is held (owner,
    /// epoch, not expired on the store's clock), and keeps the lease from
    /// being taken over until they are written. A lost lease is
    /// [`StoreError::Fenced`] and nothing is written; any other error
    /// also writes nothing. Stores without fencing return `Unsupported`.
    async fn fenced(
        &self,
        lease: &Lease,
        writes: &[FencedWrite<'_>],
    ) -> StoreResult<Vec<FencedOutcome>> {
        let _ = (lease, writes);
        Err(StoreError::Unsupported("fenced writes"))
    }

    /// Extends a held lease to `length` from now (store time), keeping
    /// its epoch; `Fenced` when it was lost.
    async fn renew_lease(&self, lease: &Lease, length: Duration) -> StoreResult<Lease> {
        let _ = (lease, length);
        Err(StoreError::Unsupported("claims"))
    }

    /// Gives back every lease `instance` holds and makes those checks due
    /// now (graceful shutdown). Returns how many were released.
    async fn release_claims(&self, instance: &str) -> StoreResult<u64> {
        let _ = instance;
        Err(StoreError::Unsupported("claims"))
    }

    /// The state records of `targets` (their target scope and the scopes
    /// of their checks): what an instance loads before running a check it
    /// claimed, so it continues where the previous owner left off. The
    /// default filters [`load_states`](Store::load_states).
    async fn load_states_of(&self, targets: &[TargetId]) -> StoreResult<Vec<StateRecord>> {
        let wanted: std::collections::HashSet<&TargetId> = targets.iter().collect();
        Ok(self
            .load_states()
            .await?
            .into_iter()
            .filter(|r| match &r.scope {
                StateScope::Target { target } => wanted.contains(target),
                StateScope::Check { key } => wanted.contains(&key.target),
            })
            .collect())
    }
}
