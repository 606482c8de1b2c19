//! Store failures on paused time: what is refused is isolated and counted,
//! what overflows a bound is dropped and counted, nothing else is lost.

use super::*;
use crate::store::{ResultQuery, StoreExt, entry_kind};

/// An engine fed by hand (no scheduler) over a fault-injecting store.
struct Fed {
    engine: Engine,
    mem: Arc<InMemoryStore>,
    faults: Arc<OutageStore>,
    switch: Arc<Switch>,
    key: CheckKey,
}

async fn fed(cfg: EngineConfig) -> Fed {
    let mem = Arc::new(InMemoryStore::new());
    let (outage, switch) = OutageStore::new(mem.clone());
    let faults = Arc::new(outage);
    let engine = Engine::builder(faults.clone())
        .clock(Arc::new(TokioClock::new(start())))
        .checker(ScriptedChecker::new("fake"))
        .config(cfg)
        .without_scheduler()
        .build()
        .expect("build");
    engine.start().await.expect("start");
    engine
        .add_target(Target::new(tid("a"), "a"))
        .await
        .expect("target");
    let key = engine
        .add_check(&tid("a"), spec("s", 60, 10))
        .await
        .expect("check");
    Fed {
        engine,
        mem,
        faults,
        switch,
        key,
    }
}

fn obs(engine: &Engine, message: &str) -> Observation {
    Observation::new(engine.now(), Outcome::Pass).with_message(message)
}

async fn stored_messages(mem: &InMemoryStore, key: &CheckKey) -> Vec<String> {
    let mut got: Vec<StoredResult> = mem
        .recent_results(&ResultQuery {
            target: key.target.clone(),
            check: Some(key.check.clone()),
            since: None,
            limit: 10_000,
        })
        .await
        .expect("results");
    got.reverse();
    got.into_iter()
        .map(|r| r.observation.message.unwrap_or_default())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_result_the_store_refuses_is_isolated_and_the_rest_is_written() {
    let f = fed(EngineConfig::default()).await;
    // the store refuses one result for good, as PostgreSQL refuses a time
    // out of its range: the whole batch holding it fails with `Data`
    f.faults
        .reject_results(|r| r.observation.message.as_deref() == Some("poison"));
    for i in 0..10 {
        let m = if i == 4 {
            "poison".to_owned()
        } else {
            format!("r{i}")
        };
        f.engine.ingest(&f.key, obs(&f.engine, &m)).expect("ingest");
        advance(Duration::from_millis(100)).await;
    }
    advance(Duration::from_secs(2)).await;
    f.engine.flush().await;
    let want: Vec<String> = (0..10)
        .filter(|i| *i != 4)
        .map(|i| format!("r{i}"))
        .collect();
    assert_eq!(stored_messages(&f.mem, &f.key).await, want);
    let m = f.engine.metrics();
    assert_eq!(m.results_rejected, 1, "{m:?}");
    assert_eq!(m.results_dropped, 1, "{m:?}");
    assert_eq!(m.results_written, 9, "{m:?}");
    assert_eq!(m.buffer_depth, 0);
    // the writer is not wedged: later results are written by the task
    // itself (no explicit flush)
    for i in 10..15 {
        f.engine
            .ingest(&f.key, obs(&f.engine, &format!("r{i}")))
            .expect("ingest");
    }
    advance(Duration::from_secs(2)).await;
    assert_eq!(stored_messages(&f.mem, &f.key).await.len(), 14);
    assert_eq!(f.engine.metrics().results_rejected, 1);
    f.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_refused_result_during_an_outage_waits_for_the_store_then_is_isolated() {
    let f = fed(EngineConfig::default()).await;
    f.faults
        .reject_results(|r| r.observation.message.as_deref() == Some("poison"));
    f.switch.set_down(true);
    for m in ["r0", "poison", "r2"] {
        f.engine.ingest(&f.key, obs(&f.engine, m)).expect("ingest");
    }
    advance(Duration::from_secs(20)).await;
    // an outage is transient: nothing was given up on
    let m = f.engine.metrics();
    assert!(m.store_errors > 3, "{m:?}");
    assert_eq!((m.results_dropped, m.results_rejected), (0, 0), "{m:?}");
    assert_eq!(m.buffer_depth, 3);
    f.switch.set_down(false);
    advance(Duration::from_secs(40)).await;
    assert_eq!(stored_messages(&f.mem, &f.key).await, ["r0", "r2"]);
    assert_eq!(f.engine.metrics().results_rejected, 1);
    f.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn absurd_observation_times_are_refused_at_ingest() {
    let f = fed(EngineConfig::default()).await;
    let now = f.engine.now();
    for at in [
        chrono::DateTime::<Utc>::MIN_UTC,
        Utc.with_ymd_and_hms(1900, 1, 1, 0, 0, 0)
            .single()
            .expect("t"),
        now + chrono::Duration::days(2),
        chrono::DateTime::<Utc>::MAX_UTC,
    ] {
        match f.engine.ingest(&f.key, Observation::new(at, Outcome::Fail)) {
            Err(EngineError::Invalid(e)) => {
                assert_eq!(e.field(), "at");
                assert!(e.to_string().contains("out of range"), "{e}");
            }
            other => panic!("{at}: expected a refusal, got {other:?}"),
        }
    }
    assert_eq!(f.engine.metrics().checks, 0, "nothing refused is counted");
    let view = f.engine.target_view(&tid("a")).expect("view");
    assert_eq!(view.checks[0].state.total_checks, 0);
    // late (backfilled) and slightly early (agent clock skew) are fine
    for at in [
        now - chrono::Duration::days(10),
        now + chrono::Duration::hours(1),
    ] {
        f.engine
            .ingest(&f.key, Observation::new(at, Outcome::Pass))
            .expect("in range");
    }
    assert_eq!(f.engine.metrics().checks, 2);
    f.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_buffer_overflow_during_an_outage_drops_the_oldest_and_counts_them() {
    let mut cfg = EngineConfig::default();
    cfg.limits.batch_size = 10;
    cfg.limits.buffer_capacity = 10;
    let f = fed(cfg).await;
    f.switch.set_down(true);
    for i in 0..25 {
        f.engine
            .ingest(&f.key, obs(&f.engine, &format!("r{i}")))
            .expect("ingest");
        advance(Duration::from_millis(300)).await;
        assert!(f.engine.metrics().buffer_depth <= 10, "bounded");
    }
    advance(Duration::from_secs(10)).await;
    let m = f.engine.metrics();
    assert_eq!(m.checks, 25);
    assert_eq!(m.results_dropped, 15, "{m:?}");
    assert_eq!(m.results_rejected, 0);
    assert_eq!(m.results_written, 0);
    f.switch.set_down(false);
    advance(Duration::from_secs(40)).await;
    f.engine.flush().await;
    let want: Vec<String> = (15..25).map(|i| format!("r{i}")).collect();
    assert_eq!(
        stored_messages(&f.mem, &f.key).await,
        want,
        "the newest are kept"
    );
    let m = f.engine.metrics();
    assert_eq!(
        (m.results_written, m.results_dropped),
        (10, 15),
        "every result is written or counted: {m:?}"
    );
    f.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_effects_queue_is_bounded_and_counts_what_it_drops() {
    let mut cfg = EngineConfig::default();
    cfg.limits.effects_capacity = 5;
    let f = fed(cfg).await;
    for i in 0..11 {
        f.engine
            .add_target(Target::new(tid(&format!("t{i}")), "t"))
            .await
            .expect("target");
    }
    f.engine.flush().await;
    assert_eq!(f.engine.metrics().effects_dropped, 0);
    f.switch.set_down(true);
    // twelve snapshot writes at once into a queue of five
    f.engine.snapshot_now();
    assert_eq!(f.engine.metrics().effects_dropped, 7);
    advance(Duration::from_secs(20)).await;
    let m = f.engine.metrics();
    assert!(m.store_errors > 0, "{m:?}");
    assert_eq!(m.effects_failed, 0, "an outage is not a refusal");
    f.switch.set_down(false);
    advance(Duration::from_secs(40)).await;
    f.engine.flush().await;
    let stored = f
        .mem
        .query_entries(&crate::store::EntryQuery {
            kind: entry_kind::SNAPSHOT.into(),
            page: PageRequest::max(),
            ..Default::default()
        })
        .await
        .expect("entries");
    assert_eq!(
        stored.total, 5,
        "what was queued is written after the outage"
    );
    assert_eq!(f.engine.metrics().effects_dropped, 7);
    f.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_effect_the_store_refuses_is_given_up_at_once_and_the_queue_goes_on() {
    let f = fed(EngineConfig::default()).await;
    f.engine
        .add_target(Target::new(tid("b"), "b"))
        .await
        .expect("target");
    f.engine.flush().await;
    f.faults.reject_entries(|e| {
        e.kind == entry_kind::SNAPSHOT && e.target.as_ref().is_some_and(|t| t.as_str() == "a")
    });
    f.engine.snapshot_now();
    f.engine.flush().await;
    let m = f.engine.metrics();
    assert_eq!(m.effects_failed, 1, "{m:?}");
    assert_eq!(m.store_errors, 1, "a refusal is not retried: {m:?}");
    let snaps = |t: &'static str| {
        let mem = f.mem.clone();
        async move {
            mem.snapshots(&tid(t), start() - chrono::Duration::days(1))
                .await
                .expect("snapshots")
                .len()
        }
    };
    assert_eq!(snaps("a").await, 0);
    assert_eq!(snaps("b").await, 1, "the write after it went through");
    f.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_flush_during_an_outage_loses_no_rollup_or_state() {
    let f = fed(EngineConfig::default()).await;
    f.engine.flush().await;
    f.switch.set_down(true);
    for i in 0..5 {
        f.engine
            .ingest(&f.key, obs(&f.engine, &format!("r{i}")))
            .expect("ingest");
        advance(Duration::from_secs(1)).await;
    }
    // an explicit flush while the store is away writes nothing, and must
    // keep what it took from the fleet (rollup deltas, changed state)
    f.engine.flush().await;
    advance(Duration::from_secs(6)).await;
    f.engine.flush().await;
    f.switch.set_down(false);
    advance(Duration::from_secs(40)).await;
    f.engine.flush().await;
    assert_eq!(stored_messages(&f.mem, &f.key).await.len(), 5);
    let buckets = f
        .mem
        .rollups(&crate::store::RollupQuery {
            targets: vec![tid("a")],
            granularity: crate::rollup::Granularity::Minute,
            from: start() - chrono::Duration::hours(1),
            to: start() + chrono::Duration::hours(1),
        })
        .await
        .expect("rollups");
    let checks: u64 = buckets.iter().map(|b| b.bucket.checks_total).sum();
    assert_eq!(
        checks, 5,
        "every result counted in the rollups: {buckets:?}"
    );
    let stored_total = || async {
        let states = f.mem.load_states().await.expect("states");
        let check = states
            .iter()
            .find(|s| matches!(s.scope, crate::store::StateScope::Check { .. }))
            .expect("check state");
        let rt: crate::fleet::CheckRuntime =
            serde_json::from_value(check.body.clone()).expect("decode");
        (rt.state.total_checks, rt.state.status)
    };
    // state is written on transitions: the first result's (unknown →
    // healthy) was taken during the outage and is written after it
    assert_eq!(stored_total().await, (1, Status::Healthy));
    f.engine.shutdown().await;
    assert_eq!(stored_total().await, (5, Status::Healthy));
}
