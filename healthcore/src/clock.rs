//! Where "now" comes from: [`Clock`], with [`SystemClock`] for production
//! and [`ManualClock`] for tests and replay.
//!
//! Rules never read a clock; they take `now` as an argument. Only the
//! engine holds a `Clock`, so a test or a replay can drive it exactly.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// A source of the current UTC time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to.
///
/// ```
/// use healthcore::clock::{Clock, ManualClock};
/// use chrono::{Duration, TimeZone, Utc};
/// let c = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
/// c.advance(Duration::seconds(90));
/// assert_eq!(c.now(), Utc.with_ymd_and_hms(2026, 1, 1, 0, 1, 30).unwrap());
/// ```
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Moves the clock forward by `by` (a negative duration is ignored:
    /// time never goes backwards).
    pub fn advance(&self, by: Duration) {
        if by > Duration::zero() {
            let mut now = self.lock();
            *now += by;
        }
    }

    /// Sets the clock to `at` if that is not earlier than now.
    pub fn set(&self, at: DateTime<Utc>) {
        let mut now = self.lock();
        if at > *now {
            *now = at;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DateTime<Utc>> {
        // A poisoned lock still holds a valid time.
        self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_never_goes_back() {
        let start = DateTime::<Utc>::UNIX_EPOCH;
        let c = ManualClock::new(start);
        c.advance(Duration::seconds(-5));
        assert_eq!(c.now(), start);
        c.set(start - Duration::seconds(1));
        assert_eq!(c.now(), start);
        c.set(start + Duration::seconds(1));
        assert_eq!(c.now(), start + Duration::seconds(1));
    }
}

/// A clock that follows tokio's timer: `start` plus the tokio time elapsed
/// since it was made. Under `tokio::time::pause()` it moves only when the
/// test advances time, so schedules and timestamps agree.
#[cfg(feature = "runtime")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime")))]
#[derive(Debug)]
pub struct TokioClock {
    start: DateTime<Utc>,
    origin: tokio::time::Instant,
}

#[cfg(feature = "runtime")]
impl TokioClock {
    /// A clock reading `start` now.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            start,
            origin: tokio::time::Instant::now(),
        }
    }
}

#[cfg(feature = "runtime")]
impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = tokio::time::Instant::now().saturating_duration_since(self.origin);
        self.start + Duration::from_std(elapsed).unwrap_or_else(|_| Duration::zero())
    }
}
