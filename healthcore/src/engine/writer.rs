//! The writer task: results, rollup deltas and changed state go to the
//! store in batches, off the probe path.
//!
//! When the store fails, what happens depends on the error
//! ([`retry`](super::retry)):
//!
//! - **transient** (unreachable, overloaded): the batch goes back to the
//!   buffer (bounded: beyond `limits.buffer_capacity` the oldest results
//!   are dropped and counted in `results_dropped`) and the write is
//!   retried with capped, jittered backoff while monitoring goes on;
//! - **permanent** (the store refuses the data, e.g. a time out of its
//!   range), or unclassified several times in a row: the batch is
//!   *isolated* — written again in halves, recursively — so the good rows
//!   are stored and only a row the store refuses on its own is dropped,
//!   counted (`results_rejected`) and logged. One bad result never wedges
//!   the writer and never takes its batch down with it.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::metrics::EngineMetrics;
use super::retry::{self, Backoff, Class};
use super::{Inner, lock};
use crate::store::{ResultBatch, StateRecord, StoreError};

/// Rollup deltas go to the store at most this often (and at every
/// explicit flush and at shutdown). Each drain writes about three rows
/// (minute, hour, day) per target that had results, whatever the number
/// of results: at a 1 s check interval, draining every 500 ms flush
/// wrote three rollup rows per result; every 5 s, 0.6. Queries stay
/// exact meanwhile: uptime adds the fleet's pending buckets to the
/// stored ones.
pub(crate) const ROLLUP_EVERY: Duration = Duration::from_secs(5);

/// Changed state records serialised per write, at most. A record's JSON
/// tree is a few KiB while it waits for the store, so a start-up burst
/// (every target and check changed at once) written `batch_size` at a
/// time held megabytes that the allocator kept as resident memory
/// afterwards; in chunks of this size the writer loops a few more times
/// instead.
const STATE_CHUNK: usize = 256;

/// Targets whose rollup deltas are drained per write, at most (about
/// three buckets each); the writer loops while more are left. Draining a
/// 50,000-target fleet at once made a 150,000-bucket vector every five
/// seconds.
const ROLLUP_CHUNK: usize = 1024;

pub(crate) async fn run(inner: Arc<Inner>) {
    let mut stop = inner.stop.subscribe();
    let mut backoff = Backoff::new(
        Duration::from_millis(100),
        inner.config.limits.max_retry_backoff,
    );
    let mut failing = false;
    loop {
        if *stop.borrow_and_update() {
            let mut pending = inner.pending.lock().await;
            // everything, chunk by chunk (bounded: shutdown must end)
            for _ in 0..1000 {
                if !matches!(write_once(&inner, &mut pending, true).await, Ok(true)) {
                    break;
                }
            }
            return;
        }
        let wait = if failing {
            backoff.next_delay()
        } else {
            inner.config.limits.flush_interval
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = inner.flush.notified() => {}
            _ = stop.changed() => {}
        }
        let stopping = *stop.borrow();
        let mut pending = inner.pending.lock().await;
        loop {
            let rollups_due = pending
                .rollups_at
                .is_none_or(|t| t.elapsed() >= ROLLUP_EVERY);
            match write_once(&inner, &mut pending, stopping || rollups_due).await {
                Ok(more) => {
                    failing = false;
                    backoff.reset();
                    if !more {
                        break;
                    }
                }
                Err(()) => {
                    failing = true;
                    break;
                }
            }
        }
        if stopping {
            // one last attempt at everything, then leave
            let _ = write_once(&inner, &mut pending, true).await;
            return;
        }
        drop(pending);
    }
}

/// What a failed write left behind for the next try, shared by the
/// writer task and explicit flushes ([`flush_all`]): rollup deltas and
/// state records taken from the fleet stay here until written, whoever
/// tried; holding the lock also keeps two writes from interleaving.
pub(crate) type SharedPending = tokio::sync::Mutex<Pending>;

/// What a failed write left behind for the next try.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    batch: ResultBatch,
    states: Vec<StateRecord>,
    /// When rollups were last drained from the fleet.
    rollups_at: Option<Instant>,
    /// A drain of the fleet's rollup deltas is under way (chunked).
    rollups_left: bool,
    /// Failed tries of the pending results in a row.
    result_failures: u32,
    /// Failed tries of the pending states in a row.
    state_failures: u32,
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
        // a drain started goes on, a chunk per write, until every
        // target's deltas are taken
        if rollups || pending.rollups_left {
            if !pending.rollups_left {
                pending.rollups_at = Some(Instant::now());
            }
            let (buckets, left) = fleet.drain_rollups_up_to(ROLLUP_CHUNK);
            pending.batch.rollups.extend(buckets);
            pending.rollups_left = left;
            more |= left;
        }
        // bounded per write: a burst of changes (start-up) is serialised
        // a chunk at a time, not all at once (the writer loops while more
        // is left)
        let (states, left) = fleet.take_dirty_states_up_to(now, limit.min(STATE_CHUNK));
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
                pending.result_failures = 0;
            }
            Err(e) => {
                EngineMetrics::add(&inner.metrics.store_errors, 1);
                pending.result_failures += 1;
                if retry::should_retry(&e, pending.result_failures) {
                    tracing::warn!(error = %e, buffered = pending.batch.results.len(),
                        attempt = pending.result_failures, "result write failed; will retry");
                    requeue(inner, pending);
                    return Err(());
                }
                tracing::warn!(error = %e, results = pending.batch.results.len(),
                    rollups = pending.batch.rollups.len(),
                    "result batch refused; writing it in parts to isolate what the store refuses");
                pending.result_failures = 0;
                let batch = std::mem::take(&mut pending.batch);
                if let Err(rest) = isolate(inner, batch).await {
                    // the store went away meanwhile: keep what is left for later
                    pending.batch = rest;
                    requeue(inner, pending);
                    return Err(());
                }
            }
        }
    }
    if !pending.states.is_empty() {
        match inner.store.put_states(&pending.states).await {
            Ok(()) => {
                pending.states.clear();
                pending.state_failures = 0;
            }
            Err(e) => {
                EngineMetrics::add(&inner.metrics.store_errors, 1);
                pending.state_failures += 1;
                if retry::should_retry(&e, pending.state_failures) {
                    tracing::warn!(error = %e, attempt = pending.state_failures, "state write failed; will retry");
                    return Err(());
                }
                pending.state_failures = 0;
                let states = std::mem::take(&mut pending.states);
                if let Err(rest) = isolate_states(inner, states, &e).await {
                    pending.states = rest;
                    return Err(());
                }
            }
        }
    }
    Ok(more)
}

/// Writes a batch the store refused as a whole in halves, recursively,
/// in order: what the store accepts is written, a single result (or
/// rollup delta) it refuses on its own is dropped, counted and logged.
/// A transient failure stops the isolation: `Err` holds what is left.
///
/// A single row failing with an *unclassified* error is only dropped when
/// some other part of the batch was written; when nothing was, the store
/// (not the data) is the likely problem and those rows are kept.
async fn isolate(inner: &Inner, batch: ResultBatch) -> Result<(), ResultBatch> {
    let mut stack = vec![batch];
    let mut wrote_any = false;
    let mut unclassified = ResultBatch::default();
    while let Some(part) = stack.pop() {
        if part.is_empty() {
            continue;
        }
        let e = match inner.store.append_results(&part).await {
            Ok(()) => {
                wrote_any = true;
                EngineMetrics::add(&inner.metrics.results_written, part.results.len() as u64);
                continue;
            }
            Err(e) => e,
        };
        EngineMetrics::add(&inner.metrics.store_errors, 1);
        let class = retry::classify(&e);
        if class == Class::Transient {
            let mut rest = part;
            while let Some(p) = stack.pop() {
                rest.results.extend(p.results);
                rest.rollups.extend(p.rollups);
            }
            rest.results.extend(unclassified.results);
            rest.rollups.extend(unclassified.rollups);
            return Err(rest);
        }
        if part.results.len() + part.rollups.len() > 1 {
            let (first, second) = split(part);
            stack.push(second);
            stack.push(first);
        } else if class == Class::Unknown {
            unclassified.results.extend(part.results);
            unclassified.rollups.extend(part.rollups);
        } else {
            reject(inner, part, &e);
        }
    }
    if unclassified.is_empty() {
        Ok(())
    } else if wrote_any {
        let e = StoreError::Data(
            "refused with an unclassified error while the rest of its batch was written".into(),
        );
        for r in unclassified.results {
            reject(
                inner,
                ResultBatch {
                    results: vec![r],
                    rollups: vec![],
                },
                &e,
            );
        }
        for b in unclassified.rollups {
            reject(
                inner,
                ResultBatch {
                    results: vec![],
                    rollups: vec![b],
                },
                &e,
            );
        }
        Ok(())
    } else {
        Err(unclassified)
    }
}

/// Splits a batch of at least two rows (results first, then rollup
/// deltas) into two non-empty halves, keeping order.
fn split(mut b: ResultBatch) -> (ResultBatch, ResultBatch) {
    let n = b.results.len();
    let k = (n + b.rollups.len()) / 2;
    if k <= n {
        let results = b.results.split_off(k);
        let second = ResultBatch {
            results,
            rollups: std::mem::take(&mut b.rollups),
        };
        (b, second)
    } else {
        let rollups = b.rollups.split_off(k - n);
        (
            b,
            ResultBatch {
                results: Vec::new(),
                rollups,
            },
        )
    }
}

/// Drops one row the store refused, counting and logging it.
fn reject(inner: &Inner, row: ResultBatch, e: &StoreError) {
    for r in &row.results {
        EngineMetrics::add(&inner.metrics.results_rejected, 1);
        EngineMetrics::add(&inner.metrics.results_dropped, 1);
        tracing::error!(check = %r.key, at = %r.observation.at, error = %e,
            "result refused by the store; dropped (the rest of its batch was written)");
    }
    for b in &row.rollups {
        EngineMetrics::add(&inner.metrics.effects_failed, 1);
        tracing::error!(target_id = %b.target, start = %b.bucket.start, error = %e,
            "rollup delta refused by the store; dropped");
    }
}

/// Writes state records one by one after their batch was refused: a
/// record the store refuses is dropped (counted, logged; the next
/// transition writes that scope again). A transient failure stops it:
/// `Err` holds what is left.
async fn isolate_states(
    inner: &Inner,
    states: Vec<StateRecord>,
    first: &StoreError,
) -> Result<(), Vec<StateRecord>> {
    tracing::warn!(error = %first, records = states.len(), "state batch refused; writing records one by one");
    let mut left = states.into_iter();
    while let Some(record) = left.next() {
        match inner.store.put_states(std::slice::from_ref(&record)).await {
            Ok(()) => {}
            Err(e) if retry::classify(&e) == Class::Transient => {
                EngineMetrics::add(&inner.metrics.store_errors, 1);
                let mut rest = vec![record];
                rest.extend(left);
                return Err(rest);
            }
            Err(e) => {
                EngineMetrics::add(&inner.metrics.store_errors, 1);
                EngineMetrics::add(&inner.metrics.effects_failed, 1);
                tracing::error!(scope = ?record.scope, error = %e, "state record refused by the store; dropped");
            }
        }
    }
    Ok(())
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
    let mut pending = inner.pending.lock().await;
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
