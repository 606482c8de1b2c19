//! Per-check scheduling: one task per check, so a check never overlaps
//! itself; a global semaphore bounds concurrency; every probe runs in its
//! own task under the spec's timeout, so a panic or a hang becomes an
//! observation, never a dead engine.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::metrics::EngineMetrics;
use super::{EngineError, Inner, effects, lock};
use crate::model::{CheckKey, CheckSpec, Observation, Outcome, Status};
use crate::store::StoredResult;

/// A small deterministic PRNG for jitter (no dependency, no global state).
struct Jitter(u64);

impl Jitter {
    fn new(key: &CheckKey) -> Self {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        Jitter(h.finish() | 1)
    }

    fn next(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn up_to(&mut self, max: Duration) -> Duration {
        let nanos = max.as_nanos().min(u128::from(u64::MAX)) as u64;
        if nanos == 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos(self.next() % nanos)
        }
    }
}

pub(crate) fn spawn_check(inner: &Arc<Inner>, key: CheckKey, spec: CheckSpec) {
    let me = inner.clone();
    let k = key.clone();
    // the first run is due from now (spread over the interval so a fleet
    // does not start at once), whenever the task first gets to run
    let mut jitter = Jitter::new(&key);
    let first = Instant::now() + jitter.up_to(spec.interval);
    let handle = tokio::spawn(async move { run_loop(me, k, Arc::new(spec), jitter, first).await });
    if let Some(old) = lock(&inner.check_tasks).insert(key, handle) {
        old.abort();
    }
}

pub(crate) fn stop_check(inner: &Arc<Inner>, key: &CheckKey) {
    if let Some(h) = lock(&inner.check_tasks).remove(key) {
        h.abort();
    }
}

pub(crate) fn run_lock(inner: &Inner, key: &CheckKey) -> Arc<tokio::sync::Mutex<()>> {
    lock(&inner.run_locks)
        .entry(key.clone())
        .or_default()
        .clone()
}

async fn run_loop(
    inner: Arc<Inner>,
    key: CheckKey,
    spec: Arc<CheckSpec>,
    mut jitter: Jitter,
    first: Instant,
) {
    let mut next = first;
    let run_lock = run_lock(&inner, &key);
    // the checkers are fixed at build: resolve this check's once
    let checker = inner.checkers.get(&spec.kind).cloned();
    loop {
        // No wait on the stop channel here: shutdown sets it and then
        // aborts every check task, so a sleeping task never outlives it
        // (and 10,000 tasks do not queue on one notification list).
        if *inner.stop.borrow() {
            return;
        }
        tokio::time::sleep_until(next).await;
        if *inner.stop.borrow() {
            return;
        }
        let late = Instant::now().saturating_duration_since(next);
        inner
            .metrics
            .record_lateness(late.as_micros().min(u128::from(u64::MAX)) as u64);
        // boxed: what a run awaits (the run lock, a concurrency slot, the
        // probe and its timeout timer) lives only while it runs, not in
        // every sleeping task
        let go_on = Box::pin(run_once(&inner, &key, &run_lock, checker.as_ref(), &spec)).await;
        if !go_on {
            return;
        }
        next += spec.interval + jitter.up_to(spec.jitter);
        let now = Instant::now();
        if next < now {
            // fell behind (a run outlasted its interval): skip missed runs
            next = now;
        }
    }
}

/// One scheduled run: waits for the check's run lock and a slot of the
/// concurrency bound, probes and feeds the result; `false` when the task
/// should end (the engine stopped or the check was removed meanwhile).
async fn run_once(
    inner: &Arc<Inner>,
    key: &CheckKey,
    run_lock: &tokio::sync::Mutex<()>,
    checker: Option<&Arc<dyn crate::checker::Checker>>,
    spec: &Arc<CheckSpec>,
) -> bool {
    let _running = run_lock.lock().await;
    let Ok(permit) = inner.semaphore.clone().acquire_owned().await else {
        return false;
    };
    let obs = probe_with(inner, checker, spec, false).await;
    drop(permit);
    if let Err(e) = ingest(inner, key, obs) {
        tracing::debug!(check = %key, error = %e, "check removed while running");
        return false;
    }
    true
}

/// Runs one probe under its timeout, isolating panics.
pub(crate) async fn run_probe(inner: &Inner, spec: &Arc<CheckSpec>) -> Observation {
    probe(inner, spec, false).await
}

/// Runs one probe (or its diagnose variant) under its timeout.
pub(crate) async fn probe(inner: &Inner, spec: &Arc<CheckSpec>, diagnose: bool) -> Observation {
    let checker = inner.checkers.get(&spec.kind).cloned();
    probe_with(inner, checker.as_ref(), spec, diagnose).await
}

/// [`probe`] with the checker of the spec's kind already looked up.
async fn probe_with(
    inner: &Inner,
    checker: Option<&Arc<dyn crate::checker::Checker>>,
    spec: &Arc<CheckSpec>,
    diagnose: bool,
) -> Observation {
    let started = Instant::now();
    let Some(checker) = checker else {
        return Observation::new(inner.clock.now(), Outcome::Unknown)
            .with_message(format!("no checker registered for kind {:?}", spec.kind));
    };
    // run inline (no task per probe): a timeout drops the future, a panic
    // is caught and becomes an `unknown` observation
    use futures_util::FutureExt;
    let fut = async {
        if diagnose {
            checker.diagnose(spec).await
        } else {
            checker.check(spec).await
        }
    };
    let mut fut = std::pin::pin!(std::panic::AssertUnwindSafe(fut).catch_unwind());
    // a probe that completes at its first poll needs no timer (in-process
    // checkers, cached answers); the others run under the deadline
    let first = std::future::poll_fn(|cx| {
        std::task::Poll::Ready(std::future::Future::poll(fut.as_mut(), cx))
    })
    .await;
    let result = match first {
        std::task::Poll::Ready(r) => Ok(r),
        std::task::Poll::Pending => tokio::time::timeout_at(started + spec.timeout, fut).await,
    };
    let mut obs = match result {
        Ok(Ok(obs)) => obs,
        Ok(Err(panic)) => {
            EngineMetrics::add(&inner.metrics.panics, 1);
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic".to_owned());
            tracing::error!(kind = %spec.kind, panic = %what, "checker panicked");
            Observation::new(inner.clock.now(), Outcome::Unknown).with_message("checker panicked")
        }
        Err(_) => {
            EngineMetrics::add(&inner.metrics.timeouts, 1);
            Observation::new(inner.clock.now(), Outcome::Unreachable)
                .with_message(format!(
                    "timed out after {}",
                    humantime::format_duration(spec.timeout)
                ))
                .with_latency(started.elapsed())
        }
    };
    obs.at = inner.clock.now();
    if obs.latency.is_none() {
        obs.latency = Some(started.elapsed());
    }
    obs
}

/// How far past the engine's clock a pushed observation may be (an
/// agent's clock running ahead); later is refused.
pub(crate) const MAX_FUTURE_SKEW: Duration = Duration::from_secs(24 * 3600);

/// Refuses an observation time no store could keep sensibly: before the
/// Unix epoch, or more than [`MAX_FUTURE_SKEW`] past the engine's clock.
/// Such a time would otherwise reach the writer and be refused there
/// (PostgreSQL's `timestamptz` has a range), after the rules had already
/// counted it.
pub(crate) fn check_time(inner: &Inner, obs: &Observation) -> Result<(), EngineError> {
    let now = inner.clock.now();
    let latest = now
        + chrono::Duration::from_std(MAX_FUTURE_SKEW).unwrap_or_else(|_| chrono::Duration::zero());
    if obs.at < chrono::DateTime::<chrono::Utc>::UNIX_EPOCH || obs.at > latest {
        return Err(crate::error::ValidationError::new(
            "at",
            format!(
                "observation time {} is out of range: it must be after 1970-01-01T00:00:00Z \
                 and at most {} ahead of the engine's clock ({now})",
                obs.at,
                humantime::format_duration(MAX_FUTURE_SKEW)
            ),
        )
        .into());
    }
    Ok(())
}

/// [`ingest`] for an observation from outside (push checks, replay): its
/// time is checked first ([`check_time`]); nothing is counted when it is
/// refused.
pub(crate) fn ingest_pushed(
    inner: &Arc<Inner>,
    key: &CheckKey,
    obs: Observation,
) -> Result<Status, EngineError> {
    check_time(inner, &obs)?;
    ingest(inner, key, obs)
}

/// Feeds one observation through the fleet and queues its result.
pub(crate) fn ingest(
    inner: &Arc<Inner>,
    key: &CheckKey,
    obs: Observation,
) -> Result<Status, EngineError> {
    let mut out = Vec::new();
    let status = lock(&inner.fleet).observe(key, &obs, &mut out)?;
    if !out.is_empty() {
        effects::dispatch(inner, out);
    }
    record(inner, key, obs, status);
    Ok(status)
}

/// Counts an observation and queues its result for the writer.
pub(crate) fn record(inner: &Inner, key: &CheckKey, obs: Observation, status: Status) {
    EngineMetrics::add(&inner.metrics.checks, 1);
    if obs.outcome.is_failure() {
        EngineMetrics::add(&inner.metrics.failures, 1);
    }
    if let Some(latency) = obs.latency {
        inner.metrics.record_latency(latency);
    }
    let full = {
        let mut buf = lock(&inner.buffer);
        if buf.len() >= inner.config.limits.buffer_capacity {
            buf.pop_front();
            EngineMetrics::add(&inner.metrics.results_dropped, 1);
        }
        buf.push_back(StoredResult {
            key: key.clone(),
            observation: obs,
            status,
        });
        buf.len() >= inner.config.limits.batch_size
    };
    if full {
        inner.flush.notify_one();
    }
}
