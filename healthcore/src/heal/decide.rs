//! The heal decision: [`decide`] (pure) and the three functions that move
//! a target's [`HealState`] ([`record_attempt`], [`observe_status`],
//! [`reset`]).

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::heal::{HealAction, HealPolicy};
use crate::model::{Outcome, Status};

/// Per-target heal bookkeeping (002's `autoHealAttempts` and
/// `lastAutoHealAt`, plus what backoff and escalation need). Persist it
/// beside the target's status; it is small and changes only on attempts,
/// exhaustion, resets and healthy/unhealthy edges.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealState {
    /// Attempts made since the last reset (escalation included).
    pub attempts: u32,
    /// When the last attempt was made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// Start of the current continuous `healthy` stretch, if in one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthy_since: Option<DateTime<Utc>>,
    /// The escalation action has run since the last reset.
    pub escalated: bool,
    /// Max attempts were reached and reported since the last reset.
    pub exhausted: bool,
}

/// What the engine knows about a target when it asks [`decide`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealInput {
    /// The deciding observation's outcome.
    pub outcome: Outcome,
    /// The target's status now; [`decide`] does not gate on it (the
    /// engine records it as the heal event's `previous_status`).
    pub status: Status,
    /// Consecutive failures of the deciding check.
    pub consecutive_failures: u32,
    /// The circuit breaker lets a heal through (closed, or half-open
    /// probing). 003: an open breaker stops restarts.
    pub breaker_allows: bool,
    /// The target is in a maintenance window.
    pub in_maintenance: bool,
    /// The target is flapping.
    pub flapping: bool,
}

/// Why a heal that the trigger called for was not made. `Display` gives a
/// sentence fit for the heal event's `reason`; [`SkipReason::code`] a
/// stable snake_case code (the serde tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SkipReason {
    /// Healing is switched off for the target. [`decide`] never returns
    /// it (a disabled policy gives [`HealDecision::NotNeeded`]); it is for
    /// an engine that records a manual request against a disabled policy.
    Disabled,
    /// The host or network could not be reached: a restart would not help
    /// (003).
    Unreachable,
    /// The checker could not tell (a checker-side fault); never healed.
    UnknownOutcome,
    /// Too soon after the last attempt.
    Cooldown {
        /// Time left until the cooldown ends.
        #[serde(with = "humantime_serde")]
        remaining: Duration,
    },
    /// Backoff delay after the last attempt not over.
    Backoff {
        /// Time left until the delay ends.
        #[serde(with = "humantime_serde")]
        remaining: Duration,
    },
    /// Attempts are used up (and escalation, if any, is done).
    MaxAttempts {
        /// Attempts made with the policy's action since the last reset
        /// (the escalation action, once it ran, is not one of them).
        attempts: u32,
        /// The policy's limit.
        max: u32,
    },
    /// The circuit breaker is open.
    BreakerOpen,
    /// The target is in a maintenance window.
    Maintenance,
    /// The target is flapping; healing pauses.
    Flapping,
}

impl SkipReason {
    /// Stable snake_case code (`cooldown`, `max_attempts`, …).
    pub const fn code(&self) -> &'static str {
        match self {
            SkipReason::Disabled => "disabled",
            SkipReason::Unreachable => "unreachable",
            SkipReason::UnknownOutcome => "unknown_outcome",
            SkipReason::Cooldown { .. } => "cooldown",
            SkipReason::Backoff { .. } => "backoff",
            SkipReason::MaxAttempts { .. } => "max_attempts",
            SkipReason::BreakerOpen => "breaker_open",
            SkipReason::Maintenance => "maintenance",
            SkipReason::Flapping => "flapping",
        }
    }

    /// The code of a skip reason from its `Display` sentence, as stored in
    /// a skipped [`HealEvent`](crate::heal::HealEvent)'s `reason`; `None`
    /// for any other text.
    ///
    /// ```
    /// use healthcore::heal::SkipReason;
    /// let r = SkipReason::MaxAttempts { attempts: 3, max: 3 };
    /// assert_eq!(SkipReason::code_of_sentence(&r.to_string()), Some("max_attempts"));
    /// assert_eq!(SkipReason::code_of_sentence("3 consecutive failures"), None);
    /// ```
    pub fn code_of_sentence(sentence: &str) -> Option<&'static str> {
        const PREFIXES: [(&str, &str); 9] = [
            ("auto-heal is disabled", "disabled"),
            ("target unreachable:", "unreachable"),
            ("check outcome unknown", "unknown_outcome"),
            ("in cooldown,", "cooldown"),
            ("in backoff,", "backoff"),
            ("max attempts reached", "max_attempts"),
            ("circuit breaker open", "breaker_open"),
            ("in a maintenance window", "maintenance"),
            ("target is flapping", "flapping"),
        ];
        PREFIXES
            .iter()
            .find(|(p, _)| sentence.starts_with(p))
            .map(|(_, code)| *code)
    }
}

/// Rounds up to whole milliseconds, for display.
fn ceil_ms(d: Duration) -> Duration {
    let whole = Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    if whole < d {
        whole.saturating_add(Duration::from_millis(1))
    } else {
        whole
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use humantime_serde::re::humantime::format_duration;
        match self {
            SkipReason::Disabled => f.write_str("auto-heal is disabled"),
            SkipReason::Unreachable => {
                f.write_str("target unreachable: not healed (a restart would not help)")
            }
            SkipReason::UnknownOutcome => {
                f.write_str("check outcome unknown (checker-side fault): not healed")
            }
            SkipReason::Cooldown { remaining } => write!(
                f,
                "in cooldown, {} remaining",
                format_duration(ceil_ms(*remaining))
            ),
            SkipReason::Backoff { remaining } => write!(
                f,
                "in backoff, {} remaining",
                format_duration(ceil_ms(*remaining))
            ),
            SkipReason::MaxAttempts { attempts, max } => {
                write!(f, "max attempts reached ({attempts} of {max})")
            }
            SkipReason::BreakerOpen => f.write_str("circuit breaker open"),
            SkipReason::Maintenance => f.write_str("in a maintenance window"),
            SkipReason::Flapping => f.write_str("target is flapping: healing paused"),
        }
    }
}

/// What [`decide`] concluded.
///
/// The engine records every `Heal` (as a pending heal event) and every
/// `Skip` (as a skipped one); `NotNeeded` is not an event: the target is
/// passing, below the trigger, or its policy is disabled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum HealDecision {
    /// Nothing to do.
    NotNeeded,
    /// Run `action` now.
    Heal {
        /// The action to run.
        action: HealAction,
        /// Why, for the heal event (`3 consecutive failures`).
        reason: String,
        /// This is the policy's one escalation.
        escalation: bool,
        /// 1-based number of this attempt since the last reset.
        attempt: u32,
    },
    /// The trigger called for a heal, but a gate held it.
    Skip {
        /// Which gate.
        reason: SkipReason,
    },
}

impl HealDecision {
    /// True for `Heal`.
    pub fn is_heal(&self) -> bool {
        matches!(self, HealDecision::Heal { .. })
    }

    /// True for `Heal` and `Skip`: the decisions recorded as heal events.
    pub fn is_event(&self) -> bool {
        !matches!(self, HealDecision::NotNeeded)
    }

    /// The action of a `Heal`.
    pub fn action(&self) -> Option<&HealAction> {
        match self {
            HealDecision::Heal { action, .. } => Some(action),
            _ => None,
        }
    }

    /// The reason of a `Skip`.
    pub fn skip_reason(&self) -> Option<&SkipReason> {
        match self {
            HealDecision::Skip { reason } => Some(reason),
            _ => None,
        }
    }
}

/// Time from `since` to `now`; zero if the clock went backwards.
fn elapsed(since: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    now.signed_duration_since(since)
        .to_std()
        .unwrap_or(Duration::ZERO)
}

/// The pacing gates: cooldown, then backoff, both measured from the last
/// attempt.
fn pacing(policy: &HealPolicy, state: &HealState, now: DateTime<Utc>) -> Option<SkipReason> {
    let last = state.last_attempt_at?;
    let since = elapsed(last, now);
    if since < policy.cooldown {
        return Some(SkipReason::Cooldown {
            remaining: policy.cooldown.saturating_sub(since),
        });
    }
    if let Some(backoff) = &policy.backoff {
        let delay = backoff.delay_after(state.attempts);
        if since < delay {
            return Some(SkipReason::Backoff {
                remaining: delay.saturating_sub(since),
            });
        }
    }
    None
}

/// Decides whether to heal a target now. Pure: reads, never writes.
///
/// Gates, in order (the first that applies wins):
///
/// 1. policy disabled → `NotNeeded`;
/// 2. outcome `pass`/`warn`, or `consecutive_failures <
///    trigger_after_failures` → `NotNeeded`;
/// 3. outcome `unreachable` → `Skip(Unreachable)` (003: not healed);
/// 4. outcome `unknown` → `Skip(UnknownOutcome)` (§7: never healed);
/// 5. maintenance → `Skip(Maintenance)`;
/// 6. flapping → `Skip(Flapping)`;
/// 7. breaker does not allow → `Skip(BreakerOpen)`;
/// 8. attempts ≥ `max_attempts` (when limited): if escalation is
///    configured, `attempts ≥ escalate_after_attempts` and not yet
///    escalated, the escalation action ([`HealPolicy::escalation`]:
///    `notify_only` unless set) runs (still subject to 9 and 10, as in
///    002 where the cooldown is checked first) as `Heal { escalation:
///    true }`; otherwise `Skip(MaxAttempts)`, counting the attempts made
///    with the policy's action;
/// 9. less than `cooldown` since the last attempt (at exactly `cooldown`
///    the heal goes ahead) → `Skip(Cooldown)`;
/// 10. less than the backoff delay since the last attempt →
///     `Skip(Backoff)`;
/// 11. otherwise `Heal` with the policy's action.
///
/// An acknowledged alert is no gate: acknowledgement stops reminders and
/// escalation only (DESIGN §4), and seed 002 heals whoever is looking.
///
/// Allocates only when it returns `Heal` (the reason text).
pub fn decide(
    policy: &HealPolicy,
    state: &HealState,
    input: &HealInput,
    now: DateTime<Utc>,
) -> HealDecision {
    if !policy.enabled
        || input.outcome.is_success()
        || input.consecutive_failures < policy.trigger_after_failures
    {
        return HealDecision::NotNeeded;
    }
    let skip = |reason| HealDecision::Skip { reason };
    match input.outcome {
        Outcome::Unreachable => return skip(SkipReason::Unreachable),
        Outcome::Unknown => return skip(SkipReason::UnknownOutcome),
        _ => {}
    }
    if input.in_maintenance {
        return skip(SkipReason::Maintenance);
    }
    if input.flapping {
        return skip(SkipReason::Flapping);
    }
    let attempt = state.attempts.saturating_add(1);
    // exhaustion is told before the breaker: it lasts until a manual reset,
    // while an open breaker only pauses attempts
    if policy.max_attempts > 0 && state.attempts >= policy.max_attempts {
        if let Some((after, action)) = policy.escalation() {
            if !state.escalated && state.attempts >= after {
                if !input.breaker_allows {
                    return skip(SkipReason::BreakerOpen);
                }
                if let Some(reason) = pacing(policy, state, now) {
                    return skip(reason);
                }
                return HealDecision::Heal {
                    action: action.clone(),
                    reason: format!("escalation after {} attempts", state.attempts),
                    escalation: true,
                    attempt,
                };
            }
        }
        // the escalation counts in `attempts` (it paces like one), not
        // in the policy's limit: "2 of 2", not "3 of 2" once it ran
        return skip(SkipReason::MaxAttempts {
            attempts: state.attempts.saturating_sub(u32::from(state.escalated)),
            max: policy.max_attempts,
        });
    }
    if !input.breaker_allows {
        return skip(SkipReason::BreakerOpen);
    }
    if let Some(reason) = pacing(policy, state, now) {
        return skip(reason);
    }
    HealDecision::Heal {
        action: policy.action.clone(),
        reason: format!("{} consecutive failures", input.consecutive_failures),
        escalation: false,
        attempt,
    }
}

/// True when `decision` is the first `Skip(MaxAttempts)` since the last
/// reset: the moment to raise one `heal_exhausted` alert. Call it before
/// [`record_attempt`], which then marks the state exhausted.
pub fn newly_exhausted(state: &HealState, decision: &HealDecision) -> bool {
    !state.exhausted
        && matches!(
            decision,
            HealDecision::Skip {
                reason: SkipReason::MaxAttempts { .. }
            }
        )
}

/// Applies a decision to the state.
///
/// `Heal`: one more attempt (counted whether or not the healer then
/// succeeds, unlike 002 which only counted successes and so could retry a
/// failing action forever), `last_attempt_at = now`, the healthy stretch
/// ends, and an escalation marks `escalated`. `Skip(MaxAttempts)`: marks
/// `exhausted` (see [`newly_exhausted`]). Anything else: no change.
pub fn record_attempt(state: &mut HealState, decision: &HealDecision, now: DateTime<Utc>) {
    match decision {
        HealDecision::Heal { escalation, .. } => {
            state.attempts = state.attempts.saturating_add(1);
            state.last_attempt_at = Some(now);
            state.healthy_since = None;
            if *escalation {
                state.escalated = true;
            }
        }
        HealDecision::Skip {
            reason: SkipReason::MaxAttempts { .. },
        } => state.exhausted = true,
        _ => {}
    }
}

/// Tracks the target's status for backoff reset. Call it with the target's
/// status after each observation (before [`decide`]).
///
/// Only `healthy` counts as healthy: `degraded`, `down` and `unknown` end
/// the stretch. With [`HealPolicy::backoff`] configured, once the target
/// has been healthy for `reset_after` without a break, attempts,
/// escalation and exhaustion reset (Kubernetes-style). Without backoff,
/// recovery resets nothing: as in 002, attempts reset only by hand
/// ([`reset`]). `last_attempt_at` is kept, so the cooldown still applies.
/// Does not allocate.
pub fn observe_status(
    state: &mut HealState,
    policy: &HealPolicy,
    status: Status,
    now: DateTime<Utc>,
) {
    if status != Status::Healthy {
        state.healthy_since = None;
        return;
    }
    let since = *state.healthy_since.get_or_insert(now);
    if let Some(backoff) = &policy.backoff {
        let dirty = state.attempts > 0 || state.escalated || state.exhausted;
        if dirty && elapsed(since, now) >= backoff.reset_after {
            reset(state);
        }
    }
}

/// Manual reset (002's `resetAutoHealAttempts`): attempts to zero,
/// escalation and exhaustion cleared. `last_attempt_at` and
/// `healthy_since` are kept. 002 also zeroes the check's consecutive
/// failures; that counter lives in the check state, so the engine resets
/// it there (and audits the reset).
pub fn reset(state: &mut HealState) {
    state.attempts = 0;
    state.escalated = false;
    state.exhausted = false;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heal::BackoffConfig;
    use crate::model::TenantId;
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + chrono::TimeDelta::days(20_000)
    }

    fn secs(n: i64) -> chrono::TimeDelta {
        chrono::TimeDelta::seconds(n)
    }

    #[test]
    fn every_skip_sentence_maps_back_to_its_code() {
        let d = Duration::from_millis(90_500);
        for r in [
            SkipReason::Disabled,
            SkipReason::Unreachable,
            SkipReason::UnknownOutcome,
            SkipReason::Cooldown { remaining: d },
            SkipReason::Backoff { remaining: d },
            SkipReason::MaxAttempts {
                attempts: 3,
                max: 3,
            },
            SkipReason::BreakerOpen,
            SkipReason::Maintenance,
            SkipReason::Flapping,
        ] {
            assert_eq!(
                SkipReason::code_of_sentence(&r.to_string()),
                Some(r.code()),
                "{r}"
            );
        }
        assert_eq!(
            SkipReason::code_of_sentence("escalation after 3 attempts"),
            None
        );
    }

    fn policy() -> HealPolicy {
        HealPolicy::new("p1", TenantId::new("acme").unwrap(), "pods")
    }

    fn failing(n: u32) -> HealInput {
        HealInput {
            outcome: Outcome::Fail,
            status: Status::Down,
            consecutive_failures: n,
            breaker_allows: true,
            in_maintenance: false,
            flapping: false,
        }
    }

    fn skip_of(d: &HealDecision) -> SkipReason {
        *d.skip_reason()
            .unwrap_or_else(|| panic!("not a skip: {d:?}"))
    }

    /// Decide and record, as the engine does.
    fn step(
        p: &HealPolicy,
        st: &mut HealState,
        input: &HealInput,
        now: DateTime<Utc>,
    ) -> HealDecision {
        let d = decide(p, st, input, now);
        record_attempt(st, &d, now);
        d
    }

    #[test]
    fn state_default_is_clean() {
        let st = HealState::default();
        assert_eq!(st.attempts, 0);
        assert!(st.last_attempt_at.is_none());
        assert!(st.healthy_since.is_none());
        assert!(!st.escalated && !st.exhausted);
        assert_eq!(serde_json::from_str::<HealState>("{}").unwrap(), st);
    }

    #[test]
    fn not_needed_below_trigger_passing_or_disabled() {
        let p = policy();
        let st = HealState::default();
        assert_eq!(decide(&p, &st, &failing(2), t0()), HealDecision::NotNeeded);
        for outcome in [Outcome::Pass, Outcome::Warn] {
            let input = HealInput {
                outcome,
                ..failing(10)
            };
            assert_eq!(decide(&p, &st, &input, t0()), HealDecision::NotNeeded);
        }
        // Unreachable and unknown below the trigger are not events either.
        for outcome in [Outcome::Unreachable, Outcome::Unknown] {
            let input = HealInput {
                outcome,
                ..failing(2)
            };
            assert_eq!(decide(&p, &st, &input, t0()), HealDecision::NotNeeded);
        }
        let off = HealPolicy {
            enabled: false,
            ..policy()
        };
        assert_eq!(
            decide(&off, &st, &failing(10), t0()),
            HealDecision::NotNeeded
        );
    }

    #[test]
    fn heals_at_trigger_with_002_reason() {
        let d = decide(&policy(), &HealState::default(), &failing(3), t0());
        assert_eq!(
            d,
            HealDecision::Heal {
                action: HealAction::Restart,
                reason: "3 consecutive failures".into(),
                escalation: false,
                attempt: 1,
            }
        );
        assert!(d.is_heal() && d.is_event());
        assert_eq!(d.action(), Some(&HealAction::Restart));
    }

    #[test]
    fn each_gate_gives_its_skip_reason() {
        let p = policy();
        let st = HealState::default();
        let cases = [
            (
                HealInput {
                    outcome: Outcome::Unreachable,
                    ..failing(3)
                },
                SkipReason::Unreachable,
            ),
            (
                HealInput {
                    outcome: Outcome::Unknown,
                    ..failing(3)
                },
                SkipReason::UnknownOutcome,
            ),
            (
                HealInput {
                    in_maintenance: true,
                    ..failing(3)
                },
                SkipReason::Maintenance,
            ),
            (
                HealInput {
                    flapping: true,
                    ..failing(3)
                },
                SkipReason::Flapping,
            ),
            (
                HealInput {
                    breaker_allows: false,
                    ..failing(3)
                },
                SkipReason::BreakerOpen,
            ),
        ];
        for (input, want) in cases {
            assert_eq!(skip_of(&decide(&p, &st, &input, t0())), want);
        }
        // Gate order: unreachable beats everything after it, maintenance
        // beats the breaker.
        let all = HealInput {
            outcome: Outcome::Unreachable,
            breaker_allows: false,
            in_maintenance: true,
            flapping: true,
            ..failing(3)
        };
        assert_eq!(
            skip_of(&decide(&p, &st, &all, t0())),
            SkipReason::Unreachable
        );
        let maint_and_open = HealInput {
            breaker_allows: false,
            in_maintenance: true,
            ..failing(3)
        };
        assert_eq!(
            skip_of(&decide(&p, &st, &maint_and_open, t0())),
            SkipReason::Maintenance
        );

        let used = HealState {
            attempts: 3,
            last_attempt_at: Some(t0() - secs(3600)),
            ..HealState::default()
        };
        assert_eq!(
            skip_of(&decide(&p, &used, &failing(9), t0())),
            SkipReason::MaxAttempts {
                attempts: 3,
                max: 3
            }
        );
        let recent = HealState {
            attempts: 1,
            last_attempt_at: Some(t0() - secs(60)),
            ..HealState::default()
        };
        assert_eq!(
            skip_of(&decide(&p, &recent, &failing(9), t0())),
            SkipReason::Cooldown {
                remaining: Duration::from_secs(540)
            }
        );
        let quick = HealPolicy {
            cooldown: Duration::ZERO,
            backoff: Some(BackoffConfig::default()),
            ..policy()
        };
        let just_tried = HealState {
            attempts: 2,
            last_attempt_at: Some(t0() - secs(5)),
            ..HealState::default()
        };
        assert_eq!(
            skip_of(&decide(&quick, &just_tried, &failing(9), t0())),
            SkipReason::Backoff {
                remaining: Duration::from_secs(15)
            }
        );
    }

    #[test]
    fn max_attempts_is_reported_before_cooldown() {
        let p = policy();
        let st = HealState {
            attempts: 3,
            last_attempt_at: Some(t0()),
            ..HealState::default()
        };
        assert!(matches!(
            skip_of(&decide(&p, &st, &failing(9), t0() + secs(1))),
            SkipReason::MaxAttempts { .. }
        ));
    }

    #[test]
    fn cooldown_boundary_is_exclusive() {
        let p = policy();
        let mut st = HealState::default();
        assert!(step(&p, &mut st, &failing(3), t0()).is_heal());
        assert_eq!(st.attempts, 1);
        assert_eq!(st.last_attempt_at, Some(t0()));
        let just_before = t0() + secs(600) - chrono::TimeDelta::milliseconds(1);
        assert_eq!(
            skip_of(&decide(&p, &st, &failing(4), just_before)),
            SkipReason::Cooldown {
                remaining: Duration::from_millis(1)
            }
        );
        let d = decide(&p, &st, &failing(4), t0() + secs(600));
        assert_eq!(
            d,
            HealDecision::Heal {
                action: HealAction::Restart,
                reason: "4 consecutive failures".into(),
                escalation: false,
                attempt: 2,
            }
        );
        // A clock that went backwards waits the whole cooldown.
        assert_eq!(
            skip_of(&decide(&p, &st, &failing(4), t0() - secs(10))),
            SkipReason::Cooldown {
                remaining: Duration::from_secs(600)
            }
        );
    }

    #[test]
    fn backoff_doubles_caps_and_resets_after_ten_healthy_minutes() {
        let p = HealPolicy {
            cooldown: Duration::ZERO,
            max_attempts: 20,
            backoff: Some(BackoffConfig::default()),
            ..policy()
        };
        let mut st = HealState::default();
        let mut now = t0();
        assert!(step(&p, &mut st, &failing(3), now).is_heal());
        let mut gaps = Vec::new();
        for _ in 0..8 {
            // Advance one second at a time until the next heal goes ahead.
            let last = now;
            loop {
                now += secs(1);
                let d = step(&p, &mut st, &failing(3), now);
                if d.is_heal() {
                    break;
                }
                assert_eq!(skip_of(&d).code(), "backoff");
            }
            gaps.push((now - last).num_seconds());
        }
        assert_eq!(gaps, [10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(st.attempts, 9);

        // Healthy for just under 10 minutes: nothing resets.
        let healthy_from = now + secs(1);
        observe_status(&mut st, &p, Status::Healthy, healthy_from);
        assert_eq!(st.healthy_since, Some(healthy_from));
        observe_status(&mut st, &p, Status::Healthy, healthy_from + secs(599));
        assert_eq!(st.attempts, 9);
        // A degraded blip restarts the stretch.
        observe_status(&mut st, &p, Status::Degraded, healthy_from + secs(300));
        assert_eq!(st.healthy_since, None);
        let again = healthy_from + secs(301);
        observe_status(&mut st, &p, Status::Healthy, again);
        observe_status(&mut st, &p, Status::Healthy, again + secs(599));
        assert_eq!(st.attempts, 9);
        observe_status(&mut st, &p, Status::Healthy, again + secs(600));
        assert_eq!(st.attempts, 0);
        assert_eq!(st.healthy_since, Some(again));
        // Next failure heals at once, and the delay starts again at 10 s.
        now = again + secs(700);
        observe_status(&mut st, &p, Status::Down, now);
        assert_eq!(
            step(&p, &mut st, &failing(3), now).action(),
            Some(&HealAction::Restart)
        );
        assert_eq!(
            skip_of(&decide(&p, &st, &failing(3), now + secs(1))),
            SkipReason::Backoff {
                remaining: Duration::from_secs(9)
            }
        );
    }

    #[test]
    fn without_backoff_recovery_does_not_reset_attempts() {
        let p = policy();
        let mut st = HealState {
            attempts: 3,
            exhausted: true,
            last_attempt_at: Some(t0()),
            ..HealState::default()
        };
        observe_status(&mut st, &p, Status::Healthy, t0() + secs(1));
        observe_status(&mut st, &p, Status::Healthy, t0() + secs(86_400));
        assert_eq!(st.attempts, 3);
        assert!(st.exhausted);
        assert_eq!(st.healthy_since, Some(t0() + secs(1)));
    }

    #[test]
    fn exhaustion_is_reported_once() {
        let p = HealPolicy {
            cooldown: Duration::from_secs(60),
            ..policy()
        };
        let mut st = HealState::default();
        let mut now = t0();
        for n in 1..=3 {
            let d = step(&p, &mut st, &failing(3), now);
            assert!(matches!(d, HealDecision::Heal { attempt, .. } if attempt == n));
            now += secs(60);
        }
        let d = decide(&p, &st, &failing(3), now);
        assert!(newly_exhausted(&st, &d));
        record_attempt(&mut st, &d, now);
        assert!(st.exhausted);
        assert_eq!(st.attempts, 3);
        let d = decide(&p, &st, &failing(3), now + secs(3600));
        assert_eq!(
            skip_of(&d),
            SkipReason::MaxAttempts {
                attempts: 3,
                max: 3
            }
        );
        assert!(!newly_exhausted(&st, &d));
        assert!(!newly_exhausted(&st, &HealDecision::NotNeeded));
    }

    #[test]
    fn escalation_after_n_attempts_runs_once() {
        let p = HealPolicy {
            cooldown: Duration::from_secs(60),
            escalate_after_attempts: Some(3),
            escalation_action: Some(HealAction::Migrate),
            ..policy()
        };
        p.validate().unwrap();
        let mut st = HealState::default();
        let mut now = t0();
        for _ in 0..3 {
            assert_eq!(
                step(&p, &mut st, &failing(3), now).action(),
                Some(&HealAction::Restart)
            );
            now += secs(60);
        }
        // The escalation waits out the cooldown after the last attempt.
        assert_eq!(
            skip_of(&decide(&p, &st, &failing(3), now - secs(30))),
            SkipReason::Cooldown {
                remaining: Duration::from_secs(30)
            }
        );
        let d = decide(&p, &st, &failing(3), now);
        assert!(!newly_exhausted(&st, &d));
        assert_eq!(
            d,
            HealDecision::Heal {
                action: HealAction::Migrate,
                reason: "escalation after 3 attempts".into(),
                escalation: true,
                attempt: 4,
            }
        );
        record_attempt(&mut st, &d, now);
        assert!(st.escalated);
        assert_eq!(st.attempts, 4);
        now += secs(3600);
        let d = decide(&p, &st, &failing(3), now);
        // s/06, s/38: the escalation is not a fourth of three attempts
        assert_eq!(
            skip_of(&d),
            SkipReason::MaxAttempts {
                attempts: 3,
                max: 3
            }
        );
        assert_eq!(
            d.skip_reason().unwrap().to_string(),
            "max attempts reached (3 of 3)"
        );
        assert!(newly_exhausted(&st, &d));
        // Escalating with escalate_after below max still waits for max (002).
        let early = HealPolicy {
            escalate_after_attempts: Some(1),
            ..p.clone()
        };
        let one = HealState {
            attempts: 1,
            last_attempt_at: Some(t0()),
            ..HealState::default()
        };
        assert_eq!(
            decide(&early, &one, &failing(3), t0() + secs(60)).action(),
            Some(&HealAction::Restart)
        );
    }

    /// 002: `escalate_after_attempts` without `escalation_action` runs
    /// `notify_only` once the attempts are used up.
    #[test]
    fn escalation_without_an_action_notifies_only() {
        let p = HealPolicy {
            cooldown: Duration::from_secs(60),
            max_attempts: 2,
            escalate_after_attempts: Some(2),
            ..policy()
        };
        p.validate().unwrap();
        let mut st = HealState::default();
        let mut now = t0();
        for _ in 0..2 {
            assert!(step(&p, &mut st, &failing(3), now).is_heal());
            now += secs(60);
        }
        let d = step(&p, &mut st, &failing(3), now);
        assert_eq!(
            d,
            HealDecision::Heal {
                action: HealAction::NotifyOnly,
                reason: "escalation after 2 attempts".into(),
                escalation: true,
                attempt: 3,
            }
        );
        now += secs(60);
        let d = decide(&p, &st, &failing(3), now);
        assert_eq!(
            d.skip_reason().unwrap().to_string(),
            "max attempts reached (2 of 2)"
        );
    }

    #[test]
    fn manual_reset_rearms_but_keeps_cooldown() {
        let p = policy();
        let mut st = HealState {
            attempts: 4,
            last_attempt_at: Some(t0()),
            escalated: true,
            exhausted: true,
            healthy_since: None,
        };
        reset(&mut st);
        assert_eq!(st.attempts, 0);
        assert!(!st.escalated && !st.exhausted);
        assert_eq!(st.last_attempt_at, Some(t0()));
        assert_eq!(
            skip_of(&decide(&p, &st, &failing(3), t0() + secs(1))).code(),
            "cooldown"
        );
        assert!(decide(&p, &st, &failing(3), t0() + secs(600)).is_heal());
    }

    #[test]
    fn unlimited_attempts_are_paced_by_cooldown() {
        let p = HealPolicy {
            max_attempts: 0,
            cooldown: Duration::from_secs(60),
            ..policy()
        };
        let mut st = HealState {
            attempts: 10_000,
            last_attempt_at: Some(t0()),
            ..HealState::default()
        };
        assert_eq!(
            skip_of(&decide(&p, &st, &failing(3), t0())).code(),
            "cooldown"
        );
        assert!(step(&p, &mut st, &failing(3), t0() + secs(60)).is_heal());
        st.attempts = u32::MAX;
        assert!(step(&p, &mut st, &failing(3), t0() + secs(120)).is_heal());
        assert_eq!(st.attempts, u32::MAX);
    }

    #[test]
    fn skip_reason_texts_and_serde() {
        let cases = [
            (SkipReason::Disabled, "disabled", "auto-heal is disabled"),
            (SkipReason::Unreachable, "unreachable", "target unreachable"),
            (SkipReason::UnknownOutcome, "unknown_outcome", "unknown"),
            (
                SkipReason::Cooldown {
                    remaining: Duration::new(539_000, 400),
                },
                "cooldown",
                "in cooldown, 6days 5h 43m 20s 1ms remaining",
            ),
            (
                SkipReason::Backoff {
                    remaining: Duration::from_secs(20),
                },
                "backoff",
                "in backoff, 20s remaining",
            ),
            (
                SkipReason::MaxAttempts {
                    attempts: 3,
                    max: 3,
                },
                "max_attempts",
                "max attempts reached (3 of 3)",
            ),
            (
                SkipReason::BreakerOpen,
                "breaker_open",
                "circuit breaker open",
            ),
            (SkipReason::Maintenance, "maintenance", "maintenance window"),
            (SkipReason::Flapping, "flapping", "flapping"),
        ];
        for (reason, code, text) in cases {
            assert_eq!(reason.code(), code);
            assert!(reason.to_string().contains(text), "{reason}");
            let json = serde_json::to_value(reason).unwrap();
            assert_eq!(json["code"], code);
            assert_eq!(serde_json::from_value::<SkipReason>(json).unwrap(), reason);
        }
        let d = HealDecision::Skip {
            reason: SkipReason::Cooldown {
                remaining: Duration::from_secs(90),
            },
        };
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"decision": "skip", "reason": {"code": "cooldown", "remaining": "1m 30s"}})
        );
        assert_eq!(serde_json::from_value::<HealDecision>(json).unwrap(), d);
        let h = decide(&policy(), &HealState::default(), &failing(3), t0());
        let json = serde_json::to_value(&h).unwrap();
        assert_eq!(json["decision"], "heal");
        assert_eq!(json["action"], "restart");
        assert_eq!(serde_json::from_value::<HealDecision>(json).unwrap(), h);
        let st = HealState {
            attempts: 2,
            last_attempt_at: Some(t0()),
            ..HealState::default()
        };
        let back: HealState = serde_json::from_value(serde_json::to_value(&st).unwrap()).unwrap();
        assert_eq!(back, st);
    }

    fn arb_policy() -> impl Strategy<Value = HealPolicy> {
        (
            1u32..=4,
            0u32..=4,
            0u64..=120,
            proptest::option::of(1u32..=4),
            0u8..3,
            proptest::option::of((1u64..=20, 0u64..=100, 0u64..=200)),
        )
            .prop_map(|(trigger, max, cooldown, esc, action, backoff)| {
                let cooldown = if max == 0 { cooldown.max(1) } else { cooldown };
                let esc = esc.filter(|_| max > 0).map(|a| a.min(max));
                HealPolicy {
                    trigger_after_failures: trigger,
                    max_attempts: max,
                    cooldown: Duration::from_secs(cooldown),
                    escalate_after_attempts: esc,
                    // 0: no action given (002's notify_only default)
                    escalation_action: esc.and_then(|_| match action {
                        0 => None,
                        1 => Some(HealAction::custom("page-oncall").unwrap()),
                        _ => Some(HealAction::Migrate),
                    }),
                    backoff: backoff.map(|(initial, extra, reset_after)| BackoffConfig {
                        initial: Duration::from_secs(initial),
                        max: Duration::from_secs(initial + extra),
                        reset_after: Duration::from_secs(reset_after),
                    }),
                    ..policy()
                }
            })
    }

    #[derive(Debug, Clone)]
    struct Step {
        input: HealInput,
        advance_ms: i64,
        manual_reset: bool,
    }

    fn arb_step() -> impl Strategy<Value = Step> {
        (
            prop::sample::select(Outcome::ALL.to_vec()),
            prop::sample::select(Status::ALL.to_vec()),
            0u32..=8,
            prop::bool::weighted(0.85),
            prop::bool::weighted(0.1),
            prop::bool::weighted(0.1),
            prop_oneof![0i64..=5_000, 0i64..=200_000],
            prop::bool::weighted(0.03),
        )
            .prop_map(
                |(outcome, status, cf, breaker, maint, flap, advance_ms, manual_reset)| Step {
                    input: HealInput {
                        outcome,
                        status,
                        consecutive_failures: cf,
                        breaker_allows: breaker,
                        in_maintenance: maint,
                        flapping: flap,
                    },
                    advance_ms,
                    manual_reset,
                },
            )
    }

    proptest! {
        #[test]
        fn invariants_over_random_sequences(
            p in arb_policy(),
            steps in prop::collection::vec(arb_step(), 1..200),
        ) {
            prop_assert!(p.validate().is_ok(), "{:?}", p.validate());
            let mut st = HealState::default();
            let mut now = t0();
            let extra = u32::from(p.has_escalation());
            for s in &steps {
                now += chrono::TimeDelta::milliseconds(s.advance_ms);
                observe_status(&mut st, &p, s.input.status, now);
                if s.manual_reset {
                    reset(&mut st);
                }
                let d = decide(&p, &st, &s.input, now);
                // Pure and deterministic.
                prop_assert_eq!(&decide(&p, &st, &s.input, now), &d);
                if let HealDecision::Heal { escalation, attempt, .. } = &d {
                    prop_assert!(s.input.breaker_allows);
                    prop_assert!(!s.input.in_maintenance);
                    prop_assert!(!s.input.flapping);
                    prop_assert_eq!(s.input.outcome, Outcome::Fail);
                    prop_assert!(s.input.consecutive_failures >= p.trigger_after_failures);
                    prop_assert_eq!(*attempt, st.attempts + 1);
                    if let Some(last) = st.last_attempt_at {
                        let since = elapsed(last, now);
                        prop_assert!(since >= p.cooldown);
                        if let Some(b) = &p.backoff {
                            prop_assert!(since >= b.delay_after(st.attempts));
                        }
                    }
                    if *escalation {
                        prop_assert!(!st.escalated);
                        prop_assert!(p.max_attempts > 0 && st.attempts >= p.max_attempts);
                    } else if p.max_attempts > 0 {
                        prop_assert!(st.attempts < p.max_attempts);
                    }
                }
                if newly_exhausted(&st, &d) {
                    prop_assert!(!st.exhausted);
                }
                // the skip counts the policy's own attempts only
                if let Some(SkipReason::MaxAttempts { attempts, max }) = d.skip_reason() {
                    prop_assert_eq!(*max, p.max_attempts);
                    prop_assert_eq!(*attempts, *max);
                }
                let was_exhausted = st.exhausted;
                record_attempt(&mut st, &d, now);
                if was_exhausted {
                    prop_assert!(st.exhausted);
                }
                if p.max_attempts > 0 {
                    prop_assert!(st.attempts <= p.max_attempts + extra, "{:?}", st);
                }
                if !p.has_escalation() {
                    prop_assert!(!st.escalated);
                }
            }
        }

        #[test]
        fn never_panics_on_any_policy(
            trigger in any::<u32>(),
            max in any::<u32>(),
            cooldown_ns in any::<u64>(),
            esc in proptest::option::of(any::<u32>()),
            backoff in proptest::option::of((any::<u64>(), any::<u64>(), any::<u64>())),
            attempts in any::<u32>(),
            last_off in proptest::option::of(-1_000_000_000i64..1_000_000_000),
            cf in any::<u32>(),
            step in arb_step(),
        ) {
            let p = HealPolicy {
                trigger_after_failures: trigger,
                max_attempts: max,
                cooldown: Duration::from_nanos(cooldown_ns),
                escalate_after_attempts: esc,
                escalation_action: esc.map(|_| HealAction::Stop),
                backoff: backoff.map(|(a, b, c)| BackoffConfig {
                    initial: Duration::from_nanos(a),
                    max: Duration::from_nanos(b),
                    reset_after: Duration::from_nanos(c),
                }),
                ..policy()
            };
            let mut st = HealState {
                attempts,
                last_attempt_at: last_off.map(|s| t0() + secs(s)),
                healthy_since: last_off.map(|s| t0() - secs(s)),
                ..HealState::default()
            };
            let input = HealInput { consecutive_failures: cf, ..step.input };
            let _ = p.validate();
            observe_status(&mut st, &p, input.status, t0());
            let d = decide(&p, &st, &input, t0());
            let _ = d.to_string_lossy();
            record_attempt(&mut st, &d, t0());
        }
    }

    impl HealDecision {
        fn to_string_lossy(&self) -> String {
            match self {
                HealDecision::Skip { reason } => reason.to_string(),
                HealDecision::Heal { reason, .. } => reason.clone(),
                HealDecision::NotNeeded => String::new(),
            }
        }
    }
}
