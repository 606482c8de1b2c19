//! Column encodings shared by every table: instants as i64 nanoseconds,
//! u64 counters as their i64 bit pattern, enums as small integers, records
//! as JSON.
//!
//! Pure functions; no SQL is run here.

use chrono::{DateTime, Utc};
use healthcore::model::{Outcome, Status};
use healthcore::rollup::Granularity;
use healthcore::store::{StoreError, StoreResult};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// An instant as nanoseconds since the Unix epoch. Instants outside
/// 1677-09-21 ..= 2262-04-11 saturate to `i64::MIN` / `i64::MAX`, which
/// keeps comparisons right for range bounds such as
/// [`DateTime::<Utc>::MIN_UTC`].
pub(crate) fn ns(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(if t.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// The inverse of [`ns`] (exact inside the representable range).
pub(crate) fn from_ns(n: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(n)
}

/// A u64 counter as the i64 with the same bits (exact round trip; values
/// above `i64::MAX` read as negative in SQL).
pub(crate) const fn u64_bits(v: u64) -> i64 {
    i64::from_ne_bytes(v.to_ne_bytes())
}

/// The inverse of [`u64_bits`].
pub(crate) const fn bits_u64(v: i64) -> u64 {
    u64::from_ne_bytes(v.to_ne_bytes())
}

/// A latency as whole nanoseconds (saturating at `i64::MAX`, ~292 years).
pub(crate) fn duration_ns(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// The inverse of [`duration_ns`]; negative values (never written) read as 0.
pub(crate) fn ns_duration(n: i64) -> std::time::Duration {
    std::time::Duration::from_nanos(u64::try_from(n).unwrap_or(0))
}

pub(crate) fn outcome_code(o: Outcome) -> i64 {
    match o {
        Outcome::Pass => 0,
        Outcome::Warn => 1,
        Outcome::Fail => 2,
        Outcome::Unreachable => 3,
        Outcome::Unknown => 4,
    }
}

pub(crate) fn outcome_from(code: i64) -> StoreResult<Outcome> {
    Ok(match code {
        0 => Outcome::Pass,
        1 => Outcome::Warn,
        2 => Outcome::Fail,
        3 => Outcome::Unreachable,
        4 => Outcome::Unknown,
        other => return Err(StoreError::Data(format!("unknown outcome code {other}"))),
    })
}

pub(crate) fn status_code(s: Status) -> i64 {
    match s {
        Status::Unknown => 0,
        Status::Healthy => 1,
        Status::Degraded => 2,
        Status::Down => 3,
    }
}

pub(crate) fn status_from(code: i64) -> StoreResult<Status> {
    Ok(match code {
        0 => Status::Unknown,
        1 => Status::Healthy,
        2 => Status::Degraded,
        3 => Status::Down,
        other => return Err(StoreError::Data(format!("unknown status code {other}"))),
    })
}

/// The stored code of a granularity; a granularity newer than this crate
/// is refused rather than given a code a later version might reuse.
pub(crate) fn gran_code(g: Granularity) -> StoreResult<i64> {
    match g {
        Granularity::Minute => Ok(0),
        Granularity::Hour => Ok(1),
        Granularity::Day => Ok(2),
        other => Err(StoreError::Data(format!(
            "granularity {} is not known to this store",
            other.as_str()
        ))),
    }
}

#[cfg(test)]
pub(crate) fn gran_from(code: i64) -> StoreResult<Granularity> {
    Ok(match code {
        0 => Granularity::Minute,
        1 => Granularity::Hour,
        2 => Granularity::Day,
        other => {
            return Err(StoreError::Data(format!(
                "unknown granularity code {other}"
            )));
        }
    })
}

/// A record as JSON text.
pub(crate) fn to_json<T: Serialize + ?Sized>(v: &T) -> StoreResult<String> {
    Ok(serde_json::to_string(v)?)
}

/// A record from JSON text.
pub(crate) fn from_json<T: DeserializeOwned>(s: &str) -> StoreResult<T> {
    Ok(serde_json::from_str(s)?)
}

/// A page offset as i64 (saturating).
pub(crate) fn offset_i64(offset: u64) -> i64 {
    i64::try_from(offset).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn instants_round_trip_with_nanoseconds() {
        let t = Utc
            .with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
            .single()
            .expect("valid")
            + chrono::Duration::nanoseconds(123_456_789);
        assert_eq!(from_ns(ns(t)), t);
        assert_eq!(ns(DateTime::<Utc>::UNIX_EPOCH), 0);
    }

    #[test]
    fn out_of_range_instants_saturate_in_order() {
        assert_eq!(ns(DateTime::<Utc>::MIN_UTC), i64::MIN);
        assert_eq!(ns(DateTime::<Utc>::MAX_UTC), i64::MAX);
    }

    #[test]
    fn counters_round_trip_all_bits() {
        for v in [0, 1, i64::MAX as u64, i64::MAX as u64 + 1, u64::MAX] {
            assert_eq!(bits_u64(u64_bits(v)), v);
        }
        assert_eq!(u64_bits(5), 5);
    }

    #[test]
    fn enums_round_trip() {
        for o in Outcome::ALL {
            assert_eq!(outcome_from(outcome_code(o)).expect("known"), o);
        }
        for s in Status::ALL {
            assert_eq!(status_from(status_code(s)).expect("known"), s);
        }
        for g in Granularity::ALL {
            assert_eq!(gran_from(gran_code(g).expect("code")).expect("known"), g);
        }
        assert!(outcome_from(9).is_err());
        assert!(status_from(-1).is_err());
        assert!(gran_from(3).is_err());
    }

    #[test]
    fn durations_round_trip_and_saturate() {
        let d = std::time::Duration::from_nanos(1_234_567);
        assert_eq!(ns_duration(duration_ns(d)), d);
        assert_eq!(duration_ns(std::time::Duration::MAX), i64::MAX);
        assert_eq!(ns_duration(-5), std::time::Duration::ZERO);
    }

    #[test]
    fn offsets_saturate() {
        assert_eq!(offset_i64(u64::MAX), i64::MAX);
        assert_eq!(offset_i64(7), 7);
    }
}
