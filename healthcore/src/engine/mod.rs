//! The engine: the runtime that turns the pure core into a monitor.
//!
//! It schedules checks (per-check interval with jitter, never overlapping
//! itself, a global concurrency bound, every probe under its timeout, a
//! panicking checker isolated), feeds each observation through the pure
//! [`Fleet`](crate::fleet::Fleet), and carries the decisions out: results
//! are batched to the [`Store`](crate::store::Store) by a writer task off
//! the probe path (buffered and retried through outages); alerts, heal
//! events, windows and lifecycle events are written on transitions;
//! notifiers and healers run in their own tasks with retries; every change
//! is published on a broadcast [`Event`](crate::event::Event) bus.
//!
//! **Several instances** on one shared store (PostgreSQL) split the checks
//! through leases instead of timers: *claims mode*, chosen automatically
//! when the store offers claims and is persistent ([`ClaimsMode`],
//! [`ClaimsConfig`]). A claim loop takes due checks in batches, loads the
//! previous owner's state, runs them under the same bounds, and writes
//! every side effect fenced by the lease (a heal decision before its
//! action), so a check runs once per interval and an instance that lost
//! its lease changes nothing. The single-instance path is unchanged.
//!
//! Time comes from the injected [`Clock`](crate::clock::Clock); scheduling
//! uses tokio's timers, so tests run on paused time with
//! [`TokioClock`](crate::clock::TokioClock).
//!
//! ```no_run
//! # async fn demo() -> Result<(), healthcore::engine::EngineError> {
//! use std::sync::Arc;
//! use healthcore::engine::Engine;
//! use healthcore::memory::InMemoryStore;
//! use healthcore::model::{CheckSpec, Target, TargetId};
//!
//! let engine = Engine::builder(Arc::new(InMemoryStore::new())).build()?;
//! engine.start().await?;
//! let id = TargetId::new("web-1")?;
//! engine.add_target(Target::new(id.clone(), "web-1")).await?;
//! engine.add_check(&id, CheckSpec::new("heartbeat")).await?;
//! println!("{:?}", engine.target_view(&id).map(|v| v.health));
//! engine.shutdown().await;
//! # Ok(()) }
//! ```

mod actions;
mod activity;
mod checklist;
mod claims;
mod config;
mod effects;
mod error;
mod jobs;
mod metrics;
mod scheduler;
mod uptime;
mod writer;

pub use actions::{DiagnoseReport, RestartReport};
pub use activity::{ActivityEntry, ActivityQuery, ActivityType};
pub use checklist::{ChecklistItem, ChecklistResult, ChecklistStatus};
pub use config::{ClaimsConfig, ClaimsMode, EngineConfig, JobIntervals, Limits};
pub use error::EngineError;
pub use metrics::{EngineMetrics, LATENCY_BUCKETS, MetricsSnapshot};
pub use uptime::{ResultHistory, UptimeView};

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, Semaphore, broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use crate::alert::Alert;
use crate::checker::Checker;
use crate::clock::{Clock, SystemClock};
use crate::event::Event;
use crate::fleet::{Fleet, TargetView};
use crate::healer::{Healer, LogSource};
use crate::lifecycle::{LifecycleReport, ReportOutcome};
use crate::model::{CheckKey, CheckSpec, Observation, Status, Target, TargetId, TenantId};
use crate::notify::Notifier;
use crate::store::{AuditEntry, PageRequest, Store, StoreExt, StoredResult, TargetQuery};
use crate::summary::{Overview, Summary};

/// Builds an [`Engine`].
#[derive(Debug)]
pub struct EngineBuilder {
    store: Arc<dyn Store>,
    checkers: HashMap<String, Arc<dyn Checker>>,
    notifiers: Vec<Arc<dyn Notifier>>,
    healer: Option<Arc<dyn Healer>>,
    log_source: Option<Arc<dyn LogSource>>,
    clock: Arc<dyn Clock>,
    config: EngineConfig,
    checklist: Vec<ChecklistItem>,
    schedule: bool,
    instance: Option<String>,
}

impl EngineBuilder {
    /// Registers a checker for its kind (replacing one of the same kind).
    #[must_use]
    pub fn checker(mut self, checker: Arc<dyn Checker>) -> Self {
        self.checkers.insert(checker.kind().to_owned(), checker);
        self
    }

    /// Adds a notifier.
    #[must_use]
    pub fn notifier(mut self, notifier: Arc<dyn Notifier>) -> Self {
        self.notifiers.push(notifier);
        self
    }

    /// Sets the healer that carries out heal actions.
    #[must_use]
    pub fn healer(mut self, healer: Arc<dyn Healer>) -> Self {
        self.healer = Some(healer);
        self
    }

    /// Sets the log source for the logs quick action.
    #[must_use]
    pub fn log_source(mut self, source: Arc<dyn LogSource>) -> Self {
        self.log_source = Some(source);
        self
    }

    /// Sets the clock (default: the system clock).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the configuration.
    #[must_use]
    pub fn config(mut self, config: EngineConfig) -> Self {
        self.config = config;
        self
    }

    /// Sets the startup checklist.
    #[must_use]
    pub fn checklist(mut self, items: Vec<ChecklistItem>) -> Self {
        self.checklist = items;
        self
    }

    /// Turns the scheduler and periodic jobs off: the engine then only
    /// moves when fed ([`Engine::ingest`], [`Engine::tick`]) — replay and
    /// push-only deployments.
    #[must_use]
    pub fn without_scheduler(mut self) -> Self {
        self.schedule = false;
        self
    }

    /// Sets the claims mode (shortcut for `config.claims.mode`): `Auto`
    /// (default) splits checks with other instances when the store offers
    /// claims and is persistent, `On` forces it, `Off` keeps per-check
    /// timers.
    #[must_use]
    pub fn claims(mut self, mode: ClaimsMode) -> Self {
        self.config.claims.mode = mode;
        self
    }

    /// Sets this instance's id prefix (default: random per process).
    #[must_use]
    pub fn instance_id(mut self, id: impl Into<String>) -> Self {
        self.instance = Some(id.into());
        self
    }

    /// Validates the configuration and builds the engine (not started).
    pub fn build(self) -> Result<Engine, EngineError> {
        self.config.validate()?;
        for (i, item) in self.checklist.iter().enumerate() {
            item.validate()
                .map_err(|e| e.within(&format!("checklist[{i}]")))?;
        }
        let instance = self.instance.unwrap_or_else(random_instance_id);
        let caps = self.store.capabilities();
        let claims = match self.config.claims.mode {
            ClaimsMode::Off => false,
            ClaimsMode::On if !caps.claims => {
                return Err(crate::error::ValidationError::new(
                    "claims.mode",
                    "the store does not offer claims",
                )
                .into());
            }
            ClaimsMode::On => true,
            _ => caps.claims && caps.persistent,
        } && self.schedule;
        let (events, _) = broadcast::channel(4096);
        let (effects_tx, effects_rx) = mpsc::unbounded_channel();
        let (stop_tx, _) = watch::channel(false);
        let (ready_tx, _) = watch::channel(self.checklist.is_empty());
        let fleet = Fleet::new(self.config.rules.clone(), instance.clone());
        let inner = Arc::new(Inner {
            store: self.store,
            checkers: self.checkers,
            notifiers: self.notifiers,
            healer: self.healer,
            log_source: self.log_source,
            clock: self.clock,
            semaphore: Arc::new(Semaphore::new(self.config.limits.max_concurrency)),
            config: self.config,
            fleet: Mutex::new(fleet),
            buffer: Mutex::new(VecDeque::new()),
            flush: Notify::new(),
            events,
            effects_tx,
            effects_rx: Mutex::new(Some(effects_rx)),
            stop: stop_tx,
            tasks: Mutex::new(Vec::new()),
            check_tasks: Mutex::new(HashMap::new()),
            run_locks: Mutex::new(HashMap::new()),
            metrics: EngineMetrics::default(),
            checklist: Mutex::new(checklist::initial(&self.checklist)),
            checklist_items: self.checklist,
            ready: ready_tx,
            schedule: self.schedule,
            instance,
            claims: claims.then(claims::ClaimsState::default),
            started: std::sync::atomic::AtomicBool::new(false),
            seq: std::sync::atomic::AtomicU64::new(0),
        });
        Ok(Engine { inner })
    }
}

/// The running monitor. Cheap to clone; all clones share one engine.
#[derive(Debug, Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) checkers: HashMap<String, Arc<dyn Checker>>,
    pub(crate) notifiers: Vec<Arc<dyn Notifier>>,
    pub(crate) healer: Option<Arc<dyn Healer>>,
    pub(crate) log_source: Option<Arc<dyn LogSource>>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: EngineConfig,
    pub(crate) semaphore: Arc<Semaphore>,
    pub(crate) fleet: Mutex<Fleet>,
    pub(crate) buffer: Mutex<VecDeque<StoredResult>>,
    pub(crate) flush: Notify,
    pub(crate) events: broadcast::Sender<Event>,
    pub(crate) effects_tx: mpsc::UnboundedSender<effects::Effect>,
    pub(crate) effects_rx: Mutex<Option<mpsc::UnboundedReceiver<effects::Effect>>>,
    pub(crate) stop: watch::Sender<bool>,
    pub(crate) tasks: Mutex<Vec<JoinHandle<()>>>,
    pub(crate) check_tasks: Mutex<HashMap<CheckKey, JoinHandle<()>>>,
    pub(crate) run_locks: Mutex<HashMap<CheckKey, Arc<tokio::sync::Mutex<()>>>>,
    pub(crate) metrics: EngineMetrics,
    pub(crate) checklist: Mutex<Vec<ChecklistResult>>,
    pub(crate) checklist_items: Vec<ChecklistItem>,
    pub(crate) ready: watch::Sender<bool>,
    pub(crate) schedule: bool,
    pub(crate) instance: String,
    /// Set in claims mode (several instances share the store).
    pub(crate) claims: Option<claims::ClaimsState>,
    pub(crate) started: std::sync::atomic::AtomicBool,
    pub(crate) seq: std::sync::atomic::AtomicU64,
}

/// Locks a std mutex, recovering from poisoning (the data is plain state
/// that a panic elsewhere cannot leave half-written in a harmful way).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn random_instance_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    format!("{:08x}", h.finish() as u32)
}

impl Engine {
    /// A builder over `store`, with the system clock and default config.
    pub fn builder(store: Arc<dyn Store>) -> EngineBuilder {
        EngineBuilder {
            store,
            checkers: HashMap::new(),
            notifiers: Vec::new(),
            healer: None,
            log_source: None,
            clock: Arc::new(SystemClock),
            config: EngineConfig::default(),
            checklist: Vec::new(),
            schedule: true,
            instance: None,
        }
    }

    /// Loads targets, checks, state, open alerts and configuration from the
    /// store, then starts the writer, the effects task, the periodic jobs,
    /// the startup checklist and the scheduler. Calling it twice is a no-op.
    pub async fn start(&self) -> Result<(), EngineError> {
        use std::sync::atomic::Ordering;
        if self.inner.started.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let inner = &self.inner;
        let now = inner.clock.now();
        let targets = load_all_targets(inner.store.as_ref()).await?;
        let checks = inner.store.list_checks(None).await?;
        let states = inner.store.load_states().await?;
        let open = inner
            .store
            .list_alerts(&crate::store::AlertQuery {
                open_only: true,
                page: PageRequest::max(),
                ..Default::default()
            })
            .await?;
        let policies = inner.store.heal_policies(None).await?;
        let windows = inner.store.maintenance_windows(None).await?;
        let channels = inner
            .store
            .docs_of(crate::store::doc_kind::ALERT_CHANNEL, None, None)
            .await?;
        {
            let mut fleet = lock(&inner.fleet);
            for t in targets {
                fleet.upsert_target(t, now);
            }
            for (t, spec) in checks {
                if let Err(e) = fleet.upsert_check(&t, spec) {
                    tracing::warn!(target_id = %t, error = %e, "stored check skipped");
                }
            }
            for s in &states {
                if let Err(e) = fleet.restore_state(s) {
                    tracing::warn!(scope = ?s.scope, error = %e, "stored state could not be decoded; starting fresh");
                }
            }
            fleet.restore_alerts(open.items);
            fleet.set_policies(policies);
            fleet.set_maintenance(windows);
            fleet.set_channels(channels);
            // restored state is already stored
            fleet.mark_clean();
        }
        let rx = lock(&inner.effects_rx).take();
        if let Some(rx) = rx {
            self.spawn(effects::run(inner.clone(), rx));
        }
        self.spawn(writer::run(inner.clone()));
        if inner.schedule {
            self.spawn(jobs::run(inner.clone()));
            if inner.claims.is_some() {
                self.spawn(claims::run(inner.clone()));
            } else {
                let keys: Vec<(CheckKey, CheckSpec)> = lock(&inner.fleet).active_checks();
                for (key, spec) in keys {
                    scheduler::spawn_check(inner, key, spec);
                }
            }
        }
        if !inner.checklist_items.is_empty() {
            let me = self.clone();
            self.spawn(async move { me.run_checklist().await });
        }
        tracing::info!(instance = %inner.instance, claims = inner.claims.is_some(), "engine started");
        Ok(())
    }

    fn spawn(&self, fut: impl std::future::Future<Output = ()> + Send + 'static) {
        let h = tokio::spawn(fut);
        lock(&self.inner.tasks).push(h);
    }

    /// Stops scheduling, flushes buffered results, waits for the
    /// background tasks to finish, and writes every target's and check's
    /// state (counters included, not only what changed on transitions).
    pub async fn shutdown(&self) {
        let inner = &self.inner;
        let _ = inner.stop.send_replace(true);
        let checks: Vec<JoinHandle<()>> =
            lock(&inner.check_tasks).drain().map(|(_, h)| h).collect();
        for h in checks {
            h.abort();
        }
        inner.flush.notify_one();
        let tasks: Vec<JoinHandle<()>> = lock(&inner.tasks).drain(..).collect();
        for h in tasks {
            let _ = h.await;
        }
        // final flush, in case the writer was never started
        writer::flush_all(inner).await;
        // State is written on transitions, but counters (total checks,
        // consecutive failures, …) move on every result: a graceful stop
        // writes all of it, so a restart resumes exactly.
        let states = lock(&inner.fleet).all_states(inner.clock.now());
        if !states.is_empty()
            && let Err(e) = inner.store.put_states(&states).await
        {
            tracing::warn!(error = %e, "final state write failed; counters since the last transition are lost");
        }
        tracing::info!("engine stopped");
    }

    // ---- registration -------------------------------------------------

    /// Adds or replaces a target (validated; parents must exist).
    pub async fn add_target(&self, target: Target) -> Result<(), EngineError> {
        target.validate()?;
        {
            let fleet = lock(&self.inner.fleet);
            for p in &target.parents {
                if fleet.target(p).is_none() {
                    return Err(crate::error::ValidationError::new(
                        "parents",
                        format!("unknown parent target {p}"),
                    )
                    .into());
                }
            }
        }
        self.inner.store.put_target(&target).await?;
        let now = self.inner.clock.now();
        let mut out = Vec::new();
        {
            let mut fleet = lock(&self.inner.fleet);
            let id = target.id.clone();
            fleet.upsert_target(target, now);
            fleet.tick_target(&id, now, &mut out);
        }
        effects::dispatch(&self.inner, out);
        Ok(())
    }

    /// Removes a target, its checks and state.
    pub async fn remove_target(&self, id: &TargetId) -> Result<(), EngineError> {
        if !self.inner.store.delete_target(id).await? {
            return Err(EngineError::not_found("target", id));
        }
        let keys: Vec<CheckKey> = {
            let mut fleet = lock(&self.inner.fleet);
            let keys = fleet
                .target_view(id, self.inner.clock.now())
                .map(|v| {
                    v.checks
                        .iter()
                        .map(|c| CheckKey::new(id.clone(), c.id.clone()))
                        .collect()
                })
                .unwrap_or_default();
            fleet.remove_target(id, self.inner.clock.now());
            keys
        };
        for k in keys {
            scheduler::stop_check(&self.inner, &k);
        }
        Ok(())
    }

    /// Adds or replaces a check on a target. The spec is validated, and so
    /// are its params by the checker of its kind.
    pub async fn add_check(
        &self,
        target: &TargetId,
        spec: CheckSpec,
    ) -> Result<CheckKey, EngineError> {
        spec.validate()?;
        let heartbeat = spec.kind == crate::fleet::HEARTBEAT_KIND;
        if !heartbeat {
            let checker = self
                .inner
                .checkers
                .get(&spec.kind)
                .ok_or_else(|| EngineError::NoChecker(spec.kind.clone()))?;
            checker.validate(&spec)?;
        }
        if lock(&self.inner.fleet).target(target).is_none() {
            return Err(EngineError::not_found("target", target));
        }
        // the fleet validates heartbeat params; do it before storing
        {
            let mut probe = Fleet::new(self.inner.config.rules.clone(), "v");
            let t = Target::new(target.clone(), "v");
            probe.upsert_target(t, self.inner.clock.now());
            probe.upsert_check(target, spec.clone())?;
        }
        self.inner.store.put_check(target, &spec).await?;
        let key = lock(&self.inner.fleet).upsert_check(target, spec.clone())?;
        if self.inner.schedule
            && self.inner.claims.is_none()
            && self.inner.started.load(std::sync::atomic::Ordering::SeqCst)
        {
            scheduler::stop_check(&self.inner, &key);
            if spec.enabled && !heartbeat {
                scheduler::spawn_check(&self.inner, key.clone(), spec);
            }
        }
        Ok(key)
    }

    /// Removes a check.
    pub async fn remove_check(&self, key: &CheckKey) -> Result<(), EngineError> {
        if !self.inner.store.delete_check(key).await? {
            return Err(EngineError::not_found("check", key));
        }
        lock(&self.inner.fleet).remove_check(key);
        scheduler::stop_check(&self.inner, key);
        Ok(())
    }

    /// Saves a heal policy (validated) and applies it.
    pub async fn put_heal_policy(
        &self,
        policy: crate::heal::HealPolicy,
    ) -> Result<(), EngineError> {
        policy.validate()?;
        self.inner
            .store
            .put_heal_policy(&policy, self.inner.clock.now())
            .await?;
        self.reload_policies().await
    }

    /// Deletes a heal policy.
    pub async fn delete_heal_policy(&self, id: &str) -> Result<(), EngineError> {
        if !self
            .inner
            .store
            .delete_doc(crate::store::doc_kind::HEAL_POLICY, id)
            .await?
        {
            return Err(EngineError::not_found("heal policy", id));
        }
        self.reload_policies().await
    }

    async fn reload_policies(&self) -> Result<(), EngineError> {
        let policies = self.inner.store.heal_policies(None).await?;
        lock(&self.inner.fleet).set_policies(policies);
        Ok(())
    }

    /// Saves a maintenance window (validated) and applies it.
    pub async fn put_maintenance(
        &self,
        window: crate::maintenance::MaintenanceWindow,
        tenant: Option<&TenantId>,
    ) -> Result<(), EngineError> {
        window.validate()?;
        self.inner
            .store
            .put_maintenance(&window, tenant, self.inner.clock.now())
            .await?;
        self.reload_maintenance().await
    }

    /// Deletes a maintenance window.
    pub async fn delete_maintenance(&self, id: &str) -> Result<(), EngineError> {
        if !self
            .inner
            .store
            .delete_doc(crate::store::doc_kind::MAINTENANCE, id)
            .await?
        {
            return Err(EngineError::not_found("maintenance window", id));
        }
        self.reload_maintenance().await
    }

    async fn reload_maintenance(&self) -> Result<(), EngineError> {
        let windows = self.inner.store.maintenance_windows(None).await?;
        lock(&self.inner.fleet).set_maintenance(windows);
        Ok(())
    }

    /// Saves an alert channel config and applies it.
    pub async fn put_alert_channel(
        &self,
        config: crate::store::AlertChannelConfig,
    ) -> Result<(), EngineError> {
        let id = config
            .target
            .as_ref()
            .map(|t| t.to_string())
            .unwrap_or_else(|| "default".into());
        self.inner
            .store
            .put_doc(&crate::store::Doc {
                kind: crate::store::doc_kind::ALERT_CHANNEL.into(),
                id,
                tenant: None,
                target: config.target.clone(),
                body: serde_json::to_value(&config).map_err(crate::store::StoreError::from)?,
                updated_at: self.inner.clock.now(),
            })
            .await?;
        let channels = self
            .inner
            .store
            .docs_of(crate::store::doc_kind::ALERT_CHANNEL, None, None)
            .await?;
        lock(&self.inner.fleet).set_channels(channels);
        Ok(())
    }

    // ---- inputs -------------------------------------------------------

    /// Feeds an observation of a check as if the scheduler had run it
    /// (push checks, replay). `at` is kept as given.
    pub fn ingest(&self, key: &CheckKey, obs: Observation) -> Result<Status, EngineError> {
        scheduler::ingest(&self.inner, key, obs)
    }

    /// Ingests a passive report for a target.
    pub fn report(
        &self,
        target: &TargetId,
        report: &LifecycleReport,
    ) -> Result<ReportOutcome, EngineError> {
        let now = self.inner.clock.now();
        let mut out = Vec::new();
        let outcome = lock(&self.inner.fleet).report(target, report, now, &mut out)?;
        if let Some(c) = &self.inner.claims {
            c.reported(target);
        }
        effects::dispatch(&self.inner, out);
        Ok(outcome)
    }

    /// The target with this (normalised) MAC address, for 001's reports.
    pub async fn target_by_mac(&self, mac: &str) -> Result<Target, EngineError> {
        let norm = crate::model::normalize_mac(mac).ok_or_else(|| {
            crate::error::ValidationError::new("mac_address", "not a valid MAC address")
        })?;
        let page = self
            .inner
            .store
            .list_targets(&TargetQuery {
                mac_address: Some(norm.clone()),
                page: PageRequest::new(1, 0),
                ..Default::default()
            })
            .await?;
        page.items
            .into_iter()
            .next()
            .ok_or_else(|| EngineError::not_found("target with MAC", norm))
    }

    /// Runs the periodic rules now (staleness, install timeouts, breaker
    /// cooldowns, reminders, escalation, rollups).
    pub fn tick(&self) {
        let now = self.inner.clock.now();
        let mut out = Vec::new();
        lock(&self.inner.fleet).tick(now, &mut out);
        effects::dispatch(&self.inner, out);
    }

    /// Takes snapshots of every target now.
    pub fn snapshot_now(&self) {
        let now = self.inner.clock.now();
        let mut out = Vec::new();
        lock(&self.inner.fleet).snapshots(now, &mut out);
        effects::dispatch(&self.inner, out);
    }

    /// Writes buffered results and changed state now.
    pub async fn flush(&self) {
        writer::flush_all(&self.inner).await;
        effects::drain(&self.inner).await;
    }

    /// Acknowledges an active alert.
    pub async fn acknowledge(&self, alert_id: &str, by: &str) -> Result<Alert, EngineError> {
        if by.trim().is_empty() || by.len() > 100 {
            return Err(
                crate::error::ValidationError::new("by", "must be 1..=100 characters").into(),
            );
        }
        let now = self.inner.clock.now();
        let mut out = Vec::new();
        let res = lock(&self.inner.fleet).acknowledge(alert_id, by, now, &mut out);
        match res {
            Ok(alert) => {
                effects::dispatch(&self.inner, out);
                Ok(alert)
            }
            Err(e) => {
                // not open in memory: maybe resolved (conflict) or unknown (404)
                match self.inner.store.get_alert(alert_id).await? {
                    Some(a) => Err(EngineError::Conflict(format!(
                        "alert {alert_id} is {}, not active",
                        a.status.as_str()
                    ))),
                    None => Err(match e {
                        crate::fleet::FleetError::Alert(crate::alert::AlertError::NotFound {
                            ..
                        }) => EngineError::not_found("alert", alert_id),
                        other => other.into(),
                    }),
                }
            }
        }
    }

    /// Resolves an open alert by hand.
    pub async fn resolve_alert(&self, alert_id: &str) -> Result<Alert, EngineError> {
        let now = self.inner.clock.now();
        let mut out = Vec::new();
        let res = lock(&self.inner.fleet).resolve_alert(alert_id, now, &mut out);
        match res {
            Ok(a) => {
                effects::dispatch(&self.inner, out);
                Ok(a)
            }
            Err(_) => match self.inner.store.get_alert(alert_id).await? {
                Some(a) => Err(EngineError::Conflict(format!(
                    "alert {alert_id} is already {}",
                    a.status.as_str()
                ))),
                None => Err(EngineError::not_found("alert", alert_id)),
            },
        }
    }

    /// Resets a target's heal attempts (audited).
    pub async fn reset_heal(&self, target: &TargetId, actor: &str) -> Result<(), EngineError> {
        let now = self.inner.clock.now();
        let mut out = Vec::new();
        lock(&self.inner.fleet).reset_heal(target, now, &mut out)?;
        effects::dispatch(&self.inner, out);
        self.audit(
            actor,
            "heal_reset",
            Some(target),
            "ok",
            serde_json::json!({"reason": "Manual reset"}),
        )
        .await
    }

    pub(crate) async fn audit(
        &self,
        actor: &str,
        action: &str,
        target: Option<&TargetId>,
        result: &str,
        details: serde_json::Value,
    ) -> Result<(), EngineError> {
        let now = self.inner.clock.now();
        let tenant = target.map(|t| lock(&self.inner.fleet).tenant_of(t));
        let entry = AuditEntry {
            id: format!(
                "audit-{}-{}-{}",
                self.inner.instance,
                now.timestamp_micros(),
                self.inner
                    .seq
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ),
            at: now,
            actor: actor.to_owned(),
            action: action.to_owned(),
            target: target.cloned(),
            tenant,
            result: result.to_owned(),
            details,
        };
        self.inner.store.put_audit(&[entry]).await?;
        Ok(())
    }

    // ---- queries ------------------------------------------------------

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Subscribes to the event bus.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// One target's live view (status, score, checks, lifecycle, alerts).
    pub fn target_view(&self, id: &TargetId) -> Option<TargetView> {
        lock(&self.inner.fleet).target_view(id, self.inner.clock.now())
    }

    /// Every target's view, optionally of one tenant.
    pub fn target_views(&self, tenant: Option<&TenantId>) -> Vec<TargetView> {
        lock(&self.inner.fleet).target_views(tenant, self.inner.clock.now())
    }

    /// Seed 000's summary, now.
    pub fn summary(&self, tenant: Option<&TenantId>) -> Summary {
        lock(&self.inner.fleet).summary(tenant, self.inner.clock.now())
    }

    /// Seed 002's tenant overview.
    pub fn overview(&self, tenant: Option<&TenantId>) -> Overview {
        lock(&self.inner.fleet).overview(tenant)
    }

    /// Targets whose install is past the timeout.
    pub fn stalled(&self) -> Vec<Target> {
        let now = self.inner.clock.now();
        lock(&self.inner.fleet)
            .stalled(now)
            .into_iter()
            .cloned()
            .collect()
    }

    /// Counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        let mut m = self.inner.metrics.snapshot();
        m.buffer_depth = lock(&self.inner.buffer).len() as u64;
        m
    }

    /// This instance's id.
    pub fn instance_id(&self) -> &str {
        &self.inner.instance
    }

    /// Whether this engine runs in claims mode (splitting checks with
    /// other instances through the store's leases), decided at build from
    /// [`ClaimsMode`] and the store's capabilities.
    pub fn claims_mode(&self) -> bool {
        self.inner.claims.is_some()
    }
}

async fn load_all_targets(store: &dyn Store) -> Result<Vec<Target>, EngineError> {
    let mut all = Vec::new();
    let mut offset = 0u64;
    loop {
        let page = store
            .list_targets(&TargetQuery {
                page: PageRequest::new(crate::store::MAX_PAGE, offset),
                ..Default::default()
            })
            .await?;
        let n = page.items.len() as u64;
        all.extend(page.items);
        offset += n;
        if n == 0 || offset >= page.total {
            break;
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests;
