//! Heal actions and notifications off the hot path: retried with capped,
//! jittered backoff when the failure is transient, never when it is
//! definitive; the heal event goes pending → success / failed.

use super::*;
use crate::heal::{HealEvent, HealResult};

/// A failing `vps` healed from its first failure (one decision: the
/// default cooldown of 10 min holds the next ones back).
async fn failing_vps(cfg: EngineConfig) -> (Rig, CheckKey) {
    let r = rig_with(Arc::new(InMemoryStore::new()), cfg, |b| b);
    r.engine.start().await.expect("start");
    r.engine
        .add_target(Target::new(tid("vps"), "vps"))
        .await
        .expect("target");
    let mut p = HealPolicy::new("p", TenantId::new("default").expect("t"), "restart");
    p.trigger_after_failures = 1;
    r.engine.put_heal_policy(p).await.expect("policy");
    r.checker.outcomes("s", [Outcome::Fail]);
    let key = r
        .engine
        .add_check(&tid("vps"), spec("s", 3600, 10))
        .await
        .expect("check");
    (r, key)
}

async fn heal_events(r: &Rig) -> Vec<HealEvent> {
    r.engine.flush().await;
    r.store
        .heal_events(&tid("vps"), PageRequest::max())
        .await
        .expect("events")
        .items
}

fn gaps(times: &[tokio::time::Instant]) -> Vec<Duration> {
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

#[tokio::test(start_paused = true)]
async fn a_heal_that_cannot_reach_the_target_is_retried_with_backoff_then_succeeds() {
    let (r, key) = failing_vps(EngineConfig::default()).await;
    r.healer.unreachable_next(2);
    r.engine.recheck(&key, "t").await.expect("recheck");
    // the event is pending while the healer is being retried
    tokio::time::sleep(Duration::from_millis(100)).await;
    let pending = heal_events(&r).await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].result, HealResult::Pending);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(r.healer.calls().len(), 3, "two unreachable, then it ran");
    let g = gaps(&r.healer.call_times());
    assert!(
        g[0] >= Duration::from_millis(500) && g[0] <= Duration::from_secs(1),
        "{g:?}"
    );
    assert!(
        g[1] >= Duration::from_secs(1) && g[1] <= Duration::from_secs(2),
        "{g:?}"
    );
    let events = heal_events(&r).await;
    assert_eq!(events.len(), 1, "one event, completed: {events:?}");
    assert_eq!(events[0].result, HealResult::Success);
    assert_eq!(r.engine.metrics().heal_attempts, 1, "one decision");
    r.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_heal_unreachable_for_the_whole_heal_timeout_is_recorded_failed() {
    let mut cfg = EngineConfig::default();
    cfg.limits.heal_timeout = Duration::from_secs(10);
    let (r, key) = failing_vps(cfg).await;
    r.healer.unreachable_next(1_000);
    r.engine.recheck(&key, "t").await.expect("recheck");
    tokio::time::sleep(Duration::from_secs(60)).await;
    // tries at 0, then after [0.5, 1], [1, 2], [2, 4], [4, 8] s while a
    // try still starts within the 10 s timeout: 4 or 5 of them
    let times = r.healer.call_times();
    assert!((4..=5).contains(&times.len()), "{times:?}");
    assert!(times[times.len() - 1] - times[0] < Duration::from_secs(10));
    let events = heal_events(&r).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e.result, HealResult::Failed);
    let error = e.error_message.as_deref().unwrap_or("");
    assert!(error.contains("unreachable"), "{error}");
    assert!(
        error.contains(&format!("{} attempts", times.len())),
        "{error}"
    );
    let took = e.completed_at.expect("completed") - e.triggered_at;
    assert!(took <= chrono::Duration::seconds(10), "{took}");
    r.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_definitive_heal_failure_is_not_retried() {
    let (r, key) = failing_vps(EngineConfig::default()).await;
    r.healer.results([false]);
    r.engine.recheck(&key, "t").await.expect("recheck");
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(r.healer.calls().len(), 1);
    let events = heal_events(&r).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].result, HealResult::Failed);
    assert_eq!(
        events[0].error_message.as_deref(),
        Some("scripted heal failure")
    );
    r.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_confirmed_restart_is_retried_while_the_target_cannot_be_reached() {
    let r = rig();
    r.engine.start().await.expect("start");
    r.engine
        .add_target(Target::new(tid("svc"), "svc"))
        .await
        .expect("target");
    r.healer.unreachable_next(1);
    let done = r
        .engine
        .restart(&tid("svc"), Some("svc"), "ann")
        .await
        .expect("restart");
    assert!(done.outcome.is_success(), "{done:?}");
    assert_eq!(r.healer.calls().len(), 2);
    r.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn notification_retries_back_off_with_jitter() {
    let other = RecordingNotifier::new("log2", Audience::Dashboard);
    let o = other.clone();
    let r = rig_with(
        Arc::new(InMemoryStore::new()),
        EngineConfig::default(),
        move |b| b.notifier(o),
    );
    r.engine.start().await.expect("start");
    r.engine
        .add_target(Target::new(tid("db"), "db"))
        .await
        .expect("target");
    r.checker.outcomes("s", [Outcome::Fail]);
    let mut s = spec("s", 3600, 10);
    s.failure_threshold = 1;
    let key = r.engine.add_check(&tid("db"), s).await.expect("check");
    r.dash.fail_next(2);
    other.fail_next(2);
    r.engine.recheck(&key, "t").await.expect("recheck");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut all = Vec::new();
    for n in [&r.dash, &other] {
        assert_eq!(n.sent().len(), 1, "delivered on the third attempt");
        let attempts = n.attempts();
        let ok: Vec<bool> = attempts.iter().map(|a| a.1).collect();
        assert_eq!(ok, [false, false, true]);
        let times: Vec<_> = attempts.iter().map(|a| a.0).collect();
        let g = gaps(&times);
        // steps of 200 ms then 400 ms, each drawn from its upper half
        assert!(
            g[0] >= Duration::from_millis(100) && g[0] <= Duration::from_millis(200),
            "{g:?}"
        );
        assert!(
            g[1] >= Duration::from_millis(200) && g[1] <= Duration::from_millis(400),
            "{g:?}"
        );
        all.push(g);
    }
    assert_ne!(all[0], all[1], "two channels do not retry in lockstep");
    r.engine.shutdown().await;
}
