//! The plain records that cross the [`Store`](super::Store) boundary.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alert::{Alert, AlertKind, AlertStatus, Severity};
use crate::model::{CheckId, CheckKey, Observation, Status, TargetId, TenantId};
use crate::rollup::{Bucket, Granularity};

/// Largest page a list call returns.
pub const MAX_PAGE: u32 = 500;
/// Page size when none is given.
pub const DEFAULT_PAGE: u32 = 50;

/// Which slice of a list: `limit` 1..=500 (default 50), `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRequest {
    /// At most this many items (clamped to 1..=500).
    pub limit: u32,
    /// Skip this many.
    pub offset: u64,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            limit: DEFAULT_PAGE,
            offset: 0,
        }
    }
}

impl PageRequest {
    /// A page; `limit` is clamped to 1..=500.
    pub fn new(limit: u32, offset: u64) -> Self {
        Self {
            limit: limit.clamp(1, MAX_PAGE),
            offset,
        }
    }

    /// Everything up to the largest page.
    pub fn max() -> Self {
        Self::new(MAX_PAGE, 0)
    }

    /// The limit, clamped, as usize.
    pub fn limit_usize(&self) -> usize {
        self.limit.clamp(1, MAX_PAGE) as usize
    }

    /// The offset as usize (saturating).
    pub fn offset_usize(&self) -> usize {
        usize::try_from(self.offset).unwrap_or(usize::MAX)
    }

    /// Applies the page to an already filtered and ordered list.
    pub fn apply<T>(&self, items: Vec<T>) -> Page<T> {
        let total = items.len() as u64;
        let items = items
            .into_iter()
            .skip(self.offset_usize())
            .take(self.limit_usize())
            .collect();
        Page { items, total }
    }
}

/// One page of a list, with the total number of matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items on this page.
    pub items: Vec<T>,
    /// How many match in all.
    pub total: u64,
}

/// Filter for [`Store::list_targets`](super::Store::list_targets).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetQuery {
    /// Only this tenant's targets.
    pub tenant: Option<TenantId>,
    /// Only targets with this MAC address (normalised).
    pub mac_address: Option<String>,
    /// The page.
    pub page: PageRequest,
}

/// One stored result: the observation and the check's status after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredResult {
    /// Which check.
    pub key: CheckKey,
    /// What it saw.
    pub observation: Observation,
    /// The check's status after this result.
    pub status: Status,
}

/// A rollup delta for one target: merged into the stored bucket with the
/// same (target, granularity, start), or inserted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetBucket {
    /// Whose bucket.
    pub target: TargetId,
    /// The delta (or, when read, the whole bucket).
    pub bucket: Bucket,
}

/// What the writer persists in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultBatch {
    /// Raw results, in arrival order.
    pub results: Vec<StoredResult>,
    /// Rollup deltas, to merge.
    pub rollups: Vec<TargetBucket>,
}

impl ResultBatch {
    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.results.is_empty() && self.rollups.is_empty()
    }

    /// The raw results counted per check and hour (one hour-granularity
    /// bucket per check and hour, counts and latency only, in first-seen
    /// order): the deltas a store with
    /// [`Capabilities::check_counts`](super::Capabilities::check_counts)
    /// merges into what [`Store::check_counts`](super::Store::check_counts)
    /// reads.
    pub fn check_hour_deltas(&self) -> Vec<(CheckKey, Bucket)> {
        let mut out: Vec<(CheckKey, Bucket)> = Vec::new();
        let mut index: std::collections::HashMap<(&CheckKey, DateTime<Utc>), usize> =
            std::collections::HashMap::new();
        for r in &self.results {
            let start = Granularity::Hour.bucket_start(r.observation.at);
            let i = *index.entry((&r.key, start)).or_insert_with(|| {
                out.push((r.key.clone(), Bucket::new(Granularity::Hour, start)));
                out.len() - 1
            });
            if let Some((_, b)) = out.get_mut(i) {
                b.add_observation(r.observation.outcome, r.observation.latency);
            }
        }
        out
    }
}

/// Filter for [`Store::recent_results`](super::Store::recent_results).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultQuery {
    /// Whose results.
    pub target: TargetId,
    /// Only this check.
    pub check: Option<CheckId>,
    /// Only results at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// At most this many (clamped to 1..=1000 by stores).
    pub limit: u32,
}

/// Filter for [`Store::check_counts`](super::Store::check_counts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckCountsQuery {
    /// The check.
    pub key: CheckKey,
    /// Hours starting at or after (align it with
    /// [`Granularity::bucket_start`](crate::rollup::Granularity::bucket_start)).
    pub from: DateTime<Utc>,
    /// Hours starting before.
    pub to: DateTime<Utc>,
}

/// Filter for [`Store::rollups`](super::Store::rollups).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupQuery {
    /// These targets; empty means all.
    pub targets: Vec<TargetId>,
    /// Bucket size.
    pub granularity: Granularity,
    /// Buckets starting at or after.
    pub from: DateTime<Utc>,
    /// Buckets starting before.
    pub to: DateTime<Utc>,
}

/// Whose state a [`StateRecord`] holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum StateScope {
    /// One check's machine, breaker and flap state.
    Check {
        /// The check.
        key: CheckKey,
    },
    /// One target's aggregate, lifecycle, heal and window state.
    Target {
        /// The target.
        target: TargetId,
    },
}

impl StateScope {
    /// The target the state belongs to.
    pub fn target(&self) -> &TargetId {
        match self {
            StateScope::Check { key } => &key.target,
            StateScope::Target { target } => target,
        }
    }

    /// A stable string key (`target/check` or `target`).
    pub fn storage_key(&self) -> String {
        match self {
            StateScope::Check { key } => format!("c\u{1f}{}\u{1f}{}", key.target, key.check),
            StateScope::Target { target } => format!("t\u{1f}{target}"),
        }
    }
}

/// Current state written on transitions; the body is opaque to stores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateRecord {
    /// Whose.
    pub scope: StateScope,
    /// The serialised state.
    pub body: serde_json::Value,
    /// When it was written.
    pub updated_at: DateTime<Utc>,
}

/// Result of [`Store::insert_alert`](super::Store::insert_alert).
#[derive(Debug, Clone, PartialEq)]
pub enum InsertAlert {
    /// Inserted.
    Created,
    /// An unresolved alert with the same key exists; here it is.
    Exists(Box<Alert>),
}

/// Filter for [`Store::list_alerts`](super::Store::list_alerts).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertQuery {
    /// Only this status.
    pub status: Option<AlertStatus>,
    /// Only unresolved (active or acknowledged) alerts.
    pub open_only: bool,
    /// Only this severity.
    pub severity: Option<Severity>,
    /// Only this target.
    pub target: Option<TargetId>,
    /// Only targets of this tenant.
    pub tenant: Option<TenantId>,
    /// Only this kind.
    pub kind: Option<AlertKind>,
    /// Only alerts created at or after.
    pub since: Option<DateTime<Utc>>,
    /// The page.
    pub page: PageRequest,
}

/// A configuration document (heal policy, maintenance window, alert
/// channel, SLO, …): a JSON body under (kind, id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Doc {
    /// What it is (see [`doc_kind`](super::doc_kind)).
    pub kind: String,
    /// Its id within the kind.
    pub id: String,
    /// Owning tenant, for scoping.
    pub tenant: Option<TenantId>,
    /// The target it is about, if any.
    pub target: Option<TargetId>,
    /// The document.
    pub body: serde_json::Value,
    /// Last write.
    pub updated_at: DateTime<Utc>,
}

/// Filter for [`Store::list_docs`](super::Store::list_docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocQuery {
    /// The kind.
    pub kind: String,
    /// Only this tenant's.
    pub tenant: Option<TenantId>,
    /// Only about this target.
    pub target: Option<TargetId>,
}

/// One history entry (lifecycle event, heal event, audit row, snapshot,
/// status window): a JSON body under (kind, id) with indexed columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// What it is (see [`entry_kind`](super::entry_kind)).
    pub kind: String,
    /// Its id within the kind.
    pub id: String,
    /// The target it is about.
    pub target: Option<TargetId>,
    /// The tenant, for scoping.
    pub tenant: Option<TenantId>,
    /// When it happened (retention and ordering use this).
    pub at: DateTime<Utc>,
    /// A sub-type to filter on (event type, action, …).
    pub subtype: Option<String>,
    /// The entry.
    pub body: serde_json::Value,
}

/// Filter for [`Store::query_entries`](super::Store::query_entries).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryQuery {
    /// The kind.
    pub kind: String,
    /// Only about this target.
    pub target: Option<TargetId>,
    /// Only this tenant's.
    pub tenant: Option<TenantId>,
    /// Only this sub-type.
    pub subtype: Option<String>,
    /// At or after.
    pub since: Option<DateTime<Utc>>,
    /// Before.
    pub until: Option<DateTime<Utc>>,
    /// Oldest first instead of newest first.
    pub ascending: bool,
    /// The page.
    pub page: PageRequest,
}

/// How long each kind of data is kept. Defaults follow the seeds: raw
/// results and snapshots 30 days, heal events 90 days, rollups longer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retention {
    /// Raw results.
    #[serde(with = "humantime_serde")]
    pub results: Duration,
    /// Snapshots.
    #[serde(with = "humantime_serde")]
    pub snapshots: Duration,
    /// Heal events.
    #[serde(with = "humantime_serde")]
    pub heal_events: Duration,
    /// Lifecycle events.
    #[serde(with = "humantime_serde")]
    pub lifecycle_events: Duration,
    /// Audit log.
    #[serde(with = "humantime_serde")]
    pub audit: Duration,
    /// Closed status windows.
    #[serde(with = "humantime_serde")]
    pub status_windows: Duration,
    /// Resolved alerts.
    #[serde(with = "humantime_serde")]
    pub resolved_alerts: Duration,
    /// Minute rollups.
    #[serde(with = "humantime_serde")]
    pub minute_rollups: Duration,
    /// Hour rollups.
    #[serde(with = "humantime_serde")]
    pub hour_rollups: Duration,
    /// Day rollups.
    #[serde(with = "humantime_serde")]
    pub day_rollups: Duration,
    /// Rows deleted per statement, so retention never stalls writers.
    pub chunk: u32,
}

const DAY: u64 = 24 * 3600;

impl Default for Retention {
    fn default() -> Self {
        Self {
            results: Duration::from_secs(30 * DAY),
            snapshots: Duration::from_secs(30 * DAY),
            heal_events: Duration::from_secs(90 * DAY),
            lifecycle_events: Duration::from_secs(90 * DAY),
            audit: Duration::from_secs(365 * DAY),
            status_windows: Duration::from_secs(400 * DAY),
            resolved_alerts: Duration::from_secs(90 * DAY),
            minute_rollups: Duration::from_secs(2 * DAY),
            hour_rollups: Duration::from_secs(90 * DAY),
            day_rollups: Duration::from_secs(800 * DAY),
            chunk: 5_000,
        }
    }
}

impl Retention {
    /// The cutoff for data kept `keep` at `now` (saturating).
    pub fn cutoff(now: DateTime<Utc>, keep: Duration) -> DateTime<Utc> {
        chrono::Duration::from_std(keep)
            .ok()
            .and_then(|d| now.checked_sub_signed(d))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// How long entries of journal `kind` are kept (unknown kinds: audit's).
    pub fn for_entry_kind(&self, kind: &str) -> Duration {
        use super::entry_kind as k;
        match kind {
            k::SNAPSHOT => self.snapshots,
            k::HEAL_EVENT => self.heal_events,
            k::LIFECYCLE_EVENT => self.lifecycle_events,
            k::STATUS_WINDOW => self.status_windows,
            _ => self.audit,
        }
    }

    /// How long buckets of `g` are kept.
    pub fn for_granularity(&self, g: Granularity) -> Duration {
        match g {
            Granularity::Minute => self.minute_rollups,
            Granularity::Hour => self.hour_rollups,
            Granularity::Day => self.day_rollups,
        }
    }
}

/// How much [`Store::purge`](super::Store::purge) removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeReport {
    /// Raw results.
    pub results: u64,
    /// Journal entries.
    pub entries: u64,
    /// Rollup buckets.
    pub rollups: u64,
    /// Resolved alerts.
    pub alerts: u64,
    /// Per-check hourly counts ([`Store::check_counts`](super::Store::check_counts)),
    /// kept as long as hour rollups.
    #[serde(default)]
    pub check_counts: u64,
}

/// A request to claim due checks (multi-instance scale-out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRequest {
    /// This instance (fresh per process start).
    pub instance: String,
    /// At most this many.
    pub limit: u32,
    /// Lease length.
    pub lease: Duration,
}

/// A claimed check: run it, then [`complete_claim`](super::Store::complete_claim).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The check.
    pub key: CheckKey,
    /// Who holds it.
    pub owner: String,
    /// Increases on every new claim of this check; side effects carry it.
    pub epoch: i64,
    /// When the lease lapses (database time).
    pub expires_at: DateTime<Utc>,
}

/// What [`Store::claim_check`](super::Store::claim_check) did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckClaim {
    /// Nobody held the check (or its lease had lapsed): it is claimed now
    /// under a new epoch. The caller completes it when its run is done.
    Claimed(Lease),
    /// This instance already held it (a claimed run of its own is about
    /// to run): the lease was extended, same epoch. That run completes it.
    Renewed(Lease),
    /// Another instance holds an unexpired lease: nothing changed.
    Held {
        /// The holder.
        owner: String,
        /// When its lease lapses (store time).
        expires_at: DateTime<Utc>,
    },
}

/// One audit-log row: who did what to which target, and how it went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Unique id.
    pub id: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Who (token name, user, `system`).
    pub actor: String,
    /// What (`restart`, `diagnose`, `checklist_override`, `heal_reset`, …).
    pub action: String,
    /// On which target, if any.
    pub target: Option<TargetId>,
    /// The tenant, for scoping.
    pub tenant: Option<TenantId>,
    /// How it went (`ok`, `failed: …`, `refused: …`).
    pub result: String,
    /// Anything else worth keeping.
    #[serde(default)]
    pub details: serde_json::Value,
}

/// A point-in-time health snapshot for trends (seed 000).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Whose.
    pub target: TargetId,
    /// When.
    pub timestamp: DateTime<Utc>,
    /// Status then.
    pub health_status: Status,
    /// Cause then.
    pub cause: crate::model::Cause,
    /// Score then.
    pub health_score: u8,
    /// Seconds since last seen (0 when never seen, as 000 does).
    pub last_seen_seconds_ago: i64,
    /// Boot count then.
    pub boot_count: u32,
    /// Install attempts then.
    pub install_attempts: u32,
    /// IP address then.
    pub ip_address: Option<String>,
}

/// A stored lifecycle event (seed 001's NodeEvent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LifecycleEventRecord {
    /// Unique id.
    pub id: String,
    /// Whose.
    pub target: TargetId,
    /// `boot_started`, `install_progress`, …
    pub event_type: String,
    /// `success`, `failed`, `in_progress`.
    pub status: String,
    /// Message from the node.
    pub message: Option<String>,
    /// Install progress 0..=100.
    pub progress: Option<u8>,
    /// Metadata from the node (OS version, kernel, …).
    pub metadata: Option<serde_json::Value>,
    /// Client IP the report came from.
    pub ip_address: Option<String>,
    /// When it was received.
    pub created_at: DateTime<Utc>,
}

/// Alert routing for one target, or the default when `target` is `None`
/// (seed 004's health_alert_configs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertChannelConfig {
    /// The target, or `None` for the default.
    #[serde(default)]
    pub target: Option<TargetId>,
    /// Delay before an unacknowledged alert goes to external channels
    /// (0 = at once). Each target's alerts escalate after their own delay.
    #[serde(with = "humantime_serde", default = "default_escalation")]
    pub escalation_delay: Duration,
    /// Channels by notifier name (`dashboard`, `log`, `webhook`, `slack`,
    /// …); empty means every registered notifier. See
    /// [`Routing`](crate::notify::Routing) for how names select notifiers.
    #[serde(default)]
    pub channels: Vec<String>,
    /// A webhook URL for this target (checked by the egress guard): a
    /// webhook notifier delivers this target's notifications there instead
    /// of its own URL.
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// `false` silences this target's external notifications (counted as
    /// `notifications_silenced` and logged, not delivered); its alerts are
    /// still recorded, listed and sent to the dashboard channels.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn default_escalation() -> Duration {
    Duration::from_secs(300)
}
fn yes() -> bool {
    true
}

impl Default for AlertChannelConfig {
    fn default() -> Self {
        Self {
            target: None,
            escalation_delay: default_escalation(),
            channels: Vec::new(),
            webhook_url: None,
            enabled: true,
        }
    }
}
