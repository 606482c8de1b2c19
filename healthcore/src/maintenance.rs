//! Maintenance windows: one-off or recurring periods during which matching
//! targets' alerts, notifications and heals are held, and their time is
//! excluded from uptime (DESIGN §4 "Beyond the sources").
//!
//! Owns [`MaintenanceWindow`] (schedule + selector), its validation, the
//! question "is this window active at `now`" (recurring windows are read in
//! their IANA time zone, DST-safe), which targets it covers, and the
//! clipped intervals it covers in a range (for uptime).
//!
//! Must not: read the clock, store windows, or decide what a window holds
//! back — checks keep running and results are stored; the engine asks
//! [`in_maintenance`] (or [`crate::dependency::suppression_for`]) and acts.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::offset::LocalResult;
use chrono::{
    DateTime, Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone,
    Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::model::{MAX_ID_LEN, Target, TargetId, TenantId};

/// Longest recurring occurrence (7 days).
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Longest range [`MaintenanceWindow::active_intervals`] walks for a
/// recurring window, in days (about ten years); the rest is ignored.
pub const MAX_INTERVAL_SPAN_DAYS: u64 = 3660;

/// When a window applies.
///
/// Serialised with a `type` tag:
/// `{"type": "one_off", "start": "2026-03-01T22:00:00Z", "end": "2026-03-02T02:00:00Z"}` or
/// `{"type": "recurring", "days": ["sat", "sun"], "start_time": "22:00",
/// "duration": "4h", "timezone": "Europe/Berlin"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Schedule {
    /// Once, from `start` (inclusive) to `end` (exclusive).
    OneOff {
        /// First instant covered.
        start: DateTime<Utc>,
        /// First instant no longer covered.
        end: DateTime<Utc>,
    },
    /// On each of `days`, from the wall-clock `start_time` in `timezone`,
    /// for `duration` of elapsed time (it may run past midnight).
    Recurring {
        /// Local weekdays on which an occurrence starts.
        days: Vec<Weekday>,
        /// Local wall-clock start. A start inside a DST gap moves forward
        /// by the gap (02:30 → 03:30); an ambiguous one takes the first.
        start_time: NaiveTime,
        /// Elapsed length of each occurrence: > 0 and ≤ 7 days.
        #[serde(with = "humantime_serde")]
        duration: Duration,
        /// IANA time zone name (`Europe/Berlin`); defaults to `UTC`.
        #[serde(default = "utc_name")]
        timezone: String,
    },
}

fn utc_name() -> String {
    "UTC".to_owned()
}

/// Which targets a window covers. Every part given must match; an empty
/// selector is refused by validation (and matches nothing).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// The target must be one of these (when non-empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetId>,
    /// The target must belong to this tenant (when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<TenantId>,
    /// The target must carry every one of these labels with these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl Selector {
    /// True when it names no target, tenant or label.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty() && self.tenant.is_none() && self.labels.is_empty()
    }

    /// True when every given part matches `target`; false when empty.
    pub fn matches(&self, target: &Target) -> bool {
        !self.is_empty()
            && (self.targets.is_empty() || self.targets.contains(&target.id))
            && self.tenant.as_ref().is_none_or(|t| *t == target.tenant)
            && self
                .labels
                .iter()
                .all(|(k, v)| target.labels.get(k) == Some(v))
    }
}

/// A named maintenance window: when ([`Schedule`]) and for whom
/// ([`Selector`]).
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use healthcore::maintenance::MaintenanceWindow;
/// use healthcore::model::{Target, TargetId};
/// let w: MaintenanceWindow = serde_json::from_value(serde_json::json!({
///     "id": "mw-1", "name": "weekend patching",
///     "schedule": {"type": "recurring", "days": ["sat"], "start_time": "22:00",
///                  "duration": "4h", "timezone": "Europe/Berlin"},
///     "selector": {"labels": {"rack": "r1"}}
/// })).unwrap();
/// w.validate().unwrap();
/// let mut t = Target::new(TargetId::new("n1").unwrap(), "n1");
/// t.labels.insert("rack".into(), "r1".into());
/// assert!(w.matches(&t));
/// // Saturday 2026-01-03 23:30 in Berlin (22:30 UTC), and past midnight.
/// assert!(w.is_active_at(Utc.with_ymd_and_hms(2026, 1, 3, 22, 30, 0).unwrap()));
/// assert!(w.is_active_at(Utc.with_ymd_and_hms(2026, 1, 4, 0, 30, 0).unwrap()));
/// assert!(!w.is_active_at(Utc.with_ymd_and_hms(2026, 1, 4, 1, 0, 0).unwrap()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceWindow {
    /// Unique id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// When it applies.
    pub schedule: Schedule,
    /// Which targets it covers.
    pub selector: Selector,
    /// Who created it (for the audit trail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// Reads a local wall-clock time in `tz`: ambiguous → the earlier instant;
/// in a gap → read with the offset in force before the gap, i.e. moved
/// forward by the gap's length.
fn localize(tz: Tz, naive: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, _) => Some(a.with_timezone(&Utc)),
        LocalResult::None => {
            let before = naive.checked_sub_signed(TimeDelta::days(1))?;
            let offset = tz.offset_from_local_datetime(&before).earliest()?.fix();
            let utc =
                naive.checked_sub_signed(TimeDelta::seconds(offset.local_minus_utc().into()))?;
            Some(Utc.from_utc_datetime(&utc))
        }
    }
}

/// A parsed recurring schedule.
struct Recurrence<'a> {
    days: &'a [Weekday],
    start_time: NaiveTime,
    duration: TimeDelta,
    tz: Tz,
}

impl Recurrence<'_> {
    /// Local days to look back so an occurrence that started earlier and
    /// still runs is found (duration in days, plus one for DST shifts).
    fn lookback(&self) -> u64 {
        u64::try_from(self.duration.num_days())
            .unwrap_or(0)
            .saturating_add(1)
    }

    fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.tz).date_naive()
    }

    /// The occurrence starting on local `date`, if `date` is one of `days`.
    fn occurrence(&self, date: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if !self.days.contains(&date.weekday()) {
            return None;
        }
        let start = localize(self.tz, date.and_time(self.start_time))?;
        let end = start.checked_add_signed(self.duration)?;
        Some((start, end))
    }

    /// Occurrences starting on local dates `first..=last`.
    fn occurrences(
        &self,
        first: NaiveDate,
        last: NaiveDate,
    ) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        first
            .iter_days()
            .take_while(move |d| *d <= last)
            .filter_map(|d| self.occurrence(d))
    }
}

impl Schedule {
    /// Checks every rule; the error names the field (`end`, `days`,
    /// `duration`, `timezone`).
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            Schedule::OneOff { start, end } => {
                if end <= start {
                    return Err(ValidationError::new("end", "must be after start"));
                }
            }
            Schedule::Recurring {
                days,
                duration,
                timezone,
                ..
            } => {
                if days.is_empty() {
                    return Err(ValidationError::new("days", "must name at least one day"));
                }
                if duration.is_zero() {
                    return Err(ValidationError::new("duration", "must be greater than 0"));
                }
                if *duration > MAX_DURATION {
                    return Err(ValidationError::new("duration", "must be at most 7d"));
                }
                if timezone.parse::<Tz>().is_err() {
                    return Err(ValidationError::new(
                        "timezone",
                        format!("{timezone:?} is not a known IANA time zone"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn recurrence(&self) -> Option<Recurrence<'_>> {
        match self {
            Schedule::Recurring {
                days,
                start_time,
                duration,
                timezone,
            } if !duration.is_zero() => Some(Recurrence {
                days,
                start_time: *start_time,
                duration: delta(*duration),
                tz: timezone.parse().ok()?,
            }),
            _ => None,
        }
    }

    /// True when `now` falls inside an occurrence. An invalid schedule
    /// (unknown zone, zero duration) is never active.
    pub fn is_active_at(&self, now: DateTime<Utc>) -> bool {
        if let Schedule::OneOff { start, end } = self {
            return *start <= now && now < *end;
        }
        let Some(r) = self.recurrence() else {
            return false;
        };
        let today = r.local_date(now);
        let first = today
            .checked_sub_days(Days::new(r.lookback()))
            .unwrap_or(NaiveDate::MIN);
        r.occurrences(first, today)
            .any(|(start, end)| start <= now && now < end)
    }

    /// The instants covered within `[from, to)`, clipped to it, sorted,
    /// overlapping occurrences merged. A recurring schedule walks at most
    /// [`MAX_INTERVAL_SPAN_DAYS`] days from `from`.
    pub fn active_intervals(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let mut out: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
        if to <= from {
            return out;
        }
        let clip = |(s, e): (DateTime<Utc>, DateTime<Utc>)| {
            let (s, e) = (s.max(from), e.min(to));
            (s < e).then_some((s, e))
        };
        match self {
            Schedule::OneOff { start, end } => out.extend(clip((*start, *end))),
            Schedule::Recurring { .. } => {
                let Some(r) = self.recurrence() else {
                    return out;
                };
                let first = r
                    .local_date(from)
                    .checked_sub_days(Days::new(r.lookback()))
                    .unwrap_or(NaiveDate::MIN);
                let cap = r
                    .local_date(from)
                    .checked_add_days(Days::new(MAX_INTERVAL_SPAN_DAYS))
                    .unwrap_or(NaiveDate::MAX);
                let last = r.local_date(to).min(cap);
                for iv in r.occurrences(first, last).filter_map(clip) {
                    match out.last_mut() {
                        Some(prev) if iv.0 <= prev.1 => prev.1 = prev.1.max(iv.1),
                        _ => out.push(iv),
                    }
                }
            }
        }
        out
    }
}

impl MaintenanceWindow {
    /// Checks every rule; the error names the field: `id`, `name`,
    /// `created_by`, the schedule's `end` / `days` / `duration` /
    /// `timezone`, and `selector` (must not be empty) or its `labels`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.id.is_empty()
            || self.id.chars().count() > MAX_ID_LEN
            || self.id.chars().any(char::is_control)
        {
            return Err(ValidationError::new(
                "id",
                "must be 1..=128 characters with no control characters",
            ));
        }
        if self.name.trim().is_empty()
            || self.name.chars().count() > 256
            || self.name.chars().any(char::is_control)
        {
            return Err(ValidationError::new(
                "name",
                "must be 1..=256 characters with no control characters",
            ));
        }
        if let Some(by) = &self.created_by {
            if by.chars().count() > 100 || by.chars().any(char::is_control) {
                return Err(ValidationError::new(
                    "created_by",
                    "must be at most 100 characters with no control characters",
                ));
            }
        }
        self.schedule.validate()?;
        if self.selector.is_empty() {
            return Err(ValidationError::new(
                "selector",
                "must name at least one target, a tenant or a label",
            ));
        }
        if self.selector.labels.keys().any(|k| k.is_empty()) {
            return Err(ValidationError::new(
                "labels",
                "label keys must not be empty",
            ));
        }
        Ok(())
    }

    /// True when the window is in force at `now` (see
    /// [`Schedule::is_active_at`]).
    pub fn is_active_at(&self, now: DateTime<Utc>) -> bool {
        self.schedule.is_active_at(now)
    }

    /// True when the selector covers `target`.
    pub fn matches(&self, target: &Target) -> bool {
        self.selector.matches(target)
    }

    /// The instants this window covers within `[from, to)`, for excluding
    /// maintenance from uptime (see [`Schedule::active_intervals`]).
    pub fn active_intervals(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        self.schedule.active_intervals(from, to)
    }
}

/// True when any of `windows` covers `target` and is active at `now`.
/// Allocation-free.
pub fn in_maintenance<'a>(
    windows: impl IntoIterator<Item = &'a MaintenanceWindow>,
    target: &Target,
    now: DateTime<Utc>,
) -> bool {
    active_window(windows, target, now).is_some()
}

/// The first of `windows` that covers `target` and is active at `now`
/// (to name it in messages and events).
pub fn active_window<'a>(
    windows: impl IntoIterator<Item = &'a MaintenanceWindow>,
    target: &Target,
    now: DateTime<Utc>,
) -> Option<&'a MaintenanceWindow> {
    windows
        .into_iter()
        .find(|w| w.matches(target) && w.is_active_at(now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn recurring(days: &[Weekday], start: NaiveTime, hours: u64, tz: &str) -> Schedule {
        Schedule::Recurring {
            days: days.to_vec(),
            start_time: start,
            duration: Duration::from_secs(hours * 3600),
            timezone: tz.into(),
        }
    }

    fn window(schedule: Schedule) -> MaintenanceWindow {
        MaintenanceWindow {
            id: "mw".into(),
            name: "patching".into(),
            schedule,
            selector: Selector {
                targets: vec![TargetId::new("n1").unwrap()],
                ..Selector::default()
            },
            created_by: None,
        }
    }

    const ALL_DAYS: [Weekday; 7] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];

    #[test]
    fn one_off_is_half_open() {
        let s = Schedule::OneOff {
            start: utc(2026, 1, 1, 10, 0),
            end: utc(2026, 1, 1, 12, 0),
        };
        s.validate().unwrap();
        assert!(!s.is_active_at(utc(2026, 1, 1, 9, 59)));
        assert!(s.is_active_at(utc(2026, 1, 1, 10, 0)));
        assert!(s.is_active_at(utc(2026, 1, 1, 11, 59)));
        assert!(!s.is_active_at(utc(2026, 1, 1, 12, 0)));
        assert_eq!(
            s.active_intervals(utc(2026, 1, 1, 11, 0), utc(2026, 1, 2, 0, 0)),
            vec![(utc(2026, 1, 1, 11, 0), utc(2026, 1, 1, 12, 0))]
        );
        assert!(
            s.active_intervals(utc(2026, 1, 2, 0, 0), utc(2026, 1, 3, 0, 0))
                .is_empty()
        );
        assert!(
            s.active_intervals(utc(2026, 1, 3, 0, 0), utc(2026, 1, 1, 0, 0))
                .is_empty()
        );
    }

    #[test]
    fn validation_names_fields() {
        let t = utc(2026, 1, 1, 0, 0);
        let cases = [
            (Schedule::OneOff { start: t, end: t }, "end"),
            (recurring(&[], hm(1, 0), 1, "UTC"), "days"),
            (recurring(&[Weekday::Mon], hm(1, 0), 0, "UTC"), "duration"),
            (recurring(&[Weekday::Mon], hm(1, 0), 169, "UTC"), "duration"),
            (
                recurring(&[Weekday::Mon], hm(1, 0), 1, "Mars/Olympus"),
                "timezone",
            ),
            (
                recurring(&[Weekday::Mon], hm(1, 0), 1, "europe/berlin"),
                "timezone",
            ),
        ];
        for (s, field) in cases {
            let err = window(s).validate().unwrap_err();
            assert_eq!(err.field(), field);
        }
        let err = window(recurring(&[Weekday::Mon], hm(1, 0), 1, "Mars/Olympus"))
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("timezone"));
        assert!(err.to_string().contains("Mars/Olympus"));
        window(recurring(&[Weekday::Mon], hm(1, 0), 168, "Europe/Berlin"))
            .validate()
            .unwrap();

        let ok = window(recurring(&[Weekday::Mon], hm(1, 0), 1, "UTC"));
        let mut empty = ok.clone();
        empty.selector = Selector::default();
        assert_eq!(empty.validate().unwrap_err().field(), "selector");
        let mut no_id = ok.clone();
        no_id.id = String::new();
        assert_eq!(no_id.validate().unwrap_err().field(), "id");
        let mut no_name = ok.clone();
        no_name.name = " ".into();
        assert_eq!(no_name.validate().unwrap_err().field(), "name");
        let mut by = ok.clone();
        by.created_by = Some("a\u{7}".into());
        assert_eq!(by.validate().unwrap_err().field(), "created_by");
        let mut label = ok;
        label.selector.labels.insert(String::new(), "x".into());
        assert_eq!(label.validate().unwrap_err().field(), "labels");
    }

    #[test]
    fn invalid_recurring_is_never_active() {
        let s = recurring(&ALL_DAYS, hm(0, 0), 24, "Nowhere/City");
        assert!(!s.is_active_at(utc(2026, 1, 1, 12, 0)));
        assert!(
            s.active_intervals(utc(2026, 1, 1, 0, 0), utc(2026, 2, 1, 0, 0))
                .is_empty()
        );
    }

    #[test]
    fn runs_past_midnight_from_the_previous_day() {
        // Fridays 22:00-02:00 UTC.
        let s = recurring(&[Weekday::Fri], hm(22, 0), 4, "UTC");
        // 2026-01-02 is a Friday.
        assert!(!s.is_active_at(utc(2026, 1, 2, 21, 59)));
        assert!(s.is_active_at(utc(2026, 1, 2, 22, 0)));
        assert!(s.is_active_at(utc(2026, 1, 3, 1, 59)));
        assert!(!s.is_active_at(utc(2026, 1, 3, 2, 0)));
        // Not on Saturday night.
        assert!(!s.is_active_at(utc(2026, 1, 3, 23, 0)));
    }

    #[test]
    fn multi_day_duration() {
        // From Saturday 00:00 for 48 h (UTC).
        let s = recurring(&[Weekday::Sat], hm(0, 0), 48, "UTC");
        assert!(s.is_active_at(utc(2026, 1, 4, 23, 59)));
        assert!(!s.is_active_at(utc(2026, 1, 5, 0, 0)));
    }

    #[test]
    fn berlin_daily_window_across_spring_dst_change() {
        // 09:00-10:00 Berlin every day. DST starts Sunday 2026-03-29.
        let s = recurring(&ALL_DAYS, hm(9, 0), 1, "Europe/Berlin");
        // Saturday (CET, +1): 08:00 UTC.
        assert!(s.is_active_at(utc(2026, 3, 28, 8, 30)));
        assert!(!s.is_active_at(utc(2026, 3, 28, 7, 30)));
        // Monday (CEST, +2): 07:00 UTC.
        assert!(s.is_active_at(utc(2026, 3, 30, 7, 30)));
        assert!(!s.is_active_at(utc(2026, 3, 30, 8, 30)));
        assert_eq!(
            s.active_intervals(utc(2026, 3, 28, 0, 0), utc(2026, 3, 30, 7, 30)),
            vec![
                (utc(2026, 3, 28, 8, 0), utc(2026, 3, 28, 9, 0)),
                (utc(2026, 3, 29, 7, 0), utc(2026, 3, 29, 8, 0)),
                (utc(2026, 3, 30, 7, 0), utc(2026, 3, 30, 7, 30)),
            ]
        );
    }

    #[test]
    fn berlin_overnight_window_spanning_the_change() {
        // Saturdays 22:00 Berlin for 4 h elapsed: 2026-03-28 21:00 UTC to
        // 2026-03-29 01:00 UTC (03:00 CEST, clocks jumped at 01:00 UTC).
        let s = recurring(&[Weekday::Sat], hm(22, 0), 4, "Europe/Berlin");
        assert!(s.is_active_at(utc(2026, 3, 28, 21, 0)));
        assert!(s.is_active_at(utc(2026, 3, 29, 0, 59)));
        assert!(!s.is_active_at(utc(2026, 3, 29, 1, 0)));
    }

    #[test]
    fn start_in_the_gap_moves_forward() {
        // 02:30 does not exist in Berlin on 2026-03-29: it becomes 03:30
        // CEST = 01:30 UTC.
        let s = recurring(&[Weekday::Sun], hm(2, 30), 1, "Europe/Berlin");
        assert!(!s.is_active_at(utc(2026, 3, 29, 1, 29)));
        assert!(s.is_active_at(utc(2026, 3, 29, 1, 30)));
        assert!(!s.is_active_at(utc(2026, 3, 29, 2, 30)));
    }

    #[test]
    fn ambiguous_start_takes_the_first() {
        // 02:30 happens twice in Berlin on 2026-10-25; the first is CEST
        // (00:30 UTC).
        let s = recurring(&[Weekday::Sun], hm(2, 30), 1, "Europe/Berlin");
        assert!(s.is_active_at(utc(2026, 10, 25, 0, 30)));
        assert!(!s.is_active_at(utc(2026, 10, 25, 1, 30)));
        // Autumn: 09:00 Berlin is 07:00 UTC before, 08:00 UTC after.
        let daily = recurring(&ALL_DAYS, hm(9, 0), 1, "Europe/Berlin");
        assert!(daily.is_active_at(utc(2026, 10, 24, 7, 0)));
        assert!(daily.is_active_at(utc(2026, 10, 26, 8, 0)));
        assert!(!daily.is_active_at(utc(2026, 10, 26, 7, 0)));
    }

    #[test]
    fn overlapping_occurrences_merge() {
        // Every day for 36 h: occurrences overlap and merge into one.
        let s = recurring(&ALL_DAYS, hm(0, 0), 36, "UTC");
        let ivs = s.active_intervals(utc(2026, 1, 1, 0, 0), utc(2026, 1, 4, 0, 0));
        assert_eq!(ivs, vec![(utc(2026, 1, 1, 0, 0), utc(2026, 1, 4, 0, 0))]);
    }

    #[test]
    fn huge_ranges_are_capped() {
        let s = recurring(&ALL_DAYS, hm(0, 0), 1, "UTC");
        let ivs = s.active_intervals(DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
        assert!(ivs.len() as u64 <= MAX_INTERVAL_SPAN_DAYS + 2);
        let _ = s.is_active_at(DateTime::<Utc>::MIN_UTC);
        let _ = s.is_active_at(DateTime::<Utc>::MAX_UTC);
    }

    #[test]
    fn selector_matching() {
        let mut t = Target::new(TargetId::new("n1").unwrap(), "n1");
        t.labels.insert("rack".into(), "r1".into());
        let by_id = Selector {
            targets: vec![TargetId::new("n1").unwrap()],
            ..Selector::default()
        };
        assert!(by_id.matches(&t));
        let by_tenant = Selector {
            tenant: Some(TenantId::new("default").unwrap()),
            ..Selector::default()
        };
        assert!(by_tenant.matches(&t));
        let other_tenant = Selector {
            tenant: Some(TenantId::new("acme").unwrap()),
            ..by_id.clone()
        };
        assert!(!other_tenant.matches(&t));
        let mut labels = BTreeMap::new();
        labels.insert("rack".to_owned(), "r1".to_owned());
        let by_label = Selector {
            labels: labels.clone(),
            ..Selector::default()
        };
        assert!(by_label.matches(&t));
        labels.insert("zone".to_owned(), "a".to_owned());
        assert!(
            !Selector {
                labels,
                ..Selector::default()
            }
            .matches(&t)
        );
        assert!(!Selector::default().matches(&t));
        let wrong_id = Selector {
            targets: vec![TargetId::new("n2").unwrap()],
            ..by_label
        };
        assert!(!wrong_id.matches(&t));
    }

    #[test]
    fn in_maintenance_needs_match_and_time() {
        let t = Target::new(TargetId::new("n1").unwrap(), "n1");
        let other = Target::new(TargetId::new("n2").unwrap(), "n2");
        let w = window(Schedule::OneOff {
            start: utc(2026, 1, 1, 0, 0),
            end: utc(2026, 1, 2, 0, 0),
        });
        let ws = [w];
        assert!(in_maintenance(&ws, &t, utc(2026, 1, 1, 12, 0)));
        assert!(!in_maintenance(&ws, &t, utc(2026, 1, 2, 12, 0)));
        assert!(!in_maintenance(&ws, &other, utc(2026, 1, 1, 12, 0)));
        assert_eq!(
            active_window(&ws, &t, utc(2026, 1, 1, 12, 0)).map(|w| w.id.as_str()),
            Some("mw")
        );
        assert!(!in_maintenance([], &t, utc(2026, 1, 1, 12, 0)));
    }

    #[test]
    fn serde_shape() {
        let w: MaintenanceWindow = serde_json::from_value(serde_json::json!({
            "id": "mw", "name": "n", "created_by": "alice",
            "schedule": {"type": "recurring", "days": ["Mon", "friday"],
                         "start_time": "22:30:00", "duration": "90m"},
            "selector": {"tenant": "acme"}
        }))
        .unwrap();
        w.validate().unwrap();
        match &w.schedule {
            Schedule::Recurring {
                days,
                duration,
                timezone,
                ..
            } => {
                assert_eq!(days, &vec![Weekday::Mon, Weekday::Fri]);
                assert_eq!(*duration, Duration::from_secs(5400));
                assert_eq!(timezone, "UTC");
            }
            other => panic!("{other:?}"),
        }
        let back: MaintenanceWindow =
            serde_json::from_value(serde_json::to_value(&w).unwrap()).unwrap();
        assert_eq!(back, w);
        let one: Schedule = serde_json::from_value(serde_json::json!({
            "type": "one_off", "start": "2026-01-01T00:00:00Z", "end": "2026-01-01T01:00:00Z"
        }))
        .unwrap();
        one.validate().unwrap();
        assert!(
            serde_json::from_value::<Schedule>(serde_json::json!({
                "type": "one_off", "start": "2026-01-01T00:00:00Z",
                "end": "2026-01-01T01:00:00Z", "extra": 1
            }))
            .is_err()
        );
        assert!(serde_json::from_value::<Selector>(serde_json::json!({"target": ["x"]})).is_err());
    }

    proptest! {
        #[test]
        fn active_at_agrees_with_intervals(
            day_mask in 1u8..128,
            start_min in 0u32..1440,
            dur_min in 1u64..(3 * 1440),
            offset_min in 0i64..(60 * 24 * 40),
            tz_i in 0usize..4,
        ) {
            let tz = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"][tz_i];
            let days: Vec<Weekday> = ALL_DAYS
                .iter()
                .enumerate()
                .filter(|(i, _)| day_mask & (1 << i) != 0)
                .map(|(_, d)| *d)
                .collect();
            let s = Schedule::Recurring {
                days,
                start_time: NaiveTime::from_hms_opt(start_min / 60, start_min % 60, 0).unwrap(),
                duration: Duration::from_secs(dur_min * 60),
                timezone: tz.into(),
            };
            s.validate().unwrap();
            // Around the 2026 spring changes.
            let base = utc(2026, 3, 1, 0, 0);
            let now = base + TimeDelta::minutes(offset_min);
            let from = now - TimeDelta::days(4);
            let to = now + TimeDelta::days(4);
            let ivs = s.active_intervals(from, to);
            let inside = ivs.iter().any(|(a, b)| *a <= now && now < *b);
            prop_assert_eq!(s.is_active_at(now), inside);
            for w in ivs.windows(2) {
                prop_assert!(w[0].1 < w[1].0);
            }
            for (a, b) in &ivs {
                prop_assert!(a < b && *a >= from && *b <= to);
            }
        }
    }
}
