//! The per-observation steady path allocates nothing (DESIGN.md §8).

use std::time::Duration;

use chrono::{TimeZone, Utc};
use healthcore::breaker::{BreakerConfig, CircuitBreaker};
use healthcore::flap::{FlapConfig, FlapDetector};
use healthcore::fleet::{Fleet, FleetConfig};
use healthcore::machine::{CheckState, Thresholds};
use healthcore::model::{CheckSpec, Observation, Outcome, Target, TargetId};

#[test]
fn machine_breaker_flap_steady_path_does_not_allocate() {
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let obs = Observation::new(now, Outcome::Pass).with_latency(Duration::from_millis(3));
    let (t, bc, fc) = (
        Thresholds::default(),
        BreakerConfig::default(),
        FlapConfig::default(),
    );
    let (mut s, mut b, mut f) = (
        CheckState::default(),
        CircuitBreaker::default(),
        FlapDetector::default(),
    );
    s.observe(&t, &obs);
    let info = allocation_counter::measure(|| {
        for _ in 0..1000 {
            s.observe(&t, &obs);
            f.record(s.status, &fc);
            b.record_success(&bc, now);
        }
    });
    assert_eq!(info.count_total, 0, "{info:?}");
}

#[test]
fn fleet_observe_steady_path_does_not_allocate() {
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let mut fleet = Fleet::new(FleetConfig::default(), "t");
    let id = TargetId::new("web").unwrap();
    fleet.upsert_target(Target::new(id.clone(), "web"), now);
    let key = fleet.upsert_check(&id, CheckSpec::new("tcp")).unwrap();
    let obs = Observation::new(now, Outcome::Pass).with_latency(Duration::from_millis(3));
    let mut out = Vec::with_capacity(16);
    fleet.observe(&key, &obs, &mut out).unwrap();
    out.clear();
    let info = allocation_counter::measure(|| {
        for _ in 0..1000 {
            fleet.observe(&key, &obs, &mut out).unwrap();
        }
    });
    assert!(out.is_empty());
    assert_eq!(info.count_total, 0, "{info:?}");
}

#[test]
fn fleet_observe_allocates_nothing_across_rollup_drains_and_minutes() {
    // the writer drains the pending rollups every few seconds; the
    // target keeps its pending buffer, so the next minute's first
    // observation reuses it
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let mut fleet = Fleet::new(FleetConfig::default(), "t");
    let id = TargetId::new("web").unwrap();
    fleet.upsert_target(Target::new(id.clone(), "web"), now);
    let key = fleet.upsert_check(&id, CheckSpec::new("tcp")).unwrap();
    let mut out = Vec::with_capacity(16);
    let obs = Observation::new(now, Outcome::Pass).with_latency(Duration::from_millis(3));
    fleet.observe(&key, &obs, &mut out).unwrap();
    out.clear();
    for minute in 1..=5 {
        let drained = fleet.drain_rollups();
        assert_eq!(drained.len(), 3, "minute, hour and day deltas: {drained:?}");
        let at = now + chrono::Duration::minutes(minute);
        let obs = Observation::new(at, Outcome::Pass).with_latency(Duration::from_millis(3));
        let info = allocation_counter::measure(|| {
            for _ in 0..100 {
                fleet.observe(&key, &obs, &mut out).unwrap();
            }
        });
        assert!(out.is_empty());
        assert_eq!(info.count_total, 0, "minute {minute}: {info:?}");
    }
    let drained = fleet.drain_rollups();
    let minute = drained
        .iter()
        .find(|b| b.bucket.granularity == healthcore::rollup::Granularity::Minute)
        .expect("a minute bucket");
    assert_eq!(minute.bucket.checks_total, 100);
}
