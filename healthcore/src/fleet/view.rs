//! Read models of the fleet's in-memory view, for the API and dashboard.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{FleetConfig, TargetEntry};
use crate::alert::{Alert, AlertBook};
use crate::breaker::{BreakerState, CircuitBreaker};
use crate::heal::HealState;
use crate::lifecycle::NodeLifecycle;
use crate::machine::CheckState;
use crate::model::{CheckId, CheckSpec, Health, Target};
use crate::score::Score;

/// One check as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckView {
    /// The check's name.
    pub id: CheckId,
    /// Its spec.
    pub spec: CheckSpec,
    /// Counters and status.
    pub state: CheckState,
    /// Breaker state now (open becomes half_open after its cooldown).
    pub breaker: BreakerState,
    /// The stored breaker (trips, opened_at).
    pub breaker_detail: CircuitBreaker,
    /// Flapping now.
    pub flapping: bool,
    /// Weighted state-change percent.
    pub flap_percent: f64,
}

/// One target as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetView {
    /// The definition.
    pub target: Target,
    /// Aggregate status and cause.
    pub health: Health,
    /// Score and breakdown.
    pub score: Score,
    /// When last seen (report or passing check).
    pub last_seen_at: Option<DateTime<Utc>>,
    /// Its checks.
    pub checks: Vec<CheckView>,
    /// Lifecycle, boots, IP changes.
    pub lifecycle: NodeLifecycle,
    /// Heal attempts.
    pub heal: HealState,
    /// Open alerts, oldest first.
    pub alerts: Vec<Alert>,
}

pub(super) fn build(
    e: &TargetEntry,
    config: &FleetConfig,
    alerts: &AlertBook,
    now: DateTime<Utc>,
) -> TargetView {
    let mut open: Vec<Alert> = alerts
        .open_alerts()
        .filter(|a| a.target == e.target.id)
        .cloned()
        .collect();
    open.sort_by_key(|a| a.created_at);
    TargetView {
        target: e.target.clone(),
        health: e.rt.health,
        score: e.score,
        last_seen_at: e.last_seen(),
        checks: e
            .checks
            .iter()
            .map(|c| CheckView {
                id: c.id.clone(),
                spec: c.spec.clone(),
                state: c.rt.state.clone(),
                breaker: c.rt.breaker.effective_state(&config.breaker, now),
                breaker_detail: c.rt.breaker.clone(),
                flapping: c.rt.flap.is_flapping(),
                flap_percent: c.rt.flap.percent(),
            })
            .collect(),
        lifecycle: e.rt.lifecycle.clone(),
        heal: e.rt.heal.clone(),
        alerts: open,
    }
}
