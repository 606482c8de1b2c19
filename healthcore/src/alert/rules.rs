//! The alert rules: which kinds to raise and which to resolve for a
//! target's current conditions (seed 000's `check_all_nodes`, extended).

use serde::{Deserialize, Serialize};

use crate::alert::{AlertKind, AlertPolicy, KindSet};
use crate::model::{Cause, Health, Status};

/// What is currently true of one target, as far as alerts care.
///
/// `None` fields mean "not tracked for this target" and leave their kinds
/// alone. Each `bool` is the *current* state: `false` resolves its kind
/// (e.g. `heal_exhausted` should stay true until the heal policy is reset
/// or the target recovers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Conditions {
    /// Passive (heartbeat) health: cause `stale` / `offline`, or a status.
    pub staleness: Option<Health>,
    /// Active check health.
    pub check_status: Option<Health>,
    /// Health score 0..=100.
    pub score: Option<u8>,
    /// The target is installing past its install timeout (seed 001).
    pub install_timed_out: bool,
    /// The target's circuit breaker is open.
    pub breaker_open: bool,
    /// Auto-heal used all its attempts and has not been reset.
    pub heal_exhausted: bool,
    /// The target's state is flapping.
    pub flapping: bool,
}

/// The outcome of [`evaluate`]: kinds to raise and kinds to resolve.
///
/// `Copy`, two bitsets; never allocates. A kind is never in both sets.
/// Raising a kind that is already open, or resolving one that is not, is a
/// no-op in [`AlertBook`](crate::alert::AlertBook);
/// [`AlertBook::pending`](crate::alert::AlertBook::pending) drops those.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AlertPlan {
    /// Kinds whose condition holds.
    pub raise: KindSet,
    /// Kinds whose condition has cleared.
    pub resolve: KindSet,
}

impl AlertPlan {
    /// True when the plan neither raises nor resolves anything.
    pub const fn is_empty(&self) -> bool {
        self.raise.is_empty() && self.resolve.is_empty()
    }

    fn raise(&mut self, kind: AlertKind) {
        self.resolve.remove(&kind);
        self.raise.insert(&kind);
    }

    fn resolve(&mut self, kind: AlertKind) {
        self.raise.remove(&kind);
        self.resolve.insert(&kind);
    }
}

/// Passive state as the 000 rules see it.
enum Passive {
    Stale,
    Offline,
    Healthy,
    Other,
}

fn passive(h: Health) -> Passive {
    match (h.cause, h.status) {
        (Cause::Stale, _) => Passive::Stale,
        (Cause::Offline, _) => Passive::Offline,
        (_, Status::Healthy) => Passive::Healthy,
        (Cause::NeverSeen, _) | (_, Status::Unknown) => Passive::Other,
        (_, Status::Degraded) => Passive::Stale,
        (_, Status::Down) => Passive::Offline,
    }
}

/// Decides which alerts to raise and resolve, exactly as seed 000's
/// `check_all_nodes` with auto-resolve, extended to the other kinds.
///
/// - Passive: stale (and `alert_on_stale`) → raise `stale`; else offline
///   (and `alert_on_offline`) → raise `offline` and resolve `stale`; else
///   healthy → resolve `stale` and `offline`. A switched-off kind does
///   nothing at all (as in 000: an open `stale` alert stays open while the
///   target is offline with offline alerts off). Staleness is read from
///   the cause (`stale`, `offline`), else from the status (degraded =
///   stale, down = offline); unknown / never seen does nothing.
/// - Score: with a threshold > 0, below it → raise `low_score`, at or
///   above → resolve it. A threshold of 0 does nothing.
/// - Active check, same shape: down (and `alert_on_down`) → raise `down`
///   and resolve `degraded`; degraded → resolve `down` and (with
///   `alert_on_degraded`) raise `degraded`; healthy → resolve both;
///   unknown does nothing (checker faults never alert). While flapping no `down` or `degraded` alert
///   is *raised* (the one `flapping` alert replaces the storm), but those
///   whose condition cleared still resolve, so none is left open (and
///   later notified) while the target is healthy.
/// - `install_timed_out`, `breaker_open`, `heal_exhausted`, `flapping`:
///   true → raise the kind, false → resolve it.
///
/// ```
/// use healthcore::alert::{evaluate, AlertKind, AlertPolicy, Conditions};
/// use healthcore::model::{Cause, Health, Status};
/// let c = Conditions {
///     staleness: Some(Health::new(Status::Down, Cause::Offline)),
///     score: Some(30),
///     ..Conditions::default()
/// };
/// let plan = evaluate(&AlertPolicy::default(), &c);
/// assert!(plan.raise.contains(&AlertKind::Offline));
/// assert!(plan.raise.contains(&AlertKind::LowScore));
/// assert!(plan.resolve.contains(&AlertKind::Stale));
/// ```
pub fn evaluate(policy: &AlertPolicy, conditions: &Conditions) -> AlertPlan {
    let mut plan = AlertPlan::default();

    if let Some(h) = conditions.staleness {
        match passive(h) {
            Passive::Stale if policy.alert_on_stale => plan.raise(AlertKind::Stale),
            Passive::Offline if policy.alert_on_offline => {
                plan.raise(AlertKind::Offline);
                plan.resolve(AlertKind::Stale);
            }
            Passive::Healthy => {
                plan.resolve(AlertKind::Stale);
                plan.resolve(AlertKind::Offline);
            }
            _ => {}
        }
    }

    let threshold = policy.low_score_threshold;
    if let Some(score) = conditions.score {
        if threshold > 0 && score < threshold {
            plan.raise(AlertKind::LowScore);
        } else if threshold > 0 {
            plan.resolve(AlertKind::LowScore);
        }
    }

    if let Some(h) = conditions.check_status {
        // while flapping, the one flapping alert replaces the storm: no
        // new down / degraded alerts, but those whose condition cleared
        // still resolve
        let may_raise = !conditions.flapping;
        match h.status {
            Status::Down if policy.alert_on_down => {
                if may_raise {
                    plan.raise(AlertKind::Down);
                }
                plan.resolve(AlertKind::Degraded);
            }
            Status::Degraded => {
                // down → degraded (a slow pass, one check of several
                // recovered): no longer down
                plan.resolve(AlertKind::Down);
                if policy.alert_on_degraded && may_raise {
                    plan.raise(AlertKind::Degraded);
                }
            }
            Status::Healthy => {
                plan.resolve(AlertKind::Down);
                plan.resolve(AlertKind::Degraded);
            }
            _ => {}
        }
    }

    for (on, kind) in [
        (conditions.install_timed_out, AlertKind::InstallTimeout),
        (conditions.breaker_open, AlertKind::BreakerOpen),
        (conditions.heal_exhausted, AlertKind::HealExhausted),
        (conditions.flapping, AlertKind::Flapping),
    ] {
        if on {
            plan.raise(kind);
        } else {
            plan.resolve(kind);
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn h(status: Status, cause: Cause) -> Health {
        Health::new(status, cause)
    }

    fn kinds(s: KindSet) -> Vec<AlertKind> {
        s.iter().collect()
    }

    fn passive_only(health: Health) -> AlertPlan {
        let mut p = evaluate(
            &AlertPolicy::default(),
            &Conditions {
                staleness: Some(health),
                ..Conditions::default()
            },
        );
        // Drop the always-present resolves of the boolean kinds.
        for k in [
            AlertKind::InstallTimeout,
            AlertKind::BreakerOpen,
            AlertKind::HealExhausted,
            AlertKind::Flapping,
        ] {
            p.resolve.remove(&k);
        }
        p
    }

    #[test]
    fn stale_raises_stale() {
        let p = passive_only(h(Status::Degraded, Cause::Stale));
        assert_eq!(kinds(p.raise), vec![AlertKind::Stale]);
        assert!(p.resolve.is_empty());
    }

    #[test]
    fn offline_raises_offline_and_resolves_stale() {
        let p = passive_only(h(Status::Down, Cause::Offline));
        assert_eq!(kinds(p.raise), vec![AlertKind::Offline]);
        assert_eq!(kinds(p.resolve), vec![AlertKind::Stale]);
    }

    #[test]
    fn healthy_resolves_both() {
        let p = passive_only(h(Status::Healthy, Cause::Passing));
        assert!(p.raise.is_empty());
        assert_eq!(kinds(p.resolve), vec![AlertKind::Stale, AlertKind::Offline]);
    }

    #[test]
    fn unknown_and_never_seen_do_nothing() {
        assert!(passive_only(h(Status::Unknown, Cause::NeverSeen)).is_empty());
        assert!(passive_only(h(Status::Unknown, Cause::None)).is_empty());
    }

    #[test]
    fn status_fallback_without_cause() {
        assert_eq!(
            kinds(passive_only(h(Status::Degraded, Cause::None)).raise),
            vec![AlertKind::Stale]
        );
        assert_eq!(
            kinds(passive_only(h(Status::Down, Cause::None)).raise),
            vec![AlertKind::Offline]
        );
    }

    #[test]
    fn switched_off_kinds_do_nothing() {
        let policy = AlertPolicy {
            alert_on_stale: false,
            alert_on_offline: false,
            ..AlertPolicy::default()
        };
        for health in [
            h(Status::Degraded, Cause::Stale),
            h(Status::Down, Cause::Offline),
        ] {
            let p = evaluate(
                &policy,
                &Conditions {
                    staleness: Some(health),
                    ..Conditions::default()
                },
            );
            assert!(!p.raise.contains(&AlertKind::Stale));
            assert!(!p.raise.contains(&AlertKind::Offline));
            assert!(!p.resolve.contains(&AlertKind::Stale));
            assert!(!p.resolve.contains(&AlertKind::Offline));
        }
    }

    #[test]
    fn score_threshold() {
        let at = |score, threshold| {
            evaluate(
                &AlertPolicy {
                    low_score_threshold: threshold,
                    ..AlertPolicy::default()
                },
                &Conditions {
                    score: Some(score),
                    ..Conditions::default()
                },
            )
        };
        assert!(at(49, 50).raise.contains(&AlertKind::LowScore));
        assert!(at(50, 50).resolve.contains(&AlertKind::LowScore));
        assert!(at(100, 50).resolve.contains(&AlertKind::LowScore));
        let off = at(0, 0);
        assert!(!off.raise.contains(&AlertKind::LowScore));
        assert!(!off.resolve.contains(&AlertKind::LowScore));
        let none = evaluate(&AlertPolicy::default(), &Conditions::default());
        assert!(!none.resolve.contains(&AlertKind::LowScore));
    }

    #[test]
    fn active_check_rules() {
        let run = |policy: &AlertPolicy, status| {
            evaluate(
                policy,
                &Conditions {
                    check_status: Some(h(status, Cause::None)),
                    ..Conditions::default()
                },
            )
        };
        let d = AlertPolicy::default();
        let down = run(&d, Status::Down);
        assert!(down.raise.contains(&AlertKind::Down));
        assert!(down.resolve.contains(&AlertKind::Degraded));
        // Degraded alerts are off by default; down → degraded still
        // resolves `down` (s/02: a slow pass after the outage).
        let deg = run(&d, Status::Degraded);
        assert!(!deg.raise.contains(&AlertKind::Degraded));
        assert!(deg.resolve.contains(&AlertKind::Down));
        let on = AlertPolicy {
            alert_on_degraded: true,
            ..d.clone()
        };
        let deg = run(&on, Status::Degraded);
        assert!(deg.raise.contains(&AlertKind::Degraded));
        assert!(deg.resolve.contains(&AlertKind::Down));
        let ok = run(&d, Status::Healthy);
        assert!(ok.resolve.contains(&AlertKind::Down));
        assert!(ok.resolve.contains(&AlertKind::Degraded));
        let unknown = run(&d, Status::Unknown);
        assert!(!unknown.raise.contains(&AlertKind::Down));
        assert!(!unknown.resolve.contains(&AlertKind::Down));
        let no_down = AlertPolicy {
            alert_on_down: false,
            ..d
        };
        let p = run(&no_down, Status::Down);
        assert!(!p.raise.contains(&AlertKind::Down));
        assert!(!p.resolve.contains(&AlertKind::Degraded));
    }

    #[test]
    fn flapping_replaces_the_storm() {
        let p = evaluate(
            &AlertPolicy::default(),
            &Conditions {
                check_status: Some(h(Status::Down, Cause::Failing)),
                flapping: true,
                ..Conditions::default()
            },
        );
        assert_eq!(kinds(p.raise), vec![AlertKind::Flapping]);
        assert!(!p.resolve.contains(&AlertKind::Down));
        // degraded while flapping: no degraded alert either
        let degraded = evaluate(
            &AlertPolicy {
                alert_on_degraded: true,
                ..AlertPolicy::default()
            },
            &Conditions {
                check_status: Some(h(Status::Degraded, Cause::Failing)),
                flapping: true,
                ..Conditions::default()
            },
        );
        assert_eq!(kinds(degraded.raise), vec![AlertKind::Flapping]);
    }

    /// Flapping only holds back new alerts: a target that is healthy
    /// while flapping resolves its down and degraded alerts (s/23: a down
    /// alert left open fired later while the target was healthy).
    #[test]
    fn flapping_still_resolves_what_cleared() {
        let p = evaluate(
            &AlertPolicy::default(),
            &Conditions {
                check_status: Some(h(Status::Healthy, Cause::Passing)),
                flapping: true,
                ..Conditions::default()
            },
        );
        assert_eq!(kinds(p.raise), vec![AlertKind::Flapping]);
        assert!(p.resolve.contains(&AlertKind::Down));
        assert!(p.resolve.contains(&AlertKind::Degraded));
        let down = evaluate(
            &AlertPolicy::default(),
            &Conditions {
                check_status: Some(h(Status::Down, Cause::Failing)),
                flapping: true,
                ..Conditions::default()
            },
        );
        assert!(down.resolve.contains(&AlertKind::Degraded));
    }

    #[test]
    fn boolean_conditions() {
        let all = Conditions {
            install_timed_out: true,
            breaker_open: true,
            heal_exhausted: true,
            flapping: true,
            ..Conditions::default()
        };
        let p = evaluate(&AlertPolicy::default(), &all);
        assert_eq!(
            kinds(p.raise),
            vec![
                AlertKind::InstallTimeout,
                AlertKind::BreakerOpen,
                AlertKind::HealExhausted,
                AlertKind::Flapping
            ]
        );
        let p = evaluate(&AlertPolicy::default(), &Conditions::default());
        assert!(p.raise.is_empty());
        assert_eq!(p.resolve.len(), 4);
        assert!(!p.is_empty());
    }

    fn any_health() -> impl Strategy<Value = Health> {
        (0..4usize, 0..15usize).prop_map(|(s, c)| {
            let causes = [
                Cause::None,
                Cause::Passing,
                Cause::Failing,
                Cause::Slow,
                Cause::Warning,
                Cause::Timeout,
                Cause::Unreachable,
                Cause::CheckerError,
                Cause::Stale,
                Cause::Offline,
                Cause::NeverSeen,
                Cause::Flapping,
                Cause::Maintenance,
                Cause::ParentDown,
                Cause::Disabled,
            ];
            Health::new(Status::ALL[s % 4], causes[c % causes.len()])
        })
    }

    proptest! {
        #[test]
        fn never_raise_and_resolve_the_same_kind(
            staleness in proptest::option::of(any_health()),
            check in proptest::option::of(any_health()),
            score in proptest::option::of(any::<u8>()),
            threshold in 0u8..=100,
            flags in any::<[bool; 8]>(),
        ) {
            let policy = AlertPolicy {
                alert_on_stale: flags[4],
                alert_on_offline: flags[5],
                alert_on_down: flags[6],
                alert_on_degraded: flags[7],
                low_score_threshold: threshold,
                ..AlertPolicy::default()
            };
            let c = Conditions {
                staleness,
                check_status: check,
                score,
                install_timed_out: flags[0],
                breaker_open: flags[1],
                heal_exhausted: flags[2],
                flapping: flags[3],
            };
            let p = evaluate(&policy, &c);
            for k in AlertKind::BUILTIN {
                prop_assert!(!(p.raise.contains(&k) && p.resolve.contains(&k)));
                if p.raise.contains(&k) {
                    prop_assert!(policy.enabled(&k));
                }
            }
            prop_assert!(!p.raise.contains(&AlertKind::SloBurn));
            prop_assert!(!p.resolve.contains(&AlertKind::SloBurn));
            // flapping holds back new status alerts, never resolutions
            if c.flapping {
                prop_assert!(!p.raise.contains(&AlertKind::Down));
                prop_assert!(!p.raise.contains(&AlertKind::Degraded));
            }
            if check.is_some_and(|h| h.status == Status::Healthy) {
                prop_assert!(p.resolve.contains(&AlertKind::Down));
                prop_assert!(p.resolve.contains(&AlertKind::Degraded));
            }
            // only a down check keeps a down alert
            if check.is_some_and(|h| matches!(h.status, Status::Healthy | Status::Degraded)) {
                prop_assert!(p.resolve.contains(&AlertKind::Down));
            }
        }
    }
}
