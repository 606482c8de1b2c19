//! The built-in heartbeat reporter: an in-process task that reports a
//! heartbeat for a passive target every interval, as an agent on that
//! node would with `POST /report`. The demo feeds its "demo node" with it.

use std::time::Duration;

use healthcore::engine::Engine;
use healthcore::lifecycle::{LifecycleEventType, LifecycleReport};
use healthcore::model::TargetId;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Starts reporting for `target` every `interval` (the first report at
/// once) until `stop` turns true.
pub fn spawn(
    engine: Engine,
    target: TargetId,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            let report = LifecycleReport::new(LifecycleEventType::Heartbeat)
                .with_message("healthd built-in reporter");
            match engine.report(&target, &report) {
                Ok(_) => tracing::debug!(target_id = %target, "heartbeat reported"),
                Err(e) => tracing::warn!(target_id = %target, error = %e, "heartbeat refused"),
            }
        }
    })
}
