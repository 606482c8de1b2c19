//! healthd's TOML configuration, parsed and validated whole before anything
//! starts.
//!
//! Every table refuses unknown fields; durations are humantime strings
//! (`"30s"`, `"5m"`). Parsing errors come from `toml` with their span;
//! problems found after parsing (a check whose timeout is not below its
//! interval, an unknown parent or heal action, a duplicate id, a missing
//! environment variable) are collected, all of them, each naming the field
//! path (`targets[2].checks[0].timeout`) and the line where the file
//! writes it. `replay` validates the same way without reading secrets
//! ([`ConfigFile::validate_without_secrets`]).
//!
//! The sections reuse the core's types where they fit, so the TOML reads
//! like the HTTP API's JSON: checks are [`CheckSpec`]s, `[engine]` is an
//! [`EngineConfig`], heal policies are [`HealPolicy`]s, maintenance windows
//! [`MaintenanceWindow`]s, alert routes [`AlertChannelConfig`]s, checklist
//! entries [`ChecklistItem`]s. See `docs/healthd.md` for the reference.
//!
//! Owns the shape of the file and its validation; building the engine's
//! parts from it is [`crate::healthd::build`]'s job.

pub(crate) mod alerts;
pub(crate) mod auth;
pub(crate) mod heal;
pub(crate) mod ops;
mod server;
pub mod spans;
mod store;
pub mod targets;

use std::path::Path;

use healthcore::ValidationError;
use healthcore::engine::{ChecklistItem, EngineConfig};
use healthcore::heal::HealPolicy;
use healthcore::maintenance::MaintenanceWindow;
use healthcore::store::AlertChannelConfig;
use serde::Deserialize;

pub use alerts::{AlertsConfig, ChannelConfig};
pub use auth::{TenantConfig, TokenConfig};
pub use heal::ActionConfig;
pub use ops::ReporterConfig;
pub use server::{ProbesConfig, ServerConfig};
pub use store::{StoreConfig, StoreTarget};
pub use targets::TargetConfig;

use crate::healthd::build::{self, Plan};
use crate::healthd::error::{ConfigError, ConfigErrors, HealthdError};
use healthcore::model::CheckSpec;

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where state is kept (default: SQLite at `./healthd.db`).
    #[serde(default)]
    pub store: StoreConfig,
    /// The HTTP listener.
    #[serde(default)]
    pub server: ServerConfig,
    /// What outbound probes may reach.
    #[serde(default)]
    pub probes: ProbesConfig,
    /// API tokens (admin or per tenant), by env var or SHA-256 digest.
    #[serde(default)]
    pub tokens: Vec<TokenConfig>,
    /// Tenants besides `default`.
    #[serde(default)]
    pub tenants: Vec<TenantConfig>,
    /// The engine's rules, limits, jobs and retention.
    #[serde(default)]
    pub engine: EngineConfig,
    /// Monitored targets with their checks.
    #[serde(default)]
    pub targets: Vec<TargetConfig>,
    /// Heal actions: name → argv command.
    #[serde(default)]
    pub actions: Vec<ActionConfig>,
    /// Auto-heal policies.
    #[serde(default)]
    pub heal_policies: Vec<HealPolicy>,
    /// Notification channels and alert routing.
    #[serde(default)]
    pub alerts: AlertsConfig,
    /// Maintenance windows.
    #[serde(default)]
    pub maintenance: Vec<MaintenanceWindow>,
    /// Startup checklist entries.
    #[serde(default)]
    pub checklist: Vec<ChecklistItem>,
    /// Built-in heartbeat reporters (in-process passive reports).
    #[serde(default)]
    pub reporters: Vec<ReporterConfig>,
}

/// A parsed configuration together with its source text (for locating
/// fields in error messages).
#[derive(Debug, Clone)]
pub struct ConfigFile {
    /// Where it came from: a path, or `<demo>`.
    pub origin: String,
    /// The TOML text.
    pub text: String,
    /// The parsed configuration.
    pub config: Config,
}

/// Where environment variables are read from (the process environment,
/// or a table in tests).
pub type EnvLookup<'e> = &'e dyn Fn(&str) -> Option<String>;

/// Whether validation reads the secrets that environment variables hold
/// (API tokens, the webhook signing secret and URL, the Slack URL, the
/// Postgres URL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Secrets {
    /// Read and check them: an unset variable is a problem (`serve`,
    /// `check-config`).
    Read,
    /// Check only that each names a variable; never read one (`replay`,
    /// which sends nothing).
    Skip,
}

/// Problems found while validating, as (field path, message), and the
/// environment secrets are read from.
pub(crate) struct Problems<'e> {
    list: Vec<(String, String)>,
    env: EnvLookup<'e>,
    secrets: Secrets,
}

impl std::fmt::Debug for Problems<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Problems")
            .field("list", &self.list)
            .finish_non_exhaustive()
    }
}

impl<'e> Problems<'e> {
    /// No problems yet; secrets from `env`.
    pub(crate) fn new(env: EnvLookup<'e>) -> Self {
        Self {
            list: Vec::new(),
            env,
            secrets: Secrets::Read,
        }
    }

    /// No problems yet; secrets are not read (see [`Secrets::Skip`]).
    pub(crate) fn without_secrets() -> Self {
        Self {
            list: Vec::new(),
            env: &|_| None,
            secrets: Secrets::Skip,
        }
    }

    /// Whether secrets are read in this validation.
    pub(crate) fn reads_secrets(&self) -> bool {
        self.secrets == Secrets::Read
    }

    /// The secret in environment variable `var`, which the file names at
    /// `field`: its value, trimmed, when it is set and not blank;
    /// otherwise `None` with the problem recorded. Without secrets
    /// ([`Secrets::Skip`]) only the variable's name is checked and the
    /// answer is always `None`.
    pub(crate) fn secret(&mut self, var: &str, field: String) -> Option<String> {
        if var.trim().is_empty() || var.contains(['=', '\0']) {
            self.push(
                field,
                "must name an environment variable (not empty, without '=')",
            );
            return None;
        }
        if !self.reads_secrets() {
            return None;
        }
        let value = (self.env)(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        if value.is_none() {
            self.push(field, format!("environment variable {var} is not set"));
        }
        value
    }

    /// Records a problem with `field`.
    pub(crate) fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.list.push((field.into(), message.into()));
    }

    /// Records a core validation error found under `prefix`.
    pub(crate) fn invalid(&mut self, prefix: &str, e: &ValidationError) {
        let field = if prefix.is_empty() {
            e.field().to_owned()
        } else if e.field().is_empty() {
            prefix.to_owned()
        } else {
            format!("{prefix}.{}", e.field())
        };
        self.push(field, e.rule().to_owned());
    }

    /// Whether nothing was found.
    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

impl ConfigFile {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self, HealthdError> {
        let text = std::fs::read_to_string(path).map_err(|source| HealthdError::Read {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self::parse(&path.display().to_string(), text)?)
    }

    /// Parses TOML `text`; `origin` names it in errors.
    pub fn parse(origin: &str, text: String) -> Result<Self, ConfigErrors> {
        let error = |field: String, message: String, span: Option<std::ops::Range<usize>>| {
            ConfigErrors(vec![ConfigError {
                origin: origin.to_owned(),
                position: span.map(|s| spans::position(&text, s.start)),
                field,
                message,
            }])
        };
        let doc = match toml::de::DeTable::parse(&text) {
            Ok(d) => d,
            Err(e) => {
                return Err(error(
                    "(syntax)".into(),
                    e.message().trim().to_owned(),
                    e.span(),
                ));
            }
        };
        let de = toml::Deserializer::from(doc.clone());
        let config: Config = match serde_path_to_error::deserialize(de) {
            Ok(c) => c,
            Err(e) => {
                let path = e.path().to_string();
                let inner = e.into_inner();
                let field = if path == "." || path.is_empty() {
                    "(document)".to_owned()
                } else {
                    path
                };
                let span = inner.span().or_else(|| spans::locate(&doc, &field));
                return Err(error(field, inner.message().trim().to_owned(), span));
            }
        };
        Ok(Self {
            origin: origin.to_owned(),
            text,
            config,
        })
    }

    /// Validates everything and builds what the daemon will run with. All
    /// problems are reported together, each naming its field and line.
    pub fn validate(&self) -> Result<Plan, ConfigErrors> {
        self.validate_with_env(&|var| std::env::var(var).ok())
    }

    /// [`validate`](Self::validate) reading environment variables (tokens,
    /// secrets, URLs) through `env`.
    pub fn validate_with_env(&self, env: EnvLookup<'_>) -> Result<Plan, ConfigErrors> {
        let mut problems = Problems::new(env);
        let plan = build::plan(&self.config, &mut problems);
        match plan {
            Some(plan) if problems.is_empty() => Ok(plan),
            _ => Err(self.errors(problems)),
        }
    }

    /// Validates everything [`validate`](Self::validate) does except the
    /// secrets: environment variables named for tokens, the webhook secret
    /// and URL, the Slack URL and the Postgres URL must be well-formed
    /// names but are never read, so they need not be set. For `replay`,
    /// which runs no probe and sends nothing; `serve` and `check-config`
    /// use [`validate`](Self::validate).
    pub fn validate_without_secrets(&self) -> Result<&Config, ConfigErrors> {
        let mut problems = Problems::without_secrets();
        // the plan is incomplete without secrets (no token table,
        // notifiers or Postgres URL): only its problems matter here
        let _ = build::plan(&self.config, &mut problems);
        if problems.is_empty() {
            Ok(&self.config)
        } else {
            Err(self.errors(problems))
        }
    }

    fn errors(&self, problems: Problems) -> ConfigErrors {
        let doc = toml::de::DeTable::parse(&self.text).ok();
        let list = problems
            .list
            .into_iter()
            .map(|(field, message)| ConfigError {
                origin: self.origin.clone(),
                position: doc
                    .as_ref()
                    .and_then(|d| spans::locate(d, &field))
                    .map(|s| spans::position(&self.text, s.start)),
                field,
                message,
            })
            .collect::<Vec<_>>();
        let mut list = list;
        // in file order; problems with no line (defaults) last
        list.sort_by_key(|e| e.position.map_or((usize::MAX, 0), |p| (p.line, p.column)));
        ConfigErrors(list)
    }
}

impl Config {
    /// Every (target, check) pair, in file order.
    pub fn checks(&self) -> Vec<(healthcore::model::TargetId, CheckSpec)> {
        self.targets
            .iter()
            .flat_map(|t| t.checks.iter().map(|c| (t.id.clone(), c.clone())))
            .collect()
    }

    /// The alert routes as the engine stores them.
    pub fn alert_routes(&self) -> Vec<AlertChannelConfig> {
        self.alerts.routes.clone()
    }
}
