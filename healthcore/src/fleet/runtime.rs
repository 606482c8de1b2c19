//! The per-check and per-target runtime state the fleet keeps, persisted
//! on transitions as [`StateRecord`](crate::store::StateRecord) bodies.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::breaker::CircuitBreaker;
use crate::flap::FlapDetector;
use crate::heal::HealState;
use crate::lifecycle::NodeLifecycle;
use crate::machine::CheckState;
use crate::model::Health;
use crate::uptime::WindowTracker;

/// One check's machine, breaker and flap detector.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckRuntime {
    /// Counters and status.
    pub state: CheckState,
    /// Circuit breaker.
    pub breaker: CircuitBreaker,
    /// Flap detector.
    pub flap: FlapDetector,
}

/// One target's aggregate, lifecycle, heal and window state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetRuntime {
    /// Aggregate health.
    pub health: Health,
    /// Provisioning lifecycle, last seen, boots, IP.
    pub lifecycle: NodeLifecycle,
    /// Auto-heal attempts.
    pub heal: HealState,
    /// The open status window.
    pub window: WindowTracker,
    /// Time in status is in the rollups up to here.
    pub accounted_until: Option<DateTime<Utc>>,
    /// An install timeout fired and the install has not finished since.
    #[serde(default)]
    pub install_timeout_open: bool,
    /// The last heal skip reason recorded, so repeats are not re-logged.
    #[serde(default)]
    pub last_skip: Option<String>,
}
