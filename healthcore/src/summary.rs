//! Fleet summaries: seed 000's dashboard summary and seed 002's tenant
//! overview, computed from the current view (never a table scan).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{Cause, Status, TargetId};

/// Seed 000's health summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Targets counted (retired ones are not).
    pub total_targets: u64,
    /// Counts by status name, including 000's passive names
    /// (`healthy`, `stale`, `offline`, `unknown`) and `degraded`/`down`.
    pub by_status: BTreeMap<String, u64>,
    /// Mean score, one decimal.
    pub average_score: f64,
    /// Unresolved, unacknowledged alerts that are not suppressed (held by
    /// maintenance, a down parent or the suppression window).
    pub active_alerts: u64,
    /// Of which critical.
    pub critical_alerts: u64,
}

/// One row of seed 002's tenant overview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverviewRow {
    /// Target id.
    pub target: TargetId,
    /// Display name.
    pub name: String,
    /// Status.
    pub status: Status,
    /// Cause.
    pub cause: Cause,
    /// Worst consecutive failures among its checks.
    pub consecutive_failures: u32,
    /// Last check time.
    pub last_check_at: Option<DateTime<Utc>>,
    /// Last healthy time.
    pub last_healthy_at: Option<DateTime<Utc>>,
}

/// Seed 002's tenant overview: counts and one row per target.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    /// Counts: total, healthy, degraded, unhealthy (down), unknown.
    pub summary: OverviewCounts,
    /// One row per target.
    pub targets: Vec<OverviewRow>,
}

/// Counts in an [`Overview`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverviewCounts {
    /// All targets.
    pub total: u64,
    /// Healthy.
    pub healthy: u64,
    /// Degraded.
    pub degraded: u64,
    /// Down (002 says "unhealthy").
    pub unhealthy: u64,
    /// Unknown.
    pub unknown: u64,
}

/// The passive-vocabulary name for a status and cause: `stale` and
/// `offline` for staleness, otherwise the status name.
pub fn display_status(status: Status, cause: Cause) -> &'static str {
    match (status, cause) {
        (Status::Degraded, Cause::Stale) => "stale",
        (Status::Down, Cause::Offline) => "offline",
        (s, _) => s.as_str(),
    }
}
