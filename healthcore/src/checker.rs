//! [`Checker`]: the trait every probe implements.
//!
//! A checker runs one check described by a [`CheckSpec`] and says what it
//! saw as an [`Observation`]. It must tell *unreachable* (host or network)
//! from *fail* (reachable, service bad): only the latter is ever healed.
//! Checker-side faults (no permission, resolver down, bad params) are
//! `unknown`, never `fail`. The engine enforces the spec's timeout around
//! every call and stamps the observation's time from its own clock, so a
//! checker may leave `at` as the time it finished.

use async_trait::async_trait;

use crate::error::ValidationError;
use crate::model::{CheckSpec, Observation};

/// A probe of one kind (`tcp`, `http`, `command`, …), shared as
/// `Arc<dyn Checker>`.
///
/// ```
/// use async_trait::async_trait;
/// use healthcore::checker::Checker;
/// use healthcore::model::{CheckSpec, Observation, Outcome};
///
/// #[derive(Debug)]
/// struct AlwaysUp;
///
/// #[async_trait]
/// impl Checker for AlwaysUp {
///     fn kind(&self) -> &str { "always_up" }
///     async fn check(&self, _spec: &CheckSpec) -> Observation {
///         Observation::new(chrono::Utc::now(), Outcome::Pass)
///     }
/// }
/// let c: std::sync::Arc<dyn Checker> = std::sync::Arc::new(AlwaysUp);
/// assert_eq!(c.kind(), "always_up");
/// ```
#[async_trait]
pub trait Checker: Send + Sync + std::fmt::Debug {
    /// The kind this checker serves; matches [`CheckSpec::kind`].
    fn kind(&self) -> &str;

    /// Validates `spec.params` for this kind at registration, naming the
    /// field (`params.port`) on error. The default accepts anything.
    fn validate(&self, spec: &CheckSpec) -> Result<(), ValidationError> {
        let _ = spec;
        Ok(())
    }

    /// Runs the check once and reports what it saw. Never panics on bad
    /// input: a bad param is an `unknown` observation with a message.
    async fn check(&self, spec: &CheckSpec) -> Observation;

    /// An extended run for the "diagnose" quick action: the same check with
    /// more detail in `details`. Defaults to [`Checker::check`].
    async fn diagnose(&self, spec: &CheckSpec) -> Observation {
        self.check(spec).await
    }
}
