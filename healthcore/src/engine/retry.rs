//! Retry policy shared by every background write and delivery of the
//! engine: which store errors are worth retrying, and a capped
//! exponential backoff with jitter.
//!
//! - [`Class::Transient`] (`Unavailable`: the store cannot be reached, a
//!   serialisation failure, a pool timeout): retried for as long as the
//!   caller's bound allows (the bounded result buffer, the bounded effects
//!   queue, a lease, a heal timeout).
//! - [`Class::Unknown`] (`Backend`: an error the adapter could not
//!   classify): retried like a transient one, but only
//!   [`UNKNOWN_ATTEMPTS`] times in a row; then it is handled as permanent.
//! - [`Class::Permanent`] (data, conflict, not found, fenced,
//!   unsupported): retrying the same write fails the same way, so it is
//!   not retried; the caller isolates or drops it and counts it.
//!
//! This module owns no I/O and no clock: delays are computed, the caller
//! sleeps on tokio's timers (paused time in tests).

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::store::StoreError;

/// Consecutive failures with an unclassified (`Backend`) error after
/// which the write is handled as permanently failed.
pub(crate) const UNKNOWN_ATTEMPTS: u32 = 5;

/// How a store error is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Retry later (with backoff); the write itself is fine.
    Transient,
    /// Unclassified: retry a few times, then treat as permanent.
    Unknown,
    /// Retrying cannot help.
    Permanent,
}

/// Classifies a store error for retrying.
pub(crate) fn classify(e: &StoreError) -> Class {
    if e.is_transient() {
        Class::Transient
    } else if e.is_permanent() {
        Class::Permanent
    } else {
        Class::Unknown
    }
}

/// Whether a write that failed with `e` for the `attempt`-th time in a
/// row (1-based) should be tried again.
pub(crate) fn should_retry(e: &StoreError, attempt: u32) -> bool {
    match classify(e) {
        Class::Transient => true,
        Class::Unknown => attempt < UNKNOWN_ATTEMPTS,
        Class::Permanent => false,
    }
}

/// Capped exponential backoff with "equal jitter": the n-th delay is
/// drawn from `[step/2, step]` where `step = min(base · 2ⁿ, cap)`, so
/// retries of many writers (or instances) spread out instead of
/// hammering a recovering store in lockstep.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    base: Duration,
    cap: Duration,
    step: Duration,
    rng: u64,
}

impl Backoff {
    /// Starts at `base`, never above `cap` (`cap` below `base` is raised
    /// to `base`).
    pub(crate) fn new(base: Duration, cap: Duration) -> Self {
        let base = base.max(Duration::from_millis(1));
        Self {
            base,
            cap: cap.max(base),
            step: base,
            rng: seed(),
        }
    }

    /// The delay before the next try; the step then doubles up to the cap.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let step = self.step.min(self.cap);
        self.step = step.saturating_mul(2).min(self.cap);
        let half = step / 2;
        let spread = u64::try_from((step - half).as_nanos()).unwrap_or(u64::MAX);
        let extra = if spread == 0 {
            0
        } else {
            self.next_u64() % (spread + 1)
        };
        half + Duration::from_nanos(extra)
    }

    /// Back to the first step (after a success).
    pub(crate) fn reset(&mut self) {
        self.step = self.base;
    }

    fn next_u64(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// A per-backoff seed: std's randomly keyed hasher (OS randomness once
/// per thread) over a process-wide counter, never zero.
fn seed() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish() | 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_with_jitter_in_the_upper_half() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let steps = [100, 200, 400, 800, 1600, 2000, 2000, 2000];
        for (i, step) in steps.iter().enumerate() {
            let step = Duration::from_millis(*step);
            let d = b.next_delay();
            assert!(
                d >= step / 2 && d <= step,
                "try {i}: {d:?} not in [{:?}, {step:?}]",
                step / 2
            );
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn jitter_spreads_two_backoffs() {
        let mut a = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let da: Vec<Duration> = (0..8).map(|_| a.next_delay()).collect();
        let db: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
        assert_ne!(da, db, "two writers do not retry in lockstep");
    }

    #[test]
    fn classes() {
        assert_eq!(
            classify(&StoreError::Unavailable("x".into())),
            Class::Transient
        );
        assert_eq!(classify(&StoreError::Data("x".into())), Class::Permanent);
        assert_eq!(
            classify(&StoreError::Conflict("x".into())),
            Class::Permanent
        );
        let backend = StoreError::Backend {
            store: "t",
            message: "?".into(),
            source: "boom".into(),
        };
        assert_eq!(classify(&backend), Class::Unknown);
        assert!(should_retry(&backend, UNKNOWN_ATTEMPTS - 1));
        assert!(!should_retry(&backend, UNKNOWN_ATTEMPTS));
        assert!(should_retry(&StoreError::Unavailable("x".into()), 1_000));
        assert!(!should_retry(&StoreError::Data("x".into()), 1));
    }
}
