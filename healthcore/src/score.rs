//! The 0-100 health score with its weighted breakdown (seed 000).
//!
//! This module owns [`ScoreWeights`] (configurable, validated to sum to
//! 100), the input and output types and the formula [`compute`], which
//! reproduces seed 000's `calculate_health_score` exactly, Python `int()`
//! truncation included. It must not read the clock, store snapshots or
//! raise alerts (`low_score` is the alert rules' business): `now` is an
//! argument and the result is plain data.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

/// Default staleness weight (000: `score_staleness_weight = 40`).
pub const DEFAULT_STALENESS_WEIGHT: u32 = 40;
/// Default install failures weight (000: `score_install_failures_weight = 30`).
pub const DEFAULT_INSTALL_FAILURES_WEIGHT: u32 = 30;
/// Default boot stability weight (000: `score_boot_stability_weight = 30`).
pub const DEFAULT_BOOT_STABILITY_WEIGHT: u32 = 30;
/// Install attempts at which the install penalty is full (000: 5).
pub const INSTALL_ATTEMPTS_FULL: u32 = 5;
/// Boots that cost nothing (000: more than 10 boots is penalised).
pub const BOOTS_FREE: u32 = 10;
/// Boots above [`BOOTS_FREE`] at which the boot penalty is full (000: 20).
pub const BOOTS_FULL_SPAN: u32 = 20;

/// How many points each component may take off the score.
///
/// Each weight is 0..=100 and the three sum to exactly 100. Missing
/// fields take the defaults (40/30/30).
///
/// ```
/// use healthcore::score::ScoreWeights;
/// let w: ScoreWeights = serde_json::from_str(
///     r#"{"staleness":50,"install_failures":25,"boot_stability":25}"#).unwrap();
/// w.validate().unwrap();
/// assert_eq!(ScoreWeights::default().staleness, 40);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScoreWeights {
    /// Points lost when not seen for `offline_after` or never (default 40).
    pub staleness: u32,
    /// Points lost at 5 or more install attempts (default 30).
    pub install_failures: u32,
    /// Points lost at 30 or more boots (default 30).
    pub boot_stability: u32,
}

impl Default for ScoreWeights {
    fn default() -> Self {
        Self {
            staleness: DEFAULT_STALENESS_WEIGHT,
            install_failures: DEFAULT_INSTALL_FAILURES_WEIGHT,
            boot_stability: DEFAULT_BOOT_STABILITY_WEIGHT,
        }
    }
}

impl ScoreWeights {
    /// Checks the rules; the error names the field.
    ///
    /// Rules: each weight in 0..=100 (field `staleness`,
    /// `install_failures` or `boot_stability`); their sum exactly 100
    /// (field `weights`).
    pub fn validate(&self) -> Result<(), ValidationError> {
        for (field, w) in [
            ("staleness", self.staleness),
            ("install_failures", self.install_failures),
            ("boot_stability", self.boot_stability),
        ] {
            if w > 100 {
                return Err(ValidationError::new(field, "must be between 0 and 100"));
            }
        }
        let sum = self.staleness + self.install_failures + self.boot_stability;
        if sum != 100 {
            return Err(ValidationError::new(
                "weights",
                format!("staleness + install_failures + boot_stability must equal 100 (got {sum})"),
            ));
        }
        Ok(())
    }
}

/// What the score is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ScoreInput {
    /// When the target was last seen; `None` if never.
    #[serde(default)]
    pub last_seen: Option<DateTime<Utc>>,
    /// Install attempts so far (000's `install_attempts`).
    #[serde(default)]
    pub install_attempts: u32,
    /// Boots so far (000's `boot_count`).
    #[serde(default)]
    pub boot_count: u32,
}

/// Points taken off per component; each is zero or negative.
///
/// Serialises as seed 000's breakdown object:
/// `{"staleness":-20,"install_failures":0,"boot_stability":0}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct ScoreBreakdown {
    /// Staleness penalty (≤ 0).
    pub staleness: i32,
    /// Install failures penalty (≤ 0).
    pub install_failures: i32,
    /// Boot stability penalty (≤ 0).
    pub boot_stability: i32,
}

impl ScoreBreakdown {
    /// The breakdown as seed 000's `dict[str, int]`.
    pub fn to_map(&self) -> BTreeMap<&'static str, i32> {
        BTreeMap::from([
            ("staleness", self.staleness),
            ("install_failures", self.install_failures),
            ("boot_stability", self.boot_stability),
        ])
    }

    /// The sum of the penalties (≤ 0).
    pub fn total(&self) -> i64 {
        i64::from(self.staleness)
            + i64::from(self.install_failures)
            + i64::from(self.boot_stability)
    }
}

/// A score with the breakdown it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Score {
    /// 0..=100; 100 is perfect.
    pub value: u8,
    /// Per-component penalties.
    pub breakdown: ScoreBreakdown,
}

/// Computes the health score as of `now` (seed 000's formula).
///
/// - staleness: never seen → `-weight`; otherwise
///   `-trunc(min(minutes_ago / offline_minutes, 1) × weight)`, with a
///   `last_seen` in the future counted as 0 minutes ago;
/// - install failures: when attempts > 0,
///   `-trunc(min(attempts / 5, 1) × weight)`;
/// - boot stability: when boots > 10,
///   `-trunc(min((boots - 10) / 20, 1) × weight)`;
/// - score = `clamp(100 + Σ penalties, 0, 100)`.
///
/// `offline_after` is the staleness policy's offline threshold. Never
/// panics, even with unvalidated weights or a zero `offline_after`.
///
/// ```
/// use chrono::{Duration, TimeZone, Utc};
/// use healthcore::score::{compute, ScoreInput, ScoreWeights};
/// let now = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
/// let input = ScoreInput { last_seen: Some(now - Duration::minutes(30)), install_attempts: 3, boot_count: 25 };
/// let s = compute(&input, &ScoreWeights::default(), std::time::Duration::from_secs(3600), now);
/// assert_eq!((s.breakdown.staleness, s.breakdown.install_failures, s.breakdown.boot_stability), (-20, -18, -22));
/// assert_eq!(s.value, 40);
/// ```
pub fn compute(
    input: &ScoreInput,
    weights: &ScoreWeights,
    offline_after: Duration,
    now: DateTime<Utc>,
) -> Score {
    let staleness = match input.last_seen {
        None => penalty(1.0, weights.staleness),
        Some(seen) => penalty(staleness_ratio(seen, offline_after, now), weights.staleness),
    };
    let install_failures = if input.install_attempts > 0 {
        let ratio = (f64::from(input.install_attempts) / f64::from(INSTALL_ATTEMPTS_FULL)).min(1.0);
        penalty(ratio, weights.install_failures)
    } else {
        0
    };
    let boot_stability = if input.boot_count > BOOTS_FREE {
        let ratio =
            (f64::from(input.boot_count - BOOTS_FREE) / f64::from(BOOTS_FULL_SPAN)).min(1.0);
        penalty(ratio, weights.boot_stability)
    } else {
        0
    };
    let breakdown = ScoreBreakdown {
        staleness,
        install_failures,
        boot_stability,
    };
    let value = (100 + breakdown.total()).clamp(0, 100);
    Score {
        // In 0..=100 after the clamp, so the conversion cannot fail.
        value: u8::try_from(value).unwrap_or(0),
        breakdown,
    }
}

/// `min(minutes_ago / offline_minutes, 1)`, computed as seed 000 does
/// (minutes from microseconds as floats), clamped at 0 for future times.
fn staleness_ratio(seen: DateTime<Utc>, offline_after: Duration, now: DateTime<Utc>) -> f64 {
    let delta = now.signed_duration_since(seen);
    let minutes_ago = match delta.num_microseconds() {
        Some(us) => (us as f64 / 1e6) / 60.0,
        // Beyond ±292k years: only the sign matters.
        None if delta > chrono::TimeDelta::zero() => f64::INFINITY,
        None => 0.0,
    };
    if minutes_ago <= 0.0 {
        return 0.0;
    }
    let offline_minutes = offline_after.as_secs_f64() / 60.0;
    if offline_minutes <= 0.0 {
        return 1.0;
    }
    (minutes_ago / offline_minutes).min(1.0)
}

/// `-int(ratio * weight)` for a ratio in 0..=1 (Python truncation;
/// `as` truncates toward zero and saturates).
fn penalty(ratio: f64, weight: u32) -> i32 {
    -((ratio * f64::from(weight)) as i32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone};
    use proptest::prelude::*;

    const OFFLINE: Duration = Duration::from_secs(3600);

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    /// Seed 000's `_make_node` defaults: seen now, 0 attempts, 0 boots.
    fn node() -> ScoreInput {
        ScoreInput {
            last_seen: Some(now()),
            install_attempts: 0,
            boot_count: 0,
        }
    }

    fn score(input: ScoreInput) -> Score {
        compute(&input, &ScoreWeights::default(), OFFLINE, now())
    }

    // Seed 000, TestCalculateHealthScore, with a fixed `now`.

    #[test]
    fn perfect_score_for_healthy_node() {
        let s = score(node());
        assert_eq!(s.value, 100);
        assert_eq!(s.breakdown, ScoreBreakdown::default());
    }

    #[test]
    fn penalizes_staleness() {
        let s = score(ScoreInput {
            last_seen: Some(now() - TimeDelta::hours(1)),
            ..node()
        });
        assert!(s.value < 100);
        assert!(s.breakdown.staleness < 0);
        assert_eq!(s.breakdown.staleness, -40);
        assert_eq!(s.value, 60);
    }

    #[test]
    fn penalizes_install_failures() {
        let s = score(ScoreInput {
            install_attempts: 3,
            ..node()
        });
        assert!(s.value < 100);
        assert_eq!(s.breakdown.install_failures, -18);
        assert_eq!(s.value, 82);
    }

    #[test]
    fn penalizes_frequent_reboots() {
        let s = score(ScoreInput {
            boot_count: 25,
            ..node()
        });
        assert!(s.value < 100);
        assert_eq!(s.breakdown.boot_stability, -22);
        assert_eq!(s.value, 78);
    }

    #[test]
    fn never_seen_gets_max_staleness_penalty() {
        let s = score(ScoreInput {
            last_seen: None,
            ..node()
        });
        assert_eq!(s.breakdown.staleness, -40);
        assert_eq!(s.value, 60);
    }

    #[test]
    fn score_never_below_zero() {
        let s = score(ScoreInput {
            last_seen: None,
            install_attempts: 10,
            boot_count: 50,
        });
        assert_eq!(s.value, 0);
        assert_eq!(
            s.breakdown,
            ScoreBreakdown {
                staleness: -40,
                install_failures: -30,
                boot_stability: -30
            }
        );
    }

    #[test]
    fn score_never_above_100() {
        assert!(score(node()).value <= 100);
    }

    // Exact values, checked against Python.

    #[test]
    fn staleness_values_match_python() {
        // -int(min((m*60/60)/60, 1.0)*40)
        let want = [
            (0, 0),
            (1, 0),
            (2, -1),
            (7, -4),
            (14, -9),
            (15, -10),
            (29, -19),
            (30, -20),
            (31, -20),
            (45, -30),
            (59, -39),
            (60, -40),
            (61, -40),
            (120, -40),
        ];
        for (minutes, pen) in want {
            let s = score(ScoreInput {
                last_seen: Some(now() - TimeDelta::minutes(minutes)),
                ..node()
            });
            assert_eq!(s.breakdown.staleness, pen, "{minutes} min");
        }
        let s = score(ScoreInput {
            last_seen: Some(now() - TimeDelta::microseconds(1_799_999_999)),
            ..node()
        });
        assert_eq!(s.breakdown.staleness, -19);
        let s = score(ScoreInput {
            last_seen: Some(now() - TimeDelta::milliseconds(90_500)),
            ..node()
        });
        assert_eq!(s.breakdown.staleness, -1);
    }

    #[test]
    fn install_values_match_python() {
        let want = [0, -6, -12, -18, -24, -30, -30, -30];
        for (attempts, pen) in want.into_iter().enumerate() {
            let s = score(ScoreInput {
                install_attempts: attempts as u32,
                ..node()
            });
            assert_eq!(s.breakdown.install_failures, pen, "{attempts} attempts");
        }
    }

    #[test]
    fn boot_values_match_python() {
        let want = [
            0, -1, -3, -4, -6, -7, -9, -10, -12, -13, -15, -16, -18, -19, -21, -22, -24, -25, -27,
            -28, -30, -30,
        ];
        for (i, pen) in want.into_iter().enumerate() {
            let boots = 10 + i as u32;
            let s = score(ScoreInput {
                boot_count: boots,
                ..node()
            });
            assert_eq!(s.breakdown.boot_stability, pen, "{boots} boots");
        }
        for boots in 0..=10 {
            let s = score(ScoreInput {
                boot_count: boots,
                ..node()
            });
            assert_eq!(s.breakdown.boot_stability, 0);
        }
    }

    #[test]
    fn future_last_seen_costs_nothing() {
        let s = score(ScoreInput {
            last_seen: Some(now() + TimeDelta::hours(3)),
            ..node()
        });
        assert_eq!(s.breakdown.staleness, 0);
        assert_eq!(s.value, 100);
    }

    #[test]
    fn zero_offline_and_extremes_do_not_panic() {
        let input = ScoreInput {
            last_seen: Some(now() - TimeDelta::seconds(1)),
            install_attempts: u32::MAX,
            boot_count: u32::MAX,
        };
        let s = compute(&input, &ScoreWeights::default(), Duration::ZERO, now());
        assert_eq!(s.value, 0);
        assert_eq!(s.breakdown.staleness, -40);
        let s = compute(
            &ScoreInput {
                last_seen: Some(now()),
                ..input
            },
            &ScoreWeights::default(),
            Duration::ZERO,
            now(),
        );
        assert_eq!(s.breakdown.staleness, 0);
        let huge = ScoreWeights {
            staleness: u32::MAX,
            install_failures: u32::MAX,
            boot_stability: u32::MAX,
        };
        let s = compute(
            &ScoreInput {
                last_seen: Some(DateTime::<Utc>::MIN_UTC),
                ..input
            },
            &huge,
            Duration::MAX,
            DateTime::<Utc>::MAX_UTC,
        );
        assert_eq!(s.value, 0);
        assert!(s.breakdown.staleness < 0);
        let s = compute(
            &ScoreInput {
                last_seen: None,
                ..input
            },
            &huge,
            OFFLINE,
            now(),
        );
        assert_eq!(s.breakdown.staleness, -i32::MAX);
    }

    #[test]
    fn custom_weights() {
        let w = ScoreWeights {
            staleness: 100,
            install_failures: 0,
            boot_stability: 0,
        };
        w.validate().unwrap();
        let s = compute(
            &ScoreInput {
                last_seen: Some(now() - TimeDelta::minutes(30)),
                install_attempts: 5,
                boot_count: 40,
            },
            &w,
            OFFLINE,
            now(),
        );
        assert_eq!(s.value, 50);
        assert_eq!(s.breakdown.install_failures, 0);
        assert_eq!(s.breakdown.boot_stability, 0);
    }

    #[test]
    fn offline_after_scales_staleness() {
        let s = compute(
            &ScoreInput {
                last_seen: Some(now() - TimeDelta::minutes(30)),
                ..node()
            },
            &ScoreWeights::default(),
            Duration::from_secs(2 * 3600),
            now(),
        );
        assert_eq!(s.breakdown.staleness, -10);
    }

    #[test]
    fn weights_defaults_and_validation() {
        let d = ScoreWeights::default();
        assert_eq!(
            (d.staleness, d.install_failures, d.boot_stability),
            (40, 30, 30)
        );
        d.validate().unwrap();
        let cases = [
            ((101, 0, 0), "staleness"),
            ((0, 101, 0), "install_failures"),
            ((0, 0, 101), "boot_stability"),
            ((40, 30, 29), "weights"),
            ((40, 30, 31), "weights"),
            ((0, 0, 0), "weights"),
        ];
        for ((s, i, b), field) in cases {
            let w = ScoreWeights {
                staleness: s,
                install_failures: i,
                boot_stability: b,
            };
            assert_eq!(w.validate().unwrap_err().field(), field, "{w:?}");
        }
    }

    #[test]
    fn serde_shapes() {
        let w: ScoreWeights = serde_json::from_str("{}").unwrap();
        assert_eq!(w, ScoreWeights::default());
        assert!(serde_json::from_str::<ScoreWeights>(r#"{"stale":1}"#).is_err());
        let s = score(ScoreInput {
            last_seen: Some(now() - TimeDelta::minutes(30)),
            install_attempts: 3,
            boot_count: 25,
        });
        assert_eq!(
            serde_json::to_value(s.breakdown).unwrap(),
            serde_json::json!({"staleness": -20, "install_failures": -18, "boot_stability": -22})
        );
        assert_eq!(
            serde_json::to_value(s).unwrap(),
            serde_json::json!({"value": 40, "breakdown":
                {"staleness": -20, "install_failures": -18, "boot_stability": -22}})
        );
        let m = s.breakdown.to_map();
        assert_eq!(m.len(), 3);
        assert_eq!(m["staleness"], -20);
        assert_eq!(m["install_failures"], -18);
        assert_eq!(m["boot_stability"], -22);
        let back: Score = serde_json::from_value(serde_json::to_value(s).unwrap()).unwrap();
        assert_eq!(back, s);
        let i: ScoreInput = serde_json::from_str("{}").unwrap();
        assert_eq!(i, ScoreInput::default());
    }

    fn input_strategy() -> impl Strategy<Value = ScoreInput> {
        (
            proptest::option::of(-1_000_000i64..10_000_000),
            any::<u32>(),
            any::<u32>(),
        )
            .prop_map(|(ago, install_attempts, boot_count)| ScoreInput {
                last_seen: ago.map(|s| now() - TimeDelta::seconds(s)),
                install_attempts,
                boot_count,
            })
    }

    fn weights_strategy() -> impl Strategy<Value = ScoreWeights> {
        prop_oneof![
            (0u32..=100, 0u32..=100).prop_filter_map("sum over 100", |(a, b)| {
                (a + b <= 100).then(|| ScoreWeights {
                    staleness: a,
                    install_failures: b,
                    boot_stability: 100 - a - b,
                })
            }),
            (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(a, b, c)| ScoreWeights {
                staleness: a,
                install_failures: b,
                boot_stability: c,
            }),
        ]
    }

    proptest! {
        #[test]
        fn score_in_range_and_breakdown_non_positive(
            input in input_strategy(), w in weights_strategy(), offline in 0u64..1_000_000,
        ) {
            let s = compute(&input, &w, Duration::from_secs(offline), now());
            prop_assert!(s.value <= 100);
            prop_assert!(s.breakdown.staleness <= 0);
            prop_assert!(s.breakdown.install_failures <= 0);
            prop_assert!(s.breakdown.boot_stability <= 0);
            if w.validate().is_ok() {
                prop_assert!(s.breakdown.staleness >= -(w.staleness as i32));
                prop_assert!(s.breakdown.install_failures >= -(w.install_failures as i32));
                prop_assert!(s.breakdown.boot_stability >= -(w.boot_stability as i32));
                prop_assert_eq!(i64::from(s.value), 100 + s.breakdown.total());
            }
        }

        #[test]
        fn older_last_seen_never_raises_score(
            input in input_strategy(), w in weights_strategy(),
            a in -1_000_000i64..10_000_000, b in -1_000_000i64..10_000_000,
            offline in 0u64..1_000_000, never in any::<bool>(),
        ) {
            let offline = Duration::from_secs(offline);
            let (young, old) = if a <= b { (a, b) } else { (b, a) };
            let at = |ago: i64| ScoreInput { last_seen: Some(now() - TimeDelta::seconds(ago)), ..input };
            let sy = compute(&at(young), &w, offline, now());
            let so = if never {
                compute(&ScoreInput { last_seen: None, ..input }, &w, offline, now())
            } else {
                compute(&at(old), &w, offline, now())
            };
            prop_assert!(so.value <= sy.value);
            prop_assert!(so.breakdown.staleness <= sy.breakdown.staleness);
        }

        #[test]
        fn more_attempts_or_boots_never_raise_score(
            input in input_strategy(), w in weights_strategy(),
            extra_attempts in 0u32..100, extra_boots in 0u32..100,
        ) {
            let more = ScoreInput {
                install_attempts: input.install_attempts.saturating_add(extra_attempts),
                boot_count: input.boot_count.saturating_add(extra_boots),
                ..input
            };
            let a = compute(&input, &w, OFFLINE, now());
            let b = compute(&more, &w, OFFLINE, now());
            prop_assert!(b.value <= a.value);
        }

        #[test]
        fn matches_seed_float_formula(ago_us in -10_000_000_000i64..20_000_000_000, attempts in 0u32..50, boots in 0u32..60) {
            let input = ScoreInput {
                last_seen: Some(now() - TimeDelta::microseconds(ago_us)),
                install_attempts: attempts,
                boot_count: boots,
            };
            let s = score(input);
            let minutes = (ago_us as f64 / 1e6) / 60.0;
            let ratio = (minutes / 60.0).clamp(0.0, 1.0);
            prop_assert_eq!(s.breakdown.staleness, -((ratio * 40.0) as i32));
        }
    }
}
