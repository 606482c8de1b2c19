//! Nagios-style flap detection: a weighted percentage of state changes over
//! the last 21 statuses, with hysteresis between a low and a high threshold.
//!
//! This module owns the detector's fixed-size history and the start/stop
//! decision. It does not choose which statuses are fed to it (the caller
//! records each check result's status, or each status the state machine
//! settles on), it does not raise alerts or pause healing (the engine does
//! that on [`FlapChange`]) and it never allocates or reads a clock.
//!
//! # Formula (Nagios Core `base/flapping.c`)
//!
//! The last 21 statuses, oldest first, give 20 consecutive pairs. A pair
//! whose statuses differ is a state change; the change in pair `x`
//! (`x` = 1 for the oldest pair … 20 for the newest) weighs
//! `0.75 + (x - 1) · 0.5 / 19`, so the oldest change counts 0.75 and the
//! newest 1.25. The percent state change is `Σ weights · 100 / 20`, which is
//! 0 for a steady series and 100 for one that changes every time.
//!
//! While fewer than 21 statuses are known, the missing older slots are taken
//! to hold the oldest known status (as Nagios fills a fresh history with the
//! current state), so the known statuses sit at the newest, heaviest end and
//! the divisor stays 20.
//!
//! Flapping **starts** when the percent is above `high_threshold` (30) and
//! **stops** when it is below `low_threshold` (25); in between, the current
//! state holds. (Nagios itself compares with `>=` / `<=`; the design asks
//! for "above" and "below", which differs only at exactly the threshold.)
//!
//! With detection disabled, statuses are still recorded (so
//! [`FlapDetector::percent`] stays meaningful), flapping never starts, and a
//! detector that was flapping stops at its next record.
//!
//! ```
//! use healthcore::flap::{FlapChange, FlapConfig, FlapDetector};
//! use healthcore::model::Status;
//!
//! let cfg = FlapConfig::default();
//! let mut d = FlapDetector::default();
//! let mut started = None;
//! for i in 0..21 {
//!     let s = if i % 2 == 0 { Status::Healthy } else { Status::Down };
//!     if let Some(c) = d.record(s, &cfg) {
//!         started.get_or_insert(c);
//!     }
//! }
//! assert!(matches!(started, Some(FlapChange::Started { .. })));
//! assert!(d.is_flapping());
//! assert!((d.percent() - 100.0).abs() < 1e-9);
//! ```

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::model::Status;

/// How many statuses the detector keeps (Nagios `MAX_STATE_HISTORY_ENTRIES`).
pub const HISTORY_LEN: usize = 21;
/// Default percent below which flapping stops.
pub const DEFAULT_LOW_THRESHOLD: f64 = 25.0;
/// Default percent above which flapping starts.
pub const DEFAULT_HIGH_THRESHOLD: f64 = 30.0;

/// Weight of the oldest state change.
const LOW_CURVE: f64 = 0.75;
/// Weight of the newest state change.
const HIGH_CURVE: f64 = 1.25;

/// Flap detection settings.
///
/// ```
/// use healthcore::flap::FlapConfig;
/// let cfg: FlapConfig = serde_json::from_str(r#"{"high_threshold": 40}"#).unwrap();
/// assert!(cfg.enabled);
/// assert_eq!(cfg.low_threshold, 25.0);
/// cfg.validate().unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlapConfig {
    /// Whether flapping can start at all.
    pub enabled: bool,
    /// Flapping stops when the percent falls below this.
    pub low_threshold: f64,
    /// Flapping starts when the percent rises above this.
    pub high_threshold: f64,
}

impl Default for FlapConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            low_threshold: DEFAULT_LOW_THRESHOLD,
            high_threshold: DEFAULT_HIGH_THRESHOLD,
        }
    }
}

impl FlapConfig {
    /// Checks `0 ≤ low_threshold < high_threshold ≤ 100` (NaN refused); the
    /// error names the field.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if !(self.low_threshold >= 0.0 && self.low_threshold <= 100.0) {
            return Err(ValidationError::new(
                "low_threshold",
                "must be between 0 and 100",
            ));
        }
        if !(self.high_threshold >= 0.0 && self.high_threshold <= 100.0) {
            return Err(ValidationError::new(
                "high_threshold",
                "must be between 0 and 100",
            ));
        }
        if self.low_threshold >= self.high_threshold {
            return Err(ValidationError::new(
                "low_threshold",
                "must be less than high_threshold",
            ));
        }
        Ok(())
    }
}

/// Flapping started or stopped, with the percent that decided it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum FlapChange {
    /// The percent rose above the high threshold.
    Started {
        /// Percent state change at the time.
        percent: f64,
    },
    /// The percent fell below the low threshold (or detection was disabled).
    Stopped {
        /// Percent state change at the time.
        percent: f64,
    },
}

/// The last 21 statuses of one check or target, and whether it is flapping.
///
/// Fixed size, no heap: `history` holds the statuses oldest first in its
/// first `len` slots. Plain serde data, so it can be persisted with the
/// check's state.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FlapDetector {
    history: [Status; HISTORY_LEN],
    len: u8,
    flapping: bool,
}

impl FlapDetector {
    /// The known statuses, oldest first (at most 21, whatever was stored).
    pub fn history(&self) -> &[Status] {
        let n = usize::from(self.len).min(HISTORY_LEN);
        self.history.get(..n).unwrap_or(&[])
    }

    /// Records one status and returns a change when flapping starts or
    /// stops. Allocation-free.
    pub fn record(&mut self, status: Status, cfg: &FlapConfig) -> Option<FlapChange> {
        let n = usize::from(self.len).min(HISTORY_LEN);
        if n < HISTORY_LEN {
            if let Some(slot) = self.history.get_mut(n) {
                *slot = status;
            }
            self.len = u8::try_from(n + 1).unwrap_or(HISTORY_LEN as u8);
        } else {
            self.history.rotate_left(1);
            if let Some(last) = self.history.last_mut() {
                *last = status;
            }
            self.len = HISTORY_LEN as u8;
        }

        let percent = self.percent();
        if !cfg.enabled {
            if self.flapping {
                self.flapping = false;
                return Some(FlapChange::Stopped { percent });
            }
            return None;
        }
        if !self.flapping && percent > cfg.high_threshold {
            self.flapping = true;
            Some(FlapChange::Started { percent })
        } else if self.flapping && percent < cfg.low_threshold {
            self.flapping = false;
            Some(FlapChange::Stopped { percent })
        } else {
            None
        }
    }

    /// The weighted percent state change over the history, in `0..=100`.
    pub fn percent(&self) -> f64 {
        let known = self.history();
        // Missing older slots repeat the oldest status, so the known ones
        // occupy the newest positions of the 21-slot window.
        let offset = HISTORY_LEN - known.len();
        let step = (HIGH_CURVE - LOW_CURVE) / (HISTORY_LEN - 2) as f64;
        let mut changes = 0.0;
        for (i, pair) in known.windows(2).enumerate() {
            if let [a, b] = pair {
                if a != b {
                    // `x` of the newer status in the full window, 1..=20.
                    let x = offset + i + 1;
                    changes += (x - 1) as f64 * step + LOW_CURVE;
                }
            }
        }
        (changes * 100.0 / (HISTORY_LEN - 1) as f64).clamp(0.0, 100.0)
    }

    /// Whether the detector is currently flapping.
    pub fn is_flapping(&self) -> bool {
        self.flapping
    }

    /// Forgets the history and the flapping flag.
    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn feed(d: &mut FlapDetector, cfg: &FlapConfig, statuses: &[Status]) -> Vec<FlapChange> {
        statuses.iter().filter_map(|s| d.record(*s, cfg)).collect()
    }

    fn alternating(n: usize) -> Vec<Status> {
        (0..n)
            .map(|i| {
                if i % 2 == 0 {
                    Status::Healthy
                } else {
                    Status::Down
                }
            })
            .collect()
    }

    #[test]
    fn defaults() {
        let cfg = FlapConfig::default();
        assert!(cfg.enabled);
        assert_eq!(cfg.low_threshold, 25.0);
        assert_eq!(cfg.high_threshold, 30.0);
        cfg.validate().unwrap();
        let d = FlapDetector::default();
        assert_eq!(d.percent(), 0.0);
        assert!(!d.is_flapping());
        assert!(d.history().is_empty());
        assert_eq!(serde_json::from_str::<FlapConfig>("{}").unwrap(), cfg);
        assert!(serde_json::from_str::<FlapConfig>(r#"{"low": 1}"#).is_err());
    }

    #[test]
    fn validation_names_fields() {
        let bad = |low: f64, high: f64| {
            FlapConfig {
                enabled: true,
                low_threshold: low,
                high_threshold: high,
            }
            .validate()
            .unwrap_err()
            .field()
            .to_owned()
        };
        assert_eq!(bad(-1.0, 30.0), "low_threshold");
        assert_eq!(bad(f64::NAN, 30.0), "low_threshold");
        assert_eq!(bad(20.0, 101.0), "high_threshold");
        assert_eq!(bad(20.0, f64::NAN), "high_threshold");
        assert_eq!(bad(30.0, 30.0), "low_threshold");
        assert_eq!(bad(40.0, 30.0), "low_threshold");
        FlapConfig {
            enabled: true,
            low_threshold: 0.0,
            high_threshold: 100.0,
        }
        .validate()
        .unwrap();
    }

    #[test]
    fn steady_is_zero() {
        let cfg = FlapConfig::default();
        let mut d = FlapDetector::default();
        assert!(feed(&mut d, &cfg, &[Status::Down; 50]).is_empty());
        assert_eq!(d.percent(), 0.0);
        assert_eq!(d.history().len(), 21);
    }

    #[test]
    fn alternating_is_hundred() {
        let cfg = FlapConfig::default();
        let mut d = FlapDetector::default();
        let changes = feed(&mut d, &cfg, &alternating(40));
        assert!((d.percent() - 100.0).abs() < 1e-9);
        assert!(d.is_flapping());
        assert_eq!(changes.len(), 1);
        assert!(matches!(changes[0], FlapChange::Started { .. }));
    }

    #[test]
    fn weights_match_nagios() {
        // One change in the newest pair: 1.25 * 100 / 20 = 6.25 %.
        let mut d = FlapDetector::default();
        let cfg = FlapConfig::default();
        let mut s = vec![Status::Healthy; 20];
        s.push(Status::Down);
        feed(&mut d, &cfg, &s);
        assert!((d.percent() - 6.25).abs() < 1e-9);
        // Push it to the oldest pair: 0.75 * 100 / 20 = 3.75 %.
        feed(&mut d, &cfg, &[Status::Down; 19]);
        assert!((d.percent() - 3.75).abs() < 1e-9);
        // And out of the window.
        d.record(Status::Down, &cfg);
        assert_eq!(d.percent(), 0.0);
    }

    #[test]
    fn short_history_sits_at_newest_end() {
        let cfg = FlapConfig::default();
        let mut d = FlapDetector::default();
        d.record(Status::Healthy, &cfg);
        assert_eq!(d.percent(), 0.0);
        d.record(Status::Down, &cfg);
        assert!((d.percent() - 6.25).abs() < 1e-9);
        assert_eq!(d.history(), &[Status::Healthy, Status::Down]);
    }

    #[test]
    fn hysteresis_holds_between_thresholds() {
        let cfg = FlapConfig::default();
        let mut d = FlapDetector::default();
        // Start flapping.
        feed(&mut d, &cfg, &alternating(21));
        assert!(d.is_flapping());
        // Settle down until the percent is between 25 and 30: still flapping.
        let mut seen_between = false;
        let mut stopped_at = None;
        for i in 0..21 {
            let p_before = d.percent();
            let change = d.record(Status::Healthy, &cfg);
            let p = d.percent();
            if p > 25.0 && p < 30.0 {
                seen_between = true;
                assert!(d.is_flapping(), "step {i}: {p_before} -> {p}");
                assert!(change.is_none());
            }
            if let Some(FlapChange::Stopped { percent }) = change {
                assert!(percent < 25.0);
                stopped_at = Some(percent);
            }
        }
        assert!(seen_between);
        assert!(stopped_at.is_some());
        assert!(!d.is_flapping());

        // From not flapping, a percent between 25 and 30 does not start it.
        let mut d = FlapDetector::default();
        // Newest 5 pairs change: weights x = 16..=20 → sum ≈ 5.987, 29.9 %.
        let mut s = vec![Status::Healthy; 16];
        s.extend(alternating(5).into_iter().map(|x| {
            if x == Status::Healthy {
                Status::Down
            } else {
                Status::Healthy
            }
        }));
        assert!(feed(&mut d, &cfg, &s).is_empty());
        let p = d.percent();
        assert!(p > 25.0 && p < 30.0, "{p}");
        assert!(!d.is_flapping());
    }

    #[test]
    fn exact_threshold_is_not_above() {
        let cfg = FlapConfig {
            enabled: true,
            low_threshold: 5.0,
            high_threshold: 6.25,
        };
        let mut d = FlapDetector::default();
        assert!(feed(&mut d, &cfg, &[Status::Healthy, Status::Down]).is_empty());
        assert!((d.percent() - 6.25).abs() < 1e-9);
        assert!(!d.is_flapping());
    }

    #[test]
    fn disabled_never_starts_and_stops_when_disabled() {
        let on = FlapConfig::default();
        let off = FlapConfig {
            enabled: false,
            ..Default::default()
        };
        let mut d = FlapDetector::default();
        assert!(feed(&mut d, &off, &alternating(30)).is_empty());
        assert!(!d.is_flapping());
        assert!(d.percent() > 90.0);
        assert!(matches!(
            d.record(Status::Down, &on),
            Some(FlapChange::Started { .. })
        ));
        assert!(matches!(
            d.record(Status::Healthy, &off),
            Some(FlapChange::Stopped { .. })
        ));
        assert!(!d.is_flapping());
    }

    #[test]
    fn serde_round_trip_and_bad_len() {
        let cfg = FlapConfig::default();
        let mut d = FlapDetector::default();
        feed(&mut d, &cfg, &alternating(25));
        let s = serde_json::to_string(&d).unwrap();
        let back: FlapDetector = serde_json::from_str(&s).unwrap();
        assert_eq!(back, d);
        let json = serde_json::to_value(FlapChange::Started { percent: 50.0 }).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"change": "started", "percent": 50.0})
        );
        // A stored len beyond 21 is clamped, not trusted.
        let mut v = serde_json::to_value(&d).unwrap();
        v["len"] = serde_json::json!(200);
        let mut odd: FlapDetector = serde_json::from_value(v).unwrap();
        assert_eq!(odd.history().len(), 21);
        odd.record(Status::Down, &cfg);
        assert_eq!(odd.history().len(), 21);
        assert!(odd.percent() <= 100.0);
    }

    #[test]
    fn clear_forgets() {
        let cfg = FlapConfig::default();
        let mut d = FlapDetector::default();
        feed(&mut d, &cfg, &alternating(25));
        d.clear();
        assert_eq!(d, FlapDetector::default());
    }

    fn status() -> impl Strategy<Value = Status> {
        prop::sample::select(Status::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn percent_in_range_and_hysteresis(
            statuses in proptest::collection::vec(status(), 0..120),
            low in 0.0f64..100.0,
            gap in 0.0f64..50.0,
            enabled in any::<bool>(),
        ) {
            let cfg = FlapConfig { enabled, low_threshold: low, high_threshold: (low + gap).min(100.0) };
            let mut d = FlapDetector::default();
            for s in statuses {
                let was = d.is_flapping();
                let change = d.record(s, &cfg);
                let p = d.percent();
                prop_assert!((0.0..=100.0).contains(&p));
                prop_assert!(d.history().len() <= HISTORY_LEN);
                prop_assert_eq!(d.history().last(), Some(&s));
                match change {
                    Some(FlapChange::Started { percent }) => {
                        prop_assert!(!was && d.is_flapping() && enabled);
                        prop_assert!(percent > cfg.high_threshold);
                    }
                    Some(FlapChange::Stopped { percent }) => {
                        prop_assert!(was && !d.is_flapping());
                        prop_assert!(percent < cfg.low_threshold || !enabled);
                    }
                    None => prop_assert_eq!(was, d.is_flapping()),
                }
            }
        }

        #[test]
        fn any_stored_state_never_panics(len in any::<u8>(), flapping in any::<bool>(), s in status()) {
            let v = serde_json::json!({"history": vec![s; HISTORY_LEN], "len": len, "flapping": flapping});
            let mut d: FlapDetector = serde_json::from_value(v).unwrap();
            d.record(Status::Down, &FlapConfig::default());
            prop_assert!((0.0..=100.0).contains(&d.percent()));
        }
    }
}
