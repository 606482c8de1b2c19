//! [`AlertBook`]: the dedup ledger of open alerts that the engine keeps in
//! memory, and the [`AlertChange`]s it reports.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alert::notify::delta;
use crate::alert::{
    Alert, AlertError, AlertKey, AlertKind, AlertPlan, AlertPolicy, AlertStatus,
    DEFAULT_SUPPRESSION_WINDOW, Severity, SuppressReason, due_followups_after,
};
use crate::model::TargetId;

/// A change to one alert, to persist and (see
/// [`on_change`](crate::alert::on_change)) perhaps to notify. Each carries
/// the alert as it is after the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "change", content = "alert", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AlertChange {
    /// A new alert was raised.
    Created(Alert),
    /// An active alert was acknowledged.
    Acknowledged(Alert),
    /// An open alert was resolved.
    Resolved(Alert),
    /// An active alert was escalated to external channels.
    Escalated(Alert),
    /// A reminder was due and has been recorded.
    Reminded(Alert),
    /// An open alert became suppressed, or its reason changed.
    Suppressed(Alert),
    /// An open alert's suppression ended before anyone was told of it: if
    /// active, it fires now (its first notification).
    Released(Alert),
    /// An open alert that had already been notified left suppression: it
    /// is live again (reminders and escalation resume), and nothing is
    /// sent again: an alert fires once.
    Resumed(Alert),
}

impl AlertChange {
    /// The alert after the change.
    pub fn alert(&self) -> &Alert {
        match self {
            AlertChange::Created(a)
            | AlertChange::Acknowledged(a)
            | AlertChange::Resolved(a)
            | AlertChange::Escalated(a)
            | AlertChange::Reminded(a)
            | AlertChange::Suppressed(a)
            | AlertChange::Released(a)
            | AlertChange::Resumed(a) => a,
        }
    }

    /// The alert after the change, by value.
    pub fn into_alert(self) -> Alert {
        match self {
            AlertChange::Created(a)
            | AlertChange::Acknowledged(a)
            | AlertChange::Resolved(a)
            | AlertChange::Escalated(a)
            | AlertChange::Reminded(a)
            | AlertChange::Suppressed(a)
            | AlertChange::Released(a)
            | AlertChange::Resumed(a) => a,
        }
    }
}

/// Per target: its open alerts (a handful at most) and when each kind was
/// last resolved, for the suppression window.
#[derive(Debug, Clone, Default)]
struct Slot {
    open: Vec<Alert>,
    resolved_at: Vec<(AlertKind, DateTime<Utc>)>,
}

impl Slot {
    fn find(&self, kind: &AlertKind) -> Option<usize> {
        self.open.iter().position(|a| &a.kind == kind)
    }

    fn last_resolved(&self, kind: &AlertKind) -> Option<DateTime<Utc>> {
        self.resolved_at
            .iter()
            .find(|(k, _)| k == kind)
            .map(|(_, t)| *t)
    }

    fn record_resolved(&mut self, kind: &AlertKind, at: DateTime<Utc>) {
        match self.resolved_at.iter_mut().find(|(k, _)| k == kind) {
            Some(entry) => entry.1 = entry.1.max(at),
            None => self.resolved_at.push((kind.clone(), at)),
        }
    }

    fn is_empty(&self) -> bool {
        self.open.is_empty() && self.resolved_at.is_empty()
    }
}

/// The pure dedup ledger: at most one unresolved alert per [`AlertKey`],
/// plus when each key was last resolved (for the suppression window).
///
/// Ids come from the caller; the book has no randomness and no clock. It
/// assumes the engine delivers every notification that
/// [`on_change`](crate::alert::on_change) asks for: a created, unsuppressed
/// alert counts as notified at creation.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use healthcore::alert::{AlertBook, AlertChange, AlertKey, AlertKind, Severity};
/// use healthcore::model::TargetId;
/// let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
/// let key = AlertKey::new(TargetId::new("n1").unwrap(), AlertKind::Offline);
/// let mut book = AlertBook::default();
/// let c = book.raise(key.clone(), Severity::Critical, "n1 offline".into(), None, t0, "a1".into(), None);
/// assert!(matches!(c, Some(AlertChange::Created(_))));
/// // No duplicate while it is open.
/// assert!(book.raise(key.clone(), Severity::Critical, "again".into(), None, t0, "a2".into(), None).is_none());
/// assert!(matches!(book.resolve(&key, t0), Some(AlertChange::Resolved(_))));
/// assert!(book.is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct AlertBook {
    suppression_window: Duration,
    targets: HashMap<TargetId, Slot>,
    open: usize,
}

impl Default for AlertBook {
    /// An empty book with the default 5 min suppression window.
    fn default() -> Self {
        Self::new(DEFAULT_SUPPRESSION_WINDOW)
    }
}

impl AlertBook {
    /// An empty book with this suppression window.
    pub fn new(suppression_window: Duration) -> Self {
        Self {
            suppression_window,
            targets: HashMap::new(),
            open: 0,
        }
    }

    /// An empty book using the policy's suppression window.
    pub fn from_policy(policy: &AlertPolicy) -> Self {
        Self::new(policy.suppression_window)
    }

    /// Changes the suppression window (e.g. on config reload).
    pub fn set_suppression_window(&mut self, window: Duration) {
        self.suppression_window = window;
    }

    /// The suppression window in use.
    pub fn suppression_window(&self) -> Duration {
        self.suppression_window
    }

    /// Number of open alerts.
    pub fn len(&self) -> usize {
        self.open
    }

    /// True when no alert is open.
    pub fn is_empty(&self) -> bool {
        self.open == 0
    }

    fn within_window(&self, slot: Option<&Slot>, kind: &AlertKind, now: DateTime<Utc>) -> bool {
        slot.and_then(|s| s.last_resolved(kind))
            .is_some_and(|t| now.signed_duration_since(t) < delta(self.suppression_window))
    }

    /// Raises an alert for `key` unless one is open (then `None`: no
    /// duplicate). `suppress` records it without notifying (maintenance,
    /// down parent); otherwise a raise within the suppression window after
    /// the key was last resolved is suppressed with
    /// [`SuppressReason::SuppressionWindow`].
    #[allow(clippy::too_many_arguments)]
    pub fn raise(
        &mut self,
        key: AlertKey,
        severity: Severity,
        message: String,
        details: Option<serde_json::Value>,
        now: DateTime<Utc>,
        id: String,
        suppress: Option<SuppressReason>,
    ) -> Option<AlertChange> {
        let alert = Alert::new(id, key, severity, message, now)
            .with_details(details)
            .with_suppression(suppress);
        self.raise_alert(alert, now)
    }

    /// Raises a ready-made alert (e.g. with its `check` set) under the same
    /// rules as [`AlertBook::raise`]. Its status is taken as active and its
    /// notification bookkeeping is reset; `None` when its key is open.
    pub fn raise_alert(&mut self, mut alert: Alert, now: DateTime<Utc>) -> Option<AlertChange> {
        let slot = self.targets.get(&alert.target);
        if slot.is_some_and(|s| s.find(&alert.kind).is_some()) {
            return None;
        }
        if alert.suppressed_reason.is_none() && self.within_window(slot, &alert.kind, now) {
            alert.suppressed_reason = Some(SuppressReason::SuppressionWindow);
        }
        alert.suppressed = alert.suppressed_reason.is_some();
        alert.status = AlertStatus::Active;
        alert.acknowledged_at = None;
        alert.acknowledged_by = None;
        alert.resolved_at = None;
        alert.escalated_at = None;
        alert.reminders_sent = 0;
        alert.first_notified_at = (!alert.suppressed).then_some(now);
        alert.last_notified_at = alert.first_notified_at;
        self.targets
            .entry(alert.target.clone())
            .or_default()
            .open
            .push(alert.clone());
        self.open = self.open.saturating_add(1);
        Some(AlertChange::Created(alert))
    }

    /// Resolves the open alert of `key`, if any, and remembers when (for
    /// the suppression window).
    pub fn resolve(&mut self, key: &AlertKey, now: DateTime<Utc>) -> Option<AlertChange> {
        let slot = self.targets.get_mut(&key.target)?;
        let i = slot.find(&key.kind)?;
        let mut alert = slot.open.swap_remove(i);
        self.open = self.open.saturating_sub(1);
        // Open alerts always resolve; the error case cannot happen here.
        let _ = alert.resolve(now);
        slot.record_resolved(&alert.kind, now);
        Some(AlertChange::Resolved(alert))
    }

    /// Resolves every open alert of `target` (e.g. when it is retired or
    /// deleted) and forgets it.
    pub fn resolve_target(&mut self, target: &TargetId, now: DateTime<Utc>) -> Vec<AlertChange> {
        let Some(slot) = self.targets.remove(target) else {
            return Vec::new();
        };
        self.open = self.open.saturating_sub(slot.open.len());
        slot.open
            .into_iter()
            .map(|mut a| {
                let _ = a.resolve(now);
                AlertChange::Resolved(a)
            })
            .collect()
    }

    /// Acknowledges the open alert with this id. Errors: `NotFound` when
    /// no open alert has it, `NotActive` when it is already acknowledged,
    /// `Invalid` for a bad `by`.
    pub fn acknowledge(
        &mut self,
        id: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<AlertChange, AlertError> {
        let alert = self
            .targets
            .values_mut()
            .flat_map(|s| s.open.iter_mut())
            .find(|a| a.id == id)
            .ok_or_else(|| AlertError::NotFound { id: id.to_owned() })?;
        alert.acknowledge(by, now)?;
        Ok(AlertChange::Acknowledged(alert.clone()))
    }

    /// Escalates the open alert of `key` now, whatever its delay (a target
    /// whose escalation delay is 0 escalates as it first fires): records
    /// `escalated_at` and returns the `Escalated` change, the same one the
    /// timers make after a delay. `None` when no alert of `key` is open,
    /// or it is not active, is suppressed, was never notified or is
    /// already escalated.
    pub fn escalate_now(&mut self, key: &AlertKey, now: DateTime<Utc>) -> Option<AlertChange> {
        let slot = self.targets.get_mut(&key.target)?;
        let i = slot.find(&key.kind)?;
        let alert = slot.open.get_mut(i)?;
        if alert.status != AlertStatus::Active
            || alert.suppressed
            || alert.escalated_at.is_some()
            || !alert.was_notified()
        {
            return None;
        }
        alert.mark_escalated(now);
        Some(AlertChange::Escalated(alert.clone()))
    }

    /// Records that the open alert with this id went to external channels
    /// at `now`, so no escalation follows. False when no open alert has
    /// the id.
    pub fn mark_escalated(&mut self, id: &str, now: DateTime<Utc>) -> bool {
        match self
            .targets
            .values_mut()
            .flat_map(|s| s.open.iter_mut())
            .find(|a| a.id == id)
        {
            Some(a) => {
                a.mark_escalated(now);
                true
            }
            None => false,
        }
    }

    /// The open alert of `key`.
    pub fn get(&self, key: &AlertKey) -> Option<&Alert> {
        let slot = self.targets.get(&key.target)?;
        slot.open.iter().find(|a| a.kind == key.kind)
    }

    /// The open alert with this id.
    pub fn get_by_id(&self, id: &str) -> Option<&Alert> {
        self.open_alerts().find(|a| a.id == id)
    }

    /// True when `target` has an open alert of `kind` (no allocation).
    pub fn is_open(&self, target: &TargetId, kind: &AlertKind) -> bool {
        self.targets
            .get(target)
            .is_some_and(|s| s.find(kind).is_some())
    }

    /// Replaces the open alerts of `target` with `alerts` (the store's
    /// view, when another instance may have changed them); resolved ones
    /// only seed the suppression window, as in [`restore`](Self::restore).
    pub fn replace_open(&mut self, target: &TargetId, alerts: Vec<Alert>) -> Vec<Alert> {
        if let Some(slot) = self.targets.get_mut(target) {
            self.open = self.open.saturating_sub(slot.open.len());
            slot.open.clear();
        }
        self.restore(alerts.into_iter().filter(|a| &a.target == target))
    }

    /// The open alerts of `target`.
    pub fn open_for(&self, target: &TargetId) -> &[Alert] {
        self.targets.get(target).map_or(&[], |s| s.open.as_slice())
    }

    /// Every open alert, in no particular order.
    pub fn open_alerts(&self) -> impl Iterator<Item = &Alert> {
        self.targets.values().flat_map(|s| s.open.iter())
    }

    /// The part of `plan` that would change something for `target`: kinds
    /// to raise that are not open, kinds to resolve that are. Lets the
    /// engine skip building messages on the steady path (no allocation).
    pub fn pending(&self, target: &TargetId, plan: &AlertPlan) -> AlertPlan {
        let mut out = *plan;
        let slot = self.targets.get(target);
        for kind in plan.raise.iter() {
            if slot.is_some_and(|s| s.find(&kind).is_some()) {
                out.raise.remove(&kind);
            }
        }
        for kind in plan.resolve.iter() {
            if slot.is_none_or(|s| s.find(&kind).is_none()) {
                out.resolve.remove(&kind);
            }
        }
        out
    }

    /// Loads alerts from a store (e.g. at start): open ones become the
    /// ledger, resolved ones seed the suppression window. Returns the open
    /// alerts that were dropped as duplicates of a key already open (the
    /// oldest open alert per key is kept), so the caller can resolve them.
    pub fn restore(&mut self, alerts: impl IntoIterator<Item = Alert>) -> Vec<Alert> {
        let mut dropped = Vec::new();
        for alert in alerts {
            let slot = self.targets.entry(alert.target.clone()).or_default();
            if !alert.is_open() {
                if let Some(at) = alert.resolved_at {
                    slot.record_resolved(&alert.kind, at);
                }
                continue;
            }
            match slot.find(&alert.kind) {
                None => {
                    slot.open.push(alert);
                    self.open = self.open.saturating_add(1);
                }
                Some(i) => {
                    let keep_new = slot.open.get(i).is_some_and(|old| {
                        (alert.created_at, &alert.id) < (old.created_at, &old.id)
                    });
                    if keep_new {
                        if let Some(old) = slot.open.get_mut(i) {
                            dropped.push(std::mem::replace(old, alert));
                        }
                    } else {
                        dropped.push(alert);
                    }
                }
            }
        }
        self.targets.retain(|_, s| !s.is_empty());
        dropped
    }

    /// Sets why `target`'s open alerts are suppressed (maintenance, a down
    /// parent) or, with `None`, that they are not. Returns a `Suppressed`
    /// change for each alert newly suppressed (or whose reason changed),
    /// and for each whose suppression ended a `Released` change when
    /// nobody had been told of it (it fires now if active) or a `Resumed`
    /// one when it had already fired (nothing is sent again). An alert
    /// still inside the suppression window after a recent resolve stays
    /// suppressed for that reason.
    pub fn set_suppression(
        &mut self,
        target: &TargetId,
        reason: Option<&SuppressReason>,
        now: DateTime<Utc>,
    ) -> Vec<AlertChange> {
        let mut changes = Vec::new();
        let window = delta(self.suppression_window);
        let Some(slot) = self.targets.get_mut(target) else {
            return changes;
        };
        let Slot { open, resolved_at } = slot;
        for alert in open.iter_mut() {
            let in_window = resolved_at
                .iter()
                .find(|(k, _)| *k == alert.kind)
                .is_some_and(|(_, t)| now.signed_duration_since(*t) < window);
            let wanted = match reason {
                Some(r) => Some(r.clone()),
                None if in_window && alert.suppressed => Some(SuppressReason::SuppressionWindow),
                None => None,
            };
            if wanted == alert.suppressed_reason {
                continue;
            }
            alert.suppressed = wanted.is_some();
            alert.suppressed_reason = wanted;
            if alert.suppressed {
                changes.push(AlertChange::Suppressed(alert.clone()));
            } else {
                changes.push(release(alert, now));
            }
        }
        changes
    }

    /// Runs the timers at `now`: releases alerts whose suppression window
    /// has passed (they fire if still active and never notified), then records the reminders
    /// and escalations that [`due_followups`](crate::alert::due_followups) says are due. Returns the
    /// changes, oldest alert first; forgets resolve times older than the
    /// window. Allocates nothing when nothing is due.
    pub fn followups(&mut self, policy: &AlertPolicy, now: DateTime<Utc>) -> Vec<AlertChange> {
        self.followups_by(policy, now, |_| policy.escalation_delay)
    }

    /// [`AlertBook::followups`] with each target's own escalation delay:
    /// `escalation_delay(target)` is asked once per target that has open
    /// alerts (seed 004: one alert config, and so one delay, per service).
    /// An alert escalates once, never before its target's delay has passed
    /// since it first reached the dashboard (time held suppressed before
    /// that does not count), and never once acknowledged.
    ///
    /// ```
    /// use std::time::Duration;
    /// use chrono::{TimeZone, Utc};
    /// use healthcore::alert::{AlertBook, AlertChange, AlertKey, AlertKind, AlertPolicy, Severity};
    /// use healthcore::model::TargetId;
    /// let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    /// let (db, web) = (TargetId::new("db").unwrap(), TargetId::new("web").unwrap());
    /// let mut book = AlertBook::default();
    /// for (i, t) in [&db, &web].into_iter().enumerate() {
    ///     let key = AlertKey::new(t.clone(), AlertKind::Down);
    ///     book.raise(key, Severity::Critical, "down".into(), None, t0, format!("a{i}"), None);
    /// }
    /// // db escalates after 1 min, everything else after the policy's 5 min
    /// let delay = |t: &TargetId| if t.as_str() == "db" { Duration::from_secs(60) } else { Duration::from_secs(300) };
    /// let p = AlertPolicy::default();
    /// let c = book.followups_by(&p, t0 + Duration::from_secs(60), delay);
    /// assert_eq!(c.len(), 1);
    /// assert!(matches!(&c[0], AlertChange::Escalated(a) if a.target == db));
    /// assert_eq!(book.followups_by(&p, t0 + Duration::from_secs(300), delay).len(), 1);
    /// ```
    pub fn followups_by(
        &mut self,
        policy: &AlertPolicy,
        now: DateTime<Utc>,
        escalation_delay: impl Fn(&TargetId) -> Duration,
    ) -> Vec<AlertChange> {
        self.followups_where(policy, now, escalation_delay, |_| true)
    }

    /// [`AlertBook::followups_by`] for the alerts whose condition still
    /// holds: `holds(alert)` is asked for each open alert, and one for which
    /// it says `false` (its condition has cleared; the caller resolves it
    /// next) is left untouched: never released from a suppression window,
    /// reminded or escalated, so nobody is told about a condition that is
    /// over. It also lets a caller run the timers of some targets only
    /// without touching the others' alerts.
    ///
    /// ```
    /// use std::time::Duration;
    /// use chrono::{TimeZone, Utc};
    /// use healthcore::alert::{AlertBook, AlertKey, AlertKind, AlertPolicy, Severity};
    /// use healthcore::model::TargetId;
    /// let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    /// let key = AlertKey::new(TargetId::new("web").unwrap(), AlertKind::Down);
    /// let mut book = AlertBook::default();
    /// book.raise(key, Severity::Critical, "down".into(), None, t0, "a1".into(), None);
    /// let p = AlertPolicy::default();
    /// let later = t0 + Duration::from_secs(600);
    /// // the target recovered: its down alert is not escalated
    /// assert!(book.followups_where(&p, later, |_| p.escalation_delay, |_| false).is_empty());
    /// assert_eq!(book.followups_where(&p, later, |_| p.escalation_delay, |_| true).len(), 1);
    /// ```
    pub fn followups_where(
        &mut self,
        policy: &AlertPolicy,
        now: DateTime<Utc>,
        escalation_delay: impl Fn(&TargetId) -> Duration,
        holds: impl Fn(&Alert) -> bool,
    ) -> Vec<AlertChange> {
        let mut changes = Vec::new();
        let window = delta(self.suppression_window);
        for (target, slot) in self.targets.iter_mut() {
            let Slot { open, resolved_at } = slot;
            let delay = if open.is_empty() {
                Duration::ZERO
            } else {
                escalation_delay(target)
            };
            for alert in open.iter_mut() {
                if !holds(alert) {
                    continue;
                }
                if alert.suppressed_reason == Some(SuppressReason::SuppressionWindow) {
                    let still = resolved_at
                        .iter()
                        .find(|(k, _)| *k == alert.kind)
                        .is_some_and(|(_, t)| now.signed_duration_since(*t) < window);
                    if !still {
                        alert.suppressed = false;
                        alert.suppressed_reason = None;
                        changes.push(release(alert, now));
                        continue;
                    }
                }
                let due = due_followups_after(alert, policy, delay, now);
                if due.escalate {
                    alert.mark_escalated(now);
                    changes.push(AlertChange::Escalated(alert.clone()));
                }
                if due.reminder {
                    alert.mark_reminded(now);
                    changes.push(AlertChange::Reminded(alert.clone()));
                }
            }
            resolved_at.retain(|(_, t)| now.signed_duration_since(*t) < window);
        }
        self.targets.retain(|_, s| !s.is_empty());
        changes.sort_by(|a, b| {
            let (a, b) = (a.alert(), b.alert());
            (a.created_at, &a.id).cmp(&(b.created_at, &b.id))
        });
        changes
    }
}

/// The change for an alert whose suppression just ended: `Released` (and
/// notified now, if active) when nobody had been told of it, `Resumed`
/// when it had already fired.
fn release(alert: &mut Alert, now: DateTime<Utc>) -> AlertChange {
    if alert.was_notified() {
        return AlertChange::Resumed(alert.clone());
    }
    if alert.status == AlertStatus::Active {
        alert.mark_notified(now);
    }
    AlertChange::Released(alert.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{NotificationKind, due_followups, on_change};
    use chrono::TimeZone;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }
    fn at(secs: u64) -> DateTime<Utc> {
        t0() + Duration::from_secs(secs)
    }
    fn tid(s: &str) -> TargetId {
        TargetId::new(s).unwrap()
    }
    fn key(t: &str, k: AlertKind) -> AlertKey {
        AlertKey::new(tid(t), k)
    }
    fn raise(
        book: &mut AlertBook,
        k: &AlertKey,
        now: DateTime<Utc>,
        id: &str,
    ) -> Option<AlertChange> {
        book.raise(
            k.clone(),
            Severity::Warning,
            "msg".into(),
            None,
            now,
            id.into(),
            None,
        )
    }

    #[test]
    fn dedup_by_key_not_by_target() {
        let mut b = AlertBook::default();
        let stale = key("n1", AlertKind::Stale);
        let low = key("n1", AlertKind::LowScore);
        let other = key("n2", AlertKind::Stale);
        assert!(raise(&mut b, &stale, t0(), "1").is_some());
        assert!(raise(&mut b, &stale, t0(), "2").is_none());
        assert!(raise(&mut b, &low, t0(), "3").is_some());
        assert!(raise(&mut b, &other, t0(), "4").is_some());
        assert_eq!(b.len(), 3);
        assert_eq!(b.get(&stale).unwrap().id, "1");
        assert_eq!(b.get_by_id("3").unwrap().kind, AlertKind::LowScore);
        assert_eq!(b.open_for(&tid("n1")).len(), 2);
        assert!(b.open_for(&tid("zz")).is_empty());
        assert!(b.is_open(&tid("n2"), &AlertKind::Stale));
        assert!(!b.is_open(&tid("n2"), &AlertKind::Offline));
    }

    #[test]
    fn acknowledged_alert_still_dedups_and_resolves() {
        let mut b = AlertBook::default();
        let k = key("n1", AlertKind::Down);
        raise(&mut b, &k, t0(), "1").unwrap();
        let c = b.acknowledge("1", "alice", at(1)).unwrap();
        assert_eq!(c.alert().status, AlertStatus::Acknowledged);
        assert_eq!(on_change(&c), None);
        assert!(raise(&mut b, &k, at(2), "2").is_none());
        assert!(matches!(
            b.acknowledge("1", "bob", at(3)),
            Err(AlertError::NotActive {
                status: AlertStatus::Acknowledged
            })
        ));
        let r = b.resolve(&k, at(4)).unwrap();
        assert_eq!(r.alert().status, AlertStatus::Resolved);
        assert_eq!(r.alert().resolved_at, Some(at(4)));
        assert_eq!(on_change(&r), Some(NotificationKind::Resolved));
        assert!(matches!(
            b.acknowledge("1", "bob", at(5)),
            Err(AlertError::NotFound { .. })
        ));
        assert!(b.resolve(&k, at(5)).is_none());
    }

    #[test]
    fn created_is_notified_unless_suppressed() {
        let mut b = AlertBook::default();
        let c = raise(&mut b, &key("a", AlertKind::Down), t0(), "1").unwrap();
        assert_eq!(on_change(&c), Some(NotificationKind::Firing));
        assert_eq!(c.alert().last_notified_at, Some(t0()));
        let c = b
            .raise(
                key("b", AlertKind::Down),
                Severity::Critical,
                "m".into(),
                Some(serde_json::json!({"x": 1})),
                t0(),
                "2".into(),
                Some(SuppressReason::Maintenance),
            )
            .unwrap();
        assert!(c.alert().suppressed);
        assert_eq!(
            c.alert().suppressed_reason,
            Some(SuppressReason::Maintenance)
        );
        assert_eq!(c.alert().last_notified_at, None);
        assert_eq!(on_change(&c), None);
        // Resolving an alert nobody heard of says nothing.
        let r = b.resolve(&key("b", AlertKind::Down), at(1)).unwrap();
        assert_eq!(on_change(&r), None);
    }

    #[test]
    fn suppression_window_after_resolve() {
        let mut b = AlertBook::new(Duration::from_secs(300));
        let k = key("n", AlertKind::Down);
        raise(&mut b, &k, t0(), "1").unwrap();
        b.resolve(&k, at(10)).unwrap();
        let again = raise(&mut b, &k, at(100), "2").unwrap();
        assert_eq!(
            again.alert().suppressed_reason,
            Some(SuppressReason::SuppressionWindow)
        );
        assert_eq!(on_change(&again), None);
        // Still open when the window ends: it fires then.
        let p = AlertPolicy::default();
        assert!(b.followups(&p, at(309)).is_empty());
        let changes = b.followups(&p, at(310));
        assert_eq!(changes.len(), 1);
        assert!(matches!(&changes[0], AlertChange::Released(a) if !a.suppressed));
        assert_eq!(on_change(&changes[0]), Some(NotificationKind::Firing));
        // A raise after the window is a plain firing alert.
        b.resolve(&k, at(400)).unwrap();
        b.followups(&p, at(700));
        let late = raise(&mut b, &k, at(701), "3").unwrap();
        assert!(!late.alert().suppressed);
        // Zero window: never suppressed.
        let mut z = AlertBook::new(Duration::ZERO);
        raise(&mut z, &k, t0(), "1").unwrap();
        z.resolve(&k, t0()).unwrap();
        assert!(!raise(&mut z, &k, t0(), "2").unwrap().alert().suppressed);
    }

    /// A held alert whose condition has cleared is neither released (as
    /// firing) nor reminded nor escalated by the timers; the others are.
    #[test]
    fn followups_leave_cleared_alerts_alone() {
        let p = AlertPolicy {
            reminder_interval: Duration::from_secs(300),
            ..AlertPolicy::default()
        };
        let mut b = AlertBook::new(Duration::from_secs(300));
        let down = key("n", AlertKind::Down);
        let stale = key("m", AlertKind::Stale);
        raise(&mut b, &down, t0(), "1").unwrap();
        b.resolve(&down, at(1)).unwrap();
        // raised again inside the window: held
        assert!(raise(&mut b, &down, at(2), "2").unwrap().alert().suppressed);
        raise(&mut b, &stale, t0(), "3").unwrap();
        let cleared = |a: &Alert| a.kind != AlertKind::Down;
        let c = b.followups_where(&p, at(1000), |_| p.escalation_delay, cleared);
        assert!(c.iter().all(|c| c.alert().id == "3"), "{c:?}");
        assert_eq!(c.len(), 2, "escalation and reminder of the live alert");
        let held = b.get(&down).unwrap();
        assert!(held.suppressed);
        assert_eq!(held.last_notified_at, None);
        assert_eq!(held.escalated_at, None);
        // once it holds again, the window's end releases it
        let c = b.followups_where(&p, at(1001), |_| p.escalation_delay, |_| true);
        assert!(matches!(&c[..], [AlertChange::Released(a)] if a.id == "2"));
    }

    #[test]
    fn window_suppressed_then_resolved_is_silent() {
        let mut b = AlertBook::new(Duration::from_secs(300));
        let k = key("n", AlertKind::Down);
        raise(&mut b, &k, t0(), "1").unwrap();
        b.resolve(&k, at(1)).unwrap();
        raise(&mut b, &k, at(2), "2").unwrap();
        let r = b.resolve(&k, at(3)).unwrap();
        assert_eq!(on_change(&r), None);
    }

    #[test]
    fn maintenance_suppression_and_release() {
        let mut b = AlertBook::default();
        let t = tid("n");
        raise(&mut b, &key("n", AlertKind::Down), t0(), "1").unwrap();
        raise(&mut b, &key("n", AlertKind::LowScore), t0(), "2").unwrap();
        let c = b.set_suppression(&t, Some(&SuppressReason::Maintenance), at(10));
        assert_eq!(c.len(), 2);
        assert!(c.iter().all(|c| matches!(c, AlertChange::Suppressed(_))));
        assert!(c.iter().all(|c| on_change(c).is_none()));
        // Same reason again: nothing changes.
        assert!(
            b.set_suppression(&t, Some(&SuppressReason::Maintenance), at(11))
                .is_empty()
        );
        // Suppressed alerts neither remind nor escalate.
        let p = AlertPolicy {
            reminder_interval: Duration::from_secs(300),
            ..AlertPolicy::default()
        };
        assert!(b.followups(&p, at(10_000)).is_empty());
        b.acknowledge("2", "ops", at(20)).unwrap();
        let c = b.set_suppression(&t, None, at(30));
        assert_eq!(c.len(), 2);
        // both fired at creation: resumed, never fired a second time
        assert!(c.iter().all(|c| matches!(c, AlertChange::Resumed(_))));
        assert!(c.iter().all(|c| on_change(c).is_none()));
        assert!(b.set_suppression(&t, None, at(31)).is_empty());
        assert!(b.set_suppression(&tid("zz"), None, at(31)).is_empty());
    }

    /// An alert raised while held fires once, when the hold ends; one that
    /// already fired is resumed silently however often it is held again
    /// (s/39: a child alert fired a second time when its parent
    /// recovered).
    #[test]
    fn an_alert_fires_once_however_often_it_is_held() {
        let mut b = AlertBook::default();
        let t = tid("n");
        let held = b
            .raise(
                key("n", AlertKind::Down),
                Severity::Critical,
                "m".into(),
                None,
                t0(),
                "1".into(),
                Some(SuppressReason::Maintenance),
            )
            .unwrap();
        assert_eq!(on_change(&held), None);
        let c = b.set_suppression(&t, None, at(600));
        assert!(matches!(&c[..], [AlertChange::Released(_)]));
        assert_eq!(on_change(&c[0]), Some(NotificationKind::Firing));
        assert_eq!(c[0].alert().first_notified_at, Some(at(600)));
        let parent = SuppressReason::ParentDown { parent: tid("sw") };
        for i in 1..4 {
            b.set_suppression(&t, Some(&parent), at(600 + i * 100));
            let c = b.set_suppression(&t, None, at(650 + i * 100));
            assert!(matches!(&c[..], [AlertChange::Resumed(_)]), "{c:?}");
            assert_eq!(on_change(&c[0]), None);
            assert_eq!(c[0].alert().first_notified_at, Some(at(600)));
            assert_eq!(c[0].alert().last_notified_at, Some(at(600)));
        }
        // an acknowledged alert nobody was told of is released silently
        let mut q = AlertBook::default();
        q.raise(
            key("q", AlertKind::Down),
            Severity::Critical,
            "m".into(),
            None,
            t0(),
            "q".into(),
            Some(SuppressReason::Maintenance),
        );
        q.acknowledge("q", "ops", at(1)).unwrap();
        let c = q.set_suppression(&tid("q"), None, at(2));
        assert!(matches!(&c[..], [AlertChange::Released(_)]));
        assert_eq!(on_change(&c[0]), None);
        assert!(!c[0].alert().was_notified());
    }

    /// A zero escalation delay escalates as the alert first fires: the
    /// same change the timers make, just at once, and only once.
    #[test]
    fn escalate_now_once_and_only_when_told() {
        let mut b = AlertBook::default();
        let k = key("n", AlertKind::Down);
        raise(&mut b, &k, t0(), "1").unwrap();
        let c = b.escalate_now(&k, t0()).unwrap();
        assert!(matches!(&c, AlertChange::Escalated(a) if a.escalated_at == Some(t0())));
        assert_eq!(on_change(&c), Some(NotificationKind::Escalation));
        assert!(b.escalate_now(&k, at(1)).is_none(), "once");
        assert!(b.followups(&AlertPolicy::default(), at(10_000)).is_empty());
        let held = key("h", AlertKind::Down);
        b.raise(
            held.clone(),
            Severity::Critical,
            "m".into(),
            None,
            t0(),
            "2".into(),
            Some(SuppressReason::Maintenance),
        );
        assert!(b.escalate_now(&held, t0()).is_none(), "nobody told yet");
        assert!(b.escalate_now(&key("zz", AlertKind::Down), t0()).is_none());
    }

    #[test]
    fn release_keeps_window_suppression() {
        let mut b = AlertBook::new(Duration::from_secs(300));
        let k = key("n", AlertKind::Down);
        raise(&mut b, &k, t0(), "1").unwrap();
        b.resolve(&k, at(1)).unwrap();
        raise(&mut b, &k, at(2), "2").unwrap();
        assert!(b.set_suppression(&k.target, None, at(3)).is_empty());
        let c = b.set_suppression(
            &k.target,
            Some(&SuppressReason::ParentDown { parent: tid("sw") }),
            at(4),
        );
        assert_eq!(c.len(), 1);
        let c = b.set_suppression(&k.target, None, at(5));
        assert_eq!(
            c[0].alert().suppressed_reason,
            Some(SuppressReason::SuppressionWindow)
        );
        assert_eq!(on_change(&c[0]), None);
    }

    #[test]
    fn escalation_and_reminders_through_the_book() {
        let p = AlertPolicy {
            reminder_interval: Duration::from_secs(600),
            escalation_delay: Duration::from_secs(300),
            ..AlertPolicy::default()
        };
        let mut b = AlertBook::from_policy(&p);
        let k = key("n", AlertKind::Down);
        raise(&mut b, &k, t0(), "1").unwrap();
        assert!(b.followups(&p, at(299)).is_empty());
        let c = b.followups(&p, at(300));
        assert_eq!(c.len(), 1);
        assert_eq!(on_change(&c[0]), Some(NotificationKind::Escalation));
        assert!(b.followups(&p, at(301)).is_empty());
        let c = b.followups(&p, at(600));
        assert_eq!(on_change(&c[0]), Some(NotificationKind::Reminder));
        assert_eq!(c[0].alert().reminders_sent, 1);
        assert!(b.followups(&p, at(1199)).is_empty());
        assert_eq!(b.followups(&p, at(1200)).len(), 1);
        b.acknowledge("1", "ops", at(1201)).unwrap();
        assert!(b.followups(&p, at(100_000)).is_empty());
    }

    #[test]
    fn per_target_escalation_delay() {
        let p = AlertPolicy::default();
        let mut b = AlertBook::from_policy(&p);
        let fast = key("fast", AlertKind::Down);
        let slow = key("slow", AlertKind::Down);
        let zero = key("zero", AlertKind::Down);
        raise(&mut b, &fast, t0(), "f").unwrap();
        raise(&mut b, &slow, t0(), "s").unwrap();
        raise(&mut b, &zero, t0(), "z").unwrap();
        let delay = |t: &TargetId| match t.as_str() {
            "fast" => Duration::from_secs(60),
            "zero" => Duration::ZERO,
            _ => Duration::from_secs(3600),
        };
        let ids = |c: Vec<AlertChange>| -> Vec<String> {
            c.iter()
                .filter(|c| matches!(c, AlertChange::Escalated(_)))
                .map(|c| c.alert().id.clone())
                .collect()
        };
        assert_eq!(ids(b.followups_by(&p, t0(), delay)), vec!["z"]);
        assert!(!b.mark_escalated("nope", t0()));
        assert!(ids(b.followups_by(&p, at(59), delay)).is_empty());
        assert_eq!(ids(b.followups_by(&p, at(60), delay)), vec!["f"]);
        // the policy's 300 s is not the slow target's delay
        assert!(ids(b.followups_by(&p, at(300), delay)).is_empty());
        b.acknowledge("s", "ops", at(301)).unwrap();
        assert!(ids(b.followups_by(&p, at(100_000), delay)).is_empty());
        // the plain form uses the policy's delay for everyone
        let mut plain = AlertBook::from_policy(&p);
        raise(&mut plain, &slow, t0(), "s2").unwrap();
        assert!(plain.followups(&p, at(299)).is_empty());
        assert_eq!(ids(plain.followups(&p, at(300))), vec!["s2"]);
    }

    proptest! {
        /// Whatever each target's delay and whenever the ticks come, an
        /// alert escalates at most once, never before its own target's
        /// delay has passed since it was raised, never after it was
        /// acknowledged, and always by the first tick at or past the delay
        /// while it is active.
        #[test]
        fn escalation_honours_each_targets_delay(
            delays in proptest::collection::vec(0u64..2_000, 3),
            raised in proptest::collection::vec(0u64..1_000, 3),
            acked in proptest::collection::vec(proptest::option::of(0u64..3_000), 3),
            ticks in proptest::collection::vec(1u64..300, 1..40),
        ) {
            let names = ["a", "b", "c"];
            let policy = AlertPolicy::default();
            let delay_of = |t: &TargetId| {
                let i = names.iter().position(|n| *n == t.as_str()).unwrap_or(0);
                Duration::from_secs(delays[i])
            };
            let mut book = AlertBook::from_policy(&policy);
            let mut escalated: HashMap<usize, DateTime<Utc>> = HashMap::new();
            let mut acked_at: HashMap<usize, DateTime<Utc>> = HashMap::new();
            let mut now = t0();
            let mut pending_raise: Vec<usize> = (0..3).collect();
            for step in ticks {
                now += Duration::from_secs(step);
                // raise and acknowledge whatever is due by now
                pending_raise.retain(|&i| {
                    if at(raised[i]) <= now {
                        raise(&mut book, &key(names[i], AlertKind::Down), at(raised[i]), names[i]);
                        false
                    } else {
                        true
                    }
                });
                for i in 0..3 {
                    if let Some(a) = acked[i] {
                        let when = at(raised[i] + a);
                        if when <= now && !acked_at.contains_key(&i) && book.get_by_id(names[i]).is_some() {
                            book.acknowledge(names[i], "ops", when).unwrap();
                            acked_at.insert(i, when);
                        }
                    }
                }
                for c in book.followups_by(&policy, now, delay_of) {
                    if let AlertChange::Escalated(a) = &c {
                        let i = names.iter().position(|n| *n == a.id).unwrap();
                        prop_assert!(escalated.insert(i, now).is_none(), "escalated twice");
                        prop_assert!(now >= a.created_at + Duration::from_secs(delays[i]),
                            "escalated before the target's delay");
                        prop_assert!(!acked_at.contains_key(&i), "escalated after acknowledgement");
                        prop_assert_eq!(a.escalated_at, Some(now));
                    }
                }
                // liveness: an active, unacknowledged alert past its delay has escalated
                for i in 0..3 {
                    let raised_at = at(raised[i]);
                    if raised_at <= now && !acked_at.contains_key(&i)
                        && now >= raised_at + Duration::from_secs(delays[i])
                    {
                        prop_assert!(escalated.contains_key(&i), "{} not escalated at {now}", names[i]);
                    }
                }
            }
        }
    }

    #[test]
    fn pending_filters_the_plan() {
        let mut b = AlertBook::default();
        raise(&mut b, &key("n", AlertKind::Stale), t0(), "1").unwrap();
        let mut plan = AlertPlan::default();
        plan.raise.insert(&AlertKind::Stale);
        plan.raise.insert(&AlertKind::LowScore);
        plan.resolve.insert(&AlertKind::Offline);
        let p = b.pending(&tid("n"), &plan);
        assert_eq!(
            p.raise.iter().collect::<Vec<_>>(),
            vec![AlertKind::LowScore]
        );
        assert!(p.resolve.is_empty());
        let mut healthy = AlertPlan::default();
        healthy.resolve.insert(&AlertKind::Stale);
        assert_eq!(
            b.pending(&tid("n"), &healthy)
                .resolve
                .iter()
                .collect::<Vec<_>>(),
            vec![AlertKind::Stale]
        );
        assert!(b.pending(&tid("other"), &healthy).is_empty());
    }

    #[test]
    fn restore_dedups_and_seeds_window() {
        let mk = |id: &str, kind: AlertKind, created: u64| {
            Alert::new(id, key("n", kind), Severity::Warning, "m", at(created))
        };
        let mut resolved = mk("r", AlertKind::Down, 0);
        resolved.resolve(at(100)).unwrap();
        let newer = mk("b", AlertKind::Stale, 50);
        let older = mk("a", AlertKind::Stale, 10);
        let mut b = AlertBook::new(Duration::from_secs(300));
        let dropped = b.restore([resolved, newer, older, mk("c", AlertKind::LowScore, 5)]);
        assert_eq!(dropped.len(), 1);
        assert_eq!(dropped[0].id, "b");
        assert_eq!(b.len(), 2);
        assert_eq!(b.get(&key("n", AlertKind::Stale)).unwrap().id, "a");
        let again = raise(&mut b, &key("n", AlertKind::Down), at(200), "d").unwrap();
        assert_eq!(
            again.alert().suppressed_reason,
            Some(SuppressReason::SuppressionWindow)
        );
    }

    #[test]
    fn resolve_target_closes_everything() {
        let mut b = AlertBook::default();
        raise(&mut b, &key("n", AlertKind::Stale), t0(), "1").unwrap();
        raise(&mut b, &key("n", AlertKind::Down), t0(), "2").unwrap();
        raise(&mut b, &key("m", AlertKind::Down), t0(), "3").unwrap();
        let c = b.resolve_target(&tid("n"), at(1));
        assert_eq!(c.len(), 2);
        assert!(c.iter().all(|c| c.alert().status == AlertStatus::Resolved));
        assert_eq!(b.len(), 1);
        assert!(b.resolve_target(&tid("n"), at(1)).is_empty());
    }

    #[test]
    fn raise_alert_keeps_check_and_resets_bookkeeping() {
        let mut b = AlertBook::default();
        let mut a = Alert::new(
            "x",
            key("n", AlertKind::Down),
            Severity::Critical,
            "m",
            t0(),
        )
        .with_check(Some(crate::model::CheckId::new("http").unwrap()));
        a.status = AlertStatus::Resolved;
        a.reminders_sent = 9;
        let c = b.raise_alert(a, t0()).unwrap();
        assert_eq!(c.alert().status, AlertStatus::Active);
        assert_eq!(c.alert().reminders_sent, 0);
        assert_eq!(c.alert().check.as_ref().unwrap().as_str(), "http");
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["change"], "created");
        assert_eq!(json["alert"]["id"], "x");
    }

    #[derive(Debug, Clone)]
    enum Op {
        Raise(usize, usize),
        Resolve(usize, usize),
        Ack(usize),
        Suppress(usize, bool),
        Tick,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..3usize, 0..4usize).prop_map(|(t, k)| Op::Raise(t, k)),
            (0..3usize, 0..4usize).prop_map(|(t, k)| Op::Resolve(t, k)),
            (0..40usize).prop_map(Op::Ack),
            (0..3usize, any::<bool>()).prop_map(|(t, s)| Op::Suppress(t, s)),
            Just(Op::Tick),
        ]
    }

    proptest! {
        #[test]
        fn ledger_invariants(ops in proptest::collection::vec((op(), 0u64..400), 0..80)) {
            let targets = ["a", "b", "c"];
            let kinds = [AlertKind::Stale, AlertKind::Down, AlertKind::LowScore, AlertKind::Custom("x".into())];
            let policy = AlertPolicy {
                reminder_interval: Duration::from_secs(300),
                ..AlertPolicy::default()
            };
            let mut book = AlertBook::from_policy(&policy);
            let mut now = t0();
            let mut next_id = 0usize;
            let mut resolved_ids: HashSet<String> = HashSet::new();
            let mut acked_ids: HashSet<String> = HashSet::new();
            let mut fired: HashSet<String> = HashSet::new();
            for (op, step) in ops {
                now += Duration::from_secs(step);
                let mut changes: Vec<AlertChange> = Vec::new();
                match op {
                    Op::Raise(t, k) => {
                        let key = AlertKey::new(tid(targets[t]), kinds[k].clone());
                        let was_open = book.get(&key).map(|a| a.id.clone());
                        next_id += 1;
                        let id = next_id.to_string();
                        let c = book.raise(key.clone(), Severity::Warning, String::new(), None, now, id.clone(), None);
                        match was_open {
                            Some(old) => {
                                prop_assert!(c.is_none());
                                prop_assert_eq!(&book.get(&key).unwrap().id, &old);
                            }
                            None => {
                                let c = c.unwrap();
                                prop_assert_eq!(&c.alert().id, &id);
                                prop_assert!(!resolved_ids.contains(&id));
                                changes.push(c);
                            }
                        }
                    }
                    Op::Resolve(t, k) => {
                        let key = AlertKey::new(tid(targets[t]), kinds[k].clone());
                        if let Some(c) = book.resolve(&key, now) {
                            prop_assert_eq!(c.alert().status, AlertStatus::Resolved);
                            prop_assert!(resolved_ids.insert(c.alert().id.clone()));
                        }
                        prop_assert!(book.get(&key).is_none());
                    }
                    Op::Ack(i) => {
                        let id = i.to_string();
                        let r = book.acknowledge(&id, "ops", now);
                        if acked_ids.contains(&id) || resolved_ids.contains(&id) {
                            prop_assert!(r.is_err());
                        }
                        if r.is_ok() {
                            prop_assert!(acked_ids.insert(id));
                        }
                    }
                    Op::Suppress(t, on) => {
                        let reason = on.then_some(SuppressReason::Maintenance);
                        changes = book.set_suppression(&tid(targets[t]), reason.as_ref(), now);
                    }
                    Op::Tick => {
                        changes = book.followups(&policy, now);
                        for c in &changes {
                            if matches!(c, AlertChange::Reminded(_) | AlertChange::Escalated(_)) {
                                prop_assert_eq!(c.alert().status, AlertStatus::Active);
                                prop_assert!(!acked_ids.contains(&c.alert().id));
                            }
                            // escalation is timed from the first notification
                            if let AlertChange::Escalated(a) = c {
                                let told = a.first_notified();
                                prop_assert!(told.is_some_and(|t| now >= t + policy.escalation_delay));
                            }
                        }
                    }
                }
                // an alert fires once, whatever holds and releases it
                for c in &changes {
                    if on_change(c) == Some(NotificationKind::Firing) {
                        prop_assert!(fired.insert(c.alert().id.clone()), "{} fired twice", c.alert().id);
                    }
                }
                // Invariants after every step.
                let mut keys = HashSet::new();
                let mut count = 0;
                for a in book.open_alerts() {
                    prop_assert!(a.is_open());
                    prop_assert!(keys.insert(a.key()), "two open alerts for {}", a.key());
                    prop_assert!(!resolved_ids.contains(&a.id), "resolved alert reopened");
                    prop_assert_eq!(a.suppressed, a.suppressed_reason.is_some());
                    if a.status == AlertStatus::Acknowledged {
                        prop_assert!(!due_followups(a, &policy, now + Duration::from_secs(1_000_000)).any());
                    }
                    count += 1;
                }
                prop_assert_eq!(count, book.len());
            }
        }
    }
}
