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
}

impl Counting {
    fn new(node: &'static str, runs: &Runs) -> Arc<Self> {
        Arc::new(Self {
            node,
            runs: runs.clone(),
            freeze: Mutex::new(None),
            frozen: AtomicBool::new(false),
            fail_when_frozen: true,
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
        .map(|n| Node::start(&db, Counting::new(n, &runs), config(3_000)))
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
        assert!(
            rs.len() as f64 >= expected * 0.7,
            "{t}: only {} runs in {elapsed:?} at {interval_ms} ms",
            rs.len()
        );
    }
    counts.sort_unstable();
    eprintln!(
        "{TEST}: {} checks over {elapsed:?}: runs per check min {} median {} max {} (expected ≈ {expected:.1}); \
         repeats {repeats}; per node {per_node:?}; fenced {fenced}",
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
    let a = Node::start_on(pg.url(), options(), Counting::new("a", &runs), cfg);
    std::thread::sleep(Duration::from_millis(2_500));
    let written_before = a.engine.metrics().results_written;
    assert!(written_before > 0);
    pg.stop().expect("stop the server");
    let down_at = Instant::now();
    std::thread::sleep(Duration::from_millis(4_000));
    let m = a.engine.metrics();
    assert!(m.store_errors > 0, "the engine saw the outage: {m:?}");
    pg.start().expect("start the server again");
    let up_at = Instant::now();
    std::thread::sleep(Duration::from_millis(6_000));
    let m = a.engine.metrics();
    let after_up = runs.lock().unwrap().iter().filter(|r| r.2 > up_at).count();
    a.stop();
    assert!(
        after_up >= ids.len(),
        "claims resumed after the restart: {after_up} runs"
    );
    assert!(
        m.results_written > written_before,
        "buffered results written: {m:?}"
    );
    assert_eq!(m.results_dropped, 0);
    main.block_on(async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM hc_results")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert!(n as u64 >= m.results_written.min(1), "{n} rows");
        store.close().await;
    });
    eprintln!(
        "{TEST}: down {:?}, then {after_up} runs in 6 s after the restart; store errors {}",
        up_at - down_at,
        m.store_errors
    );
}
