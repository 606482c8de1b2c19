//! From a validated configuration to the engine's parts: the store, the
//! checkers, notifiers and healer, the token table; and applying the
//! configured targets, checks, SLOs, heal policies, maintenance windows and
//! alert routes to an engine.
//!
//! Owns construction only; validation rules live in [`crate::healthd::config`]
//! and health rules in `healthcore`.

use std::collections::HashMap;
use std::sync::Arc;

use healthcore::checker::Checker;
use healthcore::engine::Engine;
use healthcore::model::{CheckSpec, Observation, Outcome};
use healthcore::notify::Notifier;
use healthcore::store::{Doc, Store, doc_kind};
use healthcore_http::Auth;
use healthcore_http::client::{EgressPolicy, HttpProbe};
use healthcore_http::server::{ApiConfig, CheckPolicy};
use healthcore_probes::command_healer::CommandHealer;
use healthcore_probes::logs::ConfiguredLogs;
use healthcore_sqlite::SqliteStore;
use healthcore_sqlx::{PgStore, PgStoreOptions, PostgresChecker, PostgresParams};

use crate::healthd::config::{Config, Problems, StoreConfig};
use crate::healthd::error::HealthdError;

pub use crate::healthd::config::StoreTarget;

/// Everything the daemon runs with, built from a valid configuration.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The configuration.
    pub config: Config,
    /// What store to open.
    pub store: StoreTarget,
    /// The token table (and public routes).
    pub auth: Auth,
    /// The notification channels.
    pub notifiers: Vec<Arc<dyn Notifier>>,
    /// The heal actions.
    pub healer: CommandHealer,
    /// The `http` probe's egress policy.
    pub probe_policy: EgressPolicy,
}

/// Checks every section, collecting problems; the plan when the store
/// section could be read (the caller refuses it when problems were found).
pub(crate) fn plan(config: &Config, p: &mut Problems) -> Option<Plan> {
    use crate::healthd::config::{alerts, auth, heal, ops, targets};
    // EngineConfig::validate names rule fields without their `rules.`
    // prefix; check the rules first so the path is the file's
    if let Err(e) = config.engine.rules.validate() {
        p.invalid("engine.rules", &e);
    } else if let Err(e) = config.engine.validate() {
        p.invalid("engine", &e);
    }
    let store = config.store.check(p);
    let probe_policy = config.probes.policy(p);
    let postgres = matches!(config.store, StoreConfig::Postgres { .. });
    let mut checkers = match checkers(&probe_policy, None) {
        Ok(c) => c,
        Err(e) => {
            p.invalid("probes", &e);
            HashMap::new()
        }
    };
    if postgres {
        checkers.insert(PG_KIND.to_owned(), Arc::new(PostgresParamsCheck));
    }
    let rules = &config.engine.rules;
    let tenants = auth::tenant_ids(&config.tenants, p);
    let mut token_table = auth::auth(&config.tokens, &tenants, p);
    if config.server.public_reports {
        token_table = token_table.public(axum::http::Method::POST, "/report");
    }
    let target_ids = targets::check_targets(&config.targets, &tenants, &checkers, rules, p);
    let healer = heal::healer(&config.actions, p);
    heal::check_policies(&config.heal_policies, &tenants, &target_ids, &healer, p);
    let notifiers = alerts::notifiers(&config.alerts.channels, p);
    alerts::check_routes(&config.alerts, &target_ids, p);
    ops::check_maintenance(&config.maintenance, &tenants, &target_ids, p);
    ops::check_checklist(&config.checklist, &checkers, rules, p);
    ops::check_reporters(&config.reporters, &config.targets, p);
    Some(Plan {
        config: config.clone(),
        store: store?,
        auth: token_table,
        notifiers,
        healer,
        probe_policy,
    })
}

/// The API's limits and check policy: checks defined through the API
/// reach only what `[probes]` lets the probes reach (the same policy the
/// `http` probe runs under), and only the kinds
/// [`CheckPolicy`]'s default allows (never `command`). Checks of the
/// configuration file are the operator's and are not put through it.
pub fn api_config(plan: &Plan) -> ApiConfig {
    ApiConfig::default().check_policy(CheckPolicy::default().egress(plan.probe_policy.clone()))
}

/// The `postgres` probe's kind and the name of the store's pool in it.
const PG_KIND: &str = "postgres";
const PG_POOL: &str = "default";

/// Validates `postgres` check params before the store's pool exists: the
/// params must parse and name the one pool healthd registers, the
/// store's (`default`). Never runs a check.
#[derive(Debug)]
struct PostgresParamsCheck;

#[async_trait::async_trait]
impl Checker for PostgresParamsCheck {
    fn kind(&self) -> &str {
        PG_KIND
    }

    fn validate(&self, spec: &CheckSpec) -> Result<(), healthcore::ValidationError> {
        let params = PostgresParams::parse(spec)?;
        if params.pool != PG_POOL {
            return Err(healthcore::ValidationError::new(
                "params.pool",
                "healthd registers one pool, the store's: leave pool out or write \"default\"",
            ));
        }
        Ok(())
    }

    async fn check(&self, _spec: &CheckSpec) -> Observation {
        let mut o = Observation::new(chrono::Utc::now(), Outcome::Unknown);
        o.message = Some("validation only: the daemon runs the store's postgres probe".into());
        o
    }
}

/// One checker of every kind healthd runs: the probes of
/// `healthcore-probes`, the `http` probe under `policy`, and the
/// `postgres` probe when given (it checks the store's pool).
pub fn checkers(
    policy: &EgressPolicy,
    postgres: Option<PostgresChecker>,
) -> Result<HashMap<String, Arc<dyn Checker>>, healthcore::ValidationError> {
    let mut out: HashMap<String, Arc<dyn Checker>> = HashMap::new();
    let mut add = |c: Arc<dyn Checker>| {
        out.insert(c.kind().to_owned(), c);
    };
    for c in healthcore_probes::all_checkers() {
        add(c);
    }
    add(Arc::new(HttpProbe::new(policy.clone())?));
    if let Some(pg) = postgres {
        add(Arc::new(pg));
    }
    Ok(out)
}

/// The opened store.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum StoreHandle {
    /// SQLite.
    Sqlite(Arc<SqliteStore>),
    /// PostgreSQL.
    Postgres(Arc<PgStore>),
}

impl StoreHandle {
    /// Opens (creating or migrating) the store.
    pub async fn open(target: &StoreTarget) -> Result<Self, HealthdError> {
        match target {
            StoreTarget::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        HealthdError::Store(format!("creating {}: {e}", dir.display()))
                    })?;
                }
                let s = SqliteStore::open(path)
                    .await
                    .map_err(|e| HealthdError::Store(format!("{}: {e}", path.display())))?;
                Ok(StoreHandle::Sqlite(Arc::new(s)))
            }
            StoreTarget::Postgres {
                url,
                schema,
                max_connections,
            } => {
                let mut opts = PgStoreOptions::default();
                if let Some(s) = schema {
                    opts = opts.schema(s.clone());
                }
                if let Some(n) = max_connections {
                    opts = opts.max_connections(*n);
                }
                let s = PgStore::connect_with(url, opts)
                    .await
                    .map_err(|e| HealthdError::Store(format!("postgres: {e}")))?;
                Ok(StoreHandle::Postgres(Arc::new(s)))
            }
        }
    }

    /// The store as the engine takes it.
    pub fn dyn_store(&self) -> Arc<dyn Store> {
        match self {
            StoreHandle::Sqlite(s) => s.clone(),
            StoreHandle::Postgres(s) => s.clone(),
        }
    }

    /// The `postgres` probe over the store's pool (Postgres stores only).
    pub fn postgres_checker(&self) -> Option<PostgresChecker> {
        match self {
            StoreHandle::Postgres(s) => Some(PostgresChecker::new(s.pool().clone())),
            StoreHandle::Sqlite(_) => None,
        }
    }

    /// Closes the store once every other holder (the engine, the API) is
    /// gone: SQLite checkpoints its WAL and releases the file. Returns
    /// false when something still held it (it then closes on drop).
    pub async fn close(self) -> bool {
        match self {
            StoreHandle::Sqlite(s) => match Arc::try_unwrap(s) {
                Ok(s) => {
                    s.close().await;
                    true
                }
                Err(_) => false,
            },
            StoreHandle::Postgres(s) => {
                s.close().await;
                true
            }
        }
    }
}

/// Builds the engine (not started) over `store` from `plan`.
pub fn engine(plan: &Plan, store: &StoreHandle) -> Result<Engine, HealthdError> {
    let checkers = checkers(&plan.probe_policy, store.postgres_checker())
        .map_err(|e| HealthdError::Engine(e.into()))?;
    let mut b = Engine::builder(store.dyn_store())
        .config(plan.config.engine.clone())
        .healer(Arc::new(plan.healer.clone()))
        .checklist(plan.config.checklist.clone());
    let logs = log_sources(&plan.config)?;
    if !logs.is_empty() {
        b = b.log_source(Arc::new(logs));
    }
    for c in checkers.into_values() {
        b = b.checker(c);
    }
    for n in &plan.notifiers {
        b = b.notifier(n.clone());
    }
    Ok(b.build()?)
}

/// The targets' configured log sources (`[[targets]] logs`), for the logs
/// quick action; targets without one answer "not configured".
pub fn log_sources(config: &Config) -> Result<ConfiguredLogs, HealthdError> {
    let mut logs = ConfiguredLogs::new();
    for t in &config.targets {
        if let Some(spec) = &t.logs {
            logs = logs
                .target(t.id.clone(), spec.clone())
                .map_err(|e| HealthdError::Engine(e.into()))?;
        }
    }
    Ok(logs)
}

/// Puts the configured targets (parents first), checks, SLOs, heal
/// policies, maintenance windows and alert routes into the engine (and so
/// its store). Call before [`Engine::start`]. Targets created through the
/// API are left alone.
pub async fn apply(engine: &Engine, config: &Config) -> Result<(), HealthdError> {
    use crate::healthd::config::targets::parents_first;
    for t in parents_first(&config.targets) {
        engine.add_target(t.target()).await?;
    }
    for t in &config.targets {
        for c in &t.checks {
            engine.add_check(&t.id, c.clone()).await?;
        }
        if let Some(slo) = &t.slo {
            let body = serde_json::to_value(slo)
                .map_err(|e| HealthdError::Store(format!("encoding the SLO of {}: {e}", t.id)))?;
            engine
                .store()
                .put_doc(&Doc {
                    kind: doc_kind::SLO.into(),
                    id: t.id.to_string(),
                    tenant: Some(t.tenant.clone()),
                    target: Some(t.id.clone()),
                    body,
                    updated_at: engine.now(),
                })
                .await
                .map_err(|e| HealthdError::Engine(e.into()))?;
        }
    }
    for p in &config.heal_policies {
        engine.put_heal_policy(p.clone()).await?;
    }
    for w in &config.maintenance {
        engine
            .put_maintenance(w.clone(), w.selector.tenant.as_ref())
            .await?;
    }
    for r in &config.alerts.routes {
        engine.put_alert_channel(r.clone()).await?;
    }
    Ok(())
}
