//! Periodic jobs on the engine's timers: the tick (staleness, install
//! timeouts, breaker cooldowns, reminders, escalation, time-in-status
//! rollups), snapshots and retention. Each runs in one task, so a job never
//! overlaps itself; a slow run delays the next instead of stacking. In
//! claims mode the tick and snapshots cover only the targets this
//! instance owns (see `claims.rs`).

use std::sync::Arc;

use tokio::time::{Instant, MissedTickBehavior};

use super::{Inner, claims, effects, lock};

pub(crate) async fn run(inner: Arc<Inner>) {
    let jobs = inner.config.jobs.clone();
    let start = Instant::now();
    let mut tick = tokio::time::interval_at(start + jobs.tick, jobs.tick);
    let mut snap = tokio::time::interval_at(start + jobs.snapshot, jobs.snapshot);
    let mut retention = tokio::time::interval_at(start + jobs.retention, jobs.retention);
    for i in [&mut tick, &mut snap, &mut retention] {
        i.set_missed_tick_behavior(MissedTickBehavior::Delay);
    }
    let mut stop = inner.stop.subscribe();
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        tokio::select! {
            _ = tick.tick() => {
                let now = inner.clock.now();
                let mut out = Vec::new();
                if inner.claims.is_some() {
                    // other instances may have changed the configuration
                    claims::reload_config(&inner).await;
                }
                match &inner.claims {
                    // claims mode: only the targets this instance owns
                    Some(c) => {
                        let ids = c.owned_targets(claims::ownership_horizon(&inner));
                        lock(&inner.fleet).tick_some(&ids, now, &mut out);
                    }
                    None => lock(&inner.fleet).tick(now, &mut out),
                }
                effects::dispatch(&inner, out);
                let summary = lock(&inner.fleet).summary(None, now);
                let _ = inner.events.send(crate::event::Event::SummaryUpdated { summary });
            }
            _ = snap.tick() => {
                let now = inner.clock.now();
                let mut out = Vec::new();
                lock(&inner.fleet).snapshots(now, &mut out);
                if let Some(c) = &inner.claims {
                    let ids: std::collections::HashSet<_> = c
                        .owned_targets(claims::ownership_horizon(&inner))
                        .into_iter()
                        .collect();
                    out.retain(|d| match d {
                        crate::fleet::Decision::Snapshot { snapshot, .. } => ids.contains(&snapshot.target),
                        _ => true,
                    });
                }
                effects::dispatch(&inner, out);
            }
            _ = retention.tick() => {
                let now = inner.clock.now();
                match inner.store.purge(&inner.config.retention, now).await {
                    Ok(r) => tracing::info!(results = r.results, entries = r.entries, rollups = r.rollups, alerts = r.alerts, "retention cleanup"),
                    Err(e) => tracing::warn!(error = %e, "retention cleanup failed"),
                }
            }
            _ = stop.changed() => return,
        }
    }
}
