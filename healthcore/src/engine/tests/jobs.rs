//! The periodic jobs on paused time: snapshots every five minutes,
//! retention daily, none overlapping itself or holding back the others.

use super::*;
use crate::store::StoreExt;

/// Moves paused time forward in `step`s (the jobs' periods are minutes
/// and days; a second per step would be needlessly slow).
async fn advance_by(total: Duration, step: Duration) {
    let mut left = total;
    while !left.is_zero() {
        let s = left.min(step);
        tokio::time::advance(s).await;
        settle().await;
        left -= s;
    }
}

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// Snapshots of `t` taken at or after `since`.
async fn snapshots_since(
    store: &dyn Store,
    t: &str,
    since: chrono::DateTime<Utc>,
) -> Vec<crate::store::Snapshot> {
    store.snapshots(&tid(t), since).await.expect("snapshots")
}

async fn snapshots_of(store: &dyn Store, t: &str) -> Vec<crate::store::Snapshot> {
    snapshots_since(store, t, start() - chrono::Duration::days(1)).await
}

#[tokio::test(start_paused = true)]
async fn snapshots_are_written_every_five_minutes_for_each_target() {
    let r = rig();
    r.engine.start().await.expect("start");
    // the jobs' timers start when their task first runs
    settle().await;
    for t in ["a", "b", "c"] {
        r.engine
            .add_target(Target::new(tid(t), t))
            .await
            .expect("target");
    }
    advance_by(4 * MINUTE + Duration::from_secs(59), Duration::from_secs(1)).await;
    for t in ["a", "b", "c"] {
        assert!(snapshots_of(r.store.as_ref(), t).await.is_empty(), "{t}");
    }
    advance_by(Duration::from_secs(2), Duration::from_secs(1)).await;
    for t in ["a", "b", "c"] {
        let snaps = snapshots_of(r.store.as_ref(), t).await;
        assert_eq!(snaps.len(), 1, "{t}: {snaps:?}");
        assert_eq!(snaps[0].timestamp, start() + chrono::Duration::minutes(5));
        assert_eq!(snaps[0].target, tid(t));
    }
    advance_by(10 * MINUTE, Duration::from_secs(1)).await;
    for t in ["a", "b", "c"] {
        let at: Vec<_> = snapshots_of(r.store.as_ref(), t)
            .await
            .iter()
            .map(|s| s.timestamp)
            .collect();
        let want: Vec<_> = [5, 10, 15]
            .iter()
            .map(|m| start() + chrono::Duration::minutes(*m))
            .collect();
        assert_eq!(at, want, "{t}");
    }
    r.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn retention_runs_daily_never_overlaps_itself_and_never_holds_back_the_others() {
    let mem = Arc::new(InMemoryStore::new());
    let (outage, _switch) = OutageStore::new(mem.clone());
    let faults = Arc::new(outage);
    let engine = Engine::builder(faults.clone())
        .clock(Arc::new(TokioClock::new(start())))
        .checker(ScriptedChecker::new("fake"))
        .build()
        .expect("build");
    engine.start().await.expect("start");
    settle().await;
    engine
        .add_target(Target::new(tid("a"), "a"))
        .await
        .expect("target");
    let mut events = engine.subscribe();
    advance_by(23 * HOUR + 59 * MINUTE, MINUTE).await;
    assert_eq!(faults.purges(), 0);
    advance_by(2 * MINUTE, MINUTE).await;
    assert_eq!(faults.purges(), 1, "one purge after a day");
    advance_by(23 * HOUR, MINUTE).await;
    assert_eq!(faults.purges(), 1);
    // from now on a purge takes 30 h: longer than its period
    faults.purge_delay(30 * HOUR);
    advance_by(2 * HOUR, MINUTE).await;
    assert_eq!(
        faults.purges(),
        2,
        "the second day's purge started (at 48 h)"
    );
    let purging_since = engine.now();
    while events.try_recv().is_ok() {}
    // 49 h → 76 h: the purge runs; the 72 h one is not started beside it
    advance_by(27 * HOUR, MINUTE).await;
    assert_eq!(faults.purges(), 2);
    assert_eq!(faults.max_concurrent_purges(), 1);
    // meanwhile the other jobs kept their rhythm
    let snaps = snapshots_since(mem.as_ref(), "a", purging_since)
        .await
        .len();
    assert_eq!(
        snaps,
        27 * 12,
        "snapshots every 5 min during the slow purge"
    );
    let mut summaries = 0;
    while let Ok(e) = events.try_recv() {
        if e.name() == "health:summary_updated" {
            summaries += 1;
        }
    }
    assert_eq!(
        summaries,
        27 * 60,
        "a tick every minute during the slow purge"
    );
    // it ends at 78 h; the missed 72 h run starts then, once (not stacked)
    advance_by(2 * HOUR, MINUTE).await;
    assert_eq!(faults.purges(), 3);
    advance_by(27 * HOUR, MINUTE).await;
    assert_eq!(
        faults.purges(),
        3,
        "the 102 h run waits for the one in flight"
    );
    assert_eq!(faults.max_concurrent_purges(), 1);
    engine.shutdown().await;
}
