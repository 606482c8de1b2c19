//! The circuit breaker that gates healing (seed 003), with an optional
//! failure-rate mode in the style of resilience4j.
//!
//! This module owns the breaker's state machine and nothing else: it does
//! not decide what a "failure" is (the caller records the outcome of a heal
//! attempt or a probe), it does not persist anything (the caller stores the
//! [`CircuitBreaker`] value, which is plain serde data) and it never reads a
//! clock (`now` is always an argument).
//!
//! # Semantics (seed 003, `circuit-breaker.ts`)
//!
//! - **closed → open** after `failure_threshold` (3) consecutive failures:
//!   the change reports `tripped: true` and `trips` grows by one. In
//!   failure-rate mode the breaker also opens when, with at least
//!   `minimum_calls` outcomes in the window of the last `window` calls, the
//!   percentage of failures is at least `threshold_percent`.
//! - **open → half_open** once `now - opened_at ≥ cooldown` (30 min). This
//!   is an *effective* state: [`CircuitBreaker::effective_state`] and
//!   [`CircuitBreaker::should_attempt`] see it without any write, and the
//!   next `record_*` call moves the stored state there first (the change it
//!   returns has `from: half_open`).
//! - **half_open → open** on a failure, with a new `opened_at`. This is not
//!   a new trip: `tripped: false`, `trips` unchanged.
//! - **any → closed** on a success; the change reports `recovered: true`
//!   when the breaker was not closed or had failures (003's
//!   `getStateAfterSuccess`). A success on a clean closed breaker returns
//!   `None`.
//!
//! Decisions where 003 is silent:
//!
//! - A failure recorded while the breaker is open and still cooling down
//!   (the caller should not have attempted) is counted in
//!   `consecutive_failures` but neither extends the cooldown nor counts as a
//!   trip.
//! - An open breaker without `opened_at` (hand-edited state) stays open
//!   until a success or [`CircuitBreaker::reset`], as in 003.
//! - The failure-rate window only records outcomes while closed; it is
//!   cleared whenever the breaker opens and whenever it closes from a
//!   non-closed state (resilience4j resets its metrics on transitions), so a
//!   recovered breaker does not re-trip on old failures. Only a failure can
//!   trip the breaker by rate.
//! - [`CircuitBreaker::reset`] keeps the lifetime `trips` counter.
//!
//! ```
//! use chrono::{Duration, TimeZone, Utc};
//! use healthcore::breaker::{BreakerConfig, BreakerState, CircuitBreaker};
//!
//! let cfg = BreakerConfig::default();
//! let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
//! let mut b = CircuitBreaker::default();
//! assert!(b.record_failure(&cfg, t0).is_none());
//! assert!(b.record_failure(&cfg, t0).is_none());
//! let trip = b.record_failure(&cfg, t0).unwrap();
//! assert!(trip.tripped);
//! assert!(!b.should_attempt(&cfg, t0 + Duration::minutes(29)));
//! assert_eq!(b.effective_state(&cfg, t0 + Duration::minutes(30)), BreakerState::HalfOpen);
//! let back = b.record_success(&cfg, t0 + Duration::minutes(30)).unwrap();
//! assert!(back.recovered);
//! assert_eq!(b.state, BreakerState::Closed);
//! ```

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::model::MAX_THRESHOLD;

/// Default consecutive failures before the breaker opens (003: 3).
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 3;
/// Default time an open breaker waits before allowing a probe (003: 30 min).
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(30 * 60);
/// Largest failure-rate window: outcomes are kept as bits of a `u64`.
pub const MAX_WINDOW: u32 = 64;
/// Default failure-rate window (last 20 calls).
pub const DEFAULT_WINDOW: u32 = 20;
/// Default calls needed in the window before the rate is judged.
pub const DEFAULT_MINIMUM_CALLS: u32 = 10;
/// Default failure percentage that opens the breaker.
pub const DEFAULT_THRESHOLD_PERCENT: f64 = 50.0;

/// The breaker's state.
///
/// ```
/// use healthcore::breaker::BreakerState;
/// assert_eq!(BreakerState::HalfOpen.as_str(), "half_open");
/// assert_eq!(serde_json::to_string(&BreakerState::Open).unwrap(), "\"open\"");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Attempts are allowed.
    #[default]
    Closed,
    /// Attempts are refused until the cooldown has passed.
    Open,
    /// The cooldown has passed: one probe attempt decides open or closed.
    HalfOpen,
}

impl BreakerState {
    /// All states.
    pub const ALL: [BreakerState; 3] = [
        BreakerState::Closed,
        BreakerState::Open,
        BreakerState::HalfOpen,
    ];

    /// The snake_case name used in JSON and SQL.
    pub const fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }

    /// Parses a snake_case name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the breaker trips and recovers.
///
/// ```
/// use healthcore::breaker::BreakerConfig;
/// let cfg: BreakerConfig = serde_json::from_value(serde_json::json!({
///     "cooldown": "10m",
///     "failure_rate": {"window": 20, "minimum_calls": 10, "threshold_percent": 50.0}
/// })).unwrap();
/// assert_eq!(cfg.failure_threshold, 3);
/// assert_eq!(cfg.cooldown.as_secs(), 600);
/// cfg.validate().unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Consecutive failures that open a closed breaker (1..=1000).
    pub failure_threshold: u32,
    /// How long an open breaker refuses attempts (> 0).
    #[serde(with = "humantime_serde")]
    pub cooldown: Duration,
    /// Optional failure-rate mode, on top of the consecutive rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_rate: Option<FailureRateConfig>,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: DEFAULT_FAILURE_THRESHOLD,
            cooldown: DEFAULT_COOLDOWN,
            failure_rate: None,
        }
    }
}

impl BreakerConfig {
    /// Checks every rule; the error names the field.
    ///
    /// Rules: `failure_threshold` in 1..=1000; `cooldown` > 0; the
    /// failure-rate block (if any) as [`FailureRateConfig::validate`], its
    /// fields prefixed `failure_rate.`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.failure_threshold == 0 || self.failure_threshold > MAX_THRESHOLD {
            return Err(ValidationError::new(
                "failure_threshold",
                "must be in 1..=1000",
            ));
        }
        if self.cooldown.is_zero() {
            return Err(ValidationError::new("cooldown", "must be greater than 0"));
        }
        if let Some(rate) = &self.failure_rate {
            rate.validate().map_err(|e| e.within("failure_rate"))?;
        }
        Ok(())
    }
}

/// Failure-rate mode: open when too many of the last calls failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FailureRateConfig {
    /// How many of the most recent calls are judged (1..=64).
    pub window: u32,
    /// Calls needed in the window before the rate counts (1..=window).
    pub minimum_calls: u32,
    /// Failure percentage (of calls in the window) that opens the breaker,
    /// in (0, 100].
    pub threshold_percent: f64,
}

impl Default for FailureRateConfig {
    fn default() -> Self {
        Self {
            window: DEFAULT_WINDOW,
            minimum_calls: DEFAULT_MINIMUM_CALLS,
            threshold_percent: DEFAULT_THRESHOLD_PERCENT,
        }
    }
}

impl FailureRateConfig {
    /// Checks every rule; the error names the field.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.window == 0 || self.window > MAX_WINDOW {
            return Err(ValidationError::new("window", "must be in 1..=64"));
        }
        if self.minimum_calls == 0 || self.minimum_calls > self.window {
            return Err(ValidationError::new(
                "minimum_calls",
                "must be in 1..=window",
            ));
        }
        if !(self.threshold_percent > 0.0 && self.threshold_percent <= 100.0) {
            return Err(ValidationError::new(
                "threshold_percent",
                "must be greater than 0 and at most 100",
            ));
        }
        Ok(())
    }

    /// True when the outcomes in `bits` (1 = failure, bit 0 newest) over
    /// `calls` recorded calls reach the threshold. Never panics, whatever
    /// the config.
    fn trips(&self, bits: u64, calls: u8) -> bool {
        let window = self.window.min(MAX_WINDOW);
        if window == 0 {
            return false;
        }
        let in_window = u32::from(calls).min(window);
        if in_window == 0 || in_window < self.minimum_calls {
            return false;
        }
        let failures = (bits & window_mask(in_window)).count_ones();
        let percent = f64::from(failures) * 100.0 / f64::from(in_window);
        percent >= self.threshold_percent
    }
}

/// Mask of the `n` lowest bits (`n` ≤ 64).
fn window_mask(n: u32) -> u64 {
    if n >= 64 { u64::MAX } else { (1u64 << n) - 1 }
}

/// What a `record_*` call changed, when it changed something worth telling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakerChange {
    /// Effective state before the call.
    pub from: BreakerState,
    /// State after the call.
    pub to: BreakerState,
    /// When.
    pub at: DateTime<Utc>,
    /// The breaker has just opened from closed (a new trip).
    pub tripped: bool,
    /// A success closed a breaker that was not closed or had failures.
    pub recovered: bool,
}

/// One breaker's persisted state (003's `circuit_state`,
/// `consecutive_failures`, `circuit_opened_at`), plus a lifetime trip
/// counter and the failure-rate window.
///
/// `Default` is a clean closed breaker. All fields default when missing,
/// so state stored by an older version still loads.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CircuitBreaker {
    /// Stored state; see [`CircuitBreaker::effective_state`] for the state
    /// with the cooldown applied.
    pub state: BreakerState,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// When the breaker last opened (trip or failed probe).
    pub opened_at: Option<DateTime<Utc>>,
    /// Lifetime count of closed → open trips; never decreases.
    pub trips: u64,
    /// Outcomes of the most recent calls while closed, one bit each
    /// (1 = failure), bit 0 the newest. Used by the failure-rate mode.
    pub recent_outcomes: u64,
    /// How many bits of `recent_outcomes` are real (0..=64).
    pub recent_calls: u8,
}

impl CircuitBreaker {
    /// True when the cooldown has run out for an open breaker.
    fn cooled_down(&self, cfg: &BreakerConfig, now: DateTime<Utc>) -> bool {
        let Some(opened_at) = self.opened_at else {
            return false;
        };
        let Ok(cooldown) = chrono::Duration::from_std(cfg.cooldown) else {
            // A cooldown too long for chrono never runs out.
            return false;
        };
        now.signed_duration_since(opened_at) >= cooldown
    }

    /// The state with the cooldown applied: an open breaker whose cooldown
    /// has passed is `half_open` (003 `getEffectiveCircuitState`).
    pub fn effective_state(&self, cfg: &BreakerConfig, now: DateTime<Utc>) -> BreakerState {
        match self.state {
            BreakerState::Open if self.cooled_down(cfg, now) => BreakerState::HalfOpen,
            s => s,
        }
    }

    /// Whether an attempt (a heal) may be made now: closed and half_open
    /// allow it, open refuses until the cooldown has passed (003
    /// `shouldAttemptRestart`).
    pub fn should_attempt(&self, cfg: &BreakerConfig, now: DateTime<Utc>) -> bool {
        self.effective_state(cfg, now) != BreakerState::Open
    }

    /// Stores the end of the cooldown: an open breaker whose cooldown has
    /// passed becomes `half_open` in its stored state too. Returns the
    /// `open → half_open` change the first time and `None` after that (and
    /// for any breaker that is not open or still cooling down), so a
    /// periodic job that calls it on every tick reports the change once
    /// (003's `getEffectiveCircuitState`, persisted).
    ///
    /// ```
    /// use chrono::{Duration, TimeZone, Utc};
    /// use healthcore::breaker::{BreakerConfig, BreakerState, CircuitBreaker};
    /// let cfg = BreakerConfig::default();
    /// let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    /// let mut b = CircuitBreaker::default();
    /// for _ in 0..3 {
    ///     b.record_failure(&cfg, t0);
    /// }
    /// assert!(b.apply_cooldown(&cfg, t0 + Duration::minutes(29)).is_none());
    /// let c = b.apply_cooldown(&cfg, t0 + Duration::minutes(30)).unwrap();
    /// assert_eq!((c.from, c.to), (BreakerState::Open, BreakerState::HalfOpen));
    /// assert_eq!(b.state, BreakerState::HalfOpen);
    /// assert!(b.apply_cooldown(&cfg, t0 + Duration::minutes(31)).is_none());
    /// ```
    pub fn apply_cooldown(
        &mut self,
        cfg: &BreakerConfig,
        now: DateTime<Utc>,
    ) -> Option<BreakerChange> {
        let from = self.state;
        let to = self.settle(cfg, now);
        (from != to).then_some(BreakerChange {
            from,
            to,
            at: now,
            tripped: false,
            recovered: false,
        })
    }

    /// Moves a cooled-down open breaker to `half_open`; returns the state
    /// the next transition starts from.
    fn settle(&mut self, cfg: &BreakerConfig, now: DateTime<Utc>) -> BreakerState {
        let effective = self.effective_state(cfg, now);
        self.state = effective;
        effective
    }

    /// Pushes one outcome into the failure-rate window.
    fn push_outcome(&mut self, failed: bool) {
        self.recent_outcomes = (self.recent_outcomes << 1) | u64::from(failed);
        self.recent_calls = self.recent_calls.saturating_add(1).min(64);
    }

    fn clear_window(&mut self) {
        self.recent_outcomes = 0;
        self.recent_calls = 0;
    }

    /// Records a failed attempt (003 `getStateAfterFailure`).
    ///
    /// Returns a change when the breaker opens: from closed (`tripped:
    /// true`, `trips + 1`) or from half_open (a failed probe: new
    /// `opened_at`, not a trip). Returns `None` while closed below the
    /// thresholds, and for a failure while still cooling down.
    pub fn record_failure(
        &mut self,
        cfg: &BreakerConfig,
        now: DateTime<Utc>,
    ) -> Option<BreakerChange> {
        let from = self.settle(cfg, now);
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        match from {
            BreakerState::Closed => {
                self.push_outcome(true);
                let by_count = self.consecutive_failures >= cfg.failure_threshold;
                let by_rate = cfg
                    .failure_rate
                    .as_ref()
                    .is_some_and(|r| r.trips(self.recent_outcomes, self.recent_calls));
                if !(by_count || by_rate) {
                    return None;
                }
                self.state = BreakerState::Open;
                self.opened_at = Some(now);
                self.trips = self.trips.saturating_add(1);
                self.clear_window();
                Some(BreakerChange {
                    from,
                    to: BreakerState::Open,
                    at: now,
                    tripped: true,
                    recovered: false,
                })
            }
            BreakerState::HalfOpen => {
                self.state = BreakerState::Open;
                self.opened_at = Some(now);
                Some(BreakerChange {
                    from,
                    to: BreakerState::Open,
                    at: now,
                    tripped: false,
                    recovered: false,
                })
            }
            // Still cooling down: counted, nothing else.
            BreakerState::Open => None,
        }
    }

    /// Records a successful attempt (003 `getStateAfterSuccess`): the
    /// breaker closes, failures reset, and the change says `recovered`
    /// when it was not closed or had failures. `None` when it was already
    /// clean and closed.
    pub fn record_success(
        &mut self,
        cfg: &BreakerConfig,
        now: DateTime<Utc>,
    ) -> Option<BreakerChange> {
        let from = self.settle(cfg, now);
        let was_down = from != BreakerState::Closed || self.consecutive_failures > 0;
        if from == BreakerState::Closed {
            self.push_outcome(false);
        } else {
            self.clear_window();
        }
        self.state = BreakerState::Closed;
        self.consecutive_failures = 0;
        self.opened_at = None;
        was_down.then_some(BreakerChange {
            from,
            to: BreakerState::Closed,
            at: now,
            tripped: false,
            recovered: true,
        })
    }

    /// Manual reset (003 `resetCircuitBreaker`): closed, no failures, no
    /// `opened_at`, empty window. The lifetime `trips` counter is kept.
    pub fn reset(&mut self) {
        *self = Self {
            trips: self.trips,
            ..Self::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }
    fn mins(m: i64) -> chrono::Duration {
        chrono::Duration::minutes(m)
    }

    fn tripped(cfg: &BreakerConfig, at: DateTime<Utc>) -> CircuitBreaker {
        let mut b = CircuitBreaker::default();
        for _ in 0..cfg.failure_threshold {
            b.record_failure(cfg, at);
        }
        assert_eq!(b.state, BreakerState::Open);
        b
    }

    #[test]
    fn defaults() {
        let cfg = BreakerConfig::default();
        assert_eq!(cfg.failure_threshold, 3);
        assert_eq!(cfg.cooldown, Duration::from_secs(1800));
        assert!(cfg.failure_rate.is_none());
        cfg.validate().unwrap();
        let rate = FailureRateConfig::default();
        assert_eq!(
            (rate.window, rate.minimum_calls, rate.threshold_percent),
            (20, 10, 50.0)
        );
        rate.validate().unwrap();
        let b = CircuitBreaker::default();
        assert_eq!(b.state, BreakerState::Closed);
        assert_eq!(b.consecutive_failures, 0);
        assert_eq!(b.opened_at, None);
        assert_eq!(b.trips, 0);
        assert!(b.should_attempt(&cfg, t0()));
    }

    #[test]
    fn config_serde() {
        let cfg: BreakerConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(cfg, BreakerConfig::default());
        let json = serde_json::to_value(&cfg).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"failure_threshold": 3, "cooldown": "30m"})
        );
        assert!(serde_json::from_str::<BreakerConfig>(r#"{"nope": 1}"#).is_err());
        assert!(
            serde_json::from_str::<BreakerConfig>(r#"{"failure_rate": {"windw": 3}}"#).is_err()
        );
        let cfg: BreakerConfig =
            serde_json::from_str(r#"{"failure_rate": {"window": 30}}"#).unwrap();
        assert_eq!(cfg.failure_rate.unwrap().minimum_calls, 10);
    }

    #[test]
    fn config_validation_names_fields() {
        let bad = |f: fn(&mut BreakerConfig)| {
            let mut c = BreakerConfig::default();
            f(&mut c);
            c.validate().unwrap_err().field().to_owned()
        };
        assert_eq!(bad(|c| c.failure_threshold = 0), "failure_threshold");
        assert_eq!(bad(|c| c.failure_threshold = 1001), "failure_threshold");
        assert_eq!(bad(|c| c.cooldown = Duration::ZERO), "cooldown");
        assert_eq!(
            bad(|c| c.failure_rate = Some(FailureRateConfig {
                window: 65,
                ..Default::default()
            })),
            "failure_rate.window"
        );
        assert_eq!(
            bad(|c| c.failure_rate = Some(FailureRateConfig {
                window: 0,
                ..Default::default()
            })),
            "failure_rate.window"
        );
        assert_eq!(
            bad(|c| c.failure_rate = Some(FailureRateConfig {
                minimum_calls: 21,
                ..Default::default()
            })),
            "failure_rate.minimum_calls"
        );
        assert_eq!(
            bad(|c| c.failure_rate = Some(FailureRateConfig {
                minimum_calls: 0,
                ..Default::default()
            })),
            "failure_rate.minimum_calls"
        );
        for p in [0.0, -1.0, 100.5, f64::NAN] {
            let c = BreakerConfig {
                failure_rate: Some(FailureRateConfig {
                    threshold_percent: p,
                    ..Default::default()
                }),
                ..Default::default()
            };
            assert_eq!(
                c.validate().unwrap_err().field(),
                "failure_rate.threshold_percent"
            );
        }
        let c = BreakerConfig {
            failure_rate: Some(FailureRateConfig {
                window: 64,
                minimum_calls: 64,
                threshold_percent: 100.0,
            }),
            ..Default::default()
        };
        c.validate().unwrap();
    }

    #[test]
    fn state_names() {
        for s in BreakerState::ALL {
            assert_eq!(BreakerState::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        assert_eq!(BreakerState::parse("half-open"), None);
    }

    #[test]
    fn closed_failures_below_threshold_stay_closed() {
        let cfg = BreakerConfig::default();
        let mut b = CircuitBreaker::default();
        assert_eq!(b.record_failure(&cfg, t0()), None);
        assert_eq!(b.record_failure(&cfg, t0()), None);
        assert_eq!(b.state, BreakerState::Closed);
        assert_eq!(b.consecutive_failures, 2);
        assert_eq!(b.opened_at, None);
        assert!(b.should_attempt(&cfg, t0()));
    }

    #[test]
    fn third_failure_trips() {
        let cfg = BreakerConfig::default();
        let mut b = CircuitBreaker::default();
        b.record_failure(&cfg, t0());
        b.record_failure(&cfg, t0());
        let c = b.record_failure(&cfg, t0() + mins(1)).unwrap();
        assert_eq!(
            c,
            BreakerChange {
                from: BreakerState::Closed,
                to: BreakerState::Open,
                at: t0() + mins(1),
                tripped: true,
                recovered: false,
            }
        );
        assert_eq!(b.state, BreakerState::Open);
        assert_eq!(b.consecutive_failures, 3);
        assert_eq!(b.opened_at, Some(t0() + mins(1)));
        assert_eq!(b.trips, 1);
    }

    #[test]
    fn open_refuses_until_cooldown_then_half_open() {
        let cfg = BreakerConfig::default();
        let b = tripped(&cfg, t0());
        assert!(!b.should_attempt(&cfg, t0()));
        assert!(!b.should_attempt(&cfg, t0() + mins(29)));
        assert_eq!(b.effective_state(&cfg, t0() + mins(29)), BreakerState::Open);
        let edge = t0() + mins(30);
        assert!(b.should_attempt(&cfg, edge));
        assert_eq!(b.effective_state(&cfg, edge), BreakerState::HalfOpen);
        // Effective only: nothing written.
        assert_eq!(b.state, BreakerState::Open);
        // Clock went backwards: still open.
        assert!(!b.should_attempt(&cfg, t0() - mins(60)));
    }

    #[test]
    fn half_open_failure_reopens_without_new_trip() {
        let cfg = BreakerConfig::default();
        let mut b = tripped(&cfg, t0());
        let at = t0() + mins(31);
        let c = b.record_failure(&cfg, at).unwrap();
        assert_eq!(c.from, BreakerState::HalfOpen);
        assert_eq!(c.to, BreakerState::Open);
        assert!(!c.tripped);
        assert!(!c.recovered);
        assert_eq!(b.trips, 1);
        assert_eq!(b.opened_at, Some(at));
        assert_eq!(b.consecutive_failures, 4);
        // A new cooldown from the failed probe.
        assert!(!b.should_attempt(&cfg, at + mins(29)));
        assert!(b.should_attempt(&cfg, at + mins(30)));
    }

    #[test]
    fn stored_half_open_failure_reopens() {
        let cfg = BreakerConfig::default();
        let mut b = CircuitBreaker {
            state: BreakerState::HalfOpen,
            consecutive_failures: 3,
            opened_at: Some(t0()),
            trips: 5,
            ..Default::default()
        };
        assert!(b.should_attempt(&cfg, t0()));
        let c = b.record_failure(&cfg, t0() + mins(1)).unwrap();
        assert_eq!(
            (c.from, c.to, c.tripped),
            (BreakerState::HalfOpen, BreakerState::Open, false)
        );
        assert_eq!(b.trips, 5);
    }

    #[test]
    fn half_open_success_recovers() {
        let cfg = BreakerConfig::default();
        let mut b = tripped(&cfg, t0());
        let at = t0() + mins(45);
        let c = b.record_success(&cfg, at).unwrap();
        assert_eq!(
            c,
            BreakerChange {
                from: BreakerState::HalfOpen,
                to: BreakerState::Closed,
                at,
                tripped: false,
                recovered: true,
            }
        );
        assert_eq!(b.state, BreakerState::Closed);
        assert_eq!(b.consecutive_failures, 0);
        assert_eq!(b.opened_at, None);
        assert_eq!(b.trips, 1);
    }

    #[test]
    fn open_success_before_cooldown_closes() {
        let cfg = BreakerConfig::default();
        let mut b = tripped(&cfg, t0());
        let c = b.record_success(&cfg, t0() + mins(1)).unwrap();
        assert_eq!(c.from, BreakerState::Open);
        assert!(c.recovered);
        assert_eq!(b.state, BreakerState::Closed);
    }

    #[test]
    fn closed_success_with_failures_is_recovery() {
        let cfg = BreakerConfig::default();
        let mut b = CircuitBreaker::default();
        b.record_failure(&cfg, t0());
        let c = b.record_success(&cfg, t0()).unwrap();
        assert_eq!((c.from, c.to), (BreakerState::Closed, BreakerState::Closed));
        assert!(c.recovered);
        assert_eq!(b.consecutive_failures, 0);
        // Clean and closed: nothing to report.
        assert_eq!(b.record_success(&cfg, t0()), None);
    }

    #[test]
    fn failure_while_cooling_down_is_counted_only() {
        let cfg = BreakerConfig::default();
        let mut b = tripped(&cfg, t0());
        assert_eq!(b.record_failure(&cfg, t0() + mins(10)), None);
        assert_eq!(b.state, BreakerState::Open);
        assert_eq!(b.opened_at, Some(t0()));
        assert_eq!(b.trips, 1);
        assert_eq!(b.consecutive_failures, 4);
    }

    #[test]
    fn open_without_opened_at_stays_open() {
        let cfg = BreakerConfig::default();
        let b = CircuitBreaker {
            state: BreakerState::Open,
            ..Default::default()
        };
        assert!(!b.should_attempt(&cfg, t0() + mins(100_000)));
    }

    #[test]
    fn huge_cooldown_never_runs_out() {
        let cfg = BreakerConfig {
            cooldown: Duration::from_secs(u64::MAX),
            ..Default::default()
        };
        let b = tripped(&cfg, t0());
        assert!(!b.should_attempt(&cfg, DateTime::<Utc>::MAX_UTC));
    }

    #[test]
    fn reset_keeps_trips() {
        let cfg = BreakerConfig::default();
        let mut b = tripped(&cfg, t0());
        b.reset();
        assert_eq!(
            b,
            CircuitBreaker {
                trips: 1,
                ..Default::default()
            }
        );
        assert!(b.should_attempt(&cfg, t0()));
    }

    #[test]
    fn serde_round_trip_and_old_state() {
        let cfg = BreakerConfig::default();
        let b = tripped(&cfg, t0());
        let s = serde_json::to_string(&b).unwrap();
        assert!(s.contains("\"state\":\"open\""));
        let back: CircuitBreaker = serde_json::from_str(&s).unwrap();
        assert_eq!(back, b);
        // State stored without the newer fields still loads.
        let old: CircuitBreaker = serde_json::from_str(
            r#"{"state":"half_open","consecutive_failures":3,"opened_at":"2026-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(old.state, BreakerState::HalfOpen);
        assert_eq!(old.trips, 0);
    }

    fn rate_cfg(window: u32, minimum_calls: u32, threshold_percent: f64) -> BreakerConfig {
        BreakerConfig {
            failure_threshold: 1000,
            failure_rate: Some(FailureRateConfig {
                window,
                minimum_calls,
                threshold_percent,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn rate_mode_trips_on_failure_rate() {
        let cfg = rate_cfg(10, 4, 50.0);
        let mut b = CircuitBreaker::default();
        // F S F: 3 calls, below minimum_calls.
        assert_eq!(b.record_failure(&cfg, t0()), None);
        assert_eq!(
            b.record_success(&cfg, t0()).map(|c| c.from),
            Some(BreakerState::Closed)
        );
        assert_eq!(b.record_failure(&cfg, t0()), None);
        // S: 4 calls, 2/4 = 50 %, but a success never trips.
        b.record_success(&cfg, t0());
        assert_eq!(b.state, BreakerState::Closed);
        // F: 3/5 = 60 % → open, by rate with one consecutive failure.
        let c = b.record_failure(&cfg, t0()).unwrap();
        assert!(c.tripped);
        assert_eq!(b.consecutive_failures, 1);
        assert_eq!(b.trips, 1);
        assert_eq!((b.recent_outcomes, b.recent_calls), (0, 0));
    }

    #[test]
    fn rate_mode_window_slides() {
        let cfg = rate_cfg(4, 4, 75.0);
        let mut b = CircuitBreaker::default();
        // F F S S S S: the early failures slide out of the window of 4.
        b.record_failure(&cfg, t0());
        b.record_failure(&cfg, t0());
        for _ in 0..4 {
            b.record_success(&cfg, t0());
        }
        // S S S F S F: 2/4 in the window → below 75 %.
        b.record_failure(&cfg, t0());
        b.record_success(&cfg, t0());
        assert_eq!(b.record_failure(&cfg, t0()), None);
        // … S F S F F: 3/4 → open.
        assert!(b.record_failure(&cfg, t0()).unwrap().tripped);
    }

    #[test]
    fn rate_window_cleared_on_recovery() {
        let cfg = rate_cfg(10, 2, 50.0);
        let mut b = CircuitBreaker::default();
        b.record_success(&cfg, t0());
        b.record_failure(&cfg, t0()).unwrap(); // 1/2 → open
        let at = t0() + mins(30);
        b.record_success(&cfg, at).unwrap(); // half_open → closed, window cleared
        assert_eq!(b.recent_calls, 0);
        // A lone failure is 1/1 but below minimum_calls.
        assert_eq!(b.record_failure(&cfg, at), None);
    }

    #[test]
    fn rate_window_saturates_at_64() {
        let cfg = rate_cfg(64, 64, 100.0);
        let mut b = CircuitBreaker::default();
        for _ in 0..200 {
            b.record_success(&cfg, t0());
        }
        assert_eq!(b.recent_calls, 64);
        assert_eq!(b.recent_outcomes, 0);
    }

    #[test]
    fn invalid_rate_config_does_not_panic() {
        for (w, m) in [(0, 0), (200, 0), (200, 300), (5, 0)] {
            let cfg = rate_cfg(w, m, f64::NAN);
            let mut b = CircuitBreaker::default();
            for _ in 0..100 {
                b.record_failure(&cfg, t0());
            }
        }
    }

    #[test]
    fn cooldown_is_stored_once() {
        let cfg = BreakerConfig::default();
        let mut b = tripped(&cfg, t0());
        assert!(b.apply_cooldown(&cfg, t0() + mins(29)).is_none());
        assert_eq!(b.state, BreakerState::Open);
        let c = b.apply_cooldown(&cfg, t0() + mins(30)).unwrap();
        assert_eq!((c.from, c.to), (BreakerState::Open, BreakerState::HalfOpen));
        assert!(!c.tripped && !c.recovered);
        assert_eq!(c.at, t0() + mins(30));
        assert_eq!(b.state, BreakerState::HalfOpen);
        for m in 31..40 {
            assert!(b.apply_cooldown(&cfg, t0() + mins(m)).is_none());
        }
        // the trial then decides, as from an effective half_open
        let back = b.record_failure(&cfg, t0() + mins(41)).unwrap();
        assert_eq!(back.from, BreakerState::HalfOpen);
        assert!(!back.tripped);
        let mut closed = CircuitBreaker::default();
        assert!(closed.apply_cooldown(&cfg, t0()).is_none());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Fail(i64),
        Succeed(i64),
        Reset,
        Cooldown(i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0i64..3_000).prop_map(Op::Fail),
            2 => (0i64..3_000).prop_map(Op::Succeed),
            1 => Just(Op::Reset),
            2 => (0i64..3_000).prop_map(Op::Cooldown),
        ]
    }

    fn cfg_strategy() -> impl Strategy<Value = BreakerConfig> {
        (
            0u32..6,
            0u64..3_600,
            proptest::option::of((0u32..70, 0u32..70, -10.0f64..110.0)),
        )
            .prop_map(|(th, cd, rate)| BreakerConfig {
                failure_threshold: th,
                cooldown: Duration::from_secs(cd),
                failure_rate: rate.map(|(window, minimum_calls, threshold_percent)| {
                    FailureRateConfig {
                        window,
                        minimum_calls,
                        threshold_percent,
                    }
                }),
            })
    }

    proptest! {
        #[test]
        fn breaker_invariants(cfg in cfg_strategy(), ops in proptest::collection::vec(op(), 0..80)) {
            let mut b = CircuitBreaker::default();
            let mut now = t0();
            for op in ops {
                let before = b.clone();
                match op {
                    Op::Fail(dt) => {
                        now += chrono::Duration::seconds(dt);
                        let effective = b.effective_state(&cfg, now);
                        let change = b.record_failure(&cfg, now);
                        if effective == BreakerState::HalfOpen {
                            let c = change.expect("half_open failure reopens");
                            prop_assert!(!c.tripped);
                            prop_assert_eq!(c.from, BreakerState::HalfOpen);
                            prop_assert_eq!(b.trips, before.trips);
                        }
                        if let Some(c) = change {
                            prop_assert_eq!(c.to, BreakerState::Open);
                            prop_assert_eq!(c.from, effective);
                            prop_assert_eq!(c.tripped, c.from == BreakerState::Closed);
                            prop_assert_eq!(b.opened_at, Some(now));
                        } else {
                            prop_assert_eq!(b.trips, before.trips);
                        }
                    }
                    Op::Succeed(dt) => {
                        now += chrono::Duration::seconds(dt);
                        let effective = b.effective_state(&cfg, now);
                        let change = b.record_success(&cfg, now);
                        prop_assert_eq!(b.state, BreakerState::Closed);
                        prop_assert_eq!(b.consecutive_failures, 0);
                        prop_assert_eq!(
                            change.is_some(),
                            effective != BreakerState::Closed || before.consecutive_failures > 0
                        );
                        prop_assert_eq!(b.trips, before.trips);
                    }
                    Op::Reset => {
                        b.reset();
                        prop_assert_eq!(b.state, BreakerState::Closed);
                    }
                    Op::Cooldown(dt) => {
                        now += chrono::Duration::seconds(dt);
                        let effective = b.effective_state(&cfg, now);
                        let change = b.apply_cooldown(&cfg, now);
                        // the stored state follows the effective one, and
                        // says so once
                        prop_assert_eq!(b.state, effective);
                        prop_assert_eq!(
                            change.is_some(),
                            before.state == BreakerState::Open && effective == BreakerState::HalfOpen
                        );
                        prop_assert!(b.apply_cooldown(&cfg, now).is_none());
                        prop_assert_eq!(b.trips, before.trips);
                        prop_assert_eq!(b.should_attempt(&cfg, now), before.should_attempt(&cfg, now));
                    }
                }
                prop_assert!(b.trips >= before.trips);
                prop_assert!(b.recent_calls <= 64);
                // Never an attempt while open and still cooling down.
                if b.state == BreakerState::Open {
                    if let Some(at) = b.opened_at {
                        let cd = chrono::Duration::from_std(cfg.cooldown).unwrap();
                        for probe in [now, at, at + cd - chrono::Duration::seconds(1)] {
                            if probe - at < cd {
                                prop_assert!(!b.should_attempt(&cfg, probe));
                            }
                        }
                    }
                }
            }
        }
    }
}
