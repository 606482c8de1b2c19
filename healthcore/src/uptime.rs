//! Uptime: status windows, the time-weighted uptime percentage and the
//! timeline drawn from them (seeds 002 and 004).
//!
//! This module owns:
//! - [`StatusWindow`], one continuous stretch of a status (004's
//!   `uptime_records`), and [`WindowTracker`], which opens and closes them as
//!   a target's health changes;
//! - [`uptime_from_windows`] / [`uptime_from_raw`], the reference computation
//!   over raw windows (and observations), and [`UptimeReport`], the answer
//!   shared with the bucket path in [`crate::rollup`];
//! - [`timeline`], merged segments for drawing, and [`UptimeWindow`], the
//!   24 h / 7 d / 30 d ranges.
//!
//! The formula: `(healthy + w·degraded) / (healthy + degraded + down) × 100`
//! where `w` is [`UptimeConfig::degraded_weight`]; `unknown` time, time in
//! maintenance and a child's degraded or down time while a parent is down
//! (attributed to the parent, DESIGN §4 "Dependencies"; see
//! [`StatusWindow::excluded`]) are left out of the denominator. All time arithmetic is done
//! on instants floored to whole milliseconds, so the raw and the bucket paths
//! agree exactly.
//!
//! It must not read a clock (`now` is an argument), do I/O or allocate on
//! the per-observation path ([`WindowTracker::on_status`]). Production
//! queries read rollups ([`crate::rollup::uptime_from_buckets`]), never every
//! raw window or result; the raw functions here are the reference the bucket
//! path is tested against and serve short ranges.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::model::{Cause, Health, Observation, Status, TargetId};
use crate::rollup::Bucket;

/// Default weight of `degraded` time in the uptime percentage (004: degraded
/// counts as partial uptime).
pub const DEFAULT_DEGRADED_WEIGHT: f64 = 0.5;

/// One continuous stretch of a status (004's `uptime_records` row).
///
/// ```
/// use healthcore::uptime::StatusWindow;
/// use healthcore::model::{Cause, Status};
/// use chrono::{Duration, TimeZone, Utc};
/// let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
/// let w = StatusWindow::open(Status::Down, Cause::Timeout, t0);
/// assert_eq!(w.duration(t0 + Duration::seconds(90)), Duration::seconds(90));
/// assert_eq!(w.duration_seconds(), None); // still ongoing
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusWindow {
    /// The status held during the window.
    pub status: Status,
    /// Why, as of the window's start.
    pub cause: Cause,
    /// When the status began.
    pub started_at: DateTime<Utc>,
    /// When it ended; `None` while ongoing.
    #[serde(default)]
    pub ended_at: Option<DateTime<Utc>>,
    /// True when the target was in a maintenance window (excluded from
    /// uptime).
    #[serde(default)]
    pub in_maintenance: bool,
    /// The parent target this (down)time is attributed to, while a parent
    /// was down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributed_to: Option<TargetId>,
}

impl StatusWindow {
    /// An ongoing window of `status` from `started_at`, not in maintenance,
    /// not attributed.
    pub fn open(status: Status, cause: Cause, started_at: DateTime<Utc>) -> Self {
        Self {
            status,
            cause,
            started_at,
            ended_at: None,
            in_maintenance: false,
            attributed_to: None,
        }
    }

    /// The same window, closed at `ended_at`.
    #[must_use]
    pub fn closed_at(mut self, ended_at: DateTime<Utc>) -> Self {
        self.ended_at = Some(ended_at);
        self
    }

    /// The same window, marked as in maintenance or not.
    #[must_use]
    pub fn with_maintenance(mut self, in_maintenance: bool) -> Self {
        self.in_maintenance = in_maintenance;
        self
    }

    /// True when the window's time is left out of uptime (counted as
    /// excluded, like unknown time): it was in maintenance, or it is a
    /// degraded or down stretch while a parent was down: the child's
    /// downtime is the parent's, counted once, on the parent. Healthy time
    /// while a parent is down still counts as healthy.
    ///
    /// ```
    /// use healthcore::uptime::StatusWindow;
    /// use healthcore::model::{Cause, Status, TargetId};
    /// use chrono::{TimeZone, Utc};
    /// let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    /// let mut w = StatusWindow::open(Status::Down, Cause::Failing, t0);
    /// assert!(!w.excluded());
    /// w.attributed_to = Some(TargetId::new("switch-1").unwrap());
    /// assert!(w.excluded());
    /// w.status = Status::Healthy;
    /// assert!(!w.excluded());
    /// assert!(w.with_maintenance(true).excluded());
    /// ```
    pub fn excluded(&self) -> bool {
        self.in_maintenance || (self.attributed_to.is_some() && self.status != Status::Healthy)
    }

    /// True while the window has no end.
    pub fn is_ongoing(&self) -> bool {
        self.ended_at.is_none()
    }

    /// The window's end, or `now` while ongoing.
    pub fn end_or(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.ended_at.unwrap_or(now)
    }

    /// How long the window lasted (until `now` while ongoing); never
    /// negative.
    pub fn duration(&self, now: DateTime<Utc>) -> ChronoDuration {
        let d = self.end_or(now) - self.started_at;
        if d < ChronoDuration::zero() {
            ChronoDuration::zero()
        } else {
            d
        }
    }

    /// Whole seconds once closed (004's `duration_seconds`), `None` while
    /// ongoing; never negative.
    pub fn duration_seconds(&self) -> Option<i64> {
        self.ended_at
            .map(|end| (end - self.started_at).num_seconds().max(0))
    }
}

/// Opens and closes [`StatusWindow`]s as a target's status, maintenance
/// flag or attribution changes. Persist it (serde) to carry the ongoing
/// window across restarts.
///
/// ```
/// use healthcore::uptime::WindowTracker;
/// use healthcore::model::{Cause, Health, Status};
/// use chrono::{Duration, TimeZone, Utc};
/// let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
/// let mut tr = WindowTracker::default();
/// let up = Health::new(Status::Healthy, Cause::Passing);
/// assert!(tr.on_status(up, false, None, t0).is_none()); // opens the first window
/// assert!(tr.on_status(up, false, None, t0 + Duration::seconds(60)).is_none()); // no change
/// let down = Health::new(Status::Down, Cause::Timeout);
/// let closed = tr.on_status(down, false, None, t0 + Duration::seconds(120)).unwrap();
/// assert_eq!(closed.status, Status::Healthy);
/// assert_eq!(closed.duration_seconds(), Some(120));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowTracker {
    /// The ongoing window, if any status was seen yet.
    #[serde(default)]
    current: Option<StatusWindow>,
}

impl WindowTracker {
    /// A tracker resuming `window` (e.g. the ongoing window loaded from the
    /// store after a restart). A closed window is reopened.
    pub fn resume(mut window: StatusWindow) -> Self {
        window.ended_at = None;
        Self {
            current: Some(window),
        }
    }

    /// The ongoing window.
    pub fn current(&self) -> Option<&StatusWindow> {
        self.current.as_ref()
    }

    /// Feeds the target's current health. Returns the window it closed when
    /// the status, the maintenance flag or the attribution changed; the new
    /// window starts where the old one ended. The first call opens a window
    /// and returns `None`.
    ///
    /// A change of cause alone does not split a window: the window keeps the
    /// cause it was opened with. If `now` is before the ongoing window's
    /// start (a clock stepping back), the window is closed at its start
    /// rather than with a negative length.
    ///
    /// Does not allocate.
    pub fn on_status(
        &mut self,
        health: Health,
        in_maintenance: bool,
        attributed_to: Option<&TargetId>,
        now: DateTime<Utc>,
    ) -> Option<StatusWindow> {
        if let Some(cur) = &self.current {
            if cur.status == health.status
                && cur.in_maintenance == in_maintenance
                && cur.attributed_to.as_ref() == attributed_to
            {
                return None;
            }
        }
        let start = match &self.current {
            Some(cur) if now < cur.started_at => cur.started_at,
            _ => now,
        };
        let next = StatusWindow {
            status: health.status,
            cause: health.cause,
            started_at: start,
            ended_at: None,
            in_maintenance,
            attributed_to: attributed_to.cloned(),
        };
        self.current.replace(next).map(|prev| prev.closed_at(start))
    }

    /// Closes the ongoing window at `now` (target removed, monitoring
    /// stopped) and leaves the tracker empty.
    pub fn close(&mut self, now: DateTime<Utc>) -> Option<StatusWindow> {
        self.current.take().map(|w| {
            let end = if now < w.started_at {
                w.started_at
            } else {
                now
            };
            w.closed_at(end)
        })
    }
}

/// How uptime is computed.
///
/// ```
/// use healthcore::uptime::UptimeConfig;
/// let cfg: UptimeConfig = serde_json::from_str("{}").unwrap();
/// assert_eq!(cfg.degraded_weight, 0.5);
/// assert!(UptimeConfig::new(1.5).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UptimeConfig {
    /// How much of degraded time counts as up, in `0..=1` (default 0.5;
    /// 1 = degraded is up, 0 = degraded is down).
    pub degraded_weight: f64,
}

impl Default for UptimeConfig {
    fn default() -> Self {
        Self {
            degraded_weight: DEFAULT_DEGRADED_WEIGHT,
        }
    }
}

impl UptimeConfig {
    /// A validated config.
    pub fn new(degraded_weight: f64) -> Result<Self, ValidationError> {
        let cfg = Self { degraded_weight };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks `degraded_weight` is a number in `0..=1`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if !(0.0..=1.0).contains(&self.degraded_weight) {
            return Err(ValidationError::new(
                "degraded_weight",
                "must be a number between 0 and 1",
            ));
        }
        Ok(())
    }

    /// The weight used in computations: clamped into `0..=1`, and the
    /// default when not a number, so an unvalidated config cannot push the
    /// percentage out of `0..=100`.
    pub fn effective_degraded_weight(&self) -> f64 {
        if self.degraded_weight.is_nan() {
            DEFAULT_DEGRADED_WEIGHT
        } else {
            self.degraded_weight.clamp(0.0, 1.0)
        }
    }
}

/// Latency over a range (002's average latency, plus min and max).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    /// Observations that carried a latency.
    pub count: u64,
    /// Mean latency in milliseconds; `None` when `count` is 0.
    pub avg_ms: Option<f64>,
    /// Smallest latency in milliseconds.
    pub min_ms: Option<f64>,
    /// Largest latency in milliseconds.
    pub max_ms: Option<f64>,
}

impl LatencyStats {
    /// From the sums kept in rollups (microseconds).
    pub fn from_sums(count: u64, sum_us: u64, min_us: Option<u64>, max_us: Option<u64>) -> Self {
        if count == 0 {
            return Self::default();
        }
        Self {
            count,
            avg_ms: Some(sum_us as f64 / count as f64 / 1000.0),
            min_ms: min_us.map(|us| us as f64 / 1000.0),
            max_ms: max_us.map(|us| us as f64 / 1000.0),
        }
    }
}

/// Uptime over a range: time-weighted percentage, the seconds behind it,
/// check counts (002's count-based uptime) and latency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UptimeReport {
    /// Start of the range (inclusive).
    pub from: DateTime<Utc>,
    /// End of the range (exclusive).
    pub to: DateTime<Utc>,
    /// `(healthy + w·degraded) / (healthy + degraded + down) × 100`;
    /// `None` when no healthy, degraded or down time was counted.
    pub percent: Option<f64>,
    /// Healthy seconds (outside maintenance).
    pub healthy_seconds: f64,
    /// Degraded seconds (outside maintenance).
    pub degraded_seconds: f64,
    /// Down seconds (outside maintenance).
    pub down_seconds: f64,
    /// Seconds left out of the percentage: unknown plus maintenance.
    pub excluded_seconds: f64,
    /// Observations in the range (every outcome).
    pub checks_total: u64,
    /// Observations that passed or warned.
    pub checks_healthy: u64,
    /// Observations that failed or found the target unreachable.
    pub checks_failed: u64,
    /// `checks_healthy / (checks_healthy + checks_failed) × 100`: checker
    /// faults (`unknown` outcomes) are counted in `checks_total` but not
    /// here. `None` when there were none.
    pub count_percent: Option<f64>,
    /// Latency of the observations that carried one.
    pub latency: LatencyStats,
}

impl UptimeReport {
    /// Builds the report from summed counters (a [`Bucket`] used as a sum;
    /// its `start` and `granularity` are ignored). Both the raw and the
    /// bucket paths end here, so equal sums give equal reports.
    pub fn from_totals(
        totals: &Bucket,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        cfg: &UptimeConfig,
    ) -> Self {
        let w = cfg.effective_degraded_weight();
        let counted = totals
            .healthy_ms
            .saturating_add(totals.degraded_ms)
            .saturating_add(totals.down_ms);
        let percent = (counted > 0).then(|| {
            let good = totals.healthy_ms as f64 + w * totals.degraded_ms as f64;
            (good / counted as f64 * 100.0).clamp(0.0, 100.0)
        });
        let judged = totals.checks_healthy.saturating_add(totals.checks_failed);
        let count_percent = (judged > 0)
            .then(|| (totals.checks_healthy as f64 / judged as f64 * 100.0).clamp(0.0, 100.0));
        Self {
            from,
            to,
            percent,
            healthy_seconds: ms_to_s(totals.healthy_ms),
            degraded_seconds: ms_to_s(totals.degraded_ms),
            down_seconds: ms_to_s(totals.down_ms),
            excluded_seconds: ms_to_s(totals.unknown_ms.saturating_add(totals.maintenance_ms)),
            checks_total: totals.checks_total,
            checks_healthy: totals.checks_healthy,
            checks_failed: totals.checks_failed,
            count_percent,
            latency: LatencyStats::from_sums(
                totals.latency_count,
                totals.latency_sum_us,
                totals.latency_min_us,
                totals.latency_max_us,
            ),
        }
    }
}

fn ms_to_s(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// An instant as whole milliseconds since the epoch (floored).
pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The millisecond span of `window` clipped to `[from_ms, to_ms)`, an
/// ongoing window ending at `now_ms`.
fn clipped_ms(window: &StatusWindow, from_ms: i64, to_ms: i64, now_ms: i64) -> Option<(i64, i64)> {
    let start = ms(window.started_at).max(from_ms);
    let end = window.ended_at.map_or(now_ms, ms).min(to_ms);
    (end > start).then_some((start, end))
}

/// Time-weighted uptime over `[from, to)` from raw windows.
///
/// Windows are clipped to the range; an ongoing window ends at
/// `min(now, to)`. Windows are expected not to overlap (overlapping time is
/// counted twice). Check counts and latency are zero; see
/// [`uptime_from_raw`] to include observations.
///
/// ```
/// use healthcore::uptime::{uptime_from_windows, StatusWindow, UptimeConfig};
/// use healthcore::model::{Cause, Status};
/// use chrono::{Duration, TimeZone, Utc};
/// let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
/// let h = Duration::hours(1);
/// let windows = [
///     StatusWindow::open(Status::Healthy, Cause::Passing, t0).closed_at(t0 + h * 2),
///     StatusWindow::open(Status::Degraded, Cause::Slow, t0 + h * 2).closed_at(t0 + h * 3),
///     StatusWindow::open(Status::Down, Cause::Timeout, t0 + h * 3),
/// ];
/// let r = uptime_from_windows(&windows, t0, t0 + h * 4, &UptimeConfig::default(), t0 + h * 4);
/// assert_eq!(r.percent, Some(62.5)); // (2 + 0.5·1) / 4
/// ```
pub fn uptime_from_windows(
    windows: &[StatusWindow],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    cfg: &UptimeConfig,
    now: DateTime<Utc>,
) -> UptimeReport {
    uptime_from_raw(windows, &[], from, to, cfg, now)
}

/// [`uptime_from_windows`] plus check counts and latency from the
/// observations whose `at` lies in `[from, to)` (002's count-based uptime
/// and average latency). The reference the rollup path is tested against.
pub fn uptime_from_raw(
    windows: &[StatusWindow],
    observations: &[Observation],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    cfg: &UptimeConfig,
    now: DateTime<Utc>,
) -> UptimeReport {
    let (from_ms, to_ms, now_ms) = (ms(from), ms(to), ms(now));
    let mut totals = Bucket::sum();
    for w in windows {
        if let Some((s, e)) = clipped_ms(w, from_ms, to_ms, now_ms) {
            totals.add_time_ms(w.status, w.excluded(), u64::try_from(e - s).unwrap_or(0));
        }
    }
    for o in observations {
        let at = ms(o.at);
        if at >= from_ms && at < to_ms {
            totals.add_observation(o.outcome, o.latency);
        }
    }
    UptimeReport::from_totals(&totals, from, to, cfg)
}

/// One stretch of the timeline: a status (and maintenance flag) from
/// `start` to `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineSegment {
    /// The status drawn.
    pub status: Status,
    /// Start (inclusive).
    pub start: DateTime<Utc>,
    /// End (exclusive).
    pub end: DateTime<Utc>,
    /// True when in a maintenance window.
    pub in_maintenance: bool,
}

/// The timeline over `[from, to)` for drawing (004's colour blocks).
///
/// Windows are clipped to the range (an ongoing one ends at
/// `min(now, to)`), sorted by start, and adjacent windows with the same
/// status and maintenance flag are merged. Gaps (no window) stay gaps. The
/// output is sorted and never overlaps: if input windows overlap, the later
/// one is cut to start where the earlier ends.
pub fn timeline(
    windows: &[StatusWindow],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<TimelineSegment> {
    let end_cap = if now < to { now } else { to };
    let mut pieces: Vec<TimelineSegment> = windows
        .iter()
        .filter_map(|w| {
            let start = w.started_at.max(from);
            let end = w.ended_at.unwrap_or(end_cap).min(to);
            (end > start).then_some(TimelineSegment {
                status: w.status,
                start,
                end,
                in_maintenance: w.in_maintenance,
            })
        })
        .collect();
    pieces.sort_by_key(|p| p.start);
    merge_segments(pieces)
}

/// Merges sorted segments: equal neighbours that touch or overlap become
/// one, and overlaps between different ones are cut off the later.
pub(crate) fn merge_segments(sorted: Vec<TimelineSegment>) -> Vec<TimelineSegment> {
    let mut out: Vec<TimelineSegment> = Vec::with_capacity(sorted.len());
    for mut seg in sorted {
        if let Some(last) = out.last_mut() {
            if seg.start < last.end {
                seg.start = last.end;
            }
            if seg.end <= seg.start {
                continue;
            }
            if seg.start == last.end
                && seg.status == last.status
                && seg.in_maintenance == last.in_maintenance
            {
                last.end = seg.end;
                continue;
            }
        }
        out.push(seg);
    }
    out
}

/// The standard uptime ranges: 24 h, 7 d and 30 d (002, 004).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum UptimeWindow {
    /// The last 24 hours.
    #[serde(rename = "24h")]
    H24,
    /// The last 7 days.
    #[serde(rename = "7d")]
    D7,
    /// The last 30 days.
    #[serde(rename = "30d")]
    D30,
}

impl UptimeWindow {
    /// Every standard window, shortest first.
    pub const ALL: [UptimeWindow; 3] = [UptimeWindow::H24, UptimeWindow::D7, UptimeWindow::D30];

    /// The name: `"24h"`, `"7d"` or `"30d"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            UptimeWindow::H24 => "24h",
            UptimeWindow::D7 => "7d",
            UptimeWindow::D30 => "30d",
        }
    }

    /// Parses `"24h"`, `"7d"` or `"30d"`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|w| w.as_str() == s)
    }

    /// Its length.
    pub fn duration(self) -> ChronoDuration {
        match self {
            UptimeWindow::H24 => ChronoDuration::hours(24),
            UptimeWindow::D7 => ChronoDuration::days(7),
            UptimeWindow::D30 => ChronoDuration::days(30),
        }
    }

    /// The range ending at `now`: `(now − duration, now)`. For the rollup
    /// path use [`crate::rollup::Granularity::aligned_range`], which ends
    /// on a bucket boundary.
    pub fn range(self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let from = now
            .checked_sub_signed(self.duration())
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        (from, now)
    }
}

impl fmt::Display for UptimeWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for UptimeWindow {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| ValidationError::new("window", "must be one of 24h, 7d, 30d"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Outcome;
    use chrono::TimeZone;
    use proptest::prelude::*;
    use std::time::Duration;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }
    fn secs(s: i64) -> ChronoDuration {
        ChronoDuration::seconds(s)
    }
    fn win(status: Status, start: i64, end: Option<i64>) -> StatusWindow {
        let w = StatusWindow::open(status, Cause::None, t0() + secs(start));
        match end {
            Some(e) => w.closed_at(t0() + secs(e)),
            None => w,
        }
    }
    fn h(status: Status) -> Health {
        Health::new(status, Cause::None)
    }

    #[test]
    fn window_durations() {
        let w = win(Status::Healthy, 10, Some(70));
        assert_eq!(w.duration(t0()), secs(60));
        assert_eq!(w.duration_seconds(), Some(60));
        let open = win(Status::Healthy, 10, None);
        assert_eq!(open.duration(t0() + secs(40)), secs(30));
        assert_eq!(open.duration(t0()), ChronoDuration::zero()); // now before start
        assert_eq!(open.duration_seconds(), None);
        let backwards = win(Status::Down, 70, Some(10));
        assert_eq!(backwards.duration_seconds(), Some(0));
        assert_eq!(backwards.duration(t0()), ChronoDuration::zero());
    }

    #[test]
    fn window_serde() {
        let mut w = win(Status::Down, 0, Some(60)).with_maintenance(true);
        w.attributed_to = Some(TargetId::new("parent").unwrap());
        let v = serde_json::to_value(&w).unwrap();
        assert_eq!(v["status"], "down");
        assert_eq!(v["attributed_to"], "parent");
        assert_eq!(v["in_maintenance"], true);
        let back: StatusWindow = serde_json::from_value(v).unwrap();
        assert_eq!(back, w);
        let min: StatusWindow = serde_json::from_str(
            r#"{"status":"healthy","cause":"passing","started_at":"2026-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        assert!(min.is_ongoing());
        assert!(!min.in_maintenance);
    }

    #[test]
    fn tracker_opens_and_closes() {
        let mut tr = WindowTracker::default();
        assert!(tr.current().is_none());
        assert!(
            tr.on_status(h(Status::Healthy), false, None, t0())
                .is_none()
        );
        assert!(
            tr.on_status(h(Status::Healthy), false, None, t0() + secs(5))
                .is_none()
        );
        // cause change alone does not split
        assert!(
            tr.on_status(
                Health::new(Status::Healthy, Cause::Slow),
                false,
                None,
                t0() + secs(6)
            )
            .is_none()
        );
        let closed = tr
            .on_status(h(Status::Down), false, None, t0() + secs(10))
            .unwrap();
        assert_eq!(closed.status, Status::Healthy);
        assert_eq!(closed.started_at, t0());
        assert_eq!(closed.ended_at, Some(t0() + secs(10)));
        assert_eq!(closed.cause, Cause::None);
        let cur = tr.current().unwrap();
        assert_eq!(cur.status, Status::Down);
        assert_eq!(cur.started_at, t0() + secs(10));
        assert!(cur.is_ongoing());
    }

    #[test]
    fn tracker_splits_on_maintenance_and_attribution() {
        let parent = TargetId::new("p").unwrap();
        let mut tr = WindowTracker::default();
        tr.on_status(h(Status::Down), false, None, t0());
        let c = tr
            .on_status(h(Status::Down), true, None, t0() + secs(1))
            .unwrap();
        assert!(!c.in_maintenance);
        let c = tr
            .on_status(h(Status::Down), true, Some(&parent), t0() + secs(2))
            .unwrap();
        assert!(c.in_maintenance && c.attributed_to.is_none());
        assert!(
            tr.on_status(h(Status::Down), true, Some(&parent), t0() + secs(3))
                .is_none()
        );
        let c = tr
            .on_status(h(Status::Down), true, None, t0() + secs(4))
            .unwrap();
        assert_eq!(c.attributed_to.as_ref(), Some(&parent));
        assert_eq!(c.duration_seconds(), Some(2));
    }

    #[test]
    fn tracker_clock_backwards_and_close() {
        let mut tr = WindowTracker::default();
        tr.on_status(h(Status::Healthy), false, None, t0() + secs(100));
        let c = tr.on_status(h(Status::Down), false, None, t0()).unwrap();
        assert_eq!(c.duration_seconds(), Some(0));
        assert_eq!(tr.current().unwrap().started_at, t0() + secs(100));
        let c = tr.close(t0() + secs(160)).unwrap();
        assert_eq!(c.duration_seconds(), Some(60));
        assert!(tr.current().is_none());
        assert!(tr.close(t0()).is_none());
    }

    #[test]
    fn tracker_resume_and_serde() {
        let mut tr = WindowTracker::resume(win(Status::Degraded, 0, Some(5)));
        assert!(tr.current().unwrap().is_ongoing());
        let json = serde_json::to_string(&tr).unwrap();
        let mut back: WindowTracker = serde_json::from_str(&json).unwrap();
        assert_eq!(back, tr);
        assert!(
            back.on_status(h(Status::Degraded), false, None, t0() + secs(9))
                .is_none()
        );
        let c = tr
            .on_status(h(Status::Healthy), false, None, t0() + secs(9))
            .unwrap();
        assert_eq!(c.duration_seconds(), Some(9));
        let empty: WindowTracker = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, WindowTracker::default());
    }

    #[test]
    fn config_defaults_and_validation() {
        assert_eq!(UptimeConfig::default().degraded_weight, 0.5);
        assert_eq!(UptimeConfig::new(0.0).unwrap().degraded_weight, 0.0);
        assert_eq!(UptimeConfig::new(1.0).unwrap().degraded_weight, 1.0);
        for bad in [-0.1, 1.01, f64::NAN, f64::INFINITY] {
            let e = UptimeConfig::new(bad).unwrap_err();
            assert_eq!(e.field(), "degraded_weight");
        }
        let e = serde_json::from_str::<UptimeConfig>(r#"{"weight":1}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field"));
        let cfg: UptimeConfig = serde_json::from_str(r#"{"degraded_weight":1}"#).unwrap();
        assert_eq!(cfg.degraded_weight, 1.0);
        assert_eq!(
            UptimeConfig {
                degraded_weight: f64::NAN
            }
            .effective_degraded_weight(),
            0.5
        );
        assert_eq!(
            UptimeConfig {
                degraded_weight: 7.0
            }
            .effective_degraded_weight(),
            1.0
        );
    }

    #[test]
    fn uptime_weights_degraded_and_excludes_unknown_and_maintenance() {
        let windows = [
            win(Status::Healthy, 0, Some(600)),
            win(Status::Degraded, 600, Some(800)),
            win(Status::Down, 800, Some(1000)),
            win(Status::Unknown, 1000, Some(1500)),
            win(Status::Down, 1500, Some(2000)).with_maintenance(true),
        ];
        let now = t0() + secs(5000);
        let r = uptime_from_windows(&windows, t0(), now, &UptimeConfig::default(), now);
        assert_eq!(r.healthy_seconds, 600.0);
        assert_eq!(r.degraded_seconds, 200.0);
        assert_eq!(r.down_seconds, 200.0);
        assert_eq!(r.excluded_seconds, 1000.0);
        assert_eq!(r.percent, Some(70.0)); // (600 + 100) / 1000
        let full = UptimeConfig::new(1.0).unwrap();
        let r = uptime_from_windows(&windows, t0(), now, &full, now);
        assert_eq!(r.percent, Some(80.0));
        let zero = UptimeConfig::new(0.0).unwrap();
        let r = uptime_from_windows(&windows, t0(), now, &zero, now);
        assert_eq!(r.percent, Some(60.0));
        assert_eq!(r.checks_total, 0);
        assert_eq!(r.count_percent, None);
        assert_eq!(r.latency, LatencyStats::default());
    }

    /// DESIGN §4: a child's downtime while its parent is down is the
    /// parent's: excluded from the child's uptime; its healthy time then
    /// still counts.
    #[test]
    fn downtime_attributed_to_a_parent_is_excluded() {
        let parent = Some(TargetId::new("switch").unwrap());
        let mut attributed_down = win(Status::Down, 600, Some(1200));
        attributed_down.attributed_to = parent.clone();
        let mut attributed_degraded = win(Status::Degraded, 1200, Some(1500));
        attributed_degraded.attributed_to = parent.clone();
        let mut attributed_healthy = win(Status::Healthy, 1500, Some(1800));
        attributed_healthy.attributed_to = parent;
        let windows = [
            win(Status::Healthy, 0, Some(600)),
            attributed_down,
            attributed_degraded,
            attributed_healthy,
            win(Status::Down, 1800, Some(2000)),
        ];
        let now = t0() + secs(2000);
        let r = uptime_from_windows(&windows, t0(), now, &UptimeConfig::default(), now);
        assert_eq!(r.healthy_seconds, 900.0);
        assert_eq!(r.down_seconds, 200.0);
        assert_eq!(r.degraded_seconds, 0.0);
        assert_eq!(r.excluded_seconds, 900.0);
    }

    #[test]
    fn uptime_clips_and_ends_ongoing_at_now() {
        let windows = [
            win(Status::Down, -100, Some(100)),
            win(Status::Healthy, 100, None),
        ];
        let cfg = UptimeConfig::default();
        // range [0, 1000), now = 400: down 100 s, healthy 300 s
        let r = uptime_from_windows(&windows, t0(), t0() + secs(1000), &cfg, t0() + secs(400));
        assert_eq!(r.down_seconds, 100.0);
        assert_eq!(r.healthy_seconds, 300.0);
        assert_eq!(r.percent, Some(75.0));
        // now past the range end: ongoing ends at `to`
        let r = uptime_from_windows(&windows, t0(), t0() + secs(200), &cfg, t0() + secs(900));
        assert_eq!(r.healthy_seconds, 100.0);
        assert_eq!(r.percent, Some(50.0));
        // empty and inverted ranges count nothing
        let r = uptime_from_windows(&windows, t0(), t0(), &cfg, t0() + secs(900));
        assert_eq!(r.percent, None);
        let r = uptime_from_windows(&windows, t0() + secs(50), t0(), &cfg, t0() + secs(900));
        assert_eq!(r.percent, None);
        assert_eq!(r.healthy_seconds + r.down_seconds, 0.0);
        let r = uptime_from_windows(&[], t0(), t0() + secs(10), &cfg, t0());
        assert_eq!(r.percent, None);
        assert_eq!(r.from, t0());
        assert_eq!(r.to, t0() + secs(10));
    }

    #[test]
    fn only_excluded_time_gives_none() {
        let windows = [
            win(Status::Unknown, 0, Some(10)),
            win(Status::Healthy, 10, Some(20)).with_maintenance(true),
        ];
        let r = uptime_from_windows(
            &windows,
            t0(),
            t0() + secs(20),
            &UptimeConfig::default(),
            t0() + secs(20),
        );
        assert_eq!(r.percent, None);
        assert_eq!(r.excluded_seconds, 20.0);
    }

    #[test]
    fn counts_and_latency_from_observations() {
        let at = |s| t0() + secs(s);
        let obs = [
            Observation::new(at(0), Outcome::Pass).with_latency(Duration::from_millis(10)),
            Observation::new(at(1), Outcome::Warn).with_latency(Duration::from_millis(30)),
            Observation::new(at(2), Outcome::Fail),
            Observation::new(at(3), Outcome::Unreachable).with_latency(Duration::from_millis(20)),
            Observation::new(at(4), Outcome::Unknown),
            Observation::new(at(10), Outcome::Fail), // at `to`: excluded
            Observation::new(at(-1), Outcome::Fail), // before `from`: excluded
        ];
        let cfg = UptimeConfig::default();
        let r = uptime_from_raw(&[], &obs, t0(), at(10), &cfg, at(10));
        assert_eq!(r.checks_total, 5);
        assert_eq!(r.checks_healthy, 2);
        assert_eq!(r.checks_failed, 2);
        assert_eq!(r.count_percent, Some(50.0));
        assert_eq!(r.latency.count, 3);
        assert_eq!(r.latency.avg_ms, Some(20.0));
        assert_eq!(r.latency.min_ms, Some(10.0));
        assert_eq!(r.latency.max_ms, Some(30.0));
        assert_eq!(r.percent, None);
        let only_unknown = [Observation::new(at(0), Outcome::Unknown)];
        let r = uptime_from_raw(&[], &only_unknown, t0(), at(10), &cfg, at(10));
        assert_eq!(r.checks_total, 1);
        assert_eq!(r.count_percent, None);
        assert_eq!(r.latency.avg_ms, None);
    }

    #[test]
    fn report_serialises() {
        let r = uptime_from_windows(
            &[win(Status::Healthy, 0, Some(60))],
            t0(),
            t0() + secs(60),
            &UptimeConfig::default(),
            t0(),
        );
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["percent"], 100.0);
        assert_eq!(v["latency"]["avg_ms"], serde_json::Value::Null);
        let back: UptimeReport = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn timeline_merges_and_clips() {
        let windows = [
            win(Status::Healthy, -50, Some(10)),
            win(Status::Healthy, 10, Some(20)),
            win(Status::Down, 20, Some(30)),
            win(Status::Down, 30, Some(40)).with_maintenance(true),
            // gap 40..50
            win(Status::Down, 50, Some(60)),
            win(Status::Healthy, 60, None),
        ];
        let tl = timeline(&windows, t0(), t0() + secs(100), t0() + secs(70));
        let got: Vec<_> = tl
            .iter()
            .map(|s| {
                (
                    s.status,
                    (s.start - t0()).num_seconds(),
                    (s.end - t0()).num_seconds(),
                    s.in_maintenance,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (Status::Healthy, 0, 20, false),
                (Status::Down, 20, 30, false),
                (Status::Down, 30, 40, true),
                (Status::Down, 50, 60, false),
                (Status::Healthy, 60, 70, false),
            ]
        );
        assert!(timeline(&windows, t0() + secs(5), t0(), t0()).is_empty());
    }

    #[test]
    fn timeline_sorts_and_cuts_overlaps() {
        let windows = [
            win(Status::Down, 10, Some(30)),
            win(Status::Healthy, 0, Some(20)),
        ];
        let tl = timeline(&windows, t0(), t0() + secs(100), t0() + secs(100));
        assert_eq!(tl.len(), 2);
        assert_eq!(tl[0].status, Status::Healthy);
        assert_eq!(tl[0].end, t0() + secs(20));
        assert_eq!(tl[1].start, t0() + secs(20));
        assert_eq!(tl[1].end, t0() + secs(30));
    }

    #[test]
    fn uptime_windows() {
        assert_eq!(UptimeWindow::parse("24h"), Some(UptimeWindow::H24));
        assert_eq!("7d".parse::<UptimeWindow>(), Ok(UptimeWindow::D7));
        assert_eq!(
            "30d".parse::<UptimeWindow>().unwrap().duration(),
            ChronoDuration::days(30)
        );
        assert_eq!("1y".parse::<UptimeWindow>().unwrap_err().field(), "window");
        assert_eq!(UptimeWindow::H24.duration(), ChronoDuration::hours(24));
        for w in UptimeWindow::ALL {
            assert_eq!(serde_json::to_string(&w).unwrap(), format!("\"{w}\""));
            let (from, to) = w.range(t0());
            assert_eq!(to, t0());
            assert_eq!(to - from, w.duration());
        }
        let (from, _) = UptimeWindow::D30.range(DateTime::<Utc>::MIN_UTC);
        assert_eq!(from, DateTime::<Utc>::MIN_UTC);
    }

    fn arb_status() -> impl Strategy<Value = Status> {
        prop::sample::select(Status::ALL.to_vec())
    }

    /// Contiguous windows from `t0`, durations in ms; the last may be ongoing.
    fn arb_windows() -> impl Strategy<Value = Vec<StatusWindow>> {
        (
            prop::collection::vec((arb_status(), any::<bool>(), 1i64..5_000_000), 0..20),
            any::<bool>(),
        )
            .prop_map(|(spec, last_open)| {
                let mut t = t0();
                let n = spec.len();
                spec.into_iter()
                    .enumerate()
                    .map(|(i, (s, m, d))| {
                        let w = StatusWindow::open(s, Cause::None, t).with_maintenance(m);
                        t += ChronoDuration::milliseconds(d);
                        if last_open && i + 1 == n {
                            w
                        } else {
                            w.closed_at(t)
                        }
                    })
                    .collect()
            })
    }

    proptest! {
        #[test]
        fn percent_in_range_and_seconds_add_up(
            windows in arb_windows(),
            from_off in -1_000_000i64..50_000_000,
            len in 0i64..100_000_000,
            now_off in 0i64..120_000_000,
            w in 0.0f64..=1.0,
        ) {
            let from = t0() + ChronoDuration::milliseconds(from_off);
            let to = from + ChronoDuration::milliseconds(len);
            let now = t0() + ChronoDuration::milliseconds(now_off);
            let cfg = UptimeConfig::new(w).unwrap();
            let r = uptime_from_windows(&windows, from, to, &cfg, now);
            if let Some(p) = r.percent {
                prop_assert!((0.0..=100.0).contains(&p));
            }
            let total = r.healthy_seconds + r.degraded_seconds + r.down_seconds + r.excluded_seconds;
            let tl = timeline(&windows, from, to, now);
            let tl_total: f64 = tl.iter().map(|s| (s.end - s.start).num_milliseconds() as f64 / 1000.0).sum();
            prop_assert!((total - tl_total).abs() < 1e-6, "{} vs {}", total, tl_total);
            prop_assert!(total <= len as f64 / 1000.0 + 1e-9);
            for pair in tl.windows(2) {
                prop_assert!(pair[0].end <= pair[1].start);
                prop_assert!(pair[0].end < pair[1].start
                    || pair[0].status != pair[1].status
                    || pair[0].in_maintenance != pair[1].in_maintenance);
            }
            for s in &tl {
                prop_assert!(s.start >= from && s.end <= to && s.start < s.end);
            }
        }

        #[test]
        fn tracker_windows_tile_time(
            steps in prop::collection::vec((arb_status(), any::<bool>(), 0i64..10_000), 1..50),
        ) {
            let mut tr = WindowTracker::default();
            let mut t = t0();
            let mut closed = Vec::new();
            for (s, m, dt) in &steps {
                t += ChronoDuration::milliseconds(*dt);
                if let Some(c) = tr.on_status(h(*s), *m, None, t) {
                    closed.push(c);
                }
            }
            if let Some(c) = tr.close(t) {
                closed.push(c);
            }
            // contiguous from the first observation to the last
            let first = closed.first().map(|w| w.started_at);
            prop_assert_eq!(closed.last().and_then(|w| w.ended_at), Some(t));
            let mut cursor = first.unwrap_or(t);
            for w in &closed {
                prop_assert_eq!(w.started_at, cursor);
                let end = w.ended_at.unwrap_or(cursor);
                prop_assert!(end >= w.started_at);
                cursor = end;
            }
            for pair in closed.windows(2) {
                prop_assert!(pair[0].status != pair[1].status
                    || pair[0].in_maintenance != pair[1].in_maintenance);
            }
        }
    }
}
