//! Rollups: per-target minute / hour / day buckets of status time, check
//! counts and latency, which every uptime query reads (DESIGN §6).
//!
//! This module owns [`Granularity`] (UTC-aligned bucket boundaries),
//! [`Bucket`] (integer counters: milliseconds of each status, check counts,
//! latency sum/min/max in microseconds), [`split_interval`] (a status
//! interval cut at bucket boundaries), [`split_span`] (a long interval cut
//! into the fewest aligned minute, hour and day buckets), [`rollup`] (fine buckets into coarser
//! ones), [`uptime_from_buckets`] and [`timeline_from_buckets`].
//!
//! Counters are integers so that merging is exact, associative and
//! commutative, and so that for bucket-aligned ranges
//! [`uptime_from_buckets`] gives exactly the numbers of
//! [`crate::uptime::uptime_from_raw`]. It must not do I/O, read a clock or
//! allocate per observation ([`Bucket::add_observation`],
//! [`Bucket::add_interval`] and [`split_interval`] never allocate); the
//! store decides where buckets live.

use std::time::Duration;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{Outcome, Status};
use crate::uptime::{TimelineSegment, UptimeConfig, UptimeReport, merge_segments, ms};

/// The width of a bucket. Buckets are aligned on UTC (minutes on the
/// minute, hours on the hour, days at 00:00 UTC).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Granularity {
    /// One minute.
    #[default]
    Minute,
    /// One hour.
    Hour,
    /// One day (UTC).
    Day,
}

impl Granularity {
    /// Every granularity, finest first.
    pub const ALL: [Granularity; 3] = [Granularity::Minute, Granularity::Hour, Granularity::Day];

    /// The snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Granularity::Minute => "minute",
            Granularity::Hour => "hour",
            Granularity::Day => "day",
        }
    }

    /// Parses a snake_case name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == s)
    }

    /// The width in milliseconds.
    pub const fn width_ms(self) -> i64 {
        match self {
            Granularity::Minute => 60_000,
            Granularity::Hour => 3_600_000,
            Granularity::Day => 86_400_000,
        }
    }

    /// The width.
    pub fn width(self) -> ChronoDuration {
        ChronoDuration::milliseconds(self.width_ms())
    }

    /// The start of the bucket holding `t` (floored, UTC-aligned).
    ///
    /// ```
    /// use healthcore::rollup::Granularity;
    /// use chrono::{TimeZone, Utc};
    /// let t = Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).unwrap();
    /// assert_eq!(Granularity::Hour.bucket_start(t), Utc.with_ymd_and_hms(2026, 3, 4, 5, 0, 0).unwrap());
    /// assert_eq!(Granularity::Day.bucket_start(t), Utc.with_ymd_and_hms(2026, 3, 4, 0, 0, 0).unwrap());
    /// ```
    pub fn bucket_start(self, t: DateTime<Utc>) -> DateTime<Utc> {
        from_ms(self.start_ms(ms(t)))
    }

    fn start_ms(self, t_ms: i64) -> i64 {
        let w = self.width_ms();
        t_ms.div_euclid(w).saturating_mul(w)
    }

    /// A range of length `len` ending at the end of the bucket holding
    /// `now` (so the current, partial bucket is included): bucket-aligned
    /// when `len` is a multiple of the width, as [`uptime_from_buckets`]
    /// wants.
    pub fn aligned_range(
        self,
        now: DateTime<Utc>,
        len: ChronoDuration,
    ) -> (DateTime<Utc>, DateTime<Utc>) {
        let to = from_ms(self.start_ms(ms(now)).saturating_add(self.width_ms()));
        let from = to
            .checked_sub_signed(len)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        (from, to)
    }
}

/// An instant from epoch milliseconds; out-of-range values saturate to
/// chrono's limits.
fn from_ms(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t).unwrap_or(if t < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

/// A latency in whole microseconds, saturating.
fn latency_us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn min_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

fn max_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// One target's counters for one bucket. Every counter is an integer and
/// adds saturating.
///
/// Time is split by status outside maintenance (`healthy_ms`, `degraded_ms`,
/// `down_ms`, `unknown_ms`); time in maintenance goes to `maintenance_ms`
/// whatever the status, and so does every other excluded stretch (a
/// child's degraded or down time while a parent is down, see
/// [`StatusWindow::excluded`](crate::uptime::StatusWindow::excluded)): the
/// counter holds the time left out of uptime besides `unknown`.
///
/// ```
/// use healthcore::rollup::{Bucket, Granularity};
/// use healthcore::model::{Outcome, Status};
/// use chrono::{Duration, TimeZone, Utc};
/// let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 30).unwrap();
/// let mut b = Bucket::new(Granularity::Minute, t);
/// b.add_observation(Outcome::Pass, Some(std::time::Duration::from_millis(12)));
/// b.add_interval(Status::Healthy, false, t, t + Duration::seconds(30));
/// assert_eq!(b.start, Granularity::Minute.bucket_start(t));
/// assert_eq!((b.checks_healthy, b.healthy_ms, b.latency_sum_us), (1, 30_000, 12_000));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// Start of the bucket (aligned to `granularity`).
    pub start: DateTime<Utc>,
    /// Width of the bucket.
    pub granularity: Granularity,
    /// Milliseconds healthy (outside maintenance).
    #[serde(default)]
    pub healthy_ms: u64,
    /// Milliseconds degraded (outside maintenance).
    #[serde(default)]
    pub degraded_ms: u64,
    /// Milliseconds down (outside maintenance).
    #[serde(default)]
    pub down_ms: u64,
    /// Milliseconds unknown (outside maintenance).
    #[serde(default)]
    pub unknown_ms: u64,
    /// Milliseconds in maintenance, any status.
    #[serde(default)]
    pub maintenance_ms: u64,
    /// Observations (every outcome).
    #[serde(default)]
    pub checks_total: u64,
    /// Observations that passed or warned (002's healthy checks).
    #[serde(default)]
    pub checks_healthy: u64,
    /// Observations that failed or were unreachable.
    #[serde(default)]
    pub checks_failed: u64,
    /// Observations that carried a latency.
    #[serde(default)]
    pub latency_count: u64,
    /// Sum of latencies, microseconds.
    #[serde(default)]
    pub latency_sum_us: u64,
    /// Smallest latency, microseconds.
    #[serde(default)]
    pub latency_min_us: Option<u64>,
    /// Largest latency, microseconds.
    #[serde(default)]
    pub latency_max_us: Option<u64>,
}

impl Bucket {
    /// An empty bucket of `granularity` holding `t` (its start is aligned).
    pub fn new(granularity: Granularity, t: DateTime<Utc>) -> Self {
        Self::empty_at(granularity, granularity.bucket_start(t))
    }

    /// An empty bucket used as a running sum (start at the epoch, minute
    /// granularity; only the counters matter).
    pub fn sum() -> Self {
        Self::empty_at(Granularity::Minute, DateTime::<Utc>::UNIX_EPOCH)
    }

    const fn empty_at(granularity: Granularity, start: DateTime<Utc>) -> Self {
        Self {
            start,
            granularity,
            healthy_ms: 0,
            degraded_ms: 0,
            down_ms: 0,
            unknown_ms: 0,
            maintenance_ms: 0,
            checks_total: 0,
            checks_healthy: 0,
            checks_failed: 0,
            latency_count: 0,
            latency_sum_us: 0,
            latency_min_us: None,
            latency_max_us: None,
        }
    }

    /// The end of the bucket (exclusive).
    pub fn end(&self) -> DateTime<Utc> {
        from_ms(ms(self.start).saturating_add(self.granularity.width_ms()))
    }

    /// True when nothing was counted.
    pub fn is_empty(&self) -> bool {
        *self == Self::empty_at(self.granularity, self.start)
    }

    /// Total time counted, milliseconds (every status and maintenance).
    pub fn covered_ms(&self) -> u64 {
        self.healthy_ms
            .saturating_add(self.degraded_ms)
            .saturating_add(self.down_ms)
            .saturating_add(self.unknown_ms)
            .saturating_add(self.maintenance_ms)
    }

    /// Adds `other`'s counters. The start becomes the earlier and the
    /// granularity the coarser of the two, so merge is associative and
    /// commutative; it is meant for buckets of the same slot, or for
    /// rolling fine buckets into a coarse one.
    pub fn merge(&mut self, other: &Bucket) {
        self.merge_counts(other);
        self.start = self.start.min(other.start);
        self.granularity = self.granularity.max(other.granularity);
    }

    /// Adds `other`'s counters only; start and granularity stay.
    pub fn merge_counts(&mut self, other: &Bucket) {
        self.healthy_ms = self.healthy_ms.saturating_add(other.healthy_ms);
        self.degraded_ms = self.degraded_ms.saturating_add(other.degraded_ms);
        self.down_ms = self.down_ms.saturating_add(other.down_ms);
        self.unknown_ms = self.unknown_ms.saturating_add(other.unknown_ms);
        self.maintenance_ms = self.maintenance_ms.saturating_add(other.maintenance_ms);
        self.checks_total = self.checks_total.saturating_add(other.checks_total);
        self.checks_healthy = self.checks_healthy.saturating_add(other.checks_healthy);
        self.checks_failed = self.checks_failed.saturating_add(other.checks_failed);
        self.latency_count = self.latency_count.saturating_add(other.latency_count);
        self.latency_sum_us = self.latency_sum_us.saturating_add(other.latency_sum_us);
        self.latency_min_us = min_opt(self.latency_min_us, other.latency_min_us);
        self.latency_max_us = max_opt(self.latency_max_us, other.latency_max_us);
    }

    /// Counts one observation: `pass`/`warn` are healthy checks,
    /// `fail`/`unreachable` failed ones, `unknown` only counts in the total.
    /// A latency is added to the latency stats whatever the outcome.
    pub fn add_observation(&mut self, outcome: Outcome, latency: Option<Duration>) {
        self.checks_total = self.checks_total.saturating_add(1);
        if outcome.is_success() {
            self.checks_healthy = self.checks_healthy.saturating_add(1);
        } else if outcome.is_failure() {
            self.checks_failed = self.checks_failed.saturating_add(1);
        }
        if let Some(d) = latency {
            let us = latency_us(d);
            self.latency_count = self.latency_count.saturating_add(1);
            self.latency_sum_us = self.latency_sum_us.saturating_add(us);
            self.latency_min_us = min_opt(self.latency_min_us, Some(us));
            self.latency_max_us = max_opt(self.latency_max_us, Some(us));
        }
    }

    /// Counts one observation that is not judged (made in maintenance, of
    /// a disabled check, a failure while a parent is down): in
    /// `checks_total` and the latency stats, not in `checks_healthy` or
    /// `checks_failed`, so it moves no count-based uptime, as an
    /// `unknown` outcome. Does not allocate.
    pub fn add_unjudged_observation(&mut self, latency: Option<Duration>) {
        self.add_observation(Outcome::Unknown, latency);
    }

    /// Adds `ms` milliseconds of `status` (or of maintenance).
    pub fn add_time_ms(&mut self, status: Status, in_maintenance: bool, ms: u64) {
        let slot = if in_maintenance {
            &mut self.maintenance_ms
        } else {
            match status {
                Status::Healthy => &mut self.healthy_ms,
                Status::Degraded => &mut self.degraded_ms,
                Status::Down => &mut self.down_ms,
                Status::Unknown => &mut self.unknown_ms,
            }
        };
        *slot = slot.saturating_add(ms);
    }

    /// Adds the time from `from` to `to` (floored to milliseconds; nothing
    /// when `to <= from`). The interval is not clipped to the bucket: use
    /// [`split_interval`] for intervals that may cross bucket boundaries.
    pub fn add_interval(
        &mut self,
        status: Status,
        in_maintenance: bool,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) {
        let d = ms(to).saturating_sub(ms(from));
        self.add_time_ms(status, in_maintenance, u64::try_from(d).unwrap_or(0));
    }

    /// The status drawn for this bucket, and whether it is drawn as
    /// maintenance: the status with the most time outside maintenance (the
    /// worse on a tie; `unknown` when there is none), and maintenance when
    /// maintenance time is at least as large as every status's.
    pub fn dominant(&self) -> (Status, bool) {
        let mut best = (Status::Unknown, self.unknown_ms);
        for (s, t) in [
            (Status::Healthy, self.healthy_ms),
            (Status::Degraded, self.degraded_ms),
            (Status::Down, self.down_ms),
        ] {
            if t > 0 && t >= best.1 {
                best = (s, t);
            }
        }
        let maintenance = self.maintenance_ms > 0 && self.maintenance_ms >= best.1;
        (best.0, maintenance)
    }
}

/// Cuts the interval `[from, to)` of `status` at `granularity`'s bucket
/// boundaries: one bucket per slot it touches, each holding its piece.
/// Nothing when `to <= from`. Lazy; does not allocate.
///
/// ```
/// use healthcore::rollup::{split_interval, Granularity};
/// use healthcore::model::Status;
/// use chrono::{TimeZone, Utc};
/// let from = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 30).unwrap();
/// let to = Utc.with_ymd_and_hms(2026, 1, 1, 0, 2, 15).unwrap();
/// let pieces: Vec<u64> = split_interval(Granularity::Minute, Status::Down, false, from, to)
///     .map(|b| b.down_ms).collect();
/// assert_eq!(pieces, [30_000, 60_000, 15_000]);
/// ```
pub fn split_interval(
    granularity: Granularity,
    status: Status,
    in_maintenance: bool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> SplitInterval {
    SplitInterval {
        granularity,
        status,
        in_maintenance,
        cursor_ms: ms(from),
        end_ms: ms(to),
    }
}

/// The iterator returned by [`split_interval`].
#[derive(Debug, Clone)]
pub struct SplitInterval {
    granularity: Granularity,
    status: Status,
    in_maintenance: bool,
    cursor_ms: i64,
    end_ms: i64,
}

impl Iterator for SplitInterval {
    type Item = Bucket;

    fn next(&mut self) -> Option<Bucket> {
        if self.cursor_ms >= self.end_ms {
            return None;
        }
        let start = self.granularity.start_ms(self.cursor_ms);
        let bucket_end = start.saturating_add(self.granularity.width_ms());
        let piece_end = bucket_end.min(self.end_ms);
        if piece_end <= self.cursor_ms {
            // Only at the very top of i64: stop rather than loop.
            self.cursor_ms = self.end_ms;
            return None;
        }
        let mut b = Bucket::empty_at(self.granularity, from_ms(start));
        b.add_time_ms(
            self.status,
            self.in_maintenance,
            u64::try_from(piece_end - self.cursor_ms).unwrap_or(0),
        );
        self.cursor_ms = piece_end;
        Some(b)
    }
}

/// Cuts the interval `[from, to)` of `status` into the fewest UTC-aligned
/// buckets: at each step the coarsest bucket (a day, an hour, a minute)
/// that starts there and ends by `to`, else the part of a minute up to the
/// next minute boundary or `to`. A span of `d` whole days gives at most
/// `d + 2·(23 + 59 + 1)` pieces however long it is (whole-span arithmetic,
/// not one piece per minute), each a [`Bucket`] of its own granularity.
/// Nothing when `to <= from`. Lazy; does not allocate.
///
/// ```
/// use healthcore::rollup::{split_span, Granularity};
/// use healthcore::model::Status;
/// use chrono::{TimeZone, Utc};
/// let from = Utc.with_ymd_and_hms(2026, 1, 1, 22, 58, 30).unwrap();
/// let to = Utc.with_ymd_and_hms(2026, 1, 4, 1, 1, 0).unwrap();
/// let pieces: Vec<(Granularity, u64)> = split_span(Status::Down, false, from, to)
///     .map(|b| (b.granularity, b.down_ms / 1000))
///     .collect();
/// assert_eq!(pieces, [
///     (Granularity::Minute, 30), (Granularity::Minute, 60), // to 23:00
///     (Granularity::Hour, 3600),                             // to midnight
///     (Granularity::Day, 86_400), (Granularity::Day, 86_400), // 2 and 3 Jan
///     (Granularity::Hour, 3600),                             // to 01:00 on the 4th
///     (Granularity::Minute, 60),
/// ]);
/// ```
pub fn split_span(
    status: Status,
    in_maintenance: bool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> SplitSpan {
    SplitSpan {
        status,
        in_maintenance,
        cursor_ms: ms(from),
        end_ms: ms(to),
    }
}

/// The iterator returned by [`split_span`].
#[derive(Debug, Clone)]
pub struct SplitSpan {
    status: Status,
    in_maintenance: bool,
    cursor_ms: i64,
    end_ms: i64,
}

impl Iterator for SplitSpan {
    type Item = Bucket;

    fn next(&mut self) -> Option<Bucket> {
        if self.cursor_ms >= self.end_ms {
            return None;
        }
        let cursor = self.cursor_ms;
        let whole = [Granularity::Day, Granularity::Hour, Granularity::Minute]
            .into_iter()
            .find(|g| {
                g.start_ms(cursor) == cursor
                    && cursor
                        .checked_add(g.width_ms())
                        .is_some_and(|e| e <= self.end_ms)
            });
        let (granularity, start, piece_end) = match whole {
            Some(g) => (g, cursor, cursor + g.width_ms()),
            None => {
                let g = Granularity::Minute;
                let start = g.start_ms(cursor);
                let piece_end = start.saturating_add(g.width_ms()).min(self.end_ms);
                if piece_end <= cursor {
                    // only at the very top of i64: stop rather than loop
                    self.cursor_ms = self.end_ms;
                    return None;
                }
                (g, start, piece_end)
            }
        };
        let mut b = Bucket::empty_at(granularity, from_ms(start));
        b.add_time_ms(
            self.status,
            self.in_maintenance,
            u64::try_from(piece_end - cursor).unwrap_or(0),
        );
        self.cursor_ms = piece_end;
        Some(b)
    }
}

/// Rolls buckets up into `granularity`: one bucket per coarse slot, sorted
/// by start, each the sum of the inputs whose start falls in it. Also
/// merges duplicates of the same slot when `granularity` equals theirs.
/// Inputs coarser than `granularity` cannot be split and are counted whole
/// in the slot of their start.
pub fn rollup(granularity: Granularity, buckets: &[Bucket]) -> Vec<Bucket> {
    let mut keyed: Vec<(i64, &Bucket)> = buckets
        .iter()
        .map(|b| (granularity.start_ms(ms(b.start)), b))
        .collect();
    keyed.sort_by_key(|(k, _)| *k);
    let mut out: Vec<Bucket> = Vec::new();
    for (k, b) in keyed {
        match out.last_mut() {
            Some(last) if ms(last.start) == k => last.merge_counts(b),
            _ => {
                let mut nb = Bucket::empty_at(granularity, from_ms(k));
                nb.merge_counts(b);
                out.push(nb);
            }
        }
    }
    out
}

/// The sum of every bucket whose start lies in `[from, to)`.
pub fn sum_range(buckets: &[Bucket], from: DateTime<Utc>, to: DateTime<Utc>) -> Bucket {
    let (from_ms, to_ms) = (ms(from), ms(to));
    let mut totals = Bucket::sum();
    for b in buckets {
        let s = ms(b.start);
        if s >= from_ms && s < to_ms {
            totals.merge_counts(b);
        }
    }
    totals
}

/// Uptime over `[from, to)` from buckets: a bucket counts when its start
/// lies in the range. For ranges on bucket boundaries this is exactly
/// [`crate::uptime::uptime_from_raw`] over the windows and observations the
/// buckets were built from; otherwise the range is in effect rounded to
/// bucket starts. Buckets may be in any order and of mixed granularity.
///
/// ```
/// use healthcore::rollup::{split_interval, uptime_from_buckets, Granularity};
/// use healthcore::model::Status;
/// use healthcore::uptime::UptimeConfig;
/// use chrono::{Duration, TimeZone, Utc};
/// let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
/// let mut b: Vec<_> = split_interval(Granularity::Hour, Status::Healthy, false, t0, t0 + Duration::hours(3)).collect();
/// b.extend(split_interval(Granularity::Hour, Status::Down, false, t0 + Duration::hours(3), t0 + Duration::hours(4)));
/// let r = uptime_from_buckets(&b, t0, t0 + Duration::hours(4), &UptimeConfig::default());
/// assert_eq!(r.percent, Some(75.0));
/// ```
pub fn uptime_from_buckets(
    buckets: &[Bucket],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    cfg: &UptimeConfig,
) -> UptimeReport {
    UptimeReport::from_totals(&sum_range(buckets, from, to), from, to, cfg)
}

/// A timeline from buckets: one segment per bucket whose start lies in
/// `[from, to)`, clipped to the range, drawn with the bucket's
/// [`Bucket::dominant`] status; buckets of the same slot are summed first,
/// buckets with no time are left out (gaps), and adjacent segments with
/// the same status and maintenance flag are merged.
pub fn timeline_from_buckets(
    buckets: &[Bucket],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<TimelineSegment> {
    let (from_ms, to_ms) = (ms(from), ms(to));
    let mut inside: Vec<Bucket> = buckets
        .iter()
        .filter(|b| {
            let s = ms(b.start);
            s >= from_ms && s < to_ms
        })
        .copied()
        .collect();
    inside.sort_by_key(|b| (b.start, b.granularity));
    let mut slots: Vec<Bucket> = Vec::with_capacity(inside.len());
    for b in inside {
        match slots.last_mut() {
            Some(last) if last.start == b.start && last.granularity == b.granularity => {
                last.merge_counts(&b);
            }
            _ => slots.push(b),
        }
    }
    let segments: Vec<TimelineSegment> = slots
        .iter()
        .filter(|b| b.covered_ms() > 0)
        .map(|b| {
            let (status, in_maintenance) = b.dominant();
            TimelineSegment {
                status,
                start: b.start.max(from),
                end: b.end().min(to),
                in_maintenance,
            }
        })
        .collect();
    merge_segments(segments)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Cause, Observation};
    use crate::uptime::{StatusWindow, uptime_from_raw, uptime_from_windows};
    use chrono::TimeZone;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }
    fn secs(s: i64) -> ChronoDuration {
        ChronoDuration::seconds(s)
    }

    #[test]
    fn granularity_alignment() {
        let t = Utc
            .with_ymd_and_hms(2026, 3, 4, 5, 6, 7)
            .unwrap()
            .checked_add_signed(ChronoDuration::milliseconds(890))
            .unwrap();
        assert_eq!(
            Granularity::Minute.bucket_start(t),
            Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 0).unwrap()
        );
        assert_eq!(Granularity::Hour.width(), ChronoDuration::hours(1));
        assert_eq!(Granularity::Day.width(), ChronoDuration::days(1));
        // before the epoch floors down, not towards zero
        let pre = DateTime::<Utc>::UNIX_EPOCH - ChronoDuration::milliseconds(1);
        assert_eq!(
            Granularity::Day.bucket_start(pre),
            DateTime::<Utc>::UNIX_EPOCH - ChronoDuration::days(1)
        );
        // extremes do not panic
        let _ = Granularity::Day.bucket_start(DateTime::<Utc>::MIN_UTC);
        let _ = Granularity::Day.bucket_start(DateTime::<Utc>::MAX_UTC);
        let _ = Granularity::Day.aligned_range(DateTime::<Utc>::MAX_UTC, ChronoDuration::days(30));
        let _ = Granularity::Day.aligned_range(DateTime::<Utc>::MIN_UTC, ChronoDuration::days(30));
        for g in Granularity::ALL {
            assert_eq!(Granularity::parse(g.as_str()), Some(g));
            assert_eq!(
                serde_json::to_string(&g).unwrap(),
                format!("\"{}\"", g.as_str())
            );
        }
        assert!(Granularity::Minute < Granularity::Day);
    }

    #[test]
    fn aligned_range_includes_current_bucket() {
        let now = t0() + secs(90 * 60 + 5);
        let (from, to) = Granularity::Hour.aligned_range(now, ChronoDuration::hours(24));
        assert_eq!(to, t0() + ChronoDuration::hours(2));
        assert_eq!(from, to - ChronoDuration::hours(24));
    }

    #[test]
    fn observations_are_counted_as_002_counts_them() {
        let mut b = Bucket::new(Granularity::Minute, t0());
        assert!(b.is_empty());
        b.add_observation(Outcome::Pass, Some(Duration::from_micros(1500)));
        b.add_observation(Outcome::Warn, None);
        b.add_observation(Outcome::Fail, Some(Duration::from_micros(500)));
        b.add_observation(Outcome::Unreachable, None);
        b.add_observation(Outcome::Unknown, Some(Duration::from_secs(u64::MAX)));
        assert!(!b.is_empty());
        assert_eq!(b.checks_total, 5);
        assert_eq!(b.checks_healthy, 2);
        assert_eq!(b.checks_failed, 2);
        assert_eq!(b.latency_count, 3);
        assert_eq!(b.latency_sum_us, u64::MAX); // saturated, not wrapped
        assert_eq!(b.latency_min_us, Some(500));
        assert_eq!(b.latency_max_us, Some(u64::MAX));
    }

    #[test]
    fn unjudged_observations_count_in_the_total_only() {
        let mut b = Bucket::new(Granularity::Minute, t0());
        b.add_observation(Outcome::Pass, None);
        b.add_unjudged_observation(Some(Duration::from_millis(2)));
        assert_eq!(
            (b.checks_total, b.checks_healthy, b.checks_failed),
            (2, 1, 0)
        );
        assert_eq!(b.latency_count, 1);
    }

    #[test]
    fn intervals_go_to_their_status_or_maintenance() {
        let mut b = Bucket::new(Granularity::Hour, t0());
        b.add_interval(Status::Healthy, false, t0(), t0() + secs(10));
        b.add_interval(Status::Degraded, false, t0(), t0() + secs(20));
        b.add_interval(Status::Down, false, t0(), t0() + secs(30));
        b.add_interval(Status::Unknown, false, t0(), t0() + secs(40));
        b.add_interval(Status::Down, true, t0(), t0() + secs(50));
        b.add_interval(Status::Down, false, t0() + secs(5), t0()); // backwards: nothing
        assert_eq!(
            (
                b.healthy_ms,
                b.degraded_ms,
                b.down_ms,
                b.unknown_ms,
                b.maintenance_ms
            ),
            (10_000, 20_000, 30_000, 40_000, 50_000)
        );
        assert_eq!(b.covered_ms(), 150_000);
        assert_eq!(b.end(), t0() + ChronoDuration::hours(1));
    }

    #[test]
    fn split_across_boundaries() {
        let from = t0() + secs(59) + ChronoDuration::milliseconds(500);
        let to = t0() + secs(181);
        let v: Vec<Bucket> =
            split_interval(Granularity::Minute, Status::Down, true, from, to).collect();
        assert_eq!(v.len(), 4);
        assert_eq!(v[0].start, t0());
        assert_eq!(v[0].maintenance_ms, 500);
        assert_eq!(v[1].maintenance_ms, 60_000);
        assert_eq!(v[3].start, t0() + secs(180));
        assert_eq!(v[3].maintenance_ms, 1_000);
        assert_eq!(
            split_interval(Granularity::Minute, Status::Down, false, to, from).count(),
            0
        );
        assert_eq!(
            split_interval(Granularity::Minute, Status::Down, false, to, to).count(),
            0
        );
        let day: Vec<Bucket> =
            split_interval(Granularity::Day, Status::Healthy, false, from, to).collect();
        assert_eq!(day.len(), 1);
        assert_eq!(day[0].healthy_ms, 121_500);
        let near_max = DateTime::<Utc>::MAX_UTC - ChronoDuration::minutes(2);
        assert_eq!(
            split_interval(
                Granularity::Minute,
                Status::Down,
                false,
                near_max,
                DateTime::<Utc>::MAX_UTC
            )
            .count(),
            3
        );
    }

    #[test]
    fn rollup_to_coarser() {
        let mut minutes: Vec<Bucket> = split_interval(
            Granularity::Minute,
            Status::Healthy,
            false,
            t0() + secs(3000),
            t0() + secs(4200),
        )
        .collect();
        minutes.reverse(); // order does not matter
        let hours = rollup(Granularity::Hour, &minutes);
        assert_eq!(hours.len(), 2);
        assert_eq!(hours[0].start, t0());
        assert_eq!(hours[0].granularity, Granularity::Hour);
        assert_eq!(hours[0].healthy_ms, 600_000);
        assert_eq!(hours[1].start, t0() + ChronoDuration::hours(1));
        assert_eq!(hours[1].healthy_ms, 600_000);
        let days = rollup(Granularity::Day, &hours);
        assert_eq!(days.len(), 1);
        assert_eq!(days[0].healthy_ms, 1_200_000);
        assert!(rollup(Granularity::Day, &[]).is_empty());
    }

    #[test]
    fn merge_takes_earlier_start_and_coarser_granularity() {
        let mut a = Bucket::new(Granularity::Minute, t0() + secs(120));
        let b = Bucket::new(Granularity::Hour, t0());
        a.merge(&b);
        assert_eq!(a.start, t0());
        assert_eq!(a.granularity, Granularity::Hour);
    }

    #[test]
    fn dominant_status() {
        let mut b = Bucket::new(Granularity::Minute, t0());
        assert_eq!(b.dominant(), (Status::Unknown, false));
        b.add_time_ms(Status::Healthy, false, 30_000);
        b.add_time_ms(Status::Down, false, 30_000);
        assert_eq!(b.dominant(), (Status::Down, false)); // tie → worse
        b.add_time_ms(Status::Healthy, false, 1);
        assert_eq!(b.dominant(), (Status::Healthy, false));
        b.add_time_ms(Status::Healthy, true, 30_001);
        assert_eq!(b.dominant(), (Status::Healthy, true));
        let mut m = Bucket::new(Granularity::Minute, t0());
        m.add_time_ms(Status::Down, true, 10);
        assert_eq!(m.dominant(), (Status::Unknown, true));
    }

    #[test]
    fn timeline_from_buckets_draws_dominant() {
        let mut buckets: Vec<Bucket> = split_interval(
            Granularity::Minute,
            Status::Healthy,
            false,
            t0(),
            t0() + secs(150),
        )
        .collect();
        buckets.extend(split_interval(
            Granularity::Minute,
            Status::Down,
            false,
            t0() + secs(150),
            t0() + secs(240),
        ));
        // minute 5 has only checks: a gap
        let mut only_checks = Bucket::new(Granularity::Minute, t0() + secs(300));
        only_checks.add_observation(Outcome::Pass, None);
        buckets.push(only_checks);
        let tl = timeline_from_buckets(&buckets, t0(), t0() + secs(600));
        let got: Vec<_> = tl
            .iter()
            .map(|s| {
                (
                    s.status,
                    (s.start - t0()).num_seconds(),
                    (s.end - t0()).num_seconds(),
                )
            })
            .collect();
        // minute 2 is healthy 30 s / down 30 s → down (tie → worse)
        assert_eq!(
            got,
            vec![(Status::Healthy, 0, 120), (Status::Down, 120, 240)]
        );
        // a range ending mid-bucket clips the last segment
        let tl = timeline_from_buckets(&buckets, t0(), t0() + secs(90));
        assert_eq!(tl.len(), 1);
        assert_eq!(tl[0].end, t0() + secs(90));
    }

    #[test]
    fn bucket_serde() {
        let mut b = Bucket::new(Granularity::Hour, t0());
        b.add_observation(Outcome::Pass, Some(Duration::from_millis(3)));
        let v = serde_json::to_value(b).unwrap();
        assert_eq!(v["granularity"], "hour");
        assert_eq!(v["latency_min_us"], 3000);
        let back: Bucket = serde_json::from_value(v).unwrap();
        assert_eq!(back, b);
        let min: Bucket =
            serde_json::from_str(r#"{"start":"2026-01-01T00:00:00Z","granularity":"minute"}"#)
                .unwrap();
        assert!(min.is_empty());
    }

    fn arb_status() -> impl Strategy<Value = Status> {
        prop::sample::select(Status::ALL.to_vec())
    }
    fn arb_outcome() -> impl Strategy<Value = Outcome> {
        prop::sample::select(Outcome::ALL.to_vec())
    }
    fn arb_gran() -> impl Strategy<Value = Granularity> {
        prop::sample::select(Granularity::ALL.to_vec())
    }

    fn arb_bucket() -> impl Strategy<Value = Bucket> {
        (
            arb_gran(),
            -10_000_000i64..10_000_000,
            prop::collection::vec((arb_status(), any::<bool>(), 0u64..1_000_000_000), 0..4),
            prop::collection::vec((arb_outcome(), prop::option::of(0u64..u64::MAX / 2)), 0..4),
        )
            .prop_map(|(g, s, times, obs)| {
                let mut b = Bucket::new(g, t0() + ChronoDuration::seconds(s));
                for (st, m, d) in times {
                    b.add_time_ms(st, m, d);
                }
                for (o, l) in obs {
                    b.add_observation(o, l.map(Duration::from_micros));
                }
                b
            })
    }

    /// Non-overlapping windows with ms (and sub-ms) precision; the last
    /// may be ongoing.
    fn arb_windows() -> impl Strategy<Value = Vec<StatusWindow>> {
        (
            prop::collection::vec(
                (
                    arb_status(),
                    any::<bool>(),
                    0i64..20_000_000,
                    0i64..1_000_000,
                    0i64..20_000_000,
                    any::<bool>(),
                ),
                0..12,
            ),
            any::<bool>(),
        )
            .prop_map(|(spec, last_open)| {
                let mut t = t0() - ChronoDuration::hours(2);
                let n = spec.len();
                spec.into_iter()
                    .enumerate()
                    .map(|(i, (s, m, dur_ms, dur_ns, gap_ms, parent_down))| {
                        t += ChronoDuration::milliseconds(gap_ms);
                        let mut w = StatusWindow::open(s, Cause::None, t).with_maintenance(m);
                        w.attributed_to =
                            parent_down.then(|| crate::model::TargetId::new("parent").expect("id"));
                        t += ChronoDuration::milliseconds(dur_ms)
                            + ChronoDuration::nanoseconds(dur_ns);
                        if last_open && i + 1 == n {
                            w
                        } else {
                            w.closed_at(t)
                        }
                    })
                    .collect()
            })
    }

    fn arb_observations() -> impl Strategy<Value = Vec<Observation>> {
        prop::collection::vec(
            (
                -10_000_000_000i64..200_000_000_000_000,
                arb_outcome(),
                prop::option::of(0u64..10_000_000_000),
            ),
            0..40,
        )
        .prop_map(|v| {
            v.into_iter()
                .map(|(at_ns, o, lat_ns)| {
                    let mut ob = Observation::new(t0() + ChronoDuration::nanoseconds(at_ns), o);
                    ob.latency = lat_ns.map(Duration::from_nanos);
                    ob
                })
                .collect()
        })
    }

    /// What the writer does: every window (an ongoing one up to `now`) cut
    /// into buckets, every observation into its bucket, same slots summed.
    fn build_buckets(
        g: Granularity,
        windows: &[StatusWindow],
        observations: &[Observation],
        now: DateTime<Utc>,
    ) -> Vec<Bucket> {
        let mut map: BTreeMap<DateTime<Utc>, Bucket> = BTreeMap::new();
        for w in windows {
            let end = w.ended_at.unwrap_or(now);
            for piece in split_interval(g, w.status, w.excluded(), w.started_at, end) {
                map.entry(piece.start)
                    .and_modify(|b| b.merge(&piece))
                    .or_insert(piece);
            }
        }
        for o in observations {
            map.entry(g.bucket_start(o.at))
                .or_insert_with(|| Bucket::new(g, o.at))
                .add_observation(o.outcome, o.latency);
        }
        map.into_values().collect()
    }

    proptest! {
        #[test]
        /// split_span tiles the span exactly with aligned pieces, each as
        /// coarse as fits, and agrees with split_interval's minute pieces
        /// once both are rolled up by day.
        fn split_span_tiles_the_span(
            from_s in -2_000_000i64..2_000_000,
            from_ms in 0i64..1000,
            len_s in 0i64..10_000_000,
            status in arb_status(),
            m in any::<bool>(),
        ) {
            let from = t0() + ChronoDuration::seconds(from_s) + ChronoDuration::milliseconds(from_ms);
            let to = from + ChronoDuration::seconds(len_s);
            let pieces: Vec<Bucket> = split_span(status, m, from, to).collect();
            let mut cursor = ms(from);
            for p in &pieces {
                let w = p.granularity.width_ms();
                prop_assert_eq!(ms(p.start) % w, 0, "aligned");
                prop_assert!(ms(p.start) <= cursor && cursor < ms(p.start) + w);
                let covered = i64::try_from(p.covered_ms()).unwrap();
                if p.granularity != Granularity::Minute {
                    prop_assert_eq!(covered, w, "coarse pieces are whole");
                }
                cursor += covered;
            }
            prop_assert_eq!(cursor, ms(to));
            let days = len_s / 86_400 + 1;
            prop_assert!(pieces.len() as i64 <= days + 2 * (23 + 59 + 1) + 1);
            let fine: Vec<Bucket> = split_interval(Granularity::Minute, status, m, from, to).collect();
            prop_assert_eq!(rollup(Granularity::Day, &pieces), rollup(Granularity::Day, &fine));
        }

        #[test]
        fn merge_is_associative_and_commutative(a in arb_bucket(), b in arb_bucket(), c in arb_bucket()) {
            let mut ab = a;
            ab.merge(&b);
            let mut ba = b;
            ba.merge(&a);
            prop_assert_eq!(ab, ba);
            let mut ab_c = ab;
            ab_c.merge(&c);
            let mut bc = b;
            bc.merge(&c);
            let mut a_bc = a;
            a_bc.merge(&bc);
            prop_assert_eq!(ab_c, a_bc);
            // the empty bucket of the same slot is an identity
            let mut a0 = a;
            a0.merge(&Bucket::new(a.granularity, a.start));
            prop_assert_eq!(a0, a);
        }

        #[test]
        fn split_pieces_add_up_and_stay_in_their_buckets(
            g in arb_gran(),
            s in arb_status(),
            m in any::<bool>(),
            from_ns in -1_000_000_000_000i64..1_000_000_000_000,
            len_ns in 0i64..500_000_000_000_000,
        ) {
            let from = t0() + ChronoDuration::nanoseconds(from_ns);
            let to = from + ChronoDuration::nanoseconds(len_ns);
            let mut total = 0u64;
            let mut prev: Option<DateTime<Utc>> = None;
            for b in split_interval(g, s, m, from, to) {
                prop_assert_eq!(b.start, g.bucket_start(b.start));
                prop_assert!(b.covered_ms() <= g.width_ms() as u64);
                prop_assert!(b.covered_ms() > 0);
                if let Some(p) = prev {
                    prop_assert_eq!(b.start, p + g.width());
                }
                prev = Some(b.start);
                total += b.covered_ms();
            }
            prop_assert_eq!(total as i64, ms(to) - ms(from));
        }

        #[test]
        fn bucket_path_equals_raw_path(
            g in arb_gran(),
            windows in arb_windows(),
            observations in arb_observations(),
            from_slot in -5i64..40,
            n_slots in 0i64..60,
            now_ns in 0i64..300_000_000_000_000,
            w in 0.0f64..=1.0,
        ) {
            let cfg = UptimeConfig::new(w).unwrap();
            let now = t0() + ChronoDuration::nanoseconds(now_ns);
            let from = g.bucket_start(t0()) + g.width() * (from_slot as i32);
            let to = from + g.width() * (n_slots as i32);
            let buckets = build_buckets(g, &windows, &observations, now);
            let raw = uptime_from_raw(&windows, &observations, from, to, &cfg, now);
            let via = uptime_from_buckets(&buckets, from, to, &cfg);
            prop_assert_eq!(&raw, &via);
            if let Some(p) = via.percent {
                prop_assert!((0.0..=100.0).contains(&p));
            }
            if let Some(p) = via.count_percent {
                prop_assert!((0.0..=100.0).contains(&p));
            }
            // rolling up to a coarser granularity keeps the numbers for
            // ranges aligned on the coarse boundaries
            let day = rollup(Granularity::Day, &buckets);
            let (df, dt) = (Granularity::Day.bucket_start(from), Granularity::Day.bucket_start(to));
            prop_assert_eq!(
                uptime_from_buckets(&day, df, dt, &cfg),
                uptime_from_raw(&windows, &observations, df, dt, &cfg, now)
            );
            // timeline from buckets stays sorted, disjoint and inside the range
            let tl = timeline_from_buckets(&buckets, from, to);
            for seg in &tl {
                prop_assert!(seg.start >= from && seg.end <= to && seg.start < seg.end);
            }
            for pair in tl.windows(2) {
                prop_assert!(pair[0].end <= pair[1].start);
            }
        }

        #[test]
        fn uptime_stays_in_range_for_any_buckets(
            buckets in prop::collection::vec(arb_bucket(), 0..20),
            w in -1.0f64..2.0,
        ) {
            let cfg = UptimeConfig { degraded_weight: w };
            let r = uptime_from_buckets(&buckets, DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC, &cfg);
            if let Some(p) = r.percent {
                prop_assert!((0.0..=100.0).contains(&p));
            }
            let _ = timeline_from_buckets(&buckets, DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
        }
    }

    #[test]
    fn windows_and_buckets_agree_on_a_day() {
        // 004's example shape: a day with a degraded hour and a 30-min outage
        let h = ChronoDuration::hours(1);
        let windows = [
            StatusWindow::open(Status::Healthy, Cause::Passing, t0()).closed_at(t0() + h * 10),
            StatusWindow::open(Status::Degraded, Cause::Slow, t0() + h * 10)
                .closed_at(t0() + h * 11),
            StatusWindow::open(Status::Down, Cause::Timeout, t0() + h * 11)
                .closed_at(t0() + h * 11 + ChronoDuration::minutes(30)),
            StatusWindow::open(
                Status::Healthy,
                Cause::Passing,
                t0() + h * 11 + ChronoDuration::minutes(30),
            ),
        ];
        let now = t0() + h * 24;
        let cfg = UptimeConfig::default();
        let raw = uptime_from_windows(&windows, t0(), now, &cfg, now);
        let b = build_buckets(Granularity::Hour, &windows, &[], now);
        let via = uptime_from_buckets(&b, t0(), now, &cfg);
        assert_eq!(raw, via);
        // (22.5 h + 0.5 × 1 h) / 24 h
        let expected = (22.5 + 0.5) / 24.0 * 100.0;
        assert!((raw.percent.unwrap() - expected).abs() < 1e-9);
        let tl = timeline_from_buckets(&b, t0(), now);
        assert_eq!(tl.len(), 4);
        assert_eq!(tl[2].status, Status::Down); // hour 11: 30 min down, 30 min healthy → worse
    }
}
