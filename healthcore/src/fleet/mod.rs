//! [`Fleet`]: every pure rule composed over all targets.
//!
//! The fleet owns the in-memory view — each target's checks with their
//! state machines, breakers and flap detectors; lifecycle; heal state;
//! status windows; the open alerts — and turns inputs (an observation, a
//! passive report, a tick of the clock, an acknowledgement, a heal result)
//! into [`Decision`]s. It does no I/O and reads no clock: the engine feeds
//! it and carries the decisions out; `healthd replay` feeds it recorded
//! input on a simulated clock and prints them.
//!
//! Order of rules for one observation of one check:
//! 1. the check's state machine (thresholds, degraded band);
//! 2. flap detection on the check's status;
//! 3. the heal decision, gated by the breaker;
//! 4. a passing result closes the check's breaker (003's
//!    `getStateAfterSuccess`). The breaker counts *failed heal attempts*,
//!    not failed checks: [`Fleet::heal_finished`] records a failed restart
//!    as a breaker failure and a successful one as a success, so a breaker
//!    of 3 trips after three failed restarts, as seed 003 does, and an
//!    unreachable host (never healed) never trips it;
//! 5. the rollup bucket counts the result (judged for `count_percent`
//!    only outside maintenance, for an enabled check, and, for a failure,
//!    while no parent is down: as the time around it is);
//! 6. if anything changed: the target's aggregate health, its status
//!    window, and the alert rules (with maintenance and parent
//!    suppression).

mod decision;
pub(crate) mod fast_hash;
mod pending;
mod runtime;
mod view;

pub use decision::Decision;
pub use runtime::{CheckRuntime, TargetRuntime};
pub use view::{CheckView, TargetView};

use std::collections::HashMap;

use fast_hash::FastMap;
use pending::{PendingRollups, merge_same_start, rebucket};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alert::{
    self, Alert, AlertBook, AlertChange, AlertError, AlertKey, AlertKind, AlertPlan, AlertPolicy,
    Conditions, NotificationKind, Severity, SuppressReason,
};
use crate::breaker::{BreakerConfig, BreakerState};
use crate::error::ValidationError;
use crate::flap::FlapConfig;
use crate::heal::{self, HealDecision, HealEvent, HealInput, HealOutcome, HealPolicy, HealResult};
use crate::lifecycle::{LifecycleConfig, LifecycleReport, LifecycleState, ReportOutcome};
use crate::machine::Thresholds;
use crate::maintenance::{self, MaintenanceWindow};
use crate::model::{
    CheckId, CheckKey, CheckSpec, Health, Observation, Status, Target, TargetId, TenantId,
};
use crate::notify::{Audience, Routing};
use crate::rollup::{Bucket, Granularity};
use crate::score::{self, Score, ScoreInput, ScoreWeights};
use crate::staleness::StalenessPolicy;
use crate::store::{
    AlertChannelConfig, LifecycleEventRecord, Snapshot, StateRecord, StateScope, TargetBucket,
};
use crate::summary::{Overview, OverviewCounts, OverviewRow, Summary, display_status};
use crate::uptime::UptimeConfig;

/// The check kind evaluated from passive reports instead of a probe.
pub const HEARTBEAT_KIND: &str = "heartbeat";

/// Every rule's configuration, validated together.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FleetConfig {
    /// Passive staleness thresholds (000: 15 min / 60 min).
    pub staleness: StalenessPolicy,
    /// Health score weights (000: 40/30/30).
    pub score_weights: ScoreWeights,
    /// Alert rules, reminders and escalation.
    pub alerts: AlertPolicy,
    /// Circuit breaker (003: 3 failures, 30 min).
    pub breaker: BreakerConfig,
    /// Flap detection (25 % / 30 %).
    pub flap: FlapConfig,
    /// Install attempts and timeout (001: 3, 60 min).
    pub lifecycle: LifecycleConfig,
    /// Uptime weighting of degraded time.
    pub uptime: UptimeConfig,
}

impl FleetConfig {
    /// Validates every part; the field is prefixed with the part's name.
    pub fn validate(&self) -> Result<(), ValidationError> {
        self.staleness
            .validate()
            .map_err(|e| e.within("staleness"))?;
        self.score_weights
            .validate()
            .map_err(|e| e.within("score_weights"))?;
        self.alerts.validate().map_err(|e| e.within("alerts"))?;
        self.breaker.validate().map_err(|e| e.within("breaker"))?;
        self.flap.validate().map_err(|e| e.within("flap"))?;
        self.lifecycle
            .validate()
            .map_err(|e| e.within("lifecycle"))?;
        self.uptime.validate().map_err(|e| e.within("uptime"))?;
        Ok(())
    }
}

/// Why the fleet refused an input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// No such target.
    #[error("target not found: {0}")]
    TargetNotFound(TargetId),
    /// No such check.
    #[error("check not found: {0}")]
    CheckNotFound(CheckKey),
    /// The input broke a rule.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// An alert operation was refused.
    #[error(transparent)]
    Alert(#[from] AlertError),
}

#[derive(Debug, Clone)]
struct CheckEntry {
    id: CheckId,
    spec: CheckSpec,
    thresholds: Thresholds,
    heartbeat: Option<StalenessPolicy>,
    rt: CheckRuntime,
    dirty: bool,
}

#[derive(Debug, Clone)]
struct TargetEntry {
    target: Target,
    checks: Vec<CheckEntry>,
    rt: TargetRuntime,
    score: Score,
    dirty: bool,
    /// Rollup deltas not yet handed to the store.
    pending: PendingRollups,
    /// The alert rules' verdict at the last refresh: an open alert whose
    /// kind it resolves has a cleared condition, so the timers leave it
    /// alone (never released, reminded or escalated).
    plan: AlertPlan,
}

impl TargetEntry {
    fn check_mut(&mut self, id: &CheckId) -> Option<&mut CheckEntry> {
        self.checks.iter_mut().find(|c| &c.id == id)
    }

    fn has_active_checks(&self) -> bool {
        self.checks
            .iter()
            .any(|c| c.spec.enabled && c.heartbeat.is_none())
    }

    fn is_passive(&self) -> bool {
        !self.has_active_checks()
    }

    fn retired(&self) -> bool {
        self.rt.lifecycle.state == LifecycleState::Retired
    }

    /// When the target was last seen: a report, or a passing check.
    fn last_seen(&self) -> Option<DateTime<Utc>> {
        let checks = self
            .checks
            .iter()
            .filter_map(|c| c.rt.state.last_healthy_at)
            .max();
        match (self.rt.lifecycle.last_seen_at, checks) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Makes unique ids for alerts, heal events and lifecycle events.
#[derive(Debug, Clone)]
struct IdGen {
    prefix: String,
    next: u64,
}

impl IdGen {
    fn make(&mut self, kind: &str) -> String {
        self.next = self.next.saturating_add(1);
        format!("{kind}-{}-{:06}", self.prefix, self.next)
    }
}

/// The pure composition of every rule over all targets. See the module
/// documentation for the order of rules.
#[derive(Debug, Clone)]
pub struct Fleet {
    config: FleetConfig,
    /// Boxed: the map's slots stay small (its spare capacity costs a
    /// pointer per slot, not a whole entry).
    targets: FastMap<TargetId, Box<TargetEntry>>,
    alerts: AlertBook,
    policies: Vec<HealPolicy>,
    maintenance: Vec<MaintenanceWindow>,
    channels: HashMap<TargetId, AlertChannelConfig>,
    default_channel: AlertChannelConfig,
    /// Each parent's children, sorted by id: when a parent goes down or
    /// comes back, its children's suppression is re-evaluated at once.
    children: HashMap<TargetId, Vec<TargetId>>,
    /// Heals under way: their pending event and the check whose failure
    /// started them (its breaker counts the outcome).
    pending_heals: HashMap<String, (HealEvent, CheckId)>,
    ids: IdGen,
}

impl Fleet {
    /// An empty fleet. `id_prefix` makes ids unique across instances
    /// (a random value per process; a fixed one for replay).
    pub fn new(config: FleetConfig, id_prefix: impl Into<String>) -> Self {
        let alerts = AlertBook::from_policy(&config.alerts);
        let default_channel = policy_channel(&config.alerts);
        Self {
            config,
            targets: FastMap::default(),
            alerts,
            policies: Vec::new(),
            maintenance: Vec::new(),
            channels: HashMap::new(),
            default_channel,
            children: HashMap::new(),
            pending_heals: HashMap::new(),
            ids: IdGen {
                prefix: id_prefix.into(),
                next: 0,
            },
        }
    }

    /// The configuration.
    pub fn config(&self) -> &FleetConfig {
        &self.config
    }

    // ---- registration ---------------------------------------------------

    /// Adds a target or replaces its definition, keeping runtime state.
    pub fn upsert_target(&mut self, target: Target, now: DateTime<Utc>) {
        let old_parents = self
            .targets
            .get(&target.id)
            .map(|e| e.target.parents.clone())
            .unwrap_or_default();
        if old_parents != target.parents {
            self.unlink_parents(&target.id, &old_parents);
            for p in &target.parents {
                let kids = self.children.entry(p.clone()).or_default();
                if let Err(i) = kids.binary_search(&target.id) {
                    kids.insert(i, target.id.clone());
                }
            }
        }
        match self.targets.get_mut(&target.id) {
            Some(e) => {
                e.target = target;
                e.dirty = true;
            }
            None => {
                let mut rt = TargetRuntime {
                    accounted_until: Some(now),
                    ..Default::default()
                };
                let _ = rt.window.on_status(Health::default(), false, None, now);
                self.targets.insert(
                    target.id.clone(),
                    Box::new(TargetEntry {
                        target,
                        checks: Vec::new(),
                        rt,
                        score: Score {
                            value: 100,
                            breakdown: Default::default(),
                        },
                        dirty: true,
                        pending: PendingRollups::default(),
                        plan: AlertPlan::default(),
                    }),
                );
            }
        }
    }

    /// Removes a target and drops its open alerts from the view (the
    /// store deletes them with the target). When it was down, its
    /// children are re-evaluated at once, as when a parent recovers: a
    /// parent that is gone holds nothing, so their held alerts are
    /// released (decisions in `out`). Children keep naming it in their
    /// `parents` (an unknown parent is allowed, and a target registered
    /// again under that id is their parent again).
    pub fn remove_target(
        &mut self,
        id: &TargetId,
        now: DateTime<Utc>,
        out: &mut Vec<Decision>,
    ) -> bool {
        let was_down = self.health(id).is_some_and(|h| h.status == Status::Down);
        let removed = self.targets.remove(id);
        if let Some(e) = &removed {
            self.unlink_parents(id, &e.target.parents);
            let _ = self.alerts.resolve_target(id, now);
            if was_down && let Some(kids) = self.children.get(id).cloned() {
                for kid in &kids {
                    self.refresh_cascade(kid, now, out, 1);
                }
            }
        }
        removed.is_some()
    }

    /// Drops `child` from the children lists of `parents`.
    fn unlink_parents(&mut self, child: &TargetId, parents: &[TargetId]) {
        for p in parents {
            if let Some(kids) = self.children.get_mut(p) {
                kids.retain(|k| k != child);
                if kids.is_empty() {
                    self.children.remove(p);
                }
            }
        }
    }

    /// Adds or replaces a check, keeping its runtime state when the name
    /// is unchanged.
    pub fn upsert_check(
        &mut self,
        target: &TargetId,
        spec: CheckSpec,
    ) -> Result<CheckKey, FleetError> {
        spec.validate()?;
        let staleness = self.config.staleness;
        let entry = self
            .targets
            .get_mut(target)
            .ok_or_else(|| FleetError::TargetNotFound(target.clone()))?;
        let id = spec.id();
        let heartbeat = if spec.kind == HEARTBEAT_KIND {
            Some(heartbeat_policy(&spec, &staleness)?)
        } else {
            None
        };
        let thresholds = Thresholds::from(&spec);
        match entry.check_mut(&id) {
            Some(c) => {
                c.spec = spec;
                c.thresholds = thresholds;
                c.heartbeat = heartbeat;
                c.dirty = true;
            }
            None => {
                // most targets have one or two checks: grow one at a time
                // (a default first growth would reserve room for four)
                entry.checks.reserve_exact(1);
                entry.checks.push(CheckEntry {
                    id: id.clone(),
                    spec,
                    thresholds,
                    heartbeat,
                    rt: CheckRuntime::default(),
                    dirty: true,
                });
            }
        }
        entry.dirty = true;
        Ok(CheckKey::new(target.clone(), id))
    }

    /// Removes a check.
    pub fn remove_check(&mut self, key: &CheckKey) -> bool {
        match self.targets.get_mut(&key.target) {
            Some(e) => {
                let before = e.checks.len();
                e.checks.retain(|c| c.id != key.check);
                before != e.checks.len()
            }
            None => false,
        }
    }

    /// Replaces the heal policies.
    pub fn set_policies(&mut self, policies: Vec<HealPolicy>) {
        self.policies = policies;
    }

    /// The heal policies.
    pub fn policies(&self) -> &[HealPolicy] {
        &self.policies
    }

    /// Replaces the maintenance windows.
    pub fn set_maintenance(&mut self, windows: Vec<MaintenanceWindow>) {
        self.maintenance = windows;
    }

    /// Replaces the alert channel configs (one with `target: None` is the
    /// default; without one, the default escalates after the alert
    /// policy's `escalation_delay` and routes to every notifier).
    pub fn set_channels(&mut self, configs: Vec<AlertChannelConfig>) {
        self.channels.clear();
        self.default_channel = policy_channel(&self.config.alerts);
        for c in configs {
            match c.target.clone() {
                Some(t) => {
                    self.channels.insert(t, c);
                }
                None => self.default_channel = c,
            }
        }
    }

    // ---- inputs ---------------------------------------------------------

    /// Feeds one observation of one check through every rule.
    ///
    /// Allocation-free when nothing changes. Returns the check's status.
    pub fn observe(
        &mut self,
        key: &CheckKey,
        obs: &Observation,
        out: &mut Vec<Decision>,
    ) -> Result<Status, FleetError> {
        let now = obs.at;
        let in_maintenance = self.in_maintenance(&key.target, now);
        let parent_down = self.has_down_parent(&key.target);
        let policy_idx = if self.policies.is_empty() {
            None
        } else {
            let entry = self
                .targets
                .get(&key.target)
                .ok_or_else(|| FleetError::TargetNotFound(key.target.clone()))?;
            heal::select_policy(&self.policies, &entry.target)
                .and_then(|p| self.policies.iter().position(|q| std::ptr::eq(p, q)))
        };
        let breaker_cfg = &self.config.breaker;
        let flap_cfg = &self.config.flap;
        let entry = self
            .targets
            .get_mut(&key.target)
            .ok_or_else(|| FleetError::TargetNotFound(key.target.clone()))?;
        let tenant = entry.target.tenant.clone();
        let check = entry
            .checks
            .iter_mut()
            .find(|c| c.id == key.check)
            .ok_or_else(|| FleetError::CheckNotFound(key.clone()))?;

        // 1. state machine
        let transition = check.rt.state.observe(&check.thresholds, obs);
        let status = check.rt.state.status;
        // 2. flapping
        let flap_change = check.rt.flap.record(status, flap_cfg);
        // 3. heal decision, gated by the breaker before this result
        let mut changed = transition.is_some() || flap_change.is_some();
        let mut heal_decision = None;
        if let Some(idx) = policy_idx {
            let policy = &self.policies[idx];
            let input = HealInput {
                outcome: obs.outcome,
                status,
                consecutive_failures: check.rt.state.consecutive_failures,
                breaker_allows: check.rt.breaker.should_attempt(breaker_cfg, now),
                in_maintenance,
                flapping: check.rt.flap.is_flapping(),
            };
            heal::observe_status(&mut entry.rt.heal, policy, status, now);
            let d = heal::decide(policy, &entry.rt.heal, &input, now);
            if !matches!(d, HealDecision::NotNeeded) {
                heal_decision = Some(d);
            }
        }
        // 4. breaker: a passing result closes it; failures are counted on
        // failed heal attempts (`heal_finished`)
        let breaker_change = if obs.outcome.is_success() {
            check.rt.breaker.record_success(breaker_cfg, now)
        } else {
            None
        };
        let check_id = check.id.clone();
        if transition.is_some() || flap_change.is_some() || breaker_change.is_some() {
            check.dirty = true;
        }
        // 5. rollups (time in status is accounted on aggregate changes and
        // ticks). An observation is judged (count_percent) like the time
        // around it: not in maintenance, not of a disabled check, and a
        // failure while a parent is down is the parent's.
        let judged =
            !in_maintenance && check.spec.enabled && !(parent_down && obs.outcome.is_failure());
        let bucket = entry.pending.minute(now);
        if judged {
            bucket.add_observation(obs.outcome, obs.latency);
        } else {
            bucket.add_unjudged_observation(obs.latency);
        }

        if let Some(t) = transition {
            out.push(Decision::StatusChanged {
                target: key.target.clone(),
                tenant: tenant.clone(),
                check: Some(check_id.clone()),
                from: t.from,
                to: t.to,
                score: None,
                at: now,
            });
        }
        if let Some(change) = breaker_change.filter(|c| c.from != c.to) {
            changed = true;
            out.push(Decision::Breaker {
                target: key.target.clone(),
                tenant: tenant.clone(),
                check: check_id.clone(),
                change,
            });
        }
        if let Some(d) = heal_decision {
            changed = true;
            self.apply_heal_decision(key, idx_policy(policy_idx), d, status, now, out);
        }
        if changed {
            self.refresh_target(&key.target, now, out);
        }
        Ok(status)
    }

    /// Ingests a passive report (heartbeat or lifecycle event) and
    /// re-evaluates the target at once (auto-resolving as seed 000 does).
    pub fn report(
        &mut self,
        target: &TargetId,
        report: &LifecycleReport,
        now: DateTime<Utc>,
        out: &mut Vec<Decision>,
    ) -> Result<ReportOutcome, FleetError> {
        let event_id = self.ids.make("evt");
        let cfg = self.config.lifecycle.clone();
        let entry = self
            .targets
            .get_mut(target)
            .ok_or_else(|| FleetError::TargetNotFound(target.clone()))?;
        let tenant = entry.target.tenant.clone();
        let outcome = entry.rt.lifecycle.apply(report, &cfg, now);
        entry.dirty = true;
        out.push(Decision::LifecycleEvent {
            tenant: tenant.clone(),
            record: LifecycleEventRecord {
                id: event_id,
                target: target.clone(),
                event_type: report.event().as_str().to_owned(),
                status: report.status().as_str().to_owned(),
                message: report.message().map(str::to_owned),
                progress: report.progress(),
                metadata: report.metadata().cloned(),
                ip_address: report
                    .client_ip()
                    .or(report.ip_address())
                    .map(str::to_owned),
                created_at: now,
            },
        });
        if let Some(change) = outcome.change {
            if matches!(
                change.to,
                LifecycleState::Installed | LifecycleState::Active | LifecycleState::Retired
            ) || change.from != LifecycleState::Installing
            {
                entry.rt.install_timeout_open = false;
            }
            out.push(Decision::Lifecycle {
                target: target.clone(),
                tenant,
                change,
            });
        }
        self.evaluate_heartbeats(target, now, out);
        self.refresh_target(target, now, out);
        Ok(outcome)
    }

    /// Periodic work at `now`: staleness of passive targets and heartbeat
    /// checks, install timeouts, breaker cooldowns, scores, maintenance
    /// changes, time-in-status rollups, reminders and escalation.
    ///
    /// Targets are judged parents first (then by id), so a parent that goes
    /// down in this tick already suppresses its children's alerts.
    pub fn tick(&mut self, now: DateTime<Utc>, out: &mut Vec<Decision>) {
        let ids = self.tick_order();
        self.tick_each(&ids, now, out);
        self.followups(now, None, out);
    }

    /// [`tick`](Self::tick) for some targets only: what an instance of a
    /// multi-instance deployment runs for the targets it owns. Reminders
    /// and escalation are emitted only for those targets' alerts.
    pub fn tick_some(&mut self, ids: &[TargetId], now: DateTime<Utc>, out: &mut Vec<Decision>) {
        let only: std::collections::HashSet<&TargetId> = ids.iter().collect();
        let ordered: Vec<TargetId> = self
            .tick_order()
            .into_iter()
            .filter(|id| only.contains(id))
            .collect();
        self.tick_each(&ordered, now, out);
        self.followups(now, Some(&only), out);
    }

    fn tick_each(&mut self, ids: &[TargetId], now: DateTime<Utc>, out: &mut Vec<Decision>) {
        let cfg = self.config.lifecycle.clone();
        let breaker_cfg = self.config.breaker.clone();
        for id in ids {
            if let Some(entry) = self.targets.get_mut(id) {
                let tenant = entry.target.tenant.clone();
                if let Some(o) = entry.rt.lifecycle.check_install_timeout(&cfg, now) {
                    entry.dirty = true;
                    if o.timed_out {
                        entry.rt.install_timeout_open = true;
                    }
                    if let Some(change) = o.change {
                        out.push(Decision::Lifecycle {
                            target: id.clone(),
                            tenant: tenant.clone(),
                            change,
                        });
                    }
                }
                // a cooled-down breaker is stored half_open, so the
                // change is told once, not at every tick after it
                for c in &mut entry.checks {
                    if let Some(change) = c.rt.breaker.apply_cooldown(&breaker_cfg, now) {
                        c.dirty = true;
                        entry.dirty = true;
                        out.push(Decision::Breaker {
                            target: id.clone(),
                            tenant: tenant.clone(),
                            check: c.id.clone(),
                            change,
                        });
                    }
                }
            }
            self.evaluate_heartbeats(id, now, out);
            self.refresh_target(id, now, out);
            self.account_time(id, now);
        }
    }

    /// Every target id, parents before children, by id within a level.
    fn tick_order(&self) -> Vec<TargetId> {
        let mut ids: Vec<TargetId> = self.targets.keys().cloned().collect();
        ids.sort();
        if self.targets.values().all(|e| e.target.parents.is_empty()) {
            return ids;
        }
        // longest path to a root, by relaxation (capped, so a cycle that
        // slipped past validation cannot loop forever)
        let n = ids.len();
        let mut depth: HashMap<&TargetId, usize> = ids.iter().map(|id| (id, 0)).collect();
        for _ in 0..n {
            let mut changed = false;
            for id in &ids {
                let d = self.targets[id]
                    .target
                    .parents
                    .iter()
                    .filter_map(|p| depth.get(p))
                    .map(|d| (d + 1).min(n))
                    .max()
                    .unwrap_or(0);
                if depth[id] != d {
                    depth.insert(id, d);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let mut ordered = ids.clone();
        ordered.sort_by_key(|id| depth[id]);
        ordered
    }

    /// Re-evaluates one target now (after registration or a change).
    pub fn tick_target(&mut self, id: &TargetId, now: DateTime<Utc>, out: &mut Vec<Decision>) {
        self.evaluate_heartbeats(id, now, out);
        self.refresh_target(id, now, out);
    }

    /// Snapshots of every non-retired target (seed 000, every 5 min).
    pub fn snapshots(&self, now: DateTime<Utc>, out: &mut Vec<Decision>) {
        let mut ids: Vec<&TargetId> = self.targets.keys().collect();
        ids.sort();
        for id in ids {
            let e = &self.targets[id];
            if e.retired() {
                continue;
            }
            out.push(Decision::Snapshot {
                tenant: e.target.tenant.clone(),
                snapshot: Snapshot {
                    target: id.clone(),
                    timestamp: now,
                    health_status: e.rt.health.status,
                    cause: e.rt.health.cause,
                    health_score: e.score.value,
                    last_seen_seconds_ago: e
                        .last_seen()
                        .map(|s| (now - s).num_seconds().max(0))
                        .unwrap_or(0),
                    boot_count: e.rt.lifecycle.boot_count,
                    install_attempts: e.rt.lifecycle.install_attempts,
                    ip_address: e.rt.lifecycle.ip_address.clone(),
                },
            });
        }
    }

    /// Acknowledges an active alert (stops reminders and escalation).
    pub fn acknowledge(
        &mut self,
        alert_id: &str,
        by: &str,
        now: DateTime<Utc>,
        out: &mut Vec<Decision>,
    ) -> Result<Alert, FleetError> {
        let change = self.alerts.acknowledge(alert_id, by, now)?;
        let alert = change.alert().clone();
        let tenant = self.tenant_of(&alert.target);
        out.push(Decision::Alert { tenant, change });
        Ok(alert)
    }

    /// Resolves an alert by hand.
    pub fn resolve_alert(
        &mut self,
        alert_id: &str,
        now: DateTime<Utc>,
        out: &mut Vec<Decision>,
    ) -> Result<Alert, FleetError> {
        let key = self
            .alerts
            .open_alerts()
            .find(|a| a.id == alert_id)
            .map(|a| a.key())
            .ok_or_else(|| AlertError::NotFound {
                id: alert_id.to_owned(),
            })?;
        let change = self
            .alerts
            .resolve(&key, now)
            .ok_or_else(|| AlertError::NotFound {
                id: alert_id.to_owned(),
            })?;
        let alert = change.alert().clone();
        self.push_alert_change(change, now, out);
        Ok(alert)
    }

    /// Completes a heal started by [`Decision::Heal`].
    pub fn heal_finished(
        &mut self,
        event_id: &str,
        outcome: &HealOutcome,
        now: DateTime<Utc>,
        out: &mut Vec<Decision>,
    ) -> Option<HealEvent> {
        let (mut event, check_id) = self.pending_heals.remove(event_id)?;
        let new_status = self.targets.get(&event.target).map(|e| e.rt.health.status);
        let (result, error) = match outcome {
            HealOutcome::Success { .. } => (HealResult::Success, None),
            HealOutcome::Failed { error } => (HealResult::Failed, Some(error.clone())),
            #[allow(unreachable_patterns)]
            _ => (HealResult::Failed, Some("unknown outcome".to_owned())),
        };
        event.complete(result, error, new_status, now);
        let tenant = self.tenant_of(&event.target);
        out.push(Decision::HealRecorded {
            tenant: tenant.clone(),
            event: event.clone(),
        });
        // 003: the breaker counts restarts — a failed one is a failure, a
        // successful one closes it
        let breaker_cfg = self.config.breaker.clone();
        let change = self.targets.get_mut(&event.target).and_then(|entry| {
            let check = entry.checks.iter_mut().find(|c| c.id == check_id)?;
            let change = match result {
                HealResult::Failed => check.rt.breaker.record_failure(&breaker_cfg, now),
                _ => check.rt.breaker.record_success(&breaker_cfg, now),
            };
            if change.is_some() {
                check.dirty = true;
                entry.dirty = true;
            }
            change
        });
        if let Some(change) = change.filter(|c| c.from != c.to) {
            out.push(Decision::Breaker {
                target: event.target.clone(),
                tenant,
                check: check_id,
                change,
            });
            self.refresh_target(&event.target, now, out);
        }
        Some(event)
    }

    /// Manual reset of a target's heal attempts (002).
    pub fn reset_heal(
        &mut self,
        target: &TargetId,
        now: DateTime<Utc>,
        out: &mut Vec<Decision>,
    ) -> Result<(), FleetError> {
        let entry = self
            .targets
            .get_mut(target)
            .ok_or_else(|| FleetError::TargetNotFound(target.clone()))?;
        heal::reset(&mut entry.rt.heal);
        entry.rt.last_skip = None;
        for c in &mut entry.checks {
            c.rt.state.consecutive_failures = 0;
            c.dirty = true;
        }
        entry.dirty = true;
        self.refresh_target(target, now, out);
        Ok(())
    }

    // ---- queries --------------------------------------------------------

    /// The view of one target.
    pub fn target_view(&self, id: &TargetId, now: DateTime<Utc>) -> Option<TargetView> {
        let e = self.targets.get(id)?;
        Some(view::build(e, &self.config, &self.alerts, now))
    }

    /// Every target's view, ordered by id.
    pub fn target_views(&self, tenant: Option<&TenantId>, now: DateTime<Utc>) -> Vec<TargetView> {
        let mut v: Vec<TargetView> = self
            .targets
            .values()
            .filter(|e| tenant.is_none_or(|t| &e.target.tenant == t))
            .map(|e| view::build(e, &self.config, &self.alerts, now))
            .collect();
        v.sort_by(|a, b| a.target.id.cmp(&b.target.id));
        v
    }

    /// A target's definition.
    pub fn target(&self, id: &TargetId) -> Option<&Target> {
        self.targets.get(id).map(|e| &e.target)
    }

    /// Number of targets.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// True when there are no targets.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// A target's aggregate health.
    pub fn health(&self, id: &TargetId) -> Option<Health> {
        self.targets.get(id).map(|e| e.rt.health)
    }

    /// A check's spec, for the scheduler.
    pub fn check_spec(&self, key: &CheckKey) -> Option<&CheckSpec> {
        self.targets
            .get(&key.target)?
            .checks
            .iter()
            .find(|c| c.id == key.check)
            .map(|c| &c.spec)
    }

    /// Every enabled active (probed) check.
    pub fn active_checks(&self) -> Vec<(CheckKey, CheckSpec)> {
        let mut v = Vec::new();
        for (id, e) in &self.targets {
            if e.retired() {
                continue;
            }
            for c in &e.checks {
                if c.spec.enabled && c.heartbeat.is_none() {
                    v.push((CheckKey::new(id.clone(), c.id.clone()), c.spec.clone()));
                }
            }
        }
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Seed 000's summary over non-retired targets (optionally one tenant)
    /// at `now`: each target's score is computed at `now` (its staleness
    /// part moves with the clock, not only when the target is refreshed),
    /// and the active and critical counts leave out suppressed alerts
    /// (held by maintenance, a down parent or the suppression window:
    /// recorded, nobody told); those still count among the open alerts.
    pub fn summary(&self, tenant: Option<&TenantId>, now: DateTime<Utc>) -> Summary {
        let mut s = Summary::default();
        let mut score_sum = 0u64;
        for e in self.targets.values() {
            if e.retired() || tenant.is_some_and(|t| &e.target.tenant != t) {
                continue;
            }
            s.total_targets += 1;
            *s.by_status
                .entry(display_status(e.rt.health.status, e.rt.health.cause).to_owned())
                .or_default() += 1;
            score_sum += u64::from(compute_score(e, &self.config, now).value);
        }
        if s.total_targets > 0 {
            let avg = score_sum as f64 / s.total_targets as f64;
            s.average_score = (avg * 10.0).round() / 10.0;
        }
        for a in self.alerts.open_alerts() {
            if a.status != alert::AlertStatus::Active || a.suppressed {
                continue;
            }
            if let Some(t) = tenant {
                if self
                    .targets
                    .get(&a.target)
                    .is_none_or(|e| &e.target.tenant != t)
                {
                    continue;
                }
            }
            s.active_alerts += 1;
            if a.severity == Severity::Critical {
                s.critical_alerts += 1;
            }
        }
        s
    }

    /// Seed 002's tenant overview.
    pub fn overview(&self, tenant: Option<&TenantId>) -> Overview {
        let mut o = Overview::default();
        let mut ids: Vec<&TargetId> = self
            .targets
            .iter()
            .filter(|(_, e)| tenant.is_none_or(|t| &e.target.tenant == t))
            .map(|(id, _)| id)
            .collect();
        ids.sort();
        for id in ids {
            let e = &self.targets[id];
            o.summary.total += 1;
            match e.rt.health.status {
                Status::Healthy => o.summary.healthy += 1,
                Status::Degraded => o.summary.degraded += 1,
                Status::Down => o.summary.unhealthy += 1,
                Status::Unknown => o.summary.unknown += 1,
            }
            o.targets.push(OverviewRow {
                target: id.clone(),
                name: e.target.name.clone(),
                status: e.rt.health.status,
                cause: e.rt.health.cause,
                consecutive_failures: e
                    .checks
                    .iter()
                    .map(|c| c.rt.state.consecutive_failures)
                    .max()
                    .unwrap_or(0),
                last_check_at: e
                    .checks
                    .iter()
                    .filter_map(|c| c.rt.state.last_check_at)
                    .max(),
                last_healthy_at: e
                    .checks
                    .iter()
                    .filter_map(|c| c.rt.state.last_healthy_at)
                    .max(),
            });
        }
        let _ = OverviewCounts::default();
        o
    }

    /// Targets installing past the install timeout (001's stalled nodes):
    /// past it now, or timed out and not finished since. The periodic tick
    /// counts a timed-out attempt and restarts the retry clock, so without
    /// the second condition a stuck install would leave the list at the
    /// next tick while its `install_timeout` alert stays open.
    pub fn stalled(&self, now: DateTime<Utc>) -> Vec<&Target> {
        let mut v: Vec<&Target> = self
            .targets
            .values()
            .filter(|e| {
                let lc = &e.rt.lifecycle;
                lc.is_stalled(&self.config.lifecycle, now)
                    || (e.rt.install_timeout_open && lc.state == LifecycleState::Installing)
            })
            .map(|e| &e.target)
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    /// Open (active or acknowledged) alerts.
    pub fn open_alerts(&self) -> Vec<&Alert> {
        let mut v: Vec<&Alert> = self.alerts.open_alerts().collect();
        v.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        v
    }

    /// Looks up an open alert by id.
    pub fn open_alert(&self, id: &str) -> Option<&Alert> {
        self.alerts.open_alerts().find(|a| a.id == id)
    }

    /// The tenant of a target (the default tenant if unknown).
    pub fn tenant_of(&self, id: &TargetId) -> TenantId {
        self.targets
            .get(id)
            .map(|e| e.target.tenant.clone())
            .unwrap_or_else(|| TenantId::new(crate::model::DEFAULT_TENANT).expect("valid literal"))
    }

    /// True when one of the target's parents is down now (its alerts are
    /// held and its downtime is the parent's). No allocation.
    fn has_down_parent(&self, id: &TargetId) -> bool {
        self.targets.get(id).is_some_and(|e| {
            !e.target.parents.is_empty()
                && crate::dependency::down_parent(&e.target, |p| {
                    self.targets.get(p).map(|x| x.rt.health.status)
                })
                .is_some()
        })
    }

    /// True when a maintenance window covers the target at `now`.
    pub fn in_maintenance(&self, id: &TargetId, now: DateTime<Utc>) -> bool {
        if self.maintenance.is_empty() {
            return false;
        }
        match self.targets.get(id) {
            Some(e) => maintenance::in_maintenance(self.maintenance.iter(), &e.target, now),
            None => false,
        }
    }

    // ---- persistence ----------------------------------------------------

    /// State records of everything changed since the last call.
    pub fn take_dirty_states(&mut self, now: DateTime<Utc>) -> Vec<StateRecord> {
        self.collect_states(now, true, usize::MAX).0
    }

    /// State records of at most about `max` changed targets and checks
    /// (a target's checks always come with it), and whether more changed
    /// state is left for the next call. Bounds the memory a burst of
    /// changes (start-up: every target and check is new) takes at once.
    pub fn take_dirty_states_up_to(
        &mut self,
        now: DateTime<Utc>,
        max: usize,
    ) -> (Vec<StateRecord>, bool) {
        self.collect_states(now, true, max.max(1))
    }

    /// Marks every target and check as stored (after a restore: the
    /// state came from the store), without serialising anything.
    pub fn mark_clean(&mut self) {
        for e in self.targets.values_mut() {
            e.dirty = false;
            for c in &mut e.checks {
                c.dirty = false;
            }
        }
    }

    /// State records of everything.
    pub fn all_states(&mut self, now: DateTime<Utc>) -> Vec<StateRecord> {
        self.collect_states(now, false, usize::MAX).0
    }

    fn collect_states(
        &mut self,
        now: DateTime<Utc>,
        only_dirty: bool,
        max: usize,
    ) -> (Vec<StateRecord>, bool) {
        let mut out = Vec::new();
        for (id, e) in &mut self.targets {
            if out.len() >= max {
                let left = e.dirty || e.checks.iter().any(|c| c.dirty);
                if left {
                    return (out, true);
                }
                continue;
            }
            if e.dirty || !only_dirty {
                if let Ok(body) = serde_json::to_value(&e.rt) {
                    out.push(StateRecord {
                        scope: StateScope::Target { target: id.clone() },
                        body,
                        updated_at: now,
                    });
                }
                e.dirty = false;
            }
            for c in &mut e.checks {
                if c.dirty || !only_dirty {
                    if let Ok(body) = serde_json::to_value(&c.rt) {
                        out.push(StateRecord {
                            scope: StateScope::Check {
                                key: CheckKey::new(id.clone(), c.id.clone()),
                            },
                            body,
                            updated_at: now,
                        });
                    }
                    c.dirty = false;
                }
            }
        }
        (out, false)
    }

    /// Restores one state record (unknown targets or checks are ignored;
    /// undecodable bodies are an error).
    pub fn restore_state(&mut self, record: &StateRecord) -> Result<(), serde_json::Error> {
        match &record.scope {
            StateScope::Target { target } => {
                let rt: TargetRuntime = serde_json::from_value(record.body.clone())?;
                if let Some(e) = self.targets.get_mut(target) {
                    e.rt = rt;
                    e.score = compute_score(e, &self.config, record.updated_at);
                }
            }
            StateScope::Check { key } => {
                let rt: CheckRuntime = serde_json::from_value(record.body.clone())?;
                if let Some(c) = self
                    .targets
                    .get_mut(&key.target)
                    .and_then(|e| e.check_mut(&key.check))
                {
                    c.rt = rt;
                }
            }
        }
        Ok(())
    }

    /// State records of one check (always: its counters move on every
    /// run) and of its target (when changed), clearing their changed
    /// flags: what a run under a multi-instance lease writes fenced, so
    /// the next owner continues where this one left off.
    pub fn take_check_states(&mut self, key: &CheckKey, now: DateTime<Utc>) -> Vec<StateRecord> {
        let mut out = Vec::with_capacity(2);
        let Some(e) = self.targets.get_mut(&key.target) else {
            return out;
        };
        if let Some(c) = e.check_mut(&key.check) {
            if let Ok(body) = serde_json::to_value(&c.rt) {
                out.push(StateRecord {
                    scope: StateScope::Check { key: key.clone() },
                    body,
                    updated_at: now,
                });
            }
            c.dirty = false;
        }
        if e.dirty {
            if let Ok(body) = serde_json::to_value(&e.rt) {
                out.push(StateRecord {
                    scope: StateScope::Target {
                        target: key.target.clone(),
                    },
                    body,
                    updated_at: now,
                });
            }
            e.dirty = false;
        }
        out
    }

    /// Replaces the open alerts of `target` with the store's (when another
    /// instance may have raised or resolved them).
    pub fn replace_open_alerts(&mut self, target: &TargetId, alerts: Vec<Alert>) {
        let _ = self.alerts.replace_open(target, alerts);
    }

    /// Restores open alerts (so a restart does not re-fire them).
    pub fn restore_alerts(&mut self, alerts: Vec<Alert>) {
        self.alerts.restore(alerts);
    }

    /// Takes the pending rollup deltas: minute buckets plus the same
    /// counts re-bucketed by hour and day. Time accounted in one stretch
    /// spanning whole hours or days (a long gap between ticks) is pending
    /// as hour and day buckets, not minute by minute, and so is time a
    /// caller left undrained for more than a couple of hours (older
    /// minutes are rolled into their hour, older hours into their day, so
    /// the buffer stays bounded): those counts come out in the hour and
    /// day buckets only.
    pub fn drain_rollups(&mut self) -> Vec<TargetBucket> {
        self.drain_rollups_up_to(usize::MAX).0
    }

    /// [`drain_rollups`](Self::drain_rollups) of at most `max` targets
    /// (at least one), and whether any target's deltas are left for the
    /// next call. Bounds the memory one drain takes: a fleet's every
    /// target has deltas after a few seconds, three buckets each.
    pub fn drain_rollups_up_to(&mut self, max: usize) -> (Vec<TargetBucket>, bool) {
        let max = max.max(1);
        let mut drained = 0usize;
        let mut out = Vec::new();
        // a target's coarse buckets: usually one hour and one day
        let mut coarse: Vec<Bucket> = Vec::new();
        for (target, e) in &mut self.targets {
            if e.pending.is_empty() {
                continue;
            }
            if drained == max {
                return (out, true);
            }
            drained += 1;
            coarse.clear();
            for b in e.pending.iter() {
                if b.granularity == Granularity::Minute {
                    out.push(TargetBucket {
                        target: target.clone(),
                        bucket: *b,
                    });
                }
                for g in [Granularity::Hour, Granularity::Day] {
                    if b.granularity <= g {
                        coarse.push(rebucket(b, g));
                    }
                }
            }
            coarse.sort_unstable_by_key(|b| (b.granularity, b.start));
            coarse.dedup_by(|later, kept| {
                let same = later.granularity == kept.granularity && later.start == kept.start;
                if same {
                    kept.merge_counts(later);
                }
                same
            });
            for bucket in coarse.drain(..) {
                out.push(TargetBucket {
                    target: target.clone(),
                    bucket,
                });
            }
            // keep the allocation: the target will have results again
            e.pending.clear();
        }
        (out, false)
    }

    /// The rollup buckets of `target` not yet handed to the store, plus
    /// the time in its current status not yet accounted, at granularity
    /// `g` (or coarser, for time pending as hour or day buckets), sorted
    /// by start: added to stored buckets, they make uptime exact up to
    /// `now`.
    pub fn pending_buckets(
        &self,
        target: &TargetId,
        g: Granularity,
        now: DateTime<Utc>,
    ) -> Vec<Bucket> {
        let mut out: Vec<Bucket> = Vec::new();
        if let Some(e) = self.targets.get(target) {
            out.extend(e.pending.iter().map(|b| rebucket(b, g)));
            if let Some(w) = e.rt.window.current() {
                let start = e.rt.accounted_until.unwrap_or(w.started_at);
                if now > start {
                    out.extend(
                        crate::rollup::split_span(w.status, w.excluded(), start, now)
                            .map(|b| rebucket(&b, g)),
                    );
                }
            }
        }
        merge_same_start(&mut out);
        out
    }

    // ---- internals ------------------------------------------------------

    fn apply_heal_decision(
        &mut self,
        key: &CheckKey,
        policy_idx: Option<usize>,
        decision: HealDecision,
        status: Status,
        now: DateTime<Utc>,
        out: &mut Vec<Decision>,
    ) {
        let target = &key.target;
        let Some(policy) = policy_idx.and_then(|i| self.policies.get(i)).cloned() else {
            return;
        };
        let Some(entry) = self.targets.get_mut(target) else {
            return;
        };
        let tenant = entry.target.tenant.clone();
        match &decision {
            HealDecision::Heal { action, reason, .. } => {
                heal::record_attempt(&mut entry.rt.heal, &decision, now);
                entry.rt.last_skip = None;
                entry.dirty = true;
                let id = self.ids.make("heal");
                let event = HealEvent::pending(
                    id.clone(),
                    target.clone(),
                    Some(policy.id.clone()),
                    action.clone(),
                    reason.clone(),
                    Some(status),
                    now,
                );
                self.pending_heals
                    .insert(id, (event.clone(), key.check.clone()));
                out.push(Decision::Heal {
                    tenant,
                    target: entry.target.clone(),
                    action: action.clone(),
                    event,
                    notify: policy.notify_on_trigger,
                });
            }
            HealDecision::Skip { reason } => {
                let code = reason.code();
                heal::record_attempt(&mut entry.rt.heal, &decision, now);
                if entry.rt.last_skip.as_deref() == Some(code) {
                    return;
                }
                entry.rt.last_skip = Some(code.to_owned());
                entry.dirty = true;
                let id = self.ids.make("heal");
                let event = HealEvent::skipped(
                    id,
                    target.clone(),
                    Some(policy.id.clone()),
                    policy.action.clone(),
                    reason.to_string(),
                    Some(status),
                    now,
                );
                out.push(Decision::HealRecorded { tenant, event });
            }
            _ => {}
        }
    }

    fn evaluate_heartbeats(&mut self, id: &TargetId, now: DateTime<Utc>, out: &mut Vec<Decision>) {
        let Some(entry) = self.targets.get_mut(id) else {
            return;
        };
        let last_seen = entry.rt.lifecycle.last_seen_at;
        let tenant = entry.target.tenant.clone();
        for c in &mut entry.checks {
            let Some(policy) = &c.heartbeat else { continue };
            if !c.spec.enabled {
                continue;
            }
            let h = policy.evaluate(last_seen, now).health();
            let before = c.rt.state.health();
            if before != h {
                c.rt.state.status = h.status;
                c.rt.state.cause = h.cause;
                c.rt.state.last_check_at = Some(now);
                if h.status == Status::Healthy {
                    c.rt.state.last_healthy_at = last_seen;
                } else {
                    c.rt.state.last_unhealthy_at = Some(now);
                }
                c.dirty = true;
                if before.status != h.status {
                    out.push(Decision::StatusChanged {
                        target: id.clone(),
                        tenant: tenant.clone(),
                        check: Some(c.id.clone()),
                        from: before,
                        to: h,
                        score: None,
                        at: now,
                    });
                }
            }
        }
    }

    /// Recomputes a target's aggregate health, score, window and alerts;
    /// when it goes down or comes back up, its children's too (their
    /// alerts are held, or released, and their downtime attributed, from
    /// that moment, not from their own next refresh).
    fn refresh_target(&mut self, id: &TargetId, now: DateTime<Utc>, out: &mut Vec<Decision>) {
        self.refresh_cascade(id, now, out, 0);
    }

    fn refresh_cascade(
        &mut self,
        id: &TargetId,
        now: DateTime<Utc>,
        out: &mut Vec<Decision>,
        depth: usize,
    ) {
        let was_down = self.health(id).map(|h| h.status == Status::Down);
        self.refresh_one(id, now, out);
        let is_down = self.health(id).map(|h| h.status == Status::Down);
        // the graph has no cycles (validated); the depth cap guards against
        // one that slipped in
        if was_down == is_down || depth >= self.targets.len() {
            return;
        }
        let Some(kids) = self.children.get(id).cloned() else {
            return;
        };
        for kid in &kids {
            self.refresh_cascade(kid, now, out, depth + 1);
        }
    }

    fn refresh_one(&mut self, id: &TargetId, now: DateTime<Utc>, out: &mut Vec<Decision>) {
        let suppress = self.suppression(id, now);
        let in_maintenance = matches!(suppress, Some(SuppressReason::Maintenance));
        let parent = match &suppress {
            Some(SuppressReason::ParentDown { parent }) => Some(parent.clone()),
            _ => None,
        };
        let has_policy = self
            .targets
            .get(id)
            .is_some_and(|e| heal::select_policy(&self.policies, &e.target).is_some());
        let config = &self.config;
        let Some(entry) = self.targets.get_mut(id) else {
            return;
        };
        if entry.retired() {
            return;
        }
        let tenant = entry.target.tenant.clone();
        let passive = if entry.is_passive() && !entry.checks.iter().any(|c| c.heartbeat.is_some()) {
            Some(
                config
                    .staleness
                    .evaluate(entry.rt.lifecycle.last_seen_at, now)
                    .health(),
            )
        } else {
            None
        };
        let checks_health = Health::worst(
            entry
                .checks
                .iter()
                .filter(|c| c.spec.enabled)
                .map(|c| c.rt.state.health()),
        );
        let health = match passive {
            Some(p) => p,
            None => checks_health,
        };
        entry.score = compute_score(entry, config, now);
        let before = entry.rt.health;
        if before != health {
            entry.rt.health = health;
            entry.dirty = true;
        }
        // time in the old status goes into the rollups before the change
        let window_changed = {
            let prev = entry.rt.window.current().cloned();
            let closed = entry
                .rt
                .window
                .on_status(health, in_maintenance, parent.as_ref(), now);
            if let Some(w) = closed {
                let start = entry.rt.accounted_until.unwrap_or(w.started_at);
                entry.pending.add_time(w.status, w.excluded(), start, now);
                entry.rt.accounted_until = Some(now);
                out.push(Decision::Window {
                    target: id.clone(),
                    tenant: tenant.clone(),
                    window: w,
                });
                if let Some(open) = entry.rt.window.current().cloned() {
                    out.push(Decision::Window {
                        target: id.clone(),
                        tenant: tenant.clone(),
                        window: open,
                    });
                }
                true
            } else {
                let _ = prev;
                false
            }
        };
        if window_changed {
            entry.dirty = true;
        }
        if before.status != health.status {
            out.push(Decision::StatusChanged {
                target: id.clone(),
                tenant: tenant.clone(),
                check: None,
                from: before,
                to: health,
                score: Some(entry.score.value),
                at: now,
            });
        }
        // alert rules: heartbeat checks are passive staleness with their
        // own thresholds (stale / offline alerts); probed checks raise
        // down / degraded
        let heartbeats = entry
            .checks
            .iter()
            .filter(|c| c.spec.enabled && c.heartbeat.is_some());
        // the thresholds named in stale / offline messages: the worst
        // heartbeat check's own, else the fleet's
        let staleness_policy = heartbeats
            .clone()
            .max_by_key(|c| c.rt.state.health().status)
            .and_then(|c| c.heartbeat)
            .unwrap_or(config.staleness);
        let heartbeat_health = heartbeats
            .clone()
            .next()
            .map(|_| Health::worst(heartbeats.map(|c| c.rt.state.health())));
        let probed_health = entry.has_active_checks().then(|| {
            Health::worst(
                entry
                    .checks
                    .iter()
                    .filter(|c| c.spec.enabled && c.heartbeat.is_none())
                    .map(|c| c.rt.state.health()),
            )
        });
        let conditions = Conditions {
            staleness: passive.or(heartbeat_health),
            check_status: if passive.is_none() {
                probed_health
            } else {
                None
            },
            score: Some(entry.score.value),
            install_timed_out: entry.rt.install_timeout_open,
            // the breaker gates healing: it matters only where healing is
            // set up. One alert from the trip until the breaker closes:
            // half_open (one trial heal) and a failed trial keep it open.
            breaker_open: has_policy
                && entry
                    .checks
                    .iter()
                    .any(|c| c.rt.breaker.state != BreakerState::Closed),
            heal_exhausted: entry.rt.heal.exhausted,
            flapping: entry.checks.iter().any(|c| c.rt.flap.is_flapping()),
        };
        let plan = alert::evaluate(&config.alerts, &conditions);
        entry.plan = plan;
        let score_value = entry.score.value;
        // only what would change something (no allocation when nothing does)
        let todo = self.alerts.pending(id, &plan);
        let (name, failing): (String, Vec<String>) = if todo.raise.is_empty() {
            (String::new(), Vec::new())
        } else {
            (
                entry.target.name.clone(),
                entry
                    .checks
                    .iter()
                    .filter(|c| c.spec.enabled && c.rt.state.status.is_problem())
                    .map(|c| c.id.to_string())
                    .collect(),
            )
        };
        // what cleared resolves first, so an alert held by maintenance or a
        // down parent that clears as the hold ends is not released (and
        // notified as firing) only to resolve at once
        for kind in todo.resolve.iter() {
            let key = AlertKey {
                target: id.clone(),
                kind,
            };
            if let Some(change) = self.alerts.resolve(&key, now) {
                self.push_alert_change(change, now, out);
            }
        }
        // maintenance or a down parent starting or ending
        for change in self.alerts.set_suppression(id, suppress.as_ref(), now) {
            self.push_alert_change(change, now, out);
        }
        for kind in todo.raise.iter() {
            let key = AlertKey {
                target: id.clone(),
                kind: kind.clone(),
            };
            if self.alerts.get(&key).is_some() {
                continue;
            }
            let severity = self.config.alerts.severity_for(&kind);
            let message = alert_message(
                &kind,
                &name,
                score_value,
                &self.config,
                &staleness_policy,
                &failing,
            );
            let alert_id = self.ids.make("alert");
            if let Some(change) = self.alerts.raise(
                key,
                severity,
                message,
                None,
                now,
                alert_id,
                suppress.clone(),
            ) {
                self.push_alert_change(change, now, out);
            }
        }
    }

    /// Records an alert change and the notifications it calls for
    /// ([`alert::on_change`]), routed by the target's channel config:
    ///
    /// - `firing` goes to the dashboard (seed 004: first to the
    ///   dashboard);
    /// - `escalation` goes to external channels: after the target's
    ///   escalation delay (the timers), or, when that delay is 0, right
    ///   after the alert first fires, as the same `Escalated` change and
    ///   `escalation` notification, only at once;
    /// - `reminder` and `resolved` go to the dashboard, and to external
    ///   channels when the alert was escalated: whoever heard of it hears
    ///   of its recovery.
    fn push_alert_change(
        &mut self,
        change: AlertChange,
        now: DateTime<Utc>,
        out: &mut Vec<Decision>,
    ) {
        let kind = alert::on_change(&change);
        let alert = change.alert().clone();
        let tenant = self.tenant_of(&alert.target);
        out.push(Decision::Alert {
            tenant: tenant.clone(),
            change,
        });
        let Some(kind) = kind else {
            return;
        };
        let target_name = self
            .targets
            .get(&alert.target)
            .map(|e| e.target.name.clone())
            .unwrap_or_else(|| alert.target.to_string());
        let channel = self.channel_for(&alert.target);
        let escalate_now = kind == NotificationKind::Firing && channel.escalation_delay.is_zero();
        let routing = Routing {
            channels: channel.channels.clone(),
            webhook_url: channel.webhook_url.clone(),
            silenced: false,
        };
        let external_silenced = !channel.enabled;
        let (dashboard, external) = match kind {
            NotificationKind::Firing => (true, false),
            NotificationKind::Escalation => (false, true),
            _ => (true, alert.escalated_at.is_some()),
        };
        let key = alert.key();
        if dashboard {
            out.push(Decision::Notify {
                tenant: tenant.clone(),
                target_name: target_name.clone(),
                kind,
                audience: Audience::Dashboard,
                alert: alert.clone(),
                at: now,
                routing: routing.clone(),
            });
        }
        if external {
            out.push(Decision::Notify {
                tenant,
                target_name,
                kind,
                audience: Audience::External,
                alert,
                at: now,
                routing: Routing {
                    silenced: external_silenced,
                    ..routing
                },
            });
        }
        if escalate_now {
            if let Some(change) = self.alerts.escalate_now(&key, now) {
                self.push_alert_change(change, now, out);
            }
        }
    }

    fn channel_for(&self, target: &TargetId) -> &AlertChannelConfig {
        self.channels.get(target).unwrap_or(&self.default_channel)
    }

    /// Reminders, escalation and the end of suppression windows. Each
    /// alert escalates after its target's channel config's delay (the
    /// default config's when the target has none); with `only`, just those
    /// targets' alerts.
    fn followups(
        &mut self,
        now: DateTime<Utc>,
        only: Option<&std::collections::HashSet<&TargetId>>,
        out: &mut Vec<Decision>,
    ) {
        if self.alerts.is_empty() {
            return;
        }
        let (channels, default) = (&self.channels, &self.default_channel);
        let targets = &self.targets;
        // only the chosen targets' alerts, and only those whose condition
        // still holds (the refresh before this resolved the others)
        let holds = |a: &Alert| {
            only.is_none_or(|o| o.contains(&a.target))
                && targets
                    .get(&a.target)
                    .is_none_or(|e| !e.plan.resolve.contains(&a.kind))
        };
        let changes = self.alerts.followups_where(
            &self.config.alerts,
            now,
            |t| channels.get(t).unwrap_or(default).escalation_delay,
            holds,
        );
        for change in changes {
            self.push_alert_change(change, now, out);
        }
    }

    fn suppression(&self, id: &TargetId, now: DateTime<Utc>) -> Option<SuppressReason> {
        let entry = self.targets.get(id)?;
        if maintenance::in_maintenance(self.maintenance.iter(), &entry.target, now) {
            return Some(SuppressReason::Maintenance);
        }
        crate::dependency::down_parent(&entry.target, |p| {
            self.targets.get(p).map(|e| e.rt.health.status)
        })
        .map(|p| SuppressReason::ParentDown { parent: p.clone() })
    }

    fn account_time(&mut self, id: &TargetId, now: DateTime<Utc>) {
        let Some(entry) = self.targets.get_mut(id) else {
            return;
        };
        let Some(w) = entry.rt.window.current() else {
            return;
        };
        let start = entry.rt.accounted_until.unwrap_or(w.started_at);
        if now > start {
            entry.pending.add_time(w.status, w.excluded(), start, now);
            entry.rt.accounted_until = Some(now);
        }
    }
}

/// The default channel config when none is stored: the alert policy's
/// escalation delay, every notifier.
fn policy_channel(policy: &alert::AlertPolicy) -> AlertChannelConfig {
    AlertChannelConfig {
        escalation_delay: policy.escalation_delay,
        ..AlertChannelConfig::default()
    }
}

fn idx_policy(i: Option<usize>) -> Option<usize> {
    i
}

fn compute_score(e: &TargetEntry, config: &FleetConfig, now: DateTime<Utc>) -> Score {
    score::compute(
        &ScoreInput {
            last_seen: e.last_seen(),
            install_attempts: e.rt.lifecycle.install_attempts,
            boot_count: e.rt.lifecycle.boot_count,
        },
        &config.score_weights,
        config.staleness.offline_after,
        now,
    )
}

fn heartbeat_policy(
    spec: &CheckSpec,
    default: &StalenessPolicy,
) -> Result<StalenessPolicy, ValidationError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Params {
        #[serde(default, with = "humantime_serde")]
        stale_after: Option<std::time::Duration>,
        #[serde(default, with = "humantime_serde")]
        offline_after: Option<std::time::Duration>,
    }
    let p: Params = serde_json::from_value(spec.params.clone())
        .map_err(|e| ValidationError::new("params", e.to_string()))?;
    let policy = StalenessPolicy {
        stale_after: p.stale_after.unwrap_or(default.stale_after),
        offline_after: p.offline_after.unwrap_or(default.offline_after),
    };
    policy.validate().map_err(|e| e.within("params"))?;
    Ok(policy)
}

fn alert_message(
    kind: &AlertKind,
    name: &str,
    score: u8,
    config: &FleetConfig,
    staleness: &StalenessPolicy,
    failing: &[String],
) -> String {
    let mins = |d: std::time::Duration| d.as_secs() / 60;
    match kind {
        AlertKind::Stale => format!(
            "Target {name} is stale (no heartbeat for >{}m)",
            mins(staleness.stale_after)
        ),
        AlertKind::Offline => format!(
            "Target {name} is offline (no heartbeat for >{}m)",
            mins(staleness.offline_after)
        ),
        AlertKind::LowScore => format!(
            "Target {name} health score is {score} (below threshold {})",
            config.alerts.low_score_threshold
        ),
        AlertKind::Down => format!("Target {name} is down (failing: {})", failing.join(", ")),
        AlertKind::Degraded => {
            format!("Target {name} is degraded (checks: {})", failing.join(", "))
        }
        AlertKind::InstallTimeout => format!(
            "Installation on {name} timed out after {} minutes",
            mins(config.lifecycle.install_timeout)
        ),
        AlertKind::BreakerOpen => format!("Circuit breaker open for {name}: healing paused"),
        AlertKind::HealExhausted => format!("Auto-heal attempts exhausted for {name}"),
        AlertKind::Flapping => format!("Target {name} is flapping"),
        other => format!("Target {name}: {other}"),
    }
}

#[cfg(test)]
mod tests;
