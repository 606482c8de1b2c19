//! [`HealAction`]: what a heal does, by name.
//!
//! Actions are named, never defined, here: the four built-ins of seed 002
//! and custom names that an operator maps to a concrete command in the
//! healer's configuration (DESIGN §7). The API may trigger an action by
//! name; it can never say what the action runs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

/// Longest custom action name, in bytes (all characters are ASCII).
pub const MAX_ACTION_NAME_LEN: usize = 64;

/// The names of the built-in actions, in declaration order.
pub const BUILTIN_ACTIONS: [&str; 4] = ["restart", "stop", "migrate", "notify_only"];

/// What a heal does. Serialised as a plain string: `restart`, `stop`,
/// `migrate`, `notify_only`, or the custom action's name.
///
/// A custom name is 1..=64 characters of `[a-z0-9_-]` and may not be one
/// of the built-in names (parsing a built-in name gives the built-in, so
/// `Custom("restart")` can only be built by hand, and
/// [`HealAction::validate`] refuses it).
///
/// The enum is deliberately exhaustive: new behaviour arrives as a
/// [`HealAction::Custom`] name wired up in a healer, not as a new variant.
///
/// ```
/// use healthcore::heal::HealAction;
/// assert_eq!(HealAction::parse("restart").unwrap(), HealAction::Restart);
/// let a = HealAction::parse("drain-node").unwrap();
/// assert_eq!(a, HealAction::Custom("drain-node".into()));
/// assert_eq!(serde_json::to_string(&a).unwrap(), "\"drain-node\"");
/// assert_eq!(HealAction::parse("rm -rf /").unwrap_err().field(), "action");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum HealAction {
    /// Restart the target's service or workload.
    Restart,
    /// Stop it (stop a crash loop from hurting neighbours).
    Stop,
    /// Move it elsewhere (another host or node).
    Migrate,
    /// Do nothing but notify.
    NotifyOnly,
    /// An operator-configured action, by name.
    Custom(String),
}

impl HealAction {
    /// The action's name as serialised.
    pub fn as_str(&self) -> &str {
        match self {
            HealAction::Restart => "restart",
            HealAction::Stop => "stop",
            HealAction::Migrate => "migrate",
            HealAction::NotifyOnly => "notify_only",
            HealAction::Custom(name) => name,
        }
    }

    /// Parses a name: a built-in name gives the built-in, any other valid
    /// name a [`HealAction::Custom`]. The error names the field `action`.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        match s {
            "restart" => Ok(HealAction::Restart),
            "stop" => Ok(HealAction::Stop),
            "migrate" => Ok(HealAction::Migrate),
            "notify_only" => Ok(HealAction::NotifyOnly),
            other => {
                check_custom_name(other)?;
                Ok(HealAction::Custom(other.to_owned()))
            }
        }
    }

    /// A custom action; refuses invalid names and built-in names.
    pub fn custom(name: impl Into<String>) -> Result<Self, ValidationError> {
        let name = name.into();
        check_custom_name(&name)?;
        if BUILTIN_ACTIONS.contains(&name.as_str()) {
            return Err(builtin_collision());
        }
        Ok(HealAction::Custom(name))
    }

    /// True for the four built-in actions.
    pub fn is_builtin(&self) -> bool {
        !matches!(self, HealAction::Custom(_))
    }

    /// Checks a hand-built [`HealAction::Custom`] (built-ins are always
    /// valid); the error names the field `action`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            HealAction::Custom(name) => {
                check_custom_name(name)?;
                if BUILTIN_ACTIONS.contains(&name.as_str()) {
                    return Err(builtin_collision());
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

fn builtin_collision() -> ValidationError {
    ValidationError::new(
        "action",
        "a custom action must not use a built-in name (restart, stop, migrate, notify_only)",
    )
}

fn check_custom_name(name: &str) -> Result<(), ValidationError> {
    if name.is_empty()
        || name.len() > MAX_ACTION_NAME_LEN
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return Err(ValidationError::new(
            "action",
            "must be restart, stop, migrate, notify_only or a custom name of 1..=64 characters of a-z, 0-9, '_' or '-'",
        ));
    }
    Ok(())
}

impl fmt::Display for HealAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for HealAction {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for HealAction {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.as_str() {
            "restart" | "stop" | "migrate" | "notify_only" => Self::parse(&value),
            _ => {
                check_custom_name(&value)?;
                Ok(HealAction::Custom(value))
            }
        }
    }
}

impl From<HealAction> for String {
    fn from(value: HealAction) -> String {
        match value {
            HealAction::Custom(name) => name,
            builtin => builtin.as_str().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn builtins_round_trip() {
        for (name, action) in BUILTIN_ACTIONS.iter().zip([
            HealAction::Restart,
            HealAction::Stop,
            HealAction::Migrate,
            HealAction::NotifyOnly,
        ]) {
            assert_eq!(HealAction::parse(name).unwrap(), action);
            assert_eq!(action.as_str(), *name);
            assert!(action.is_builtin());
            let json = serde_json::to_string(&action).unwrap();
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<HealAction>(&json).unwrap(), action);
        }
    }

    #[test]
    fn custom_names() {
        let a = HealAction::custom("escalate").unwrap();
        assert_eq!(a.as_str(), "escalate");
        assert!(!a.is_builtin());
        a.validate().unwrap();
        assert!(HealAction::custom("x".repeat(64)).is_ok());
        for bad in ["", "Restart", "a b", "x;y", "é", &"x".repeat(65)] {
            assert_eq!(
                HealAction::parse(bad).unwrap_err().field(),
                "action",
                "{bad}"
            );
            assert!(serde_json::from_value::<HealAction>(serde_json::json!(bad)).is_err());
        }
        let err = HealAction::custom("restart").unwrap_err();
        assert!(err.rule().contains("built-in"));
        assert!(HealAction::Custom("stop".into()).validate().is_err());
        assert!(HealAction::Custom("".into()).validate().is_err());
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_round_trips(s in "\\PC{0,80}") {
            if let Ok(a) = HealAction::parse(&s) {
                prop_assert_eq!(a.as_str(), s.as_str());
                prop_assert!(a.validate().is_ok());
                let json = serde_json::to_string(&a).unwrap();
                prop_assert_eq!(serde_json::from_str::<HealAction>(&json).unwrap(), a);
            }
        }

        #[test]
        fn valid_names_parse(s in "[a-z0-9_-]{1,64}") {
            let a = HealAction::parse(&s).unwrap();
            prop_assert_eq!(a.is_builtin(), BUILTIN_ACTIONS.contains(&s.as_str()));
        }
    }
}
