//! The engine's claims mode against the real server: several engines (each
//! on its own runtime and connection pool, as separate processes would
//! be) on one schema. Every test makes its own schema; without a server
//! they print `SKIPPED` unless `HEALTHCORE_REQUIRE_PG=1`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use healthcore::checker::Checker;
use healthcore::engine::{ClaimsMode, Engine, EngineConfig};
use healthcore::heal::{HealPolicy, HealResult};
use healthcore::model::{CheckId, CheckSpec, Observation, Outcome, Target, TargetId, TenantId};
use healthcore::store::{Store, StoreExt};
use healthcore::testkit::fakes::FlakyHealer;
use healthcore_sqlx::PgStore;
use healthcore_sqlx::testing::TestDb;

type Runs = Arc<Mutex<Vec<(String, &'static str, Instant)>>>;

/// A fast in-process checker: records every run (target, node, when);
/// fails targets whose id starts with `f`; can freeze its whole runtime
/// once (a blocking sleep, as a GC or VM pause would).
#[derive(Debug)]
struct Counting {
    node: &'static str,
    runs: Runs,
    freeze: Mutex<Option<Duration>>,
    frozen: AtomicBool,
    fail_when_frozen: bool,
    /// Each run takes this long (an async wait, the runtime goes on).
    delay: Mutex<Duration>,
}

impl Counting {
    fn new(node: &'static str, runs: &Runs) -> Arc<Self> {
        Arc::new(Self {
            node,
            runs: runs.clone(),
            freeze: Mutex::new(None),
            frozen: AtomicBool::new(false),
            fail_when_frozen: true,
            delay: Mutex::new(Duration::ZERO),
        })
    }
}

#[async_trait]
impl Checker for Counting {
    fn kind(&self) -> &str {
        "count"
    }

    async fn check(&self, spec: &CheckSpec) -> Observation {
        let target = spec
            .params
            .get("target")
            .and_then(|v| v.as_str())
            .unwrap_or("?")
            .to_owned();
        self.runs
            .lock()
            .unwrap()
            .push((target.clone(), self.node, Instant::now()));
        let freeze = self.freeze.lock().unwrap().take();
        if let Some(d) = freeze {
            // blocks this runtime's only worker: the whole instance stops
            self.frozen.store(true, Ordering::SeqCst);
            std::thread::sleep(d);
            let outcome = if self.fail_when_frozen {
                Outcome::Fail
            } else {
                Outcome::Pass
            };
            return Observation::new(chrono::Utc::now(), outcome);
        }
        let delay = *self.delay.lock().unwrap();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let outcome = if target.starts_with('f') {
            Outcome::Fail
        } else {
            Outcome::Pass
        };
        Observation::new(chrono::Utc::now(), outcome)
    }
}

/// One engine on its own single-worker runtime and pool.
struct Node {
    rt: Option<tokio::runtime::Runtime>,
    engine: Engine,
    healer: Arc<FlakyHealer>,
}

impl Node {
    fn start(db: &TestDb, checker: Arc<Counting>, config: EngineConfig) -> Node {
        let options = db.options().max_connections(3);
        Self::start_on(healthcore_sqlx::testing::url(), options, checker, config)
    }

    fn start_on(
        url: String,
        options: healthcore_sqlx::PgStoreOptions,
        checker: Arc<Counting>,
        config: EngineConfig,
    ) -> Node {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let healer = FlakyHealer::new();
        let h = healer.clone();
        let engine = rt.block_on(async {
            let store: Arc<dyn Store> =
                Arc::new(PgStore::connect_with(&url, options).await.unwrap());
            let engine = Engine::builder(store)
                .checker(checker)
                .healer(h)
                .config(config)
                .build()
                .unwrap();
            engine.start().await.unwrap();
            engine
        });
        assert!(
            engine.claims_mode(),
            "PostgreSQL offers claims: Auto picks them"
        );
        Node {
            rt: Some(rt),
            engine,
            healer,
        }
    }

    /// Graceful: finishes runs, gives the leases back.
    fn stop(mut self) {
        if let Some(rt) = self.rt.take() {
            let e = self.engine.clone();
            rt.block_on(async move { e.shutdown().await });
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }

    /// Killed: every task dropped at once, nothing released.
    fn kill(mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

fn config(lease_ms: u64) -> EngineConfig {
    let mut c = EngineConfig::default();
    c.claims.mode = ClaimsMode::Auto;
    c.claims.lease = Duration::from_millis(lease_ms);
    c.claims.poll = Duration::from_millis(100);
    c.limits.flush_interval = Duration::from_millis(200);
    c
}

fn tid(s: &str) -> TargetId {
    TargetId::new(s).unwrap()
}

fn spec(target: &str, interval_ms: u64, timeout_ms: u64) -> CheckSpec {
    let mut s = CheckSpec::new("count")
        .named(CheckId::new("c").unwrap())
        .with_params(serde_json::json!({ "target": target }))
        .every(
            Duration::from_millis(interval_ms),
            Duration::from_millis(timeout_ms),
        );
    s.jitter = Duration::ZERO;
    s
}

/// Targets (one check each) and an optional heal policy, written straight
/// to the store before any engine starts.
async fn seed(store: &PgStore, ids: &[String], interval_ms: u64, policy: Option<HealPolicy>) {
    if let Some(p) = policy {
        store.put_heal_policy(&p, chrono::Utc::now()).await.unwrap();
    }
    for id in ids {
        store
            .put_target(&Target::new(tid(id), id.clone()))
            .await
            .unwrap();
        store
            .put_check(&tid(id), &spec(id, interval_ms, interval_ms / 2))
            .await
            .unwrap();
    }
}

fn main_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Runs per target, in time order.
fn by_target(runs: &Runs) -> BTreeMap<String, Vec<(&'static str, Instant)>> {
    let mut out: BTreeMap<String, Vec<(&'static str, Instant)>> = BTreeMap::new();
    for (t, n, at) in runs.lock().unwrap().iter() {
        out.entry(t.clone()).or_default().push((*n, *at));
    }
    for v in out.values_mut() {
        v.sort_by_key(|r| r.1);
    }
    out
}

async fn open_alert_dupes(store: &PgStore) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT target_id, kind FROM hc_alerts \
         WHERE status <> 'resolved' GROUP BY 1, 2 HAVING count(*) > 1) d",
    )
    .fetch_one(store.pool())
    .await
    .unwrap()
}

#[test]
fn three_engines_run_every_check_once_per_interval() {
    const TEST: &str = "three_engines_run_every_check_once_per_interval";
    let main = main_rt();
    let Some(db) = main.block_on(TestDb::create(TEST)) else {
        return;
    };
    let store = main.block_on(db.store());
    let interval_ms = 1_000;
    let lease = Duration::from_millis(3_000);
    let mut ids: Vec<String> = (0..240).map(|i| format!("t{i:03}")).collect();
    ids.extend((0..10).map(|i| format!("f{i:02}")));
    let mut policy = HealPolicy::new("p", TenantId::new("default").unwrap(), "restart");
    policy.trigger_after_failures = 3;
    policy.cooldown = Duration::from_secs(1);
    policy.max_attempts = 3;
    main.block_on(seed(&store, &ids, interval_ms, Some(policy)));

    let runs: Runs = Arc::default();
    let names = ["a", "b", "c"];
    let nodes: Vec<Node> = names
        .iter()
        .map(|n| {
            Node::start(
                &db,
                Counting::new(n, &runs),
                config(lease.as_millis() as u64),
            )
        })
        .collect();
    let started = Instant::now();
    let window = Duration::from_secs(20);
    std::thread::sleep(window);
    let elapsed = started.elapsed();
    let healers: Vec<Arc<FlakyHealer>> = nodes.iter().map(|n| n.healer.clone()).collect();
    let fenced: u64 = nodes.iter().map(|n| n.engine.metrics().fenced).sum();
    for n in nodes {
        n.stop();
    }

    let per_target = by_target(&runs);
    assert_eq!(per_target.len(), ids.len(), "every check ran");
    let expected = elapsed.as_secs_f64() / (interval_ms as f64 / 1000.0);
    let mut per_node: HashMap<&str, usize> = HashMap::new();
    let mut repeats = 0usize;
    let mut counts = Vec::new();
    // measured on two loaded cores: the worst gap is about 1.1-1.2 s (one
    // interval plus claim polling); a lapsed lease at a handover may add up
    // to one lease, which also leaves room for a slow machine
    let max_gap = Duration::from_millis(interval_ms) + lease;
    let mut worst_gap = Duration::ZERO;
    for (t, rs) in &per_target {
        counts.push(rs.len());
        for (n, _) in rs {
            *per_node.entry(n).or_default() += 1;
        }
        // a repeat: two runs closer than half an interval
        let close = rs
            .windows(2)
            .filter(|w| w[1].1 - w[0].1 < Duration::from_millis(interval_ms / 2))
            .count();
        assert!(
            close <= 1,
            "{t}: {close} repeats (at most one at a handover)"
        );
        repeats += close;
        assert!(
            rs.len() as f64 <= expected + 2.0,
            "{t}: {} runs in {elapsed:?} at {interval_ms} ms",
            rs.len()
        );
        // whole runs: the next run is due an interval after the claim, so
        // claim latency (polling, two loaded cores) delays each a little
        assert!(
            rs.len() as f64 >= expected.floor() - 2.0,
            "{t}: only {} runs in {elapsed:?} at {interval_ms} ms (expected ≈ {expected:.1})",
            rs.len()
        );
        // no check waits longer than an interval plus a lease between two
        // runs
        let gap = rs
            .windows(2)
            .map(|w| w[1].1 - w[0].1)
            .max()
            .unwrap_or_default();
        assert!(
            gap <= max_gap,
            "{t}: {gap:?} between two runs (bound: interval + lease = {max_gap:?})"
        );
        worst_gap = worst_gap.max(gap);
    }
    counts.sort_unstable();
    eprintln!(
        "{TEST}: {} checks over {elapsed:?}: runs per check min {} median {} max {} (expected ≈ {expected:.1}); \
         worst gap between runs {worst_gap:?}; repeats {repeats}; per node {per_node:?}; fenced {fenced}",
        ids.len(),
        counts[0],
        counts[counts.len() / 2],
        counts[counts.len() - 1],
    );
    for n in names {
        assert!(per_node.get(n).copied().unwrap_or(0) > 0, "{n} ran checks");
    }

    main.block_on(async {
        assert_eq!(
            open_alert_dupes(&store).await,
            0,
            "two open alerts of one key"
        );
        // every failing target: one down alert, raised once (whoever raised it)
        let downs: Vec<(String, i64)> = sqlx::query_as(
            "SELECT target_id, count(*) FROM hc_alerts WHERE kind = 'down' GROUP BY 1 ORDER BY 1",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        let failing: Vec<&String> = ids.iter().filter(|i| i.starts_with('f')).collect();
        assert_eq!(downs.len(), failing.len(), "{downs:?}");
        assert!(
            downs.iter().all(|(t, n)| t.starts_with('f') && *n == 1),
            "{downs:?}"
        );
        // heal: one action per decision; the policy's 3 attempts (1 s
        // cooldown) are counted across instances, then max_attempts skips
        let mut calls: HashMap<String, usize> = HashMap::new();
        for h in &healers {
            for (t, _) in h.calls() {
                *calls.entry(t).or_default() += 1;
            }
        }
        for t in failing {
            let events = store
                .heal_events(&tid(t), healthcore::store::PageRequest::max())
                .await
                .unwrap();
            let decided = events
                .items
                .iter()
                .filter(|e| e.result != HealResult::Skipped)
                .count();
            let ran = calls.get(t.as_str()).copied().unwrap_or(0);
            assert_eq!(decided, 3, "{t}: heal decisions {:?}", events.items);
            assert_eq!(ran, decided, "{t}: heal actions run vs decisions");
        }
        assert!(
            calls.keys().all(|t| t.starts_with('f')),
            "only failing targets healed: {calls:?}"
        );
    });
    main.block_on(async {
        store.close().await;
        db.drop_schema().await;
    });
}

#[test]
fn a_paused_instance_late_writes_change_nothing() {
    const TEST: &str = "a_paused_instance_late_writes_change_nothing";
    let main = main_rt();
    let Some(db) = main.block_on(TestDb::create(TEST)) else {
        return;
    };
    let store = main.block_on(db.store());
    let mut policy = HealPolicy::new("p", TenantId::new("default").unwrap(), "restart");
    policy.trigger_after_failures = 1;
    main.block_on(async {
        store
            .put_heal_policy(&policy, chrono::Utc::now())
            .await
            .unwrap();
        store
            .put_target(&Target::new(tid("vps"), "vps"))
            .await
            .unwrap();
        let mut s = spec("vps", 1_000, 500);
        s.failure_threshold = 1;
        store.put_check(&tid("vps"), &s).await.unwrap();
    });
    let runs: Runs = Arc::default();
    let ca = Counting::new("a", &runs);
    let a = Node::start(&db, ca.clone(), config(2_000));
    // a owns the check alone for a while
    std::thread::sleep(Duration::from_millis(2_500));
    let n = runs.lock().unwrap().len();
    assert!(n >= 2, "{n} runs in 2.5 s at 1 s");
    // its next run freezes the whole instance past its lease, then fails
    *ca.freeze.lock().unwrap() = Some(Duration::from_millis(5_000));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !ca.frozen.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "a never ran the check again");
        std::thread::sleep(Duration::from_millis(20));
    }
    let frozen_at = Instant::now();
    let b = Node::start(&db, Counting::new("b", &runs), config(2_000));
    // b takes over once a's lease lapsed; a wakes after 5 s and writes late
    std::thread::sleep(Duration::from_millis(7_000));
    let a_fenced = a.engine.metrics().fenced;
    let b_runs_during = runs
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.1 == "b" && r.2 > frozen_at && r.2 < frozen_at + Duration::from_millis(5_000))
        .count();
    let healed = a.healer.calls().len() + b.healer.calls().len();
    a.stop();
    b.stop();
    assert!(b_runs_during >= 1, "b ran the check while a was frozen");
    assert_eq!(a_fenced, 1, "a's late effects were refused");
    assert_eq!(healed, 0, "a refused decision never heals");
    main.block_on(async {
        let open = store
            .list_alerts(&healthcore::store::AlertQuery {
                open_only: true,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(
            open.items.is_empty(),
            "a's alert was not written: {:?}",
            open.items
        );
        let events = store
            .heal_events(&tid("vps"), healthcore::store::PageRequest::max())
            .await
            .unwrap();
        assert!(events.items.is_empty(), "{:?}", events.items);
        let states = store.load_states_of(&[tid("vps")]).await.unwrap();
        let check = states
            .iter()
            .find(|s| matches!(s.scope, healthcore::store::StateScope::Check { .. }))
            .expect("check state");
        let rt: healthcore::fleet::CheckRuntime =
            serde_json::from_value(check.body.clone()).unwrap();
        assert_eq!(
            rt.state.total_failures, 0,
            "a's failure never reached the store"
        );
        assert_eq!(rt.state.status, healthcore::model::Status::Healthy);
        // nothing ran twice: runs are an interval apart, but for the handover
        let rs = by_target(&runs).remove("vps").unwrap();
        let close = rs
            .windows(2)
            .filter(|w| w[1].1 - w[0].1 < Duration::from_millis(500))
            .count();
        assert!(close <= 1, "{close} repeats: {rs:?}");
        store.close().await;
    });
    main.block_on(db.drop_schema());
}

#[test]
fn a_killed_instance_checks_are_taken_over_within_lease_plus_interval() {
    const TEST: &str = "a_killed_instance_checks_are_taken_over_within_lease_plus_interval";
    let main = main_rt();
    let Some(db) = main.block_on(TestDb::create(TEST)) else {
        return;
    };
    let store = main.block_on(db.store());
    let interval_ms = 1_000;
    let lease_ms = 2_000;
    let ids: Vec<String> = (0..60).map(|i| format!("t{i:02}")).collect();
    main.block_on(seed(&store, &ids, interval_ms, None));
    let runs: Runs = Arc::default();
    let checkers = [
        Counting::new("a", &runs),
        Counting::new("b", &runs),
        Counting::new("c", &runs),
    ];
    let mut nodes: Vec<(&str, Node, Arc<Counting>)> = checkers
        .iter()
        .map(|c| {
            (
                c.node,
                Node::start(&db, c.clone(), config(lease_ms)),
                c.clone(),
            )
        })
        .collect();
    std::thread::sleep(Duration::from_millis(4_000));
    // A claim is held only while its run is in flight (a completed run hands
    // the check back with its next due time), so the victim is killed while
    // it is provably mid-run: its next check blocks its runtime's only worker
    // (as a hung probe or a VM pause would) and it dies right then, holding
    // that claim and any other of its batch, nothing released. The victim is
    // the instance that ran most checks so far, so it is sure to claim more.
    let ran = |name: &str| runs.lock().unwrap().iter().filter(|r| r.1 == name).count();
    let victim = (0..nodes.len()).max_by_key(|i| ran(nodes[*i].0)).unwrap();
    let (victim_name, node, checker) = nodes.remove(victim);
    *checker.freeze.lock().unwrap() = Some(Duration::from_millis(10_000));
    let waited = Instant::now();
    while !checker.frozen.load(Ordering::SeqCst) {
        assert!(
            waited.elapsed() < Duration::from_secs(10),
            "{victim_name} claimed no check in 10 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    node.kill();
    let kill_at = Instant::now();
    std::thread::sleep(Duration::from_millis(6_000));
    for (_, n, _) in nodes {
        n.stop();
    }
    // The bound is measured from the kill: a held check (the frozen run, and
    // any other of the victim's claimed batch not yet run) is claimed again
    // once its lease lapses, at most one lease after the kill, and runs at
    // the latest one interval later; checks it did not hold keep their rhythm.
    let limit = Duration::from_millis(lease_ms + interval_ms);
    let slack = Duration::from_millis(500);
    let mut worst = Duration::ZERO;
    let mut taken_over = 0;
    for (t, rs) in by_target(&runs) {
        let last = rs
            .iter()
            .rev()
            .find(|r| r.1 <= kill_at)
            .unwrap_or_else(|| panic!("{t} never ran before the kill"));
        let after = rs
            .iter()
            .find(|r| r.1 > kill_at)
            .unwrap_or_else(|| panic!("{t} never ran after the kill"));
        assert_ne!(after.0, victim_name, "{t}: the killed instance ran it");
        if last.0 == victim_name {
            taken_over += 1;
        }
        let takeover = after.1 - kill_at;
        worst = worst.max(takeover);
        assert!(
            takeover <= limit + slack,
            "{t}: first run {takeover:?} after the kill (limit lease + interval = {limit:?})"
        );
    }
    eprintln!(
        "{TEST}: killed {victim_name} mid-run; {taken_over} checks last run by it; \
         worst first run after the kill {worst:?}"
    );
    assert!(taken_over > 0, "the killed instance held checks");
    main.block_on(async {
        store.close().await;
        db.drop_schema().await;
    });
}

#[test]
fn a_recheck_is_refused_while_another_instance_holds_the_check_then_runs_fenced() {
    const TEST: &str =
        "a_recheck_is_refused_while_another_instance_holds_the_check_then_runs_fenced";
    let main = main_rt();
    let Some(db) = main.block_on(TestDb::create(TEST)) else {
        return;
    };
    let store = main.block_on(db.store());
    main.block_on(seed(&store, &["vps".to_owned()], 5_000, None));
    let key = healthcore::model::CheckKey::new(tid("vps"), CheckId::new("c").unwrap());
    let runs: Runs = Arc::default();
    let ca = Counting::new("a", &runs);
    *ca.delay.lock().unwrap() = Duration::from_millis(1_500);
    let a = Node::start(&db, ca, config(3_000));
    let deadline = Instant::now() + Duration::from_secs(10);
    while runs.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "a never ran the check");
        std::thread::sleep(Duration::from_millis(10));
    }
    let b = Node::start(&db, Counting::new("b", &runs), config(3_000));
    let on_b = |e: &Engine| {
        let e = e.clone();
        let k = key.clone();
        b.rt.as_ref()
            .unwrap()
            .block_on(async move { e.recheck(&k, "ann").await })
    };
    match on_b(&b.engine) {
        Err(healthcore::engine::EngineError::Conflict(why)) => {
            assert!(why.contains("held by another instance"), "{why}");
            assert!(why.contains(a.engine.instance_id()), "{why}");
        }
        other => panic!("b does not hold the check: expected a conflict, got {other:?}"),
    }
    assert_eq!(runs.lock().unwrap().len(), 1, "nothing ran on b");
    // a's run ends (1.5 s) and hands the check back until its next due
    // time, 5 s after its claim: b's recheck claims it and writes fenced
    std::thread::sleep(Duration::from_millis(1_800));
    let (_, obs) = on_b(&b.engine).expect("recheck once a's run is done");
    assert_eq!(obs.outcome, Outcome::Pass);
    let ran = runs.lock().unwrap().clone();
    assert_eq!(ran.len(), 2, "{ran:?}");
    assert_eq!(ran[1].1, "b");
    let stored = || {
        main.block_on(async {
            let states = store.load_states_of(&[tid("vps")]).await.unwrap();
            let check = states
                .iter()
                .find(|s| matches!(s.scope, healthcore::store::StateScope::Check { .. }))
                .expect("check state");
            let rt: healthcore::fleet::CheckRuntime =
                serde_json::from_value(check.body.clone()).unwrap();
            rt.state.total_checks
        })
    };
    assert_eq!(stored(), 2, "b continued from a's stored counters");
    // b stops last, with the newer memory; then a, a run behind, must not
    // write its memory back
    b.stop();
    a.stop();
    let total = runs.lock().unwrap().len() as u64;
    assert_eq!(stored(), total, "every run counted once, none rolled back");
    let audit = main
        .block_on(store.audit_log(
            Some(&tid("vps")),
            Some("recheck"),
            healthcore::store::PageRequest::max(),
        ))
        .unwrap();
    let mut results: Vec<&str> = audit.items.iter().map(|e| e.result.as_str()).collect();
    results.sort_unstable();
    assert_eq!(results.len(), 2, "{results:?}");
    assert_eq!(results[0], "pass");
    assert!(results[1].starts_with("refused"), "{results:?}");
    main.block_on(async {
        store.close().await;
        db.drop_schema().await;
    });
}

#[test]
fn the_server_going_away_mid_run_makes_the_engine_buffer_and_retry() {
    const TEST: &str = "the_server_going_away_mid_run_makes_the_engine_buffer_and_retry";
    let pg = match healthcore_sqlx::testing::PrivatePg::create() {
        Ok(pg) => pg,
        Err(reason) => {
            healthcore_sqlx::testing::skip(
                TEST,
                &format!("cannot start a private PostgreSQL: {reason}"),
            );
            return;
        }
    };
    let options = || {
        healthcore_sqlx::PgStoreOptions::default()
            .max_connections(3)
            .connect_timeout(Duration::from_secs(1))
    };
    let main = main_rt();
    let store = main
        .block_on(PgStore::connect_with(&pg.url(), options()))
        .unwrap();
    let ids: Vec<String> = (0..20).map(|i| format!("t{i:02}")).collect();
    main.block_on(seed(&store, &ids, 1_000, None));
    let runs: Runs = Arc::default();
    let mut cfg = config(2_000);
    cfg.limits.max_retry_backoff = Duration::from_secs(1);
    // runs of 300 ms: some are always in flight, so some finish while the
    // server is away and their results can only be buffered
    let checker = Counting::new("a", &runs);
    *checker.delay.lock().unwrap() = Duration::from_millis(300);
    let a = Node::start_on(pg.url(), options(), checker, cfg);
    let engine = a.engine.clone();
    std::thread::sleep(Duration::from_millis(2_500));
    let written_before = engine.metrics().results_written;
    assert!(written_before > 0);
    pg.stop().expect("stop the server");
    let down_at = Instant::now();
    std::thread::sleep(Duration::from_millis(4_000));
    let down = engine.metrics();
    assert!(down.store_errors > 0, "the engine saw the outage: {down:?}");
    // observed but not written: held in the buffer through the outage
    let buffered = down.checks - down.results_written - down.results_dropped;
    assert!(buffered > 0, "results were buffered: {down:?}");
    pg.start().expect("start the server again");
    let up_at = Instant::now();
    std::thread::sleep(Duration::from_millis(6_000));
    let after_up = runs.lock().unwrap().iter().filter(|r| r.2 > up_at).count();
    // graceful stop: runs finish, the writer flushes
    a.stop();
    let m = engine.metrics();
    assert!(
        after_up >= ids.len(),
        "claims resumed after the restart: {after_up} runs"
    );
    assert_eq!(m.results_dropped, 0, "{m:?}");
    assert_eq!(m.buffer_depth, 0, "{m:?}");
    assert_eq!(
        m.results_written, m.checks,
        "every observed result was written, the buffered ones included: {m:?}"
    );
    assert!(m.results_written >= down.results_written + buffered);
    main.block_on(async {
        let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM hc_results")
            .fetch_one(store.pool())
            .await
            .unwrap();
        let stored = stored as u64;
        // the store holds every result the engine observed; a batch whose
        // commit reached the server just as it went away (its answer lost)
        // may have been written twice, never lost
        assert!(
            stored >= m.checks,
            "{stored} rows for {} observed results: some were lost",
            m.checks
        );
        assert!(
            stored <= m.checks + 50,
            "{stored} rows for {} observed results",
            m.checks
        );
        store.close().await;
        eprintln!(
            "{TEST}: down {:?}; {buffered} results buffered through the outage; \
             {after_up} runs in 6 s after the restart; {} observed, {} written, {stored} stored; \
             store errors {}",
            up_at - down_at,
            m.checks,
            m.results_written,
            m.store_errors
        );
    });
}
