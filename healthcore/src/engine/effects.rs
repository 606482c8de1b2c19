//! Carrying out decisions: events are published at once; store writes of
//! transitions (alerts, heal events, windows, lifecycle events, snapshots)
//! go through one ordered, bounded queue (`limits.effects_capacity`; when
//! it is full during an outage new writes are dropped, counted and
//! logged), retried with capped, jittered backoff while the error is
//! transient and given up on (counted) when it is permanent;
//! notifications and heal actions run in their own tasks so they never
//! block monitoring, retried with capped, jittered backoff (a notification
//! up to `limits.notify_attempts` times, a heal action that could not
//! reach its target within `limits.heal_timeout`).

use std::sync::Arc;
use std::time::Duration;

use super::metrics::EngineMetrics;
use super::retry::{self, Backoff};
use super::{Inner, lock};
use crate::alert::{Alert, AlertChange, AlertStatus};
use crate::event::Event;
use crate::fleet::Decision;
use crate::heal::{HealEvent, HealOutcome};
use crate::model::{TargetId, TenantId};
use crate::notify::Notification;
use crate::store::{InsertAlert, LifecycleEventRecord, Snapshot, StoreError, StoreExt};
use crate::uptime::StatusWindow;

/// One ordered store write.
#[derive(Debug)]
pub(crate) enum Effect {
    // the rare, large writes are boxed so a queued effect stays small: a
    // fleet's first results queue a status window per target and check
    InsertAlert(Box<Alert>),
    UpdateAlert(Box<Alert>, AlertStatus),
    HealEvent(Box<HealEvent>, TenantId),
    Lifecycle(Box<LifecycleEventRecord>, TenantId),
    Window(TargetId, TenantId, StatusWindow),
    Snapshot(Snapshot, TenantId),
    /// A marker: notify when everything before it is written.
    Barrier(tokio::sync::oneshot::Sender<()>),
}

/// Carries out decisions (never blocks; never fails).
pub(crate) fn dispatch(inner: &Arc<Inner>, decisions: Vec<Decision>) {
    dispatch_with(inner, decisions, false);
}

/// Carries out decisions whose store writes (alerts, heal events, status
/// windows) were already made under a lease ([`fenced_writes`]): publishes,
/// notifies and heals, queues only the rest.
pub(crate) fn dispatch_persisted(inner: &Arc<Inner>, decisions: Vec<Decision>) {
    dispatch_with(inner, decisions, true);
}

/// The alert write of a change: `(alert, None)` inserts it, `(alert,
/// Some(expected))` replaces it where its stored status is `expected`.
pub(crate) fn alert_write(change: &AlertChange) -> Option<(&Alert, Option<AlertStatus>)> {
    Some(match change {
        AlertChange::Created(a) => (a, None),
        AlertChange::Acknowledged(a) => (a, Some(AlertStatus::Active)),
        AlertChange::Resolved(a) => {
            let expected = if a.acknowledged_at.is_some() {
                AlertStatus::Acknowledged
            } else {
                AlertStatus::Active
            };
            (a, Some(expected))
        }
        AlertChange::Escalated(a)
        | AlertChange::Reminded(a)
        | AlertChange::Suppressed(a)
        | AlertChange::Released(a)
        | AlertChange::Resumed(a) => (a, Some(a.status)),
        #[allow(unreachable_patterns)]
        _ => return None,
    })
}

/// Alert writes (`None`: insert; `Some(expected)`: update) and journal
/// entries of one claimed run.
pub(crate) type FencedEffects = (Vec<(Alert, Option<AlertStatus>)>, Vec<crate::store::Entry>);

/// The store writes of `decisions` that a claimed run makes fenced:
/// alert inserts and updates, heal events (the pending one before its
/// action runs) and status windows.
pub(crate) fn fenced_writes(decisions: &[Decision]) -> Result<FencedEffects, StoreError> {
    let mut alerts = Vec::new();
    let mut entries = Vec::new();
    for d in decisions {
        match d {
            Decision::Alert { change, .. } => {
                if let Some((a, expected)) = alert_write(change) {
                    alerts.push((a.clone(), expected));
                }
            }
            Decision::Heal { tenant, event, .. } | Decision::HealRecorded { tenant, event } => {
                entries.push(crate::store::heal_event_entry(event, Some(tenant))?);
            }
            Decision::Window {
                target,
                tenant,
                window,
            } => entries.push(crate::store::status_window_entry(
                target,
                Some(tenant),
                window,
            )?),
            _ => {}
        }
    }
    Ok((alerts, entries))
}

fn dispatch_with(inner: &Arc<Inner>, decisions: Vec<Decision>, persisted: bool) {
    let queue_unfenced = |inner: &Inner, effect: Effect| {
        if !persisted {
            queue(inner, effect);
        }
    };
    for d in decisions {
        match d {
            Decision::StatusChanged {
                target,
                tenant,
                check,
                from,
                to,
                score,
                at,
            } => {
                tracing::info!(target_id = %target, check = ?check.as_ref().map(|c| c.as_str()), from = %from.status, to = %to.status, cause = %to.cause, "status changed");
                publish(
                    inner,
                    Event::StatusChanged {
                        target,
                        tenant,
                        check,
                        from: from.status,
                        to: to.status,
                        cause: to.cause,
                        from_cause: from.cause,
                        score,
                        at,
                    },
                );
            }
            Decision::Alert { tenant, change } => {
                let Some((a, expected)) = alert_write(&change) else {
                    continue;
                };
                let effect = match expected {
                    None => Effect::InsertAlert(Box::new(a.clone())),
                    Some(expected) => Effect::UpdateAlert(Box::new(a.clone()), expected),
                };
                let event = match change {
                    AlertChange::Created(a) => {
                        tracing::warn!(target_id = %a.target, kind = %a.kind, severity = a.severity.as_str(), suppressed = a.suppressed, "alert created");
                        Some(Event::AlertCreated { tenant, alert: a })
                    }
                    AlertChange::Acknowledged(a) => {
                        Some(Event::AlertAcknowledged { tenant, alert: a })
                    }
                    AlertChange::Resolved(a) => {
                        tracing::info!(target_id = %a.target, kind = %a.kind, "alert resolved");
                        Some(Event::AlertResolved { tenant, alert: a })
                    }
                    AlertChange::Escalated(a) => Some(Event::AlertEscalated { tenant, alert: a }),
                    // bookkeeping changes: persist, no event
                    _ => None,
                };
                queue_unfenced(inner, effect);
                if let Some(event) = event {
                    publish(inner, event);
                }
            }
            Decision::Notify {
                tenant,
                target_name,
                kind,
                audience,
                alert,
                at,
                routing,
            } => {
                let n = Notification {
                    id: format!("{}-{}-{}", alert.id, kind_name(kind), at.timestamp_millis()),
                    kind,
                    audience,
                    alert,
                    target_name,
                    tenant,
                    at,
                    routing,
                };
                notify(inner, n);
            }
            Decision::Heal {
                tenant,
                target,
                action,
                event,
                notify: _,
            } => {
                tracing::warn!(target_id = %target.id, action = %action, reason = %event.reason, "heal triggered");
                EngineMetrics::add(&inner.metrics.heal_attempts, 1);
                queue_unfenced(
                    inner,
                    Effect::HealEvent(Box::new(event.clone()), tenant.clone()),
                );
                publish(
                    inner,
                    Event::HealAttempted {
                        tenant,
                        event: event.clone(),
                    },
                );
                let me = inner.clone();
                tokio::spawn(async move {
                    let outcome = match &me.healer {
                        Some(h) => heal(&me, h.as_ref(), &target, &action).await,
                        None => HealOutcome::Failed {
                            error: "no healer configured".into(),
                        },
                    };
                    let now = me.clock.now();
                    let mut out = Vec::new();
                    lock(&me.fleet).heal_finished(&event.id, &outcome, now, &mut out);
                    dispatch(&me, out);
                });
            }
            Decision::HealRecorded { tenant, event } => {
                queue_unfenced(
                    inner,
                    Effect::HealEvent(Box::new(event.clone()), tenant.clone()),
                );
                publish(inner, Event::HealAttempted { tenant, event });
            }
            Decision::Breaker {
                target,
                tenant,
                check,
                change,
            } => {
                tracing::info!(target_id = %target, check = %check, from = change.from.as_str(), to = change.to.as_str(), "breaker changed");
                publish(
                    inner,
                    Event::BreakerChanged {
                        target,
                        tenant,
                        check,
                        from: change.from,
                        to: change.to,
                        at: change.at,
                    },
                );
            }
            Decision::Lifecycle {
                target,
                tenant,
                change,
            } => {
                publish(
                    inner,
                    Event::LifecycleChanged {
                        target,
                        tenant,
                        from: change.from,
                        to: change.to,
                        at: change.at,
                    },
                );
            }
            Decision::LifecycleEvent { tenant, record } => {
                queue(inner, Effect::Lifecycle(Box::new(record), tenant))
            }
            Decision::Window {
                target,
                tenant,
                window,
            } => queue_unfenced(inner, Effect::Window(target, tenant, window)),
            Decision::Snapshot { tenant, snapshot } => {
                queue(inner, Effect::Snapshot(snapshot, tenant))
            }
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }
}

fn kind_name(kind: crate::alert::NotificationKind) -> &'static str {
    use crate::alert::NotificationKind as K;
    match kind {
        K::Firing => "firing",
        K::Resolved => "resolved",
        K::Reminder => "reminder",
        K::Escalation => "escalation",
        #[allow(unreachable_patterns)]
        _ => "notice",
    }
}

fn publish(inner: &Inner, event: Event) {
    // no subscribers is fine
    let _ = inner.events.send(event);
}

fn queue(inner: &Inner, effect: Effect) {
    use tokio::sync::mpsc::error::TrySendError;
    match inner.effects_tx.try_send(effect) {
        Ok(()) => {}
        Err(TrySendError::Full(effect)) => {
            let n = inner
                .metrics
                .effects_dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1;
            // one line per doubling: an outage does not flood the log
            if n.is_power_of_two() {
                tracing::warn!(
                    effect = effect_name(&effect),
                    dropped_total = n,
                    capacity = inner.config.limits.effects_capacity,
                    "effects queue full (store slow or down); store write dropped"
                );
            }
        }
        Err(TrySendError::Closed(_)) => {
            tracing::error!("effects queue closed; a store write was lost");
        }
    }
}

/// Delivers `n` to every notifier of its audience that its routing selects
/// (by name) and that accepts it; a silenced notification (the target's
/// channel config is disabled) is counted and logged instead.
fn notify(inner: &Arc<Inner>, n: Notification) {
    if n.routing.silenced {
        EngineMetrics::add(&inner.metrics.notifications_silenced, 1);
        tracing::info!(target_id = %n.alert.target, alert = %n.alert.id, kind = kind_name(n.kind),
            "external notification silenced by the target's alert channel config");
        return;
    }
    let targets: Vec<_> = inner
        .notifiers
        .iter()
        .filter(|x| n.routing.reaches(n.audience, x.name(), x.audience()) && x.accepts(&n))
        .cloned()
        .collect();
    if targets.is_empty() {
        return;
    }
    let n = Arc::new(n);
    for notifier in targets {
        let me = inner.clone();
        let n = n.clone();
        tokio::spawn(async move {
            let attempts = me.config.limits.notify_attempts.max(1);
            let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(60));
            for attempt in 1..=attempts {
                match notifier.notify(&n).await {
                    Ok(()) => {
                        EngineMetrics::add(&me.metrics.notifications_sent, 1);
                        return;
                    }
                    Err(crate::notify::NotifyError::Permanent(e)) => {
                        tracing::warn!(channel = notifier.name(), error = %e, "notification refused");
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(channel = notifier.name(), attempt, error = %e, "notification failed");
                        if attempt < attempts {
                            tokio::time::sleep(backoff.next_delay()).await;
                        }
                    }
                }
            }
            EngineMetrics::add(&me.metrics.notifications_failed, 1);
        });
    }
}

/// Runs a heal action under `limits.heal_timeout`. An attempt that could
/// not reach the target ([`HealError`](crate::healer::HealError)) is
/// retried with capped, jittered backoff (from 1 s) as long as the next
/// try still starts within the timeout; a definitive outcome, success or
/// failure, ends it. Out of time, the heal is a failure that says how
/// many attempts could not reach the target.
pub(crate) async fn heal(
    inner: &Inner,
    healer: &dyn crate::healer::Healer,
    target: &crate::model::Target,
    action: &crate::heal::HealAction,
) -> HealOutcome {
    let deadline = tokio::time::Instant::now() + inner.config.limits.heal_timeout;
    let mut backoff = Backoff::new(
        Duration::from_secs(1),
        inner.config.limits.max_retry_backoff,
    );
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let error = match tokio::time::timeout_at(deadline, healer.try_heal(target, action)).await {
            Ok(Ok(outcome)) => return outcome,
            Ok(Err(e)) => e,
            Err(_) if attempt == 1 => return HealOutcome::failed("heal action timed out"),
            Err(_) => {
                return HealOutcome::failed(format!(
                    "heal action timed out (attempt {attempt}; the earlier ones could not reach the target)"
                ));
            }
        };
        let delay = backoff.next_delay();
        if tokio::time::Instant::now() + delay >= deadline {
            tracing::warn!(target_id = %target.id, action = %action, attempts = attempt, error = %error,
                "heal could not reach the target within the heal timeout; recorded as failed");
            return HealOutcome::failed(format!(
                "{error} ({attempt} attempts within the heal timeout of {})",
                humantime::format_duration(inner.config.limits.heal_timeout)
            ));
        }
        tracing::warn!(target_id = %target.id, action = %action, attempt, error = %error,
            retry_in = ?delay, "heal could not reach the target; retrying");
        tokio::time::sleep(delay).await;
    }
}

/// The effects task: writes in order, retrying transient failures.
pub(crate) async fn run(inner: Arc<Inner>, mut rx: tokio::sync::mpsc::Receiver<Effect>) {
    let mut stop = inner.stop.subscribe();
    loop {
        if *stop.borrow_and_update() {
            while let Ok(e) = rx.try_recv() {
                write(&inner, e).await;
            }
            return;
        }
        let effect = tokio::select! {
            e = rx.recv() => match e {
                Some(e) => e,
                None => return,
            },
            _ = stop.changed() => {
                // write what is queued, then leave
                while let Ok(e) = rx.try_recv() {
                    write(&inner, e).await;
                }
                return;
            }
        };
        write(&inner, effect).await;
    }
}

async fn write(inner: &Arc<Inner>, effect: Effect) {
    if let Effect::Barrier(tx) = effect {
        let _ = tx.send(());
        return;
    }
    let mut backoff = Backoff::new(
        Duration::from_millis(100),
        inner.config.limits.max_retry_backoff,
    );
    let mut tries = 0u32;
    loop {
        match apply(inner, &effect).await {
            Ok(()) => return,
            Err(e) => {
                tries += 1;
                EngineMetrics::add(&inner.metrics.store_errors, 1);
                // stopping: a few more tries, then leave (shutdown must end)
                let stopping = *inner.stop.borrow() && tries > 3;
                if retry::should_retry(&e, tries) && !stopping {
                    tracing::warn!(error = %e, effect = effect_name(&effect), attempt = tries, "store write failed; retrying");
                    tokio::time::sleep(backoff.next_delay()).await;
                    continue;
                }
                EngineMetrics::add(&inner.metrics.effects_failed, 1);
                tracing::error!(error = %e, effect = effect_name(&effect), attempts = tries,
                    class = ?retry::classify(&e), "store write given up; dropped");
                return;
            }
        }
    }
}

fn effect_name(e: &Effect) -> &'static str {
    match e {
        Effect::InsertAlert(_) => "insert_alert",
        Effect::UpdateAlert(..) => "update_alert",
        Effect::HealEvent(..) => "heal_event",
        Effect::Lifecycle(..) => "lifecycle_event",
        Effect::Window(..) => "status_window",
        Effect::Snapshot(..) => "snapshot",
        Effect::Barrier(_) => "barrier",
    }
}

async fn apply(inner: &Inner, effect: &Effect) -> Result<(), StoreError> {
    let store = inner.store.as_ref();
    match effect {
        Effect::InsertAlert(a) => match store.insert_alert(a).await? {
            InsertAlert::Created => Ok(()),
            InsertAlert::Exists(existing) => {
                // another instance (or an earlier run) holds this key: adopt it
                tracing::debug!(alert = %existing.id, "alert already open in store");
                Ok(())
            }
        },
        Effect::UpdateAlert(a, expected) => match store.update_alert(a, *expected).await {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict(_)) => {
                // the stored status moved (acknowledged meanwhile): try the other open status
                let other = if *expected == AlertStatus::Active {
                    AlertStatus::Acknowledged
                } else {
                    AlertStatus::Active
                };
                store.update_alert(a, other).await
            }
            Err(StoreError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        },
        Effect::HealEvent(e, tenant) => {
            store
                .put_heal_events(std::slice::from_ref(e), Some(tenant))
                .await
        }
        Effect::Lifecycle(r, tenant) => {
            store
                .put_lifecycle_events(std::slice::from_ref(r), Some(tenant))
                .await
        }
        Effect::Window(t, tenant, w) => store.put_status_window(t, Some(tenant), w).await,
        Effect::Snapshot(s, tenant) => {
            store
                .put_snapshots(std::slice::from_ref(s), Some(tenant))
                .await
        }
        Effect::Barrier(_) => Ok(()),
    }
}

/// Waits until every effect queued so far has been written.
pub(crate) async fn drain(inner: &Arc<Inner>) {
    drain_within(inner, Duration::from_secs(30)).await;
}

/// Waits, at most `limit`, until every effect queued so far has been
/// written (or failed for good, logged); `false` when the limit passed
/// first. Before [`Engine::start`](super::Engine::start) the queue does not
/// run (writes wait for the start) and this answers `true` at once.
pub(crate) async fn drain_within(inner: &Arc<Inner>, limit: Duration) -> bool {
    if !inner.started.load(std::sync::atomic::Ordering::SeqCst) {
        return true;
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    // the queue may be full: waiting for room is part of the wait; a gone
    // effects task (shut down) writes nothing more
    matches!(
        tokio::time::timeout(limit, async {
            if inner.effects_tx.send(Effect::Barrier(tx)).await.is_err() {
                return true;
            }
            rx.await.is_ok()
        })
        .await,
        Ok(true)
    )
}
