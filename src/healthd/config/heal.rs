//! `[[actions]]` (heal action name → argv command) and the checks on
//! `[[heal_policies]]` (each a [`HealPolicy`]).
//!
//! ```toml
//! [[actions]]
//! name = "restart-web"
//! argv = ["systemctl", "restart", "{target.labels.unit}"]
//! timeout = "60s"
//!
//! [[heal_policies]]
//! id = "web"
//! name = "restart web services"
//! action = "restart-web"
//! selector = { labels = { tier = "web" } }
//! ```
//!
//! Placeholders (per argv entry, never split, never a shell):
//! `{target.id}`, `{target.name}`, `{target.kind}`, `{target.tenant}`,
//! `{target.mac_address}`, `{target.labels.KEY}`, `{action}`; `{{`/`}}`
//! for literal braces.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use healthcore::heal::{HealAction, HealPolicy};
use healthcore::model::{TargetId, TenantId};
use healthcore_probes::command_healer::{CommandHealer, DEFAULT_HEAL_TIMEOUT, HealCommand};
use serde::Deserialize;

use super::Problems;

/// One heal action: a name (a built-in `restart`, `stop`, `migrate` or a
/// custom name) and the command it runs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    /// The action's name, as heal policies and the API name it.
    pub name: String,
    /// Program and arguments, with placeholders.
    pub argv: Vec<String>,
    /// Working directory.
    #[serde(default)]
    pub cwd: Option<PathBuf>,
    /// Extra environment (values may hold placeholders).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Deadline (default 60 s); the process group is killed after it.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

fn default_timeout() -> Duration {
    DEFAULT_HEAL_TIMEOUT
}

impl ActionConfig {
    /// The command.
    pub fn command(&self) -> HealCommand {
        HealCommand {
            argv: self.argv.clone(),
            cwd: self.cwd.clone(),
            env: self.env.clone(),
            timeout: self.timeout,
        }
    }
}

/// Checks the actions and builds the healer.
pub(crate) fn healer(actions: &[ActionConfig], p: &mut Problems) -> CommandHealer {
    let mut healer = CommandHealer::new();
    for (i, a) in actions.iter().enumerate() {
        let at = format!("actions[{i}]");
        if healer.has_action(&a.name) {
            p.push(format!("{at}.name"), format!("duplicate action {}", a.name));
            continue;
        }
        match healer.clone().action(&a.name, a.command()) {
            Ok(h) => healer = h,
            Err(e) => p.invalid(&at, &e),
        }
    }
    healer
}

/// Checks the heal policies against tenants, targets and actions.
pub(crate) fn check_policies(
    policies: &[HealPolicy],
    tenants: &BTreeSet<TenantId>,
    targets: &BTreeSet<TargetId>,
    healer: &CommandHealer,
    p: &mut Problems,
) {
    let mut ids = BTreeSet::new();
    let known = || {
        let mut names: Vec<&str> = healer.action_names().collect();
        names.push("notify_only");
        names.join(", ")
    };
    for (i, pol) in policies.iter().enumerate() {
        let at = format!("heal_policies[{i}]");
        if let Err(e) = pol.validate() {
            p.invalid(&at, &e);
        }
        if !ids.insert(pol.id.clone()) {
            p.push(
                format!("{at}.id"),
                format!("duplicate heal policy id {}", pol.id),
            );
        }
        if !tenants.contains(&pol.tenant) {
            p.push(
                format!("{at}.tenant"),
                format!(
                    "unknown tenant {}; declare it under [[tenants]]",
                    pol.tenant
                ),
            );
        }
        let mut check_action = |field: &str, action: &HealAction| {
            if *action != HealAction::NotifyOnly && !healer.has_action(action.as_str()) {
                p.push(
                    format!("{at}.{field}"),
                    format!(
                        "unknown heal action {action}; define it under [[actions]] (defined: {})",
                        known()
                    ),
                );
            }
        };
        check_action("action", &pol.action);
        if let Some(a) = &pol.escalation_action {
            check_action("escalation_action", a);
        }
        for (j, t) in pol.selector.targets.iter().enumerate() {
            if !targets.contains(t) {
                p.push(
                    format!("{at}.selector.targets[{j}]"),
                    format!("unknown target {t}"),
                );
            }
        }
    }
}
