//! [`PendingRollups`]: one target's rollup deltas not yet drained to the
//! store (DESIGN §6: minute / hour / day buckets carry uptime).
//!
//! Kept on the target, so an observation updates its bucket without
//! hashing and a target's pending buckets are found without a scan of the
//! fleet. Each granularity's buckets are sorted by start, so the current
//! bucket is the last one: an observation or a piece of time in order
//! finds its bucket, or appends it, in O(1) (an out-of-order one is found
//! by binary search). Time is added as [`split_span`] pieces: a long
//! stretch lands as whole days and hours, never minute by minute.
//!
//! Bounded: a caller that never drains (replay) keeps at most
//! [`MAX_MINUTES`] minute buckets and [`MAX_HOURS`] hour buckets; older
//! minutes are rolled into their hour, older hours into their day (one
//! bucket per day remains). The engine drains every few seconds, so it
//! only ever sees the current minute or two. Must not allocate on the
//! steady path: the current minute's bucket is found in place, and a
//! drained buffer keeps its room for the next minute.

use chrono::{DateTime, Utc};

use crate::model::Status;
use crate::rollup::{Bucket, Granularity, split_span};

/// Minute buckets kept before the oldest complete hours are rolled up.
pub(crate) const MAX_MINUTES: usize = 120;
/// Hour buckets kept before the oldest complete days are rolled up.
pub(crate) const MAX_HOURS: usize = 48;

/// One target's rollup deltas not yet drained. See the module docs.
#[derive(Debug, Clone, Default)]
pub(crate) struct PendingRollups {
    minutes: Vec<Bucket>,
    hours: Vec<Bucket>,
    days: Vec<Bucket>,
}

/// The index of the bucket of `g` starting at `start` in `v` (sorted by
/// start), appending or inserting an empty one when missing; `true` when it
/// was added.
fn slot(v: &mut Vec<Bucket>, g: Granularity, start: DateTime<Utc>, grow_one: bool) -> usize {
    match v.last() {
        Some(last) if last.start == start => return v.len() - 1,
        Some(last) if last.start > start => {
            return match v.binary_search_by_key(&start, |b| b.start) {
                Ok(i) => i,
                Err(i) => {
                    v.insert(i, Bucket::new(g, start));
                    i
                }
            };
        }
        _ => {}
    }
    if grow_one {
        // usually one minute is pending, two around a minute boundary (a
        // default first growth would reserve four)
        v.reserve_exact(1);
    }
    v.push(Bucket::new(g, start));
    v.len() - 1
}

/// Moves the buckets of `from` that start before `before` into `into`
/// (re-bucketed at `g`, merged with what is there).
fn roll_up(from: &mut Vec<Bucket>, into: &mut Vec<Bucket>, g: Granularity, before: DateTime<Utc>) {
    let n = from.partition_point(|b| b.start < before);
    for b in from.drain(..n) {
        let i = slot(into, g, g.bucket_start(b.start), false);
        into[i].merge_counts(&b);
    }
}

impl PendingRollups {
    /// The bucket of the minute holding `t`, created empty if missing.
    pub(crate) fn minute(&mut self, t: DateTime<Utc>) -> &mut Bucket {
        let start = Granularity::Minute.bucket_start(t);
        let is_current = self.minutes.last().is_some_and(|b| b.start == start);
        if !is_current && self.minutes.len() >= MAX_MINUTES {
            self.roll_minutes(start);
        }
        let i = slot(&mut self.minutes, Granularity::Minute, start, true);
        &mut self.minutes[i]
    }

    /// Adds `[from, to)` in `status` (`excluded`: left out of uptime) as
    /// [`split_span`] pieces: whole days and hours of a long stretch as
    /// day and hour buckets, the rest by minute.
    pub(crate) fn add_time(
        &mut self,
        status: Status,
        excluded: bool,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) {
        for piece in split_span(status, excluded, from, to) {
            self.add(&piece);
        }
    }

    /// Adds one bucket's counts to the pending bucket of its granularity
    /// and start.
    pub(crate) fn add(&mut self, piece: &Bucket) {
        match piece.granularity {
            Granularity::Minute => self.minute(piece.start).merge_counts(piece),
            Granularity::Hour => self.hour(piece.start).merge_counts(piece),
            _ => {
                let i = slot(&mut self.days, Granularity::Day, piece.start, false);
                self.days[i].merge_counts(piece);
            }
        }
    }

    fn hour(&mut self, start: DateTime<Utc>) -> &mut Bucket {
        let start = Granularity::Hour.bucket_start(start);
        let is_current = self.hours.last().is_some_and(|b| b.start == start);
        if !is_current && self.hours.len() >= MAX_HOURS {
            self.roll_hours(start);
        }
        let i = slot(&mut self.hours, Granularity::Hour, start, false);
        &mut self.hours[i]
    }

    /// Rolls the minutes of every hour before the newest one (`incoming`
    /// or the last pending minute) into hour buckets.
    fn roll_minutes(&mut self, incoming: DateTime<Utc>) {
        let newest = self
            .minutes
            .last()
            .map_or(incoming, |b| b.start.max(incoming));
        let before = Granularity::Hour.bucket_start(newest);
        let n = self.minutes.partition_point(|b| b.start < before);
        for b in self.minutes.drain(..n) {
            let start = Granularity::Hour.bucket_start(b.start);
            let is_current = self.hours.last().is_some_and(|h| h.start == start);
            if !is_current && self.hours.len() >= MAX_HOURS {
                let newest_hour = self.hours.last().map_or(start, |h| h.start.max(start));
                let day = Granularity::Day.bucket_start(newest_hour);
                roll_up(&mut self.hours, &mut self.days, Granularity::Day, day);
            }
            let i = slot(&mut self.hours, Granularity::Hour, start, false);
            self.hours[i].merge_counts(&b);
        }
    }

    /// Rolls the hours of every day before the newest one into day
    /// buckets.
    fn roll_hours(&mut self, incoming: DateTime<Utc>) {
        let newest = self
            .hours
            .last()
            .map_or(incoming, |b| b.start.max(incoming));
        let day = Granularity::Day.bucket_start(newest);
        roll_up(&mut self.hours, &mut self.days, Granularity::Day, day);
    }

    /// True when nothing is pending.
    pub(crate) fn is_empty(&self) -> bool {
        self.minutes.is_empty() && self.hours.is_empty() && self.days.is_empty()
    }

    /// Every pending bucket: minutes, then hours, then days, each sorted.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Bucket> {
        self.minutes
            .iter()
            .chain(self.hours.iter())
            .chain(self.days.iter())
    }

    /// Forgets everything pending, keeping the buffers' room.
    pub(crate) fn clear(&mut self) {
        self.minutes.clear();
        self.hours.clear();
        self.days.clear();
    }

    /// How many buckets are pending (minutes, hours, days).
    #[cfg(test)]
    pub(crate) fn lens(&self) -> (usize, usize, usize) {
        (self.minutes.len(), self.hours.len(), self.days.len())
    }
}

/// `b` as a bucket of granularity `g` or coarser: its counts in the slot of
/// `g` holding its start (a coarser bucket stays as it is, it cannot be
/// split).
pub(crate) fn rebucket(b: &Bucket, g: Granularity) -> Bucket {
    if b.granularity >= g {
        return *b;
    }
    let mut c = Bucket::new(g, b.start);
    c.merge_counts(b);
    c
}

/// Sorts `buckets` by start (and granularity) and merges those of one
/// start into one (the coarser granularity wins).
pub(crate) fn merge_same_start(buckets: &mut Vec<Bucket>) {
    buckets.sort_unstable_by_key(|b| (b.start, b.granularity));
    buckets.dedup_by(|later, kept| {
        if later.start == kept.start {
            kept.merge(later);
            true
        } else {
            false
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Outcome;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap()
    }

    fn total(p: &PendingRollups) -> Bucket {
        let mut sum = Bucket::sum();
        for b in p.iter() {
            sum.merge_counts(b);
        }
        sum
    }

    #[test]
    fn in_order_minutes_append_and_find_the_last() {
        let mut p = PendingRollups::default();
        p.minute(t0()).add_observation(Outcome::Pass, None);
        p.minute(t0() + chrono::Duration::seconds(30))
            .add_observation(Outcome::Pass, None);
        p.minute(t0() + chrono::Duration::seconds(60))
            .add_observation(Outcome::Fail, None);
        // out of order: found, not duplicated
        p.minute(t0() + chrono::Duration::seconds(10))
            .add_observation(Outcome::Fail, None);
        assert_eq!(p.lens(), (2, 0, 0));
        let starts: Vec<_> = p.iter().map(|b| (b.start, b.checks_total)).collect();
        assert_eq!(
            starts,
            vec![(t0(), 3), (t0() + chrono::Duration::minutes(1), 1)]
        );
    }

    #[test]
    fn a_year_gap_is_a_few_hundred_buckets() {
        let mut p = PendingRollups::default();
        let year = chrono::Duration::days(365);
        let from = t0() + chrono::Duration::seconds(17);
        p.add_time(Status::Healthy, false, from, from + year);
        let (m, h, d) = p.lens();
        assert!(m <= MAX_MINUTES && h <= MAX_HOURS, "{:?}", p.lens());
        assert!(d <= 366, "{d}");
        assert_eq!(total(&p).healthy_ms, 365 * 86_400_000);
        // a century too
        let mut q = PendingRollups::default();
        q.add_time(Status::Down, true, from, from + year * 100);
        assert_eq!(total(&q).maintenance_ms, 36_500 * 86_400_000);
    }

    #[test]
    fn a_week_of_minutes_stays_bounded() {
        let mut p = PendingRollups::default();
        for i in 0..7 * 1440 {
            let at = t0() + chrono::Duration::minutes(i);
            p.minute(at).add_observation(Outcome::Pass, None);
            p.add_time(
                Status::Healthy,
                false,
                at,
                at + chrono::Duration::minutes(1),
            );
        }
        let (m, h, d) = p.lens();
        assert!(
            m <= MAX_MINUTES && h <= MAX_HOURS && d <= 8,
            "{:?}",
            p.lens()
        );
        let sum = total(&p);
        assert_eq!(sum.checks_total, 7 * 1440);
        assert_eq!(sum.healthy_ms, 7 * 86_400_000);
    }

    #[test]
    fn rebucket_and_merge_same_start() {
        let mut m = Bucket::new(Granularity::Minute, t0() + chrono::Duration::minutes(5));
        m.add_observation(Outcome::Pass, None);
        let h = rebucket(&m, Granularity::Hour);
        assert_eq!(
            (h.start, h.granularity, h.checks_total),
            (t0(), Granularity::Hour, 1)
        );
        let mut d = Bucket::new(Granularity::Day, t0());
        d.add_observation(Outcome::Fail, None);
        assert_eq!(rebucket(&d, Granularity::Hour), d);
        let mut v = vec![rebucket(&d, Granularity::Hour), h, h];
        merge_same_start(&mut v);
        assert_eq!(v.len(), 2);
        assert_eq!(v.iter().map(|b| b.checks_total).sum::<u64>(), 3);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Observe(i64),
        Time(i64, i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0i64..600).prop_map(Op::Observe),
            (0i64..600, 0i64..400_000).prop_map(|(a, l)| Op::Time(a, l)),
        ]
    }

    proptest! {
        /// Whatever is added, mostly in time order with some stragglers,
        /// the pending buckets hold exactly its sum, each granularity
        /// sorted without duplicates, and the minutes and hours stay
        /// within their bounds.
        #[test]
        fn sums_are_kept_and_buffers_bounded(ops in proptest::collection::vec(op(), 0..300)) {
            let mut p = PendingRollups::default();
            let mut want = Bucket::sum();
            let mut now = t0();
            for op in ops {
                match op {
                    Op::Observe(back) => {
                        now += chrono::Duration::seconds(61);
                        let at = now - chrono::Duration::seconds(back);
                        p.minute(at).add_observation(Outcome::Pass, None);
                        want.add_observation(Outcome::Pass, None);
                    }
                    Op::Time(back, len) => {
                        let from = now - chrono::Duration::seconds(back);
                        let to = from + chrono::Duration::seconds(len);
                        p.add_time(Status::Down, false, from, to);
                        want.add_interval(Status::Down, false, from, to);
                        now = now.max(to);
                    }
                }
                let (m, h, _) = p.lens();
                prop_assert!(m <= MAX_MINUTES);
                prop_assert!(h <= MAX_HOURS);
                for v in [&p.minutes, &p.hours, &p.days] {
                    prop_assert!(v.windows(2).all(|w| w[0].start < w[1].start));
                }
            }
            prop_assert_eq!(total(&p), want);
        }
    }
}
