//! Validation errors for the pure core.
//!
//! Every constructor and validator in the pure modules returns a
//! [`ValidationError`] that names the field and the rule it broke, so a
//! config loader or an HTTP handler can show it as is.

use std::borrow::Cow;

/// A value was refused: `field` names where, `rule` says what was wrong.
///
/// ```
/// use healthcore::model::TargetId;
/// let err = TargetId::new("").unwrap_err();
/// assert_eq!(err.field(), "id");
/// assert!(err.to_string().contains("must not be empty"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {rule}")]
pub struct ValidationError {
    field: Cow<'static, str>,
    rule: Cow<'static, str>,
}

impl ValidationError {
    /// A new error for `field` breaking `rule`.
    pub fn new(field: impl Into<Cow<'static, str>>, rule: impl Into<Cow<'static, str>>) -> Self {
        Self {
            field: field.into(),
            rule: rule.into(),
        }
    }

    /// The field (dotted path for nested values, e.g. `check.timeout`).
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The rule that was broken, in words.
    pub fn rule(&self) -> &str {
        &self.rule
    }

    /// The same error with `prefix.` put before the field name, for nested
    /// validation (`checks[2]` + `timeout` → `checks[2].timeout`).
    #[must_use]
    pub fn within(self, prefix: &str) -> Self {
        Self {
            field: Cow::Owned(format!("{prefix}.{}", self.field)),
            rule: self.rule,
        }
    }
}
