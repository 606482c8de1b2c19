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
    let s = f.summary(None);
    assert_eq!(s.by_status.get("offline"), Some(&1));
    assert_eq!(s.critical_alerts, 1);
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
                    for d in &out {
                        if let Decision::Heal { .. } = d {
                            prop_assert_eq!(o, Outcome::Fail, "only reachable failures are healed");
                            prop_assert_ne!(breaker_before, Some(crate::breaker::BreakerState::Open));
                        }
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
            }
            for v in f.target_views(None, now) {
                prop_assert!(v.score.value <= 100);
            }
            let s = f.summary(None);
            prop_assert_eq!(s.by_status.values().sum::<u64>(), s.total_targets);
            prop_assert!(s.critical_alerts <= s.active_alerts);
        }
    }
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
