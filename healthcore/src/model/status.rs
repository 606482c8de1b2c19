//! The status ladder and the cause that travels beside it.
//!
//! `unknown < healthy < degraded < down`: the order is the ladder, so a
//! target's status is the `max` of its enabled checks' statuses. The
//! [`Cause`] says *why* (stale, offline, timeout, …) so that seed 000's
//! healthy/stale/offline/unknown vocabulary needs no second ladder.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Health on the ladder. `Ord` follows the ladder: worst is greatest.
///
/// ```
/// use healthcore::model::Status;
/// assert!(Status::Unknown < Status::Healthy);
/// assert_eq!([Status::Healthy, Status::Down, Status::Degraded].into_iter().max(), Some(Status::Down));
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Nothing known yet, or only checker-side faults.
    #[default]
    Unknown,
    /// Working.
    Healthy,
    /// Working, but slowly, partly, or with some failures below threshold.
    Degraded,
    /// Not working.
    Down,
}

impl Status {
    /// All statuses, best-known first.
    pub const ALL: [Status; 4] = [
        Status::Unknown,
        Status::Healthy,
        Status::Degraded,
        Status::Down,
    ];

    /// The snake_case name used in JSON and SQL.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Unknown => "unknown",
            Status::Healthy => "healthy",
            Status::Degraded => "degraded",
            Status::Down => "down",
        }
    }

    /// Parses a snake_case name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// True for `degraded` and `down`.
    pub const fn is_problem(self) -> bool {
        matches!(self, Status::Degraded | Status::Down)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a status is what it is. Shown beside the status, never instead of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Cause {
    /// No particular reason (healthy, or first result).
    #[default]
    None,
    /// Passing checks.
    Passing,
    /// Failures below the failure threshold, or at it.
    Failing,
    /// A check passed but over its degraded latency, or warned.
    Slow,
    /// A check returned `warn`.
    Warning,
    /// The probe timed out.
    Timeout,
    /// The host or network could not be reached (not healed).
    Unreachable,
    /// The checker itself failed (permission, resolver, config).
    CheckerError,
    /// Passive target not seen within the stale threshold.
    Stale,
    /// Passive target not seen within the offline threshold.
    Offline,
    /// Passive target never seen.
    NeverSeen,
    /// State changes too often (Nagios-style flap detection).
    Flapping,
    /// In a maintenance window.
    Maintenance,
    /// A parent target is down.
    ParentDown,
    /// The check is disabled.
    Disabled,
}

impl Cause {
    /// The snake_case name used in JSON and SQL.
    pub const fn as_str(self) -> &'static str {
        match self {
            Cause::None => "none",
            Cause::Passing => "passing",
            Cause::Failing => "failing",
            Cause::Slow => "slow",
            Cause::Warning => "warning",
            Cause::Timeout => "timeout",
            Cause::Unreachable => "unreachable",
            Cause::CheckerError => "checker_error",
            Cause::Stale => "stale",
            Cause::Offline => "offline",
            Cause::NeverSeen => "never_seen",
            Cause::Flapping => "flapping",
            Cause::Maintenance => "maintenance",
            Cause::ParentDown => "parent_down",
            Cause::Disabled => "disabled",
        }
    }

    /// Parses a snake_case name.
    pub fn parse(s: &str) -> Option<Self> {
        const ALL: [Cause; 15] = [
            Cause::None,
            Cause::Passing,
            Cause::Failing,
            Cause::Slow,
            Cause::Warning,
            Cause::Timeout,
            Cause::Unreachable,
            Cause::CheckerError,
            Cause::Stale,
            Cause::Offline,
            Cause::NeverSeen,
            Cause::Flapping,
            Cause::Maintenance,
            Cause::ParentDown,
            Cause::Disabled,
        ];
        ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status with its cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Health {
    /// Where on the ladder.
    pub status: Status,
    /// Why.
    pub cause: Cause,
}

impl Health {
    /// A status with a cause.
    pub const fn new(status: Status, cause: Cause) -> Self {
        Self { status, cause }
    }

    /// The worst of several: highest status wins; on a tie the first cause
    /// is kept. Empty input gives `unknown`.
    pub fn worst(items: impl IntoIterator<Item = Health>) -> Health {
        items
            .into_iter()
            .fold(None, |acc: Option<Health>, h| match acc {
                Some(a) if a.status >= h.status => Some(a),
                _ => Some(h),
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ladder_order() {
        assert!(Status::Unknown < Status::Healthy);
        assert!(Status::Healthy < Status::Degraded);
        assert!(Status::Degraded < Status::Down);
    }

    #[test]
    fn names_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        assert_eq!(Cause::parse("parent_down"), Some(Cause::ParentDown));
        assert_eq!(Cause::parse("nope"), None);
    }

    #[test]
    fn worst_of() {
        let h = Health::worst([
            Health::new(Status::Healthy, Cause::Passing),
            Health::new(Status::Down, Cause::Timeout),
            Health::new(Status::Degraded, Cause::Slow),
        ]);
        assert_eq!(h, Health::new(Status::Down, Cause::Timeout));
        assert_eq!(Health::worst([]), Health::default());
    }
}
