//! [`Healer`]: carries out a heal action (restart, stop, migrate, a named
//! custom action) on a target.
//!
//! Actions come from operator configuration by name and run as argv, never
//! as a shell string; the API can trigger them, never define them. The
//! decision to heal is the pure core's (see [`crate::heal`]).

use async_trait::async_trait;

use crate::heal::{HealAction, HealOutcome};
use crate::model::Target;

/// Performs heal actions, shared as `Arc<dyn Healer>`.
#[async_trait]
pub trait Healer: Send + Sync + std::fmt::Debug {
    /// Carries out `action` on `target` and reports how it went.
    async fn heal(&self, target: &Target, action: &HealAction) -> HealOutcome;
}

/// Where the "last N log lines" quick action reads from.
#[async_trait]
pub trait LogSource: Send + Sync + std::fmt::Debug {
    /// The last `lines` lines of `target`'s log, oldest first.
    async fn last_lines(&self, target: &Target, lines: usize) -> Result<Vec<String>, LogError>;
}

/// Why logs could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// No log is configured for this target.
    #[error("no log source configured for {0}")]
    NotConfigured(String),
    /// Reading failed.
    #[error("reading logs failed: {0}")]
    Io(String),
}
