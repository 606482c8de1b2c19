//! Conversions between healthcore records and column values: ids,
//! counters (u64 kept in `bigint`, saturating), latencies, granularity
//! codes, timestamps clamped into PostgreSQL's range, and the COPY text
//! encoding of raw results.
//!
//! This module owns no SQL and no health rule.

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

/// The header of PostgreSQL's binary COPY format (signature, flags,
/// header extension length).
pub(crate) const COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The trailer of the binary COPY format (a field count of -1).
pub(crate) const COPY_TRAILER: &[u8] = &[0xff, 0xff];

/// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
const PG_EPOCH_US: i64 = 946_684_800_000_000;

/// `at` as PostgreSQL's binary `timestamptz`: microseconds since
/// 2000-01-01 UTC (sub-microsecond digits are cut, as the server would).
pub(crate) fn pg_micros(at: DateTime<Utc>) -> StoreResult<i64> {
    at.timestamp_micros()
        .checked_sub(PG_EPOCH_US)
        .ok_or_else(|| StoreError::Data(format!("time {at} is out of range for PostgreSQL")))
}

fn field(out: &mut Vec<u8>, bytes: &[u8]) -> StoreResult<()> {
    let len = i32::try_from(bytes.len())
        .map_err(|_| StoreError::Data("a field is larger than 2 GiB".into()))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

fn null(out: &mut Vec<u8>) {
    out.extend_from_slice(&(-1i32).to_be_bytes());
}

/// A `timestamptz` literal for SQL built by this crate (COPY takes no
/// parameters); years outside 1..=9999 become `-infinity`/`infinity`.
pub(crate) fn ts_literal(t: DateTime<Utc>) -> String {
    use chrono::Datelike as _;
    if t.year() < 1 {
        "'-infinity'::timestamptz".to_owned()
    } else if t.year() > 9999 {
        "'infinity'::timestamptz".to_owned()
    } else {
        format!("'{}'::timestamptz", t.format("%Y-%m-%d %H:%M:%S%.6f+00"))
    }
}

/// Reads PostgreSQL's binary COPY format.
pub(crate) struct CopyReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn short() -> StoreError {
    StoreError::Data("truncated COPY data".into())
}

impl<'a> CopyReader<'a> {
    /// Checks the header and skips its extension.
    pub(crate) fn new(buf: &'a [u8]) -> StoreResult<Self> {
        let sig = buf.get(..11).ok_or_else(short)?;
        if sig != &COPY_HEADER[..11] {
            return Err(StoreError::Data("not binary COPY data".into()));
        }
        let mut r = Self { buf, pos: 15 };
        let ext = usize::try_from(r.i32()?).map_err(|_| short())?;
        r.pos = r.pos.checked_add(ext).ok_or_else(short)?;
        Ok(r)
    }

    fn take(&mut self, n: usize) -> StoreResult<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or_else(short)?;
        let s = self.buf.get(self.pos..end).ok_or_else(short)?;
        self.pos = end;
        Ok(s)
    }

    fn i32(&mut self) -> StoreResult<i32> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The next tuple's field count, or `None` at the trailer.
    pub(crate) fn tuple(&mut self) -> StoreResult<Option<usize>> {
        let b = self.take(2)?;
        let n = i16::from_be_bytes([b[0], b[1]]);
        Ok(usize::try_from(n).ok())
    }

    /// The next field's bytes, `None` for NULL.
    pub(crate) fn field(&mut self) -> StoreResult<Option<&'a [u8]>> {
        let len = self.i32()?;
        match usize::try_from(len) {
            Ok(n) => self.take(n).map(Some),
            Err(_) => Ok(None),
        }
    }

    /// A non-NULL `bigint` field.
    pub(crate) fn i64(&mut self) -> StoreResult<i64> {
        self.opt_i64()?
            .ok_or_else(|| StoreError::Data("unexpected NULL in COPY data".into()))
    }

    /// A nullable `bigint` field.
    pub(crate) fn opt_i64(&mut self) -> StoreResult<Option<i64>> {
        match self.field()? {
            None => Ok(None),
            Some(b) => {
                let a: [u8; 8] = b
                    .try_into()
                    .map_err(|_| StoreError::Data("bad bigint in COPY data".into()))?;
                Ok(Some(i64::from_be_bytes(a)))
            }
        }
    }

    /// A non-NULL `text` field.
    pub(crate) fn text(&mut self) -> StoreResult<&'a str> {
        let b = self
            .field()?
            .ok_or_else(|| StoreError::Data("unexpected NULL in COPY data".into()))?;
        std::str::from_utf8(b).map_err(|e| StoreError::Data(e.to_string()))
    }

    /// A non-NULL `timestamptz` field.
    pub(crate) fn timestamp(&mut self) -> StoreResult<DateTime<Utc>> {
        let us = self.i64()?;
        us.checked_add(PG_EPOCH_US)
            .and_then(DateTime::<Utc>::from_timestamp_micros)
            .ok_or_else(|| StoreError::Data(format!("time {us} out of range")))
    }
}

/// Appends one raw result as a binary COPY tuple of
/// `(target_id, check_id, at, outcome, status, latency_ns, message, details)`.
pub(crate) fn copy_result(out: &mut Vec<u8>, r: &StoredResult) -> StoreResult<()> {
    out.extend_from_slice(&8i16.to_be_bytes());
    field(out, r.key.target.as_str().as_bytes())?;
    field(out, r.key.check.as_str().as_bytes())?;
    field(out, &pg_micros(r.observation.at)?.to_be_bytes())?;
    field(out, r.observation.outcome.as_str().as_bytes())?;
    field(out, r.status.as_str().as_bytes())?;
    match r.observation.latency {
        Some(d) => field(out, &latency_ns(d).to_be_bytes())?,
        None => null(out),
    }
    match &r.observation.message {
        Some(m) => field(out, m.as_bytes())?,
        None => null(out),
    }
    match &r.observation.details {
        Some(d) => {
            // jsonb's binary form: a version byte (1), then the JSON text
            let mut j = Vec::with_capacity(64);
            j.push(1u8);
            serde_json::to_writer(&mut j, d)?;
            field(out, &j)?;
        }
        None => null(out),
    }
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
    fn binary_copy_tuple_layout() {
        let at = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 1).unwrap()
            + chrono::Duration::nanoseconds(2_500);
        let r = StoredResult {
            key: CheckKey::new(TargetId::new("a").unwrap(), CheckId::new("tcp").unwrap()),
            observation: Observation::new(at, Outcome::Fail)
                .with_message("m\n")
                .with_details(serde_json::json!({"k": 1})),
            status: Status::Down,
        };
        let mut out = Vec::new();
        copy_result(&mut out, &r).unwrap();
        let mut want: Vec<u8> = vec![0, 8];
        let mut f = |b: &[u8]| {
            want.extend_from_slice(&(b.len() as i32).to_be_bytes());
            want.extend_from_slice(b);
        };
        f(b"a");
        f(b"tcp");
        f(&1_000_002i64.to_be_bytes());
        f(b"fail");
        f(b"down");
        want.extend_from_slice(&(-1i32).to_be_bytes());
        let mut f = |b: &[u8]| {
            want.extend_from_slice(&(b.len() as i32).to_be_bytes());
            want.extend_from_slice(b);
        };
        f(b"m\n");
        f(b"\x01{\"k\":1}");
        assert_eq!(out, want);
        assert_eq!(COPY_HEADER.len(), 19);
    }

    #[test]
    fn copy_reader_reads_what_the_writer_wrote() {
        let mut buf = COPY_HEADER.to_vec();
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let r = StoredResult {
            key: CheckKey::new(TargetId::new("a").unwrap(), CheckId::new("c").unwrap()),
            observation: Observation::new(at, Outcome::Pass),
            status: Status::Healthy,
        };
        copy_result(&mut buf, &r).unwrap();
        buf.extend_from_slice(COPY_TRAILER);
        let mut rd = CopyReader::new(&buf).unwrap();
        assert_eq!(rd.tuple().unwrap(), Some(8));
        assert_eq!(rd.text().unwrap(), "a");
        assert_eq!(rd.text().unwrap(), "c");
        assert_eq!(rd.timestamp().unwrap(), at);
        assert_eq!(rd.text().unwrap(), "pass");
        assert_eq!(rd.text().unwrap(), "healthy");
        assert_eq!(rd.opt_i64().unwrap(), None);
        assert_eq!(rd.field().unwrap(), None);
        assert_eq!(rd.field().unwrap(), None);
        assert_eq!(rd.tuple().unwrap(), None);
        // truncated or foreign data is an error, never a panic
        for cut in 0..buf.len() {
            let mut rd = match CopyReader::new(&buf[..cut]) {
                Ok(rd) => rd,
                Err(_) => continue,
            };
            let _ = rd.tuple().and_then(|_| rd.text()).and_then(|_| rd.i64());
        }
        assert!(CopyReader::new(b"nonsense-data-here-and-more").is_err());
    }

    #[test]
    fn timestamp_literals() {
        let t = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        assert_eq!(
            ts_literal(t),
            "'2026-03-01 12:00:00.000000+00'::timestamptz"
        );
        assert_eq!(
            ts_literal(DateTime::<Utc>::MIN_UTC),
            "'-infinity'::timestamptz"
        );
        assert_eq!(
            ts_literal(DateTime::<Utc>::MAX_UTC),
            "'infinity'::timestamptz"
        );
    }

    #[test]
    fn pg_micros_refuses_out_of_range() {
        assert_eq!(
            pg_micros(Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap()).unwrap(),
            0
        );
        assert_eq!(
            pg_micros(DateTime::<Utc>::UNIX_EPOCH).unwrap(),
            -PG_EPOCH_US
        );
    }

    #[test]
    fn clamp_moves_only_ancient_bounds() {
        let t = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        assert_eq!(clamp(t), t);
        assert_eq!(clamp(DateTime::<Utc>::MIN_UTC), pg_min());
        assert!(pg_min() < t);
    }
}
