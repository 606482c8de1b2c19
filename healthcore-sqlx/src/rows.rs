//! Conversions between healthcore records and column values: ids,
//! counters (u64 kept in `bigint`, saturating), latencies, granularity
//! codes, timestamps clamped into PostgreSQL's range, and the COPY text
//! encoding of raw results.
//!
//! This module owns no SQL and no health rule.

use std::io::Write as _;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use healthcore::model::{CheckId, CheckKey, Observation, Outcome, Status, TargetId, TenantId};
use healthcore::rollup::{Bucket, Granularity};
use healthcore::store::{StoreError, StoreResult, StoredResult};

use crate::error::map_sqlx_error;

/// `Result<T, sqlx::Error>` → `StoreResult<T>` through [`map_sqlx_error`].
pub(crate) trait Db<T> {
    /// Maps the error.
    fn db(self) -> StoreResult<T>;
}

impl<T> Db<T> for Result<T, sqlx::Error> {
    fn db(self) -> StoreResult<T> {
        self.map_err(map_sqlx_error)
    }
}

/// A stored target id.
pub(crate) fn tid(s: &str) -> StoreResult<TargetId> {
    TargetId::new(s).map_err(|e| StoreError::Data(format!("stored target id {s:?}: {e}")))
}

/// A stored check id.
pub(crate) fn cid(s: &str) -> StoreResult<CheckId> {
    CheckId::new(s).map_err(|e| StoreError::Data(format!("stored check id {s:?}: {e}")))
}

/// A stored tenant id.
pub(crate) fn tenant_id(s: &str) -> StoreResult<TenantId> {
    TenantId::new(s).map_err(|e| StoreError::Data(format!("stored tenant {s:?}: {e}")))
}

/// A u64 counter as `bigint`, saturating at `i64::MAX`.
pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A `bigint` counter back as u64 (negative reads as 0).
pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// A latency in nanoseconds, saturating.
pub(crate) fn latency_ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Granularity as its `smallint` code.
pub(crate) fn gran_code(g: Granularity) -> StoreResult<i16> {
    match g {
        Granularity::Minute => Ok(0),
        Granularity::Hour => Ok(1),
        Granularity::Day => Ok(2),
        #[allow(unreachable_patterns)]
        other => Err(StoreError::Data(format!(
            "granularity {} has no storage code",
            other.as_str()
        ))),
    }
}

/// A stored granularity code.
#[cfg(test)]
pub(crate) fn gran_from(code: i16) -> StoreResult<Granularity> {
    match code {
        0 => Ok(Granularity::Minute),
        1 => Ok(Granularity::Hour),
        2 => Ok(Granularity::Day),
        other => Err(StoreError::Data(format!(
            "unknown granularity code {other}"
        ))),
    }
}

/// The earliest instant PostgreSQL's `timestamptz` holds (with margin):
/// query bounds before it are moved to it, since nothing older can exist.
pub(crate) fn pg_min() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(-4711, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| n.and_utc())
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// Clamps a query bound into PostgreSQL's range.
pub(crate) fn clamp(t: DateTime<Utc>) -> DateTime<Utc> {
    t.max(pg_min())
}

/// A page's offset as `bigint`.
pub(crate) fn offset(o: u64) -> i64 {
    i64::try_from(o).unwrap_or(i64::MAX)
}

/// One rollup bucket as column values, in table order after the key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BucketCols {
    pub counters: [i64; 10],
    pub min: Option<i64>,
    pub max: Option<i64>,
}

impl BucketCols {
    pub(crate) fn of(b: &Bucket) -> Self {
        Self {
            counters: [
                to_i64(b.healthy_ms),
                to_i64(b.degraded_ms),
                to_i64(b.down_ms),
                to_i64(b.unknown_ms),
                to_i64(b.maintenance_ms),
                to_i64(b.checks_total),
                to_i64(b.checks_healthy),
                to_i64(b.checks_failed),
                to_i64(b.latency_count),
                to_i64(b.latency_sum_us),
            ],
            min: b.latency_min_us.map(to_i64),
            max: b.latency_max_us.map(to_i64),
        }
    }

    /// Rebuilds a bucket from its stored parts.
    pub(crate) fn bucket(self, granularity: Granularity, start: DateTime<Utc>) -> Bucket {
        let [h, dg, dn, un, mt, tot, ok, fail, lc, ls] = self.counters.map(to_u64);
        let mut b = Bucket::new(granularity, start);
        b.start = start;
        b.healthy_ms = h;
        b.degraded_ms = dg;
        b.down_ms = dn;
        b.unknown_ms = un;
        b.maintenance_ms = mt;
        b.checks_total = tot;
        b.checks_healthy = ok;
        b.checks_failed = fail;
        b.latency_count = lc;
        b.latency_sum_us = ls;
        b.latency_min_us = self.min.map(to_u64);
        b.latency_max_us = self.max.map(to_u64);
        b
    }
}

/// The columns a raw result is read back from.
pub(crate) struct ResultCols {
    pub target_id: String,
    pub check_id: String,
    pub at: DateTime<Utc>,
    pub outcome: String,
    pub status: String,
    pub latency_ns: Option<i64>,
    pub message: Option<String>,
    pub details: Option<serde_json::Value>,
}

impl ResultCols {
    /// The stored result.
    pub(crate) fn into_result(self) -> StoreResult<StoredResult> {
        let outcome = Outcome::parse(&self.outcome)
            .ok_or_else(|| StoreError::Data(format!("unknown outcome {:?}", self.outcome)))?;
        let status = Status::parse(&self.status)
            .ok_or_else(|| StoreError::Data(format!("unknown status {:?}", self.status)))?;
        Ok(StoredResult {
            key: CheckKey::new(tid(&self.target_id)?, cid(&self.check_id)?),
            observation: Observation {
                at: self.at,
                outcome,
                latency: self
                    .latency_ns
                    .map(|n| Duration::from_nanos(u64::try_from(n).unwrap_or(0))),
                message: self.message,
                details: self.details,
            },
            status,
        })
    }
}

/// Appends `s` escaped for COPY's text format.
pub(crate) fn copy_text(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    if !bytes
        .iter()
        .any(|b| matches!(b, b'\\' | b'\n' | b'\r' | b'\t'))
    {
        out.extend_from_slice(bytes);
        return;
    }
    for &b in bytes {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.push(b),
        }
    }
}

/// Appends one raw result as a COPY text line of
/// `(target_id, check_id, at, outcome, status, latency_ns, message, details)`.
pub(crate) fn copy_result(out: &mut Vec<u8>, r: &StoredResult) -> StoreResult<()> {
    copy_text(out, r.key.target.as_str());
    out.push(b'\t');
    copy_text(out, r.key.check.as_str());
    out.push(b'\t');
    // Micro-second precision (PostgreSQL's), in UTC; years outside 0..=9999
    // are refused by the server, which the caller sees as a Data error.
    let _ = write!(out, "{}", r.observation.at.format("%Y-%m-%dT%H:%M:%S%.6fZ"));
    out.push(b'\t');
    out.extend_from_slice(r.observation.outcome.as_str().as_bytes());
    out.push(b'\t');
    out.extend_from_slice(r.status.as_str().as_bytes());
    out.push(b'\t');
    match r.observation.latency {
        Some(d) => {
            let _ = write!(out, "{}", latency_ns(d));
        }
        None => out.extend_from_slice(b"\\N"),
    }
    out.push(b'\t');
    match &r.observation.message {
        Some(m) => copy_text(out, m),
        None => out.extend_from_slice(b"\\N"),
    }
    out.push(b'\t');
    match &r.observation.details {
        Some(d) => copy_text(out, &serde_json::to_string(d)?),
        None => out.extend_from_slice(b"\\N"),
    }
    out.push(b'\n');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn counters_saturate_both_ways() {
        assert_eq!(to_i64(u64::MAX), i64::MAX);
        assert_eq!(to_i64(7), 7);
        assert_eq!(to_u64(-1), 0);
        assert_eq!(latency_ns(Duration::MAX), i64::MAX);
        assert_eq!(latency_ns(Duration::from_micros(3)), 3_000);
    }

    #[test]
    fn granularity_codes_round_trip() {
        for g in Granularity::ALL {
            assert_eq!(gran_from(gran_code(g).unwrap()).unwrap(), g);
        }
        assert!(matches!(gran_from(9), Err(StoreError::Data(_))));
    }

    #[test]
    fn bucket_columns_round_trip() {
        let t = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let mut b = Bucket::new(Granularity::Hour, t);
        b.add_observation(Outcome::Pass, Some(Duration::from_millis(4)));
        b.add_observation(Outcome::Fail, None);
        b.add_time_ms(Status::Down, false, 1234);
        let back = BucketCols::of(&b).bucket(Granularity::Hour, b.start);
        assert_eq!(back, b);
        let empty = Bucket::new(Granularity::Day, t);
        assert_eq!(
            BucketCols::of(&empty).bucket(Granularity::Day, empty.start),
            empty
        );
    }

    #[test]
    fn copy_escapes_specials() {
        let mut out = Vec::new();
        copy_text(&mut out, "a\tb\\c\nd\re");
        assert_eq!(out, b"a\\tb\\\\c\\nd\\re");
        let mut plain = Vec::new();
        copy_text(&mut plain, "héllo");
        assert_eq!(plain, "héllo".as_bytes());
    }

    #[test]
    fn copy_line_has_eight_fields_and_nulls() {
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
            + chrono::Duration::nanoseconds(1_234_567);
        let r = StoredResult {
            key: CheckKey::new(TargetId::new("t\\1").unwrap(), CheckId::new("tcp").unwrap()),
            observation: Observation::new(at, Outcome::Fail)
                .with_message("line1\nline2")
                .with_details(serde_json::json!({"path": "C:\\x"})),
            status: Status::Down,
        };
        let mut out = Vec::new();
        copy_result(&mut out, &r).unwrap();
        let line = String::from_utf8(out).unwrap();
        assert_eq!(
            line,
            "t\\\\1\ttcp\t2026-03-01T12:00:00.001234Z\tfail\tdown\t\\N\tline1\\nline2\t{\"path\":\"C:\\\\\\\\x\"}\n"
        );
        assert_eq!(line.matches('\t').count(), 7);
    }

    #[test]
    fn clamp_moves_only_ancient_bounds() {
        let t = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        assert_eq!(clamp(t), t);
        assert_eq!(clamp(DateTime::<Utc>::MIN_UTC), pg_min());
        assert!(pg_min() < t);
    }
}
