//! The event bus: one scenario publishes every event type.

use super::*;

#[tokio::test(start_paused = true)]
async fn every_event_type_is_published() {
    let r = rig();
    let mut bus = r.engine.subscribe();
    r.engine.start().await.expect("start");
    r.engine
        .add_target(Target::new(tid("vps"), "vps"))
        .await
        .expect("target");
    let mut p = HealPolicy::new("p", TenantId::new("default").expect("t"), "restart");
    p.trigger_after_failures = 1;
    p.cooldown = Duration::from_secs(1);
    p.max_attempts = 10;
    r.engine.put_heal_policy(p).await.expect("policy");
    r.healer.results([false]);
    r.checker.outcomes("s", [Outcome::Fail]);
    r.engine
        .add_check(&tid("vps"), spec("s", 10, 5))
        .await
        .expect("check");
    // failing: status, alert, heal attempts, the breaker trips; a tick
    // every minute publishes the summary
    advance(Duration::from_secs(70)).await;
    // unacknowledged past the escalation delay (300 s)
    advance(Duration::from_secs(360)).await;
    let down = r
        .engine
        .target_view(&tid("vps"))
        .expect("view")
        .alerts
        .into_iter()
        .find(|a| a.kind == AlertKind::Down)
        .expect("down alert");
    r.engine.acknowledge(&down.id, "ann").await.expect("ack");
    // recovery resolves it
    r.checker.outcomes("s", [Outcome::Pass]);
    advance(Duration::from_secs(30)).await;
    let install = LifecycleReport::new(crate::lifecycle::LifecycleEventType::InstallStarted);
    r.engine.report(&tid("vps"), &install).expect("report");
    let mut seen = std::collections::BTreeMap::new();
    while let Ok(e) = bus.try_recv() {
        *seen.entry(e.name()).or_insert(0) += 1;
    }
    let all = [
        "health:status_changed",
        "health:alert_created",
        "health:alert_acknowledged",
        "health:alert_resolved",
        "health:alert_escalated",
        "health:heal_attempted",
        "health:breaker_changed",
        "health:lifecycle_changed",
        "health:summary_updated",
    ];
    for name in all {
        assert!(seen.contains_key(name), "{name} not published: {seen:?}");
    }
    assert_eq!(seen.len(), all.len(), "{seen:?}");
    assert_eq!(seen["health:alert_acknowledged"], 1);
    assert_eq!(seen["health:lifecycle_changed"], 1);
    assert_eq!(
        seen["health:summary_updated"], 7,
        "one per minute: {seen:?}"
    );
    r.engine.shutdown().await;
}
