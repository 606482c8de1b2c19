//! [`Alert`], its key, why it may be suppressed, and its state changes.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alert::{AlertKind, AlertStatus, Severity};
use crate::error::ValidationError;
use crate::model::{Cause, CheckId, TargetId};

/// Longest `acknowledged_by` accepted, in characters (seed 000's column).
pub const MAX_ACK_BY_LEN: usize = 100;

/// The dedup key: at most one unresolved alert per target and kind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AlertKey {
    /// The target the alert is about.
    pub target: TargetId,
    /// What the alert is about.
    pub kind: AlertKind,
}

impl AlertKey {
    /// A key from its parts.
    pub fn new(target: TargetId, kind: AlertKind) -> Self {
        Self { target, kind }
    }
}

impl fmt::Display for AlertKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.target, self.kind)
    }
}

/// Why an alert is recorded but not notified.
///
/// Serialised with a `reason` tag: `{"reason": "parent_down", "parent": "sw-1"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SuppressReason {
    /// The target is in a maintenance window.
    Maintenance,
    /// A parent of the target is down; the child's trouble is the parent's.
    ParentDown {
        /// The parent that is down.
        parent: TargetId,
    },
    /// The same alert was resolved less than the suppression window ago.
    SuppressionWindow,
}

impl SuppressReason {
    /// The [`Cause`] shown beside a target's status for this reason
    /// (`maintenance`, `parent_down`); `None` for the suppression window,
    /// which says nothing about the target.
    pub const fn cause(&self) -> Option<Cause> {
        match self {
            SuppressReason::Maintenance => Some(Cause::Maintenance),
            SuppressReason::ParentDown { .. } => Some(Cause::ParentDown),
            SuppressReason::SuppressionWindow => None,
        }
    }
}

/// What went wrong with an alert operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AlertError {
    /// No open alert has this id.
    #[error("alert {id} not found")]
    NotFound {
        /// The id asked for.
        id: String,
    },
    /// Only an active alert can be acknowledged.
    #[error("cannot acknowledge alert with status '{status}'")]
    NotActive {
        /// The alert's status.
        status: AlertStatus,
    },
    /// The alert is already resolved; resolved alerts never reopen.
    #[error("alert is already resolved")]
    AlreadyResolved,
    /// An argument was refused (e.g. an empty `acknowledged_by`).
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

/// One alert: a condition on a target, from creation to resolution.
///
/// The fields mirror seed 000's `HealthAlert` (id, target, type, severity,
/// status, message, details, created/acknowledged/resolved times) plus
/// suppression, escalation and reminder bookkeeping.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use healthcore::alert::{Alert, AlertKey, AlertKind, AlertStatus, Severity};
/// use healthcore::model::TargetId;
/// let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
/// let key = AlertKey::new(TargetId::new("web-1").unwrap(), AlertKind::Down);
/// let mut a = Alert::new("a1", key, Severity::Critical, "web-1 is down", t0);
/// a.acknowledge("alice", t0).unwrap();
/// assert!(a.acknowledge("bob", t0).is_err());
/// a.resolve(t0).unwrap();
/// assert_eq!(a.status, AlertStatus::Resolved);
/// assert!(!a.is_open());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Unique id, chosen by the caller (the pure core has no randomness).
    pub id: String,
    /// The target it is about.
    pub target: TargetId,
    /// What it is about.
    pub kind: AlertKind,
    /// How urgent.
    pub severity: Severity,
    /// Where in its lifecycle.
    pub status: AlertStatus,
    /// A human message.
    pub message: String,
    /// Structured details.
    #[serde(default)]
    pub details: Option<serde_json::Value>,
    /// The check that raised it, if one did.
    #[serde(default)]
    pub check: Option<CheckId>,
    /// When it was raised.
    pub created_at: DateTime<Utc>,
    /// When it was acknowledged.
    #[serde(default)]
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Who acknowledged it.
    #[serde(default)]
    pub acknowledged_by: Option<String>,
    /// When it was resolved.
    #[serde(default)]
    pub resolved_at: Option<DateTime<Utc>>,
    /// Recorded but not notified (see `suppressed_reason`).
    #[serde(default)]
    pub suppressed: bool,
    /// Why it is suppressed.
    #[serde(default)]
    pub suppressed_reason: Option<SuppressReason>,
    /// When it was escalated to external channels.
    #[serde(default)]
    pub escalated_at: Option<DateTime<Utc>>,
    /// When it first reached the dashboard: created unsuppressed, or
    /// released from suppression while active. Escalation is timed from
    /// here, so time spent suppressed (maintenance, a down parent, the
    /// suppression window) before anyone was told does not count. `None`
    /// while nobody has been told; see [`Alert::first_notified`] for
    /// alerts stored before this field existed.
    #[serde(default)]
    pub first_notified_at: Option<DateTime<Utc>>,
    /// When a notification about it was last sent (firing or reminder).
    #[serde(default)]
    pub last_notified_at: Option<DateTime<Utc>>,
    /// Reminders sent so far.
    #[serde(default)]
    pub reminders_sent: u32,
}

impl Alert {
    /// A new active, unsuppressed, not yet notified alert.
    pub fn new(
        id: impl Into<String>,
        key: AlertKey,
        severity: Severity,
        message: impl Into<String>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: id.into(),
            target: key.target,
            kind: key.kind,
            severity,
            status: AlertStatus::Active,
            message: message.into(),
            details: None,
            check: None,
            created_at: now,
            acknowledged_at: None,
            acknowledged_by: None,
            resolved_at: None,
            suppressed: false,
            suppressed_reason: None,
            escalated_at: None,
            first_notified_at: None,
            last_notified_at: None,
            reminders_sent: 0,
        }
    }

    /// Sets the details.
    #[must_use]
    pub fn with_details(mut self, details: Option<serde_json::Value>) -> Self {
        self.details = details;
        self
    }

    /// Sets the check that raised it.
    #[must_use]
    pub fn with_check(mut self, check: Option<CheckId>) -> Self {
        self.check = check;
        self
    }

    /// Marks it suppressed for `reason` (or not, for `None`).
    #[must_use]
    pub fn with_suppression(mut self, reason: Option<SuppressReason>) -> Self {
        self.suppressed = reason.is_some();
        self.suppressed_reason = reason;
        self
    }

    /// Its dedup key.
    pub fn key(&self) -> AlertKey {
        AlertKey::new(self.target.clone(), self.kind.clone())
    }

    /// True while not resolved (active or acknowledged).
    pub fn is_open(&self) -> bool {
        self.status != AlertStatus::Resolved
    }

    /// Active → acknowledged, recording who and when. Fails with
    /// [`AlertError::NotActive`] from any other status (so twice fails),
    /// or [`AlertError::Invalid`] when `by` is empty, longer than 100
    /// characters or holds control characters.
    pub fn acknowledge(&mut self, by: &str, now: DateTime<Utc>) -> Result<(), AlertError> {
        if self.status != AlertStatus::Active {
            return Err(AlertError::NotActive {
                status: self.status,
            });
        }
        validate_by(by)?;
        self.status = AlertStatus::Acknowledged;
        self.acknowledged_at = Some(now);
        self.acknowledged_by = Some(by.to_owned());
        Ok(())
    }

    /// Active or acknowledged → resolved. A resolved alert never reopens:
    /// resolving again fails with [`AlertError::AlreadyResolved`].
    pub fn resolve(&mut self, now: DateTime<Utc>) -> Result<(), AlertError> {
        if self.status == AlertStatus::Resolved {
            return Err(AlertError::AlreadyResolved);
        }
        self.status = AlertStatus::Resolved;
        self.resolved_at = Some(now);
        Ok(())
    }

    /// When the alert first reached the dashboard: `first_notified_at`,
    /// or, for an alert stored before that field existed that had been
    /// notified, its `created_at`. `None` when nobody has been told.
    pub fn first_notified(&self) -> Option<DateTime<Utc>> {
        self.first_notified_at
            .or_else(|| self.last_notified_at.map(|_| self.created_at))
    }

    /// True when a notification about it was ever sent: it has a
    /// dashboard (and perhaps external) audience to tell of its recovery.
    pub fn was_notified(&self) -> bool {
        self.first_notified().is_some()
    }

    /// Records that it fired (reached the dashboard) at `now`: the first
    /// notification time is kept if there was one.
    pub fn mark_notified(&mut self, now: DateTime<Utc>) {
        self.first_notified_at.get_or_insert(now);
        self.last_notified_at = Some(now);
    }

    /// Records that a reminder was sent at `now`.
    pub fn mark_reminded(&mut self, now: DateTime<Utc>) {
        self.last_notified_at = Some(now);
        self.reminders_sent = self.reminders_sent.saturating_add(1);
    }

    /// Records that the alert was escalated at `now`.
    pub fn mark_escalated(&mut self, now: DateTime<Utc>) {
        self.escalated_at = Some(now);
    }
}

fn validate_by(by: &str) -> Result<(), ValidationError> {
    if by.trim().is_empty()
        || by.chars().count() > MAX_ACK_BY_LEN
        || by.chars().any(char::is_control)
    {
        return Err(ValidationError::new(
            "acknowledged_by",
            "must be 1..=100 characters with no control characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    fn alert() -> Alert {
        Alert::new(
            "a1",
            AlertKey::new(TargetId::new("n1").unwrap(), AlertKind::Stale),
            Severity::Warning,
            "stale",
            t0(),
        )
    }

    #[test]
    fn new_alert_defaults() {
        let a = alert();
        assert_eq!(a.status, AlertStatus::Active);
        assert!(a.is_open());
        assert!(!a.suppressed);
        assert_eq!(a.reminders_sent, 0);
        assert_eq!(a.key().kind, AlertKind::Stale);
        assert_eq!(a.key().to_string(), "n1/stale");
    }

    #[test]
    fn acknowledge_only_from_active() {
        let mut a = alert();
        a.acknowledge("alice", t0()).unwrap();
        assert_eq!(a.status, AlertStatus::Acknowledged);
        assert_eq!(a.acknowledged_by.as_deref(), Some("alice"));
        assert_eq!(a.acknowledged_at, Some(t0()));
        assert_eq!(
            a.acknowledge("bob", t0()),
            Err(AlertError::NotActive {
                status: AlertStatus::Acknowledged
            })
        );
        a.resolve(t0()).unwrap();
        let err = a.acknowledge("bob", t0()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot acknowledge alert with status 'resolved'"
        );
    }

    #[test]
    fn acknowledge_validates_by() {
        let mut a = alert();
        for bad in ["", "  ", "a\nb"] {
            match a.acknowledge(bad, t0()) {
                Err(AlertError::Invalid(e)) => assert_eq!(e.field(), "acknowledged_by"),
                other => panic!("{other:?}"),
            }
        }
        assert!(a.acknowledge(&"x".repeat(101), t0()).is_err());
        assert_eq!(a.status, AlertStatus::Active);
        a.acknowledge(&"x".repeat(100), t0()).unwrap();
    }

    #[test]
    fn resolve_never_reopens() {
        let mut a = alert();
        a.resolve(t0()).unwrap();
        assert_eq!(a.resolved_at, Some(t0()));
        assert_eq!(a.resolve(t0()), Err(AlertError::AlreadyResolved));
        let mut b = alert();
        b.acknowledge("x", t0()).unwrap();
        b.resolve(t0()).unwrap();
        assert!(!b.is_open());
    }

    #[test]
    fn first_notification_is_kept() {
        let mut a = alert();
        assert_eq!(a.first_notified(), None);
        assert!(!a.was_notified());
        a.mark_notified(t0() + chrono::Duration::minutes(5));
        a.mark_reminded(t0() + chrono::Duration::minutes(15));
        a.mark_notified(t0() + chrono::Duration::minutes(20));
        assert_eq!(
            a.first_notified(),
            Some(t0() + chrono::Duration::minutes(5))
        );
        assert_eq!(
            a.last_notified_at,
            Some(t0() + chrono::Duration::minutes(20))
        );
        // stored before first_notified_at existed: notified means at creation
        let mut old = alert();
        old.last_notified_at = Some(t0() + chrono::Duration::minutes(9));
        assert_eq!(old.first_notified(), Some(t0()));
        let v = serde_json::to_value(alert()).unwrap();
        let mut legacy = v.as_object().unwrap().clone();
        legacy.remove("first_notified_at");
        let back: Alert = serde_json::from_value(legacy.into()).unwrap();
        assert_eq!(back.first_notified_at, None);
    }

    #[test]
    fn marks_and_saturation() {
        let mut a = alert();
        a.reminders_sent = u32::MAX;
        a.mark_reminded(t0());
        assert_eq!(a.reminders_sent, u32::MAX);
        assert_eq!(a.last_notified_at, Some(t0()));
        a.mark_escalated(t0());
        assert_eq!(a.escalated_at, Some(t0()));
    }

    #[test]
    fn serde_shape() {
        let a = alert()
            .with_suppression(Some(SuppressReason::ParentDown {
                parent: TargetId::new("sw").unwrap(),
            }))
            .with_check(Some(CheckId::new("ping").unwrap()))
            .with_details(Some(serde_json::json!({"minutes": 20})));
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["kind"], "stale");
        assert_eq!(v["severity"], "warning");
        assert_eq!(v["status"], "active");
        assert_eq!(v["target"], "n1");
        assert_eq!(v["check"], "ping");
        assert_eq!(v["suppressed"], true);
        assert_eq!(
            v["suppressed_reason"],
            serde_json::json!({"reason": "parent_down", "parent": "sw"})
        );
        let back: Alert = serde_json::from_value(v).unwrap();
        assert_eq!(back, a);
        let m = serde_json::to_value(SuppressReason::Maintenance).unwrap();
        assert_eq!(m, serde_json::json!({"reason": "maintenance"}));
        assert_eq!(
            SuppressReason::Maintenance.cause(),
            Some(Cause::Maintenance)
        );
        assert_eq!(SuppressReason::SuppressionWindow.cause(), None);
    }
}
