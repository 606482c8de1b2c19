//! Column encodings shared by every table: instants as i64 nanoseconds,
//! enums as small integers, records as JSON, pointer lists and rollup
//! counters as varint blobs.
//!
//! Pure functions; no SQL is run here.

use chrono::{DateTime, Utc};
use healthcore::model::{Outcome, Status};
use healthcore::rollup::{Bucket, Granularity};
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

/// Appends ascending, non-negative `seqs` as LEB128 varints: the first
/// value, then each gap to the previous one.
pub(crate) fn encode_seqs(seqs: &[i64], out: &mut Vec<u8>) {
    let mut prev = 0i64;
    for &s in seqs {
        let mut v = u64::try_from(s.saturating_sub(prev)).unwrap_or(0);
        prev = s;
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
    }
}

/// The inverse of [`encode_seqs`]; a truncated or oversized varint is a
/// `Data` error.
pub(crate) fn decode_seqs(blob: &[u8], out: &mut Vec<i64>) -> StoreResult<()> {
    let bad = || StoreError::Data("damaged recent-results pointer list".into());
    let mut prev = 0i64;
    let mut v = 0u64;
    let mut shift = 0u32;
    for &byte in blob {
        if shift > 63 {
            return Err(bad());
        }
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            prev = prev.saturating_add(i64::try_from(v).map_err(|_| bad())?);
            out.push(prev);
            v = 0;
            shift = 0;
        } else {
            shift += 7;
        }
    }
    if shift != 0 {
        return Err(bad());
    }
    Ok(())
}

fn put_varint(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn take_varint(blob: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    let mut shift = 0u32;
    loop {
        let byte = *blob.get(*pos)?;
        *pos += 1;
        if shift > 63 {
            return None;
        }
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
        shift += 7;
    }
}

/// Format byte of a bucket's counters.
const COUNTS_V1: u8 = 1;

/// A bucket's counters as one blob: a format byte, a flags byte (bit 0:
/// latency min present, bit 1: max present), then LEB128 varints in field
/// order (healthy, degraded, down, unknown, maintenance ms; total, healthy,
/// failed checks; latency count, sum; min, max when present). Reading 1
/// column instead of 12 is most of a fleet-wide uptime query's cost.
pub(crate) fn encode_counts(b: &Bucket, out: &mut Vec<u8>) {
    out.push(COUNTS_V1);
    out.push(u8::from(b.latency_min_us.is_some()) | (u8::from(b.latency_max_us.is_some()) << 1));
    for v in [
        b.healthy_ms,
        b.degraded_ms,
        b.down_ms,
        b.unknown_ms,
        b.maintenance_ms,
        b.checks_total,
        b.checks_healthy,
        b.checks_failed,
        b.latency_count,
        b.latency_sum_us,
    ] {
        put_varint(v, out);
    }
    for v in [b.latency_min_us, b.latency_max_us].into_iter().flatten() {
        put_varint(v, out);
    }
}

/// The inverse of [`encode_counts`]: sets `b`'s counters (start and
/// granularity stay).
pub(crate) fn decode_counts(blob: &[u8], b: &mut Bucket) -> StoreResult<()> {
    let bad = || StoreError::Data("damaged rollup counters".into());
    if blob.first() != Some(&COUNTS_V1) {
        return Err(bad());
    }
    let flags = *blob.get(1).ok_or_else(bad)?;
    let mut pos = 2;
    let mut next = || take_varint(blob, &mut pos).ok_or_else(bad);
    b.healthy_ms = next()?;
    b.degraded_ms = next()?;
    b.down_ms = next()?;
    b.unknown_ms = next()?;
    b.maintenance_ms = next()?;
    b.checks_total = next()?;
    b.checks_healthy = next()?;
    b.checks_failed = next()?;
    b.latency_count = next()?;
    b.latency_sum_us = next()?;
    b.latency_min_us = if flags & 1 != 0 { Some(next()?) } else { None };
    b.latency_max_us = if flags & 2 != 0 { Some(next()?) } else { None };
    if pos != blob.len() {
        return Err(bad());
    }
    Ok(())
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
    fn seq_lists_round_trip_compactly() {
        let seqs = [1i64, 2, 130, 20_000, 20_001, i64::MAX];
        let mut blob = Vec::new();
        encode_seqs(&seqs, &mut blob);
        let mut back = Vec::new();
        decode_seqs(&blob, &mut back).expect("decode");
        assert_eq!(back, seqs);
        let mut small = Vec::new();
        encode_seqs(&[1000, 2000, 3000], &mut small);
        assert_eq!(small.len(), 6, "gaps of 1000 take two bytes each");
        let mut empty = Vec::new();
        decode_seqs(&[], &mut empty).expect("empty");
        assert!(empty.is_empty());
    }

    #[test]
    fn counters_round_trip_through_the_blob() {
        let t = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("t");
        let mut b = Bucket::new(Granularity::Hour, t);
        b.add_observation(Outcome::Pass, Some(std::time::Duration::from_micros(250)));
        b.add_observation(Outcome::Fail, None);
        b.add_time_ms(Status::Down, false, 1234);
        b.add_time_ms(Status::Healthy, true, u64::MAX);
        let mut blob = Vec::new();
        encode_counts(&b, &mut blob);
        let mut back = Bucket::new(Granularity::Hour, t);
        decode_counts(&blob, &mut back).expect("decode");
        assert_eq!(back, b);
        let empty = Bucket::new(Granularity::Day, t);
        blob.clear();
        encode_counts(&empty, &mut blob);
        assert_eq!(blob.len(), 12, "an empty bucket is 12 bytes");
        let mut back = Bucket::new(Granularity::Day, t);
        decode_counts(&blob, &mut back).expect("decode");
        assert_eq!(back, empty);
    }

    #[test]
    fn damaged_counters_are_data_errors() {
        let mut b = Bucket::sum();
        assert!(decode_counts(&[], &mut b).is_err());
        assert!(decode_counts(&[9, 0], &mut b).is_err(), "unknown format");
        assert!(decode_counts(&[1, 0, 1, 2], &mut b).is_err(), "truncated");
        let mut blob = Vec::new();
        encode_counts(&Bucket::sum(), &mut blob);
        blob.push(0);
        assert!(decode_counts(&blob, &mut b).is_err(), "trailing bytes");
    }

    #[test]
    fn damaged_seq_lists_are_data_errors() {
        let mut out = Vec::new();
        assert!(decode_seqs(&[0x80], &mut out).is_err(), "truncated");
        assert!(decode_seqs(&[0xff; 11], &mut out).is_err(), "too long");
    }

    proptest::proptest! {
        #[test]
        fn any_ascending_list_round_trips(mut v in proptest::collection::vec(0i64..i64::MAX, 0..200)) {
            v.sort_unstable();
            let mut blob = Vec::new();
            encode_seqs(&v, &mut blob);
            let mut back = Vec::new();
            decode_seqs(&blob, &mut back).expect("decode");
            proptest::prop_assert_eq!(back, v);
        }
    }

    #[test]
    fn offsets_saturate() {
        assert_eq!(offset_i64(u64::MAX), i64::MAX);
        assert_eq!(offset_i64(7), 7);
    }
}
