//! One probe result, or one passive report turned into a result.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a probe saw.
///
/// `Unreachable` (host or network) and `Unknown` (checker-side fault) are
/// kept apart from `Fail` (reachable, service bad): only `Fail` is ever
/// healed, and `Unknown` never moves a check to `down`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The service answered as expected.
    Pass,
    /// The service answered but something is off (Consul's exit code 1).
    Warn,
    /// The service was reached and is bad.
    Fail,
    /// The host or network could not be reached.
    Unreachable,
    /// The checker could not tell (no permission, bad config, panic).
    Unknown,
}

impl Outcome {
    /// All outcomes.
    pub const ALL: [Outcome; 5] = [
        Outcome::Pass,
        Outcome::Warn,
        Outcome::Fail,
        Outcome::Unreachable,
        Outcome::Unknown,
    ];

    /// The snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Warn => "warn",
            Outcome::Fail => "fail",
            Outcome::Unreachable => "unreachable",
            Outcome::Unknown => "unknown",
        }
    }

    /// Parses a snake_case name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// Counts as a failure for thresholds and breakers (`fail`, `unreachable`).
    pub const fn is_failure(self) -> bool {
        matches!(self, Outcome::Fail | Outcome::Unreachable)
    }

    /// Counts as a success (`pass`, `warn`).
    pub const fn is_success(self) -> bool {
        matches!(self, Outcome::Pass | Outcome::Warn)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One result: when, what, how long, and what the probe said.
///
/// ```
/// use healthcore::model::{Observation, Outcome};
/// use chrono::{TimeZone, Utc};
/// let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
/// let o = Observation::new(at, Outcome::Pass).with_latency(std::time::Duration::from_millis(12));
/// let json = serde_json::to_value(&o).unwrap();
/// assert_eq!(json["outcome"], "pass");
/// assert_eq!(json["latency_ms"], 12.0);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// When the probe finished (or the report arrived).
    pub at: DateTime<Utc>,
    /// What it saw.
    pub outcome: Outcome,
    /// How long it took.
    #[serde(
        rename = "latency_ms",
        default,
        with = "crate::model::serde_ms",
        skip_serializing_if = "Option::is_none"
    )]
    pub latency: Option<Duration>,
    /// A short human message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Structured details from the probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

impl Observation {
    /// An observation with no latency, message or details.
    pub fn new(at: DateTime<Utc>, outcome: Outcome) -> Self {
        Self {
            at,
            outcome,
            latency: None,
            message: None,
            details: None,
        }
    }

    /// Sets the latency.
    #[must_use]
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = Some(latency);
        self
    }

    /// Sets the message.
    #[must_use]
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// Sets the details.
    #[must_use]
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_and_success_sets() {
        assert!(Outcome::Fail.is_failure());
        assert!(Outcome::Unreachable.is_failure());
        assert!(!Outcome::Unknown.is_failure());
        assert!(!Outcome::Unknown.is_success());
        assert!(Outcome::Warn.is_success());
    }

    #[test]
    fn round_trips_json() {
        let o = Observation::new(DateTime::<Utc>::UNIX_EPOCH, Outcome::Fail)
            .with_latency(Duration::from_micros(1500))
            .with_message("refused");
        let s = serde_json::to_string(&o).unwrap();
        let back: Observation = serde_json::from_str(&s).unwrap();
        assert_eq!(back, o);
        let min: Observation =
            serde_json::from_str(r#"{"at":"2026-01-01T00:00:00Z","outcome":"unknown"}"#).unwrap();
        assert_eq!(min.outcome, Outcome::Unknown);
        assert!(min.latency.is_none());
    }
}
