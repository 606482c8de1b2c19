//! Quick actions obey the engine's run rules: the global concurrency bound
//! and no run of a check overlapping another run of the same check.

use super::*;

fn with_timed(cfg: EngineConfig, scheduler: bool) -> (Rig, Arc<Timed>) {
    let checker = Timed::new();
    let t = checker.clone();
    let r = rig_with(Arc::new(InMemoryStore::new()), cfg, move |b| {
        let b = b.checker(t);
        if scheduler { b } else { b.without_scheduler() }
    });
    (r, checker)
}

#[tokio::test(start_paused = true)]
async fn recheck_and_diagnose_take_a_slot_of_the_concurrency_bound() {
    let mut cfg = EngineConfig::default();
    cfg.limits.max_concurrency = 1;
    let (r, timed) = with_timed(cfg, false);
    r.engine.start().await.expect("start");
    for t in ["a", "b"] {
        r.engine
            .add_target(Target::new(tid(t), t))
            .await
            .expect("target");
    }
    let a = r
        .engine
        .add_check(&tid("a"), timed_spec("slow", 8, 60, 9))
        .await
        .expect("check");
    let b = r
        .engine
        .add_check(&tid("b"), timed_spec("quick", 2, 60, 9))
        .await
        .expect("check");
    let t0 = tokio::time::Instant::now();
    let e = r.engine.clone();
    let first = tokio::spawn(async move { e.recheck(&a, "ann").await });
    timed.started(1).await;
    // the only slot is taken: both wait for it, one after the other
    let e = r.engine.clone();
    let second = tokio::spawn(async move { e.recheck(&b, "ann").await });
    let e = r.engine.clone();
    let third = tokio::spawn(async move { e.diagnose(&tid("b"), "ann").await });
    first.await.expect("join").expect("recheck");
    second.await.expect("join").expect("recheck");
    let report = third.await.expect("join").expect("diagnose");
    assert_eq!(report.checks.len(), 1);
    let runs = timed.runs();
    assert_eq!(runs.len(), 3, "{runs:?}");
    assert!(timed.overlaps().is_empty(), "{:?}", timed.overlaps());
    let starts: Vec<Duration> = runs.iter().map(|x| x.start - t0).collect();
    assert_eq!(
        starts,
        [
            Duration::ZERO,
            Duration::from_secs(8),
            Duration::from_secs(10)
        ],
        "each waits for the slot: {runs:?}"
    );
    assert!(runs[2].diagnose);
    r.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn diagnose_waits_for_the_checks_own_run_and_the_next_run_waits_for_it() {
    let (r, timed) = with_timed(EngineConfig::default(), true);
    r.engine.start().await.expect("start");
    r.engine
        .add_target(Target::new(tid("a"), "a"))
        .await
        .expect("target");
    r.engine
        .add_check(&tid("a"), timed_spec("slow", 8, 10, 9))
        .await
        .expect("check");
    // the first scheduled run starts somewhere in the first interval
    timed.started(1).await;
    let t1 = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let e = r.engine.clone();
    let d = tokio::spawn(async move { e.diagnose(&tid("a"), "ann").await });
    let report = d.await.expect("join").expect("diagnose");
    assert_eq!(report.checks.len(), 1);
    tokio::time::sleep(Duration::from_secs(20)).await;
    let runs = timed.runs();
    assert!(timed.overlaps().is_empty(), "{:?}", timed.overlaps());
    let at = |x: &Run| (x.diagnose, x.start - t1, x.end.map(|e| e - t1));
    let secs = |n| Some(Duration::from_secs(n));
    assert_eq!(
        runs.iter().take(3).map(at).collect::<Vec<_>>(),
        [
            // the scheduled run in flight when diagnose was asked for
            (false, Duration::ZERO, secs(8)),
            // diagnose starts when it ends
            (true, Duration::from_secs(8), secs(16)),
            // the run due at +10 s waits for diagnose
            (false, Duration::from_secs(16), secs(24)),
        ],
        "{runs:?}"
    );
    r.engine.shutdown().await;
}
