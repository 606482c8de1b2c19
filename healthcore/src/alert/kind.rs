//! [`AlertKind`], [`Severity`], [`AlertStatus`] and [`KindSet`], the
//! fixed-size set of built-in kinds used by alert plans.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ValidationError;

/// Prefix of a custom kind's name in its string form (`custom:disk_full`).
pub const CUSTOM_PREFIX: &str = "custom:";

/// Longest custom kind name (after the prefix), in bytes.
pub const MAX_CUSTOM_LEN: usize = 64;

/// What an alert is about. At most one unresolved alert exists per target
/// and kind.
///
/// Serialised as a plain snake_case string; a custom kind is its name
/// prefixed `custom:`. Parsing also accepts the seed-000 names
/// `node_stale`, `node_offline` and `low_health_score`.
///
/// ```
/// use healthcore::alert::AlertKind;
/// assert_eq!(AlertKind::parse("node_stale").unwrap(), AlertKind::Stale);
/// assert_eq!(AlertKind::LowScore.as_str(), "low_score");
/// let disk = AlertKind::custom("disk_full").unwrap();
/// assert_eq!(serde_json::to_string(&disk).unwrap(), "\"custom:disk_full\"");
/// assert!(AlertKind::parse("custom:Disk Full").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum AlertKind {
    /// A passive target has not been seen within its stale threshold.
    Stale,
    /// A passive target has not been seen within its offline threshold.
    Offline,
    /// An active check is down.
    Down,
    /// An active check is degraded.
    Degraded,
    /// The health score is below the policy's threshold.
    LowScore,
    /// An installation ran past its timeout (seed 001).
    InstallTimeout,
    /// The circuit breaker is open.
    BreakerOpen,
    /// Auto-heal used all its attempts without recovery.
    HealExhausted,
    /// The target's state changes too often.
    Flapping,
    /// An SLO's error budget burns too fast.
    SloBurn,
    /// An application-defined kind: 1..=64 characters of `[a-z0-9_-]`,
    /// without the `custom:` prefix.
    Custom(String),
}

impl AlertKind {
    /// The built-in kinds, in [`KindSet`] bit order.
    pub const BUILTIN: [AlertKind; 10] = [
        AlertKind::Stale,
        AlertKind::Offline,
        AlertKind::Down,
        AlertKind::Degraded,
        AlertKind::LowScore,
        AlertKind::InstallTimeout,
        AlertKind::BreakerOpen,
        AlertKind::HealExhausted,
        AlertKind::Flapping,
        AlertKind::SloBurn,
    ];

    /// A validated custom kind named `name` (without the prefix).
    pub fn custom(name: impl Into<String>) -> Result<Self, ValidationError> {
        let name = name.into();
        validate_custom(&name)?;
        Ok(AlertKind::Custom(name))
    }

    /// The name of a built-in kind; `None` for a custom one.
    pub const fn builtin_name(&self) -> Option<&'static str> {
        Some(match self {
            AlertKind::Stale => "stale",
            AlertKind::Offline => "offline",
            AlertKind::Down => "down",
            AlertKind::Degraded => "degraded",
            AlertKind::LowScore => "low_score",
            AlertKind::InstallTimeout => "install_timeout",
            AlertKind::BreakerOpen => "breaker_open",
            AlertKind::HealExhausted => "heal_exhausted",
            AlertKind::Flapping => "flapping",
            AlertKind::SloBurn => "slo_burn",
            AlertKind::Custom(_) => return None,
        })
    }

    /// The seed-000 name of this kind, where it had another one
    /// (`node_stale`, `node_offline`, `low_health_score`).
    pub const fn legacy_name(&self) -> Option<&'static str> {
        match self {
            AlertKind::Stale => Some("node_stale"),
            AlertKind::Offline => Some("node_offline"),
            AlertKind::LowScore => Some("low_health_score"),
            _ => None,
        }
    }

    /// The string form: borrowed for built-in kinds, `custom:<name>` for a
    /// custom one.
    pub fn as_str(&self) -> Cow<'static, str> {
        match self {
            AlertKind::Custom(name) => Cow::Owned(format!("{CUSTOM_PREFIX}{name}")),
            builtin => Cow::Borrowed(builtin.builtin_name().unwrap_or(CUSTOM_PREFIX)),
        }
    }

    /// Parses the string form (or a seed-000 alias). The error names the
    /// field `kind`.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        if let Some(name) = s.strip_prefix(CUSTOM_PREFIX) {
            validate_custom(name)?;
            return Ok(AlertKind::Custom(name.to_owned()));
        }
        match s {
            "node_stale" => return Ok(AlertKind::Stale),
            "node_offline" => return Ok(AlertKind::Offline),
            "low_health_score" => return Ok(AlertKind::LowScore),
            _ => {}
        }
        Self::BUILTIN
            .into_iter()
            .find(|k| k.builtin_name() == Some(s))
            .ok_or_else(|| {
                ValidationError::new(
                    "kind",
                    "unknown alert kind (expected a built-in kind or custom:<name>)",
                )
            })
    }

    /// True for [`AlertKind::Custom`].
    pub const fn is_custom(&self) -> bool {
        matches!(self, AlertKind::Custom(_))
    }

    /// Checks a custom kind's name; built-in kinds are always valid.
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            AlertKind::Custom(name) => validate_custom(name),
            _ => Ok(()),
        }
    }

    /// The bit of a built-in kind in a [`KindSet`]; `None` for custom.
    const fn bit(&self) -> Option<u16> {
        let i = match self {
            AlertKind::Stale => 0,
            AlertKind::Offline => 1,
            AlertKind::Down => 2,
            AlertKind::Degraded => 3,
            AlertKind::LowScore => 4,
            AlertKind::InstallTimeout => 5,
            AlertKind::BreakerOpen => 6,
            AlertKind::HealExhausted => 7,
            AlertKind::Flapping => 8,
            AlertKind::SloBurn => 9,
            AlertKind::Custom(_) => return None,
        };
        Some(1 << i)
    }
}

fn validate_custom(name: &str) -> Result<(), ValidationError> {
    if name.is_empty()
        || name.len() > MAX_CUSTOM_LEN
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return Err(ValidationError::new(
            "kind",
            "a custom kind must be custom: followed by 1..=64 characters of a-z, 0-9, '_' or '-'",
        ));
    }
    Ok(())
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlertKind::Custom(name) => write!(f, "{CUSTOM_PREFIX}{name}"),
            builtin => f.write_str(builtin.builtin_name().unwrap_or(CUSTOM_PREFIX)),
        }
    }
}

impl std::str::FromStr for AlertKind {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for AlertKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AlertKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = Cow::<'de, str>::deserialize(deserializer)?;
        AlertKind::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// How urgent an alert is. `warning < critical`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Look at it soon.
    #[default]
    Warning,
    /// Look at it now.
    Critical,
}

impl Severity {
    /// The default severity of a kind: seed 000's table (stale warning,
    /// offline critical, low_score warning, install_timeout critical),
    /// then down critical, degraded warning, breaker_open critical,
    /// heal_exhausted critical, flapping warning, slo_burn critical and
    /// custom warning.
    pub const fn default_for(kind: &AlertKind) -> Severity {
        match kind {
            AlertKind::Offline
            | AlertKind::InstallTimeout
            | AlertKind::Down
            | AlertKind::BreakerOpen
            | AlertKind::HealExhausted
            | AlertKind::SloBurn => Severity::Critical,
            AlertKind::Stale
            | AlertKind::LowScore
            | AlertKind::Degraded
            | AlertKind::Flapping
            | AlertKind::Custom(_) => Severity::Warning,
        }
    }

    /// The snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// Parses a snake_case name.
    pub fn parse(s: &str) -> Option<Self> {
        [Severity::Warning, Severity::Critical]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an alert is in its lifecycle: active → acknowledged → resolved,
/// or active → resolved. A resolved alert never reopens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// Firing and nobody has taken it.
    #[default]
    Active,
    /// Someone has taken it; reminders and escalation stop.
    Acknowledged,
    /// The condition cleared (or the alert was closed).
    Resolved,
}

impl AlertStatus {
    /// The snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Active => "active",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Resolved => "resolved",
        }
    }

    /// Parses a snake_case name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            AlertStatus::Active,
            AlertStatus::Acknowledged,
            AlertStatus::Resolved,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

impl fmt::Display for AlertStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of built-in [`AlertKind`]s as a bitset: `Copy`, no heap.
/// Custom kinds cannot be members.
///
/// ```
/// use healthcore::alert::{AlertKind, KindSet};
/// let mut s = KindSet::EMPTY;
/// assert!(s.insert(&AlertKind::Down));
/// assert!(s.contains(&AlertKind::Down));
/// assert_eq!(s.iter().collect::<Vec<_>>(), vec![AlertKind::Down]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct KindSet(u16);

impl KindSet {
    /// The empty set.
    pub const EMPTY: KindSet = KindSet(0);

    /// Adds `kind`; false (and no change) for a custom kind.
    pub fn insert(&mut self, kind: &AlertKind) -> bool {
        match kind.bit() {
            Some(b) => {
                self.0 |= b;
                true
            }
            None => false,
        }
    }

    /// Removes `kind`.
    pub fn remove(&mut self, kind: &AlertKind) {
        if let Some(b) = kind.bit() {
            self.0 &= !b;
        }
    }

    /// True when `kind` is a member.
    pub fn contains(&self, kind: &AlertKind) -> bool {
        kind.bit().is_some_and(|b| self.0 & b != 0)
    }

    /// True when no kind is a member.
    pub const fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// The number of members.
    pub const fn len(&self) -> usize {
        self.0.count_ones() as usize
    }

    /// The members, in [`AlertKind::BUILTIN`] order (no allocation).
    pub fn iter(&self) -> impl Iterator<Item = AlertKind> + '_ {
        let bits = self.0;
        AlertKind::BUILTIN
            .into_iter()
            .enumerate()
            .filter(move |(i, _)| bits & (1 << i) != 0)
            .map(|(_, k)| k)
    }
}

impl FromIterator<AlertKind> for KindSet {
    fn from_iter<I: IntoIterator<Item = AlertKind>>(iter: I) -> Self {
        let mut s = KindSet::EMPTY;
        for k in iter {
            s.insert(&k);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_names_round_trip() {
        for k in AlertKind::BUILTIN {
            let s = k.as_str();
            assert!(matches!(s, Cow::Borrowed(_)));
            assert_eq!(AlertKind::parse(&s).unwrap(), k);
            assert_eq!(k.to_string(), s);
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{s}\""));
            assert_eq!(serde_json::from_str::<AlertKind>(&json).unwrap(), k);
        }
    }

    #[test]
    fn aliases_from_seed_000() {
        assert_eq!(AlertKind::parse("node_stale").unwrap(), AlertKind::Stale);
        assert_eq!(
            AlertKind::parse("node_offline").unwrap(),
            AlertKind::Offline
        );
        assert_eq!(
            AlertKind::parse("low_health_score").unwrap(),
            AlertKind::LowScore
        );
        assert_eq!(
            serde_json::from_str::<AlertKind>("\"node_offline\"").unwrap(),
            AlertKind::Offline
        );
        assert_eq!(AlertKind::Stale.legacy_name(), Some("node_stale"));
        assert_eq!(AlertKind::Down.legacy_name(), None);
        // Aliases are read, never written.
        assert_eq!(AlertKind::Stale.as_str(), "stale");
    }

    #[test]
    fn custom_kinds() {
        let k = AlertKind::parse("custom:disk-full_2").unwrap();
        assert_eq!(k, AlertKind::Custom("disk-full_2".into()));
        assert_eq!(k.as_str(), "custom:disk-full_2");
        assert_eq!(k.to_string(), "custom:disk-full_2");
        assert!(k.is_custom());
        k.validate().unwrap();
        let max = "a".repeat(64);
        AlertKind::parse(&format!("custom:{max}")).unwrap();
        for bad in [
            "custom:",
            "custom:Disk",
            "custom:a b",
            "custom:ü",
            "bogus",
            "",
            "Stale",
        ] {
            let err = AlertKind::parse(bad).unwrap_err();
            assert_eq!(err.field(), "kind", "{bad}");
        }
        assert!(AlertKind::parse(&format!("custom:{max}a")).is_err());
        assert!(AlertKind::Custom("X".into()).validate().is_err());
        assert!(AlertKind::custom("ok").is_ok());
        assert!(serde_json::from_str::<AlertKind>("\"custom:NO\"").is_err());
    }

    #[test]
    fn severity_defaults() {
        use AlertKind::*;
        let expect = [
            (Stale, Severity::Warning),
            (Offline, Severity::Critical),
            (LowScore, Severity::Warning),
            (InstallTimeout, Severity::Critical),
            (Down, Severity::Critical),
            (Degraded, Severity::Warning),
            (BreakerOpen, Severity::Critical),
            (HealExhausted, Severity::Critical),
            (Flapping, Severity::Warning),
            (SloBurn, Severity::Critical),
            (Custom("x".into()), Severity::Warning),
        ];
        for (k, s) in expect {
            assert_eq!(Severity::default_for(&k), s, "{k}");
        }
        assert!(Severity::Warning < Severity::Critical);
        assert_eq!(Severity::parse("critical"), Some(Severity::Critical));
        assert_eq!(Severity::parse("fatal"), None);
        assert_eq!(
            serde_json::to_string(&Severity::Critical).unwrap(),
            "\"critical\""
        );
    }

    #[test]
    fn status_names() {
        for s in [
            AlertStatus::Active,
            AlertStatus::Acknowledged,
            AlertStatus::Resolved,
        ] {
            assert_eq!(AlertStatus::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert_eq!(AlertStatus::default(), AlertStatus::Active);
    }

    #[test]
    fn kind_set() {
        let mut s = KindSet::EMPTY;
        assert!(s.is_empty());
        assert!(!s.insert(&AlertKind::Custom("x".into())));
        assert!(s.is_empty());
        for k in AlertKind::BUILTIN {
            assert!(s.insert(&k));
        }
        assert_eq!(s.len(), 10);
        assert_eq!(s.iter().collect::<Vec<_>>(), AlertKind::BUILTIN.to_vec());
        s.remove(&AlertKind::Stale);
        assert!(!s.contains(&AlertKind::Stale));
        assert!(s.contains(&AlertKind::SloBurn));
        assert!(!s.contains(&AlertKind::Custom("x".into())));
        let t: KindSet = [AlertKind::Down, AlertKind::Down].into_iter().collect();
        assert_eq!(t.len(), 1);
    }
}
