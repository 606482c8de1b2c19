//! Tests of the composed fleet rules: unit cases for the composition and
//! property tests over random inputs.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;

use super::*;
use crate::alert::AlertKind;
use crate::heal::HealPolicy;
use crate::lifecycle::{LifecycleEventType, LifecycleReport};
use crate::maintenance::MaintenanceWindow;
use crate::model::{Cause, Outcome};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0)
        .single()
        .expect("valid")
}

fn tid(s: &str) -> TargetId {
    TargetId::new(s).expect("id")
}

fn fleet_with(targets: &[&str]) -> (Fleet, Vec<CheckKey>) {
    let mut f = Fleet::new(FleetConfig::default(), "t");
    let mut keys = Vec::new();
    for t in targets {
        f.upsert_target(Target::new(tid(t), *t), t0());
        keys.push(
            f.upsert_check(&tid(t), CheckSpec::new("tcp"))
                .expect("check"),
        );
    }
    (f, keys)
}

fn obs(at: DateTime<Utc>, o: Outcome) -> Observation {
    Observation::new(at, o)
}

#[test]
fn three_failures_make_down_and_one_alert_then_recovery_resolves() {
    let (mut f, keys) = fleet_with(&["a"]);
    let mut out = Vec::new();
    for i in 0..3 {
        f.observe(
            &keys[0],
            &obs(t0() + chrono::Duration::seconds(i), Outcome::Fail),
            &mut out,
        )
        .expect("observe");
    }
    assert_eq!(f.health(&tid("a")).map(|h| h.status), Some(Status::Down));
    let created: Vec<_> = out
        .iter()
        .filter(|d| matches!(d, Decision::Alert { change: AlertChange::Created(a), .. } if a.kind == AlertKind::Down))
        .collect();
    assert_eq!(created.len(), 1);
    assert!(out.iter().any(|d| matches!(
        d,
        Decision::Notify {
            kind: NotificationKind::Firing,
            ..
        }
    )));
    out.clear();
    for i in 3..10 {
        f.observe(
            &keys[0],
            &obs(t0() + chrono::Duration::seconds(i), Outcome::Fail),
            &mut out,
        )
        .expect("observe");
    }
    assert!(
        !out.iter().any(|d| matches!(
            d,
            Decision::Alert {
                change: AlertChange::Created(_),
                ..
            }
        )),
        "no duplicate alert while down"
    );
    f.observe(
        &keys[0],
        &obs(t0() + chrono::Duration::seconds(20), Outcome::Pass),
        &mut out,
    )
    .expect("observe");
    assert_eq!(f.health(&tid("a")).map(|h| h.status), Some(Status::Healthy));
    assert!(out.iter().any(|d| matches!(
        d,
        Decision::Alert {
            change: AlertChange::Resolved(_),
            ..
        }
    )));
    assert!(out.iter().any(|d| matches!(
        d,
        Decision::Notify {
            kind: NotificationKind::Resolved,
            ..
        }
    )));
    assert!(f.open_alerts().is_empty());
}

fn heal_id(out: &[Decision]) -> Option<String> {
    out.iter().find_map(|d| match d {
        Decision::Heal { event, .. } => Some(event.id.clone()),
        _ => None,
    })
}

fn breaker_to(out: &[Decision]) -> Option<crate::breaker::BreakerState> {
    out.iter().rev().find_map(|d| match d {
        Decision::Breaker { change, .. } => Some(change.to),
        _ => None,
    })
}

#[test]
fn the_breaker_counts_failed_restarts_not_failed_checks() {
    use crate::breaker::BreakerState;
    use crate::heal::HealOutcome;
    let (mut f, keys) = fleet_with(&["vps"]);
    let mut p = HealPolicy::new("p", TenantId::new("default").expect("t"), "restart");
    p.trigger_after_failures = 1;
    p.cooldown = Duration::ZERO;
    p.max_attempts = 10;
    f.set_policies(vec![p]);
    let k = &keys[0];
    let mut now = t0();
    let mut out = Vec::new();
    let state = |f: &Fleet, now| f.target_view(&k.target, now).expect("view").checks[0].breaker;

    // an unreachable host is never healed and never trips the breaker (003)
    for _ in 0..5 {
        now += chrono::Duration::seconds(60);
        f.observe(k, &obs(now, Outcome::Unreachable), &mut out)
            .expect("observe");
    }
    assert!(heal_id(&out).is_none());
    assert!(breaker_to(&out).is_none());
    assert_eq!(state(&f, now), BreakerState::Closed);

    // three failed restarts trip it; not the failed checks themselves
    for i in 0..3 {
        out.clear();
        now += chrono::Duration::seconds(60);
        f.observe(k, &obs(now, Outcome::Fail), &mut out)
            .expect("observe");
        assert!(
            breaker_to(&out).is_none(),
            "a failed check alone never trips it"
        );
        let id = heal_id(&out).expect("restart while closed");
        out.clear();
        f.heal_finished(
            &id,
            &HealOutcome::Failed {
                error: "unit failed".into(),
            },
            now,
            &mut out,
        )
        .expect("pending heal");
        assert_eq!(
            breaker_to(&out) == Some(BreakerState::Open),
            i == 2,
            "attempt {i}"
        );
    }
    assert_eq!(state(&f, now), BreakerState::Open);
    assert!(
        f.open_alerts()
            .iter()
            .any(|a| a.kind == AlertKind::BreakerOpen)
    );

    // open: failures are skipped, not healed
    out.clear();
    now += chrono::Duration::seconds(60);
    f.observe(k, &obs(now, Outcome::Fail), &mut out)
        .expect("observe");
    assert!(heal_id(&out).is_none());

    // after the 30 min cooldown one trial restart runs (half-open); a
    // failed trial re-opens it, a successful one closes it (recovered)
    now += chrono::Duration::minutes(31);
    out.clear();
    f.observe(k, &obs(now, Outcome::Fail), &mut out)
        .expect("observe");
    let id = heal_id(&out).expect("half-open trial");
    out.clear();
    f.heal_finished(
        &id,
        &HealOutcome::Failed {
            error: "still broken".into(),
        },
        now,
        &mut out,
    );
    assert_eq!(breaker_to(&out), Some(BreakerState::Open));
    now += chrono::Duration::minutes(31);
    out.clear();
    f.observe(k, &obs(now, Outcome::Fail), &mut out)
        .expect("observe");
    let id = heal_id(&out).expect("second trial");
    out.clear();
    f.heal_finished(&id, &HealOutcome::Success { message: None }, now, &mut out);
    assert_eq!(breaker_to(&out), Some(BreakerState::Closed));
    now += chrono::Duration::seconds(60);
    out.clear();
    f.observe(k, &obs(now, Outcome::Pass), &mut out)
        .expect("observe");
    assert!(
        !f.open_alerts()
            .iter()
            .any(|a| a.kind == AlertKind::BreakerOpen)
    );
}

/// s/09: every tick after the cooldown used to print `open → half_open`
/// again; the change is stored, told once, and the breaker_open alert
/// stays until the breaker closes.
#[test]
fn breaker_half_opens_once_however_many_ticks() {
    use crate::breaker::BreakerState;
    use crate::heal::HealOutcome;
    let (mut f, keys) = fleet_with(&["vps"]);
    let mut p = HealPolicy::new("p", TenantId::new("default").expect("t"), "restart");
    p.trigger_after_failures = 1;
    p.cooldown = Duration::ZERO;
    p.max_attempts = 10;
    f.set_policies(vec![p]);
    let k = &keys[0];
    let mut out = Vec::new();
    let min = |m: i64| t0() + chrono::Duration::minutes(m);
    for m in 0..3 {
        f.observe(k, &obs(min(m), Outcome::Fail), &mut out)
            .expect("observe");
        let id = heal_id(&out).expect("restart");
        out.clear();
        f.heal_finished(&id, &HealOutcome::failed("x"), min(m), &mut out);
    }
    assert_eq!(breaker_to(&out), Some(BreakerState::Open));
    let _ = f.take_dirty_states(min(3));
    let mut changes = Vec::new();
    for m in 4..40 {
        out.clear();
        f.tick(min(m), &mut out);
        for d in &out {
            if let Decision::Breaker { change, .. } = d {
                changes.push((change.from, change.to, m));
            }
        }
        if m == 32 {
            // stored: the state record says half_open
            let states = f.take_dirty_states(min(m));
            assert!(
                states
                    .iter()
                    .any(|r| r.body.to_string().contains("half_open")),
                "{states:?}"
            );
        }
    }
    assert_eq!(
        changes,
        vec![(BreakerState::Open, BreakerState::HalfOpen, 32)]
    );
    assert!(
        f.open_alerts()
            .iter()
            .any(|a| a.kind == AlertKind::BreakerOpen),
        "the alert lasts until the breaker closes"
    );
    // the trial heal succeeds: closed, alert resolved
    out.clear();
    f.observe(k, &obs(min(41), Outcome::Fail), &mut out)
        .expect("observe");
    let id = heal_id(&out).expect("trial restart");
    out.clear();
    f.heal_finished(
        &id,
        &HealOutcome::Success { message: None },
        min(41),
        &mut out,
    );
    assert!(
        out.iter()
            .any(|d| matches!(d, Decision::Breaker { change, .. }
        if change.from == BreakerState::HalfOpen && change.to == BreakerState::Closed))
    );
    assert!(
        !f.open_alerts()
            .iter()
            .any(|a| a.kind == AlertKind::BreakerOpen)
    );
}

/// s/22: acknowledging the down alert stops its reminders and escalation,
/// not auto-heal (DESIGN §4; seed 002 heals regardless).
#[test]
fn acknowledging_the_down_alert_does_not_hold_healing() {
    use crate::heal::HealOutcome;
    let (mut f, keys) = fleet_with(&["web"]);
    f.set_policies(vec![HealPolicy::new(
        "p",
        TenantId::new("default").expect("t"),
        "restart",
    )]);
    let k = &keys[0];
    let min = |m: i64| t0() + chrono::Duration::minutes(m);
    let mut out = Vec::new();
    for m in 0..3 {
        f.observe(k, &obs(min(m), Outcome::Fail), &mut out)
            .expect("observe");
    }
    let id = heal_id(&out).expect("first restart");
    f.heal_finished(&id, &HealOutcome::failed("x"), min(2), &mut out);
    let down = f
        .open_alerts()
        .into_iter()
        .find(|a| a.kind == AlertKind::Down)
        .map(|a| a.id.clone())
        .expect("down alert");
    f.acknowledge(&down, "alice", min(3), &mut out)
        .expect("ack");
    out.clear();
    f.observe(k, &obs(min(13), Outcome::Fail), &mut out)
        .expect("observe");
    assert!(
        heal_id(&out).is_some(),
        "healed after the cooldown: {out:?}"
    );
    out.clear();
    f.tick(min(30), &mut out);
    assert!(
        !out.iter().any(|d| matches!(d, Decision::Alert { change: AlertChange::Escalated(a), .. } if a.id == down)),
        "acknowledged: no escalation"
    );
}

#[test]
fn exhausted_heals_are_told_even_while_the_breaker_is_open() {
    use crate::heal::HealOutcome;
    let (mut f, keys) = fleet_with(&["vps"]);
    let mut p = HealPolicy::new("p", TenantId::new("default").expect("t"), "restart");
    p.trigger_after_failures = 1;
    p.cooldown = Duration::ZERO;
    p.max_attempts = 3;
    f.set_policies(vec![p]);
    let k = &keys[0];
    let mut now = t0();
    let mut out = Vec::new();
    for _ in 0..3 {
        out.clear();
        now += chrono::Duration::seconds(60);
        f.observe(k, &obs(now, Outcome::Fail), &mut out)
            .expect("observe");
        let id = heal_id(&out).expect("restart");
        f.heal_finished(
            &id,
            &HealOutcome::Failed { error: "x".into() },
            now,
            &mut out,
        );
    }
    now += chrono::Duration::seconds(60);
    out.clear();
    f.observe(k, &obs(now, Outcome::Fail), &mut out)
        .expect("observe");
    let kinds: Vec<AlertKind> = f.open_alerts().iter().map(|a| a.kind.clone()).collect();
    assert!(kinds.contains(&AlertKind::BreakerOpen), "{kinds:?}");
    assert!(kinds.contains(&AlertKind::HealExhausted), "{kinds:?}");
}

#[test]
fn a_down_parent_suppresses_the_childs_alert() {
    let mut f = Fleet::new(FleetConfig::default(), "t");
    f.upsert_target(Target::new(tid("rack"), "rack"), t0());
    let mut child = Target::new(tid("node"), "node");
    child.parents = vec![tid("rack")];
    f.upsert_target(child, t0());
    let rk = f
        .upsert_check(&tid("rack"), CheckSpec::new("tcp"))
        .expect("check");
    let nk = f
        .upsert_check(&tid("node"), CheckSpec::new("tcp"))
        .expect("check");
    let mut out = Vec::new();
    for i in 0..3 {
        let at = t0() + chrono::Duration::seconds(i);
        f.observe(&rk, &obs(at, Outcome::Unreachable), &mut out)
            .expect("observe");
    }
    out.clear();
    for i in 3..6 {
        let at = t0() + chrono::Duration::seconds(i);
        f.observe(&nk, &obs(at, Outcome::Unreachable), &mut out)
            .expect("observe");
    }
    let alert = f
        .open_alerts()
        .into_iter()
        .find(|a| a.target == tid("node"))
        .cloned()
        .expect("child alert recorded, not lost");
    assert!(alert.suppressed);
    assert!(
        !out.iter()
            .any(|d| matches!(d, Decision::Notify { alert, .. } if alert.target == tid("node")))
    );
}

/// A child that recovers while its parent is still down resolves its held
/// alert quietly: nobody was told of it. (When the parent recovers first,
/// the child is re-evaluated at once: still down by its last result, its
/// alert fires then, see `a_parent_recovering_releases_its_children_at_once`.)
#[test]
fn a_held_child_alert_that_clears_is_not_notified() {
    let mut f = Fleet::new(FleetConfig::default(), "t");
    f.upsert_target(Target::new(tid("rack"), "rack"), t0());
    let mut child = Target::new(tid("node"), "node");
    child.parents = vec![tid("rack")];
    f.upsert_target(child, t0());
    let rk = f
        .upsert_check(&tid("rack"), CheckSpec::new("tcp"))
        .expect("check");
    let nk = f
        .upsert_check(&tid("node"), CheckSpec::new("tcp"))
        .expect("check");
    let mut out = Vec::new();
    let at = |i| t0() + chrono::Duration::seconds(i);
    for i in 0..3 {
        f.observe(&rk, &obs(at(i), Outcome::Fail), &mut out)
            .expect("observe");
    }
    for i in 3..6 {
        f.observe(&nk, &obs(at(i), Outcome::Fail), &mut out)
            .expect("observe");
    }
    out.clear();
    f.observe(&nk, &obs(at(10), Outcome::Pass), &mut out)
        .expect("observe");
    f.observe(&rk, &obs(at(11), Outcome::Pass), &mut out)
        .expect("observe");
    assert!(f.open_alerts().is_empty());
    let child_notes: Vec<NotificationKind> = out
        .iter()
        .filter_map(|d| match d {
            Decision::Notify { alert, kind, .. } if alert.target == tid("node") => Some(*kind),
            _ => None,
        })
        .collect();
    assert!(child_notes.is_empty(), "{child_notes:?}");
}

/// A tick that takes a passive parent and its child offline together
/// judges the parent first, so the child's alert is suppressed whatever
/// the ids' hash order.
#[test]
fn tick_judges_parents_before_children() {
    for (p, c) in [("a", "b"), ("b", "a"), ("sw", "srv"), ("x1", "x2")] {
        let mut f = Fleet::new(FleetConfig::default(), "t");
        let mut child = Target::new(tid(c), c);
        child.parents = vec![tid(p)];
        f.upsert_target(Target::new(tid(p), p), t0());
        f.upsert_target(child, t0());
        let mut out = Vec::new();
        let hb = LifecycleReport::new(LifecycleEventType::Heartbeat);
        f.report(&tid(p), &hb, t0(), &mut out).expect("report");
        f.report(&tid(c), &hb, t0(), &mut out).expect("report");
        out.clear();
        f.tick(t0() + chrono::Duration::minutes(61), &mut out);
        let offline: Vec<(String, bool)> = out
            .iter()
            .filter_map(|d| match d {
                Decision::Alert {
                    change: AlertChange::Created(a),
                    ..
                } if a.kind == AlertKind::Offline => Some((a.target.to_string(), a.suppressed)),
                _ => None,
            })
            .collect();
        assert_eq!(
            offline,
            vec![(p.to_owned(), false), (c.to_owned(), true)],
            "{p}/{c}"
        );
    }
}

/// A target watched by a heartbeat check follows seed 000's staleness
/// alerts (stale, then offline, resolved by the next report), like a
/// target with no checks, not the probed checks' down alert.
#[test]
fn heartbeat_check_raises_stale_and_offline_alerts() {
    let mut f = Fleet::new(FleetConfig::default(), "t");
    f.upsert_target(Target::new(tid("n"), "n"), t0());
    f.upsert_check(&tid("n"), CheckSpec::new(HEARTBEAT_KIND))
        .expect("check");
    let mut out = Vec::new();
    let hb = LifecycleReport::new(LifecycleEventType::Heartbeat);
    f.report(&tid("n"), &hb, t0(), &mut out).expect("report");
    let kinds = |out: &Vec<Decision>, created: bool| -> Vec<AlertKind> {
        out.iter()
            .filter_map(|d| match d {
                Decision::Alert {
                    change: AlertChange::Created(a),
                    ..
                } if created => Some(a.kind.clone()),
                Decision::Alert {
                    change: AlertChange::Resolved(a),
                    ..
                } if !created => Some(a.kind.clone()),
                _ => None,
            })
            .collect()
    };
    out.clear();
    f.tick(t0() + chrono::Duration::minutes(16), &mut out);
    assert_eq!(kinds(&out, true), vec![AlertKind::Stale]);
    out.clear();
    f.tick(t0() + chrono::Duration::minutes(61), &mut out);
    assert_eq!(kinds(&out, true), vec![AlertKind::Offline]);
    assert_eq!(kinds(&out, false), vec![AlertKind::Stale]);
    out.clear();
    f.report(
        &tid("n"),
        &hb,
        t0() + chrono::Duration::minutes(62),
        &mut out,
    )
    .expect("report");
    assert_eq!(kinds(&out, false), vec![AlertKind::Offline]);
    assert!(kinds(&out, true).is_empty());
}

/// Without a default channel config, the rules' escalation delay applies.
#[test]
fn escalation_uses_the_rules_delay_by_default() {
    let mut cfg = FleetConfig::default();
    cfg.alerts.escalation_delay = Duration::from_secs(600);
    let mut f = Fleet::new(cfg, "t");
    f.upsert_target(Target::new(tid("a"), "a"), t0());
    let key = f
        .upsert_check(&tid("a"), CheckSpec::new("tcp"))
        .expect("check");
    let mut out = Vec::new();
    for i in 0..3 {
        f.observe(
            &key,
            &obs(t0() + chrono::Duration::seconds(i), Outcome::Fail),
            &mut out,
        )
        .expect("observe");
    }
    let escalated = |out: &Vec<Decision>| {
        out.iter().any(|d| {
            matches!(
                d,
                Decision::Alert {
                    change: AlertChange::Escalated(_),
                    ..
                }
            )
        })
    };
    out.clear();
    f.tick(t0() + chrono::Duration::seconds(400), &mut out);
    assert!(!escalated(&out));
    f.tick(t0() + chrono::Duration::seconds(602), &mut out);
    assert!(escalated(&out));
}

#[test]
fn passive_node_goes_stale_offline_and_back() {
    let mut f = Fleet::new(FleetConfig::default(), "t");
    f.upsert_target(Target::new(tid("n"), "n"), t0());
    let mut out = Vec::new();
    f.tick(t0(), &mut out);
    assert_eq!(
        f.health(&tid("n")),
        Some(Health::new(Status::Unknown, Cause::NeverSeen))
    );
    f.report(
        &tid("n"),
        &LifecycleReport::new(LifecycleEventType::Heartbeat),
        t0(),
        &mut out,
    )
    .expect("report");
    assert_eq!(f.health(&tid("n")).map(|h| h.status), Some(Status::Healthy));
    f.tick(t0() + chrono::Duration::minutes(16), &mut out);
    assert_eq!(
        f.health(&tid("n")),
        Some(Health::new(Status::Degraded, Cause::Stale))
    );
    f.tick(t0() + chrono::Duration::minutes(61), &mut out);
    assert_eq!(
        f.health(&tid("n")),
        Some(Health::new(Status::Down, Cause::Offline))
    );
    let kinds: Vec<AlertKind> = f.open_alerts().iter().map(|a| a.kind.clone()).collect();
    assert!(
        kinds.contains(&AlertKind::Offline) && !kinds.contains(&AlertKind::Stale),
        "{kinds:?}"
    );
    let s = f.summary(None, t0() + chrono::Duration::minutes(61));
    assert_eq!(s.by_status.get("offline"), Some(&1));
    assert_eq!(s.critical_alerts, 1);
}

/// s/18: the summary's average score is each target's score at the
/// summary's `now`, not as of the target's last refresh; s/40: alerts held
/// by maintenance count as open, not as active.
#[test]
fn summary_scores_at_now_and_leaves_held_alerts_out_of_active() {
    let mut f = Fleet::new(FleetConfig::default(), "t");
    f.upsert_target(Target::new(tid("n"), "n"), t0());
    let mut out = Vec::new();
    f.report(
        &tid("n"),
        &LifecycleReport::new(LifecycleEventType::Heartbeat),
        t0(),
        &mut out,
    )
    .expect("report");
    let later = t0() + chrono::Duration::minutes(30);
    let fresh = f.summary(None, t0()).average_score;
    let stale = f.summary(None, later).average_score;
    let expected = compute_score(&f.targets[&tid("n")], f.config(), later).value;
    assert_eq!(stale, f64::from(expected));
    assert!(stale < fresh, "{stale} vs {fresh}");

    let (mut g, keys) = fleet_with(&["web"]);
    g.set_maintenance(vec![maintenance_of("web", 0, 60)]);
    for m in 0..3 {
        g.observe(
            &keys[0],
            &obs(t0() + chrono::Duration::minutes(m), Outcome::Fail),
            &mut out,
        )
        .expect("observe");
    }
    assert_eq!(g.open_alerts().len(), 1);
    let s = g.summary(None, t0() + chrono::Duration::minutes(3));
    assert_eq!((s.active_alerts, s.critical_alerts), (0, 0));
}

#[test]
fn stalled_install_stays_listed_after_the_timeout_tick_until_it_finishes() {
    let mut f = Fleet::new(FleetConfig::default(), "t");
    f.upsert_target(Target::new(tid("n"), "n"), t0());
    let mut out = Vec::new();
    f.report(
        &tid("n"),
        &LifecycleReport::new(LifecycleEventType::InstallStarted),
        t0(),
        &mut out,
    )
    .expect("report");
    let stalled = |f: &Fleet, m: i64| -> Vec<String> {
        f.stalled(t0() + chrono::Duration::minutes(m))
            .iter()
            .map(|t| t.id.to_string())
            .collect()
    };
    assert!(stalled(&f, 30).is_empty());
    assert_eq!(stalled(&f, 61), vec!["n".to_owned()]);
    // the timeout job counts the attempt and restarts the retry clock ...
    f.tick(t0() + chrono::Duration::minutes(61), &mut out);
    assert!(
        f.open_alerts()
            .iter()
            .any(|a| a.kind == AlertKind::InstallTimeout)
    );
    // ... but the install is still stuck: still listed
    assert_eq!(stalled(&f, 62), vec!["n".to_owned()]);
    f.report(
        &tid("n"),
        &LifecycleReport::new(LifecycleEventType::InstallComplete),
        t0() + chrono::Duration::minutes(63),
        &mut out,
    )
    .expect("report");
    assert!(stalled(&f, 64).is_empty());
    assert!(
        !f.open_alerts()
            .iter()
            .any(|a| a.kind == AlertKind::InstallTimeout)
    );
}

/// Seed s/23: a target that goes down, recovers, goes down again inside
/// the suppression window (the second alert is held) and starts flapping
/// as it recovers: the held down alert resolves with the recovery and is
/// never released later while the target is healthy.
#[test]
fn flapping_target_resolves_its_down_alert_on_recovery() {
    let (mut f, keys) = fleet_with(&["web"]);
    let k = &keys[0];
    let mut out = Vec::new();
    let seq = [
        Outcome::Pass,
        Outcome::Fail,
        Outcome::Fail,
        Outcome::Fail,
        Outcome::Pass,
        Outcome::Fail,
        Outcome::Fail,
        Outcome::Fail,
        Outcome::Pass,
        Outcome::Pass,
        Outcome::Pass,
    ];
    let min = |m: i64| t0() + chrono::Duration::minutes(m);
    for (i, o) in seq.into_iter().enumerate() {
        f.observe(k, &obs(min(i as i64), o), &mut out)
            .expect("observe");
    }
    let flapping = f.target_view(&tid("web"), min(10)).expect("view").checks[0].flapping;
    assert!(flapping, "the scenario flaps");
    assert!(
        !f.open_alerts().iter().any(|a| a.kind == AlertKind::Down),
        "{:?}",
        f.open_alerts()
    );
    out.clear();
    f.tick(min(30), &mut out);
    assert!(
        !out.iter()
            .any(|d| matches!(d, Decision::Notify { alert, .. } if alert.kind == AlertKind::Down)),
        "{out:?}"
    );
}

/// s/02, s/25: a target that comes back from down only to degraded (a
/// slow pass, or one of its checks still failing) is no longer down: its
/// down alert resolves, and a degraded alert is raised when they are on.
#[test]
fn down_to_degraded_resolves_the_down_alert() {
    for alert_on_degraded in [false, true] {
        let mut cfg = FleetConfig::default();
        cfg.alerts.alert_on_degraded = alert_on_degraded;
        let mut f = Fleet::new(cfg, "t");
        f.upsert_target(Target::new(tid("web"), "web"), t0());
        let k = f
            .upsert_check(&tid("web"), CheckSpec::new("http"))
            .expect("check");
        let mut out = Vec::new();
        let at = |s: i64| t0() + chrono::Duration::seconds(s);
        for i in 0..3 {
            f.observe(&k, &obs(at(i), Outcome::Fail), &mut out)
                .expect("observe");
        }
        assert!(f.open_alerts().iter().any(|a| a.kind == AlertKind::Down));
        out.clear();
        f.observe(&k, &obs(at(10), Outcome::Warn), &mut out)
            .expect("observe");
        assert_eq!(
            f.health(&tid("web")).map(|h| h.status),
            Some(Status::Degraded)
        );
        let kinds: Vec<AlertKind> = f.open_alerts().iter().map(|a| a.kind.clone()).collect();
        let want = if alert_on_degraded {
            vec![AlertKind::Degraded]
        } else {
            vec![]
        };
        assert_eq!(kinds, want);
        assert!(out.iter().any(|d| matches!(d,
            Decision::Notify { kind: NotificationKind::Resolved, alert, .. } if alert.kind == AlertKind::Down)));
    }
}

#[test]
fn replay_is_deterministic() {
    let run = || {
        let (mut f, keys) = fleet_with(&["a", "b"]);
        let mut p = HealPolicy::new("p", TenantId::new("default").expect("t"), "restart");
        p.trigger_after_failures = 2;
        f.set_policies(vec![p]);
        let mut out = Vec::new();
        for i in 0..40i64 {
            let at = t0() + chrono::Duration::seconds(30 * i);
            let o = if (i / 5) % 2 == 0 {
                Outcome::Fail
            } else {
                Outcome::Pass
            };
            f.observe(&keys[(i % 2) as usize], &obs(at, o), &mut out)
                .expect("observe");
            if i % 4 == 0 {
                f.tick(at, &mut out);
            }
        }
        format!("{out:?}")
    };
    assert_eq!(run(), run());
}

#[derive(Debug, Clone)]
enum Op {
    Observe(usize, Outcome, u16),
    Tick(u16),
    Ack(usize),
    Report(usize, u16),
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        3 => Just(Outcome::Fail),
        3 => Just(Outcome::Pass),
        1 => Just(Outcome::Warn),
        1 => Just(Outcome::Unreachable),
        1 => Just(Outcome::Unknown),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0usize..4, outcome(), 1u16..600).prop_map(|(c, o, s)| Op::Observe(c, o, s)),
        2 => (1u16..3600).prop_map(Op::Tick),
        1 => (0usize..8).prop_map(Op::Ack),
        1 => (0usize..4, 1u16..600).prop_map(|(c, s)| Op::Report(c, s)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Under any sequence: at most one open alert per (target, kind);
    /// heals only for fail outcomes, never while the check's breaker is
    /// open before its cooldown; scores in 0..=100; summaries add up.
    #[test]
    fn composed_invariants_hold(ops in proptest::collection::vec(op(), 1..200)) {
        let names = ["a", "b", "c", "d"];
        let (mut f, keys) = fleet_with(&names);
        let mut p = HealPolicy::new("p", TenantId::new("default").expect("t"), "restart");
        p.trigger_after_failures = 1;
        p.cooldown = Duration::from_secs(60);
        p.max_attempts = 5;
        f.set_policies(vec![p]);
        let mut now = t0();
        let mut out = Vec::new();
        for op in ops {
            out.clear();
            match op {
                Op::Observe(c, o, s) => {
                    now += chrono::Duration::seconds(i64::from(s));
                    let key = &keys[c];
                    let breaker_before = f.target_view(&key.target, now).map(|v| v.checks[0].breaker);
                    f.observe(key, &obs(now, o), &mut out).expect("observe");
                    let heals: Vec<String> = out.iter().filter_map(|d| match d {
                        Decision::Heal { event, .. } => Some(event.id.clone()),
                        _ => None,
                    }).collect();
                    for d in &out {
                        if let Decision::Heal { .. } = d {
                            prop_assert_eq!(o, Outcome::Fail, "only reachable failures are healed");
                            prop_assert_ne!(breaker_before, Some(crate::breaker::BreakerState::Open));
                        }
                    }
                    // heals fail on odd seconds, so breakers trip and cool down
                    for id in heals {
                        let outcome = if s % 2 == 1 {
                            crate::heal::HealOutcome::Failed { error: "prop".into() }
                        } else {
                            crate::heal::HealOutcome::Success { message: None }
                        };
                        prop_assert!(f.heal_finished(&id, &outcome, now, &mut out).is_some());
                    }
                }
                Op::Tick(s) => {
                    now += chrono::Duration::seconds(i64::from(s));
                    f.tick(now, &mut out);
                }
                Op::Ack(i) => {
                    let ids: Vec<String> = f.open_alerts().iter().map(|a| a.id.clone()).collect();
                    if let Some(id) = ids.get(i % ids.len().max(1)) {
                        let _ = f.acknowledge(id, "prop", now, &mut out);
                    }
                }
                Op::Report(c, s) => {
                    now += chrono::Duration::seconds(i64::from(s));
                    f.report(&keys[c].target, &LifecycleReport::new(LifecycleEventType::Heartbeat), now, &mut out)
                        .expect("report");
                }
            }
            let mut seen = HashSet::new();
            for a in f.open_alerts() {
                prop_assert!(seen.insert((a.target.clone(), a.kind.clone())), "two open alerts for {}/{}", a.target, a.kind);
                // a cleared condition never leaves its alert open (flapping
                // or not)
                if a.kind == AlertKind::Down {
                    let status = f.health(&a.target).map(|h| h.status);
                    prop_assert!(matches!(status, Some(Status::Down | Status::Unknown)), "down alert open while {status:?}");
                }
            }
            // nothing is told about a down alert of a healthy target
            for d in &out {
                if let Decision::Notify { alert, kind, .. } = d {
                    if alert.kind == AlertKind::Down && *kind != NotificationKind::Resolved {
                        prop_assert_ne!(f.health(&alert.target).map(|h| h.status), Some(Status::Healthy));
                    }
                }
            }
            for v in f.target_views(None, now) {
                prop_assert!(v.score.value <= 100);
            }
            let s = f.summary(None, now);
            prop_assert_eq!(s.by_status.values().sum::<u64>(), s.total_targets);
            prop_assert!(s.critical_alerts <= s.active_alerts);
            // active: told and not acknowledged; held alerts stay open only
            let live = f.open_alerts().iter()
                .filter(|a| a.status == crate::alert::AlertStatus::Active && !a.suppressed)
                .count() as u64;
            prop_assert_eq!(s.active_alerts, live);
            prop_assert!(s.active_alerts <= f.open_alerts().len() as u64);
        }
    }
}

/// External notifications of one target: (kind, routing) in order.
fn external(out: &[Decision], target: &str) -> Vec<(NotificationKind, Routing)> {
    out.iter()
        .filter_map(|d| match d {
            Decision::Notify {
                kind,
                audience: Audience::External,
                alert,
                routing,
                ..
            } if alert.target.as_str() == target => Some((*kind, routing.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn channel_configs_route_escalate_and_silence_per_target() {
    let (mut f, keys) = fleet_with(&["fast", "plain", "muted"]);
    f.set_channels(vec![
        AlertChannelConfig {
            target: Some(tid("fast")),
            escalation_delay: Duration::from_secs(60),
            channels: vec!["pager".into()],
            webhook_url: Some("https://hooks.example.com/fast".into()),
            enabled: true,
        },
        AlertChannelConfig {
            target: Some(tid("muted")),
            escalation_delay: Duration::ZERO,
            enabled: false,
            ..AlertChannelConfig::default()
        },
        AlertChannelConfig {
            escalation_delay: Duration::from_secs(600),
            ..AlertChannelConfig::default()
        },
    ]);
    let mut out = Vec::new();
    for key in &keys {
        for i in 0..3 {
            f.observe(
                key,
                &obs(t0() + chrono::Duration::seconds(i), Outcome::Fail),
                &mut out,
            )
            .expect("observe");
        }
    }
    // muted: zero delay, so escalated as it fires (the same escalation
    // as after a delay, at once), but silenced
    let muted = external(&out, "muted");
    assert_eq!(muted.len(), 1);
    assert_eq!(muted[0].0, NotificationKind::Escalation);
    assert!(muted[0].1.silenced);
    assert!(external(&out, "fast").is_empty());
    assert!(external(&out, "plain").is_empty());
    // escalated at once: no separate escalation at the next tick
    let muted_alert = f
        .open_alerts()
        .into_iter()
        .find(|a| a.target.as_str() == "muted")
        .cloned()
        .expect("muted alert");
    assert!(muted_alert.escalated_at.is_some());
    let muted_changes: Vec<&str> = out
        .iter()
        .filter_map(|d| match d {
            Decision::Alert { change, .. } if change.alert().target.as_str() == "muted" => {
                Some(match change {
                    AlertChange::Created(_) => "created",
                    AlertChange::Escalated(_) => "escalated",
                    _ => "other",
                })
            }
            _ => None,
        })
        .collect();
    assert_eq!(muted_changes, vec!["created", "escalated"]);
    // the dashboard still hears about the muted target
    assert!(out.iter().any(|d| matches!(d,
        Decision::Notify { audience: Audience::Dashboard, alert, routing, .. }
            if alert.target.as_str() == "muted" && !routing.silenced)));
    out.clear();
    // raised at the third failure (t0 + 2 s)
    f.tick(t0() + chrono::Duration::seconds(61), &mut out);
    assert!(external(&out, "fast").is_empty(), "not before its delay");
    f.tick(t0() + chrono::Duration::seconds(62), &mut out);
    let fast = external(&out, "fast");
    assert_eq!(fast.len(), 1, "fast escalates after its own 60 s");
    assert_eq!(fast[0].0, NotificationKind::Escalation);
    assert_eq!(fast[0].1.channels, vec!["pager".to_owned()]);
    assert_eq!(
        fast[0].1.webhook_url.as_deref(),
        Some("https://hooks.example.com/fast")
    );
    assert!(!fast[0].1.silenced);
    assert!(
        external(&out, "plain").is_empty(),
        "plain waits for the default 600 s"
    );
    assert!(
        external(&out, "muted").is_empty(),
        "already escalated at once"
    );
    out.clear();
    f.tick(t0() + chrono::Duration::seconds(599), &mut out);
    assert!(external(&out, "plain").is_empty());
    f.tick(t0() + chrono::Duration::seconds(602), &mut out);
    assert_eq!(external(&out, "plain").len(), 1);
    assert!(external(&out, "plain")[0].1.channels.is_empty());
    // without a stored default, the alert policy's delay applies
    let mut config = FleetConfig::default();
    config.alerts.escalation_delay = Duration::from_secs(120);
    let mut g = Fleet::new(config, "g");
    g.upsert_target(Target::new(tid("x"), "x"), t0());
    let k = g
        .upsert_check(&tid("x"), CheckSpec::new("tcp"))
        .expect("check");
    g.set_channels(Vec::new());
    let mut out = Vec::new();
    for i in 0..3 {
        g.observe(
            &k,
            &obs(t0() + chrono::Duration::seconds(i), Outcome::Fail),
            &mut out,
        )
        .expect("observe");
    }
    out.clear();
    g.tick(t0() + chrono::Duration::seconds(100), &mut out);
    assert!(external(&out, "x").is_empty());
    g.tick(t0() + chrono::Duration::seconds(123), &mut out);
    assert_eq!(external(&out, "x").len(), 1);
}

fn maintenance_of(target: &str, from_min: i64, to_min: i64) -> MaintenanceWindow {
    MaintenanceWindow {
        id: format!("m-{target}"),
        name: "patch".into(),
        schedule: crate::maintenance::Schedule::OneOff {
            start: t0() + chrono::Duration::minutes(from_min),
            end: t0() + chrono::Duration::minutes(to_min),
        },
        selector: crate::maintenance::Selector {
            targets: vec![tid(target)],
            ..Default::default()
        },
        created_by: None,
    }
}

/// The alert's decisions and notifications of one target, as
/// `(change or notification kind, audience)` names, in order.
fn told(out: &[Decision], target: &str) -> Vec<String> {
    out.iter()
        .filter_map(|d| match d {
            Decision::Alert { change, .. } if change.alert().target.as_str() == target => {
                let c = serde_json::to_value(change).expect("json");
                Some(c["change"].as_str().unwrap_or("?").to_owned())
            }
            Decision::Notify {
                kind,
                audience,
                alert,
                ..
            } if alert.target.as_str() == target => Some(format!(
                "{}:{}",
                kind.as_str(),
                if *audience == Audience::External {
                    "external"
                } else {
                    "dashboard"
                }
            )),
            _ => None,
        })
        .collect()
}

/// s/13: an alert raised during maintenance first reaches the dashboard
/// when the window ends, and escalates its delay (300 s) after that, not
/// at once because it was created long ago.
#[test]
fn escalation_counts_from_the_release_not_the_creation() {
    let (mut f, keys) = fleet_with(&["web"]);
    f.set_maintenance(vec![maintenance_of("web", 5, 20)]);
    let min = |m: i64| t0() + chrono::Duration::minutes(m);
    let mut out = Vec::new();
    for m in 6..9 {
        f.observe(&keys[0], &obs(min(m), Outcome::Fail), &mut out)
            .expect("observe");
    }
    assert_eq!(told(&out, "web"), vec!["created"]);
    out.clear();
    f.tick(min(20), &mut out);
    assert_eq!(told(&out, "web"), vec!["released", "firing:dashboard"]);
    out.clear();
    f.tick(min(24), &mut out);
    assert!(told(&out, "web").is_empty(), "{out:?}");
    f.tick(min(25), &mut out);
    assert_eq!(told(&out, "web"), vec!["escalated", "escalation:external"]);
}

/// s/28: an alert that fired and escalated, then clears during a
/// maintenance window, still tells its recovery to the dashboard and the
/// external channels it reached; one held throughout tells nothing.
#[test]
fn recovery_during_maintenance_is_told_to_whoever_heard() {
    let (mut f, keys) = fleet_with(&["web", "quiet"]);
    f.set_maintenance(vec![
        maintenance_of("web", 10, 30),
        maintenance_of("quiet", 0, 30),
    ]);
    let min = |m: i64| t0() + chrono::Duration::minutes(m);
    let mut out = Vec::new();
    for m in 0..3 {
        for k in &keys {
            f.observe(k, &obs(min(m), Outcome::Fail), &mut out)
                .expect("observe");
        }
    }
    f.tick(min(8), &mut out);
    assert_eq!(
        told(&out, "web"),
        vec![
            "created",
            "firing:dashboard",
            "escalated",
            "escalation:external"
        ]
    );
    assert_eq!(told(&out, "quiet"), vec!["created"]);
    out.clear();
    f.tick(min(10), &mut out);
    assert_eq!(told(&out, "web"), vec!["suppressed"]);
    out.clear();
    for k in &keys {
        f.observe(k, &obs(min(15), Outcome::Pass), &mut out)
            .expect("observe");
    }
    assert_eq!(
        told(&out, "web"),
        vec!["resolved", "resolved:dashboard", "resolved:external"]
    );
    assert_eq!(told(&out, "quiet"), vec!["resolved"]);
}

/// s/39: a child alert that fired before its parent went down is held
/// while the parent is down and resumed, not fired again, after.
#[test]
fn a_child_alert_that_fired_is_not_fired_again() {
    let mut f = Fleet::new(FleetConfig::default(), "t");
    f.upsert_target(Target::new(tid("db"), "db"), t0());
    let mut web = Target::new(tid("web"), "web");
    web.parents = vec![tid("db")];
    f.upsert_target(web, t0());
    let dk = f
        .upsert_check(&tid("db"), CheckSpec::new("tcp"))
        .expect("check");
    let wk = f
        .upsert_check(&tid("web"), CheckSpec::new("http"))
        .expect("check");
    let min = |m: i64| t0() + chrono::Duration::minutes(m);
    let mut out = Vec::new();
    for m in 0..3 {
        f.observe(&wk, &obs(min(m), Outcome::Fail), &mut out)
            .expect("observe");
    }
    assert_eq!(told(&out, "web"), vec!["created", "firing:dashboard"]);
    out.clear();
    // the parent going down holds the child's alert at once
    for m in 3..6 {
        f.observe(&dk, &obs(min(m), Outcome::Fail), &mut out)
            .expect("observe");
    }
    assert_eq!(told(&out, "web"), vec!["suppressed"]);
    out.clear();
    f.tick(min(6), &mut out);
    // and its recovery resumes it at once, without firing it again
    f.observe(&dk, &obs(min(7), Outcome::Pass), &mut out)
        .expect("observe");
    assert_eq!(told(&out, "web"), vec!["resumed"]);
    // it has been on the dashboard since minute 2: the tick escalates it
    // (its delay ran out while it was held), and never fires it again
    f.tick(min(8), &mut out);
    assert_eq!(
        told(&out, "web"),
        vec!["resumed", "escalated", "escalation:external"]
    );
}

/// A fleet where `db` went down over minutes 0–2 and `web`, its child
/// (with `web_parents` besides db, registered as targets too; `api` a
/// quiet second child), failed over minutes 3–5: web's down alert is
/// raised held. Returns the fleet, db's check key and the decisions.
fn db_down_with_a_held_child(web_parents: &[&str]) -> (Fleet, CheckKey, Vec<Decision>) {
    let mut f = Fleet::new(FleetConfig::default(), "t");
    f.upsert_target(Target::new(tid("db"), "db"), t0());
    for p in web_parents {
        f.upsert_target(Target::new(tid(p), *p), t0());
    }
    for (c, parents) in [("web", web_parents), ("api", &[][..])] {
        let mut t = Target::new(tid(c), c);
        t.parents = std::iter::once("db")
            .chain(parents.iter().copied())
            .map(tid)
            .collect();
        f.upsert_target(t, t0());
    }
    let dk = f
        .upsert_check(&tid("db"), CheckSpec::new("tcp"))
        .expect("check");
    let wk = f
        .upsert_check(&tid("web"), CheckSpec::new("http"))
        .expect("check");
    let mut out = Vec::new();
    for m in 0..3 {
        f.observe(&dk, &obs(minute(m), Outcome::Fail), &mut out)
            .expect("observe");
    }
    for m in 3..6 {
        f.observe(&wk, &obs(minute(m), Outcome::Fail), &mut out)
            .expect("observe");
    }
    (f, dk, out)
}

fn minute(m: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::minutes(m)
}

/// Removing a down parent releases its children's held alerts at once (a
/// parent that is gone holds nothing); removing a healthy one changes
/// nothing for them.
#[test]
fn removing_a_down_parent_releases_its_children() {
    let (mut f, _, mut out) = db_down_with_a_held_child(&["ok"]);
    let min = minute;
    // held: its parent is down
    assert_eq!(told(&out, "web"), vec!["created"]);
    out.clear();
    assert!(f.remove_target(&tid("ok"), min(6), &mut out));
    assert!(
        told(&out, "web").is_empty(),
        "a healthy parent held nothing"
    );
    assert!(f.remove_target(&tid("db"), min(7), &mut out));
    assert_eq!(told(&out, "web"), vec!["released", "firing:dashboard"]);
    // the child still names it; a new db is its parent again
    assert_eq!(
        f.children.get(&tid("db")),
        Some(&vec![tid("api"), tid("web")])
    );
    assert!(told(&out, "api").is_empty(), "api had nothing held");
    assert!(!f.remove_target(&tid("db"), min(8), &mut out));
}

/// s/16: a child alert raised while its parent is down fires when the
/// parent recovers (not at the next tick), escalates its delay after
/// that, and the child's downtime while the parent was down is the
/// parent's.
#[test]
fn a_parent_recovering_releases_its_children_at_once() {
    let (mut f, dk, mut out) = db_down_with_a_held_child(&[]);
    let min = minute;
    assert_eq!(told(&out, "web"), vec!["created"]);
    out.clear();
    f.observe(&dk, &obs(min(15), Outcome::Pass), &mut out)
        .expect("observe");
    assert_eq!(told(&out, "web"), vec!["released", "firing:dashboard"]);
    // the parent's lines come first
    let first_web = out.iter().position(
        |d| matches!(d, Decision::Alert { change, .. } if change.alert().target.as_str() == "web"),
    );
    let db_resolved = out.iter().position(|d| matches!(d, Decision::Alert { change: AlertChange::Resolved(a), .. } if a.target.as_str() == "db"));
    assert!(db_resolved < first_web);
    out.clear();
    f.tick(min(19), &mut out);
    assert!(told(&out, "web").is_empty());
    f.tick(min(20), &mut out);
    assert_eq!(told(&out, "web"), vec!["escalated", "escalation:external"]);
    // a child with no alert is re-evaluated too, quietly
    assert!(told(&out, "api").is_empty());
}

#[test]
fn children_follow_parent_changes_in_the_index() {
    let mut f = Fleet::new(FleetConfig::default(), "t");
    f.upsert_target(Target::new(tid("a"), "a"), t0());
    f.upsert_target(Target::new(tid("b"), "b"), t0());
    let mut c = Target::new(tid("c"), "c");
    c.parents = vec![tid("a")];
    f.upsert_target(c.clone(), t0());
    assert_eq!(f.children.get(&tid("a")), Some(&vec![tid("c")]));
    c.parents = vec![tid("b")];
    f.upsert_target(c, t0());
    assert_eq!(f.children.get(&tid("a")), None);
    assert_eq!(f.children.get(&tid("b")), Some(&vec![tid("c")]));
    f.remove_target(&tid("c"), t0(), &mut Vec::new());
    assert!(f.children.is_empty());
}

/// The uptime report of one target over `[from, to)` from its pending
/// rollups, as the replay's uptime line computes it.
fn uptime_of(
    f: &Fleet,
    id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> crate::uptime::UptimeReport {
    let buckets = f.pending_buckets(&tid(id), Granularity::Minute, to);
    // the minute holding `to` included, as the replay's uptime line does
    let end = Granularity::Minute.bucket_start(to) + chrono::Duration::minutes(1);
    crate::rollup::uptime_from_buckets(&buckets, from, end, &f.config().uptime)
}

/// s/40, s/25: observations made in maintenance or of a disabled check
/// count in the total but are not judged, like the time around them.
#[test]
fn count_percent_leaves_out_maintenance_and_disabled_checks() {
    let (mut f, keys) = fleet_with(&["web"]);
    f.set_maintenance(vec![maintenance_of("web", 5, 20)]);
    let mut spec = CheckSpec::new("tcp");
    spec.name = Some(crate::model::CheckId::new("tcp81").expect("name"));
    spec.enabled = false;
    let off = f.upsert_check(&tid("web"), spec).expect("check");
    let min = |m: i64| t0() + chrono::Duration::minutes(m);
    let mut out = Vec::new();
    f.observe(&keys[0], &obs(min(0), Outcome::Pass), &mut out)
        .expect("observe");
    for m in 1..4 {
        f.observe(&off, &obs(min(m), Outcome::Fail), &mut out)
            .expect("observe");
    }
    f.tick(min(5), &mut out);
    for m in 6..10 {
        f.observe(&keys[0], &obs(min(m), Outcome::Fail), &mut out)
            .expect("observe");
    }
    f.tick(min(10), &mut out);
    let r = uptime_of(&f, "web", t0(), min(10));
    assert_eq!(r.checks_total, 8);
    assert_eq!(r.count_percent, Some(100.0));
    assert_eq!(r.percent, Some(100.0), "maintenance time is excluded too");
}

/// s/16: a child's downtime while its parent is down is attributed to the
/// parent: excluded from the child's uptime, failures there unjudged.
#[test]
fn child_downtime_during_a_parent_outage_is_excluded() {
    let mut f = Fleet::new(FleetConfig::default(), "t");
    f.upsert_target(Target::new(tid("db"), "db"), t0());
    let mut web = Target::new(tid("web"), "web");
    web.parents = vec![tid("db")];
    f.upsert_target(web, t0());
    let dk = f
        .upsert_check(&tid("db"), CheckSpec::new("tcp"))
        .expect("check");
    let wk = f
        .upsert_check(&tid("web"), CheckSpec::new("http"))
        .expect("check");
    let min = |m: i64| t0() + chrono::Duration::minutes(m);
    let mut out = Vec::new();
    f.observe(&dk, &obs(min(0), Outcome::Pass), &mut out)
        .expect("observe");
    f.observe(&wk, &obs(min(0), Outcome::Pass), &mut out)
        .expect("observe");
    // db down from minute 3 to minute 10; web fails from minute 4
    for m in 1..4 {
        f.observe(&dk, &obs(min(m), Outcome::Fail), &mut out)
            .expect("observe");
    }
    for m in 4..12 {
        if m == 10 {
            f.observe(&dk, &obs(min(m), Outcome::Pass), &mut out)
                .expect("observe");
        }
        f.observe(&wk, &obs(min(m), Outcome::Fail), &mut out)
            .expect("observe");
    }
    f.tick(min(12), &mut out);
    let r = uptime_of(&f, "web", t0(), min(12));
    // healthy 0-4 (4 min, the parent's outage starting at 3 changes
    // nothing while web is healthy); degraded 4-6 and down 6-10 are the
    // db's; down 10-12 is web's own
    assert_eq!(r.healthy_seconds, 240.0);
    assert_eq!(r.degraded_seconds, 0.0);
    assert_eq!(r.down_seconds, 120.0);
    assert_eq!(r.excluded_seconds, 360.0);
    // the 6 failures during db's outage are not judged, 2 after are
    assert_eq!(r.checks_total, 9);
    let cp = r.count_percent.expect("judged");
    assert!((cp - 100.0 / 3.0).abs() < 1e-9, "{cp}");
}

/// s/30, s/37: a long gap is accounted as whole days and hours, the
/// pending buffer stays bounded however long the replay runs without a
/// drain, and the uptime sums stay exact.
#[test]
fn long_gaps_and_long_runs_keep_the_pending_rollups_small() {
    let (mut f, keys) = fleet_with(&["web"]);
    let mut out = Vec::new();
    f.observe(&keys[0], &obs(t0(), Outcome::Pass), &mut out)
        .expect("observe");
    let year = t0() + chrono::Duration::days(365);
    f.tick(year, &mut out);
    let (m, h, d) = f.targets[&tid("web")].pending.lens();
    assert!(m + h + d <= 370, "{m} {h} {d}");
    let r = uptime_of(&f, "web", t0(), year);
    assert_eq!(r.healthy_seconds, 365.0 * 86_400.0);
    assert_eq!(r.checks_total, 1);
    // a week at one observation a minute, never drained
    let mut now = year;
    for _ in 0..7 * 1440 {
        now += chrono::Duration::minutes(1);
        f.observe(&keys[0], &obs(now, Outcome::Pass), &mut out)
            .expect("observe");
        f.tick(now, &mut out);
    }
    let (m, h, _) = f.targets[&tid("web")].pending.lens();
    assert!(m <= pending::MAX_MINUTES && h <= pending::MAX_HOURS);
    let r = uptime_of(&f, "web", t0(), now);
    assert_eq!(r.checks_total, 1 + 7 * 1440);
    assert_eq!(r.healthy_seconds, 372.0 * 86_400.0);
    // the drain hands it all over, in minute, hour and day buckets
    let drained = f.drain_rollups();
    let day_ms: u64 = drained
        .iter()
        .filter(|b| b.bucket.granularity == Granularity::Day)
        .map(|b| b.bucket.healthy_ms)
        .sum();
    assert_eq!(day_ms, 372 * 86_400_000);
    let hour_ms: u64 = drained
        .iter()
        .filter(|b| b.bucket.granularity == Granularity::Hour)
        .map(|b| b.bucket.healthy_ms)
        .sum();
    assert!(hour_ms <= day_ms);
    assert!(f.drain_rollups().is_empty());
}

#[test]
fn dirty_states_come_out_a_bounded_batch_at_a_time() {
    let names: Vec<String> = (0..10).map(|i| format!("n{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (mut f, _) = fleet_with(&refs);
    // 10 targets + 10 checks, all new
    let mut seen = HashSet::new();
    let mut calls = 0;
    loop {
        let (batch, more) = f.take_dirty_states_up_to(t0(), 4);
        calls += 1;
        // a target's checks come with it: at most one record over the bound
        assert!(batch.len() <= 5, "{}", batch.len());
        for r in &batch {
            assert!(
                seen.insert(format!("{:?}", r.scope)),
                "twice: {:?}",
                r.scope
            );
        }
        if !more {
            break;
        }
        assert!(calls < 20);
    }
    assert_eq!(seen.len(), 20);
    assert!(f.take_dirty_states(t0()).is_empty());
    // mark_clean drops pending changes without producing records
    f.upsert_target(Target::new(tid("n1"), "renamed"), t0());
    f.mark_clean();
    assert!(f.take_dirty_states(t0()).is_empty());
}

#[test]
fn pending_rollups_of_one_target_drain_as_minute_hour_and_day() {
    let (mut f, keys) = fleet_with(&["a", "b"]);
    let mut out = Vec::new();
    for s in 0..3 {
        let at = t0() + chrono::Duration::seconds(50 + s * 5);
        f.observe(&keys[0], &obs(at, Outcome::Pass), &mut out)
            .expect("observe");
    }
    // minutes 0 and 1 of the same hour and day
    let a = tid("a");
    let pending = f.pending_buckets(
        &a,
        Granularity::Minute,
        t0() + chrono::Duration::seconds(65),
    );
    let counted: u64 = pending.iter().map(|b| b.checks_total).sum();
    assert_eq!(counted, 3);
    let drained = f.drain_rollups();
    let of = |g: Granularity| -> Vec<&TargetBucket> {
        drained
            .iter()
            .filter(|b| b.target == a && b.bucket.granularity == g)
            .collect()
    };
    assert_eq!(of(Granularity::Minute).len(), 2);
    assert_eq!(of(Granularity::Hour).len(), 1);
    assert_eq!(of(Granularity::Day).len(), 1);
    assert_eq!(of(Granularity::Hour)[0].bucket.checks_total, 3);
    assert_eq!(of(Granularity::Day)[0].bucket.checks_total, 3);
    assert!(f.drain_rollups().iter().all(|b| b.target != a));
}

/// The writer drains rollups a chunk of targets at a time: the chunks
/// together are exactly the whole drain, and the last says nothing is left.
#[test]
fn rollups_drain_in_chunks_of_targets() {
    let names: Vec<String> = (0..7).map(|i| format!("n{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let feed = |f: &mut Fleet, keys: &[CheckKey]| {
        let mut out = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            let at = t0() + chrono::Duration::seconds(i as i64 * 61);
            f.observe(k, &obs(at, Outcome::Pass), &mut out)
                .expect("observe");
        }
        f.tick(t0() + chrono::Duration::hours(2), &mut out);
    };
    let (mut whole, keys) = fleet_with(&refs);
    feed(&mut whole, &keys);
    let mut all = whole.drain_rollups();
    let (mut chunked, keys) = fleet_with(&refs);
    feed(&mut chunked, &keys);
    let mut parts = Vec::new();
    let mut calls = 0;
    loop {
        calls += 1;
        let (b, left) = chunked.drain_rollups_up_to(3);
        let targets: std::collections::HashSet<_> = b.iter().map(|x| x.target.clone()).collect();
        assert!(targets.len() <= 3, "{targets:?}");
        parts.extend(b);
        if !left {
            break;
        }
    }
    assert_eq!(calls, 3, "7 targets, 3 at a time");
    let key = |b: &TargetBucket| (b.target.clone(), b.bucket.granularity, b.bucket.start);
    all.sort_by_key(key);
    parts.sort_by_key(key);
    assert_eq!(all, parts);
    assert!(!all.is_empty());
    assert_eq!(chunked.drain_rollups_up_to(3), (Vec::new(), false));
}
