//! Deterministic engine tests on tokio's paused time: no sleeps in real
//! time, every wait is simulated.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};

use super::*;
use crate::alert::{AlertKind, AlertStatus};
use crate::clock::TokioClock;
use crate::heal::{HealAction, HealPolicy};
use crate::memory::InMemoryStore;
use crate::model::{CheckId, Outcome};
use crate::notify::Audience;
use crate::store::{AlertQuery, PageRequest};
use crate::testkit::fakes::*;

mod actions;
mod events;
mod heal;
mod jobs;
mod outage;

fn start() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0)
        .single()
        .expect("valid")
}

fn tid(s: &str) -> TargetId {
    TargetId::new(s).expect("id")
}

fn spec(script: &str, interval: u64, timeout: u64) -> CheckSpec {
    CheckSpec::new("fake")
        .with_params(serde_json::json!({ "script": script }))
        .every(Duration::from_secs(interval), Duration::from_secs(timeout))
}

/// One run of a [`Timed`] checker.
#[derive(Debug, Clone)]
struct Run {
    /// The spec's `params.script`.
    script: String,
    /// A diagnose run (else a plain check).
    diagnose: bool,
    start: tokio::time::Instant,
    /// `None` while in flight.
    end: Option<tokio::time::Instant>,
}

impl Run {
    fn overlaps(&self, other: &Run) -> bool {
        let far = tokio::time::Instant::now() + Duration::from_secs(1 << 30);
        self.start < other.end.unwrap_or(far) && other.start < self.end.unwrap_or(far)
    }
}

/// A checker of kind `fake` that records when each run starts and ends
/// (also a run cut short by its timeout) and takes `params.secs` seconds.
#[derive(Debug)]
struct Timed {
    runs: std::sync::Mutex<Vec<Run>>,
    started: tokio::sync::watch::Sender<usize>,
}

impl Timed {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            runs: std::sync::Mutex::new(Vec::new()),
            started: tokio::sync::watch::channel(0).0,
        })
    }

    fn runs(&self) -> Vec<Run> {
        lock(&self.runs).clone()
    }

    /// Waits (on paused time: lets time run) until `n` runs have started.
    async fn started(&self, n: usize) {
        let mut rx = self.started.subscribe();
        rx.wait_for(|c| *c >= n).await.expect("checker alive");
    }

    /// Pairs of runs that overlapped in time.
    fn overlaps(&self) -> Vec<(Run, Run)> {
        let runs = self.runs();
        let mut out = Vec::new();
        for (i, a) in runs.iter().enumerate() {
            for b in &runs[i + 1..] {
                if a.overlaps(b) {
                    out.push((a.clone(), b.clone()));
                }
            }
        }
        out
    }

    async fn run(&self, spec: &CheckSpec, diagnose: bool) -> Observation {
        struct End<'a>(&'a std::sync::Mutex<Vec<Run>>, usize);
        impl Drop for End<'_> {
            fn drop(&mut self) {
                if let Some(r) = lock(self.0).get_mut(self.1) {
                    r.end = Some(tokio::time::Instant::now());
                }
            }
        }
        let script = spec.params["script"].as_str().unwrap_or("").to_owned();
        let secs = spec.params["secs"].as_u64().unwrap_or(0);
        let i = {
            let mut runs = lock(&self.runs);
            runs.push(Run {
                script,
                diagnose,
                start: tokio::time::Instant::now(),
                end: None,
            });
            runs.len() - 1
        };
        self.started.send_modify(|c| *c += 1);
        let _end = End(&self.runs, i);
        tokio::time::sleep(Duration::from_secs(secs)).await;
        Observation::new(Utc::now(), Outcome::Pass)
    }
}

#[async_trait::async_trait]
impl crate::checker::Checker for Timed {
    fn kind(&self) -> &str {
        "fake"
    }

    async fn check(&self, spec: &CheckSpec) -> Observation {
        self.run(spec, false).await
    }

    async fn diagnose(&self, spec: &CheckSpec) -> Observation {
        self.run(spec, true).await
    }
}

/// A spec for [`Timed`]: runs `secs`, every `interval` under `timeout`.
fn timed_spec(script: &str, secs: u64, interval: u64, timeout: u64) -> CheckSpec {
    CheckSpec::new("fake")
        .named(CheckId::new(script).expect("id"))
        .with_params(serde_json::json!({ "script": script, "secs": secs }))
        .every(Duration::from_secs(interval), Duration::from_secs(timeout))
}

struct Rig {
    engine: Engine,
    store: Arc<InMemoryStore>,
    checker: Arc<ScriptedChecker>,
    healer: Arc<FlakyHealer>,
    dash: Arc<RecordingNotifier>,
    ext: Arc<RecordingNotifier>,
}

fn rig_with(
    store: Arc<InMemoryStore>,
    cfg: EngineConfig,
    f: impl FnOnce(EngineBuilder) -> EngineBuilder,
) -> Rig {
    let checker = ScriptedChecker::new("fake");
    let healer = FlakyHealer::new();
    let dash = RecordingNotifier::new("log", Audience::Dashboard);
    let ext = RecordingNotifier::new("webhook", Audience::External);
    let b = Engine::builder(store.clone())
        .clock(Arc::new(TokioClock::new(start())))
        .checker(checker.clone())
        .healer(healer.clone())
        .notifier(dash.clone())
        .notifier(ext.clone())
        .log_source(Arc::new(FixedLogs))
        .config(cfg);
    let engine = f(b).build().expect("build");
    Rig {
        engine,
        store,
        checker,
        healer,
        dash,
        ext,
    }
}

fn rig() -> Rig {
    rig_with(
        Arc::new(InMemoryStore::new()),
        EngineConfig::default(),
        |b| b,
    )
}

async fn settle() {
    // let spawned tasks run on the paused runtime
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

/// Moves paused time forward in steps of at most a second, letting every
/// task run at each step (as real time would).
async fn advance(d: Duration) {
    let mut left = d;
    while !left.is_zero() {
        let step = left.min(Duration::from_secs(1));
        tokio::time::advance(step).await;
        settle().await;
        left -= step;
    }
}

#[tokio::test(start_paused = true)]
async fn thresholds_end_to_end_alert_and_notify() {
    let r = rig();
    r.engine.start().await.expect("start");
    r.engine
        .add_target(Target::new(tid("web"), "web"))
        .await
        .expect("target");
    r.checker.outcomes(
        "s",
        [Outcome::Pass, Outcome::Fail, Outcome::Fail, Outcome::Fail],
    );
    r.engine
        .add_check(&tid("web"), spec("s", 60, 10))
        .await
        .expect("check");
    let mut events = r.engine.subscribe();
    // first run is spread within the first interval; then every 60 s
    advance(Duration::from_secs(60)).await;
    assert_eq!(
        r.engine
            .target_view(&tid("web"))
            .expect("view")
            .health
            .status,
        Status::Healthy
    );
    advance(Duration::from_secs(60)).await;
    assert_eq!(
        r.engine
            .target_view(&tid("web"))
            .expect("view")
            .health
            .status,
        Status::Degraded
    );
    advance(Duration::from_secs(60)).await;
    advance(Duration::from_secs(60)).await;
    let view = r.engine.target_view(&tid("web")).expect("view");
    assert_eq!(view.health.status, Status::Down);
    assert_eq!(view.alerts.len(), 1);
    assert_eq!(view.alerts[0].kind, AlertKind::Down);
    r.engine.flush().await;
    let stored = r
        .store
        .list_alerts(&AlertQuery::default())
        .await
        .expect("alerts");
    assert_eq!(stored.total, 1);
    settle().await;
    assert!(
        r.dash
            .sent()
            .iter()
            .any(|n| n.alert.kind == AlertKind::Down),
        "dashboard notified on firing"
    );
    assert!(
        r.ext.sent().is_empty(),
        "external channels wait for escalation"
    );
    let mut names = Vec::new();
    while let Ok(e) = events.try_recv() {
        names.push(e.name());
    }
    assert!(names.contains(&"health:status_changed"));
    assert!(names.contains(&"health:alert_created"));
    // results were batched into the store
    assert!(r.store.result_count() >= 4);
    r.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn escalation_after_delay_goes_external_and_ack_stops_it() {
    let r = rig();
    r.engine.start().await.expect("start");
    r.engine
        .add_target(Target::new(tid("db"), "db"))
        .await
        .expect("target");
    r.checker.outcomes("s", [Outcome::Fail]);
    r.engine
        .add_check(&tid("db"), spec("s", 30, 5))
        .await
        .expect("check");
    advance(Duration::from_secs(150)).await;
    assert_eq!(
        r.engine
            .target_view(&tid("db"))
            .expect("view")
            .health
            .status,
        Status::Down
    );
    assert!(r.ext.sent().is_empty());
    // ticks run every 60 s; escalation delay is 300 s
    advance(Duration::from_secs(420)).await;
    settle().await;
    let ext = r.ext.sent();
    assert!(
        ext.iter()
            .any(|n| n.kind == crate::alert::NotificationKind::Escalation),
        "{ext:?}"
    );
    let alert_id = r.engine.target_view(&tid("db")).expect("v").alerts[0]
        .id
        .clone();
    let acked = r.engine.acknowledge(&alert_id, "alice").await.expect("ack");
    assert_eq!(acked.status, AlertStatus::Acknowledged);
    assert_eq!(acked.acknowledged_by.as_deref(), Some("alice"));
    // a second ack is a conflict; an unknown id is not found
    assert!(matches!(
        r.engine.acknowledge(&alert_id, "bob").await,
        Err(EngineError::Conflict(_))
    ));
    assert!(matches!(
        r.engine.acknowledge("nope", "bob").await,
        Err(EngineError::NotFound { .. })
    ));
    r.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_check_never_overlaps_itself() {
    // A probe is bounded by its timeout, and the timeout by the interval,
    // so a run outlasts its interval when it has to wait: here for three
    // rechecks of 8 s each, asked 1 s into the first scheduled run. The
    // run due at +10 s can only start at +32 s: due to done, 30 s on a
    // 10 s interval. Runs never overlap, and the runs missed meanwhile
    // (+20 s, +30 s) are skipped, not queued up: one run right after the
    // late one, then the interval again.
    let timed = Timed::new();
    let t = timed.clone();
    let r = rig_with(
        Arc::new(InMemoryStore::new()),
        EngineConfig::default(),
        move |b| b.checker(t),
    );
    r.engine.start().await.expect("start");
    r.engine
        .add_target(Target::new(tid("a"), "a"))
        .await
        .expect("target");
    let key = r
        .engine
        .add_check(&tid("a"), timed_spec("slow", 8, 10, 9))
        .await
        .expect("check");
    // the first scheduled run starts somewhere in the first interval
    timed.started(1).await;
    let t1 = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rechecks: Vec<_> = (0..3)
        .map(|_| {
            let e = r.engine.clone();
            let k = key.clone();
            tokio::spawn(async move { e.recheck(&k, "tester").await })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(69)).await;
    for h in rechecks {
        h.await.expect("join").expect("recheck");
    }
    let runs = timed.runs();
    assert!(timed.overlaps().is_empty(), "{:?}", timed.overlaps());
    assert!(runs.iter().all(|x| x.script == "slow" && !x.diagnose));
    let span = |x: &Run| ((x.start - t1).as_secs(), x.end.map(|e| (e - t1).as_secs()));
    assert_eq!(
        runs.iter().map(span).collect::<Vec<_>>(),
        [
            (0, Some(8)),   // scheduled, due at 0
            (8, Some(16)),  // recheck
            (16, Some(24)), // recheck
            (24, Some(32)), // recheck
            (32, Some(40)), // scheduled, due at 10: waited 22 s
            (40, Some(48)), // at once after it (the one due at 20); 30 skipped
            (50, Some(58)), // then the interval again
            (60, Some(68)),
        ],
        "{runs:?}"
    );
    assert_eq!(r.engine.metrics().checks, 8, "5 scheduled, 3 rechecks");
    r.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn concurrency_bound_is_respected() {
    let mut cfg = EngineConfig::default();
    cfg.limits.max_concurrency = 3;
    let r = rig_with(Arc::new(InMemoryStore::new()), cfg, |b| b);
    r.engine.start().await.expect("start");
    r.checker
        .script("slow", [Step::Sleep(Duration::from_secs(20))]);
    for i in 0..12 {
        let id = tid(&format!("t{i}"));
        r.engine
            .add_target(Target::new(id.clone(), "t"))
            .await
            .expect("target");
        r.engine
            .add_check(&id, spec("slow", 60, 30))
            .await
            .expect("check");
    }
    for _ in 0..60 {
        advance(Duration::from_secs(5)).await;
    }
    assert!(r.checker.calls() >= 12);
    assert_eq!(r.checker.max_concurrent(), 3);
    r.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn timeout_is_enforced_and_panics_are_isolated() {
    let r = rig();
    r.engine.start().await.expect("start");
    r.engine
        .add_target(Target::new(tid("a"), "a"))
        .await
        .expect("target");
    r.engine
        .add_target(Target::new(tid("b"), "b"))
        .await
        .expect("target");
    r.checker
        .script("hang", [Step::Sleep(Duration::from_secs(3600))]);
    r.checker
        .script("boom", [Step::Panic, Step::Outcome(Outcome::Pass)]);
    let hang = r
        .engine
        .add_check(&tid("a"), spec("hang", 20, 2))
        .await
        .expect("check");
    let boom = r
        .engine
        .add_check(&tid("b"), spec("boom", 20, 2))
        .await
        .expect("check");
    let (_, obs) = r.engine.recheck(&hang, "t").await.expect("recheck");
    assert_eq!(obs.outcome, Outcome::Unreachable);
    assert!(obs.message.as_deref().unwrap_or("").contains("timed out"));
    let (_, obs) = r.engine.recheck(&boom, "t").await.expect("recheck");
    assert_eq!(obs.outcome, Outcome::Unknown);
    assert!(obs.message.as_deref().unwrap_or("").contains("panicked"));
    // the engine lives on: the next run passes
    let (status, obs) = r.engine.recheck(&boom, "t").await.expect("recheck");
    assert_eq!(obs.outcome, Outcome::Pass);
    assert_eq!(status, Status::Healthy);
    let m = r.engine.metrics();
    assert!(m.timeouts >= 1 && m.panics >= 1);
    r.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn store_outage_is_buffered_then_drained() {
    let mem = Arc::new(InMemoryStore::new());
    let (outage, switch) = OutageStore::new(mem.clone());
    let checker = ScriptedChecker::new("fake");
    let engine = Engine::builder(Arc::new(outage))
        .clock(Arc::new(TokioClock::new(start())))
        .checker(checker.clone())
        .build()
        .expect("build");
    engine.start().await.expect("start");
    engine
        .add_target(Target::new(tid("a"), "a"))
        .await
        .expect("target");
    let key = engine
        .add_check(&tid("a"), spec("s", 5, 2))
        .await
        .expect("check");
    switch.set_down(true);
    for _ in 0..24 {
        advance(Duration::from_secs(5)).await;
    }
    let during = mem.result_count();
    let ran = checker.calls();
    assert!(ran >= 20, "monitoring goes on during the outage ({ran})");
    assert!(engine.metrics().store_errors > 0);
    assert_eq!(
        engine.target_view(&key.target).expect("v").health.status,
        Status::Healthy
    );
    switch.set_down(false);
    for _ in 0..20 {
        advance(Duration::from_secs(1)).await;
    }
    engine.flush().await;
    let after = mem.result_count();
    assert_eq!(engine.metrics().results_dropped, 0);
    assert_eq!(
        after,
        engine.metrics().checks as usize,
        "nothing lost: {during} -> {after}"
    );
    engine.shutdown().await;
}

/// An alert down on target `a` of an engine over `mem` behind an outage
/// switch; the store holds it (active).
async fn alert_behind_outage() -> (Engine, Arc<InMemoryStore>, Arc<Switch>, String) {
    let mem = Arc::new(InMemoryStore::new());
    let (outage, switch) = OutageStore::new(mem.clone());
    let engine = Engine::builder(Arc::new(outage))
        .clock(Arc::new(TokioClock::new(start())))
        .checker(ScriptedChecker::new("fake"))
        .without_scheduler()
        .build()
        .expect("build");
    engine.start().await.expect("start");
    engine
        .add_target(Target::new(tid("a"), "a"))
        .await
        .expect("target");
    let key = engine
        .add_check(&tid("a"), spec("s", 30, 5))
        .await
        .expect("check");
    for _ in 0..3 {
        engine
            .ingest(&key, Observation::new(engine.now(), Outcome::Fail))
            .expect("ingest");
    }
    engine.flush().await;
    let id = engine.target_view(&tid("a")).expect("view").alerts[0]
        .id
        .clone();
    let stored = mem.get_alert(&id).await.expect("get").expect("stored");
    assert_eq!(stored.status, AlertStatus::Active);
    (engine, mem, switch, id)
}

#[tokio::test(start_paused = true)]
async fn acknowledge_and_resolve_answer_once_the_store_holds_them() {
    let (engine, mem, switch, id) = alert_behind_outage().await;
    // the store is slow to take the change: the acknowledgement waits for it
    switch.set_down(true);
    let (e2, id2) = (engine.clone(), id.clone());
    let ack = tokio::spawn(async move { e2.acknowledge(&id2, "alice").await });
    advance(Duration::from_secs(1)).await;
    assert!(!ack.is_finished(), "answered before the store held it");
    switch.set_down(false);
    advance(Duration::from_secs(3)).await;
    let acked = ack.await.expect("join").expect("ack");
    assert_eq!(acked.status, AlertStatus::Acknowledged);
    let stored = mem.get_alert(&id).await.expect("get").expect("stored");
    assert_eq!(stored.status, AlertStatus::Acknowledged);
    assert_eq!(stored.acknowledged_by.as_deref(), Some("alice"));
    // resolving: the store shows it resolved as soon as the call returns
    engine.resolve_alert(&id).await.expect("resolve");
    let stored = mem.get_alert(&id).await.expect("get").expect("stored");
    assert_eq!(stored.status, AlertStatus::Resolved);
    engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn alert_conflicts_name_the_current_status_and_the_request() {
    let (engine, _mem, _switch, id) = alert_behind_outage().await;
    let conflict = |r: Result<Alert, EngineError>| match r {
        Err(EngineError::Conflict(m)) => m,
        other => panic!("expected a conflict, got {other:?}"),
    };
    // two acknowledgements at once: the second learns it is acknowledged
    let (a, b) = tokio::join!(
        engine.acknowledge(&id, "alice"),
        engine.acknowledge(&id, "bob")
    );
    let m = match (a, b) {
        (Ok(_), e) | (e, Ok(_)) => conflict(e),
        other => panic!("one must win: {other:?}"),
    };
    assert_eq!(
        m,
        format!("cannot acknowledge alert {id}: it is already acknowledged")
    );
    // two resolutions at once: the second learns it is resolved (not the
    // status the store held a moment before)
    let (a, b) = tokio::join!(engine.resolve_alert(&id), engine.resolve_alert(&id));
    let m = match (a, b) {
        (Ok(_), e) | (e, Ok(_)) => conflict(e),
        other => panic!("one must win: {other:?}"),
    };
    assert_eq!(
        m,
        format!("cannot resolve alert {id}: it is already resolved")
    );
    let m = conflict(engine.acknowledge(&id, "carol").await);
    assert_eq!(
        m,
        format!(
            "cannot acknowledge alert {id}: it is resolved; only an active alert can be acknowledged"
        )
    );
    assert!(!m.contains("active, not active"));
    assert!(matches!(
        engine.resolve_alert("nope").await,
        Err(EngineError::NotFound { .. })
    ));
    engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_alert_change_the_store_never_confirms_is_not_a_success() {
    let (engine, mem, switch, id) = alert_behind_outage().await;
    switch.set_down(true);
    let (e2, id2) = (engine.clone(), id.clone());
    let ack = tokio::spawn(async move { e2.acknowledge(&id2, "alice").await });
    advance(ALERT_WRITE_WAIT + Duration::from_secs(1)).await;
    match ack.await.expect("join") {
        Err(EngineError::Store(crate::store::StoreError::Unavailable(m))) => {
            assert!(m.contains("not confirmed"), "{m}");
        }
        other => panic!("expected unavailable, got {other:?}"),
    }
    // the change is kept and written once the store is back
    switch.set_down(false);
    engine.flush().await;
    advance(Duration::from_secs(40)).await;
    engine.flush().await;
    let stored = mem.get_alert(&id).await.expect("get").expect("stored");
    assert_eq!(stored.status, AlertStatus::Acknowledged);
    engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn restart_restores_state_and_does_not_refire_alerts() {
    let store = Arc::new(InMemoryStore::new());
    let r = rig_with(store.clone(), EngineConfig::default(), |b| b);
    r.engine.start().await.expect("start");
    r.engine
        .add_target(Target::new(tid("a"), "a"))
        .await
        .expect("target");
    r.checker.outcomes("s", [Outcome::Fail]);
    let key = r
        .engine
        .add_check(&tid("a"), spec("s", 10, 5))
        .await
        .expect("check");
    for _ in 0..5 {
        r.engine.recheck(&key, "t").await.expect("recheck");
    }
    settle().await;
    let before = r.engine.target_view(&tid("a")).expect("v");
    assert_eq!(before.health.status, Status::Down);
    r.engine.shutdown().await;

    let r2 = rig_with(store.clone(), EngineConfig::default(), |b| b);
    r2.checker.outcomes("s", [Outcome::Fail]);
    r2.engine.start().await.expect("start again");
    let after = r2.engine.target_view(&tid("a")).expect("restored");
    assert_eq!(after.health.status, Status::Down);
    assert_eq!(
        after.checks[0].state.consecutive_failures,
        before.checks[0].state.consecutive_failures
    );
    assert_eq!(after.alerts.len(), 1);
    r2.engine.recheck(&key, "t").await.expect("recheck");
    r2.engine.flush().await;
    let alerts = store
        .list_alerts(&AlertQuery::default())
        .await
        .expect("alerts");
    assert_eq!(alerts.total, 1, "the open alert is not fired again");
    assert!(
        r2.dash.sent().is_empty(),
        "no duplicate notification after restart"
    );
    r2.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn heal_runs_and_is_gated_by_the_breaker() {
    let r = rig();
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
    r.checker.outcomes("s", [Outcome::Fail]);
    r.healer.results([false]);
    let key = r
        .engine
        .add_check(&tid("vps"), spec("s", 10, 5))
        .await
        .expect("check");
    for _ in 0..6 {
        r.engine.recheck(&key, "t").await.expect("recheck");
        advance(Duration::from_secs(2)).await;
    }
    // breaker (3 failures) trips after the third failed restart
    let calls = r.healer.calls();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert!(
        calls
            .iter()
            .all(|(t, a)| t == "vps" && *a == HealAction::Restart)
    );
    let view = r.engine.target_view(&tid("vps")).expect("v");
    assert_eq!(view.checks[0].breaker, crate::breaker::BreakerState::Open);
    r.engine.flush().await;
    let events = r
        .store
        .heal_events(&tid("vps"), PageRequest::default())
        .await
        .expect("events");
    // oldest first: three failed restarts (rechecks at 0, 2 and 4 s), then
    // the decision at 6 s is skipped because the breaker is open, and says
    // so (the same skip reason again at 8 and 10 s is not recorded twice)
    let mut items = events.items.clone();
    items.sort_by_key(|e| e.triggered_at);
    let results: Vec<_> = items.iter().map(|e| e.result).collect();
    use crate::heal::HealResult::{Failed, Skipped};
    assert_eq!(results, [Failed, Failed, Failed, Skipped], "{items:?}");
    let skip = &items[3];
    assert_eq!(
        crate::heal::SkipReason::code_of_sentence(&skip.reason),
        Some("breaker_open"),
        "skip reason: {:?}",
        skip.reason
    );
    assert_eq!(skip.triggered_at, start() + chrono::Duration::seconds(6));
    r.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn unreachable_targets_are_not_healed() {
    let r = rig();
    r.engine.start().await.expect("start");
    r.engine
        .add_target(Target::new(tid("vps"), "vps"))
        .await
        .expect("target");
    let mut p = HealPolicy::new("p", TenantId::new("default").expect("t"), "restart");
    p.trigger_after_failures = 1;
    r.engine.put_heal_policy(p).await.expect("policy");
    r.checker.outcomes("s", [Outcome::Unreachable]);
    let key = r
        .engine
        .add_check(&tid("vps"), spec("s", 10, 5))
        .await
        .expect("check");
    for _ in 0..4 {
        r.engine.recheck(&key, "t").await.expect("recheck");
    }
    settle().await;
    assert!(r.healer.calls().is_empty());
    r.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn checklist_gates_ready_and_override_is_audited() {
    let r = rig_with(
        Arc::new(InMemoryStore::new()),
        EngineConfig::default(),
        |b| {
            b.checklist(vec![
                ChecklistItem {
                    name: "database".into(),
                    check: spec("ok", 10, 5),
                    required: true,
                },
                ChecklistItem {
                    name: "models".into(),
                    check: spec("bad", 10, 5),
                    required: true,
                },
                ChecklistItem {
                    name: "extras".into(),
                    check: spec("bad", 10, 5),
                    required: false,
                },
            ])
        },
    );
    r.checker.outcomes("bad", [Outcome::Fail]);
    assert!(!r.engine.is_ready());
    r.engine.start().await.expect("start");
    settle().await;
    let list = r.engine.checklist();
    assert_eq!(list[0].status, ChecklistStatus::Passed);
    assert_eq!(list[1].status, ChecklistStatus::Failed);
    assert!(!r.engine.is_ready());
    assert!(matches!(
        r.engine.override_checklist("database", "admin").await,
        Err(EngineError::Conflict(_))
    ));
    assert!(matches!(
        r.engine.override_checklist("nope", "admin").await,
        Err(EngineError::NotFound { .. })
    ));
    r.engine
        .override_checklist("models", "admin")
        .await
        .expect("override");
    assert!(r.engine.is_ready());
    r.engine.wait_ready().await;
    let audit = r
        .store
        .audit_log(None, Some("checklist_override"), PageRequest::default())
        .await
        .expect("audit");
    assert_eq!(audit.total, 1);
    assert_eq!(audit.items[0].actor, "admin");
    r.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn quick_actions_are_audited() {
    let r = rig();
    r.engine.start().await.expect("start");
    r.engine
        .add_target(Target::new(tid("svc"), "svc"))
        .await
        .expect("target");
    let key = r
        .engine
        .add_check(&tid("svc"), spec("s", 10, 5))
        .await
        .expect("check");
    r.engine.recheck(&key, "ann").await.expect("recheck");
    let d = r
        .engine
        .diagnose(&tid("svc"), "ann")
        .await
        .expect("diagnose");
    assert_eq!(d.checks.len(), 1);
    let refused = r.engine.restart(&tid("svc"), None, "ann").await;
    assert!(matches!(
        refused,
        Err(EngineError::ConfirmationRequired { .. })
    ));
    assert!(
        r.healer.calls().is_empty(),
        "unconfirmed restart does nothing"
    );
    let done = r
        .engine
        .restart(&tid("svc"), Some("svc"), "ann")
        .await
        .expect("restart");
    assert!(done.outcome.is_success());
    let logs = r.engine.logs(&tid("svc"), 5000, "ann").await.expect("logs");
    assert_eq!(logs.len(), 1000, "capped");
    let audit = r
        .store
        .audit_log(Some(&tid("svc")), None, PageRequest::default())
        .await
        .expect("audit");
    let actions: Vec<&str> = audit.items.iter().map(|a| a.action.as_str()).collect();
    for a in ["recheck", "diagnose", "restart", "logs"] {
        assert!(actions.contains(&a), "{a} audited: {actions:?}");
    }
    assert!(
        audit
            .items
            .iter()
            .any(|a| a.action == "restart" && a.result.starts_with("refused"))
    );
    r.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn passive_reports_staleness_and_auto_resolve() {
    let r = rig();
    r.engine.start().await.expect("start");
    let mut node = Target::new(tid("node1"), "node1");
    node.kind = "node".into();
    r.engine.add_target(node).await.expect("target");
    assert_eq!(
        r.engine
            .target_view(&tid("node1"))
            .expect("v")
            .health
            .status,
        Status::Unknown
    );
    let hb = LifecycleReport::new(crate::lifecycle::LifecycleEventType::Heartbeat);
    r.engine.report(&tid("node1"), &hb).expect("report");
    assert_eq!(
        r.engine
            .target_view(&tid("node1"))
            .expect("v")
            .health
            .status,
        Status::Healthy
    );
    advance(Duration::from_secs(20 * 60)).await;
    let v = r.engine.target_view(&tid("node1")).expect("v");
    assert_eq!(
        (v.health.status, v.health.cause),
        (Status::Degraded, crate::model::Cause::Stale)
    );
    assert!(v.alerts.iter().any(|a| a.kind == AlertKind::Stale));
    advance(Duration::from_secs(50 * 60)).await;
    let v = r.engine.target_view(&tid("node1")).expect("v");
    assert_eq!(v.health.cause, crate::model::Cause::Offline);
    assert!(
        v.alerts.iter().all(|a| a.kind != AlertKind::Stale),
        "offline resolves stale"
    );
    r.engine.report(&tid("node1"), &hb).expect("report");
    let v = r.engine.target_view(&tid("node1")).expect("v");
    assert_eq!(v.health.status, Status::Healthy);
    assert!(
        v.alerts.iter().all(|a| a.kind != AlertKind::Offline),
        "healthy resolves offline"
    );
    // unknown target: not found, nothing created
    assert!(matches!(
        r.engine.report(&tid("ghost"), &hb),
        Err(EngineError::NotFound { .. })
    ));
    assert!(r.engine.target_view(&tid("ghost")).is_none());
    r.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn invalid_specs_are_refused_with_the_field() {
    let r = rig();
    r.engine.start().await.expect("start");
    r.engine
        .add_target(Target::new(tid("a"), "a"))
        .await
        .expect("target");
    let mut bad = spec("s", 10, 5);
    bad.timeout = Duration::from_secs(10);
    match r.engine.add_check(&tid("a"), bad).await {
        Err(EngineError::Invalid(e)) => assert_eq!(e.field(), "timeout"),
        other => panic!("expected invalid timeout, got {other:?}"),
    }
    assert!(matches!(
        r.engine
            .add_check(&tid("a"), CheckSpec::new("nosuchkind"))
            .await,
        Err(EngineError::NoChecker(_))
    ));
    assert!(matches!(
        r.engine.add_check(&tid("zz"), spec("s", 10, 5)).await,
        Err(EngineError::NotFound { .. })
    ));
    let _ = CheckId::new("x");
    r.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn uptime_reads_rollups_and_the_live_part() {
    let r = rig();
    r.engine.start().await.expect("start");
    r.engine
        .add_target(Target::new(tid("u"), "u"))
        .await
        .expect("target");
    r.checker.outcomes("s", [Outcome::Pass]);
    let key = r
        .engine
        .add_check(&tid("u"), spec("s", 60, 10).tap_threshold(1))
        .await
        .expect("check");
    let t_start = r.engine.now();
    r.engine.recheck(&key, "t").await.expect("recheck");
    advance(Duration::from_secs(30 * 60)).await;
    r.checker.outcomes("s", [Outcome::Fail]);
    r.engine.recheck(&key, "t").await.expect("recheck");
    assert_eq!(
        r.engine.target_view(&tid("u")).expect("v").health.status,
        Status::Down
    );
    advance(Duration::from_secs(10 * 60)).await;
    let view = r
        .engine
        .uptime(&tid("u"), t_start, r.engine.now())
        .await
        .expect("uptime");
    let pct = view.report.percent.expect("percent");
    // healthy ~30 min (scheduled runs keep failing after the flip), down ~10 min
    assert!((pct - 75.0).abs() < 2.5, "uptime {pct}");
    assert!(view.report.checks_total >= 2);
    assert!(!view.timeline.is_empty());
    let all = r
        .engine
        .uptime_all(None, t_start, r.engine.now())
        .await
        .expect("all");
    assert_eq!(all.len(), 1);
    // the totals path gives the same figures
    let reports = r
        .engine
        .uptime_reports(None, t_start, r.engine.now())
        .await
        .expect("reports");
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].1, all[0].report);
    let hist = r
        .engine
        .result_history(&tid("u"), 1, None)
        .await
        .expect("history");
    assert!(hist.total_checks >= 2 && hist.unhealthy_checks >= 1);
    assert!(matches!(
        r.engine.result_history(&tid("u"), 0, None).await,
        Err(EngineError::Invalid(_))
    ));
    r.engine.shutdown().await;
}

trait TapThreshold {
    fn tap_threshold(self, n: u32) -> Self;
}

impl TapThreshold for CheckSpec {
    fn tap_threshold(mut self, n: u32) -> Self {
        self.failure_threshold = n;
        self
    }
}

#[tokio::test]
async fn replay_on_a_manual_clock_and_the_activity_feed() {
    use crate::clock::ManualClock;
    let clock = Arc::new(ManualClock::new(start()));
    let store = Arc::new(InMemoryStore::new());
    let healer = FlakyHealer::new();
    let engine = Engine::builder(store.clone())
        .clock(clock.clone())
        .checker(ScriptedChecker::new("fake"))
        .healer(healer.clone())
        .without_scheduler()
        .instance_id("replay")
        .build()
        .expect("build");
    engine.start().await.expect("start");
    engine
        .add_target(Target::new(tid("n"), "n"))
        .await
        .expect("target");
    let key = engine
        .add_check(&tid("n"), spec("s", 60, 10))
        .await
        .expect("check");
    let mut p = HealPolicy::new("p", TenantId::new("default").expect("t"), "restart");
    p.trigger_after_failures = 3;
    engine.put_heal_policy(p).await.expect("policy");
    for i in 0..4 {
        clock.advance(chrono::Duration::seconds(60));
        let at = engine.now();
        engine
            .ingest(
                &key,
                Observation::new(at, if i == 0 { Outcome::Pass } else { Outcome::Fail }),
            )
            .expect("ingest");
    }
    clock.advance(chrono::Duration::minutes(10));
    engine.tick();
    let install = LifecycleReport::new(crate::lifecycle::LifecycleEventType::InstallStarted)
        .with_message("reinstalling after the failed restart");
    engine.report(&tid("n"), &install).expect("report");
    // the heal action runs in its own task; let it finish
    settle().await;
    engine.flush().await;
    let view = engine.target_view(&tid("n")).expect("view");
    assert_eq!(view.health.status, Status::Down);
    assert_eq!(healer.calls().len(), 1, "the third failure healed");
    let feed = engine
        .activity(&ActivityQuery::default())
        .await
        .expect("feed");
    let kinds: Vec<ActivityType> = feed.items.iter().map(|e| e.kind).collect();
    for k in [
        ActivityType::HealthAlert,
        ActivityType::StateChange,
        ActivityType::NodeEvent,
        ActivityType::HealEvent,
    ] {
        assert!(kinds.contains(&k), "{k:?} in {kinds:?}");
    }
    assert!(
        feed.items
            .windows(2)
            .all(|w| w[0].timestamp >= w[1].timestamp),
        "newest first"
    );
    let only = |kind: ActivityType| {
        let engine = engine.clone();
        async move {
            engine
                .activity(&ActivityQuery {
                    kind: Some(kind),
                    ..Default::default()
                })
                .await
                .expect("feed")
                .items
        }
    };
    let alerts = only(ActivityType::HealthAlert).await;
    assert!(!alerts.is_empty());
    assert!(alerts.iter().all(|e| e.kind == ActivityType::HealthAlert));
    // the lifecycle event as the node reported it
    let node = only(ActivityType::NodeEvent).await;
    assert_eq!(node.len(), 1, "{node:?}");
    assert_eq!(node[0].category, "install_started");
    assert_eq!(node[0].target, Some(tid("n")));
    assert_eq!(node[0].message, "reinstalling after the failed restart");
    assert_eq!(node[0].triggered_by, "node");
    // the heal decision, completed by the healer
    let heals = only(ActivityType::HealEvent).await;
    assert_eq!(heals.len(), 1, "{heals:?}");
    assert_eq!(heals[0].category, "restart");
    assert_eq!(heals[0].target, Some(tid("n")));
    assert_eq!(heals[0].details["result"], "success");
    assert_eq!(heals[0].triggered_by, "auto_heal");
    // decided on the third failure in a row, the observation at +4 min
    assert_eq!(heals[0].timestamp, start() + chrono::Duration::minutes(4));
    // ids carry the instance prefix
    assert!(view.alerts[0].id.contains("replay"));
    engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn restart_keeps_lifetime_counters_of_checks_without_transitions() {
    // 003's lifetime counters (total checks, failures, recoveries) and the
    // consecutive counters change on every result, mostly without a
    // transition; a graceful shutdown must still persist them.
    let store = Arc::new(InMemoryStore::new());
    let r = rig_with(store.clone(), EngineConfig::default(), |b| b);
    r.engine.start().await.expect("start");
    r.engine
        .add_target(Target::new(tid("a"), "a"))
        .await
        .expect("target");
    r.checker.outcomes("s", [Outcome::Pass]);
    r.engine
        .add_check(&tid("a"), spec("s", 10, 5))
        .await
        .expect("check");
    // scheduled runs every 10 s: only the first is a transition
    advance(Duration::from_secs(65)).await;
    let before = r.engine.target_view(&tid("a")).expect("v");
    assert!(
        before.checks[0].state.total_checks >= 6,
        "{:?}",
        before.checks[0].state
    );
    assert_eq!(
        before.checks[0].state.consecutive_successes,
        before.checks[0].state.total_checks as u32
    );
    r.engine.shutdown().await;

    let r2 = rig_with(store.clone(), EngineConfig::default(), |b| b);
    r2.engine.start().await.expect("start again");
    let after = r2.engine.target_view(&tid("a")).expect("restored");
    assert_eq!(after.checks[0].state, before.checks[0].state);
    assert_eq!(
        after.checks[0].breaker_detail,
        before.checks[0].breaker_detail
    );
    r2.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn channel_configs_select_notifiers_and_silence_targets() {
    let pager = RecordingNotifier::new("pager", Audience::External);
    let p = pager.clone();
    let r = rig_with(
        Arc::new(InMemoryStore::new()),
        EngineConfig::default(),
        move |b| b.notifier(p),
    );
    r.engine.start().await.expect("start");
    for t in ["db", "muted", "web"] {
        r.engine
            .add_target(Target::new(tid(t), t))
            .await
            .expect("target");
    }
    let cfg = |t: &str, channels: &[&str], enabled: bool| crate::store::AlertChannelConfig {
        target: Some(tid(t)),
        escalation_delay: Duration::ZERO,
        channels: channels.iter().map(|c| (*c).to_owned()).collect(),
        webhook_url: None,
        enabled,
    };
    r.engine
        .put_alert_channel(cfg("db", &["dashboard", "pager"], true))
        .await
        .expect("db config");
    r.engine
        .put_alert_channel(cfg("muted", &[], false))
        .await
        .expect("muted config");
    r.checker.outcomes("s", [Outcome::Fail]);
    for t in ["db", "muted", "web"] {
        r.engine
            .add_check(&tid(t), spec("s", 30, 5))
            .await
            .expect("check");
    }
    advance(Duration::from_secs(150)).await;
    settle().await;
    let to = |n: &Arc<RecordingNotifier>, t: &str| {
        n.sent()
            .iter()
            .filter(|x| x.alert.target.as_str() == t)
            .count()
    };
    // db: zero delay, only the pager among external channels
    assert!(to(&pager, "db") >= 1, "{:?}", pager.sent());
    assert_eq!(to(&r.ext, "db"), 0, "webhook not selected for db");
    assert!(
        to(&r.dash, "db") >= 1,
        "`dashboard` selects dashboard notifiers"
    );
    // muted: nothing external, but the dashboard hears and the store records
    assert_eq!(to(&pager, "muted") + to(&r.ext, "muted"), 0);
    assert!(to(&r.dash, "muted") >= 1);
    assert!(r.engine.metrics().notifications_silenced >= 1);
    r.engine.flush().await;
    let stored = r
        .store
        .list_alerts(&AlertQuery::default())
        .await
        .expect("alerts");
    assert!(stored.items.iter().any(|a| a.target.as_str() == "muted"));
    // web: the default config (300 s, every notifier) — nothing external yet
    assert_eq!(to(&pager, "web") + to(&r.ext, "web"), 0);
    advance(Duration::from_secs(360)).await;
    settle().await;
    assert!(to(&pager, "web") >= 1 && to(&r.ext, "web") >= 1);
    r.engine.shutdown().await;
}

#[tokio::test]
async fn uptime_reports_sum_days_and_edge_hours_like_uptime_all() {
    use crate::clock::ManualClock;
    use crate::rollup::{Granularity, split_interval};
    use crate::store::{ResultBatch, TargetBucket};
    let store = Arc::new(InMemoryStore::new());
    let t0 = start();
    // five days: healthy, a down hour on day 2, degraded half of day 4
    let mut rollups = Vec::new();
    let mut add = |status: Status, from: chrono::DateTime<Utc>, to: chrono::DateTime<Utc>| {
        for g in [Granularity::Hour, Granularity::Day] {
            for b in split_interval(g, status, false, from, to) {
                rollups.push(TargetBucket {
                    target: tid("u"),
                    bucket: b,
                });
            }
        }
    };
    let h = chrono::Duration::hours;
    add(Status::Healthy, t0, t0 + h(30));
    add(Status::Down, t0 + h(30), t0 + h(31));
    add(Status::Healthy, t0 + h(31), t0 + h(84));
    add(Status::Degraded, t0 + h(84), t0 + h(96));
    add(Status::Healthy, t0 + h(96), t0 + h(120));
    store
        .append_results(&ResultBatch {
            results: vec![],
            rollups,
        })
        .await
        .expect("rollups");
    store
        .put_target(&Target::new(tid("u"), "u"))
        .await
        .expect("target");
    let clock = Arc::new(ManualClock::new(t0 + h(121)));
    let engine = Engine::builder(store)
        .clock(clock)
        .without_scheduler()
        .build()
        .expect("build");
    engine.start().await.expect("start");
    // not on day boundaries: hours at both edges, whole days between
    for (from, to) in [
        (t0 + h(5), t0 + h(110)),
        (t0, t0 + h(120)),
        (t0 + h(29), t0 + h(80)),
    ] {
        let all = engine.uptime_all(None, from, to).await.expect("all");
        let reports = engine
            .uptime_reports(None, from, to)
            .await
            .expect("reports");
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].1, all[0].report, "{from}..{to}");
        assert!(reports[0].1.percent.is_some_and(|p| p < 100.0));
    }
    assert!(matches!(
        engine.uptime_reports(None, t0 + h(2), t0 + h(1)).await,
        Err(EngineError::Invalid(_))
    ));
    engine.shutdown().await;
}

fn node(id: &str, mac: Option<&str>, parents: &[&str]) -> Target {
    let mut t = Target::new(tid(id), id);
    t.mac_address = mac.map(str::to_owned);
    t.parents = parents.iter().map(|p| tid(p)).collect();
    t
}

#[tokio::test(start_paused = true)]
async fn create_target_refuses_an_existing_id_and_the_precondition_sees_the_stored_one() {
    let r = rig();
    r.engine.start().await.expect("start");
    r.engine
        .create_target(node("a", None, &[]))
        .await
        .expect("first");
    match r.engine.create_target(node("a", None, &[])).await {
        Err(EngineError::AlreadyExists { field, .. }) => assert_eq!(field, "id"),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    // a target only the store knows (written by another instance) exists too
    r.store
        .put_target(&node("b", None, &[]))
        .await
        .expect("put");
    assert!(matches!(
        r.engine.create_target(node("b", None, &[])).await,
        Err(EngineError::AlreadyExists { .. })
    ));
    // the precondition gets the current definition and can veto
    let mut renamed = node("a", None, &[]);
    renamed.name = "renamed".into();
    let res = r
        .engine
        .register_target(renamed.clone(), |cur| {
            assert_eq!(cur.map(|t| t.name.as_str()), Some("a"));
            Err(EngineError::Conflict("vetoed".into()))
        })
        .await;
    assert!(matches!(res, Err(EngineError::Conflict(_))));
    assert_eq!(r.engine.target_view(&tid("a")).unwrap().target.name, "a");
    r.engine
        .register_target(renamed, |cur| {
            assert!(cur.is_some());
            Ok(())
        })
        .await
        .expect("replace");
    assert_eq!(
        r.engine.target_view(&tid("a")).unwrap().target.name,
        "renamed"
    );
    r.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_mac_address_belongs_to_one_target() {
    let r = rig();
    r.engine.start().await.expect("start");
    let mac = "aa:bb:cc:00:11:33";
    r.engine
        .add_target(node("n1", Some(mac), &[]))
        .await
        .expect("n1");
    for attempt in [
        r.engine.add_target(node("n2", Some(mac), &[])).await,
        r.engine.create_target(node("n3", Some(mac), &[])).await,
    ] {
        match attempt {
            Err(EngineError::AlreadyExists { field, message }) => {
                assert_eq!(field, "mac_address");
                assert!(message.contains(mac), "{message}");
                assert!(!message.contains("n1"), "{message}");
            }
            other => panic!("expected AlreadyExists, got {other:?}"),
        }
    }
    // an update of another target to the address is refused as well
    r.engine
        .add_target(node("n2", Some("aa:bb:cc:00:11:44"), &[]))
        .await
        .expect("n2");
    assert!(matches!(
        r.engine.add_target(node("n2", Some(mac), &[])).await,
        Err(EngineError::AlreadyExists { .. })
    ));
    // the holder may be re-registered with it, and reports still find it
    r.engine
        .add_target(node("n1", Some(mac), &[]))
        .await
        .expect("n1 again");
    assert_eq!(
        r.engine.target_by_mac(mac).await.expect("mac").id,
        tid("n1")
    );
    // an address that is not normalised is refused before any lookup
    assert!(matches!(
        r.engine
            .add_target(node("n4", Some("AA:BB:CC:00:11:33"), &[]))
            .await,
        Err(EngineError::Invalid(_))
    ));
    // a removed holder frees its address
    r.engine.remove_target(&tid("n1")).await.expect("remove");
    r.engine
        .add_target(node("n4", Some(mac), &[]))
        .await
        .expect("n4");
    r.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn parents_never_form_a_cycle() {
    let r = rig();
    r.engine.start().await.expect("start");
    r.engine.add_target(node("a", None, &[])).await.expect("a");
    r.engine
        .add_target(node("b", None, &["a"]))
        .await
        .expect("b");
    r.engine
        .add_target(node("c", None, &["b"]))
        .await
        .expect("c");
    for (t, cycle) in [
        (node("a", None, &["b"]), "a -> b -> a"),
        (node("a", None, &["c"]), "a -> c -> b -> a"),
        (node("b", None, &["c"]), "b -> c -> b"),
    ] {
        match r.engine.add_target(t).await {
            Err(EngineError::Invalid(e)) => {
                assert_eq!(e.field(), "parents");
                assert_eq!(e.rule(), format!("dependency cycle: {cycle}"));
            }
            other => panic!("expected a cycle, got {other:?}"),
        }
    }
    // nothing changed, in memory or in the store
    assert!(
        r.engine
            .target_view(&tid("a"))
            .unwrap()
            .target
            .parents
            .is_empty()
    );
    let stored = r
        .store
        .get_target(&tid("a"))
        .await
        .expect("get")
        .expect("a");
    assert!(stored.parents.is_empty());
    // a diamond is fine
    r.engine
        .add_target(node("d", None, &["b", "c"]))
        .await
        .expect("d");
    r.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn activity_pages_past_one_store_page_and_takes_seed_names() {
    let r = rig();
    let rows: Vec<AuditEntry> = (0..620)
        .map(|i| AuditEntry {
            id: format!("a{i:04}"),
            at: start() + chrono::Duration::seconds(i),
            actor: "ops".into(),
            action: "recheck".into(),
            target: Some(tid("t")),
            tenant: None,
            result: "ok".into(),
            details: serde_json::Value::Null,
        })
        .collect();
    r.store.put_audit(&rows).await.expect("audit");
    let feed = r
        .engine
        .activity(&ActivityQuery {
            kind: ActivityType::parse("audit"),
            page: PageRequest::new(10, 600),
            ..Default::default()
        })
        .await
        .expect("feed");
    assert_eq!(feed.total, 620);
    let ids: Vec<&str> = feed.items.iter().map(|e| e.id.as_str()).collect();
    // newest first: offset 600 is the 601st newest, a0019
    assert_eq!(ids.first(), Some(&"audit_a0019"));
    assert_eq!(ids.len(), 10);
    assert_eq!(
        ActivityType::parse("lifecycle"),
        Some(ActivityType::NodeEvent)
    );
    assert_eq!(
        ActivityType::parse("health_alert"),
        Some(ActivityType::HealthAlert)
    );
    assert_eq!(
        ActivityType::parse("state_change"),
        Some(ActivityType::StateChange)
    );
    assert_eq!(ActivityType::parse("gossip"), None);
}

#[tokio::test(start_paused = true)]
async fn result_history_of_one_check_counts_every_result_of_the_window() {
    let r = rig_with(
        Arc::new(InMemoryStore::new()),
        EngineConfig::default(),
        EngineBuilder::without_scheduler,
    );
    r.engine.start().await.expect("start");
    r.engine
        .add_target(Target::new(tid("a"), "a"))
        .await
        .expect("target");
    let tcp = r
        .engine
        .add_check(&tid("a"), spec("tcp", 30, 5))
        .await
        .expect("check");
    let other = r
        .engine
        .add_check(
            &tid("a"),
            spec("other", 30, 5).named(CheckId::new("other").expect("id")),
        )
        .await
        .expect("check");
    for i in 0..324u32 {
        let outcome = if i % 4 == 0 {
            Outcome::Fail
        } else {
            Outcome::Pass
        };
        let obs = Observation::new(r.engine.now(), outcome).with_latency(Duration::from_millis(20));
        r.engine.ingest(&tcp, obs).expect("ingest");
        if i % 3 == 0 {
            r.engine
                .ingest(&other, Observation::new(r.engine.now(), Outcome::Pass))
                .expect("ingest");
        }
    }
    r.engine.flush().await;
    let h = r
        .engine
        .result_history(&tid("a"), 1, Some(tcp.check.clone()))
        .await
        .expect("history");
    assert_eq!(
        h.total_checks, 324,
        "every result of the check, not the listed 100"
    );
    assert_eq!(h.healthy_checks, 243);
    assert_eq!(h.unhealthy_checks, 81);
    assert_eq!(h.avg_latency_ms, Some(20.0));
    assert!(h.counts_complete);
    assert_eq!(h.results_limit, RESULTS_LIMIT);
    assert_eq!(h.results.len(), RESULTS_LIMIT as usize);
    // results still buffered count too
    r.engine
        .ingest(&tcp, Observation::new(r.engine.now(), Outcome::Pass))
        .expect("ingest");
    let h = r
        .engine
        .result_history(&tid("a"), 1, Some(tcp.check.clone()))
        .await
        .expect("history");
    assert_eq!(h.total_checks, 325);
    r.engine.flush().await;
    let h = r
        .engine
        .result_history(&tid("a"), 1, Some(tcp.check.clone()))
        .await
        .expect("history");
    assert_eq!(h.total_checks, 325, "counted once when written");
    // the whole target: both checks (from the rollups, up to now)
    advance(Duration::from_secs(30)).await;
    let all = r
        .engine
        .result_history(&tid("a"), 1, None)
        .await
        .expect("all");
    assert_eq!(all.total_checks, 325 + 108);
    r.engine.shutdown().await;
}

/// A healer with a fixed list of actions.
#[derive(Debug)]
struct ListedHealer;

#[async_trait::async_trait]
impl crate::healer::Healer for ListedHealer {
    async fn heal(&self, _target: &Target, _action: &HealAction) -> crate::heal::HealOutcome {
        crate::heal::HealOutcome::Success { message: None }
    }
    fn action_names(&self) -> Option<Vec<String>> {
        Some(vec!["restart".into(), "reboot-vm".into()])
    }
}

#[tokio::test(start_paused = true)]
async fn heal_policies_name_actions_the_healer_carries_out() {
    let engine = Engine::builder(Arc::new(InMemoryStore::new()))
        .healer(Arc::new(ListedHealer))
        .without_scheduler()
        .build()
        .expect("engine");
    engine.start().await.expect("start");
    let tenant = TenantId::new("default").expect("t");
    let mut p = HealPolicy::new("p", tenant.clone(), "restart");
    p.action = HealAction::Restart;
    engine.put_heal_policy(p.clone()).await.expect("restart");
    p.action = HealAction::Custom("reboot-vm".into());
    engine.put_heal_policy(p.clone()).await.expect("custom");
    p.action = HealAction::NotifyOnly;
    engine
        .put_heal_policy(p.clone())
        .await
        .expect("notify_only");
    for (field, policy) in [
        ("action", {
            let mut q = p.clone();
            q.action = HealAction::Migrate;
            q
        }),
        ("escalation_action", {
            let mut q = p.clone();
            q.action = HealAction::Restart;
            q.max_attempts = 3;
            q.escalate_after_attempts = Some(3);
            q.escalation_action = Some(HealAction::Custom("reboot-vn".into()));
            q
        }),
    ] {
        match engine.put_heal_policy(policy).await {
            Err(EngineError::Invalid(e)) => {
                assert_eq!(e.field(), field);
                assert!(e.rule().contains("reboot-vm, restart"), "{}", e.rule());
            }
            other => panic!("expected {field} refused, got {other:?}"),
        }
    }
    // the refused policies left the stored one alone
    let stored = engine.store().heal_policies(None).await.expect("policies");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].action, HealAction::NotifyOnly);
    engine.shutdown().await;
}
