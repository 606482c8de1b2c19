//! [`EngineError`]: what the engine's API can refuse or fail with.

use crate::error::ValidationError;
use crate::fleet::FleetError;
use crate::store::StoreError;

/// An engine operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The thing does not exist.
    #[error("{what} not found: {id}")]
    NotFound {
        /// `target`, `check`, `alert`, `checklist item`, …
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// The input broke a rule; the error names the field.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The operation conflicts with the current state (e.g. acknowledging
    /// an alert that is not active).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A value that must be unique is taken: a target id on create, a MAC
    /// address another target has. The error names the field.
    #[error("{message}")]
    AlreadyExists {
        /// The field holding the taken value (`id`, `mac_address`).
        field: String,
        /// What is taken, for people.
        message: String,
    },
    /// No checker is registered for this kind.
    #[error("no checker registered for kind {0:?}")]
    NoChecker(String),
    /// A destructive action was not confirmed.
    #[error("confirmation required: set confirm to {expected:?}")]
    ConfirmationRequired {
        /// The value that confirms it.
        expected: String,
    },
    /// The feature is not configured (no log source, no healer).
    #[error("not configured: {0}")]
    NotConfigured(&'static str),
    /// The check is passive (a heartbeat): it is judged from reports and
    /// cannot be run on demand.
    #[error("check {key} is passive: it is judged from the reports it receives and cannot be run")]
    PassiveCheck {
        /// The check (`target/check`).
        key: String,
    },
    /// A collaborator the operation needs (the log source) failed; the
    /// detail is logged, not returned.
    #[error("{0} failed; see the server log")]
    Unavailable(&'static str),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl EngineError {
    pub(crate) fn not_found(what: &'static str, id: impl std::fmt::Display) -> Self {
        EngineError::NotFound {
            what,
            id: id.to_string(),
        }
    }
}

impl From<FleetError> for EngineError {
    fn from(e: FleetError) -> Self {
        match e {
            FleetError::TargetNotFound(id) => EngineError::not_found("target", id),
            FleetError::CheckNotFound(key) => EngineError::not_found("check", key),
            FleetError::Invalid(v) => EngineError::Invalid(v),
            FleetError::Alert(a) => match a {
                crate::alert::AlertError::NotFound { id } => EngineError::not_found("alert", id),
                other => EngineError::Conflict(other.to_string()),
            },
            #[allow(unreachable_patterns)]
            other => EngineError::Conflict(other.to_string()),
        }
    }
}
