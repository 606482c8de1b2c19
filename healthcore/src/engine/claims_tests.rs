//! Claims mode on paused time: several engines on one in-memory store
//! (whose "database time" is the same simulated clock).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{TimeZone, Utc};

use super::super::*;
use crate::alert::AlertStatus;
use crate::checker::Checker;
use crate::clock::TokioClock;
use crate::heal::{HealPolicy, HealResult};
use crate::memory::InMemoryStore;
use crate::model::{CheckId, Outcome};
use crate::store::{AlertQuery, PageRequest, StoreExt};
use crate::testkit::fakes::{FlakyHealer, OutageStore};

fn start() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0)
        .single()
        .expect("valid")
}

fn tid(s: &str) -> TargetId {
    TargetId::new(s).expect("id")
}

/// Records every run (check, engine, time) and answers a set outcome per
/// engine, after an optional delay.
#[derive(Debug)]
struct Counting {
    name: &'static str,
    outcome: Mutex<Outcome>,
    delay: Mutex<Duration>,
    runs: Runs,
}

/// Every run: check, engine, when.
type Runs = Arc<Mutex<Vec<(String, &'static str, tokio::time::Instant)>>>;

impl Counting {
    fn new(name: &'static str, outcome: Outcome, runs: &Runs) -> Arc<Self> {
        Arc::new(Self {
            name,
            outcome: Mutex::new(outcome),
            delay: Mutex::new(Duration::ZERO),
            runs: runs.clone(),
        })
    }
}

#[async_trait]
impl Checker for Counting {
    fn kind(&self) -> &str {
        "count"
    }

    async fn check(&self, spec: &CheckSpec) -> Observation {
        lock(&self.runs).push((
            spec.id().as_str().to_owned(),
            self.name,
            tokio::time::Instant::now(),
        ));
        let delay = *lock(&self.delay);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Observation::new(Utc::now(), *lock(&self.outcome))
    }
}

fn cfg(lease: u64) -> EngineConfig {
    let mut c = EngineConfig::default();
    c.claims.lease = Duration::from_secs(lease);
    c.claims.poll = Duration::from_millis(100);
    c
}

fn engine(
    store: Arc<dyn Store>,
    clock: &Arc<TokioClock>,
    checker: Arc<Counting>,
    healer: Arc<FlakyHealer>,
    lease: u64,
) -> Engine {
    engine_with(store, clock, checker, healer, cfg(lease))
}

fn engine_with(
    store: Arc<dyn Store>,
    clock: &Arc<TokioClock>,
    checker: Arc<Counting>,
    healer: Arc<FlakyHealer>,
    config: EngineConfig,
) -> Engine {
    Engine::builder(store)
        .clock(clock.clone())
        .checker(checker)
        .healer(healer)
        .config(config)
        .claims(ClaimsMode::On)
        .build()
        .expect("build")
}

fn check(name: &str, interval: u64, timeout: u64) -> CheckSpec {
    CheckSpec::new("count")
        .named(CheckId::new(name).expect("id"))
        .every(Duration::from_secs(interval), Duration::from_secs(timeout))
}

async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

async fn advance(d: Duration) {
    let mut left = d;
    while !left.is_zero() {
        let step = left.min(Duration::from_millis(500));
        tokio::time::advance(step).await;
        settle().await;
        left -= step;
    }
}

#[tokio::test(start_paused = true)]
async fn auto_mode_needs_a_persistent_store_and_on_needs_claims() {
    let mem: Arc<dyn Store> = Arc::new(InMemoryStore::new());
    let e = Engine::builder(mem.clone()).build().expect("build");
    assert!(
        !e.claims_mode(),
        "an in-memory store is one process: timers"
    );
    let e = Engine::builder(mem.clone())
        .claims(ClaimsMode::On)
        .build()
        .expect("build");
    assert!(e.claims_mode());
    let e = Engine::builder(mem)
        .claims(ClaimsMode::On)
        .without_scheduler()
        .build()
        .expect("build");
    assert!(!e.claims_mode(), "no scheduler, nothing to claim");
}

#[tokio::test(start_paused = true)]
async fn two_engines_split_checks_each_runs_once_per_interval() {
    let clock = Arc::new(TokioClock::new(start()));
    let store: Arc<dyn Store> = Arc::new(InMemoryStore::with_clock(clock.clone()));
    let runs = Arc::new(Mutex::new(Vec::new()));
    // five probes at once per engine, a second each: neither can take all
    let mut c = cfg(5);
    c.limits.max_concurrency = 5;
    let (ca, cb) = (
        Counting::new("a", Outcome::Pass, &runs),
        Counting::new("b", Outcome::Pass, &runs),
    );
    *lock(&ca.delay) = Duration::from_secs(1);
    *lock(&cb.delay) = Duration::from_secs(1);
    let a = engine_with(store.clone(), &clock, ca, FlakyHealer::new(), c.clone());
    let b = engine_with(store.clone(), &clock, cb, FlakyHealer::new(), c);
    a.start().await.expect("start");
    b.start().await.expect("start");
    assert!(a.claims_mode() && b.claims_mode());
    for t in 0..4 {
        let id = tid(&format!("t{t}"));
        a.add_target(Target::new(id.clone(), "t"))
            .await
            .expect("target");
        for c in 0..5 {
            a.add_check(&id, check(&format!("c{c}"), 10, 2))
                .await
                .expect("check");
        }
    }
    advance(Duration::from_secs(100)).await;
    a.shutdown().await;
    b.shutdown().await;
    let runs = lock(&runs).clone();
    let mut per_check: HashMap<String, Vec<tokio::time::Instant>> = HashMap::new();
    let mut per_engine: HashMap<&str, usize> = HashMap::new();
    for (c, e, at) in &runs {
        per_check.entry(c.clone()).or_default().push(*at);
        *per_engine.entry(e).or_default() += 1;
    }
    // check ids repeat across targets: 4 targets × (one run per 10 s) per name
    assert_eq!(per_check.len(), 5);
    for (c, times) in &per_check {
        assert!(
            (36..=44).contains(&times.len()),
            "{c}: {} runs over 100 s for 4 targets at 10 s",
            times.len()
        );
    }
    assert!(per_engine["a"] > 0 && per_engine["b"] > 0, "{per_engine:?}");
    // the store's view: every check completed with its next due time, states written
    let states = store.load_states().await.expect("states");
    assert_eq!(
        states
            .iter()
            .filter(|s| matches!(s.scope, crate::store::StateScope::Check { .. }))
            .count(),
        20
    );
    assert_eq!(a.metrics().fenced + b.metrics().fenced, 0);
}

#[tokio::test(start_paused = true)]
async fn counters_and_heal_attempts_continue_across_instances() {
    let clock = Arc::new(TokioClock::new(start()));
    let store: Arc<dyn Store> = Arc::new(InMemoryStore::with_clock(clock.clone()));
    let runs = Arc::new(Mutex::new(Vec::new()));
    let (ha, hb) = (FlakyHealer::new(), FlakyHealer::new());
    ha.results([false]);
    hb.results([false]);
    let a = engine(
        store.clone(),
        &clock,
        Counting::new("a", Outcome::Fail, &runs),
        ha.clone(),
        5,
    );
    let b = engine(
        store.clone(),
        &clock,
        Counting::new("b", Outcome::Fail, &runs),
        hb.clone(),
        5,
    );
    a.start().await.expect("start");
    a.add_target(Target::new(tid("vps"), "vps"))
        .await
        .expect("target");
    let mut p = HealPolicy::new("p", TenantId::new("default").expect("t"), "restart");
    p.trigger_after_failures = 3;
    p.cooldown = Duration::from_secs(1);
    p.max_attempts = 3;
    a.put_heal_policy(p).await.expect("policy");
    a.add_check(&tid("vps"), check("c", 5, 2))
        .await
        .expect("check");
    // a runs the check twice (two failures), then leaves
    advance(Duration::from_secs(7)).await;
    assert_eq!(lock(&runs).len(), 2);
    a.shutdown().await;
    assert!(ha.calls().is_empty());
    // b (started now, loading everything from the store) continues: its
    // first run is the third failure in a row, which triggers the heal
    b.start().await.expect("start");
    advance(Duration::from_secs(4)).await;
    assert_eq!(lock(&runs).len(), 3);
    assert_eq!(hb.calls().len(), 1, "the third failure overall heals");
    advance(Duration::from_secs(8)).await;
    b.shutdown().await;
    // and a third instance continues from b's attempts
    let ha2 = FlakyHealer::new();
    ha2.results([false]);
    let a2 = engine(
        store.clone(),
        &clock,
        Counting::new("a", Outcome::Fail, &runs),
        ha2.clone(),
        5,
    );
    a2.start().await.expect("start");
    advance(Duration::from_secs(60)).await;
    a2.shutdown().await;
    let runs = lock(&runs).clone();
    assert!(runs.len() >= 15, "{} runs", runs.len());
    assert!(
        runs.iter().any(|r| r.1 == "a") && runs.iter().any(|r| r.1 == "b"),
        "both instances ran the check"
    );
    // heal state and breaker are carried across instances
    let heals = ha.calls().len() + hb.calls().len() + ha2.calls().len();
    let events = store
        .heal_events(&tid("vps"), PageRequest::max())
        .await
        .expect("events");
    let attempted: Vec<_> = events
        .items
        .iter()
        .filter(|e| e.result != HealResult::Skipped)
        .collect();
    // the policy's 3 attempts are counted across instances, not per instance
    assert_eq!(heals, 3, "max attempts across three instances");
    assert_eq!(attempted.len(), heals, "one heal event per action run");
    // one open down alert, whoever raised it
    let open = store
        .list_alerts(&AlertQuery {
            open_only: true,
            page: PageRequest::max(),
            ..Default::default()
        })
        .await
        .expect("alerts");
    let mut keys: Vec<_> = open.items.iter().map(|a| a.kind.clone()).collect();
    let n = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), n, "never two open alerts of one key");
    assert!(
        open.items
            .iter()
            .any(|a| a.kind == crate::alert::AlertKind::Down)
    );
    // counters continued: the stored check state counts every run
    let key = CheckKey::new(tid("vps"), CheckId::new("c").expect("id"));
    let stored = store
        .load_states_of(&[tid("vps")])
        .await
        .expect("states")
        .into_iter()
        .find(|s| s.scope == crate::store::StateScope::Check { key: key.clone() })
        .expect("check state");
    let rt: crate::fleet::CheckRuntime = serde_json::from_value(stored.body).expect("decode");
    assert_eq!(rt.state.total_checks as usize, runs.len());
    assert_eq!(rt.state.consecutive_failures as usize, runs.len());
}

#[tokio::test(start_paused = true)]
async fn a_late_write_after_a_takeover_changes_nothing() {
    let clock = Arc::new(TokioClock::new(start()));
    let mem: Arc<dyn Store> = Arc::new(InMemoryStore::with_clock(clock.clone()));
    let (held, _down) = OutageStore::new(mem.clone());
    let hold = held.hold_switch();
    let runs = Arc::new(Mutex::new(Vec::new()));
    let (ha, hb) = (FlakyHealer::new(), FlakyHealer::new());
    let ca = Counting::new("a", Outcome::Pass, &runs);
    let a = engine(Arc::new(held), &clock, ca.clone(), ha.clone(), 5);
    let b = engine(
        mem.clone(),
        &clock,
        Counting::new("b", Outcome::Pass, &runs),
        hb.clone(),
        5,
    );
    a.start().await.expect("start");
    a.add_target(Target::new(tid("vps"), "vps"))
        .await
        .expect("target");
    let mut p = HealPolicy::new("p", TenantId::new("default").expect("t"), "restart");
    p.trigger_after_failures = 1;
    a.put_heal_policy(p).await.expect("policy");
    let mut spec = check("c", 10, 2);
    spec.failure_threshold = 1;
    a.add_check(&tid("vps"), spec).await.expect("check");
    advance(Duration::from_secs(3)).await;
    assert_eq!(lock(&runs).len(), 1, "a ran the check once");
    // a's next run fails, and its write is held past the lease
    *lock(&ca.outcome) = Outcome::Fail;
    hold.set_down(true);
    advance(Duration::from_secs(9)).await;
    assert_eq!(lock(&runs).len(), 2);
    // b takes over once a's lease lapsed, and sees the check healthy
    b.start().await.expect("start");
    advance(Duration::from_secs(8)).await;
    let by_b = lock(&runs).iter().filter(|r| r.1 == "b").count();
    assert!(by_b >= 1, "b took the check over");
    // a's held write goes through now: refused
    hold.set_down(false);
    advance(Duration::from_secs(2)).await;
    assert_eq!(a.metrics().fenced, 1, "a's late effects were fenced");
    assert!(
        ha.calls().is_empty() && hb.calls().is_empty(),
        "no heal from a refused decision"
    );
    let open = mem
        .list_alerts(&AlertQuery {
            open_only: true,
            page: PageRequest::max(),
            ..Default::default()
        })
        .await
        .expect("alerts");
    assert!(open.items.is_empty(), "{:?}", open.items);
    assert!(
        mem.heal_events(&tid("vps"), PageRequest::max())
            .await
            .expect("events")
            .items
            .is_empty()
    );
    let key = CheckKey::new(tid("vps"), CheckId::new("c").expect("id"));
    let stored = mem
        .load_states_of(&[tid("vps")])
        .await
        .expect("states")
        .into_iter()
        .find(|s| s.scope == crate::store::StateScope::Check { key: key.clone() })
        .expect("check state");
    let rt: crate::fleet::CheckRuntime = serde_json::from_value(stored.body).expect("decode");
    assert_eq!(rt.state.total_failures, 0, "a's failure was never stored");
    assert_eq!(rt.state.status, Status::Healthy);
    // a continues from the stored state the next time it claims the check
    advance(Duration::from_secs(30)).await;
    a.shutdown().await;
    b.shutdown().await;
    let _ = AlertStatus::Active;
}

#[tokio::test(start_paused = true)]
async fn a_store_outage_makes_the_claim_loop_wait_and_resume() {
    let clock = Arc::new(TokioClock::new(start()));
    let mem: Arc<dyn Store> = Arc::new(InMemoryStore::with_clock(clock.clone()));
    let (outage, down) = OutageStore::new(mem.clone());
    let runs = Arc::new(Mutex::new(Vec::new()));
    let mut c = cfg(5);
    c.limits.max_retry_backoff = Duration::from_secs(4);
    let a = Engine::builder(Arc::new(outage))
        .clock(clock.clone())
        .checker(Counting::new("a", Outcome::Pass, &runs))
        .config(c)
        .claims(ClaimsMode::On)
        .build()
        .expect("build");
    a.start().await.expect("start");
    a.add_target(Target::new(tid("web"), "web"))
        .await
        .expect("target");
    a.add_check(&tid("web"), check("c", 5, 2))
        .await
        .expect("check");
    advance(Duration::from_secs(12)).await;
    let before = lock(&runs).len();
    assert!(before >= 2);
    down.set_down(true);
    advance(Duration::from_secs(30)).await;
    assert!(a.metrics().store_errors > 0);
    let during = lock(&runs).len();
    assert!(during <= before + 1, "no claims while the store is away");
    down.set_down(false);
    advance(Duration::from_secs(40)).await;
    let after = lock(&runs).len();
    assert!(
        after >= during + 5,
        "claims resume after the outage: {before} {during} {after}"
    );
    a.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn configuration_changed_through_one_instance_reaches_the_others_on_tick() {
    let clock = Arc::new(TokioClock::new(start()));
    let store: Arc<dyn Store> = Arc::new(InMemoryStore::with_clock(clock.clone()));
    let runs = Arc::new(Mutex::new(Vec::new()));
    let mut c = cfg(5);
    c.jobs.tick = Duration::from_secs(2);
    let a = engine_with(
        store.clone(),
        &clock,
        Counting::new("a", Outcome::Pass, &runs),
        FlakyHealer::new(),
        c.clone(),
    );
    let b = engine_with(
        store.clone(),
        &clock,
        Counting::new("b", Outcome::Pass, &runs),
        FlakyHealer::new(),
        c,
    );
    a.start().await.expect("start");
    b.start().await.expect("start");
    a.put_heal_policy(HealPolicy::new(
        "p",
        TenantId::new("default").expect("t"),
        "restart",
    ))
    .await
    .expect("policy");
    assert!(lock(&b.inner.fleet).policies().is_empty());
    advance(Duration::from_secs(3)).await;
    assert_eq!(lock(&b.inner.fleet).policies().len(), 1);
    a.shutdown().await;
    b.shutdown().await;
}

/// The stored runtime of check `c` of `vps`.
async fn stored_runtime(store: &Arc<dyn Store>) -> crate::fleet::CheckRuntime {
    let key = CheckKey::new(tid("vps"), CheckId::new("c").expect("id"));
    let stored = store
        .load_states_of(&[tid("vps")])
        .await
        .expect("states")
        .into_iter()
        .find(|s| s.scope == crate::store::StateScope::Check { key: key.clone() })
        .expect("check state");
    serde_json::from_value(stored.body).expect("decode")
}

#[tokio::test(start_paused = true)]
async fn a_recheck_claims_the_check_and_runs_fenced_or_is_refused_while_another_holds_it() {
    let clock = Arc::new(TokioClock::new(start()));
    let store: Arc<dyn Store> = Arc::new(InMemoryStore::with_clock(clock.clone()));
    let runs = Arc::new(Mutex::new(Vec::new()));
    let (ha, hb) = (FlakyHealer::new(), FlakyHealer::new());
    let ca = Counting::new("a", Outcome::Pass, &runs);
    *lock(&ca.delay) = Duration::from_millis(1500);
    let a = engine(store.clone(), &clock, ca, ha.clone(), 5);
    let b = engine(
        store.clone(),
        &clock,
        Counting::new("b", Outcome::Fail, &runs),
        hb.clone(),
        5,
    );
    a.start().await.expect("start");
    a.add_target(Target::new(tid("vps"), "vps"))
        .await
        .expect("target");
    let mut p = HealPolicy::new("p", TenantId::new("default").expect("t"), "restart");
    p.trigger_after_failures = 1;
    a.put_heal_policy(p).await.expect("policy");
    let mut spec = check("c", 10, 2);
    spec.failure_threshold = 1;
    let key = a.add_check(&tid("vps"), spec).await.expect("check");
    // a claims the check and runs it (1.5 s)
    while lock(&runs).is_empty() {
        advance(Duration::from_millis(500)).await;
    }
    b.start().await.expect("start");
    match b.recheck(&key, "ann").await {
        Err(EngineError::Conflict(why)) => {
            assert!(why.contains("held by another instance"), "{why}");
            assert!(why.contains(a.instance_id()), "{why}");
        }
        other => panic!("b does not hold the check: expected a conflict, got {other:?}"),
    }
    assert_eq!(lock(&runs).len(), 1, "nothing ran on b");
    let audit = store
        .audit_log(Some(&tid("vps")), Some("recheck"), PageRequest::max())
        .await
        .expect("audit");
    assert_eq!(audit.items.len(), 1);
    assert!(
        audit.items[0].result.starts_with("refused"),
        "{:?}",
        audit.items
    );
    // a's run is done and handed the check back: b's recheck claims it,
    // continues from what a stored, and writes fenced
    advance(Duration::from_secs(2)).await;
    assert_eq!(stored_runtime(&store).await.state.total_checks, 1);
    let (status, obs) = b.recheck(&key, "ann").await.expect("recheck");
    assert_eq!((status, obs.outcome), (Status::Down, Outcome::Fail));
    let rt = stored_runtime(&store).await;
    assert_eq!(
        (rt.state.total_checks, rt.state.total_failures),
        (2, 1),
        "b loaded a's state first"
    );
    settle().await;
    assert_eq!(hb.calls().len(), 1, "b healed once, under its lease");
    assert!(ha.calls().is_empty());
    let open = store
        .list_alerts(&AlertQuery {
            open_only: true,
            page: PageRequest::max(),
            ..Default::default()
        })
        .await
        .expect("alerts");
    assert_eq!(open.items.len(), 1, "{:?}", open.items);
    assert_eq!(
        store
            .heal_events(&tid("vps"), PageRequest::max())
            .await
            .expect("events")
            .items
            .len(),
        1
    );
    // the recheck completed the claim: the next scheduled run is an
    // interval after it, not at once
    advance(Duration::from_secs(5)).await;
    assert_eq!(lock(&runs).len(), 2, "{:?}", lock(&runs));
    // a recheck on a (stale memory: one run) continues from b's state
    let e = a.clone();
    let k = key.clone();
    let h = tokio::spawn(async move { e.recheck(&k, "bob").await });
    advance(Duration::from_secs(2)).await;
    h.await.expect("join").expect("recheck on a");
    assert_eq!(stored_runtime(&store).await.state.total_checks, 3);
    assert_eq!(a.metrics().fenced + b.metrics().fenced, 0);
    // b's memory of the check is a run behind: shutting down last, it
    // must not write it back over what a stored
    a.shutdown().await;
    b.shutdown().await;
    assert_eq!(stored_runtime(&store).await.state.total_checks, 3);
}

#[tokio::test(start_paused = true)]
async fn engines_given_one_prefix_get_their_own_ids_and_keep_their_own_leases() {
    let clock = Arc::new(TokioClock::new(start()));
    let store: Arc<dyn Store> = Arc::new(InMemoryStore::with_clock(clock.clone()));
    let runs = Arc::new(Mutex::new(Vec::new()));
    let node = |name: &'static str, delay: Duration| {
        let c = Counting::new(name, Outcome::Pass, &runs);
        *lock(&c.delay) = delay;
        Engine::builder(store.clone())
            .clock(clock.clone())
            .checker(c)
            .config(cfg(5))
            .claims(ClaimsMode::On)
            .instance_id("node")
            .build()
            .expect("build")
    };
    let a = node("a", Duration::from_secs(3));
    let b = node("b", Duration::ZERO);
    assert_ne!(a.instance_id(), b.instance_id());
    for id in [a.instance_id(), b.instance_id()] {
        let suffix = id.strip_prefix("node-").expect("the prefix");
        assert_eq!(suffix.len(), 16, "64 random bits: {id}");
    }
    a.start().await.expect("start");
    a.add_target(Target::new(tid("vps"), "vps"))
        .await
        .expect("target");
    a.add_check(&tid("vps"), check("c", 10, 4))
        .await
        .expect("check");
    while lock(&runs).is_empty() {
        advance(Duration::from_millis(500)).await;
    }
    // b shuts down while a's run holds the lease: b gives back its own
    // leases only
    b.start().await.expect("start");
    b.shutdown().await;
    advance(Duration::from_secs(4)).await;
    assert_eq!(a.metrics().fenced, 0, "a kept its lease");
    assert_eq!(stored_runtime(&store).await.state.total_checks, 1);
    a.shutdown().await;
}
