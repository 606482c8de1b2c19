//! The writer task: results, rollup deltas and changed state go to the
//! store in batches, off the probe path. When the store fails the batch
//! stays buffered (bounded; the oldest results are dropped and counted
//! beyond the capacity) and the write is retried with capped, jittered
//! backoff while monitoring goes on.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::metrics::EngineMetrics;
use super::{Inner, lock};
use crate::store::{ResultBatch, StateRecord};

/// Rollup deltas go to the store at most this often (and at every
/// explicit flush and at shutdown). Each drain writes about three rows
/// (minute, hour, day) per target that had results, whatever the number
/// of results: at a 1 s check interval, draining every 500 ms flush
/// wrote three rollup rows per result; every 5 s, 0.6. Queries stay
/// exact meanwhile: uptime adds the fleet's pending buckets to the
/// stored ones.
pub(crate) const ROLLUP_EVERY: Duration = Duration::from_secs(5);

pub(crate) async fn run(inner: Arc<Inner>) {
    let mut stop = inner.stop.subscribe();
    let mut backoff = Duration::ZERO;
    let mut pending = Pending::default();
    loop {
        if *stop.borrow_and_update() {
            let _ = write_once(&inner, &mut pending, true).await;
            return;
        }
        let wait = if backoff.is_zero() {
            inner.config.limits.flush_interval
        } else {
            backoff
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = inner.flush.notified() => {}
            _ = stop.changed() => {}
        }
        let stopping = *stop.borrow();
        loop {
            let rollups_due = pending
                .rollups_at
                .is_none_or(|t| t.elapsed() >= ROLLUP_EVERY);
            match write_once(&inner, &mut pending, stopping || rollups_due).await {
                Ok(more) => {
                    backoff = Duration::ZERO;
                    if !more {
                        break;
                    }
                }
                Err(()) => {
                    backoff = next_backoff(backoff, inner.config.limits.max_retry_backoff);
                    break;
                }
            }
        }
        if stopping {
            // one last attempt at everything, then leave
            let _ = write_once(&inner, &mut pending, true).await;
            return;
        }
    }
}

fn next_backoff(prev: Duration, max: Duration) -> Duration {
    let base = if prev.is_zero() {
        Duration::from_millis(100)
    } else {
        prev.saturating_mul(2)
    };
    let capped = base.min(max);
    // ±25 % jitter from the clock's sub-second noise
    let noise = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let quarter = capped / 4;
    let offset = if quarter.is_zero() {
        Duration::ZERO
    } else {
        Duration::from_nanos(u64::from(noise) % (quarter.as_nanos() as u64 * 2 + 1))
    };
    (capped - quarter + offset).min(max.max(Duration::from_millis(1)))
}

/// What a failed write left behind for the next try.
#[derive(Default)]
pub(crate) struct Pending {
    batch: ResultBatch,
    states: Vec<StateRecord>,
    /// When rollups were last drained from the fleet.
    rollups_at: Option<Instant>,
}

/// Writes one batch (with the fleet's pending rollup deltas when
/// `rollups`); `Ok(true)` when more results are waiting.
async fn write_once(inner: &Inner, pending: &mut Pending, rollups: bool) -> Result<bool, ()> {
    let limit = inner.config.limits.batch_size;
    let mut more;
    {
        let mut buf = lock(&inner.buffer);
        let room = limit.saturating_sub(pending.batch.results.len());
        let n = room.min(buf.len());
        pending.batch.results.extend(buf.drain(..n));
        more = !buf.is_empty();
        EngineMetrics::add(&inner.metrics.buffer_depth, 0);
    }
    {
        let now = inner.clock.now();
        let mut fleet = lock(&inner.fleet);
        if rollups {
            pending.batch.rollups.extend(fleet.drain_rollups());
            pending.rollups_at = Some(Instant::now());
        }
        // bounded per write: a burst of changes (start-up) is serialised
        // a batch at a time, not all at once
        let (states, left) = fleet.take_dirty_states_up_to(now, limit);
        merge_states(&mut pending.states, states);
        more |= left;
    }
    if !pending.batch.is_empty() {
        match inner.store.append_results(&pending.batch).await {
            Ok(()) => {
                EngineMetrics::add(
                    &inner.metrics.results_written,
                    pending.batch.results.len() as u64,
                );
                pending.batch = ResultBatch::default();
            }
            Err(e) => {
                EngineMetrics::add(&inner.metrics.store_errors, 1);
                tracing::warn!(error = %e, buffered = pending.batch.results.len(), "result write failed; will retry");
                requeue(inner, pending);
                return Err(());
            }
        }
    }
    if !pending.states.is_empty() {
        match inner.store.put_states(&pending.states).await {
            Ok(()) => pending.states.clear(),
            Err(e) => {
                EngineMetrics::add(&inner.metrics.store_errors, 1);
                tracing::warn!(error = %e, "state write failed; will retry");
                return Err(());
            }
        }
    }
    Ok(more)
}

/// Puts a failed batch's results back at the front of the buffer, dropping
/// the oldest beyond the capacity.
fn requeue(inner: &Inner, pending: &mut Pending) {
    let mut buf = lock(&inner.buffer);
    let results = std::mem::take(&mut pending.batch.results);
    for r in results.into_iter().rev() {
        buf.push_front(r);
    }
    let cap = inner.config.limits.buffer_capacity;
    while buf.len() > cap {
        buf.pop_front();
        EngineMetrics::add(&inner.metrics.results_dropped, 1);
    }
}

fn merge_states(into: &mut Vec<StateRecord>, new: Vec<StateRecord>) {
    if into.is_empty() {
        *into = new;
        return;
    }
    // last write wins per scope; index the pending ones (no quadratic scan)
    let mut index: std::collections::HashMap<crate::store::StateScope, usize> = into
        .iter()
        .enumerate()
        .map(|(i, r)| (r.scope.clone(), i))
        .collect();
    for s in new {
        match index.get(&s.scope) {
            Some(&i) => into[i] = s,
            None => {
                index.insert(s.scope.clone(), into.len());
                into.push(s);
            }
        }
    }
}

/// Flushes everything now (shutdown, tests), retrying a few times.
pub(crate) async fn flush_all(inner: &Arc<Inner>) {
    let mut pending = Pending::default();
    for _ in 0..1000 {
        match write_once(inner, &mut pending, true).await {
            Ok(false) => {
                if pending.batch.is_empty() && pending.states.is_empty() {
                    return;
                }
            }
            Ok(true) => {}
            Err(()) => return,
        }
    }
}
