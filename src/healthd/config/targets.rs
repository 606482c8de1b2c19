//! `[[targets]]`: what is monitored, with its checks (`[[targets.checks]]`,
//! each a [`CheckSpec`] with any probe kind and its thresholds), an
//! optional SLO and an optional log source for the logs quick action
//! (`logs`, a [`LogSpec`]: a file to tail or a command printing the log).
//!
//! ```toml
//! [[targets]]
//! id = "web-1"
//! name = "Web 1"
//! kind = "service"
//! labels = { tier = "web" }
//! parents = ["db-1"]
//! slo = { objective = 0.999, period = "30d" }
//! logs = { file = "/var/log/web-1/app.log" }
//! # or: logs = { argv = ["journalctl", "-u", "{target.labels.unit}", "-n", "{lines}", "--no-pager"], timeout = "10s" }
//!
//! [[targets.checks]]
//! kind = "http"
//! params = { url = "http://10.0.0.5/health" }
//! interval = "30s"
//! timeout = "5s"
//! failure_threshold = 3
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use healthcore::checker::Checker;
use healthcore::fleet::{FleetConfig, HEARTBEAT_KIND};
use healthcore::model::{CheckSpec, DEFAULT_TENANT, Target, TargetId, TenantId, normalize_mac};
use healthcore::slo::Slo;
use healthcore_probes::logs::LogSpec;
use serde::Deserialize;

use super::Problems;

/// Longest SLO period accepted (as the HTTP API).
pub const MAX_SLO_PERIOD: Duration = Duration::from_secs(400 * 86_400);

/// One monitored target: the fields of [`Target`] plus its checks and SLO.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// Unique id.
    pub id: TargetId,
    /// Display name (default: the id).
    #[serde(default)]
    pub name: Option<String>,
    /// Free-form kind (default `service`).
    #[serde(default = "default_kind")]
    pub kind: String,
    /// Owning tenant (default `default`).
    #[serde(default = "default_tenant")]
    pub tenant: TenantId,
    /// Labels for selectors.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Targets this one depends on.
    #[serde(default)]
    pub parents: Vec<TargetId>,
    /// Hardware address for passive reports, in any common spelling
    /// (`aa:bb:cc:dd:ee:ff`, `AA-BB-CC-DD-EE-FF`, `aabb.ccdd.eeff`);
    /// [`target`](Self::target) normalises it.
    #[serde(default)]
    pub mac_address: Option<String>,
    /// Active and heartbeat checks.
    #[serde(default)]
    pub checks: Vec<CheckSpec>,
    /// A service level objective.
    #[serde(default)]
    pub slo: Option<Slo>,
    /// Where `GET /targets/{id}/logs` reads this target's last lines:
    /// `{ file = "…" }` or `{ argv = [...], timeout = "10s" }`. Without
    /// it the route answers 501 `not_configured` for the target.
    #[serde(default)]
    pub logs: Option<LogSpec>,
}

fn default_kind() -> String {
    "service".to_owned()
}

fn default_tenant() -> TenantId {
    TenantId::new(DEFAULT_TENANT).expect("literal tenant is valid")
}

impl TargetConfig {
    /// The engine's target, its MAC address normalised (as reports'
    /// addresses are) to `aa:bb:cc:dd:ee:ff`. An address that is not one
    /// is kept as written (validation refuses it).
    pub fn target(&self) -> Target {
        Target {
            id: self.id.clone(),
            name: self.name.clone().unwrap_or_else(|| self.id.to_string()),
            kind: self.kind.clone(),
            tenant: self.tenant.clone(),
            labels: self.labels.clone(),
            parents: self.parents.clone(),
            mac_address: self
                .mac_address
                .as_ref()
                .map(|m| normalize_mac(m).unwrap_or_else(|| m.clone())),
        }
    }
}

/// Validates one check spec and its params with the checker of its kind.
pub(crate) fn check_spec(
    at: &str,
    spec: &CheckSpec,
    checkers: &HashMap<String, Arc<dyn Checker>>,
    rules: &FleetConfig,
    heartbeat_ok: bool,
    p: &mut Problems,
) {
    if let Err(e) = spec.validate() {
        p.invalid(at, &e);
        return;
    }
    if spec.kind == HEARTBEAT_KIND {
        if !heartbeat_ok {
            p.push(
                format!("{at}.kind"),
                "heartbeat checks are fed by reports and cannot run here",
            );
            return;
        }
        // the fleet validates heartbeat params when the check is added
        let mut probe = healthcore::fleet::Fleet::new(rules.clone(), "validate");
        let id = TargetId::new("validate").expect("literal id is valid");
        probe.upsert_target(Target::new(id.clone(), "validate"), chrono::Utc::now());
        if let Err(e) = probe.upsert_check(&id, spec.clone()) {
            match e {
                healthcore::fleet::FleetError::Invalid(v) => p.invalid(at, &v),
                other => p.push(at.to_owned(), other.to_string()),
            }
        }
        return;
    }
    match checkers.get(&spec.kind) {
        None => {
            let mut known: Vec<&str> = checkers.keys().map(String::as_str).collect();
            if heartbeat_ok {
                known.push(HEARTBEAT_KIND);
            }
            known.sort_unstable();
            p.push(
                format!("{at}.kind"),
                format!(
                    "unknown check kind {:?}; known: {}",
                    spec.kind,
                    known.join(", ")
                ),
            );
        }
        Some(c) => {
            if let Err(e) = c.validate(spec) {
                p.invalid(at, &e);
            }
        }
    }
}

/// Checks every target and its checks; returns the target ids.
pub(crate) fn check_targets(
    targets: &[TargetConfig],
    tenants: &BTreeSet<TenantId>,
    checkers: &HashMap<String, Arc<dyn Checker>>,
    rules: &FleetConfig,
    p: &mut Problems,
) -> BTreeSet<TargetId> {
    let mut ids = BTreeSet::new();
    // normalised MAC address → the first target with it
    let mut macs: HashMap<String, usize> = HashMap::new();
    for (i, t) in targets.iter().enumerate() {
        let at = format!("targets[{i}]");
        if !ids.insert(t.id.clone()) {
            p.push(format!("{at}.id"), format!("duplicate target id {}", t.id));
        }
        let mut target = t.target();
        if let Some(raw) = &t.mac_address {
            match normalize_mac(raw) {
                None => {
                    p.push(
                        format!("{at}.mac_address"),
                        format!(
                            "{raw:?} is not a MAC address: write six hex bytes, as aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF, aabb.ccdd.eeff or aabbccddeeff"
                        ),
                    );
                    target.mac_address = None;
                }
                Some(mac) => {
                    if let Some(first) = macs.get(&mac) {
                        p.push(
                            format!("{at}.mac_address"),
                            format!(
                                "duplicate MAC address {mac}: targets[{first}] ({}) has it",
                                targets[*first].id
                            ),
                        );
                    } else {
                        macs.insert(mac, i);
                    }
                }
            }
        }
        if let Err(e) = target.validate() {
            p.invalid(&at, &e);
        }
        if !tenants.contains(&t.tenant) {
            p.push(
                format!("{at}.tenant"),
                format!("unknown tenant {}; declare it under [[tenants]]", t.tenant),
            );
        }
        let mut names = BTreeSet::new();
        for (j, spec) in t.checks.iter().enumerate() {
            let cat = format!("{at}.checks[{j}]");
            if !names.insert(spec.id()) {
                p.push(
                    format!("{cat}.name"),
                    format!(
                        "duplicate check name {} on target {} (give each check of one kind a `name`)",
                        spec.id(),
                        t.id
                    ),
                );
            }
            check_spec(&cat, spec, checkers, rules, true, p);
        }
        if let Some(logs) = &t.logs {
            if let Err(e) = logs.validate() {
                p.invalid(&format!("{at}.logs"), &e);
            }
        }
        if let Some(slo) = &t.slo {
            if let Err(e) = slo.validate() {
                p.invalid(&format!("{at}.slo"), &e);
            } else if slo.period > MAX_SLO_PERIOD {
                p.push(format!("{at}.slo.period"), "must be at most 400d");
            }
        }
    }
    // parents: known, and no cycle
    for (i, t) in targets.iter().enumerate() {
        for (j, parent) in t.parents.iter().enumerate() {
            if !ids.contains(parent) {
                p.push(
                    format!("targets[{i}].parents[{j}]"),
                    format!("unknown parent target {parent}"),
                );
            }
        }
    }
    if let Some((i, cycle)) = find_cycle(targets) {
        p.push(
            format!("targets[{i}].parents"),
            format!("parents form a cycle: {cycle}"),
        );
    }
    ids
}

/// The first dependency cycle, as the index of a target on it and the
/// cycle written out (`a -> b -> a`).
fn find_cycle(targets: &[TargetConfig]) -> Option<(usize, String)> {
    let index: HashMap<&TargetId, usize> = targets
        .iter()
        .enumerate()
        .map(|(i, t)| (&t.id, i))
        .collect();
    // 0 unvisited, 1 on the stack, 2 done
    let mut state = vec![0u8; targets.len()];
    fn visit(
        i: usize,
        targets: &[TargetConfig],
        index: &HashMap<&TargetId, usize>,
        state: &mut [u8],
        stack: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        state[i] = 1;
        stack.push(i);
        for parent in &targets[i].parents {
            let Some(&j) = index.get(parent) else {
                continue;
            };
            if state[j] == 1 {
                let from = stack.iter().position(|&k| k == j).unwrap_or(0);
                let mut cycle = stack[from..].to_vec();
                cycle.push(j);
                return Some(cycle);
            }
            if state[j] == 0 {
                if let Some(c) = visit(j, targets, index, state, stack) {
                    return Some(c);
                }
            }
        }
        stack.pop();
        state[i] = 2;
        None
    }
    for i in 0..targets.len() {
        if state[i] == 0 {
            let mut stack = Vec::new();
            if let Some(cycle) = visit(i, targets, &index, &mut state, &mut stack) {
                let text = cycle
                    .iter()
                    .map(|&k| targets[k].id.to_string())
                    .collect::<Vec<_>>()
                    .join(" -> ");
                return Some((cycle[0], text));
            }
        }
    }
    None
}

/// The targets ordered so that every parent comes before its children
/// (the engine refuses a target whose parent it does not know yet).
pub fn parents_first(targets: &[TargetConfig]) -> Vec<&TargetConfig> {
    let mut placed: BTreeSet<&TargetId> = BTreeSet::new();
    let mut out = Vec::with_capacity(targets.len());
    let mut left: Vec<&TargetConfig> = targets.iter().collect();
    while !left.is_empty() {
        let before = left.len();
        left.retain(|t| {
            let ready = t
                .parents
                .iter()
                .all(|p| placed.contains(p) || !targets.iter().any(|x| &x.id == p));
            if ready {
                placed.insert(&t.id);
                out.push(*t);
            }
            !ready
        });
        if left.len() == before {
            // a cycle (refused by validation): keep file order
            out.append(&mut left);
        }
    }
    out
}
