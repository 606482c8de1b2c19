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
///
/// The engine calls [`try_heal`](Healer::try_heal), whose default is
/// [`heal`](Healer::heal) (every outcome definitive). A healer that can
/// tell "the target could not be reached, the action did not run" (a
/// refused SSH connection, an API endpoint down) from a definitive result
/// overrides `try_heal` and returns [`HealError::Unreachable`] for it: the
/// engine then retries with capped, jittered backoff within the heal
/// timeout before recording the heal as failed. A definitive
/// [`HealOutcome::Failed`] (the action ran and failed) is never retried.
#[async_trait]
pub trait Healer: Send + Sync + std::fmt::Debug {
    /// Carries out `action` on `target` and reports how it went.
    async fn heal(&self, target: &Target, action: &HealAction) -> HealOutcome;

    /// Like [`heal`](Healer::heal), but a transport failure that kept the
    /// action from running is an [`Err`] the engine retries. The default
    /// calls `heal` and never fails.
    async fn try_heal(
        &self,
        target: &Target,
        action: &HealAction,
    ) -> Result<HealOutcome, HealError> {
        Ok(self.heal(target, action).await)
    }

    /// The names of the actions this healer can carry out, when it has a
    /// fixed list (`None`, the default: any action is tried, and one it
    /// does not know fails when it runs). The engine refuses a heal policy
    /// whose `action` or `escalation_action` is outside the list
    /// (`notify_only` always passes), so a typo is an error when the
    /// policy is saved, not a failed heal in the middle of an outage.
    fn action_names(&self) -> Option<Vec<String>> {
        None
    }
}

/// A heal attempt that did not get to run the action
/// ([`Healer::try_heal`]); retrying may succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HealError {
    /// The target (or the system that acts on it) could not be reached:
    /// connection refused or reset, name resolution, a transport timeout.
    #[error("target unreachable: {0}")]
    Unreachable(String),
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
