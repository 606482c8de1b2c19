//! Replay (backtesting): the pure [`Fleet`] at the heart of the engine,
//! driven by recorded input on a simulated clock, its decisions carried
//! out as `healthcore::engine::Engine` carries them out (the same
//! notification routing, heals completed with their recorded result). No
//! probe, heal or notification runs; each decision is written as one JSON
//! line (see [`ReplayLine`]), so an operator can see what a policy *would*
//! have done. A differential test (`engine_tests`) feeds one input to both
//! this and an `Engine` on a manual clock and compares the decisions.
//!
//! The format is described in full in `docs/replay.md`. In short, input is
//! one JSON object per line of UTF-8 (a leading byte order mark is
//! skipped), ordered by `at` (RFC 3339); blank lines are skipped, and an
//! input with no other line is [`ReplayError::Empty`]:
//!
//! | line | meaning |
//! | --- | --- |
//! | `{"at", "target", "check"?, "outcome", "latency_ms"?, "message"?}` | an observation of a check (`check` is the check's name, which defaults to its kind; it may be left out when the target has one probed check); `outcome` is `pass`, `warn`, `fail`, `unreachable` or `unknown` |
//! | `{"at", "report": {…}}` | a node report, the body `POST /report` takes ([`ReportBody`](crate::report::ReportBody)); the node is found by `mac_address` |
//! | `{"at", "ack": {"target", "type", "by"}}` | acknowledge the target's active alert of that type (nothing if there is none) |
//! | `{"at", "heal_result": {"target", "result"}}` | queue the result (`success` or `failed`) of the target's next heal; unqueued heals succeed |
//! | `{"at"}` | a tick: advance the clock and run periodic work (staleness, install timeouts, breaker cooldowns, reminders, escalation) |
//!
//! Output is one JSON object per decision, in order, each with `type` and
//! `at`: `status_changed`, `alert_created`, `alert_acknowledged`,
//! `alert_resolved`, `alert_escalated`, `notification`, `breaker`, `heal`,
//! `lifecycle`; then, from [`Replay::finish`], one `uptime` line per target
//! (from the first to the last input `at`) and one `summary` line.
//!
//! Targets and checks are registered at the first input's `at`. When the
//! fleet asks for a heal, the replay takes the target's queued
//! `heal_result` (default success), completes the heal at the same instant
//! and writes one `heal` line with the final result; skipped heals are
//! `heal` lines with result `skipped` and the reason's code. Notifications
//! for the dashboard are written with channel `dashboard`; external ones
//! once per name in [`ReplaySetup::external_channels`]; either only where
//! the target's alert route sends them, by the rule the daemon delivers by
//! ([`Routing::reaches`](crate::notify::Routing::reaches): the route's
//! `channels` list, and `enabled = false` silencing external channels).
//!
//! The replay is deterministic: the same setup and input give the same
//! output, byte for byte.
//!
//! ```
//! use healthcore::heal::HealPolicy;
//! use healthcore::model::{CheckSpec, DEFAULT_TENANT, Target, TargetId, TenantId};
//! use healthcore::replay::{Replay, ReplayLine, ReplaySetup};
//!
//! let web = TargetId::new("web").unwrap();
//! let setup = ReplaySetup {
//!     targets: vec![Target::new(web.clone(), "web")],
//!     checks: vec![(web.clone(), CheckSpec::new("http"))],
//!     heal_policies: vec![HealPolicy::new("p1", TenantId::new(DEFAULT_TENANT).unwrap(), "restart web")],
//!     ..ReplaySetup::default()
//! };
//! let input = r#"
//! {"at": "2026-01-01T00:00:00Z", "target": "web", "check": "http", "outcome": "fail"}
//! {"at": "2026-01-01T00:01:00Z", "target": "web", "check": "http", "outcome": "fail"}
//! {"at": "2026-01-01T00:02:00Z", "heal_result": {"target": "web", "result": "failed"}}
//! {"at": "2026-01-01T00:02:00Z", "target": "web", "check": "http", "outcome": "fail"}
//! {"at": "2026-01-01T00:03:00Z", "target": "web", "check": "http", "outcome": "pass"}
//! "#;
//! let mut out = Vec::new();
//! let report = Replay::new(setup).unwrap().run(input.as_bytes(), &mut out).unwrap();
//!
//! let lines: Vec<ReplayLine> = String::from_utf8(out).unwrap().lines()
//!     .map(|l| serde_json::from_str(l).unwrap())
//!     .collect();
//! let types: Vec<&str> = lines.iter().map(|l| l.type_name()).collect();
//! assert_eq!(types, [
//!     "status_changed", "status_changed",            // check, target: unknown → degraded
//!     "status_changed", "heal",                      // down; restart (failed: the breaker counts 1)
//!     "status_changed",                              // target down
//!     "alert_created", "notification",               // down alert fires on the dashboard
//!     "status_changed", "status_changed",            // recovery
//!     "alert_resolved", "notification",              // the alert resolves
//!     "uptime", "summary",
//! ]);
//! match &lines[3] {
//!     ReplayLine::Heal(h) => assert_eq!((h.action.as_str(), h.result.as_str()), ("restart", "failed")),
//!     other => panic!("{other:?}"),
//! }
//! assert_eq!(report.summary.total_targets, 1);
//! assert_eq!(report.uptime[0].count_percent, Some(25.0));
//! ```

#[cfg(all(test, feature = "testkit"))]
mod engine_tests;
mod input;
mod output;
#[cfg(test)]
mod tests;

pub use output::{
    AlertLine, BreakerLine, HealLine, LifecycleLine, NotificationLine, ReplayLine,
    StatusChangedLine, SummaryLine, UptimeLine,
};

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{BufRead, Write};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::alert::{AlertChange, AlertStatus, SuppressReason};
use crate::error::ValidationError;
use crate::fleet::{Decision, Fleet, FleetConfig, FleetError, HEARTBEAT_KIND};
use crate::heal::{HealEvent, HealOutcome, HealPolicy, HealResult, SkipReason};
use crate::maintenance::MaintenanceWindow;
use crate::model::{CheckId, CheckKey, CheckSpec, Observation, Target, TargetId};
use crate::notify::Audience;
use crate::rollup::{self, Granularity};
use crate::store::AlertChannelConfig;

use input::{FieldError, Input, QueuedResult};

/// The id prefix of everything the replay's fleet makes (alert ids
/// `alert-replay-000001`, …), fixed so output is reproducible.
pub const REPLAY_ID_PREFIX: &str = "replay";

/// The dashboard's channel name in `notification` lines: it stands for
/// every dashboard-audience channel, as in a route's `channels` list.
pub const DASHBOARD_CHANNEL: &str = crate::notify::DASHBOARD_CHANNEL;

/// What the replay runs: the rules and the fleet's configuration.
#[derive(Debug, Clone, Default)]
pub struct ReplaySetup {
    /// Every rule's configuration (thresholds, staleness, alerts, breaker,
    /// flapping, lifecycle, uptime weighting).
    pub rules: FleetConfig,
    /// The targets (ids unique, parents known, no cycles).
    pub targets: Vec<Target>,
    /// The checks, by target.
    pub checks: Vec<(TargetId, CheckSpec)>,
    /// Auto-heal policies.
    pub heal_policies: Vec<HealPolicy>,
    /// Maintenance windows.
    pub maintenance: Vec<MaintenanceWindow>,
    /// Alert routing: escalation delay, channels and `enabled` per
    /// target; one with `target: None` is the default.
    pub channels: Vec<AlertChannelConfig>,
    /// Names of the configured external notification channels (e.g.
    /// "ops-webhook", "slack"); an external-audience notification produces
    /// one `notification` line per name its target's route selects
    /// ([`Routing::reaches`](crate::notify::Routing::reaches), the
    /// daemon's rule); dashboard-audience ones use channel "dashboard".
    pub external_channels: Vec<String>,
}

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The setup was refused; the field is a path into [`ReplaySetup`]
    /// (`targets[1].parents`, `checks[0].interval`, `rules.breaker.…`).
    #[error("invalid replay setup: {0}")]
    Setup(ValidationError),
    /// An input line was refused.
    #[error("input line {line}: {field}: {message}")]
    Input {
        /// 1-based line number (blank lines counted).
        line: usize,
        /// The field (`at`, `outcome`, `ack.by`, `report.progress`; `line`
        /// for the line as a whole: malformed JSON, invalid UTF-8).
        field: String,
        /// What was wrong.
        message: String,
    },
    /// The input held nothing to replay: no line, or only blank ones.
    #[error("input is empty: nothing to replay")]
    Empty,
    /// The input could not be read or the output written.
    #[error("replay I/O: {0}")]
    Io(#[from] std::io::Error),
}

impl ReplayError {
    /// The input line number, for input errors.
    pub fn line(&self) -> Option<usize> {
        match self {
            ReplayError::Input { line, .. } => Some(*line),
            _ => None,
        }
    }

    /// The field, for setup and input errors.
    pub fn field(&self) -> Option<&str> {
        match self {
            ReplayError::Setup(e) => Some(e.field()),
            ReplayError::Input { field, .. } => Some(field),
            ReplayError::Empty | ReplayError::Io(_) => None,
        }
    }
}

/// What a finished replay returns besides its output.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ReplayReport {
    /// Input lines read, blank ones included.
    pub lines_read: usize,
    /// Non-blank inputs replayed.
    pub inputs: u64,
    /// Output lines written, the uptime and summary lines included.
    pub lines_written: u64,
    /// The uptime lines, in target order.
    pub uptime: Vec<UptimeLine>,
    /// The summary line.
    pub summary: SummaryLine,
}

/// A replay in progress. See the module documentation.
#[derive(Debug, Clone)]
pub struct Replay {
    setup: ReplaySetup,
    fleet: Option<Fleet>,
    macs: HashMap<String, TargetId>,
    checks: HashMap<TargetId, Vec<CheckSpec>>,
    heal_queue: HashMap<TargetId, VecDeque<QueuedResult>>,
    first_at: Option<DateTime<Utc>>,
    last_at: Option<DateTime<Utc>>,
    line_no: usize,
    inputs: u64,
    lines_written: u64,
    decisions: Vec<Decision>,
}

fn setup_err(prefix: String, e: ValidationError) -> ReplayError {
    ReplayError::Setup(e.within(&prefix))
}

impl Replay {
    /// Validates the setup: the rules, every target (unique ids, known
    /// parents, no cycle, unique MAC addresses), every check (its target
    /// exists, its spec and heartbeat params are valid, names are unique
    /// per target), policies, maintenance windows, channels (their target
    /// exists) and external channel names (non-empty, unique, not
    /// `dashboard`).
    pub fn new(setup: ReplaySetup) -> Result<Replay, ReplayError> {
        setup
            .rules
            .validate()
            .map_err(|e| setup_err("rules".into(), e))?;
        let mut macs = HashMap::new();
        for (i, t) in setup.targets.iter().enumerate() {
            t.validate()
                .map_err(|e| setup_err(format!("targets[{i}]"), e))?;
            if let Some(mac) = &t.mac_address {
                if macs.insert(mac.clone(), t.id.clone()).is_some() {
                    return Err(setup_err(
                        format!("targets[{i}]"),
                        ValidationError::new("mac_address", format!("duplicate MAC address {mac}")),
                    ));
                }
            }
        }
        crate::dependency::validate_graph(setup.targets.iter())
            .map_err(|e| setup_err("targets".into(), e))?;
        // a throwaway fleet validates check specs (heartbeat params too)
        let mut probe = Fleet::new(setup.rules.clone(), REPLAY_ID_PREFIX);
        for t in &setup.targets {
            probe.upsert_target(t.clone(), DateTime::<Utc>::UNIX_EPOCH);
        }
        let mut checks: HashMap<TargetId, Vec<CheckSpec>> = HashMap::new();
        let mut seen: HashSet<CheckKey> = HashSet::new();
        for (i, (target, spec)) in setup.checks.iter().enumerate() {
            let key = probe
                .upsert_check(target, spec.clone())
                .map_err(|e| match e {
                    FleetError::TargetNotFound(t) => setup_err(
                        format!("checks[{i}]"),
                        ValidationError::new("target", format!("unknown target {t}")),
                    ),
                    FleetError::Invalid(v) => setup_err(format!("checks[{i}]"), v),
                    other => setup_err(
                        format!("checks[{i}]"),
                        ValidationError::new("spec", other.to_string()),
                    ),
                })?;
            if !seen.insert(key.clone()) {
                return Err(setup_err(
                    format!("checks[{i}]"),
                    ValidationError::new(
                        "name",
                        format!("duplicate check {} on target {target}", key.check),
                    ),
                ));
            }
            checks.entry(target.clone()).or_default().push(spec.clone());
        }
        for (i, p) in setup.heal_policies.iter().enumerate() {
            p.validate()
                .map_err(|e| setup_err(format!("heal_policies[{i}]"), e))?;
        }
        for (i, w) in setup.maintenance.iter().enumerate() {
            w.validate()
                .map_err(|e| setup_err(format!("maintenance[{i}]"), e))?;
        }
        for (i, c) in setup.channels.iter().enumerate() {
            if let Some(t) = &c.target {
                if probe.target(t).is_none() {
                    return Err(setup_err(
                        format!("channels[{i}]"),
                        ValidationError::new("target", format!("unknown target {t}")),
                    ));
                }
            }
        }
        let mut names = HashSet::new();
        for (i, n) in setup.external_channels.iter().enumerate() {
            let field = format!("external_channels[{i}]");
            if n.trim().is_empty() {
                return Err(ReplayError::Setup(ValidationError::new(
                    field,
                    "must not be empty",
                )));
            }
            if n == DASHBOARD_CHANNEL {
                return Err(ReplayError::Setup(ValidationError::new(
                    field,
                    "\"dashboard\" is the dashboard's own channel, not an external one",
                )));
            }
            if !names.insert(n.as_str()) {
                return Err(ReplayError::Setup(ValidationError::new(
                    field,
                    format!("duplicate channel name {n:?}"),
                )));
            }
        }
        Ok(Replay {
            setup,
            fleet: None,
            macs,
            checks,
            heal_queue: HashMap::new(),
            first_at: None,
            last_at: None,
            line_no: 0,
            inputs: 0,
            lines_written: 0,
            decisions: Vec::new(),
        })
    }

    /// The fleet being replayed, once the first input registered it.
    pub fn fleet(&self) -> Option<&Fleet> {
        self.fleet.as_ref()
    }

    /// The simulated clock: the last input's `at`.
    pub fn now(&self) -> Option<DateTime<Utc>> {
        self.last_at
    }

    /// Replays one input line (blank lines are skipped but counted; a
    /// byte order mark opening the first line is skipped) and writes the
    /// decisions it led to.
    pub fn feed(&mut self, line: &str, out: &mut dyn Write) -> Result<(), ReplayError> {
        self.line_no += 1;
        let line = match self.line_no {
            1 => line.strip_prefix('\u{feff}').unwrap_or(line),
            _ => line,
        };
        if line.trim().is_empty() {
            return Ok(());
        }
        let input = input::parse(line).map_err(|e| self.input_err(e))?;
        let at = input.at();
        if let Some(last) = self.last_at {
            if at < last {
                return Err(self.input_err(FieldError::new(
                    "at",
                    format!(
                        "goes backwards: {} is before the previous line's {}",
                        at.to_rfc3339(),
                        last.to_rfc3339()
                    ),
                )));
            }
        }
        let check = self.resolve(&input).map_err(|e| self.input_err(e))?;
        if self.fleet.is_none() {
            self.register(at);
        }
        self.last_at = Some(at);
        self.inputs += 1;
        self.apply(input, check)?;
        self.flush(out)
    }

    /// Writes one `uptime` line per target (in setup order) and the
    /// `summary` line, and returns the report.
    pub fn finish(mut self, out: &mut dyn Write) -> Result<ReplayReport, ReplayError> {
        let (Some(from), Some(to), Some(fleet)) = (self.first_at, self.last_at, self.fleet.take())
        else {
            return Err(ReplayError::Empty);
        };
        let cfg = fleet.config().uptime;
        let g = Granularity::Minute;
        let sum_from = g.bucket_start(from);
        let sum_to = g.bucket_start(to) + g.width();
        let mut uptime = Vec::with_capacity(self.setup.targets.len());
        for t in &self.setup.targets {
            let buckets = fleet.pending_buckets(&t.id, g, to);
            let r = rollup::uptime_from_buckets(&buckets, sum_from, sum_to, &cfg);
            let line = UptimeLine {
                at: to,
                target: t.id.clone(),
                from,
                to,
                percent: r.percent.map(round6),
                count_percent: r.count_percent.map(round6),
                healthy_seconds: r.healthy_seconds,
                degraded_seconds: r.degraded_seconds,
                down_seconds: r.down_seconds,
                excluded_seconds: r.excluded_seconds,
                checks_total: r.checks_total,
            };
            write_line(out, &ReplayLine::Uptime(line.clone()))?;
            self.lines_written += 1;
            uptime.push(line);
        }
        let s = fleet.summary(None, to);
        let summary = SummaryLine {
            at: to,
            total_targets: s.total_targets,
            by_status: s.by_status,
            average_score: s.average_score,
            active_alerts: s.active_alerts,
            critical_alerts: s.critical_alerts,
            open_alerts: fleet.open_alerts().len() as u64,
        };
        write_line(out, &ReplayLine::Summary(summary.clone()))?;
        self.lines_written += 1;
        out.flush()?;
        Ok(ReplayReport {
            lines_read: self.line_no,
            inputs: self.inputs,
            lines_written: self.lines_written,
            uptime,
            summary,
        })
    }

    /// Replays every line of `input` (ended by `\n` or `\r\n`), then
    /// [`finish`](Replay::finish)es. A line that is not UTF-8 is an input
    /// error naming it (field `line`).
    pub fn run(
        mut self,
        mut input: impl BufRead,
        out: &mut dyn Write,
    ) -> Result<ReplayReport, ReplayError> {
        let mut buf = Vec::new();
        loop {
            buf.clear();
            if input.read_until(b'\n', &mut buf)? == 0 {
                break;
            }
            if buf.last() == Some(&b'\n') {
                buf.pop();
                if buf.last() == Some(&b'\r') {
                    buf.pop();
                }
            }
            match std::str::from_utf8(&buf) {
                Ok(line) => self.feed(line, out)?,
                Err(e) => {
                    return Err(ReplayError::Input {
                        line: self.line_no + 1,
                        field: "line".into(),
                        message: format!("invalid UTF-8 at byte {}", e.valid_up_to() + 1),
                    });
                }
            }
        }
        self.finish(out)
    }

    // ---- internals ------------------------------------------------------

    fn input_err(&self, e: FieldError) -> ReplayError {
        ReplayError::Input {
            line: self.line_no,
            field: e.field,
            message: e.message,
        }
    }

    /// Checks that every name the input uses exists; gives an
    /// observation's check.
    fn resolve(&self, input: &Input) -> Result<Option<CheckId>, FieldError> {
        let known = |t: &TargetId, field: &str| {
            if self.setup.targets.iter().any(|x| &x.id == t) {
                Ok(())
            } else {
                Err(FieldError::new(field, format!("unknown target {t}")))
            }
        };
        match input {
            Input::Observation { target, check, .. } => {
                known(target, "target")?;
                self.check_of(target, check.as_deref()).map(Some)
            }
            Input::Report { body, .. } => {
                let mac = body
                    .mac()
                    .map_err(|e| FieldError::new("report.mac_address", e.rule().to_owned()))?;
                if self.macs.contains_key(&mac) {
                    Ok(None)
                } else {
                    Err(FieldError::new(
                        "report.mac_address",
                        format!("no target has MAC address {mac}"),
                    ))
                }
            }
            Input::Ack { target, .. } => known(target, "ack.target").map(|_| None),
            Input::HealResult { target, .. } => known(target, "heal_result.target").map(|_| None),
            Input::Tick { .. } => Ok(None),
        }
    }

    /// The check an observation is about: by name, or the target's only
    /// probed check when the name is left out. A heartbeat check is
    /// passive (judged from reports), so no observation may name it.
    fn check_of(&self, target: &TargetId, name: Option<&str>) -> Result<CheckId, FieldError> {
        let specs = self.checks.get(target).map(Vec::as_slice).unwrap_or(&[]);
        match name {
            Some(n) => match specs.iter().find(|s| s.id().as_str() == n) {
                None => Err(FieldError::new(
                    "check",
                    format!("unknown check {n} on {target}"),
                )),
                Some(s) if s.kind == HEARTBEAT_KIND => Err(FieldError::new(
                    "check",
                    format!(
                        "check {n} on {target} is passive: it is judged from reports, not observations"
                    ),
                )),
                Some(s) => Ok(s.id()),
            },
            None => {
                let mut probed = specs
                    .iter()
                    .filter(|s| s.kind != HEARTBEAT_KIND)
                    .map(CheckSpec::id);
                match (probed.next(), probed.next()) {
                    (Some(id), None) => Ok(id),
                    (None, _) => Err(FieldError::new(
                        "check",
                        format!("target {target} has no probed check"),
                    )),
                    (Some(_), Some(_)) => Err(FieldError::new(
                        "check",
                        format!("is required: target {target} has several checks"),
                    )),
                }
            }
        }
    }

    /// Builds the fleet at the first input's `at`.
    fn register(&mut self, at: DateTime<Utc>) {
        let mut fleet = Fleet::new(self.setup.rules.clone(), REPLAY_ID_PREFIX);
        for t in &self.setup.targets {
            fleet.upsert_target(t.clone(), at);
        }
        for (t, spec) in &self.setup.checks {
            // validated in new()
            let _ = fleet.upsert_check(t, spec.clone());
        }
        fleet.set_policies(self.setup.heal_policies.clone());
        fleet.set_maintenance(self.setup.maintenance.clone());
        fleet.set_channels(self.setup.channels.clone());
        for t in &self.setup.targets {
            fleet.tick_target(&t.id, at, &mut self.decisions);
        }
        self.first_at = Some(at);
        self.fleet = Some(fleet);
    }

    fn apply(&mut self, input: Input, check: Option<CheckId>) -> Result<(), ReplayError> {
        let line = self.line_no;
        let Some(fleet) = self.fleet.as_mut() else {
            return Ok(());
        };
        let out = &mut self.decisions;
        let refused = |field: &str, e: FleetError| ReplayError::Input {
            line,
            field: field.to_owned(),
            message: e.to_string(),
        };
        match input {
            Input::Observation {
                at,
                target,
                outcome,
                latency_ms,
                message,
                ..
            } => {
                let check = check.ok_or_else(|| ReplayError::Input {
                    line,
                    field: "check".into(),
                    message: "unknown check".into(),
                })?;
                let mut obs = Observation::new(at, outcome);
                if let Some(ms) = latency_ms {
                    obs = obs.with_latency(Duration::from_secs_f64(ms / 1000.0));
                }
                if let Some(m) = message {
                    obs = obs.with_message(m);
                }
                fleet
                    .observe(&CheckKey::new(target, check), &obs, out)
                    .map_err(|e| refused("check", e))?;
            }
            Input::Report { at, body } => {
                let mac = body.mac().map_err(|e| ReplayError::Input {
                    line,
                    field: "report.mac_address".into(),
                    message: e.rule().to_owned(),
                })?;
                let target = self
                    .macs
                    .get(&mac)
                    .cloned()
                    .ok_or_else(|| ReplayError::Input {
                        line,
                        field: "report.mac_address".into(),
                        message: format!("no target has MAC address {mac}"),
                    })?;
                let report = body.into_report(None).map_err(|e| ReplayError::Input {
                    line,
                    field: format!("report.{}", e.field()),
                    message: e.rule().to_owned(),
                })?;
                fleet
                    .report(&target, &report, at, out)
                    .map_err(|e| refused("report", e))?;
            }
            Input::Ack {
                at,
                target,
                kind,
                by,
            } => {
                // an alert this policy never raised (or already
                // acknowledged or resolved) has nothing to acknowledge
                let id = fleet
                    .open_alerts()
                    .into_iter()
                    .find(|a| {
                        a.target == target && a.kind == kind && a.status == AlertStatus::Active
                    })
                    .map(|a| a.id.clone());
                if let Some(id) = id {
                    fleet
                        .acknowledge(&id, &by, at, out)
                        .map_err(|e| refused("ack", e))?;
                }
            }
            Input::HealResult { target, result, .. } => {
                self.heal_queue.entry(target).or_default().push_back(result);
            }
            Input::Tick { at } => fleet.tick(at, out),
        }
        Ok(())
    }

    /// Writes the pending decisions, completing heals as they come.
    fn flush(&mut self, out: &mut dyn Write) -> Result<(), ReplayError> {
        let mut pending: VecDeque<Decision> = std::mem::take(&mut self.decisions).into();
        let mut lines = Vec::new();
        while let Some(d) = pending.pop_front() {
            if let Decision::Heal { event, .. } = &d {
                let done = self.complete_heal(event);
                lines.push(heal_line(&done, None));
                // what completing the heal decided comes after the rest of
                // this input's decisions, as in the daemon, whose healer
                // runs in a task of its own after the decisions that
                // started it have been carried out
                let follow: Vec<Decision> = std::mem::take(&mut self.decisions);
                pending.extend(follow.into_iter().filter(
                    |f| !matches!(f, Decision::HealRecorded { event: e, .. } if e.id == event.id),
                ));
                continue;
            }
            self.lines_of(d, &mut lines);
        }
        for l in &lines {
            write_line(out, l)?;
        }
        self.lines_written += lines.len() as u64;
        Ok(())
    }

    /// Completes a heal with the target's queued result at the same
    /// instant; returns the completed event.
    fn complete_heal(&mut self, event: &HealEvent) -> HealEvent {
        let queued = self
            .heal_queue
            .get_mut(&event.target)
            .and_then(VecDeque::pop_front)
            .unwrap_or(QueuedResult::Success);
        let outcome = match queued {
            QueuedResult::Success => HealOutcome::Success {
                message: Some("replayed".into()),
            },
            QueuedResult::Failed => HealOutcome::failed("replayed heal_result: failed"),
        };
        let at = event.triggered_at;
        let fleet = self.fleet.as_mut().expect("a heal comes from the fleet");
        fleet
            .heal_finished(&event.id, &outcome, at, &mut self.decisions)
            .unwrap_or_else(|| {
                let mut e = event.clone();
                e.complete(outcome.result(), None, None, at);
                e
            })
    }

    fn lines_of(&self, d: Decision, lines: &mut Vec<ReplayLine>) {
        match d {
            Decision::StatusChanged {
                target,
                check,
                from,
                to,
                at,
                ..
            } => lines.push(ReplayLine::StatusChanged(StatusChangedLine {
                at,
                target,
                check: check.map(|c| c.as_str().to_owned()),
                from: from.status,
                to: to.status,
                cause: to.cause,
            })),
            Decision::Alert { change, .. } => {
                let make = |a: &crate::alert::Alert, at: DateTime<Utc>| AlertLine {
                    at,
                    target: a.target.clone(),
                    alert: a.kind.clone(),
                    alert_id: a.id.clone(),
                    severity: a.severity,
                    suppressed: a.suppressed,
                    suppressed_reason: a.suppressed_reason.as_ref().map(|r| {
                        match r {
                            SuppressReason::Maintenance => "maintenance",
                            SuppressReason::ParentDown { .. } => "parent_down",
                            SuppressReason::SuppressionWindow => "suppression_window",
                            #[allow(unreachable_patterns)]
                            _ => "suppressed",
                        }
                        .to_owned()
                    }),
                    by: None,
                    message: a.message.clone(),
                };
                match change {
                    AlertChange::Created(a) => {
                        lines.push(ReplayLine::AlertCreated(make(&a, a.created_at)))
                    }
                    AlertChange::Acknowledged(a) => {
                        let at = a.acknowledged_at.unwrap_or(a.created_at);
                        let mut l = make(&a, at);
                        l.by = a.acknowledged_by.clone();
                        lines.push(ReplayLine::AlertAcknowledged(l));
                    }
                    AlertChange::Resolved(a) => {
                        let at = a.resolved_at.unwrap_or(a.created_at);
                        lines.push(ReplayLine::AlertResolved(make(&a, at)));
                    }
                    AlertChange::Escalated(a) => {
                        let at = a.escalated_at.unwrap_or(a.created_at);
                        lines.push(ReplayLine::AlertEscalated(make(&a, at)));
                    }
                    // reminders, suppression and release show as notifications
                    _ => {}
                }
            }
            Decision::Notify {
                kind,
                audience,
                alert,
                at,
                routing,
                ..
            } => {
                let line = |channel: &str| {
                    ReplayLine::Notification(NotificationLine {
                        at,
                        channel: channel.to_owned(),
                        target: alert.target.clone(),
                        alert: alert.kind.clone(),
                        alert_id: alert.id.clone(),
                        kind,
                        severity: alert.severity,
                    })
                };
                // the daemon's rule: the target's route picks the channels
                // by name, and `enabled = false` silences external ones
                let channels = std::iter::once((DASHBOARD_CHANNEL, Audience::Dashboard)).chain(
                    self.setup
                        .external_channels
                        .iter()
                        .map(|n| (n.as_str(), Audience::External)),
                );
                for (name, serves) in channels {
                    if routing.reaches(audience, name, serves) {
                        lines.push(line(name));
                    }
                }
            }
            Decision::HealRecorded { event, .. } if event.result == HealResult::Skipped => {
                lines.push(heal_line(
                    &event,
                    SkipReason::code_of_sentence(&event.reason),
                ));
            }
            Decision::Breaker {
                target,
                check,
                change,
                ..
            } => lines.push(ReplayLine::Breaker(BreakerLine {
                at: change.at,
                target,
                check: check.as_str().to_owned(),
                from: change.from,
                to: change.to,
            })),
            Decision::Lifecycle { target, change, .. } => {
                lines.push(ReplayLine::Lifecycle(LifecycleLine {
                    at: change.at,
                    target,
                    from: change.from,
                    to: change.to,
                }))
            }
            // status windows, lifecycle event records, snapshots and
            // completed heal events are storage, not decisions to show
            _ => {}
        }
    }
}

fn heal_line(event: &HealEvent, skip_code: Option<&str>) -> ReplayLine {
    let (reason, detail) = match skip_code {
        Some(code) => (code.to_owned(), Some(event.reason.clone())),
        None => (event.reason.clone(), None),
    };
    ReplayLine::Heal(HealLine {
        at: event.completed_at.unwrap_or(event.triggered_at),
        target: event.target.clone(),
        action: event.action.as_str().to_owned(),
        result: event.result,
        reason,
        detail,
    })
}

/// Six decimals: enough for any uptime, and stable text across platforms.
fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

fn write_line(out: &mut dyn Write, line: &ReplayLine) -> Result<(), ReplayError> {
    let text = serde_json::to_string(line).map_err(std::io::Error::other)?;
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")?;
    Ok(())
}
