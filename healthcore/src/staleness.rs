//! Passive staleness (seed 000): how long ago a target was last seen
//! decides `healthy`, `stale`, `offline` or `unknown`.
//!
//! This module owns [`StalenessPolicy`] (the two thresholds and their
//! validation), [`Staleness`] (seed 000's four-word vocabulary) and the
//! rule [`StalenessPolicy::evaluate`]. Heartbeat/TTL checks (002's agent
//! check) are the same rule with per-check thresholds. It must not read
//! the clock, store anything or raise alerts: `now` is an argument and the
//! result is plain data.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::model::{Cause, Health, Status};

/// Default `stale_after` (000: `stale_threshold_minutes = 15`).
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(15 * 60);
/// Default `offline_after` (000: `offline_threshold_minutes = 60`).
pub const DEFAULT_OFFLINE_AFTER: Duration = Duration::from_secs(60 * 60);

/// Thresholds for passive staleness.
///
/// Seen at most `stale_after` ago → healthy; at most `offline_after` ago
/// → stale; longer → offline; never → unknown. Durations read and write
/// as humantime strings (`"15m"`, `"1h"`); missing fields take defaults.
///
/// ```
/// use healthcore::staleness::StalenessPolicy;
/// let p: StalenessPolicy = serde_json::from_str(r#"{"stale_after":"5m"}"#).unwrap();
/// assert_eq!(p.stale_after.as_secs(), 300);
/// assert_eq!(p.offline_after.as_secs(), 3600);
/// p.validate().unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StalenessPolicy {
    /// Longest silence that still counts as healthy (default 15 min).
    #[serde(with = "humantime_serde")]
    pub stale_after: Duration,
    /// Longest silence that still counts as stale rather than offline
    /// (default 60 min).
    #[serde(with = "humantime_serde")]
    pub offline_after: Duration,
}

impl Default for StalenessPolicy {
    fn default() -> Self {
        Self {
            stale_after: DEFAULT_STALE_AFTER,
            offline_after: DEFAULT_OFFLINE_AFTER,
        }
    }
}

/// Seed 000's passive health vocabulary.
///
/// ```
/// use healthcore::staleness::Staleness;
/// use healthcore::model::{Cause, Status};
/// let h = Staleness::Stale.health();
/// assert_eq!((h.status, h.cause), (Status::Degraded, Cause::Stale));
/// assert_eq!(Staleness::Offline.as_str(), "offline");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Staleness {
    /// Seen within `stale_after`.
    Healthy,
    /// Seen within `offline_after`, but not within `stale_after`.
    Stale,
    /// Not seen within `offline_after`.
    Offline,
    /// Never seen.
    Unknown,
}

impl Staleness {
    /// All values, in seed 000's order.
    pub const ALL: [Staleness; 4] = [
        Staleness::Healthy,
        Staleness::Stale,
        Staleness::Offline,
        Staleness::Unknown,
    ];

    /// The status ladder position with its cause: healthy/passing,
    /// degraded/stale, down/offline, unknown/never_seen.
    pub const fn health(self) -> Health {
        match self {
            Staleness::Healthy => Health::new(Status::Healthy, Cause::Passing),
            Staleness::Stale => Health::new(Status::Degraded, Cause::Stale),
            Staleness::Offline => Health::new(Status::Down, Cause::Offline),
            Staleness::Unknown => Health::new(Status::Unknown, Cause::NeverSeen),
        }
    }

    /// The snake_case name used in JSON and by seed 000
    /// (`healthy`, `stale`, `offline`, `unknown`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Staleness::Healthy => "healthy",
            Staleness::Stale => "stale",
            Staleness::Offline => "offline",
            Staleness::Unknown => "unknown",
        }
    }

    /// Parses a snake_case name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl fmt::Display for Staleness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl StalenessPolicy {
    /// Checks the rules; the error names the field.
    ///
    /// Rules: `stale_after` > 0, `offline_after` > 0,
    /// `stale_after` < `offline_after`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.stale_after.is_zero() {
            return Err(ValidationError::new(
                "stale_after",
                "must be greater than 0",
            ));
        }
        if self.offline_after.is_zero() {
            return Err(ValidationError::new(
                "offline_after",
                "must be greater than 0",
            ));
        }
        if self.stale_after >= self.offline_after {
            return Err(ValidationError::new(
                "stale_after",
                "must be less than offline_after",
            ));
        }
        Ok(())
    }

    /// Classifies a target last seen at `last_seen`, as of `now`.
    ///
    /// Boundaries are inclusive as in seed 000: silence ≤ `stale_after` is
    /// healthy, ≤ `offline_after` is stale, beyond is offline; `None` is
    /// unknown. A `last_seen` after `now` (clock skew) counts as just seen.
    /// Works on unvalidated policies too (it never panics).
    ///
    /// ```
    /// use chrono::{Duration, TimeZone, Utc};
    /// use healthcore::staleness::{Staleness, StalenessPolicy};
    /// let now = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
    /// let p = StalenessPolicy::default();
    /// assert_eq!(p.evaluate(Some(now - Duration::minutes(15)), now), Staleness::Healthy);
    /// assert_eq!(p.evaluate(Some(now - Duration::minutes(30)), now), Staleness::Stale);
    /// assert_eq!(p.evaluate(Some(now - Duration::hours(2)), now), Staleness::Offline);
    /// assert_eq!(p.evaluate(None, now), Staleness::Unknown);
    /// ```
    pub fn evaluate(&self, last_seen: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Staleness {
        let Some(seen) = last_seen else {
            return Staleness::Unknown;
        };
        // Negative (future `last_seen`) fails `to_std` and counts as zero.
        let silence = now
            .signed_duration_since(seen)
            .to_std()
            .unwrap_or(Duration::ZERO);
        if silence <= self.stale_after {
            Staleness::Healthy
        } else if silence <= self.offline_after {
            Staleness::Stale
        } else {
            Staleness::Offline
        }
    }
}

/// Reads a naive timestamp as UTC (seed 000: naive datetimes are UTC).
///
/// ```
/// use chrono::NaiveDate;
/// let naive = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap().and_hms_opt(8, 0, 0).unwrap();
/// assert_eq!(healthcore::staleness::naive_as_utc(naive).to_rfc3339(), "2026-01-01T08:00:00+00:00");
/// ```
pub fn naive_as_utc(naive: NaiveDateTime) -> DateTime<Utc> {
    naive.and_utc()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone};
    use proptest::prelude::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    fn ago(d: TimeDelta) -> Option<DateTime<Utc>> {
        Some(now() - d)
    }

    // Seed 000, TestDetermineHealthStatus, with a fixed `now`.

    #[test]
    fn unknown_when_never_seen() {
        assert_eq!(
            StalenessPolicy::default().evaluate(None, now()),
            Staleness::Unknown
        );
    }

    #[test]
    fn healthy_when_recently_seen() {
        let p = StalenessPolicy::default();
        assert_eq!(
            p.evaluate(ago(TimeDelta::minutes(5)), now()),
            Staleness::Healthy
        );
    }

    #[test]
    fn stale_when_threshold_exceeded() {
        let p = StalenessPolicy::default();
        assert_eq!(
            p.evaluate(ago(TimeDelta::minutes(30)), now()),
            Staleness::Stale
        );
    }

    #[test]
    fn offline_when_long_unseen() {
        let p = StalenessPolicy::default();
        assert_eq!(
            p.evaluate(ago(TimeDelta::hours(2)), now()),
            Staleness::Offline
        );
    }

    #[test]
    fn handles_naive_datetime() {
        let naive = (now() - TimeDelta::minutes(5)).naive_utc();
        let p = StalenessPolicy::default();
        assert_eq!(
            p.evaluate(Some(naive_as_utc(naive)), now()),
            Staleness::Healthy
        );
        assert_eq!(naive_as_utc(now().naive_utc()), now());
    }

    // Boundaries.

    #[test]
    fn boundaries_are_inclusive() {
        let p = StalenessPolicy::default();
        let cases = [
            (TimeDelta::zero(), Staleness::Healthy),
            (TimeDelta::minutes(15), Staleness::Healthy),
            (
                TimeDelta::minutes(15) + TimeDelta::microseconds(1),
                Staleness::Stale,
            ),
            (
                TimeDelta::minutes(15) + TimeDelta::nanoseconds(1),
                Staleness::Stale,
            ),
            (TimeDelta::minutes(60), Staleness::Stale),
            (
                TimeDelta::minutes(60) + TimeDelta::microseconds(1),
                Staleness::Offline,
            ),
            (TimeDelta::days(365 * 100), Staleness::Offline),
        ];
        for (d, want) in cases {
            assert_eq!(p.evaluate(ago(d), now()), want, "{d:?}");
        }
    }

    #[test]
    fn future_last_seen_counts_as_just_seen() {
        let p = StalenessPolicy::default();
        assert_eq!(
            p.evaluate(Some(now() + TimeDelta::hours(5)), now()),
            Staleness::Healthy
        );
    }

    #[test]
    fn extreme_instants_do_not_panic() {
        let p = StalenessPolicy::default();
        let min = DateTime::<Utc>::MIN_UTC;
        let max = DateTime::<Utc>::MAX_UTC;
        assert_eq!(p.evaluate(Some(min), max), Staleness::Offline);
        assert_eq!(p.evaluate(Some(max), min), Staleness::Healthy);
    }

    #[test]
    fn custom_thresholds() {
        let p = StalenessPolicy {
            stale_after: Duration::from_secs(30),
            offline_after: Duration::from_secs(90),
        };
        p.validate().unwrap();
        assert_eq!(
            p.evaluate(ago(TimeDelta::seconds(31)), now()),
            Staleness::Stale
        );
        assert_eq!(
            p.evaluate(ago(TimeDelta::seconds(91)), now()),
            Staleness::Offline
        );
    }

    #[test]
    fn defaults_match_000() {
        let p = StalenessPolicy::default();
        assert_eq!(p.stale_after, Duration::from_secs(15 * 60));
        assert_eq!(p.offline_after, Duration::from_secs(60 * 60));
        p.validate().unwrap();
    }

    #[test]
    fn validation_names_fields() {
        let cases = [
            (Duration::ZERO, Duration::from_secs(60), "stale_after"),
            (Duration::from_secs(60), Duration::ZERO, "offline_after"),
            (
                Duration::from_secs(60),
                Duration::from_secs(60),
                "stale_after",
            ),
            (
                Duration::from_secs(61),
                Duration::from_secs(60),
                "stale_after",
            ),
        ];
        for (stale_after, offline_after, field) in cases {
            let p = StalenessPolicy {
                stale_after,
                offline_after,
            };
            assert_eq!(p.validate().unwrap_err().field(), field, "{p:?}");
        }
    }

    #[test]
    fn serde_humantime_defaults_and_unknown_fields() {
        let p: StalenessPolicy = serde_json::from_str("{}").unwrap();
        assert_eq!(p, StalenessPolicy::default());
        let json = serde_json::to_value(p).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"stale_after": "15m", "offline_after": "1h"})
        );
        let err = serde_json::from_str::<StalenessPolicy>(r#"{"stale":"1m"}"#).unwrap_err();
        assert!(err.to_string().contains("stale"));
    }

    #[test]
    fn staleness_mapping_and_names() {
        let want = [
            (Staleness::Healthy, Status::Healthy, Cause::Passing),
            (Staleness::Stale, Status::Degraded, Cause::Stale),
            (Staleness::Offline, Status::Down, Cause::Offline),
            (Staleness::Unknown, Status::Unknown, Cause::NeverSeen),
        ];
        for (s, status, cause) in want {
            assert_eq!(s.health(), Health::new(status, cause));
            assert_eq!(Staleness::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        assert_eq!(Staleness::parse("down"), None);
    }

    proptest! {
        #[test]
        fn older_is_never_healthier(a in 0i64..10_000_000, b in 0i64..10_000_000) {
            let p = StalenessPolicy::default();
            let (young, old) = if a <= b { (a, b) } else { (b, a) };
            let sy = p.evaluate(ago(TimeDelta::seconds(young)), now()).health().status;
            let so = p.evaluate(ago(TimeDelta::seconds(old)), now()).health().status;
            prop_assert!(sy <= so);
        }

        #[test]
        fn matches_seed_float_rule(secs in -100_000i64..100_000, micros in 0i64..1_000_000) {
            let d = TimeDelta::seconds(secs) + TimeDelta::microseconds(micros);
            let got = StalenessPolicy::default().evaluate(ago(d), now());
            // 000: minutes = total_seconds / 60, compared with <= 15 and <= 60;
            // a future time has negative minutes and so is healthy.
            let minutes = (d.num_microseconds().unwrap() as f64 / 1e6) / 60.0;
            let want = if minutes <= 15.0 {
                Staleness::Healthy
            } else if minutes <= 60.0 {
                Staleness::Stale
            } else {
                Staleness::Offline
            };
            prop_assert_eq!(got, want);
        }

        #[test]
        fn never_panics(seen in proptest::option::of(any::<i64>()), at in any::<i64>(),
                        stale in any::<u64>(), offline in any::<u64>()) {
            let to_dt = |s: i64| DateTime::<Utc>::from_timestamp(s % 8_000_000_000_000, 0)
                .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
            let p = StalenessPolicy {
                stale_after: Duration::from_secs(stale),
                offline_after: Duration::from_secs(offline),
            };
            let _ = p.validate();
            let _ = p.evaluate(seen.map(to_dt), to_dt(at));
        }
    }
}
