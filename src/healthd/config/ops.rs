//! `[[maintenance]]` (each a [`MaintenanceWindow`]), `[[checklist]]` (each
//! a [`ChecklistItem`]: a check run at start that gates readiness) and
//! `[[reporters]]` (built-in heartbeat reporters).
//!
//! ```toml
//! [[maintenance]]
//! id = "patching"
//! name = "weekend patching"
//! schedule = { type = "recurring", days = ["sat"], start_time = "22:00", duration = "4h", timezone = "Europe/Berlin" }
//! selector = { labels = { tier = "web" } }
//!
//! [[checklist]]
//! name = "disk"
//! required = true
//! check = { kind = "disk", params = { path = "/", fail_free_percent = 5.0 }, interval = "1m", timeout = "5s" }
//!
//! [[reporters]]
//! target = "demo-node"
//! interval = "30s"
//! ```

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use healthcore::checker::Checker;
use healthcore::engine::ChecklistItem;
use healthcore::fleet::{FleetConfig, HEARTBEAT_KIND};
use healthcore::maintenance::MaintenanceWindow;
use healthcore::model::{TargetId, TenantId};
use serde::Deserialize;

use super::Problems;
use super::targets::{TargetConfig, check_spec};

/// An in-process reporter: every `interval` it reports a heartbeat for
/// `target` (a passive target, or one with a `heartbeat` check), as an
/// agent on that machine would. The demo uses it so its heartbeat target
/// shows live data.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReporterConfig {
    /// The target reported for.
    pub target: TargetId,
    /// Time between reports (default 30 s, at least 1 s).
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub interval: Duration,
}

fn default_interval() -> Duration {
    Duration::from_secs(30)
}

/// Checks the windows.
pub(crate) fn check_maintenance(
    windows: &[MaintenanceWindow],
    tenants: &BTreeSet<TenantId>,
    targets: &BTreeSet<TargetId>,
    p: &mut Problems,
) {
    let mut ids = BTreeSet::new();
    for (i, w) in windows.iter().enumerate() {
        let at = format!("maintenance[{i}]");
        // the schedule's own rules name their field bare (`end`); say where
        if let Err(e) = w.schedule.validate() {
            p.invalid(&format!("{at}.schedule"), &e);
        } else if let Err(e) = w.validate() {
            p.invalid(&at, &e);
        }
        if !ids.insert(w.id.clone()) {
            p.push(format!("{at}.id"), format!("duplicate window id {}", w.id));
        }
        for (j, t) in w.selector.targets.iter().enumerate() {
            if !targets.contains(t) {
                p.push(
                    format!("{at}.selector.targets[{j}]"),
                    format!("unknown target {t}"),
                );
            }
        }
        if let Some(t) = &w.selector.tenant {
            if !tenants.contains(t) {
                p.push(
                    format!("{at}.selector.tenant"),
                    format!("unknown tenant {t}"),
                );
            }
        }
    }
}

/// Checks the checklist entries.
pub(crate) fn check_checklist(
    items: &[ChecklistItem],
    checkers: &HashMap<String, Arc<dyn Checker>>,
    rules: &FleetConfig,
    p: &mut Problems,
) {
    let mut names = BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("checklist[{i}]");
        if let Err(e) = item.validate() {
            p.invalid(&at, &e);
            continue;
        }
        if !names.insert(item.name.clone()) {
            p.push(
                format!("{at}.name"),
                format!("duplicate checklist item {}", item.name),
            );
        }
        check_spec(
            &format!("{at}.check"),
            &item.check,
            checkers,
            rules,
            false,
            p,
        );
    }
}

/// Checks the reporters.
pub(crate) fn check_reporters(
    reporters: &[ReporterConfig],
    targets: &[TargetConfig],
    p: &mut Problems,
) {
    let mut seen = BTreeSet::new();
    for (i, r) in reporters.iter().enumerate() {
        let at = |f: &str| format!("reporters[{i}].{f}");
        match targets.iter().find(|t| t.id == r.target) {
            None => p.push(at("target"), format!("unknown target {}", r.target)),
            Some(t) => {
                let active = t
                    .checks
                    .iter()
                    .any(|c| c.enabled && c.kind != HEARTBEAT_KIND);
                if active {
                    p.push(
                        at("target"),
                        format!(
                            "target {} has active checks; reporters feed passive targets (heartbeat checks only)",
                            t.id
                        ),
                    );
                }
            }
        }
        if !seen.insert(r.target.clone()) {
            p.push(at("target"), format!("a second reporter for {}", r.target));
        }
        if r.interval < Duration::from_secs(1) {
            p.push(at("interval"), "must be at least 1s");
        }
    }
}
