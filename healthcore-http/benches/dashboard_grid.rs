//! The dashboard's one call: `GET /health/grid` over 1,000 targets (one
//! check each, an hour of results each, so the 7-day uptime reads real
//! rollups), through the router in-process (`oneshot`, no socket), with and
//! without the uptime column; plus the page itself (`GET /`).
//!
//! `CARGO_TARGET_DIR=… cargo bench -p healthcore-http --bench dashboard_grid -- --quick`

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use criterion::Criterion;
use healthcore::clock::ManualClock;
use healthcore::engine::Engine;
use healthcore::memory::InMemoryStore;
use healthcore::model::{CheckId, CheckKey, CheckSpec, Observation, Outcome, Target, TargetId};
use healthcore::testkit::fakes::ScriptedChecker;
use healthcore_http::server::{ApiState, Auth, Scope};
use tower::ServiceExt;

const TARGETS: usize = 1_000;
const TOKEN: &str = "bench-admin-token-0123456789";

async fn setup() -> axum::Router {
    let clock = Arc::new(ManualClock::new(
        chrono::Utc::now() - chrono::Duration::hours(1),
    ));
    let engine = Engine::builder(Arc::new(InMemoryStore::new()))
        .checker(ScriptedChecker::new("tcp"))
        .clock(clock.clone())
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
    // one result per target per minute for an hour
    for minute in 0..60u32 {
        for (i, k) in keys.iter().enumerate() {
            let fail = (i + minute as usize) % 97 == 0;
            let o = Observation::new(
                engine.now(),
                if fail { Outcome::Fail } else { Outcome::Pass },
            )
            .with_latency(Duration::from_millis(5 + (i % 40) as u64));
            engine.ingest(k, o).unwrap();
        }
        engine.flush().await;
        clock.advance(chrono::Duration::seconds(60));
    }
    let auth = Auth::new().with_token("bench", TOKEN, Scope::Admin);
    healthcore_http::router(ApiState::new(engine, auth))
}

async fn get(app: &axum::Router, path: &str) -> usize {
    let req = Request::builder()
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    axum::body::to_bytes(res.into_body(), 1 << 24)
        .await
        .unwrap()
        .len()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = rt.block_on(setup());
    let bytes = rt.block_on(get(&app, "/health/grid"));
    println!("GET /health/grid, {TARGETS} targets: {bytes} bytes of JSON");
    let mut g = c.benchmark_group("dashboard");
    g.sample_size(30);
    g.bench_function("grid_1000_targets_uptime_7d", |b| {
        b.to_async(&rt).iter(|| get(&app, "/health/grid"))
    });
    g.bench_function("grid_1000_targets_uptime_off", |b| {
        b.to_async(&rt)
            .iter(|| get(&app, "/health/grid?uptime=off"))
    });
    g.bench_function("page", |b| b.to_async(&rt).iter(|| get(&app, "/")));
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
