//! Engine counters, read by the metrics endpoint and the benches.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Upper bounds, in seconds, of the check-latency histogram's buckets; a
/// last, unbounded bucket follows them.
pub const LATENCY_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Monotonic counters and gauges, updated without locks.
#[derive(Debug, Default)]
pub struct EngineMetrics {
    pub(crate) checks: AtomicU64,
    pub(crate) failures: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    pub(crate) panics: AtomicU64,
    pub(crate) results_written: AtomicU64,
    pub(crate) results_dropped: AtomicU64,
    pub(crate) results_rejected: AtomicU64,
    pub(crate) effects_dropped: AtomicU64,
    pub(crate) effects_failed: AtomicU64,
    pub(crate) store_errors: AtomicU64,
    pub(crate) buffer_depth: AtomicU64,
    pub(crate) heal_attempts: AtomicU64,
    pub(crate) claimed: AtomicU64,
    pub(crate) fenced: AtomicU64,
    pub(crate) notifications_sent: AtomicU64,
    pub(crate) notifications_failed: AtomicU64,
    pub(crate) notifications_silenced: AtomicU64,
    pub(crate) lateness_max_us: AtomicU64,
    pub(crate) lateness_sum_us: AtomicU64,
    /// Lateness histogram: bucket i counts lateness in [2^i, 2^(i+1)) µs
    /// (bucket 0 also holds 0).
    pub(crate) lateness_hist: [AtomicU64; 32],
    pub(crate) latency_buckets: [AtomicU64; 12],
    pub(crate) latency_sum_us: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MetricsSnapshot {
    /// Checks run.
    pub checks: u64,
    /// Of which failed or unreachable.
    pub failures: u64,
    /// Of which hit the engine's timeout.
    pub timeouts: u64,
    /// Of which panicked.
    pub panics: u64,
    /// Results stored.
    pub results_written: u64,
    /// Results not stored: the buffer was full during a store outage (the
    /// oldest are dropped), or the store refused them for good (of which
    /// `results_rejected`).
    pub results_dropped: u64,
    /// Results the store refused with a permanent error (e.g. a time out
    /// of its range), isolated from their batch and dropped; the rest of
    /// the batch was written. Included in `results_dropped`.
    pub results_rejected: u64,
    /// Transition writes (alerts, heal events, status windows, lifecycle
    /// events, snapshots) not queued because the effects queue was full
    /// during a store outage (`limits.effects_capacity`).
    pub effects_dropped: u64,
    /// Background writes given up on because the store refused them with
    /// a permanent error (or an unclassified one, repeatedly): transition
    /// writes, and the writer's rollup deltas and state records.
    pub effects_failed: u64,
    /// Failed store writes (each try counts; transient ones are retried).
    pub store_errors: u64,
    /// Results waiting to be written.
    pub buffer_depth: u64,
    /// Heal actions started.
    pub heal_attempts: u64,
    /// Checks claimed under a lease (multi-instance claims mode).
    pub claimed: u64,
    /// Claimed runs whose effects were refused because the lease was lost
    /// (another instance owns the check now); nothing of them was written.
    pub fenced: u64,
    /// Notifications delivered.
    pub notifications_sent: u64,
    /// Notifications given up on.
    pub notifications_failed: u64,
    /// External notifications not sent because the target's channel config
    /// is disabled (`enabled = false`).
    pub notifications_silenced: u64,
    /// Worst scheduling lateness seen, µs.
    pub lateness_max_us: u64,
    /// Sum of scheduling lateness, µs (divide by checks for the mean).
    pub lateness_sum_us: u64,
    /// 99th percentile of scheduling lateness (upper bound), µs.
    pub lateness_p99_us: u64,
    /// Scheduled runs per lateness bucket: bucket i counts lateness in
    /// [2^i, 2^(i+1)) µs (bucket 0 also holds 0). Two snapshots give the
    /// quantiles of the runs between them
    /// ([`MetricsSnapshot::lateness_quantile_since`]).
    pub lateness_hist: [u64; 32],
    /// Observations with a latency per bucket of [`LATENCY_BUCKETS`] (not
    /// cumulative; the last is above the largest bound).
    pub latency_buckets: [u64; 12],
    /// Sum of observed latencies, µs.
    pub latency_sum_us: u64,
}

impl EngineMetrics {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn record_lateness(&self, us: u64) {
        self.lateness_sum_us.fetch_add(us, Ordering::Relaxed);
        self.lateness_max_us.fetch_max(us, Ordering::Relaxed);
        let i = (64 - us.leading_zeros()).saturating_sub(1).min(31) as usize;
        self.lateness_hist[i].fetch_add(1, Ordering::Relaxed);
    }

    /// The lateness below which `q` (0..=1) of the runs fell, in µs: an
    /// upper bound from the power-of-two histogram.
    pub fn lateness_quantile_us(&self, q: f64) -> u64 {
        let counts: [u64; 32] =
            std::array::from_fn(|i| self.lateness_hist[i].load(Ordering::Relaxed));
        hist_quantile(&counts, q)
    }

    /// Counts one observed check latency.
    pub(crate) fn record_latency(&self, latency: std::time::Duration) {
        let secs = latency.as_secs_f64();
        let i = LATENCY_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        if let Some(b) = self.latency_buckets.get(i) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let lateness_hist = std::array::from_fn(|i| self.lateness_hist[i].load(Ordering::Relaxed));
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MetricsSnapshot {
            checks: r(&self.checks),
            failures: r(&self.failures),
            timeouts: r(&self.timeouts),
            panics: r(&self.panics),
            results_written: r(&self.results_written),
            results_dropped: r(&self.results_dropped),
            results_rejected: r(&self.results_rejected),
            effects_dropped: r(&self.effects_dropped),
            effects_failed: r(&self.effects_failed),
            store_errors: r(&self.store_errors),
            buffer_depth: r(&self.buffer_depth),
            heal_attempts: r(&self.heal_attempts),
            claimed: r(&self.claimed),
            fenced: r(&self.fenced),
            notifications_sent: r(&self.notifications_sent),
            notifications_failed: r(&self.notifications_failed),
            notifications_silenced: r(&self.notifications_silenced),
            lateness_max_us: r(&self.lateness_max_us),
            lateness_sum_us: r(&self.lateness_sum_us),
            lateness_p99_us: hist_quantile(&lateness_hist, 0.99),
            lateness_hist,
            latency_buckets: std::array::from_fn(|i| {
                self.latency_buckets.get(i).map(r).unwrap_or(0)
            }),
            latency_sum_us: r(&self.latency_sum_us),
        }
    }
}

impl MetricsSnapshot {
    /// The lateness below which `q` (0..=1) of the runs between `earlier`
    /// and this snapshot fell, in µs (an upper bound from the power-of-two
    /// histogram; 0 when no run happened in between).
    pub fn lateness_quantile_since(&self, earlier: &MetricsSnapshot, q: f64) -> u64 {
        let counts: [u64; 32] =
            std::array::from_fn(|i| self.lateness_hist[i].saturating_sub(earlier.lateness_hist[i]));
        hist_quantile(&counts, q)
    }
}

/// The upper bound of the bucket holding quantile `q` of a power-of-two
/// histogram.
fn hist_quantile(counts: &[u64; 32], q: f64) -> u64 {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return 0;
    }
    let want = ((total as f64) * q.clamp(0.0, 1.0)).ceil() as u64;
    let mut seen = 0;
    for (i, c) in counts.iter().enumerate() {
        seen += c;
        if seen >= want {
            return 1u64 << (i + 1);
        }
    }
    u64::MAX
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn latency_histogram_buckets() {
        let m = EngineMetrics::default();
        m.record_latency(Duration::from_millis(3));
        m.record_latency(Duration::from_millis(10));
        m.record_latency(Duration::from_secs(60));
        let s = m.snapshot();
        assert_eq!(s.latency_buckets[0], 1);
        assert_eq!(s.latency_buckets[1], 1);
        assert_eq!(s.latency_buckets[11], 1);
        assert_eq!(s.latency_buckets.iter().sum::<u64>(), 3);
        assert_eq!(s.latency_sum_us, 60_013_000);
    }

    #[test]
    fn lateness_quantile_between_snapshots() {
        let m = EngineMetrics::default();
        // a start-up burst of late runs, then punctual ones
        for _ in 0..100 {
            m.record_lateness(900_000);
        }
        let a = m.snapshot();
        for _ in 0..99 {
            m.record_lateness(3_000);
        }
        m.record_lateness(20_000);
        let b = m.snapshot();
        assert_eq!(b.lateness_p99_us, 1 << 20, "since start: the burst");
        assert_eq!(b.lateness_quantile_since(&a, 0.99), 1 << 12);
        assert_eq!(b.lateness_quantile_since(&a, 1.0), 1 << 15);
        assert_eq!(a.lateness_quantile_since(&a, 0.99), 0);
    }
}
