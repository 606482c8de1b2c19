//! When to notify: on transitions only, plus reminders and escalation.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::alert::{Alert, AlertChange, AlertPolicy, AlertStatus};

/// What a notification says about its alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum NotificationKind {
    /// The alert started (or its suppression ended while it is active).
    Firing,
    /// The alert's condition cleared (recovery notification).
    Resolved,
    /// The alert is still active and unacknowledged.
    Reminder,
    /// The alert has been active past the escalation delay: tell the
    /// external channels.
    Escalation,
}

impl NotificationKind {
    /// The snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            NotificationKind::Firing => "firing",
            NotificationKind::Resolved => "resolved",
            NotificationKind::Reminder => "reminder",
            NotificationKind::Escalation => "escalation",
        }
    }
}

/// The notification a change calls for, if any. Transitions only, and
/// each alert fires at most once:
///
/// - created and not suppressed → `Firing`;
/// - released from suppression while active, nobody having been told of
///   it yet (the book reports an alert that had already fired as
///   [`AlertChange::Resumed`]) → `Firing`;
/// - resolved, when it had been notified → `Resolved`, even while
///   suppressed now (an alert that fired and then clears during
///   maintenance still tells its recovery to whoever heard of it);
///   nothing for an alert nobody heard of;
/// - reminded → `Reminder`; escalated → `Escalation`;
/// - acknowledged, suppressed or resumed → nothing.
pub fn on_change(change: &AlertChange) -> Option<NotificationKind> {
    match change {
        AlertChange::Created(a) if !a.suppressed => Some(NotificationKind::Firing),
        AlertChange::Released(a) if a.status == AlertStatus::Active && !a.suppressed => {
            Some(NotificationKind::Firing)
        }
        AlertChange::Resolved(a) if a.was_notified() => Some(NotificationKind::Resolved),
        AlertChange::Reminded(_) => Some(NotificationKind::Reminder),
        AlertChange::Escalated(_) => Some(NotificationKind::Escalation),
        _ => None,
    }
}

/// Follow-ups due for one alert at some instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Followups {
    /// A reminder is due.
    pub reminder: bool,
    /// Escalation is due.
    pub escalate: bool,
}

impl Followups {
    /// True when anything is due.
    pub const fn any(&self) -> bool {
        self.reminder || self.escalate
    }
}

pub(crate) fn delta(d: std::time::Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// Which follow-ups are due for `alert` at `now`. Nothing is ever due for
/// an alert that is not active (acknowledgement stops both) or is
/// suppressed.
///
/// - Reminder: `reminder_interval` > 0, the alert has been notified, and
///   `now - last_notified_at ≥ reminder_interval` (the first reminder
///   comes an interval after the first notification).
/// - Escalation: once (`escalated_at` is none), when the alert has
///   reached the dashboard and `now - first notification ≥
///   escalation_delay` (seed 004: first to the dashboard, then after N
///   minutes to external channels). Time it spent suppressed before that
///   (maintenance, a down parent, the suppression window) does not count;
///   an alert nobody was told of never escalates.
///
/// ```
/// use std::time::Duration;
/// use chrono::{TimeZone, Utc};
/// use healthcore::alert::{due_followups, Alert, AlertKey, AlertKind, AlertPolicy, Severity};
/// use healthcore::model::TargetId;
/// let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
/// let key = AlertKey::new(TargetId::new("db").unwrap(), AlertKind::Down);
/// let mut a = Alert::new("a1", key, Severity::Critical, "db down", t0);
/// let p = AlertPolicy::default(); // escalation after 300 s
/// assert!(!due_followups(&a, &p, t0 + Duration::from_secs(600)).escalate); // nobody told yet
/// a.mark_notified(t0);
/// assert!(!due_followups(&a, &p, t0 + Duration::from_secs(299)).escalate);
/// assert!(due_followups(&a, &p, t0 + Duration::from_secs(300)).escalate);
/// ```
pub fn due_followups(alert: &Alert, policy: &AlertPolicy, now: DateTime<Utc>) -> Followups {
    due_followups_after(alert, policy, policy.escalation_delay, now)
}

/// [`due_followups`] with the escalation delay given apart from the policy:
/// the delay of the alert's target (seed 004's per-service
/// `escalation_delay_seconds`, see
/// [`AlertChannelConfig`](crate::store::AlertChannelConfig)). The reminder
/// interval still comes from `policy`.
///
/// ```
/// use std::time::Duration;
/// use chrono::{TimeZone, Utc};
/// use healthcore::alert::{due_followups_after, Alert, AlertKey, AlertKind, AlertPolicy, Severity};
/// use healthcore::model::TargetId;
/// let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
/// let key = AlertKey::new(TargetId::new("db").unwrap(), AlertKind::Down);
/// let mut a = Alert::new("a1", key, Severity::Critical, "db down", t0);
/// a.mark_notified(t0);
/// let p = AlertPolicy::default();
/// let one_min = Duration::from_secs(60);
/// assert!(!due_followups_after(&a, &p, one_min, t0 + Duration::from_secs(59)).escalate);
/// assert!(due_followups_after(&a, &p, one_min, t0 + one_min).escalate);
/// ```
pub fn due_followups_after(
    alert: &Alert,
    policy: &AlertPolicy,
    escalation_delay: std::time::Duration,
    now: DateTime<Utc>,
) -> Followups {
    if alert.status != AlertStatus::Active || alert.suppressed {
        return Followups::default();
    }
    let reminder = !policy.reminder_interval.is_zero()
        && alert
            .last_notified_at
            .is_some_and(|t| now.signed_duration_since(t) >= delta(policy.reminder_interval));
    let escalate = alert.escalated_at.is_none()
        && alert
            .first_notified()
            .is_some_and(|t| now.signed_duration_since(t) >= delta(escalation_delay));
    Followups { reminder, escalate }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{AlertKey, AlertKind, Severity, SuppressReason};
    use crate::model::TargetId;
    use chrono::TimeZone;
    use std::time::Duration;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    fn alert() -> Alert {
        let mut a = Alert::new(
            "a1",
            AlertKey::new(TargetId::new("n").unwrap(), AlertKind::Down),
            Severity::Critical,
            "down",
            t0(),
        );
        a.mark_notified(t0());
        a
    }

    fn at(secs: u64) -> DateTime<Utc> {
        t0() + Duration::from_secs(secs)
    }

    fn reminding() -> AlertPolicy {
        AlertPolicy {
            reminder_interval: Duration::from_secs(600),
            ..AlertPolicy::default()
        }
    }

    #[test]
    fn transitions_only() {
        let a = alert();
        let mut fresh = a.clone();
        fresh.first_notified_at = None;
        fresh.last_notified_at = None;
        assert_eq!(
            on_change(&AlertChange::Created(fresh.clone())),
            Some(NotificationKind::Firing)
        );
        let suppressed = fresh
            .clone()
            .with_suppression(Some(SuppressReason::Maintenance));
        assert_eq!(on_change(&AlertChange::Created(suppressed.clone())), None);
        assert_eq!(on_change(&AlertChange::Acknowledged(a.clone())), None);
        assert_eq!(on_change(&AlertChange::Suppressed(a.clone())), None);
        assert_eq!(
            on_change(&AlertChange::Resolved(a.clone())),
            Some(NotificationKind::Resolved)
        );
        // Never notified: no recovery notification. Notified, and
        // suppressed when it clears (s/28: resolved during maintenance):
        // its audience still hears of the recovery.
        assert_eq!(on_change(&AlertChange::Resolved(fresh.clone())), None);
        let was_notified_now_suppressed = a
            .clone()
            .with_suppression(Some(SuppressReason::Maintenance));
        assert_eq!(
            on_change(&AlertChange::Resolved(was_notified_now_suppressed)),
            Some(NotificationKind::Resolved)
        );
        // An alert that already fired and leaves suppression is resumed,
        // never fired a second time.
        assert_eq!(on_change(&AlertChange::Resumed(a.clone())), None);
        assert_eq!(
            on_change(&AlertChange::Reminded(a.clone())),
            Some(NotificationKind::Reminder)
        );
        assert_eq!(
            on_change(&AlertChange::Escalated(a.clone())),
            Some(NotificationKind::Escalation)
        );
        assert_eq!(
            on_change(&AlertChange::Released(a.clone())),
            Some(NotificationKind::Firing)
        );
        let mut acked = a;
        acked.status = AlertStatus::Acknowledged;
        assert_eq!(on_change(&AlertChange::Released(acked)), None);
        assert_eq!(NotificationKind::Escalation.as_str(), "escalation");
    }

    #[test]
    fn reminders_every_interval() {
        let p = reminding();
        let mut a = alert();
        a.escalated_at = Some(t0());
        assert!(!due_followups(&a, &p, at(599)).reminder);
        assert!(due_followups(&a, &p, at(600)).reminder);
        a.mark_reminded(at(600));
        assert!(!due_followups(&a, &p, at(1199)).reminder);
        assert!(due_followups(&a, &p, at(1200)).reminder);
        assert_eq!(a.reminders_sent, 1);
    }

    #[test]
    fn reminders_off_or_never_notified() {
        let mut a = alert();
        assert!(!due_followups(&a, &AlertPolicy::default(), at(100_000)).reminder);
        a.last_notified_at = None;
        assert!(!due_followups(&a, &reminding(), at(100_000)).reminder);
    }

    #[test]
    fn escalation_once_after_delay() {
        let p = AlertPolicy::default();
        let mut a = alert();
        assert!(!due_followups(&a, &p, at(299)).escalate);
        assert!(due_followups(&a, &p, at(300)).escalate);
        a.mark_escalated(at(300));
        assert!(!due_followups(&a, &p, at(10_000)).escalate);
        // A clock that went backwards never escalates early.
        let b = alert();
        assert!(!due_followups(&b, &p, t0() - Duration::from_secs(1000)).escalate);
        // Zero delay: escalate at once.
        let zero = AlertPolicy {
            escalation_delay: Duration::ZERO,
            ..p
        };
        assert!(due_followups(&b, &zero, t0()).escalate);
    }

    /// s/13, s/14, s/16: the escalation delay runs from the first
    /// notification, not from creation, so time held by maintenance or a
    /// down parent before anyone was told does not count.
    #[test]
    fn escalation_is_timed_from_the_first_notification() {
        let p = AlertPolicy::default();
        let mut a = alert();
        a.first_notified_at = None;
        a.last_notified_at = None;
        // held (suppressed) for 15 minutes: nothing due, whatever the age
        a.suppressed = true;
        assert!(!due_followups(&a, &p, at(900)).escalate);
        // released at 900 s: due 300 s later, not at once
        a.suppressed = false;
        assert!(!due_followups(&a, &p, at(900)).escalate, "never told yet");
        a.mark_notified(at(900));
        assert!(!due_followups(&a, &p, at(1199)).escalate);
        assert!(due_followups(&a, &p, at(1200)).escalate);
        // reminders too: an interval after the first notification
        let r = reminding();
        assert!(!due_followups(&a, &r, at(1499)).reminder);
        assert!(due_followups(&a, &r, at(1500)).reminder);
    }

    #[test]
    fn acknowledgement_and_suppression_stop_both() {
        let p = AlertPolicy {
            escalation_delay: Duration::ZERO,
            ..reminding()
        };
        let mut a = alert();
        assert!(due_followups(&a, &p, at(10_000)).any());
        a.acknowledge("ops", at(1)).unwrap();
        assert_eq!(due_followups(&a, &p, at(10_000)), Followups::default());
        let s = alert().with_suppression(Some(SuppressReason::SuppressionWindow));
        assert!(!due_followups(&s, &p, at(10_000)).any());
        let mut r = alert();
        r.resolve(at(1)).unwrap();
        assert!(!due_followups(&r, &p, at(10_000)).any());
    }
}
