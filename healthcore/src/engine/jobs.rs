//! Periodic jobs on the engine's timers: the tick (staleness, install
//! timeouts, breaker cooldowns, reminders, escalation, time-in-status
//! rollups), snapshots and retention.
//!
//! Each job has its own loop: a run of a job finishes before its next
//! starts, so a job never overlaps itself, and a missed period (a slow
//! retention purge on a big database) delays that job's next run instead
//! of stacking runs up. The loops run side by side, so a slow purge never
//! holds back the staleness tick or the snapshots. A stop cancels a
//! running job at its next await (a purge works in bounded chunks).
//!
//! In claims mode the tick and snapshots cover only the targets this
//! instance owns (see `claims.rs`).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};

use super::{Inner, claims, effects, lock};

/// One periodic job.
#[derive(Debug, Clone, Copy)]
enum Job {
    Tick,
    Snapshot,
    Retention,
}

pub(crate) async fn run(inner: Arc<Inner>) {
    let jobs = inner.config.jobs.clone();
    tokio::join!(
        every(&inner, jobs.tick, Job::Tick),
        every(&inner, jobs.snapshot, Job::Snapshot),
        every(&inner, jobs.retention, Job::Retention),
    );
}

/// Runs `job` every `period` (first one period from now) until stopped.
async fn every(inner: &Arc<Inner>, period: Duration, job: Job) {
    let mut timer = tokio::time::interval_at(Instant::now() + period, period);
    timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut stop = inner.stop.subscribe();
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        tokio::select! {
            _ = timer.tick() => {}
            _ = stop.changed() => return,
        }
        tokio::select! {
            _ = run_job(inner, job) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn run_job(inner: &Arc<Inner>, job: Job) {
    match job {
        Job::Tick => tick(inner).await,
        Job::Snapshot => snapshot(inner),
        Job::Retention => retention(inner).await,
    }
}

async fn tick(inner: &Arc<Inner>) {
    if inner.claims.is_some() {
        // other instances may have changed the configuration
        claims::reload_config(inner).await;
    }
    let now = inner.clock.now();
    let mut out = Vec::new();
    match &inner.claims {
        // claims mode: only the targets this instance owns
        Some(c) => {
            let ids = c.owned_targets(claims::ownership_horizon(inner));
            lock(&inner.fleet).tick_some(&ids, now, &mut out);
        }
        None => lock(&inner.fleet).tick(now, &mut out),
    }
    effects::dispatch(inner, out);
    let summary = lock(&inner.fleet).summary(None, now);
    let _ = inner
        .events
        .send(crate::event::Event::SummaryUpdated { summary });
}

fn snapshot(inner: &Arc<Inner>) {
    let now = inner.clock.now();
    let mut out = Vec::new();
    lock(&inner.fleet).snapshots(now, &mut out);
    if let Some(c) = &inner.claims {
        let ids: std::collections::HashSet<_> = c
            .owned_targets(claims::ownership_horizon(inner))
            .into_iter()
            .collect();
        out.retain(|d| match d {
            crate::fleet::Decision::Snapshot { snapshot, .. } => ids.contains(&snapshot.target),
            _ => true,
        });
    }
    effects::dispatch(inner, out);
}

async fn retention(inner: &Arc<Inner>) {
    let now = inner.clock.now();
    match inner.store.purge(&inner.config.retention, now).await {
        Ok(r) => tracing::info!(
            results = r.results,
            entries = r.entries,
            rollups = r.rollups,
            alerts = r.alerts,
            "retention cleanup"
        ),
        Err(e) => tracing::warn!(error = %e, "retention cleanup failed"),
    }
}
