//! Auto-heal policy (seed 002, with 003's gates and Kubernetes-style
//! backoff): which policy covers a target, whether to heal it now, and the
//! heal event that records each decision.
//!
//! This module owns the *rules*: [`HealPolicy`] and its validation,
//! [`select_policy`], the pure [`decide`] and the [`HealState`] updates
//! ([`record_attempt`], [`observe_status`], [`reset`], [`newly_exhausted`]),
//! and the [`HealEvent`] record. It must not run actions, talk to a store,
//! read the clock or define what an action does: actions are names
//! ([`HealAction`]) that a `Healer` configured by the operator maps to a
//! command (DESIGN §7); the engine runs it and returns a [`HealOutcome`].
//!
//! The engine's loop per deciding observation:
//!
//! ```
//! use healthcore::heal::*;
//! use healthcore::model::{Outcome, Status, Target, TargetId};
//! let now = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
//! let target = Target::new(TargetId::new("pod-1").unwrap(), "pod-1");
//! let policies = vec![HealPolicy::new("p1", target.tenant.clone(), "default")];
//! let mut state = HealState::default();
//!
//! let policy = select_policy(&policies, &target).unwrap();
//! observe_status(&mut state, policy, Status::Down, now);
//! let input = HealInput {
//!     outcome: Outcome::Fail, status: Status::Down, consecutive_failures: 3,
//!     breaker_allows: true, in_maintenance: false, flapping: false,
//! };
//! let decision = decide(policy, &state, &input, now);
//! let raise_exhausted_alert = newly_exhausted(&state, &decision);
//! record_attempt(&mut state, &decision, now);
//! let event = HealEvent::from_decision("ev-1", target.id.clone(), policy, &decision,
//!     Some(input.status), now);
//! assert!(matches!(decision, HealDecision::Heal { attempt: 1, .. }));
//! assert!(!raise_exhausted_alert);
//! assert_eq!(event.unwrap().result, HealResult::Pending);
//! assert_eq!(state.attempts, 1);
//! ```

mod action;
mod decide;
mod event;
mod policy;

pub use action::{BUILTIN_ACTIONS, HealAction, MAX_ACTION_NAME_LEN};
pub use decide::{
    HealDecision, HealInput, HealState, SkipReason, decide, newly_exhausted, observe_status,
    record_attempt, reset,
};
pub use event::{HealEvent, HealOutcome, HealResult};
pub use policy::{
    BackoffConfig, DEFAULT_BACKOFF_INITIAL, DEFAULT_BACKOFF_MAX, DEFAULT_BACKOFF_RESET_AFTER,
    DEFAULT_COOLDOWN, DEFAULT_MAX_ATTEMPTS, DEFAULT_TRIGGER_AFTER_FAILURES, HealPolicy,
    HealSelector, MAX_HEAL_ATTEMPTS, select_policy,
};
