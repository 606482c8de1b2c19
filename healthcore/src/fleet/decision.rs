//! [`Decision`]: what the pure fleet decided, for the engine to carry out.

use chrono::{DateTime, Utc};

use crate::alert::{Alert, AlertChange, NotificationKind};
use crate::breaker::BreakerChange;
use crate::heal::{HealAction, HealEvent};
use crate::lifecycle::LifecycleChange;
use crate::model::{CheckId, Health, Target, TargetId, TenantId};
use crate::notify::{Audience, Routing};
use crate::store::{LifecycleEventRecord, Snapshot};
use crate::uptime::StatusWindow;

/// One decision. The engine persists, publishes, notifies and heals from
/// these; replay prints them.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Decision {
    /// A check's (`check: Some`) or a target's (`None`) health changed.
    StatusChanged {
        /// Whose.
        target: TargetId,
        /// Tenant.
        tenant: TenantId,
        /// Which check, or the aggregate.
        check: Option<CheckId>,
        /// Before.
        from: Health,
        /// After.
        to: Health,
        /// The target's score, for aggregate changes.
        score: Option<u8>,
        /// When.
        at: DateTime<Utc>,
    },
    /// An alert was created, acknowledged, resolved or escalated.
    Alert {
        /// Tenant.
        tenant: TenantId,
        /// The change.
        change: AlertChange,
    },
    /// Send a notification about an alert.
    Notify {
        /// Tenant.
        tenant: TenantId,
        /// The target's display name.
        target_name: String,
        /// Firing, resolved, reminder, escalation.
        kind: NotificationKind,
        /// Dashboard or external channels.
        audience: Audience,
        /// The alert as it is now.
        alert: Alert,
        /// When.
        at: DateTime<Utc>,
        /// Which notifiers get it, the target's webhook URL, and whether
        /// its channel config silences it (from the target's config).
        routing: Routing,
    },
    /// Run a heal action now; report back with
    /// [`Fleet::heal_finished`](super::Fleet::heal_finished).
    Heal {
        /// Tenant.
        tenant: TenantId,
        /// The target (a copy, for the healer).
        target: Target,
        /// What to do.
        action: HealAction,
        /// The pending heal event (result `pending`).
        event: HealEvent,
        /// Tell the notifiers (policy's notify_on_trigger).
        notify: bool,
    },
    /// A heal event to record as is (skipped, or completed).
    HealRecorded {
        /// Tenant.
        tenant: TenantId,
        /// The event.
        event: HealEvent,
    },
    /// A check's circuit breaker changed state.
    Breaker {
        /// Whose.
        target: TargetId,
        /// Tenant.
        tenant: TenantId,
        /// Which check.
        check: CheckId,
        /// The change.
        change: BreakerChange,
    },
    /// The provisioning lifecycle state changed.
    Lifecycle {
        /// Whose.
        target: TargetId,
        /// Tenant.
        tenant: TenantId,
        /// The change.
        change: LifecycleChange,
    },
    /// A lifecycle event to store (every report makes one).
    LifecycleEvent {
        /// Tenant.
        tenant: TenantId,
        /// The record.
        record: LifecycleEventRecord,
    },
    /// A status window closed (or opened: `ended_at` is `None`).
    Window {
        /// Whose.
        target: TargetId,
        /// Tenant.
        tenant: TenantId,
        /// The window.
        window: StatusWindow,
    },
    /// A snapshot to store.
    Snapshot {
        /// Tenant.
        tenant: TenantId,
        /// The snapshot.
        snapshot: Snapshot,
    },
}
