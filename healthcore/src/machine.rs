//! The active check state machine (seeds 002, 003, 004).
//!
//! This module owns [`CheckState`] (consecutive and lifetime counters, the
//! current status and cause), [`Thresholds`] (taken from a
//! [`CheckSpec`]) and the rule [`CheckState::observe`] that folds one
//! [`Observation`] into the state and reports a [`Transition`] when the
//! status changes. It must not read the clock, do I/O, decide on healing,
//! alerts or flapping (other modules read its transitions), or allocate on
//! the per-observation path.
//!
//! Rules (DESIGN §4):
//!
//! - `fail`/`unreachable`: failures + 1, successes reset; at
//!   `failure_threshold` or more → `down`, below → `degraded` (cause
//!   `failing` or `unreachable`). A check that is already `down` stays
//!   `down` until it recovers through the success threshold.
//! - `pass`/`warn`: successes + 1, failures reset; at `success_threshold`
//!   or more → `healthy`/`passing`, except a pass slower than
//!   `degraded_latency` → `degraded`/`slow` and a warn →
//!   `degraded`/`warning`. Below the threshold the status stays.
//! - `unknown` (checker-side fault): counted in `total_checks` only; never
//!   changes the counters or the status; a still-unknown check gets cause
//!   `checker_error`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{
    Cause, CheckSpec, DEFAULT_FAILURE_THRESHOLD, DEFAULT_SUCCESS_THRESHOLD, Health, Observation,
    Outcome, Status,
};

/// The thresholds the machine judges by, taken from a [`CheckSpec`].
///
/// Zero thresholds are treated as 1 (validation refuses them, but the
/// machine never panics on them).
///
/// ```
/// use healthcore::machine::Thresholds;
/// use healthcore::model::CheckSpec;
/// let t = Thresholds::from(&CheckSpec::new("tcp"));
/// assert_eq!(t, Thresholds::default());
/// assert_eq!((t.failure_threshold, t.success_threshold), (3, 1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Consecutive failures before `down` (default 3).
    pub failure_threshold: u32,
    /// Consecutive successes before `healthy` (default 1).
    pub success_threshold: u32,
    /// A pass slower than this counts as `degraded`/`slow`.
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub degraded_latency: Option<Duration>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            failure_threshold: DEFAULT_FAILURE_THRESHOLD,
            success_threshold: DEFAULT_SUCCESS_THRESHOLD,
            degraded_latency: None,
        }
    }
}

impl From<&CheckSpec> for Thresholds {
    fn from(spec: &CheckSpec) -> Self {
        Self {
            failure_threshold: spec.failure_threshold,
            success_threshold: spec.success_threshold,
            degraded_latency: spec.degraded_latency,
        }
    }
}

impl Thresholds {
    /// `failure_threshold`, at least 1.
    pub const fn failures_for_down(&self) -> u32 {
        if self.failure_threshold == 0 {
            1
        } else {
            self.failure_threshold
        }
    }

    /// `success_threshold`, at least 1.
    pub const fn successes_for_healthy(&self) -> u32 {
        if self.success_threshold == 0 {
            1
        } else {
            self.success_threshold
        }
    }
}

/// A change of status, returned by [`CheckState::observe`].
///
/// Cause-only changes (e.g. `down/failing` → `down/unreachable`) are not
/// transitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Transition {
    /// Status and cause before.
    pub from: Health,
    /// Status and cause after.
    pub to: Health,
    /// When (the deciding observation's `at`).
    pub at: DateTime<Utc>,
    /// True when a `degraded` or `down` check became `healthy`.
    pub recovered: bool,
}

/// Everything the machine remembers about one check.
///
/// Persisted by stores (it survives restarts); `last_latency` reads and
/// writes as `last_latency_ms`. Missing fields take their defaults.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use healthcore::machine::{CheckState, Thresholds};
/// use healthcore::model::{Observation, Outcome, Status};
/// let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
/// let t = Thresholds::default();
/// let mut s = CheckState::default();
/// let tr = s.observe(&t, &Observation::new(at, Outcome::Pass)).unwrap();
/// assert_eq!((tr.from.status, tr.to.status), (Status::Unknown, Status::Healthy));
/// assert!(s.observe(&t, &Observation::new(at, Outcome::Pass)).is_none());
/// s.observe(&t, &Observation::new(at, Outcome::Fail));
/// s.observe(&t, &Observation::new(at, Outcome::Fail));
/// let tr = s.observe(&t, &Observation::new(at, Outcome::Fail)).unwrap();
/// assert_eq!(tr.to.status, Status::Down);
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckState {
    /// Current status.
    pub status: Status,
    /// Why.
    pub cause: Cause,
    /// Failures (`fail`, `unreachable`) in a row.
    pub consecutive_failures: u32,
    /// Successes (`pass`, `warn`) in a row.
    pub consecutive_successes: u32,
    /// Observations ever, `unknown` included.
    pub total_checks: u64,
    /// `fail` and `unreachable` observations ever.
    pub total_failures: u64,
    /// Transitions from `degraded`/`down` to `healthy` ever.
    pub total_recoveries: u64,
    /// `at` of the last observation of any outcome.
    pub last_check_at: Option<DateTime<Utc>>,
    /// `at` of the last success (`pass` or `warn`), as 002's `lastHealthyAt`.
    pub last_healthy_at: Option<DateTime<Utc>>,
    /// `at` of the last failure (`fail` or `unreachable`), as 002's
    /// `lastUnhealthyAt`.
    pub last_unhealthy_at: Option<DateTime<Utc>>,
    /// The last observation's outcome.
    pub last_outcome: Option<Outcome>,
    /// The last observation's latency, if it had one.
    #[serde(rename = "last_latency_ms", with = "crate::model::serde_ms")]
    pub last_latency: Option<Duration>,
}

impl CheckState {
    /// Current status with its cause.
    pub const fn health(&self) -> Health {
        Health::new(self.status, self.cause)
    }

    /// Folds one observation into the state; returns the transition when
    /// the status changed. Never allocates, never panics; counters
    /// saturate.
    pub fn observe(&mut self, t: &Thresholds, obs: &Observation) -> Option<Transition> {
        let from = self.health();
        self.total_checks = self.total_checks.saturating_add(1);
        self.last_check_at = Some(obs.at);
        self.last_outcome = Some(obs.outcome);
        self.last_latency = obs.latency;

        match obs.outcome {
            Outcome::Fail | Outcome::Unreachable => {
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                self.consecutive_successes = 0;
                self.total_failures = self.total_failures.saturating_add(1);
                self.last_unhealthy_at = Some(obs.at);
                self.cause = if obs.outcome == Outcome::Unreachable {
                    Cause::Unreachable
                } else {
                    Cause::Failing
                };
                self.status = if self.consecutive_failures >= t.failures_for_down() {
                    Status::Down
                } else if self.status == Status::Down {
                    // Not yet recovered: a failure never improves a status.
                    Status::Down
                } else {
                    Status::Degraded
                };
            }
            Outcome::Pass | Outcome::Warn => {
                self.consecutive_successes = self.consecutive_successes.saturating_add(1);
                self.consecutive_failures = 0;
                self.last_healthy_at = Some(obs.at);
                if self.consecutive_successes >= t.successes_for_healthy() {
                    let slow = matches!(
                        (obs.latency, t.degraded_latency),
                        (Some(l), Some(limit)) if l > limit
                    );
                    let (status, cause) = if obs.outcome == Outcome::Warn {
                        (Status::Degraded, Cause::Warning)
                    } else if slow {
                        (Status::Degraded, Cause::Slow)
                    } else {
                        (Status::Healthy, Cause::Passing)
                    };
                    self.status = status;
                    self.cause = cause;
                }
            }
            Outcome::Unknown => {
                if self.status == Status::Unknown {
                    self.cause = Cause::CheckerError;
                }
            }
        }

        if self.status == from.status {
            return None;
        }
        let recovered = self.status == Status::Healthy && from.status.is_problem();
        if recovered {
            self.total_recoveries = self.total_recoveries.saturating_add(1);
        }
        Some(Transition {
            from,
            to: self.health(),
            at: obs.at,
            recovered,
        })
    }
}

/// A check's thresholds and state together.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use healthcore::machine::CheckMachine;
/// use healthcore::model::{CheckSpec, Observation, Outcome, Status};
/// let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
/// let mut m = CheckMachine::for_spec(&CheckSpec::new("tcp"));
/// let tr = m.observe(&Observation::new(at, Outcome::Unreachable)).unwrap();
/// assert_eq!(tr.to.status, Status::Degraded);
/// assert_eq!(m.state.consecutive_failures, 1);
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CheckMachine {
    /// What the state is judged by.
    pub thresholds: Thresholds,
    /// What has been seen.
    pub state: CheckState,
}

impl CheckMachine {
    /// A fresh machine (status `unknown`).
    pub fn new(thresholds: Thresholds) -> Self {
        Self {
            thresholds,
            state: CheckState::default(),
        }
    }

    /// A fresh machine with `spec`'s thresholds.
    pub fn for_spec(spec: &CheckSpec) -> Self {
        Self::new(Thresholds::from(spec))
    }

    /// A machine resuming from a persisted state.
    pub fn with_state(thresholds: Thresholds, state: CheckState) -> Self {
        Self { thresholds, state }
    }

    /// Folds one observation in; see [`CheckState::observe`].
    pub fn observe(&mut self, obs: &Observation) -> Option<Transition> {
        self.state.observe(&self.thresholds, obs)
    }

    /// Current status with its cause.
    pub const fn health(&self) -> Health {
        self.state.health()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone};
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    fn obs(i: i64, outcome: Outcome) -> Observation {
        Observation::new(t0() + TimeDelta::seconds(i * 60), outcome)
    }

    fn h(status: Status, cause: Cause) -> Health {
        Health::new(status, cause)
    }

    /// Feeds outcomes; returns the health after each and the transitions.
    fn run(t: &Thresholds, outcomes: &[Outcome]) -> (CheckState, Vec<Option<Transition>>) {
        let mut s = CheckState::default();
        let trs = outcomes
            .iter()
            .enumerate()
            .map(|(i, &o)| s.observe(t, &obs(i as i64, o)))
            .collect();
        (s, trs)
    }

    use Outcome::{Fail, Pass, Unknown as Unk, Unreachable, Warn};

    #[test]
    fn defaults() {
        let t = Thresholds::default();
        assert_eq!(t.failure_threshold, 3);
        assert_eq!(t.success_threshold, 1);
        assert_eq!(t.degraded_latency, None);
        let s = CheckState::default();
        assert_eq!(s.health(), h(Status::Unknown, Cause::None));
        assert_eq!(s.total_checks, 0);
        assert!(s.last_outcome.is_none());
    }

    #[test]
    fn from_spec_copies_thresholds() {
        let mut spec = CheckSpec::new("http");
        spec.failure_threshold = 5;
        spec.success_threshold = 2;
        spec.degraded_latency = Some(Duration::from_millis(800));
        let t = Thresholds::from(&spec);
        assert_eq!(
            t,
            Thresholds {
                failure_threshold: 5,
                success_threshold: 2,
                degraded_latency: Some(Duration::from_millis(800)),
            }
        );
        assert_eq!(CheckMachine::for_spec(&spec).thresholds, t);
    }

    #[test]
    fn failures_degrade_then_down() {
        let t = Thresholds::default();
        let (s, trs) = run(&t, &[Fail, Fail, Fail, Fail]);
        let t1 = trs[0].unwrap();
        assert_eq!(t1.from, h(Status::Unknown, Cause::None));
        assert_eq!(t1.to, h(Status::Degraded, Cause::Failing));
        assert_eq!(t1.at, obs(0, Fail).at);
        assert!(!t1.recovered);
        assert!(trs[1].is_none());
        let t3 = trs[2].unwrap();
        assert_eq!(t3.from, h(Status::Degraded, Cause::Failing));
        assert_eq!(t3.to, h(Status::Down, Cause::Failing));
        assert!(trs[3].is_none());
        assert_eq!(s.consecutive_failures, 4);
        assert_eq!(s.total_failures, 4);
        assert_eq!(s.total_checks, 4);
        assert_eq!(s.last_unhealthy_at, Some(obs(3, Fail).at));
        assert_eq!(s.last_healthy_at, None);
    }

    #[test]
    fn unreachable_cause() {
        let t = Thresholds::default();
        let (s, trs) = run(&t, &[Unreachable, Unreachable, Unreachable]);
        assert_eq!(trs[0].unwrap().to, h(Status::Degraded, Cause::Unreachable));
        assert_eq!(trs[2].unwrap().to, h(Status::Down, Cause::Unreachable));
        assert_eq!(s.total_failures, 3);
        // Mixed: the latest failure's kind is the cause; counters add up.
        let (s, trs) = run(&t, &[Fail, Unreachable, Fail]);
        assert_eq!(trs[2].unwrap().to, h(Status::Down, Cause::Failing));
        assert_eq!(s.consecutive_failures, 3);
    }

    #[test]
    fn cause_only_change_is_silent() {
        let t = Thresholds::default();
        let (s, trs) = run(&t, &[Fail, Fail, Fail, Unreachable]);
        assert!(trs[3].is_none());
        assert_eq!(s.health(), h(Status::Down, Cause::Unreachable));
        let (s, trs) = run(&t, &[Fail, Unreachable]);
        assert!(trs[1].is_none());
        assert_eq!(s.health(), h(Status::Degraded, Cause::Unreachable));
    }

    #[test]
    fn threshold_one_goes_straight_down() {
        let t = Thresholds {
            failure_threshold: 1,
            ..Thresholds::default()
        };
        let (_, trs) = run(&t, &[Pass, Fail]);
        assert_eq!(trs[1].unwrap().to, h(Status::Down, Cause::Failing));
    }

    #[test]
    fn pass_recovers_and_counts() {
        let t = Thresholds::default();
        let (s, trs) = run(&t, &[Pass, Fail, Pass, Fail, Fail, Fail, Pass]);
        let first = trs[0].unwrap();
        assert_eq!(first.to, h(Status::Healthy, Cause::Passing));
        assert!(!first.recovered, "unknown → healthy is not a recovery");
        let r1 = trs[2].unwrap();
        assert_eq!(r1.from.status, Status::Degraded);
        assert!(r1.recovered);
        let r2 = trs[6].unwrap();
        assert_eq!(r2.from, h(Status::Down, Cause::Failing));
        assert_eq!(r2.to, h(Status::Healthy, Cause::Passing));
        assert!(r2.recovered);
        assert_eq!(s.total_recoveries, 2);
        assert_eq!(s.total_failures, 4);
        assert_eq!(s.total_checks, 7);
        assert_eq!(s.consecutive_failures, 0);
        assert_eq!(s.consecutive_successes, 1);
        assert_eq!(s.last_healthy_at, Some(obs(6, Pass).at));
        assert_eq!(s.last_unhealthy_at, Some(obs(5, Fail).at));
    }

    #[test]
    fn success_threshold_holds_status() {
        let t = Thresholds {
            success_threshold: 2,
            ..Thresholds::default()
        };
        // From unknown, one pass is not enough.
        let (s, trs) = run(&t, &[Pass]);
        assert!(trs[0].is_none());
        assert_eq!(s.status, Status::Unknown);
        assert_eq!(s.consecutive_successes, 1);
        let (s, trs) = run(&t, &[Pass, Pass]);
        assert_eq!(trs[1].unwrap().to, h(Status::Healthy, Cause::Passing));
        assert_eq!(s.total_recoveries, 0);
        // From down, the first pass holds down, the second recovers.
        let (s, trs) = run(&t, &[Fail, Fail, Fail, Pass, Pass]);
        assert!(trs[3].is_none());
        assert!(trs[4].unwrap().recovered);
        assert_eq!(s.total_recoveries, 1);
    }

    #[test]
    fn failure_below_threshold_after_down_stays_down() {
        // Down, one pass (below success threshold 2), then one failure:
        // not recovered, so still down rather than "improving" to degraded.
        let t = Thresholds {
            success_threshold: 2,
            ..Thresholds::default()
        };
        let (s, trs) = run(&t, &[Fail, Fail, Fail, Pass, Unreachable]);
        assert!(trs[4].is_none());
        assert_eq!(s.health(), h(Status::Down, Cause::Unreachable));
        assert_eq!(s.consecutive_failures, 1);
    }

    #[test]
    fn slow_pass_is_degraded() {
        let t = Thresholds {
            degraded_latency: Some(Duration::from_millis(500)),
            ..Thresholds::default()
        };
        let mut s = CheckState::default();
        let tr = s
            .observe(&t, &obs(0, Pass).with_latency(Duration::from_millis(501)))
            .unwrap();
        assert_eq!(tr.to, h(Status::Degraded, Cause::Slow));
        assert_eq!(s.last_latency, Some(Duration::from_millis(501)));
        // Exactly at the limit is not slow.
        let tr = s
            .observe(&t, &obs(1, Pass).with_latency(Duration::from_millis(500)))
            .unwrap();
        assert_eq!(tr.to, h(Status::Healthy, Cause::Passing));
        assert!(tr.recovered);
        // No latency is not slow.
        assert!(s.observe(&t, &obs(2, Pass)).is_none());
        assert_eq!(s.last_latency, None);
        // Without a limit, any latency is fine.
        let mut s = CheckState::default();
        s.observe(
            &Thresholds::default(),
            &obs(0, Pass).with_latency(Duration::from_secs(100)),
        );
        assert_eq!(s.health(), h(Status::Healthy, Cause::Passing));
    }

    #[test]
    fn warn_is_degraded_and_a_success() {
        let t = Thresholds::default();
        let (s, trs) = run(&t, &[Fail, Fail, Fail, Warn]);
        let tr = trs[3].unwrap();
        assert_eq!(tr.from, h(Status::Down, Cause::Failing));
        assert_eq!(tr.to, h(Status::Degraded, Cause::Warning));
        assert!(!tr.recovered);
        assert_eq!(s.consecutive_failures, 0);
        assert_eq!(s.consecutive_successes, 1);
        assert_eq!(s.last_healthy_at, Some(obs(3, Warn).at));
        assert_eq!(s.total_recoveries, 0);
        // Healthy → warn → degraded; warn → pass → healthy (a recovery).
        let (s, trs) = run(&t, &[Pass, Warn, Pass]);
        assert_eq!(trs[1].unwrap().to, h(Status::Degraded, Cause::Warning));
        assert!(trs[2].unwrap().recovered);
        assert_eq!(s.total_recoveries, 1);
        assert_eq!(s.total_failures, 0);
    }

    #[test]
    fn degraded_cause_change_is_silent() {
        // Degraded/failing → warn → degraded/warning: cause only.
        let t = Thresholds::default();
        let (s, trs) = run(&t, &[Fail, Warn]);
        assert!(trs[1].is_none());
        assert_eq!(s.health(), h(Status::Degraded, Cause::Warning));
    }

    #[test]
    fn unknown_outcome_counts_only_total_checks() {
        let t = Thresholds::default();
        let (s, trs) = run(&t, &[Unk, Unk, Unk, Unk]);
        assert!(trs.iter().all(Option::is_none));
        assert_eq!(s.health(), h(Status::Unknown, Cause::CheckerError));
        assert_eq!(s.total_checks, 4);
        assert_eq!(s.total_failures, 0);
        assert_eq!(s.consecutive_failures, 0);
        assert_eq!(s.consecutive_successes, 0);
        assert_eq!(s.last_outcome, Some(Unk));
        assert_eq!(s.last_check_at, Some(obs(3, Unk).at));

        // Interleaved with failures, unknown neither resets nor adds.
        let (s, trs) = run(&t, &[Fail, Unk, Fail, Unk, Fail]);
        assert_eq!(trs[4].unwrap().to.status, Status::Down);
        assert_eq!(s.consecutive_failures, 3);
        assert_eq!(s.total_failures, 3);
        assert_eq!(s.total_checks, 5);

        // On a known status, unknown keeps status and cause.
        let (s, trs) = run(&t, &[Pass, Unk]);
        assert!(trs[1].is_none());
        assert_eq!(s.health(), h(Status::Healthy, Cause::Passing));
        assert_eq!(s.consecutive_successes, 1);
    }

    #[test]
    fn zero_thresholds_act_as_one() {
        let t = Thresholds {
            failure_threshold: 0,
            success_threshold: 0,
            degraded_latency: None,
        };
        let (s, trs) = run(&t, &[Fail, Pass]);
        assert_eq!(trs[0].unwrap().to.status, Status::Down);
        assert_eq!(trs[1].unwrap().to.status, Status::Healthy);
        assert_eq!(s.total_recoveries, 1);
    }

    #[test]
    fn counters_saturate() {
        let t = Thresholds::default();
        let mut s = CheckState {
            consecutive_failures: u32::MAX,
            total_checks: u64::MAX,
            total_failures: u64::MAX,
            total_recoveries: u64::MAX,
            status: Status::Down,
            cause: Cause::Failing,
            ..CheckState::default()
        };
        assert!(s.observe(&t, &obs(0, Fail)).is_none());
        assert_eq!(s.consecutive_failures, u32::MAX);
        assert_eq!(s.total_checks, u64::MAX);
        assert_eq!(s.total_failures, u64::MAX);
        assert!(s.observe(&t, &obs(1, Pass)).unwrap().recovered);
        assert_eq!(s.total_recoveries, u64::MAX);
        let mut s = CheckState {
            consecutive_successes: u32::MAX,
            ..CheckState::default()
        };
        s.observe(&t, &obs(0, Pass));
        assert_eq!(s.consecutive_successes, u32::MAX);
    }

    #[test]
    fn machine_wraps_state() {
        let mut m = CheckMachine::new(Thresholds {
            failure_threshold: 2,
            ..Thresholds::default()
        });
        assert!(m.observe(&obs(0, Fail)).is_some());
        assert_eq!(m.observe(&obs(1, Fail)).unwrap().to.status, Status::Down);
        assert_eq!(m.health(), h(Status::Down, Cause::Failing));
        let resumed = CheckMachine::with_state(m.thresholds, m.state.clone());
        assert_eq!(resumed, m);
    }

    #[test]
    fn serde_round_trip_and_shape() {
        let t = Thresholds {
            degraded_latency: Some(Duration::from_millis(800)),
            ..Thresholds::default()
        };
        let mut s = CheckState::default();
        s.observe(
            &t,
            &obs(0, Pass).with_latency(Duration::from_micros(12_500)),
        );
        s.observe(&t, &obs(1, Fail));
        s.observe(&t, &obs(2, Pass).with_latency(Duration::from_millis(900)));
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["status"], "degraded");
        assert_eq!(json["cause"], "slow");
        assert_eq!(json["last_latency_ms"], 900.0);
        assert_eq!(json["last_outcome"], "pass");
        assert_eq!(json["total_checks"], 3);
        let back: CheckState = serde_json::from_value(json).unwrap();
        assert_eq!(back, s);
        // Older or partial states load with defaults.
        let partial: CheckState =
            serde_json::from_str(r#"{"status":"down","consecutive_failures":4}"#).unwrap();
        assert_eq!(partial.status, Status::Down);
        assert_eq!(partial.consecutive_failures, 4);
        assert_eq!(partial.last_latency, None);

        let tj = serde_json::to_value(t).unwrap();
        assert_eq!(
            tj,
            serde_json::json!({"failure_threshold": 3, "success_threshold": 1, "degraded_latency": "800ms"})
        );
        let tb: Thresholds = serde_json::from_value(tj).unwrap();
        assert_eq!(tb, t);
        let td: Thresholds = serde_json::from_str("{}").unwrap();
        assert_eq!(td, Thresholds::default());

        let tr = run(&Thresholds::default(), &[Pass]).1.remove(0).unwrap();
        let trj = serde_json::to_value(tr).unwrap();
        assert_eq!(trj["to"]["status"], "healthy");
        assert_eq!(trj["recovered"], false);
    }

    fn outcome() -> impl Strategy<Value = Outcome> {
        prop::sample::select(Outcome::ALL.to_vec())
    }

    fn step() -> impl Strategy<Value = (Outcome, Option<u64>)> {
        (outcome(), proptest::option::of(0u64..2_000))
    }

    fn thresholds() -> impl Strategy<Value = Thresholds> {
        (0u32..6, 0u32..6, proptest::option::of(0u64..1_000)).prop_map(|(f, s, d)| Thresholds {
            failure_threshold: f,
            success_threshold: s,
            degraded_latency: d.map(Duration::from_millis),
        })
    }

    proptest! {
        #[test]
        fn invariants_hold_for_any_sequence(
            t in thresholds(),
            steps in proptest::collection::vec(step(), 0..200),
        ) {
            let mut s = CheckState::default();
            let mut failures = 0u64;
            let mut recoveries = 0u64;
            for (i, (o, lat)) in steps.iter().enumerate() {
                let mut ob = obs(i as i64, *o);
                ob.latency = lat.map(Duration::from_millis);
                let before = s.clone();
                let tr = s.observe(&t, &ob);

                prop_assert!(!(s.consecutive_failures > 0 && s.consecutive_successes > 0));
                prop_assert_eq!(s.total_checks, i as u64 + 1);
                if o.is_failure() { failures += 1; }
                prop_assert_eq!(s.total_failures, failures);

                // Down is only entered at the failure threshold.
                if s.status == Status::Down && before.status != Status::Down {
                    prop_assert!(s.consecutive_failures >= t.failure_threshold.max(1));
                }
                // Unknown outcomes change neither status nor counters.
                if *o == Outcome::Unknown {
                    prop_assert!(tr.is_none());
                    prop_assert_eq!(s.status, before.status);
                    prop_assert_eq!(s.consecutive_failures, before.consecutive_failures);
                    prop_assert_eq!(s.consecutive_successes, before.consecutive_successes);
                    prop_assert_eq!(s.total_recoveries, before.total_recoveries);
                }
                // Transitions are exactly the status changes.
                match tr {
                    Some(tr) => {
                        prop_assert_ne!(tr.from.status, tr.to.status);
                        prop_assert_eq!(tr.from, before.health());
                        prop_assert_eq!(tr.to, s.health());
                        prop_assert_eq!(tr.at, ob.at);
                        prop_assert_eq!(
                            tr.recovered,
                            tr.to.status == Status::Healthy && tr.from.status.is_problem()
                        );
                        if tr.recovered { recoveries += 1; }
                    }
                    None => prop_assert_eq!(s.status, before.status),
                }
                prop_assert_eq!(s.total_recoveries, recoveries);
                // Healthy only on a fast pass at the success threshold.
                if s.status == Status::Healthy {
                    prop_assert_eq!(s.cause, Cause::Passing);
                    prop_assert!(s.consecutive_successes >= 1 || *o == Outcome::Unknown);
                }
                if s.status == Status::Down {
                    prop_assert!(matches!(s.cause, Cause::Failing | Cause::Unreachable));
                }
            }
        }

        #[test]
        fn unknown_never_produces_down(
            t in thresholds(),
            steps in proptest::collection::vec(
                prop_oneof![Just(Outcome::Unknown), Just(Outcome::Pass), Just(Outcome::Warn)],
                0..100,
            ),
        ) {
            let mut s = CheckState::default();
            for (i, o) in steps.iter().enumerate() {
                s.observe(&t, &obs(i as i64, *o));
                prop_assert_ne!(s.status, Status::Down);
                prop_assert_eq!(s.consecutive_failures, 0);
            }
        }

        #[test]
        fn no_panic_from_any_state(
            status in prop::sample::select(Status::ALL.to_vec()),
            cf in any::<u32>(), cs in any::<u32>(),
            tc in any::<u64>(), tf in any::<u64>(), tr in any::<u64>(),
            ft in any::<u32>(), st in any::<u32>(),
            lat in any::<u64>(), limit in any::<u64>(),
            o in outcome(),
        ) {
            let t = Thresholds {
                failure_threshold: ft,
                success_threshold: st,
                degraded_latency: Some(Duration::from_nanos(limit)),
            };
            let mut s = CheckState {
                status,
                consecutive_failures: cf,
                consecutive_successes: cs,
                total_checks: tc,
                total_failures: tf,
                total_recoveries: tr,
                ..CheckState::default()
            };
            let ob = Observation::new(DateTime::<Utc>::MAX_UTC, o)
                .with_latency(Duration::from_nanos(lat));
            let _ = s.observe(&t, &ob);
            prop_assert!(s.total_checks >= tc);
            prop_assert!(s.total_failures >= tf);
            prop_assert!(s.total_recoveries >= tr);
        }
    }
}
