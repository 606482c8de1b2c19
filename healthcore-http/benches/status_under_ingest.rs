//! DESIGN.md §8: status of 1,000 targets over HTTP while 10,000 results/s
//! are ingested; budget p99 < 50 ms.
//!
//! A real listener on 127.0.0.1 serves the router over an engine with
//! 1,000 targets (one check each) on the in-memory store; a task on the
//! same 2-worker runtime feeds `Engine::ingest` at 10,000 results/s
//! (a mix of passes and occasional failures, so statuses, alerts and
//! events change). The client asks `GET /health/overview` (every target's
//! status) over keep-alive HTTP/1.1.
//!
//! It prints the latency percentiles of a fixed run (p50/p99/max) and the
//! ingest rate achieved, then lets criterion time the same request.
//!
//! `CARGO_TARGET_DIR=… cargo bench -p healthcore-http --bench status_under_ingest -- --quick`

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::Criterion;
use healthcore::engine::Engine;
use healthcore::memory::InMemoryStore;
use healthcore::model::{CheckId, CheckKey, CheckSpec, Observation, Outcome, Target, TargetId};
use healthcore::testkit::fakes::ScriptedChecker;
use healthcore_http::server::{ApiState, Auth, Scope};

const TARGETS: usize = 1_000;
const RATE: u64 = 10_000;
const TOKEN: &str = "bench-admin-token-0123456789";

async fn setup() -> (SocketAddr, Engine, Vec<CheckKey>) {
    let engine = Engine::builder(Arc::new(InMemoryStore::new()))
        .checker(ScriptedChecker::new("tcp"))
        .without_scheduler()
        .build()
        .unwrap();
    engine.start().await.unwrap();
    let mut keys = Vec::with_capacity(TARGETS);
    for i in 0..TARGETS {
        let id = TargetId::new(format!("t{i:04}")).unwrap();
        engine
            .add_target(Target::new(id.clone(), format!("target {i}")))
            .await
            .unwrap();
        engine.add_check(&id, CheckSpec::new("tcp")).await.unwrap();
        keys.push(CheckKey::new(id, CheckId::new("tcp").unwrap()));
    }
    let auth = Auth::new().with_token("bench", TOKEN, Scope::Admin);
    let app = healthcore_http::router(ApiState::new(engine.clone(), auth));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(l, app).await.unwrap();
    });
    (addr, engine, keys)
}

/// Feeds RATE results per second until `stop`, counting them.
async fn ingest(engine: Engine, keys: Vec<CheckKey>, stop: Arc<AtomicBool>, done: Arc<AtomicU64>) {
    let start = Instant::now();
    let mut n: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let due = (start.elapsed().as_secs_f64() * RATE as f64) as u64;
        while n < due {
            let i = n as usize;
            let key = &keys[i % keys.len()];
            // every 97th result fails: statuses, alerts and events move
            let outcome = if i % 97 == 0 {
                Outcome::Fail
            } else {
                Outcome::Pass
            };
            let obs = Observation::new(engine.now(), outcome)
                .with_latency(Duration::from_micros(300 + (i % 700) as u64));
            let _ = engine.ingest(key, obs);
            n += 1;
        }
        done.store(n, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (addr, engine, keys) = rt.block_on(setup());
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    rt.spawn(ingest(engine.clone(), keys, stop.clone(), done.clone()));
    // reqwest is built without a default TLS provider; plain HTTP still
    // needs one installed to build a client
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!("http://{addr}/health/overview");
    let get = {
        let client = client.clone();
        let url = url.clone();
        move || {
            let client = client.clone();
            let url = url.clone();
            async move {
                let res = client.get(&url).bearer_auth(TOKEN).send().await.unwrap();
                assert!(res.status().is_success());
                let body = res.bytes().await.unwrap();
                assert!(body.len() > 50_000);
            }
        }
    };

    // percentiles over a fixed run
    let samples = rt.block_on(async {
        for _ in 0..50 {
            get().await;
        }
        let before = done.load(Ordering::Relaxed);
        let t0 = Instant::now();
        let mut lat = Vec::with_capacity(2_000);
        for _ in 0..2_000 {
            let s = Instant::now();
            get().await;
            lat.push(s.elapsed());
        }
        let rate = (done.load(Ordering::Relaxed) - before) as f64 / t0.elapsed().as_secs_f64();
        lat.sort();
        println!(
            "status of {TARGETS} targets over HTTP while ingesting: ingest {rate:.0} results/s; \
             requests {}: p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
            lat.len(),
            pct(&lat, 0.50),
            pct(&lat, 0.90),
            pct(&lat, 0.99),
            lat[lat.len() - 1],
        );
        lat
    });
    drop(samples);

    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    c.bench_function("overview_1000_targets_under_10k_ingest", |b| {
        b.to_async(&rt).iter(&get)
    });
    c.final_summary();
    stop.store(true, Ordering::Relaxed);
    println!("results ingested in all: {}", done.load(Ordering::Relaxed));
}
