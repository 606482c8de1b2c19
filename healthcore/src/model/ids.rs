//! Validated identifiers: [`TargetId`], [`CheckId`], [`TenantId`].
//!
//! An id is 1..=128 characters with no control characters. Ids are
//! compared as exact strings; they are never normalised.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

/// Longest id accepted, in characters.
pub const MAX_ID_LEN: usize = 128;

fn validate_id(field: &'static str, value: &str) -> Result<(), ValidationError> {
    if value.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if value.chars().count() > MAX_ID_LEN {
        return Err(ValidationError::new(
            field,
            format!("must be at most {MAX_ID_LEN} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        ///
        /// Cheap to clone (a shared string).
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(Arc<str>);

        impl $name {
            /// Validates and wraps `value`.
            pub fn new(value: impl AsRef<str>) -> Result<Self, ValidationError> {
                let value = value.as_ref();
                validate_id($field, value)?;
                Ok(Self(Arc::from(value)))
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), &*self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::new(value)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = ValidationError;
            fn try_from(value: &str) -> Result<Self, Self::Error> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0.to_string()
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }
    };
}

id_type!(
    /// Identifies a monitored target (node, pod, VPS, service).
    TargetId,
    "id"
);
id_type!(
    /// Names a check within its target; defaults to the check's kind.
    CheckId,
    "check"
);
id_type!(
    /// Identifies a tenant: the owner of targets and heal policies.
    TenantId,
    "tenant"
);

/// A check's full key: the target and the check's name within it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CheckKey {
    /// The target the check belongs to.
    pub target: TargetId,
    /// The check's name within the target.
    pub check: CheckId,
}

impl CheckKey {
    /// A key from its parts.
    pub fn new(target: TargetId, check: CheckId) -> Self {
        Self { target, check }
    }
}

impl fmt::Display for CheckKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.target, self.check)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_ids() {
        assert_eq!(TargetId::new("node-1").unwrap().as_str(), "node-1");
        assert!(TenantId::new("é".repeat(128)).is_ok());
    }

    #[test]
    fn refuses_empty_long_and_control() {
        assert_eq!(TargetId::new("").unwrap_err().field(), "id");
        assert_eq!(CheckId::new("x".repeat(129)).unwrap_err().field(), "check");
        let err = TenantId::new("a\nb").unwrap_err();
        assert_eq!(err.field(), "tenant");
        assert!(err.rule().contains("control"));
    }

    #[test]
    fn serde_validates() {
        let ok: TargetId = serde_json::from_str("\"n1\"").unwrap();
        assert_eq!(ok.as_str(), "n1");
        assert!(serde_json::from_str::<TargetId>("\"\"").is_err());
        assert_eq!(serde_json::to_string(&ok).unwrap(), "\"n1\"");
    }
}
