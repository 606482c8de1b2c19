//! The provisioning lifecycle of a node (seed 001): its state machine, the
//! lifecycle reports a node sends (boot, install progress, first boot,
//! heartbeat, and the legacy `installation_status` form), install retries,
//! the install timeout and stalled nodes.
//!
//! This module owns the rules only. It does not store events (the caller
//! logs each [`LifecycleReport`] with the [`ReportOutcome`] it produced),
//! it does not look nodes up, and it never reads a clock: `now` is an
//! argument.
//!
//! # States and transitions
//!
//! `pending → installing → installed → active`, with `install_failed` after
//! the last allowed attempt, and `reprovision` / `retired` as operator
//! states. The allowed transitions are the table [`TRANSITIONS`]:
//!
//! | from | to |
//! | --- | --- |
//! | pending | installing, reprovision, retired |
//! | installing | installed, install_failed, reprovision, retired |
//! | installed | active, reprovision, retired (seed 001) |
//! | active | reprovision, retired |
//! | install_failed | pending, installing, reprovision, retired |
//! | reprovision | pending, installing, retired |
//! | retired | pending |
//!
//! A failed install attempt that will be retried is not a transition: the
//! node stays `installing` and its `state_changed_at` restarts, so the
//! install timeout counts from the retry.
//!
//! # Reports (001 `_handle_event` / `_handle_legacy_installation_status`)
//!
//! Every report sets `last_seen_at` and, when it carries an `ip_address`
//! different from the stored one, records the change (`previous_ip_address`,
//! `last_ip_change_at`). Then, by event:
//!
//! | event | effect | message |
//! | --- | --- | --- |
//! | boot_started | `boot_count + 1`, `last_boot_at` | Boot started event logged |
//! | install_started | pending → installing, attempts = 0 | Installation started |
//! | install_progress | — | Installation progress: N% |
//! | install_complete | installing → installed | Installation completed |
//! | install_failed | while installing: attempts + 1; at `max_install_attempts` → install_failed, else retry | Installation failed after N attempts / Installation failed (attempt N), will retry |
//! | first_boot | installed → active | First boot - node now active |
//! | heartbeat | — | Heartbeat received |
//!
//! An event that does nothing in the current state answers "Event logged"
//! ("Status reported successfully" for the legacy form, which also answers
//! that for `progress`).
//!
//! # Install timeout
//!
//! With `install_timeout` > 0 (default 60 min; 0 disables), a node that has
//! been `installing` for longer than the timeout is *stalled*;
//! [`NodeLifecycle::check_install_timeout`] counts that as one failed
//! attempt under the same rule as a reported failure.
//!
//! Decisions where 001 is silent: [`NodeLifecycle::transition`] into
//! `installing` resets `install_attempts` (a manual retry from
//! `install_failed` or `reprovision` starts afresh); the first IP a node
//! reports is recorded but is not an IP *change*; an empty `ip_address` is
//! ignored, as 001's truthiness test does.
//!
//! ```
//! use chrono::{Duration, TimeZone, Utc};
//! use healthcore::lifecycle::*;
//!
//! let cfg = LifecycleConfig::default();
//! let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
//! let mut node = NodeLifecycle::default();
//! let out = node.apply(&LifecycleReport::new(LifecycleEventType::InstallStarted), &cfg, t0);
//! assert_eq!(out.message, "Installation started");
//! assert_eq!(node.state, LifecycleState::Installing);
//! assert!(node.is_stalled(&cfg, t0 + Duration::minutes(61)));
//! let out = node.check_install_timeout(&cfg, t0 + Duration::minutes(61)).unwrap();
//! assert!(out.timed_out);
//! assert_eq!(node.install_attempts, 1);
//! assert_eq!(node.state, LifecycleState::Installing); // will retry
//! ```

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::model::MAX_THRESHOLD;

/// Default install attempts before `install_failed`.
pub const DEFAULT_MAX_INSTALL_ATTEMPTS: u32 = 3;
/// Default install timeout (001: `install_timeout_minutes = 60`).
pub const DEFAULT_INSTALL_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// Where a node is in its provisioning lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LifecycleState {
    /// Known, not yet installing.
    #[default]
    Pending,
    /// An installation is under way.
    Installing,
    /// Installed, not yet booted from disk.
    Installed,
    /// Booted after install and in service.
    Active,
    /// The last allowed install attempt failed.
    InstallFailed,
    /// Marked for reinstallation.
    Reprovision,
    /// Out of service.
    Retired,
}

impl LifecycleState {
    /// All states.
    pub const ALL: [LifecycleState; 7] = [
        LifecycleState::Pending,
        LifecycleState::Installing,
        LifecycleState::Installed,
        LifecycleState::Active,
        LifecycleState::InstallFailed,
        LifecycleState::Reprovision,
        LifecycleState::Retired,
    ];

    /// The snake_case name used in JSON and SQL.
    pub const fn as_str(self) -> &'static str {
        match self {
            LifecycleState::Pending => "pending",
            LifecycleState::Installing => "installing",
            LifecycleState::Installed => "installed",
            LifecycleState::Active => "active",
            LifecycleState::InstallFailed => "install_failed",
            LifecycleState::Reprovision => "reprovision",
            LifecycleState::Retired => "retired",
        }
    }

    /// Parses a snake_case name; the error names the field `state`.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                ValidationError::new(
                    "state",
                    "must be one of pending, installing, installed, active, \
                     install_failed, reprovision, retired",
                )
            })
    }
}

impl fmt::Display for LifecycleState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The allowed transitions, one row per state (see the module docs).
pub const TRANSITIONS: [(LifecycleState, &[LifecycleState]); 7] = {
    use LifecycleState::*;
    [
        (Pending, &[Installing, Reprovision, Retired]),
        (
            Installing,
            &[Installed, InstallFailed, Reprovision, Retired],
        ),
        (Installed, &[Active, Reprovision, Retired]),
        (Active, &[Reprovision, Retired]),
        (InstallFailed, &[Pending, Installing, Reprovision, Retired]),
        (Reprovision, &[Pending, Installing, Retired]),
        (Retired, &[Pending]),
    ]
};

/// The states `from` may move to, from [`TRANSITIONS`].
pub fn allowed_transitions(from: LifecycleState) -> &'static [LifecycleState] {
    TRANSITIONS
        .iter()
        .find(|(f, _)| *f == from)
        .map_or(&[], |(_, to)| *to)
}

/// Whether `from → to` is in [`TRANSITIONS`]. Staying in the same state is
/// not a transition.
pub fn can_transition(from: LifecycleState, to: LifecycleState) -> bool {
    allowed_transitions(from).contains(&to)
}

/// A lifecycle event a node reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LifecycleEventType {
    /// The node began a (PXE) boot.
    BootStarted,
    /// An installation began.
    InstallStarted,
    /// Installation progress (with `progress` 0-100).
    InstallProgress,
    /// The installation succeeded.
    InstallComplete,
    /// The installation failed.
    InstallFailed,
    /// First boot after install.
    FirstBoot,
    /// Periodic liveness report.
    Heartbeat,
}

impl LifecycleEventType {
    /// All event types.
    pub const ALL: [LifecycleEventType; 7] = [
        LifecycleEventType::BootStarted,
        LifecycleEventType::InstallStarted,
        LifecycleEventType::InstallProgress,
        LifecycleEventType::InstallComplete,
        LifecycleEventType::InstallFailed,
        LifecycleEventType::FirstBoot,
        LifecycleEventType::Heartbeat,
    ];

    /// The snake_case name used in reports, JSON and SQL.
    pub const fn as_str(self) -> &'static str {
        match self {
            LifecycleEventType::BootStarted => "boot_started",
            LifecycleEventType::InstallStarted => "install_started",
            LifecycleEventType::InstallProgress => "install_progress",
            LifecycleEventType::InstallComplete => "install_complete",
            LifecycleEventType::InstallFailed => "install_failed",
            LifecycleEventType::FirstBoot => "first_boot",
            LifecycleEventType::Heartbeat => "heartbeat",
        }
    }

    /// Parses a name as the seed sends it; an unknown name is an error on
    /// the field `event`.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        Self::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| {
                ValidationError::new(
                    "event",
                    "must be one of boot_started, install_started, install_progress, \
                     install_complete, install_failed, first_boot, heartbeat",
                )
            })
    }
}

impl fmt::Display for LifecycleEventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The status a node attaches to an event (default `success`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// The step succeeded.
    #[default]
    Success,
    /// The step failed.
    Failed,
    /// The step is under way.
    InProgress,
}

impl EventStatus {
    /// All statuses.
    pub const ALL: [EventStatus; 3] = [
        EventStatus::Success,
        EventStatus::Failed,
        EventStatus::InProgress,
    ];

    /// The snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventStatus::Success => "success",
            EventStatus::Failed => "failed",
            EventStatus::InProgress => "in_progress",
        }
    }

    /// Parses a name; the error names the field `status`.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        Self::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| {
                ValidationError::new("status", "must be one of success, failed, in_progress")
            })
    }
}

impl fmt::Display for EventStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The legacy `installation_status` field, still accepted (001).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegacyInstallationStatus {
    /// → `install_started`.
    Started,
    /// → `install_progress`.
    Progress,
    /// → `install_complete`.
    Complete,
    /// → `install_failed`.
    Failed,
}

impl LegacyInstallationStatus {
    /// All legacy statuses.
    pub const ALL: [LegacyInstallationStatus; 4] = [
        LegacyInstallationStatus::Started,
        LegacyInstallationStatus::Progress,
        LegacyInstallationStatus::Complete,
        LegacyInstallationStatus::Failed,
    ];

    /// The snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            LegacyInstallationStatus::Started => "started",
            LegacyInstallationStatus::Progress => "progress",
            LegacyInstallationStatus::Complete => "complete",
            LegacyInstallationStatus::Failed => "failed",
        }
    }

    /// Parses a name; the error names the field `installation_status`.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        Self::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| {
                ValidationError::new(
                    "installation_status",
                    "must be one of started, progress, complete, failed",
                )
            })
    }

    /// The event this legacy status is logged as (001's `event_type_map`).
    pub const fn to_event(self) -> LifecycleEventType {
        match self {
            LegacyInstallationStatus::Started => LifecycleEventType::InstallStarted,
            LegacyInstallationStatus::Progress => LifecycleEventType::InstallProgress,
            LegacyInstallationStatus::Complete => LifecycleEventType::InstallComplete,
            LegacyInstallationStatus::Failed => LifecycleEventType::InstallFailed,
        }
    }

    /// The event status it is logged with: `failed` for `failed`, else
    /// `success` (001).
    pub const fn event_status(self) -> EventStatus {
        match self {
            LegacyInstallationStatus::Failed => EventStatus::Failed,
            _ => EventStatus::Success,
        }
    }
}

/// Lifecycle settings.
///
/// ```
/// use healthcore::lifecycle::LifecycleConfig;
/// let cfg: LifecycleConfig = serde_json::from_str(r#"{"install_timeout": "0s"}"#).unwrap();
/// assert_eq!(cfg.max_install_attempts, 3);
/// assert!(cfg.install_timeout.is_zero()); // disabled
/// cfg.validate().unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LifecycleConfig {
    /// Failed attempts (reported or timed out) before `install_failed`
    /// (1..=1000).
    pub max_install_attempts: u32,
    /// How long an install may run before it counts as failed; zero
    /// disables the timeout.
    #[serde(with = "humantime_serde")]
    pub install_timeout: Duration,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        Self {
            max_install_attempts: DEFAULT_MAX_INSTALL_ATTEMPTS,
            install_timeout: DEFAULT_INSTALL_TIMEOUT,
        }
    }
}

impl LifecycleConfig {
    /// Checks every rule; the error names the field.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.max_install_attempts == 0 || self.max_install_attempts > MAX_THRESHOLD {
            return Err(ValidationError::new(
                "max_install_attempts",
                "must be in 1..=1000",
            ));
        }
        if chrono::Duration::from_std(self.install_timeout).is_err() {
            return Err(ValidationError::new("install_timeout", "is too long"));
        }
        Ok(())
    }

    /// The timeout as a chrono duration, `None` when disabled (or too long
    /// to ever run out).
    fn timeout(&self) -> Option<chrono::Duration> {
        if self.install_timeout.is_zero() {
            return None;
        }
        chrono::Duration::from_std(self.install_timeout).ok()
    }
}

/// One lifecycle report from a node, validated.
///
/// Built with [`LifecycleReport::new`] / [`LifecycleReport::from_legacy`]
/// and the `with_*` methods, or deserialised (which validates the same way:
/// an unknown `event` or a `progress` outside 0..=100 is refused).
///
/// ```
/// use healthcore::lifecycle::{LifecycleEventType, LifecycleReport};
/// let r = LifecycleReport::try_new("install_progress", Some(40)).unwrap();
/// assert_eq!(r.event(), LifecycleEventType::InstallProgress);
/// assert_eq!(r.progress(), Some(40));
/// assert_eq!(LifecycleReport::try_new("install_progress", Some(101)).unwrap_err().field(), "progress");
/// assert_eq!(LifecycleReport::try_new("reboot", None).unwrap_err().field(), "event");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ReportWire")]
pub struct LifecycleReport {
    event: LifecycleEventType,
    status: EventStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    progress: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_ip: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    legacy: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The unvalidated shape a report is read from.
#[derive(Deserialize)]
struct ReportWire {
    event: String,
    #[serde(default)]
    status: EventStatus,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    progress: Option<i64>,
    #[serde(default)]
    metadata: Option<serde_json::Value>,
    #[serde(default)]
    ip_address: Option<String>,
    #[serde(default)]
    client_ip: Option<String>,
    #[serde(default)]
    legacy: bool,
}

impl TryFrom<ReportWire> for LifecycleReport {
    type Error = ValidationError;

    fn try_from(w: ReportWire) -> Result<Self, Self::Error> {
        Ok(Self {
            event: LifecycleEventType::parse(&w.event)?,
            status: w.status,
            message: w.message,
            progress: check_progress(w.progress)?,
            metadata: w.metadata,
            ip_address: w.ip_address,
            client_ip: w.client_ip,
            legacy: w.legacy,
        })
    }
}

/// Progress must be 0..=100.
fn check_progress(progress: Option<i64>) -> Result<Option<u8>, ValidationError> {
    match progress {
        None => Ok(None),
        Some(p) if (0..=100).contains(&p) => Ok(u8::try_from(p).ok()),
        Some(_) => Err(ValidationError::new(
            "progress",
            "must be between 0 and 100",
        )),
    }
}

impl LifecycleReport {
    /// A report of `event` with status `success` and nothing else.
    pub fn new(event: LifecycleEventType) -> Self {
        Self {
            event,
            status: EventStatus::Success,
            message: None,
            progress: None,
            metadata: None,
            ip_address: None,
            client_ip: None,
            legacy: false,
        }
    }

    /// The validating constructor: `event` by name (error on field
    /// `event`), `progress` 0..=100 (error on field `progress`).
    pub fn try_new(event: &str, progress: Option<i64>) -> Result<Self, ValidationError> {
        let mut r = Self::new(LifecycleEventType::parse(event)?);
        r.progress = check_progress(progress)?;
        Ok(r)
    }

    /// A report in the legacy `installation_status` form: the mapped event,
    /// status `failed` for `failed` else `success`. Set the legacy
    /// `installation_error` with [`LifecycleReport::with_message`] and
    /// `installation_progress` with [`LifecycleReport::with_progress`].
    pub fn from_legacy(status: LegacyInstallationStatus) -> Self {
        Self {
            status: status.event_status(),
            legacy: true,
            ..Self::new(status.to_event())
        }
    }

    /// Sets the event status.
    #[must_use]
    pub fn with_status(mut self, status: EventStatus) -> Self {
        self.status = status;
        self
    }

    /// Sets the message (or the legacy `installation_error`).
    #[must_use]
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// Sets the progress; outside 0..=100 is an error on field `progress`.
    pub fn with_progress(mut self, progress: i64) -> Result<Self, ValidationError> {
        self.progress = check_progress(Some(progress))?;
        Ok(self)
    }

    /// Sets the metadata (OS version, kernel, …).
    #[must_use]
    pub fn with_metadata(mut self, metadata: serde_json::Value) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// Sets the IP address the node reports for itself.
    #[must_use]
    pub fn with_ip_address(mut self, ip: impl Into<String>) -> Self {
        self.ip_address = Some(ip.into());
        self
    }

    /// Sets the IP address the report came from.
    #[must_use]
    pub fn with_client_ip(mut self, ip: impl Into<String>) -> Self {
        self.client_ip = Some(ip.into());
        self
    }

    /// The event.
    pub fn event(&self) -> LifecycleEventType {
        self.event
    }
    /// The event status.
    pub fn status(&self) -> EventStatus {
        self.status
    }
    /// The message, if any.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }
    /// The progress (0..=100), if any.
    pub fn progress(&self) -> Option<u8> {
        self.progress
    }
    /// The metadata, if any.
    pub fn metadata(&self) -> Option<&serde_json::Value> {
        self.metadata.as_ref()
    }
    /// The IP address the node reports for itself, if any.
    pub fn ip_address(&self) -> Option<&str> {
        self.ip_address.as_deref()
    }
    /// The IP address the report came from, if known.
    pub fn client_ip(&self) -> Option<&str> {
        self.client_ip.as_deref()
    }
    /// Whether the report came in the legacy `installation_status` form.
    pub fn is_legacy(&self) -> bool {
        self.legacy
    }
}

/// A state change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleChange {
    /// State before.
    pub from: LifecycleState,
    /// State after.
    pub to: LifecycleState,
    /// When.
    pub at: DateTime<Utc>,
}

/// What a report or a timeout check did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportOutcome {
    /// The state change, if any.
    pub change: Option<LifecycleChange>,
    /// The answer for the node (001's messages).
    pub message: String,
    /// The node's IP address changed.
    pub ip_changed: bool,
    /// The last allowed install attempt failed: the node is now
    /// `install_failed`.
    pub install_failed_final: bool,
    /// The install timed out (from [`NodeLifecycle::check_install_timeout`]).
    pub timed_out: bool,
}

impl ReportOutcome {
    fn message(message: impl Into<String>) -> Self {
        Self {
            change: None,
            message: message.into(),
            ip_changed: false,
            install_failed_final: false,
            timed_out: false,
        }
    }
}

/// One node's lifecycle state (001's node columns). `Default` is a pending
/// node never seen.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeLifecycle {
    /// Current state.
    pub state: LifecycleState,
    /// When the state last changed (or an install retry began).
    pub state_changed_at: Option<DateTime<Utc>>,
    /// Failed install attempts in the current install.
    pub install_attempts: u32,
    /// Boots reported.
    pub boot_count: u32,
    /// When the last boot was reported.
    pub last_boot_at: Option<DateTime<Utc>>,
    /// The node's current IP address.
    pub ip_address: Option<String>,
    /// The IP address before the last change.
    pub previous_ip_address: Option<String>,
    /// When the IP address last changed.
    pub last_ip_change_at: Option<DateTime<Utc>>,
    /// When the node last reported anything.
    pub last_seen_at: Option<DateTime<Utc>>,
}

impl NodeLifecycle {
    /// Moves to `to` if [`can_transition`] allows it, stamping
    /// `state_changed_at`. Entering `installing` resets `install_attempts`.
    /// A refused transition is an error on field `state` and changes
    /// nothing.
    pub fn transition(
        &mut self,
        to: LifecycleState,
        now: DateTime<Utc>,
    ) -> Result<LifecycleChange, ValidationError> {
        let from = self.state;
        if !can_transition(from, to) {
            return Err(ValidationError::new(
                "state",
                format!("transition from {from} to {to} is not allowed"),
            ));
        }
        self.state = to;
        self.state_changed_at = Some(now);
        if to == LifecycleState::Installing {
            self.install_attempts = 0;
        }
        Ok(LifecycleChange { from, to, at: now })
    }

    /// Applies one report (001 `report_node_status`): `last_seen_at`, IP
    /// tracking, then the event's rule (see the module docs).
    pub fn apply(
        &mut self,
        report: &LifecycleReport,
        cfg: &LifecycleConfig,
        now: DateTime<Utc>,
    ) -> ReportOutcome {
        self.last_seen_at = Some(now);
        let ip_changed = self.track_ip(report.ip_address(), now);
        let nothing = if report.legacy {
            "Status reported successfully"
        } else {
            "Event logged"
        };

        let mut out = match report.event {
            LifecycleEventType::BootStarted => {
                self.boot_count = self.boot_count.saturating_add(1);
                self.last_boot_at = Some(now);
                ReportOutcome::message("Boot started event logged")
            }
            LifecycleEventType::InstallStarted => self
                .move_if(LifecycleState::Pending, LifecycleState::Installing, now)
                .map_or_else(
                    || ReportOutcome::message(nothing),
                    |change| {
                        self.install_attempts = 0;
                        ReportOutcome {
                            change: Some(change),
                            ..ReportOutcome::message("Installation started")
                        }
                    },
                ),
            LifecycleEventType::InstallProgress => {
                if report.legacy {
                    ReportOutcome::message(nothing)
                } else {
                    ReportOutcome::message(format!(
                        "Installation progress: {}%",
                        report.progress.unwrap_or(0)
                    ))
                }
            }
            LifecycleEventType::InstallComplete => self
                .move_if(LifecycleState::Installing, LifecycleState::Installed, now)
                .map_or_else(
                    || ReportOutcome::message(nothing),
                    |change| ReportOutcome {
                        change: Some(change),
                        ..ReportOutcome::message("Installation completed")
                    },
                ),
            LifecycleEventType::InstallFailed => {
                if self.state == LifecycleState::Installing {
                    self.install_failure(cfg, now, None)
                } else {
                    ReportOutcome::message(nothing)
                }
            }
            LifecycleEventType::FirstBoot => self
                .move_if(LifecycleState::Installed, LifecycleState::Active, now)
                .map_or_else(
                    || ReportOutcome::message(nothing),
                    |change| ReportOutcome {
                        change: Some(change),
                        ..ReportOutcome::message("First boot - node now active")
                    },
                ),
            LifecycleEventType::Heartbeat => ReportOutcome::message("Heartbeat received"),
        };
        out.ip_changed = ip_changed;
        out
    }

    /// Counts a timed-out install as one failed attempt (001's boot-time
    /// check), under the same rule as a reported failure. `None` unless the
    /// node is stalled (see [`NodeLifecycle::is_stalled`]).
    pub fn check_install_timeout(
        &mut self,
        cfg: &LifecycleConfig,
        now: DateTime<Utc>,
    ) -> Option<ReportOutcome> {
        if !self.is_stalled(cfg, now) {
            return None;
        }
        let mut out = self.install_failure(cfg, now, Some(cfg.install_timeout));
        out.timed_out = true;
        Some(out)
    }

    /// Installing for longer than the install timeout (never when the
    /// timeout is zero, or when `state_changed_at` is unknown).
    pub fn is_stalled(&self, cfg: &LifecycleConfig, now: DateTime<Utc>) -> bool {
        if self.state != LifecycleState::Installing {
            return false;
        }
        let (Some(timeout), Some(since)) = (cfg.timeout(), self.state_changed_at) else {
            return false;
        };
        now.signed_duration_since(since) > timeout
    }

    /// Transition `from → to` only if the node is in `from`.
    fn move_if(
        &mut self,
        from: LifecycleState,
        to: LifecycleState,
        now: DateTime<Utc>,
    ) -> Option<LifecycleChange> {
        if self.state == from {
            self.transition(to, now).ok()
        } else {
            None
        }
    }

    /// One failed attempt while installing (001 `handle_install_failure`).
    fn install_failure(
        &mut self,
        cfg: &LifecycleConfig,
        now: DateTime<Utc>,
        timed_out_after: Option<Duration>,
    ) -> ReportOutcome {
        self.install_attempts = self.install_attempts.saturating_add(1);
        let n = self.install_attempts;
        let prefix = timed_out_after
            .map(|d| format!("Installation timed out after {}; ", human(d)))
            .unwrap_or_default();
        if n >= cfg.max_install_attempts {
            let change = self.transition(LifecycleState::InstallFailed, now).ok();
            ReportOutcome {
                change,
                install_failed_final: true,
                ..ReportOutcome::message(format!("{prefix}Installation failed after {n} attempts"))
            }
        } else {
            self.state_changed_at = Some(now);
            ReportOutcome::message(format!(
                "{prefix}Installation failed (attempt {n}), will retry"
            ))
        }
    }

    /// Records the reported IP; true when it replaced a different one.
    fn track_ip(&mut self, ip: Option<&str>, now: DateTime<Utc>) -> bool {
        let Some(ip) = ip.filter(|s| !s.is_empty()) else {
            return false;
        };
        match self.ip_address.as_deref() {
            Some(current) if current == ip => false,
            Some(_) => {
                self.previous_ip_address = self.ip_address.replace(ip.to_owned());
                self.last_ip_change_at = Some(now);
                true
            }
            None => {
                self.ip_address = Some(ip.to_owned());
                false
            }
        }
    }
}

/// "60 minutes" for whole minutes, else "N seconds".
fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s % 60 == 0 {
        format!("{} minutes", s / 60)
    } else {
        format!("{s} seconds")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LifecycleEventType as E;
    use LifecycleState as S;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }
    fn mins(m: i64) -> chrono::Duration {
        chrono::Duration::minutes(m)
    }
    fn ev(e: E) -> LifecycleReport {
        LifecycleReport::new(e)
    }
    fn installing(cfg: &LifecycleConfig) -> NodeLifecycle {
        let mut n = NodeLifecycle::default();
        n.apply(&ev(E::InstallStarted), cfg, t0());
        assert_eq!(n.state, S::Installing);
        n
    }

    #[test]
    fn defaults() {
        let cfg = LifecycleConfig::default();
        assert_eq!(cfg.max_install_attempts, 3);
        assert_eq!(cfg.install_timeout, Duration::from_secs(3600));
        cfg.validate().unwrap();
        assert_eq!(serde_json::from_str::<LifecycleConfig>("{}").unwrap(), cfg);
        assert_eq!(
            serde_json::to_value(&cfg).unwrap(),
            serde_json::json!({"max_install_attempts": 3, "install_timeout": "1h"})
        );
        assert!(serde_json::from_str::<LifecycleConfig>(r#"{"timeout": "1h"}"#).is_err());
        let n = NodeLifecycle::default();
        assert_eq!(n.state, S::Pending);
        assert_eq!((n.install_attempts, n.boot_count), (0, 0));
        assert_eq!(n.last_seen_at, None);
        assert_eq!(EventStatus::default(), EventStatus::Success);
        let r = ev(E::Heartbeat);
        assert_eq!(r.status(), EventStatus::Success);
        assert!(!r.is_legacy());
    }

    #[test]
    fn config_validation() {
        let c = LifecycleConfig {
            max_install_attempts: 0,
            ..Default::default()
        };
        assert_eq!(c.validate().unwrap_err().field(), "max_install_attempts");
        let c = LifecycleConfig {
            install_timeout: Duration::from_secs(u64::MAX),
            ..Default::default()
        };
        assert_eq!(c.validate().unwrap_err().field(), "install_timeout");
        LifecycleConfig {
            install_timeout: Duration::ZERO,
            ..Default::default()
        }
        .validate()
        .unwrap();
    }

    #[test]
    fn transition_table() {
        let expected: &[(S, &[S])] = &[
            (S::Pending, &[S::Installing, S::Reprovision, S::Retired]),
            (
                S::Installing,
                &[S::Installed, S::InstallFailed, S::Reprovision, S::Retired],
            ),
            (S::Installed, &[S::Active, S::Reprovision, S::Retired]),
            (S::Active, &[S::Reprovision, S::Retired]),
            (
                S::InstallFailed,
                &[S::Pending, S::Installing, S::Reprovision, S::Retired],
            ),
            (S::Reprovision, &[S::Pending, S::Installing, S::Retired]),
            (S::Retired, &[S::Pending]),
        ];
        for from in S::ALL {
            let row = expected.iter().find(|(f, _)| *f == from).unwrap().1;
            for to in S::ALL {
                assert_eq!(
                    can_transition(from, to),
                    row.contains(&to),
                    "{from} -> {to}"
                );
            }
            assert!(!can_transition(from, from));
        }
        assert!(can_transition(S::Installed, S::Active));
        assert!(!can_transition(S::Pending, S::Active));
    }

    #[test]
    fn transition_stamps_and_refuses() {
        let mut n = NodeLifecycle::default();
        let err = n.transition(S::Active, t0()).unwrap_err();
        assert_eq!(err.field(), "state");
        assert!(err.rule().contains("pending to active"));
        assert_eq!(n, NodeLifecycle::default());
        let c = n.transition(S::Retired, t0()).unwrap();
        assert_eq!(
            c,
            LifecycleChange {
                from: S::Pending,
                to: S::Retired,
                at: t0()
            }
        );
        assert_eq!(n.state_changed_at, Some(t0()));
        // Manual retry from install_failed resets attempts.
        let mut n = NodeLifecycle {
            state: S::InstallFailed,
            install_attempts: 3,
            ..Default::default()
        };
        n.transition(S::Installing, t0()).unwrap();
        assert_eq!(n.install_attempts, 0);
    }

    #[test]
    fn names_parse() {
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()).unwrap(), s);
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        for e in E::ALL {
            assert_eq!(E::parse(e.as_str()).unwrap(), e);
            assert_eq!(serde_json::to_string(&e).unwrap(), format!("\"{e}\""));
        }
        for s in EventStatus::ALL {
            assert_eq!(EventStatus::parse(s.as_str()).unwrap(), s);
        }
        assert_eq!(E::parse("reboot").unwrap_err().field(), "event");
        assert_eq!(E::parse("").unwrap_err().field(), "event");
        assert_eq!(EventStatus::parse("ok").unwrap_err().field(), "status");
        assert_eq!(S::parse("dead").unwrap_err().field(), "state");
        assert_eq!(
            LegacyInstallationStatus::parse("done").unwrap_err().field(),
            "installation_status"
        );
    }

    #[test]
    fn legacy_mapping() {
        use LegacyInstallationStatus as L;
        let map = [
            (L::Started, E::InstallStarted, EventStatus::Success),
            (L::Progress, E::InstallProgress, EventStatus::Success),
            (L::Complete, E::InstallComplete, EventStatus::Success),
            (L::Failed, E::InstallFailed, EventStatus::Failed),
        ];
        for (l, e, s) in map {
            assert_eq!(L::parse(l.as_str()).unwrap(), l);
            assert_eq!(l.to_event(), e);
            let r = LifecycleReport::from_legacy(l);
            assert_eq!((r.event(), r.status(), r.is_legacy()), (e, s, true));
        }
    }

    #[test]
    fn report_validation_and_serde() {
        assert!(LifecycleReport::try_new("heartbeat", Some(0)).is_ok());
        assert!(LifecycleReport::try_new("heartbeat", Some(100)).is_ok());
        for p in [-1, 101, i64::MAX, i64::MIN] {
            assert_eq!(
                LifecycleReport::try_new("install_progress", Some(p))
                    .unwrap_err()
                    .field(),
                "progress"
            );
            assert!(ev(E::InstallProgress).with_progress(p).is_err());
        }
        let r = ev(E::FirstBoot)
            .with_status(EventStatus::InProgress)
            .with_message("hi")
            .with_progress(50)
            .unwrap()
            .with_metadata(serde_json::json!({"os": "Ubuntu 24.04"}))
            .with_ip_address("10.0.0.5")
            .with_client_ip("10.0.0.1");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "event": "first_boot", "status": "in_progress", "message": "hi",
                "progress": 50, "metadata": {"os": "Ubuntu 24.04"},
                "ip_address": "10.0.0.5", "client_ip": "10.0.0.1"
            })
        );
        let back: LifecycleReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.message(), Some("hi"));
        assert_eq!(back.metadata().unwrap()["os"], "Ubuntu 24.04");
        assert_eq!(
            (back.ip_address(), back.client_ip()),
            (Some("10.0.0.5"), Some("10.0.0.1"))
        );
        let min: LifecycleReport = serde_json::from_str(r#"{"event":"heartbeat"}"#).unwrap();
        assert_eq!(min, ev(E::Heartbeat));
        let err = serde_json::from_str::<LifecycleReport>(r#"{"event":"nope"}"#).unwrap_err();
        assert!(err.to_string().contains("invalid event"));
        let err =
            serde_json::from_str::<LifecycleReport>(r#"{"event":"heartbeat","progress":300}"#)
                .unwrap_err();
        assert!(err.to_string().contains("invalid progress"));
    }

    #[test]
    fn every_report_sets_last_seen() {
        let cfg = LifecycleConfig::default();
        for e in E::ALL {
            let mut n = NodeLifecycle::default();
            n.apply(&ev(e), &cfg, t0() + mins(3));
            assert_eq!(n.last_seen_at, Some(t0() + mins(3)), "{e}");
        }
    }

    #[test]
    fn ip_change_tracking() {
        let cfg = LifecycleConfig::default();
        let mut n = NodeLifecycle::default();
        let out = n.apply(&ev(E::Heartbeat).with_ip_address("10.0.0.1"), &cfg, t0());
        assert!(!out.ip_changed);
        assert_eq!(n.ip_address.as_deref(), Some("10.0.0.1"));
        assert_eq!(n.previous_ip_address, None);
        let out = n.apply(&ev(E::Heartbeat).with_ip_address("10.0.0.1"), &cfg, t0());
        assert!(!out.ip_changed);
        let out = n.apply(&ev(E::Heartbeat), &cfg, t0());
        assert!(!out.ip_changed);
        let out = n.apply(&ev(E::Heartbeat).with_ip_address(""), &cfg, t0());
        assert!(!out.ip_changed);
        // Client IP alone is not the node's address.
        let out = n.apply(&ev(E::Heartbeat).with_client_ip("192.0.2.9"), &cfg, t0());
        assert!(!out.ip_changed);
        let at = t0() + mins(5);
        let out = n.apply(&ev(E::Heartbeat).with_ip_address("10.0.0.2"), &cfg, at);
        assert!(out.ip_changed);
        assert_eq!(out.message, "Heartbeat received");
        assert_eq!(n.ip_address.as_deref(), Some("10.0.0.2"));
        assert_eq!(n.previous_ip_address.as_deref(), Some("10.0.0.1"));
        assert_eq!(n.last_ip_change_at, Some(at));
    }

    #[test]
    fn boot_started_counts_boots() {
        let cfg = LifecycleConfig::default();
        let mut n = NodeLifecycle::default();
        let out = n.apply(&ev(E::BootStarted), &cfg, t0());
        assert_eq!(out.message, "Boot started event logged");
        assert_eq!(out.change, None);
        n.apply(&ev(E::BootStarted), &cfg, t0() + mins(1));
        assert_eq!(n.boot_count, 2);
        assert_eq!(n.last_boot_at, Some(t0() + mins(1)));
        assert_eq!(n.state, S::Pending);
        n.boot_count = u32::MAX;
        n.apply(&ev(E::BootStarted), &cfg, t0());
        assert_eq!(n.boot_count, u32::MAX);
    }

    #[test]
    fn happy_path() {
        let cfg = LifecycleConfig::default();
        let mut n = NodeLifecycle {
            install_attempts: 2,
            ..Default::default()
        };
        let out = n.apply(&ev(E::InstallStarted), &cfg, t0());
        assert_eq!(out.message, "Installation started");
        assert_eq!(
            out.change,
            Some(LifecycleChange {
                from: S::Pending,
                to: S::Installing,
                at: t0()
            })
        );
        assert_eq!(n.install_attempts, 0);
        let out = n.apply(
            &ev(E::InstallProgress).with_progress(42).unwrap(),
            &cfg,
            t0(),
        );
        assert_eq!(out.message, "Installation progress: 42%");
        let out = n.apply(&ev(E::InstallProgress), &cfg, t0());
        assert_eq!(out.message, "Installation progress: 0%");
        let out = n.apply(&ev(E::InstallComplete), &cfg, t0() + mins(20));
        assert_eq!(out.message, "Installation completed");
        assert_eq!(n.state, S::Installed);
        assert_eq!(n.state_changed_at, Some(t0() + mins(20)));
        let out = n.apply(&ev(E::FirstBoot), &cfg, t0() + mins(25));
        assert_eq!(out.message, "First boot - node now active");
        assert_eq!(out.change.unwrap().to, S::Active);
        assert_eq!(n.state, S::Active);
        let out = n.apply(&ev(E::Heartbeat), &cfg, t0() + mins(26));
        assert_eq!(out.message, "Heartbeat received");
        assert_eq!(out.change, None);
    }

    #[test]
    fn events_out_of_place_are_only_logged() {
        let cfg = LifecycleConfig::default();
        let mut n = NodeLifecycle::default();
        for e in [E::InstallComplete, E::InstallFailed, E::FirstBoot] {
            let out = n.apply(&ev(e), &cfg, t0());
            assert_eq!(out.message, "Event logged", "{e}");
            assert_eq!(out.change, None);
        }
        assert_eq!(n.state, S::Pending);
        let mut n = installing(&cfg);
        let out = n.apply(&ev(E::InstallStarted), &cfg, t0());
        assert_eq!(out.message, "Event logged");
        let out = n.apply(&ev(E::FirstBoot), &cfg, t0());
        assert_eq!(out.message, "Event logged");
        assert_eq!(n.state, S::Installing);
    }

    #[test]
    fn install_failures_retry_then_fail() {
        let cfg = LifecycleConfig::default();
        let mut n = installing(&cfg);
        let out = n.apply(&ev(E::InstallFailed), &cfg, t0() + mins(10));
        assert_eq!(out.message, "Installation failed (attempt 1), will retry");
        assert_eq!(out.change, None);
        assert!(!out.install_failed_final);
        assert_eq!(n.state, S::Installing);
        assert_eq!(n.state_changed_at, Some(t0() + mins(10)));
        let out = n.apply(&ev(E::InstallFailed), &cfg, t0() + mins(20));
        assert_eq!(out.message, "Installation failed (attempt 2), will retry");
        let out = n.apply(&ev(E::InstallFailed), &cfg, t0() + mins(30));
        assert_eq!(out.message, "Installation failed after 3 attempts");
        assert!(out.install_failed_final);
        assert_eq!(
            out.change,
            Some(LifecycleChange {
                from: S::Installing,
                to: S::InstallFailed,
                at: t0() + mins(30)
            })
        );
        assert_eq!(n.state, S::InstallFailed);
        // No longer installing: further failures are only logged.
        let out = n.apply(&ev(E::InstallFailed), &cfg, t0() + mins(40));
        assert_eq!(out.message, "Event logged");
        assert_eq!(n.install_attempts, 3);
    }

    #[test]
    fn single_attempt_config_fails_at_once() {
        let cfg = LifecycleConfig {
            max_install_attempts: 1,
            ..Default::default()
        };
        let mut n = installing(&cfg);
        let out = n.apply(&ev(E::InstallFailed), &cfg, t0());
        assert!(out.install_failed_final);
        assert_eq!(out.message, "Installation failed after 1 attempts");
    }

    #[test]
    fn legacy_messages() {
        use LegacyInstallationStatus as L;
        let cfg = LifecycleConfig::default();
        let mut n = NodeLifecycle::default();
        let out = n.apply(&LifecycleReport::from_legacy(L::Progress), &cfg, t0());
        assert_eq!(out.message, "Status reported successfully");
        let out = n.apply(&LifecycleReport::from_legacy(L::Complete), &cfg, t0());
        assert_eq!(out.message, "Status reported successfully");
        let out = n.apply(&LifecycleReport::from_legacy(L::Started), &cfg, t0());
        assert_eq!(out.message, "Installation started");
        let failed = LifecycleReport::from_legacy(L::Failed).with_message("disk full");
        let out = n.apply(&failed, &cfg, t0());
        assert_eq!(out.message, "Installation failed (attempt 1), will retry");
        let out = n.apply(
            &LifecycleReport::from_legacy(L::Progress)
                .with_progress(80)
                .unwrap(),
            &cfg,
            t0(),
        );
        assert_eq!(out.message, "Status reported successfully");
        let out = n.apply(&LifecycleReport::from_legacy(L::Complete), &cfg, t0());
        assert_eq!(out.message, "Installation completed");
        assert_eq!(n.state, S::Installed);
    }

    #[test]
    fn install_timeout_counts_as_failure() {
        let cfg = LifecycleConfig::default();
        let mut n = installing(&cfg);
        // Exactly at the timeout: not yet (001 uses `>`).
        assert!(!n.is_stalled(&cfg, t0() + mins(60)));
        assert_eq!(n.check_install_timeout(&cfg, t0() + mins(60)), None);
        let at = t0() + mins(61);
        assert!(n.is_stalled(&cfg, at));
        let out = n.check_install_timeout(&cfg, at).unwrap();
        assert!(out.timed_out);
        assert!(!out.install_failed_final);
        assert_eq!(
            out.message,
            "Installation timed out after 60 minutes; Installation failed (attempt 1), will retry"
        );
        assert_eq!(n.install_attempts, 1);
        // The retry restarts the clock.
        assert!(!n.is_stalled(&cfg, at + mins(30)));
        assert_eq!(n.check_install_timeout(&cfg, at + mins(30)), None);
        n.check_install_timeout(&cfg, at + mins(61)).unwrap();
        let out = n.check_install_timeout(&cfg, at + mins(122)).unwrap();
        assert!(out.install_failed_final);
        assert_eq!(out.change.unwrap().to, S::InstallFailed);
        assert_eq!(
            out.message,
            "Installation timed out after 60 minutes; Installation failed after 3 attempts"
        );
        assert!(!n.is_stalled(&cfg, at + mins(1000)));
    }

    #[test]
    fn timeout_disabled_or_not_installing() {
        let off = LifecycleConfig {
            install_timeout: Duration::ZERO,
            ..Default::default()
        };
        let mut n = installing(&off);
        assert!(!n.is_stalled(&off, t0() + mins(100_000)));
        assert_eq!(n.check_install_timeout(&off, t0() + mins(100_000)), None);
        let cfg = LifecycleConfig::default();
        let n = NodeLifecycle {
            state: S::Pending,
            state_changed_at: Some(t0()),
            ..Default::default()
        };
        assert!(!n.is_stalled(&cfg, t0() + mins(1000)));
        // Installing without a timestamp (hand-made state): not stalled.
        let n = NodeLifecycle {
            state: S::Installing,
            ..Default::default()
        };
        assert!(!n.is_stalled(&cfg, t0() + mins(1000)));
        let odd = LifecycleConfig {
            install_timeout: Duration::from_secs(90),
            ..Default::default()
        };
        let mut n = installing(&odd);
        let out = n.check_install_timeout(&odd, t0() + mins(2)).unwrap();
        assert!(
            out.message
                .starts_with("Installation timed out after 90 seconds;")
        );
    }

    #[test]
    fn node_serde_round_trip() {
        let cfg = LifecycleConfig::default();
        let mut n = installing(&cfg);
        n.apply(&ev(E::BootStarted).with_ip_address("10.0.0.1"), &cfg, t0());
        let s = serde_json::to_string(&n).unwrap();
        assert!(s.contains("\"state\":\"installing\""));
        assert_eq!(serde_json::from_str::<NodeLifecycle>(&s).unwrap(), n);
        assert_eq!(
            serde_json::from_str::<NodeLifecycle>("{}").unwrap(),
            NodeLifecycle::default()
        );
    }

    #[derive(Debug, Clone)]
    enum Op {
        Report {
            event: usize,
            legacy: bool,
            ip: Option<u8>,
            dt: i64,
        },
        Timeout(i64),
        Transition(usize, i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0usize..7, any::<bool>(), proptest::option::of(0u8..3), 0i64..120).prop_map(
                |(event, legacy, ip, dt)| Op::Report { event, legacy, ip, dt }
            ),
            3 => (0i64..200).prop_map(Op::Timeout),
            1 => (0usize..7, 0i64..10).prop_map(|(s, dt)| Op::Transition(s, dt)),
        ]
    }

    proptest! {
        #[test]
        fn lifecycle_invariants(
            max in 1u32..5,
            timeout_min in 0u64..90,
            ops in proptest::collection::vec(op(), 0..60),
        ) {
            let cfg = LifecycleConfig {
                max_install_attempts: max,
                install_timeout: Duration::from_secs(timeout_min * 60),
            };
            let mut n = NodeLifecycle::default();
            let mut now = t0();
            for op in ops {
                let before = n.state;
                let change = match op {
                    Op::Report { event, legacy, ip, dt } => {
                        now += mins(dt);
                        let e = E::ALL[event];
                        let mut r = LifecycleReport::new(e);
                        if legacy {
                            r = LifecycleReport { legacy: true, ..r };
                        }
                        if let Some(i) = ip {
                            r = r.with_ip_address(format!("10.0.0.{i}"));
                        }
                        let out = n.apply(&r, &cfg, now);
                        prop_assert_eq!(n.last_seen_at, Some(now));
                        prop_assert!(!out.timed_out);
                        prop_assert_eq!(out.install_failed_final, n.state == S::InstallFailed && before == S::Installing);
                        out.change
                    }
                    Op::Timeout(dt) => {
                        now += mins(dt);
                        let stalled = n.is_stalled(&cfg, now);
                        let out = n.check_install_timeout(&cfg, now);
                        prop_assert_eq!(out.is_some(), stalled);
                        prop_assert!(!n.is_stalled(&cfg, now));
                        out.and_then(|o| o.change)
                    }
                    Op::Transition(to, dt) => {
                        now += mins(dt);
                        let to = S::ALL[to];
                        let res = n.transition(to, now);
                        prop_assert_eq!(res.is_ok(), can_transition(before, to));
                        if res.is_err() {
                            prop_assert_eq!(n.state, before);
                        }
                        res.ok()
                    }
                };
                match change {
                    Some(c) => {
                        prop_assert!(can_transition(c.from, c.to), "{} -> {}", c.from, c.to);
                        prop_assert_eq!(c.from, before);
                        prop_assert_eq!(c.to, n.state);
                        prop_assert_eq!(c.at, now);
                    }
                    None => prop_assert_eq!(n.state, before),
                }
                if n.state == S::Installing {
                    prop_assert!(n.install_attempts < max);
                }
            }
        }

        #[test]
        fn progress_range(p in any::<i64>(), e in 0usize..7) {
            let name = E::ALL[e].as_str();
            let ok = (0..=100).contains(&p);
            prop_assert_eq!(LifecycleReport::try_new(name, Some(p)).is_ok(), ok);
            prop_assert_eq!(LifecycleReport::new(E::ALL[e]).with_progress(p).is_ok(), ok);
            let json = serde_json::json!({"event": name, "progress": p});
            prop_assert_eq!(serde_json::from_value::<LifecycleReport>(json).is_ok(), ok);
            if !ok {
                let err = LifecycleReport::try_new(name, Some(p)).unwrap_err();
                prop_assert_eq!(err.field(), "progress");
            }
        }

        #[test]
        fn unknown_event_names_rejected(name in "[a-z_]{0,20}") {
            let known = E::ALL.iter().any(|e| e.as_str() == name);
            let res = E::parse(&name);
            prop_assert_eq!(res.is_ok(), known);
            if let Err(e) = res {
                prop_assert_eq!(e.field(), "event");
            }
        }
    }
}
