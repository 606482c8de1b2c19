//! [`CheckSpec`]: how one active check on a target is run and judged.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::model::{CheckId, CheckKey, TargetId};

/// Default interval between runs (002: 60 s).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// Default probe timeout (002: 10 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default consecutive failures before `down` (002, 003: 3).
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 3;
/// Default consecutive successes before `healthy` (002: 1).
pub const DEFAULT_SUCCESS_THRESHOLD: u32 = 1;
/// Largest threshold accepted (keeps counters and windows small).
pub const MAX_THRESHOLD: u32 = 1000;
/// Shortest interval accepted.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Longest interval accepted (one week).
pub const MAX_INTERVAL: Duration = Duration::from_secs(7 * 24 * 3600);

/// One active check: the probe kind, its parameters and the thresholds.
///
/// Durations read and write as humantime strings (`"30s"`, `"2m"`).
///
/// ```
/// use healthcore::model::CheckSpec;
/// let spec: CheckSpec = serde_json::from_value(serde_json::json!({
///     "kind": "tcp", "params": {"host": "127.0.0.1", "port": 22}, "interval": "30s"
/// })).unwrap();
/// assert_eq!(spec.failure_threshold, 3);
/// assert_eq!(spec.id().as_str(), "tcp");
/// spec.validate().unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// The check's name within its target; defaults to `kind`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<CheckId>,
    /// The probe kind (`tcp`, `http`, `command`, `heartbeat`, …).
    pub kind: String,
    /// Probe parameters, interpreted by the checker of that kind.
    #[serde(default = "empty_params")]
    pub params: serde_json::Value,
    /// Time between runs.
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// Deadline for one run; must be below `interval`.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Up to this much random delay is added to each run's schedule.
    #[serde(default, with = "humantime_serde")]
    pub jitter: Duration,
    /// Consecutive failures before `down` (1..threshold-1 → `degraded`).
    #[serde(default = "default_failure_threshold")]
    pub failure_threshold: u32,
    /// Consecutive successes before `healthy`.
    #[serde(default = "default_success_threshold")]
    pub success_threshold: u32,
    /// A success slower than this counts as `degraded`.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub degraded_latency: Option<Duration>,
    /// Disabled checks are not run and do not count for the target.
    #[serde(default = "default_true")]
    pub enabled: bool,
}

fn empty_params() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}
fn default_interval() -> Duration {
    DEFAULT_INTERVAL
}
fn default_timeout() -> Duration {
    DEFAULT_TIMEOUT
}
fn default_failure_threshold() -> u32 {
    DEFAULT_FAILURE_THRESHOLD
}
fn default_success_threshold() -> u32 {
    DEFAULT_SUCCESS_THRESHOLD
}
fn default_true() -> bool {
    true
}

impl CheckSpec {
    /// A spec of `kind` with every default (60 s, 10 s, 3, 1, enabled).
    pub fn new(kind: impl Into<String>) -> Self {
        Self {
            name: None,
            kind: kind.into(),
            params: empty_params(),
            interval: DEFAULT_INTERVAL,
            timeout: DEFAULT_TIMEOUT,
            jitter: Duration::ZERO,
            failure_threshold: DEFAULT_FAILURE_THRESHOLD,
            success_threshold: DEFAULT_SUCCESS_THRESHOLD,
            degraded_latency: None,
            enabled: true,
        }
    }

    /// Sets the name.
    #[must_use]
    pub fn named(mut self, name: CheckId) -> Self {
        self.name = Some(name);
        self
    }

    /// Sets the params.
    #[must_use]
    pub fn with_params(mut self, params: serde_json::Value) -> Self {
        self.params = params;
        self
    }

    /// Sets interval and timeout.
    #[must_use]
    pub fn every(mut self, interval: Duration, timeout: Duration) -> Self {
        self.interval = interval;
        self.timeout = timeout;
        self
    }

    /// The check's name: `name`, or `kind` when unnamed.
    ///
    /// `kind` is validated by [`CheckSpec::validate`]; an invalid kind falls
    /// back to the literal `"check"` here rather than panicking.
    pub fn id(&self) -> CheckId {
        match &self.name {
            Some(n) => n.clone(),
            None => CheckId::new(&self.kind)
                .unwrap_or_else(|_| CheckId::new("check").expect("literal id is valid")),
        }
    }

    /// The full key of this check on `target`.
    pub fn key(&self, target: &TargetId) -> CheckKey {
        CheckKey::new(target.clone(), self.id())
    }

    /// Checks every rule; the error names the field.
    ///
    /// Rules: kind is 1..=64 of `[a-z0-9_-]`; interval in 1 s..=7 d;
    /// 0 < timeout < interval; jitter < interval; thresholds in
    /// 1..=1000; degraded latency > 0 and below timeout; params an object.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.kind.is_empty()
            || self.kind.len() > 64
            || !self
                .kind
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            return Err(ValidationError::new(
                "kind",
                "must be 1..=64 characters of a-z, 0-9, '_' or '-'",
            ));
        }
        if self.interval < MIN_INTERVAL {
            return Err(ValidationError::new("interval", "must be at least 1s"));
        }
        if self.interval > MAX_INTERVAL {
            return Err(ValidationError::new("interval", "must be at most 7d"));
        }
        if self.timeout.is_zero() {
            return Err(ValidationError::new("timeout", "must be greater than 0"));
        }
        if self.timeout >= self.interval {
            return Err(ValidationError::new(
                "timeout",
                "must be less than interval",
            ));
        }
        if self.jitter >= self.interval {
            return Err(ValidationError::new("jitter", "must be less than interval"));
        }
        check_threshold("failure_threshold", self.failure_threshold)?;
        check_threshold("success_threshold", self.success_threshold)?;
        if let Some(d) = self.degraded_latency {
            if d.is_zero() {
                return Err(ValidationError::new(
                    "degraded_latency",
                    "must be greater than 0",
                ));
            }
            if d >= self.timeout {
                return Err(ValidationError::new(
                    "degraded_latency",
                    "must be less than timeout",
                ));
            }
        }
        if !self.params.is_object() {
            return Err(ValidationError::new("params", "must be a JSON object"));
        }
        Ok(())
    }
}

fn check_threshold(field: &'static str, v: u32) -> Result<(), ValidationError> {
    if v == 0 {
        return Err(ValidationError::new(field, "must be at least 1"));
    }
    if v > MAX_THRESHOLD {
        return Err(ValidationError::new(
            field,
            format!("must be at most {MAX_THRESHOLD}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_002() {
        let s = CheckSpec::new("tcp");
        assert_eq!(s.interval, Duration::from_secs(60));
        assert_eq!(s.timeout, Duration::from_secs(10));
        assert_eq!(s.failure_threshold, 3);
        assert_eq!(s.success_threshold, 1);
        assert!(s.enabled);
        assert!(s.degraded_latency.is_none());
        s.validate().unwrap();
    }

    #[test]
    fn each_rule_names_its_field() {
        let base = CheckSpec::new("tcp");
        let cases: Vec<(CheckSpec, &str)> = vec![
            (
                CheckSpec {
                    kind: "".into(),
                    ..base.clone()
                },
                "kind",
            ),
            (
                CheckSpec {
                    kind: "TCP".into(),
                    ..base.clone()
                },
                "kind",
            ),
            (
                CheckSpec {
                    interval: Duration::from_millis(500),
                    timeout: Duration::from_millis(100),
                    ..base.clone()
                },
                "interval",
            ),
            (
                CheckSpec {
                    timeout: Duration::ZERO,
                    ..base.clone()
                },
                "timeout",
            ),
            (
                CheckSpec {
                    timeout: Duration::from_secs(60),
                    ..base.clone()
                },
                "timeout",
            ),
            (
                CheckSpec {
                    jitter: Duration::from_secs(60),
                    ..base.clone()
                },
                "jitter",
            ),
            (
                CheckSpec {
                    failure_threshold: 0,
                    ..base.clone()
                },
                "failure_threshold",
            ),
            (
                CheckSpec {
                    success_threshold: 0,
                    ..base.clone()
                },
                "success_threshold",
            ),
            (
                CheckSpec {
                    failure_threshold: 1001,
                    ..base.clone()
                },
                "failure_threshold",
            ),
            (
                CheckSpec {
                    degraded_latency: Some(Duration::from_secs(10)),
                    ..base.clone()
                },
                "degraded_latency",
            ),
            (
                CheckSpec {
                    params: serde_json::json!([1]),
                    ..base.clone()
                },
                "params",
            ),
        ];
        for (spec, field) in cases {
            assert_eq!(spec.validate().unwrap_err().field(), field, "{spec:?}");
        }
    }

    #[test]
    fn humantime_and_unknown_fields() {
        let s: CheckSpec = serde_json::from_value(serde_json::json!({
            "kind": "http", "name": "api", "interval": "2m", "timeout": "5s",
            "degraded_latency": "800ms"
        }))
        .unwrap();
        assert_eq!(s.interval, Duration::from_secs(120));
        assert_eq!(s.degraded_latency, Some(Duration::from_millis(800)));
        assert_eq!(s.id().as_str(), "api");
        let err = serde_json::from_value::<CheckSpec>(serde_json::json!({"kind": "x", "bogus": 1}))
            .unwrap_err();
        assert!(err.to_string().contains("bogus"));
    }
}
