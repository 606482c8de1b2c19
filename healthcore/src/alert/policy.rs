//! [`AlertPolicy`]: which conditions alert, and the timing of follow-ups.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::alert::{AlertKind, Severity};
use crate::error::ValidationError;

/// Default low-score threshold (seed 000: 50; 0 disables).
pub const DEFAULT_LOW_SCORE_THRESHOLD: u8 = 50;
/// Default suppression window (5 min).
pub const DEFAULT_SUPPRESSION_WINDOW: Duration = Duration::from_secs(5 * 60);
/// Default escalation delay (seed 004: 300 s).
pub const DEFAULT_ESCALATION_DELAY: Duration = Duration::from_secs(300);
/// Shortest non-zero reminder interval.
pub const MIN_REMINDER_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// Longest reminder interval and escalation delay (7 days).
pub const MAX_FOLLOWUP_DELAY: Duration = Duration::from_secs(7 * 24 * 3600);
/// Longest suppression window (1 day).
pub const MAX_SUPPRESSION_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// Which conditions raise alerts and how alerts are followed up.
///
/// Durations read and write as humantime strings. Kinds without a switch
/// here (install_timeout, breaker_open, heal_exhausted, flapping, slo_burn,
/// custom) always alert when their condition holds.
///
/// ```
/// use healthcore::alert::{AlertKind, AlertPolicy, Severity};
/// let p: AlertPolicy = serde_json::from_value(serde_json::json!({
///     "low_score_threshold": 40,
///     "reminder_interval": "1h",
///     "severity_overrides": {"node_stale": "critical"}
/// })).unwrap();
/// p.validate().unwrap();
/// assert_eq!(p.severity_for(&AlertKind::Stale), Severity::Critical);
/// assert_eq!(p.severity_for(&AlertKind::Degraded), Severity::Warning);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertPolicy {
    /// Raise `stale` for passive targets past the stale threshold (000: true).
    pub alert_on_stale: bool,
    /// Raise `offline` for passive targets past the offline threshold
    /// (000: true).
    pub alert_on_offline: bool,
    /// Raise `down` when an active check is down (true).
    pub alert_on_down: bool,
    /// Raise `degraded` when an active check is degraded (false).
    pub alert_on_degraded: bool,
    /// Raise `low_score` below this health score (000: 50); 0 disables.
    pub low_score_threshold: u8,
    /// A raise within this long of the same key's resolution is recorded
    /// suppressed and fires only if it is still open when the window ends.
    #[serde(with = "humantime_serde")]
    pub suppression_window: Duration,
    /// Re-notify an active alert this often; 0 turns reminders off,
    /// otherwise at least 5 min.
    #[serde(with = "humantime_serde")]
    pub reminder_interval: Duration,
    /// Escalate an active, unacknowledged alert to external channels
    /// after this long (004: 300 s).
    #[serde(with = "humantime_serde")]
    pub escalation_delay: Duration,
    /// Severity per kind name (`down`, `custom:disk_full`, or a seed-000
    /// alias), overriding [`Severity::default_for`].
    pub severity_overrides: BTreeMap<String, Severity>,
}

impl Default for AlertPolicy {
    fn default() -> Self {
        Self {
            alert_on_stale: true,
            alert_on_offline: true,
            alert_on_down: true,
            alert_on_degraded: false,
            low_score_threshold: DEFAULT_LOW_SCORE_THRESHOLD,
            suppression_window: DEFAULT_SUPPRESSION_WINDOW,
            reminder_interval: Duration::ZERO,
            escalation_delay: DEFAULT_ESCALATION_DELAY,
            severity_overrides: BTreeMap::new(),
        }
    }
}

impl AlertPolicy {
    /// Checks every rule; the error names the field.
    ///
    /// Rules: low_score_threshold ≤ 100; suppression_window ≤ 1 d;
    /// reminder_interval 0 or 5 min..=7 d; escalation_delay ≤ 7 d; every
    /// severity override names a kind.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.low_score_threshold > 100 {
            return Err(ValidationError::new(
                "low_score_threshold",
                "must be 0..=100 (0 disables)",
            ));
        }
        if self.suppression_window > MAX_SUPPRESSION_WINDOW {
            return Err(ValidationError::new(
                "suppression_window",
                "must be at most 1d",
            ));
        }
        if !self.reminder_interval.is_zero()
            && (self.reminder_interval < MIN_REMINDER_INTERVAL
                || self.reminder_interval > MAX_FOLLOWUP_DELAY)
        {
            return Err(ValidationError::new(
                "reminder_interval",
                "must be 0 (off) or between 5m and 7d",
            ));
        }
        if self.escalation_delay > MAX_FOLLOWUP_DELAY {
            return Err(ValidationError::new(
                "escalation_delay",
                "must be at most 7d",
            ));
        }
        for name in self.severity_overrides.keys() {
            if AlertKind::parse(name).is_err() {
                return Err(ValidationError::new(
                    "severity_overrides",
                    format!("{name:?} is not an alert kind"),
                ));
            }
        }
        Ok(())
    }

    /// The severity for `kind`: an override under its name (or, failing
    /// that, its seed-000 alias), else [`Severity::default_for`].
    pub fn severity_for(&self, kind: &AlertKind) -> Severity {
        if self.severity_overrides.is_empty() {
            return Severity::default_for(kind);
        }
        self.severity_overrides
            .get(kind.as_str().as_ref())
            .or_else(|| {
                kind.legacy_name()
                    .and_then(|n| self.severity_overrides.get(n))
            })
            .copied()
            .unwrap_or_else(|| Severity::default_for(kind))
    }

    /// True when `kind` alerts at all under this policy (the switches and
    /// a non-zero score threshold).
    pub fn enabled(&self, kind: &AlertKind) -> bool {
        match kind {
            AlertKind::Stale => self.alert_on_stale,
            AlertKind::Offline => self.alert_on_offline,
            AlertKind::Down => self.alert_on_down,
            AlertKind::Degraded => self.alert_on_degraded,
            AlertKind::LowScore => self.low_score_threshold > 0,
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let p = AlertPolicy::default();
        assert!(p.alert_on_stale && p.alert_on_offline && p.alert_on_down);
        assert!(!p.alert_on_degraded);
        assert_eq!(p.low_score_threshold, 50);
        assert_eq!(p.suppression_window, Duration::from_secs(300));
        assert_eq!(p.reminder_interval, Duration::ZERO);
        assert_eq!(p.escalation_delay, Duration::from_secs(300));
        assert!(p.severity_overrides.is_empty());
        p.validate().unwrap();
        let from_empty: AlertPolicy = serde_json::from_str("{}").unwrap();
        assert_eq!(from_empty, p);
    }

    #[test]
    fn each_rule_names_its_field() {
        let base = AlertPolicy::default();
        let mut overrides = BTreeMap::new();
        overrides.insert("nope".to_owned(), Severity::Critical);
        let cases = [
            (
                AlertPolicy {
                    low_score_threshold: 101,
                    ..base.clone()
                },
                "low_score_threshold",
            ),
            (
                AlertPolicy {
                    suppression_window: Duration::from_secs(86_401),
                    ..base.clone()
                },
                "suppression_window",
            ),
            (
                AlertPolicy {
                    reminder_interval: Duration::from_secs(299),
                    ..base.clone()
                },
                "reminder_interval",
            ),
            (
                AlertPolicy {
                    reminder_interval: Duration::from_secs(8 * 86_400),
                    ..base.clone()
                },
                "reminder_interval",
            ),
            (
                AlertPolicy {
                    escalation_delay: Duration::from_secs(8 * 86_400),
                    ..base.clone()
                },
                "escalation_delay",
            ),
            (
                AlertPolicy {
                    severity_overrides: overrides,
                    ..base.clone()
                },
                "severity_overrides",
            ),
        ];
        for (p, field) in cases {
            assert_eq!(p.validate().unwrap_err().field(), field);
        }
        AlertPolicy {
            reminder_interval: Duration::from_secs(300),
            low_score_threshold: 0,
            ..base
        }
        .validate()
        .unwrap();
    }

    #[test]
    fn serde_humantime_and_unknown_fields() {
        let p: AlertPolicy = serde_json::from_value(serde_json::json!({
            "suppression_window": "10m", "escalation_delay": "15m", "alert_on_degraded": true
        }))
        .unwrap();
        assert_eq!(p.suppression_window, Duration::from_secs(600));
        assert_eq!(p.escalation_delay, Duration::from_secs(900));
        assert!(p.alert_on_degraded);
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["suppression_window"], "10m");
        let err =
            serde_json::from_value::<AlertPolicy>(serde_json::json!({"alert_on_stail": true}))
                .unwrap_err();
        assert!(err.to_string().contains("alert_on_stail"));
    }

    #[test]
    fn severity_overrides_by_name_and_alias() {
        let mut p = AlertPolicy::default();
        p.severity_overrides
            .insert("low_health_score".into(), Severity::Critical);
        p.severity_overrides
            .insert("offline".into(), Severity::Warning);
        p.severity_overrides
            .insert("custom:disk".into(), Severity::Critical);
        p.validate().unwrap();
        assert_eq!(p.severity_for(&AlertKind::LowScore), Severity::Critical);
        assert_eq!(p.severity_for(&AlertKind::Offline), Severity::Warning);
        assert_eq!(
            p.severity_for(&AlertKind::Custom("disk".into())),
            Severity::Critical
        );
        assert_eq!(
            p.severity_for(&AlertKind::Custom("other".into())),
            Severity::Warning
        );
        assert_eq!(p.severity_for(&AlertKind::Down), Severity::Critical);
        // The canonical name wins over the alias.
        p.severity_overrides
            .insert("low_score".into(), Severity::Warning);
        assert_eq!(p.severity_for(&AlertKind::LowScore), Severity::Warning);
    }

    #[test]
    fn enabled_switches() {
        let mut p = AlertPolicy::default();
        assert!(p.enabled(&AlertKind::Stale));
        assert!(!p.enabled(&AlertKind::Degraded));
        assert!(p.enabled(&AlertKind::LowScore));
        assert!(p.enabled(&AlertKind::Flapping));
        p.low_score_threshold = 0;
        assert!(!p.enabled(&AlertKind::LowScore));
    }
}
