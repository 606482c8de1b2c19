//! The replay's output: one [`ReplayLine`] per decision, serialised as
//! one JSON object per line with its `type` and `at`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alert::{AlertKind, NotificationKind, Severity};
use crate::breaker::BreakerState;
use crate::heal::HealResult;
use crate::lifecycle::LifecycleState;
use crate::model::{Cause, Status, TargetId};

/// One output line. Serialised with a `type` tag (`status_changed`,
/// `alert_created`, …) beside the variant's fields; parse output back
/// with `serde_json::from_str::<ReplayLine>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReplayLine {
    /// A check's or a target's status changed.
    StatusChanged(StatusChangedLine),
    /// An alert was raised (possibly suppressed).
    AlertCreated(AlertLine),
    /// An alert was acknowledged.
    AlertAcknowledged(AlertLine),
    /// An alert was resolved.
    AlertResolved(AlertLine),
    /// An alert was escalated to the external channels.
    AlertEscalated(AlertLine),
    /// A notification would have been sent.
    Notification(NotificationLine),
    /// A circuit breaker changed state.
    Breaker(BreakerLine),
    /// A heal ran (with the recorded result) or was skipped.
    Heal(HealLine),
    /// The provisioning lifecycle state changed.
    Lifecycle(LifecycleLine),
    /// Uptime of one target over the replay (at the end).
    Uptime(UptimeLine),
    /// The fleet summary (the last line).
    Summary(SummaryLine),
}

impl ReplayLine {
    /// When the decision was made.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            ReplayLine::StatusChanged(l) => l.at,
            ReplayLine::AlertCreated(l)
            | ReplayLine::AlertAcknowledged(l)
            | ReplayLine::AlertResolved(l)
            | ReplayLine::AlertEscalated(l) => l.at,
            ReplayLine::Notification(l) => l.at,
            ReplayLine::Breaker(l) => l.at,
            ReplayLine::Heal(l) => l.at,
            ReplayLine::Lifecycle(l) => l.at,
            ReplayLine::Uptime(l) => l.at,
            ReplayLine::Summary(l) => l.at,
        }
    }

    /// The `type` tag.
    pub fn type_name(&self) -> &'static str {
        match self {
            ReplayLine::StatusChanged(_) => "status_changed",
            ReplayLine::AlertCreated(_) => "alert_created",
            ReplayLine::AlertAcknowledged(_) => "alert_acknowledged",
            ReplayLine::AlertResolved(_) => "alert_resolved",
            ReplayLine::AlertEscalated(_) => "alert_escalated",
            ReplayLine::Notification(_) => "notification",
            ReplayLine::Breaker(_) => "breaker",
            ReplayLine::Heal(_) => "heal",
            ReplayLine::Lifecycle(_) => "lifecycle",
            ReplayLine::Uptime(_) => "uptime",
            ReplayLine::Summary(_) => "summary",
        }
    }

    /// The target the line is about (`None` for the summary).
    pub fn target(&self) -> Option<&TargetId> {
        match self {
            ReplayLine::StatusChanged(l) => Some(&l.target),
            ReplayLine::AlertCreated(l)
            | ReplayLine::AlertAcknowledged(l)
            | ReplayLine::AlertResolved(l)
            | ReplayLine::AlertEscalated(l) => Some(&l.target),
            ReplayLine::Notification(l) => Some(&l.target),
            ReplayLine::Breaker(l) => Some(&l.target),
            ReplayLine::Heal(l) => Some(&l.target),
            ReplayLine::Lifecycle(l) => Some(&l.target),
            ReplayLine::Uptime(l) => Some(&l.target),
            ReplayLine::Summary(_) => None,
        }
    }
}

/// `status_changed`: a check's (`check` set) or the target's aggregate
/// (`check: null`) status changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusChangedLine {
    /// When.
    pub at: DateTime<Utc>,
    /// Whose.
    pub target: TargetId,
    /// The check's name, or `null` for the target's aggregate status.
    pub check: Option<String>,
    /// Status before (`healthy`, `degraded`, `down`, `unknown`).
    pub from: Status,
    /// Status after.
    pub to: Status,
    /// Why, beside the new status (`failing`, `stale`, `offline`, …).
    pub cause: Cause,
}

/// `alert_created`, `alert_acknowledged`, `alert_resolved`,
/// `alert_escalated`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertLine {
    /// When.
    pub at: DateTime<Utc>,
    /// The target the alert is about.
    pub target: TargetId,
    /// The alert type (`down`, `stale`, `breaker_open`, …).
    pub alert: AlertKind,
    /// The alert's id (stable within one replay).
    pub alert_id: String,
    /// `warning` or `critical`.
    pub severity: Severity,
    /// Recorded but not notified (maintenance, a down parent, the
    /// suppression window).
    pub suppressed: bool,
    /// Why it is suppressed (`maintenance`, `parent_down`,
    /// `suppression_window`), when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed_reason: Option<String>,
    /// Who acknowledged it (on `alert_acknowledged`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// The alert's message.
    pub message: String,
}

/// `notification`: what a notifier would have been told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationLine {
    /// When.
    pub at: DateTime<Utc>,
    /// `dashboard`, or the name of an external channel.
    pub channel: String,
    /// The target the alert is about.
    pub target: TargetId,
    /// The alert type.
    pub alert: AlertKind,
    /// The alert's id.
    pub alert_id: String,
    /// `firing`, `resolved`, `reminder` or `escalation`.
    pub kind: NotificationKind,
    /// The alert's severity.
    pub severity: Severity,
}

/// `breaker`: a check's circuit breaker changed state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerLine {
    /// When.
    pub at: DateTime<Utc>,
    /// Whose.
    pub target: TargetId,
    /// Which check.
    pub check: String,
    /// `closed`, `open` or `half_open`.
    pub from: BreakerState,
    /// The new state.
    pub to: BreakerState,
}

/// `heal`: a heal action ran (result `success` or `failed`, as queued by
/// `heal_result` input) or was skipped (result `skipped`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealLine {
    /// When.
    pub at: DateTime<Utc>,
    /// Whose.
    pub target: TargetId,
    /// The action (`restart`, `stop`, a custom name, …).
    pub action: String,
    /// `success`, `failed` or `skipped`.
    pub result: HealResult,
    /// Why: the trigger (`3 consecutive failures`) for a heal that ran,
    /// the skip code (`cooldown`, `breaker_open`, `unreachable`,
    /// `max_attempts`, …) for a skipped one.
    pub reason: String,
    /// The full sentence of a skip reason (`in cooldown, 9m 30s remaining`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// `lifecycle`: the provisioning state changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifecycleLine {
    /// When.
    pub at: DateTime<Utc>,
    /// Whose.
    pub target: TargetId,
    /// State before (`pending`, `installing`, …).
    pub from: LifecycleState,
    /// State after.
    pub to: LifecycleState,
}

/// `uptime`: one target's uptime from the first to the last input `at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UptimeLine {
    /// The last input's `at`.
    pub at: DateTime<Utc>,
    /// Whose.
    pub target: TargetId,
    /// Start of the range (the first input's `at`).
    pub from: DateTime<Utc>,
    /// End of the range (the last input's `at`).
    pub to: DateTime<Utc>,
    /// Time-weighted uptime: `(healthy + w·degraded) / (healthy +
    /// degraded + down) × 100`, unknown and maintenance time excluded;
    /// `null` when no time counted.
    pub percent: Option<f64>,
    /// Passing observations / judged observations × 100; `null` without
    /// observations.
    pub count_percent: Option<f64>,
    /// Healthy seconds.
    pub healthy_seconds: f64,
    /// Degraded seconds.
    pub degraded_seconds: f64,
    /// Down seconds.
    pub down_seconds: f64,
    /// Unknown and maintenance seconds (left out of `percent`).
    pub excluded_seconds: f64,
    /// Observations counted.
    pub checks_total: u64,
}

/// `summary`: seed 000's fleet summary at the end of the replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummaryLine {
    /// The last input's `at`.
    pub at: DateTime<Utc>,
    /// Targets counted (retired ones are not).
    pub total_targets: u64,
    /// Counts by status name (`healthy`, `stale`, `offline`, `unknown`,
    /// `degraded`, `down`).
    pub by_status: BTreeMap<String, u64>,
    /// Mean score, one decimal.
    pub average_score: f64,
    /// Unresolved, unacknowledged alerts that are not suppressed.
    pub active_alerts: u64,
    /// Of which critical.
    pub critical_alerts: u64,
    /// Alerts still open (active or acknowledged, suppressed or not) at
    /// the end.
    pub open_alerts: u64,
}
