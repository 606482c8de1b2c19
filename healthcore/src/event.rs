//! [`Event`]: the typed stream of what changed, for SSE/WebSocket clients
//! and the activity feed. The engine publishes on a broadcast channel;
//! slow subscribers lose old events, never block the engine.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alert::Alert;
use crate::breaker::BreakerState;
use crate::heal::HealEvent;
use crate::lifecycle::LifecycleState;
use crate::model::{Cause, CheckId, Status, TargetId, TenantId};
use crate::summary::Summary;

/// Something that changed. Serialises as `{"type": "...", ...}`; the wire
/// name for SSE is [`Event::name`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// A target's (check is `None`) or a check's status changed.
    StatusChanged {
        /// Whose.
        target: TargetId,
        /// Tenant, for filtering.
        tenant: TenantId,
        /// The check, or `None` for the target's aggregate.
        check: Option<CheckId>,
        /// Before.
        from: Status,
        /// After.
        to: Status,
        /// Why (after).
        cause: Cause,
        /// Why it was what it was before (`stale` before `offline`, say).
        #[serde(default)]
        from_cause: Cause,
        /// The target's score after, when known.
        score: Option<u8>,
        /// When.
        at: DateTime<Utc>,
    },
    /// A new alert.
    AlertCreated {
        /// Tenant, for filtering.
        tenant: TenantId,
        /// The alert.
        alert: Alert,
    },
    /// An alert was acknowledged.
    AlertAcknowledged {
        /// Tenant, for filtering.
        tenant: TenantId,
        /// The alert.
        alert: Alert,
    },
    /// An alert was resolved.
    AlertResolved {
        /// Tenant, for filtering.
        tenant: TenantId,
        /// The alert.
        alert: Alert,
    },
    /// An alert went to external channels.
    AlertEscalated {
        /// Tenant, for filtering.
        tenant: TenantId,
        /// The alert.
        alert: Alert,
    },
    /// A heal decision (attempted, completed or skipped).
    HealAttempted {
        /// Tenant, for filtering.
        tenant: TenantId,
        /// The heal event.
        event: HealEvent,
    },
    /// A circuit breaker changed state.
    BreakerChanged {
        /// Whose.
        target: TargetId,
        /// Tenant, for filtering.
        tenant: TenantId,
        /// Which check.
        check: CheckId,
        /// Before.
        from: BreakerState,
        /// After.
        to: BreakerState,
        /// When.
        at: DateTime<Utc>,
    },
    /// A provisioning lifecycle state changed.
    LifecycleChanged {
        /// Whose.
        target: TargetId,
        /// Tenant, for filtering.
        tenant: TenantId,
        /// Before.
        from: LifecycleState,
        /// After.
        to: LifecycleState,
        /// When.
        at: DateTime<Utc>,
    },
    /// Fleet-wide counts changed.
    SummaryUpdated {
        /// The new summary.
        summary: Summary,
    },
}

impl Event {
    /// The wire name (`health:status_changed`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Event::StatusChanged { .. } => "health:status_changed",
            Event::AlertCreated { .. } => "health:alert_created",
            Event::AlertAcknowledged { .. } => "health:alert_acknowledged",
            Event::AlertResolved { .. } => "health:alert_resolved",
            Event::AlertEscalated { .. } => "health:alert_escalated",
            Event::HealAttempted { .. } => "health:heal_attempted",
            Event::BreakerChanged { .. } => "health:breaker_changed",
            Event::LifecycleChanged { .. } => "health:lifecycle_changed",
            Event::SummaryUpdated { .. } => "health:summary_updated",
        }
    }

    /// The tenant the event belongs to; `None` for fleet-wide events
    /// (admins only).
    pub fn tenant(&self) -> Option<&TenantId> {
        match self {
            Event::StatusChanged { tenant, .. }
            | Event::AlertCreated { tenant, .. }
            | Event::AlertAcknowledged { tenant, .. }
            | Event::AlertResolved { tenant, .. }
            | Event::AlertEscalated { tenant, .. }
            | Event::HealAttempted { tenant, .. }
            | Event::BreakerChanged { tenant, .. }
            | Event::LifecycleChanged { tenant, .. } => Some(tenant),
            Event::SummaryUpdated { .. } => None,
        }
    }
}
