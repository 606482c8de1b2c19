//! [`EngineConfig`]: the fleet's rules plus the engine's limits and job
//! intervals, validated whole.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::fleet::FleetConfig;
use crate::store::Retention;

/// Runtime limits. Defaults suit a few thousand checks on two cores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Checks running at once, across all targets.
    pub max_concurrency: usize,
    /// Results per store transaction.
    pub batch_size: usize,
    /// Longest a result waits before its batch is written.
    #[serde(with = "humantime_serde")]
    pub flush_interval: Duration,
    /// Results held while the store is down; beyond it the oldest are
    /// dropped and counted.
    pub buffer_capacity: usize,
    /// Transition writes (alerts, heal events, status windows, lifecycle
    /// events, snapshots) queued while the store is slow or down; beyond
    /// it new ones are dropped, counted (`effects_dropped`) and logged.
    pub effects_capacity: usize,
    /// Delivery attempts per notification.
    pub notify_attempts: u32,
    /// Deadline for one heal action.
    #[serde(with = "humantime_serde")]
    pub heal_timeout: Duration,
    /// Largest backoff between store retries.
    #[serde(with = "humantime_serde")]
    pub max_retry_backoff: Duration,
    /// Most log lines one quick action returns.
    pub max_log_lines: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_concurrency: 256,
            batch_size: 2_000,
            flush_interval: Duration::from_millis(500),
            buffer_capacity: 200_000,
            effects_capacity: 100_000,
            notify_attempts: 5,
            heal_timeout: Duration::from_secs(120),
            max_retry_backoff: Duration::from_secs(30),
            max_log_lines: 1_000,
        }
    }
}

/// How often the periodic jobs run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobIntervals {
    /// Staleness, install timeouts, breaker cooldowns, reminders,
    /// escalation, time-in-status rollups (000: every minute).
    #[serde(with = "humantime_serde")]
    pub tick: Duration,
    /// Snapshots (000: every 5 minutes).
    #[serde(with = "humantime_serde")]
    pub snapshot: Duration,
    /// Retention cleanup (daily).
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
}

impl Default for JobIntervals {
    fn default() -> Self {
        Self {
            tick: Duration::from_secs(60),
            snapshot: Duration::from_secs(300),
            retention: Duration::from_secs(24 * 3600),
        }
    }
}

/// Whether the engine splits checks with other instances through the
/// store's claims.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClaimsMode {
    /// Claims when the store offers them and is shared between processes
    /// ([`Capabilities`](crate::store::Capabilities) `claims` and
    /// `persistent`, e.g. PostgreSQL); per-check timers otherwise.
    #[default]
    Auto,
    /// Always claims; building the engine fails when the store has none
    /// (e.g. several engines on one in-memory store, in tests).
    On,
    /// Always per-check timers (a single instance).
    Off,
}

/// Multi-instance claims (DESIGN.md §4 "Scale-out").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClaimsConfig {
    /// Auto (claims when the store has them) or off.
    pub mode: ClaimsMode,
    /// Lease per claim: must outlast one run plus its writes. A run whose
    /// timeout does not fit renews its lease first. An instance that dies
    /// has its checks taken over within one lease plus one interval.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// Most checks claimed at once (also bounded by free concurrency).
    pub batch: u32,
    /// Pause between claims when nothing was due.
    #[serde(with = "humantime_serde")]
    pub poll: Duration,
}

impl Default for ClaimsConfig {
    fn default() -> Self {
        Self {
            mode: ClaimsMode::Auto,
            lease: Duration::from_secs(30),
            batch: 500,
            poll: Duration::from_millis(200),
        }
    }
}

/// Everything the engine is configured with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// The rules.
    pub rules: FleetConfig,
    /// Runtime limits.
    pub limits: Limits,
    /// Periodic jobs.
    pub jobs: JobIntervals,
    /// Data retention.
    pub retention: Retention,
    /// Multi-instance claims.
    pub claims: ClaimsConfig,
}

impl EngineConfig {
    /// Validates every part, naming the field.
    pub fn validate(&self) -> Result<(), ValidationError> {
        self.rules.validate()?;
        let l = &self.limits;
        if l.max_concurrency == 0 || l.max_concurrency > 100_000 {
            return Err(ValidationError::new(
                "limits.max_concurrency",
                "must be 1..=100000",
            ));
        }
        if l.batch_size == 0 || l.batch_size > 100_000 {
            return Err(ValidationError::new(
                "limits.batch_size",
                "must be 1..=100000",
            ));
        }
        if l.flush_interval.is_zero() {
            return Err(ValidationError::new(
                "limits.flush_interval",
                "must be greater than 0",
            ));
        }
        if l.buffer_capacity < l.batch_size {
            return Err(ValidationError::new(
                "limits.buffer_capacity",
                "must be at least limits.batch_size",
            ));
        }
        if l.effects_capacity == 0 || l.effects_capacity > 10_000_000 {
            return Err(ValidationError::new(
                "limits.effects_capacity",
                "must be 1..=10000000",
            ));
        }
        if l.notify_attempts == 0 {
            return Err(ValidationError::new(
                "limits.notify_attempts",
                "must be at least 1",
            ));
        }
        if l.heal_timeout.is_zero() {
            return Err(ValidationError::new(
                "limits.heal_timeout",
                "must be greater than 0",
            ));
        }
        if l.max_log_lines == 0 || l.max_log_lines > 10_000 {
            return Err(ValidationError::new(
                "limits.max_log_lines",
                "must be 1..=10000",
            ));
        }
        let j = &self.jobs;
        for (name, d) in [
            ("jobs.tick", j.tick),
            ("jobs.snapshot", j.snapshot),
            ("jobs.retention", j.retention),
        ] {
            if d < Duration::from_secs(1) {
                return Err(ValidationError::new(name, "must be at least 1s"));
            }
        }
        let c = &self.claims;
        if c.lease < Duration::from_millis(100) || c.lease > Duration::from_secs(24 * 3600) {
            return Err(ValidationError::new("claims.lease", "must be 100ms..=24h"));
        }
        if c.batch == 0 || c.batch > 100_000 {
            return Err(ValidationError::new("claims.batch", "must be 1..=100000"));
        }
        if c.poll < Duration::from_millis(10) || c.poll > Duration::from_secs(60) {
            return Err(ValidationError::new("claims.poll", "must be 10ms..=60s"));
        }
        if self.retention.chunk == 0 {
            return Err(ValidationError::new(
                "retention.chunk",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}
