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
mod instance;
mod jobs;
mod metrics;
mod retry;
mod scheduler;
mod uptime;
mod writer;

pub use actions::{DiagnoseReport, RestartReport};
pub use activity::{ActivityEntry, ActivityQuery, ActivityType, MAX_ACTIVITY_OFFSET};
pub use checklist::{ChecklistItem, ChecklistResult, ChecklistStatus};
pub use config::{ClaimsConfig, ClaimsMode, EngineConfig, JobIntervals, Limits};
pub use error::EngineError;
pub use metrics::{EngineMetrics, LATENCY_BUCKETS, MetricsSnapshot};
pub use uptime::{COUNT_FALLBACK_LIMIT, RESULTS_LIMIT, ResultHistory, UptimeView};

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

    /// Sets this instance's id prefix (default `hc`). The id is the
    /// prefix, a dash and 64 random bits drawn at build
    /// ([`Engine::instance_id`]), so engines given the same prefix (two
    /// processes, or two starts of one) never share a lease owner.
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
        let prefix = self.instance.as_deref().unwrap_or(instance::DEFAULT_PREFIX);
        instance::validate_prefix(prefix)?;
        let instance = instance::fresh(prefix);
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
        let (effects_tx, effects_rx) = mpsc::channel(self.config.limits.effects_capacity);
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
            pending: Default::default(),
            flush: Notify::new(),
            events,
            effects_tx,
            effects_rx: Mutex::new(Some(effects_rx)),
            stop: stop_tx,
            tasks: Mutex::new(Vec::new()),
            check_tasks: Mutex::new(HashMap::new()),
            run_locks: Mutex::new(HashMap::new()),
            registration: tokio::sync::Mutex::new(()),
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
    /// What the writer took from the fleet and could not write yet.
    pub(crate) pending: writer::SharedPending,
    pub(crate) flush: Notify,
    pub(crate) events: broadcast::Sender<Event>,
    pub(crate) effects_tx: mpsc::Sender<effects::Effect>,
    pub(crate) effects_rx: Mutex<Option<mpsc::Receiver<effects::Effect>>>,
    pub(crate) stop: watch::Sender<bool>,
    pub(crate) tasks: Mutex<Vec<JoinHandle<()>>>,
    pub(crate) check_tasks: Mutex<HashMap<CheckKey, JoinHandle<()>>>,
    pub(crate) run_locks: Mutex<HashMap<CheckKey, Arc<tokio::sync::Mutex<()>>>>,
    /// Held while a target is registered or removed, so the checks of
    /// [`Engine::register_target`] and its write are one step.
    pub(crate) registration: tokio::sync::Mutex<()>,
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

/// How long [`Engine::acknowledge`] and [`Engine::resolve_alert`] wait for
/// the store to hold their change before answering.
pub const ALERT_WRITE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The 409 message for an alert operation refused by the alert's status:
/// what was asked and the status it is in.
fn not_active_message(id: &str, status: crate::alert::AlertStatus, asked: &str) -> String {
    use crate::alert::AlertStatus;
    match (asked, status) {
        ("resolve", AlertStatus::Resolved) => {
            format!("cannot resolve alert {id}: it is already resolved")
        }
        ("acknowledge", AlertStatus::Acknowledged) => {
            format!("cannot acknowledge alert {id}: it is already acknowledged")
        }
        (_, s) => format!(
            "cannot {asked} alert {id}: it is {}; only an {} alert can be {}",
            s.as_str(),
            if asked == "resolve" {
                "active or acknowledged"
            } else {
                "active"
            },
            if asked == "resolve" {
                "resolved"
            } else {
                "acknowledged"
            },
        ),
    }
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
        // writes all of it, so a restart resumes exactly. Not in claims
        // mode: there every run writes its state under its lease, and this
        // instance's memory of checks others ran since is stale.
        let states = if inner.claims.is_some() {
            Vec::new()
        } else {
            lock(&inner.fleet).all_states(inner.clock.now())
        };
        if !states.is_empty()
            && let Err(e) = inner.store.put_states(&states).await
        {
            tracing::warn!(error = %e, "final state write failed; counters since the last transition are lost");
        }
        tracing::info!("engine stopped");
    }

    // ---- registration -------------------------------------------------

    /// Adds or replaces a target, under the rules of
    /// [`register_target`](Self::register_target).
    pub async fn add_target(&self, target: Target) -> Result<(), EngineError> {
        self.register_target(target, |_| Ok(())).await
    }

    /// Adds a target that must not exist yet: exactly one of several
    /// concurrent creates of an id succeeds, the others get
    /// [`EngineError::AlreadyExists`] naming `id`. Otherwise as
    /// [`register_target`](Self::register_target).
    pub async fn create_target(&self, target: Target) -> Result<(), EngineError> {
        self.register_target(target, |existing| match existing {
            Some(t) => Err(EngineError::AlreadyExists {
                field: "id".into(),
                message: format!("target {} already exists", t.id),
            }),
            None => Ok(()),
        })
        .await
    }

    /// Adds or replaces a target if `precondition` accepts its current
    /// definition (`None` when it is new); the HTTP layer uses it to let a
    /// tenant replace only its own targets. Every way a target is
    /// registered ([`add_target`](Self::add_target),
    /// [`create_target`](Self::create_target), this) applies these rules,
    /// one registration at a time, so what is checked is what is written:
    ///
    /// - the target is valid ([`Target::validate`]), field named;
    /// - `precondition` passes (its error is returned as is);
    /// - every parent exists (field `parents`) and the parents close no
    ///   dependency cycle ([`check_acyclic`](crate::dependency::check_acyclic):
    ///   field `parents`, the cycle spelled out);
    /// - its MAC address, if any, is no other target's: reports find a
    ///   node by MAC ([`target_by_mac`](Self::target_by_mac)), so a second
    ///   target with it would take the first one's reports
    ///   ([`EngineError::AlreadyExists`] naming `mac_address`). Addresses
    ///   are compared in their normalised form, which
    ///   [`Target::validate`] requires.
    ///
    /// The existence, precondition and MAC checks read the store, so they
    /// hold across instances sharing it too, except for two instances
    /// registering at the same moment (the lock is this process's).
    /// Targets loaded at [`start`](Self::start) are not re-checked.
    pub async fn register_target<F>(
        &self,
        target: Target,
        precondition: F,
    ) -> Result<(), EngineError>
    where
        F: FnOnce(Option<&Target>) -> Result<(), EngineError> + Send,
    {
        target.validate()?;
        let _registering = self.inner.registration.lock().await;
        let known = lock(&self.inner.fleet).target(&target.id).cloned();
        let existing = match known {
            Some(t) => Some(t),
            // another instance may have written it (claims mode)
            None => self.inner.store.get_target(&target.id).await?,
        };
        precondition(existing.as_ref())?;
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
            crate::dependency::check_acyclic(&target, |id| fleet.target(id))?;
        }
        if let Some(mac) = &target.mac_address {
            let holders = self
                .inner
                .store
                .list_targets(&TargetQuery {
                    mac_address: Some(mac.clone()),
                    page: PageRequest::new(2, 0),
                    ..Default::default()
                })
                .await?;
            if let Some(other) = holders.items.iter().find(|t| t.id != target.id) {
                tracing::debug!(target_id = %target.id, holder = %other.id, %mac, "MAC address taken");
                return Err(EngineError::AlreadyExists {
                    field: "mac_address".into(),
                    message: format!("MAC address {mac} is already used by another target"),
                });
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
        let _registering = self.inner.registration.lock().await;
        if !self.inner.store.delete_target(id).await? {
            return Err(EngineError::not_found("target", id));
        }
        let mut out = Vec::new();
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
            fleet.remove_target(id, self.inner.clock.now(), &mut out);
            keys
        };
        for k in keys {
            scheduler::stop_check(&self.inner, &k);
        }
        // a down parent gone: its children's held alerts are released
        effects::dispatch(&self.inner, out);
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
        self.check_policy_actions(&policy)?;
        self.inner
            .store
            .put_heal_policy(&policy, self.inner.clock.now())
            .await?;
        self.reload_policies().await
    }

    /// Refuses a policy naming an action the healer says it cannot carry
    /// out ([`Healer::action_names`]); `notify_only` always passes.
    fn check_policy_actions(&self, policy: &crate::heal::HealPolicy) -> Result<(), EngineError> {
        use crate::heal::HealAction;
        let Some(mut known) = self.inner.healer.as_ref().and_then(|h| h.action_names()) else {
            return Ok(());
        };
        known.sort();
        let fields = [
            ("action", Some(&policy.action)),
            ("escalation_action", policy.escalation_action.as_ref()),
        ];
        for (field, action) in fields {
            let Some(action) = action else { continue };
            if *action == HealAction::NotifyOnly || known.iter().any(|k| k == action.as_str()) {
                continue;
            }
            let defined = if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            };
            return Err(EngineError::Invalid(crate::error::ValidationError::new(
                field,
                format!(
                    "unknown heal action {action}: the healer carries out {defined} (and notify_only)"
                ),
            )));
        }
        Ok(())
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
    /// (push checks, replay). `at` is kept as given, but must be after
    /// 1970 and at most a day ahead of the engine's clock: anything else
    /// is refused as [`EngineError::Invalid`] naming `at`, and nothing is
    /// counted.
    pub fn ingest(&self, key: &CheckKey, obs: Observation) -> Result<Status, EngineError> {
        scheduler::ingest_pushed(&self.inner, key, obs)
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
    ///
    /// Read-your-writes: it returns once the store holds the change (the
    /// effects queue has written everything up to it), so every read after
    /// an `Ok` sees the alert acknowledged. When the store does not confirm
    /// within [`ALERT_WRITE_WAIT`] the change stays recorded in memory (and
    /// is written when the store comes back) but the answer is
    /// [`StoreError::Unavailable`](crate::store::StoreError::Unavailable).
    ///
    /// Errors: [`EngineError::NotFound`] for an unknown id,
    /// [`EngineError::Conflict`] naming the alert's current status when it
    /// is not active.
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
                self.await_alert_write("acknowledgement").await?;
                Ok(alert)
            }
            Err(crate::fleet::FleetError::Alert(crate::alert::AlertError::NotActive {
                status,
            })) => Err(EngineError::Conflict(not_active_message(
                alert_id,
                status,
                "acknowledge",
            ))),
            Err(crate::fleet::FleetError::Alert(crate::alert::AlertError::NotFound { .. })) => {
                // not open in memory: resolved (maybe not yet written) or unknown
                match self.stored_alert(alert_id).await? {
                    Some(a) => Err(EngineError::Conflict(not_active_message(
                        alert_id,
                        a.status,
                        "acknowledge",
                    ))),
                    None => Err(EngineError::not_found("alert", alert_id)),
                }
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Resolves an open (active or acknowledged) alert by hand, with the
    /// same read-your-writes guarantee as [`acknowledge`](Self::acknowledge).
    /// Errors: [`EngineError::NotFound`] for an unknown id,
    /// [`EngineError::Conflict`] when it is already resolved.
    pub async fn resolve_alert(&self, alert_id: &str) -> Result<Alert, EngineError> {
        let now = self.inner.clock.now();
        let mut out = Vec::new();
        let res = lock(&self.inner.fleet).resolve_alert(alert_id, now, &mut out);
        match res {
            Ok(a) => {
                effects::dispatch(&self.inner, out);
                self.await_alert_write("resolution").await?;
                Ok(a)
            }
            Err(_) => match self.stored_alert(alert_id).await? {
                Some(a) => Err(EngineError::Conflict(not_active_message(
                    alert_id, a.status, "resolve",
                ))),
                None => Err(EngineError::not_found("alert", alert_id)),
            },
        }
    }

    /// One alert: the engine's in-memory copy while it is open (newer than
    /// the store's when a write is still queued), else the store's.
    pub async fn alert(&self, alert_id: &str) -> Result<Option<Alert>, EngineError> {
        if let Some(a) = lock(&self.inner.fleet).open_alert(alert_id).cloned() {
            return Ok(Some(a));
        }
        Ok(self.inner.store.get_alert(alert_id).await?)
    }

    /// The stored alert once every queued write is done (so a resolution
    /// decided a moment ago is what it shows).
    async fn stored_alert(&self, alert_id: &str) -> Result<Option<Alert>, EngineError> {
        effects::drain_within(&self.inner, ALERT_WRITE_WAIT).await;
        Ok(self.inner.store.get_alert(alert_id).await?)
    }

    /// Waits until the effects queue has written what was dispatched so far.
    async fn await_alert_write(&self, what: &str) -> Result<(), EngineError> {
        if effects::drain_within(&self.inner, ALERT_WRITE_WAIT).await {
            Ok(())
        } else {
            Err(crate::store::StoreError::Unavailable(format!(
                "the {what} is recorded but the store has not confirmed it yet; \
                 it is written when the store recovers"
            ))
            .into())
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

    /// This instance's id: the builder's prefix, a dash and 64 random
    /// bits, fresh at every build.
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
