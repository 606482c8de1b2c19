//! Pure-core budgets (DESIGN.md §8): one observation through the check
//! machine + breaker + flap detector (≤ 1 µs, aim ≤ 100 ns); the same
//! through the whole composed fleet; alert + heal evaluation per
//! observation (≤ 200 ns); 30-day uptime for one target from hour buckets
//! (≤ 10 µs).

use std::hint::black_box;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use healthcore::alert::{self, AlertPolicy, Conditions};
use healthcore::breaker::{BreakerConfig, CircuitBreaker};
use healthcore::flap::{FlapConfig, FlapDetector};
use healthcore::fleet::{Fleet, FleetConfig};
use healthcore::heal::{self, HealInput, HealPolicy, HealState};
use healthcore::machine::{CheckState, Thresholds};
use healthcore::model::{
    Cause, CheckSpec, Health, Observation, Outcome, Status, Target, TargetId, TenantId,
};
use healthcore::rollup::{self, Bucket, Granularity};
use healthcore::uptime::UptimeConfig;

fn pipeline(c: &mut Criterion) {
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let obs = Observation::new(now, Outcome::Pass).with_latency(Duration::from_millis(3));
    let t = Thresholds::default();
    let bc = BreakerConfig::default();
    let fc = FlapConfig::default();
    let mut state = CheckState::default();
    let mut breaker = CircuitBreaker::default();
    let mut flap = FlapDetector::default();
    c.bench_function("pipeline: machine + breaker + flap (steady pass)", |b| {
        b.iter(|| {
            let tr = state.observe(&t, black_box(&obs));
            let f = flap.record(state.status, &fc);
            let br = breaker.record_success(&bc, now);
            black_box((tr, f, br));
        })
    });
    let fail = Observation::new(now, Outcome::Fail);
    let mut i = 0u64;
    c.bench_function("pipeline: machine + breaker + flap (alternating)", |b| {
        b.iter(|| {
            i += 1;
            let o = if i % 2 == 0 { &obs } else { &fail };
            let tr = state.observe(&t, black_box(o));
            let f = flap.record(state.status, &fc);
            let br = if o.outcome.is_failure() {
                breaker.record_failure(&bc, now)
            } else {
                breaker.record_success(&bc, now)
            };
            black_box((tr, f, br));
        })
    });

    let mut fleet = Fleet::new(FleetConfig::default(), "bench");
    let id = TargetId::new("web-1").unwrap();
    fleet.upsert_target(Target::new(id.clone(), "web-1"), now);
    let key = fleet.upsert_check(&id, CheckSpec::new("tcp")).unwrap();
    let mut out = Vec::new();
    fleet.observe(&key, &obs, &mut out).unwrap();
    out.clear();
    c.bench_function("fleet.observe: every rule composed (steady pass)", |b| {
        b.iter(|| {
            fleet.observe(&key, black_box(&obs), &mut out).unwrap();
            debug_assert!(out.is_empty());
        })
    });
}

fn alert_heal(c: &mut Criterion) {
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let policy = AlertPolicy::default();
    let conditions = Conditions {
        staleness: None,
        check_status: Some(Health::new(Status::Down, Cause::Failing)),
        score: Some(80),
        install_timed_out: false,
        breaker_open: false,
        heal_exhausted: false,
        flapping: false,
    };
    let hp = HealPolicy::new("p", TenantId::new("t").unwrap(), "restart");
    let hs = HealState {
        attempts: 1,
        last_attempt_at: Some(now - chrono::Duration::minutes(2)),
        ..Default::default()
    };
    let input = HealInput {
        outcome: Outcome::Fail,
        status: Status::Down,
        consecutive_failures: 5,
        breaker_allows: true,
        in_maintenance: false,
        flapping: false,
    };
    c.bench_function("alert rules + heal decision per observation", |b| {
        b.iter(|| {
            let plan = alert::evaluate(&policy, black_box(&conditions));
            let d = heal::decide(&hp, &hs, black_box(&input), now);
            black_box((plan, d));
        })
    });
}

fn uptime(c: &mut Criterion) {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let buckets: Vec<Bucket> = (0..720)
        .map(|h| {
            let t = start + chrono::Duration::hours(h);
            let mut b = Bucket::new(Granularity::Hour, t);
            let status = if h % 50 == 0 {
                Status::Down
            } else {
                Status::Healthy
            };
            b.add_interval(status, false, t, t + chrono::Duration::hours(1));
            for _ in 0..60 {
                b.add_observation(Outcome::Pass, Some(Duration::from_millis(4)));
            }
            b
        })
        .collect();
    let cfg = UptimeConfig::default();
    let end = start + chrono::Duration::days(30);
    c.bench_function("30-day uptime of one target from 720 hour buckets", |b| {
        b.iter(|| {
            black_box(rollup::uptime_from_buckets(
                black_box(&buckets),
                start,
                end,
                &cfg,
            ))
        })
    });
    c.bench_function(
        "30-day uptime + timeline of one target (hour buckets)",
        |b| {
            b.iter(|| {
                let r = rollup::uptime_from_buckets(black_box(&buckets), start, end, &cfg);
                let t = rollup::timeline_from_buckets(black_box(&buckets), start, end);
                black_box((r, t))
            })
        },
    );
}

criterion_group!(benches, pipeline, alert_heal, uptime);
criterion_main!(benches);
