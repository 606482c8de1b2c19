//! Alerts: kinds, severities, the lifecycle of one alert, the rules that
//! raise and resolve them, the dedup ledger, and when to notify.
//!
//! Owns (seeds 000 and 004, DESIGN §4 "Alerts"):
//! - [`AlertKind`], [`Severity`], [`AlertStatus`], [`Alert`] with its
//!   active → acknowledged → resolved lifecycle (a resolved alert never
//!   reopens; a new raise is a new alert with a new id);
//! - [`AlertPolicy`], the alert config (switches, low-score threshold,
//!   suppression window, reminders, escalation delay, severity overrides);
//! - [`evaluate`]: seed 000's `check_all_nodes` rules with auto-resolve,
//!   as [`Conditions`] in, [`AlertPlan`] (two bitsets) out;
//! - [`AlertBook`]: at most one unresolved alert per [`AlertKey`],
//!   suppression (maintenance, down parent, suppression window), and the
//!   reminder / escalation timers;
//! - [`on_change`] and [`due_followups`]: notify on transitions only,
//!   recovery notifications, reminders and escalation (after a delay that
//!   may differ per target: [`due_followups_after`],
//!   [`AlertBook::followups_by`]), stopped by acknowledgement.
//!
//! Must not: do I/O, read the clock (`now` is an argument), make ids
//! (callers pass them), or decide *whether* a target is in maintenance or
//! has a down parent (see [`crate::maintenance`], [`crate::dependency`]).
//! [`evaluate`] and [`AlertBook::pending`] never allocate.
//!
//! A typical engine step for one target:
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use healthcore::alert::{evaluate, on_change, AlertBook, AlertKey, AlertPolicy, Conditions,
//!     NotificationKind};
//! use healthcore::model::{Cause, Health, Status, TargetId};
//! let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
//! let policy = AlertPolicy::default();
//! let mut book = AlertBook::from_policy(&policy);
//! let target = TargetId::new("node-7").unwrap();
//! let conditions = Conditions {
//!     staleness: Some(Health::new(Status::Degraded, Cause::Stale)),
//!     ..Conditions::default()
//! };
//! let plan = book.pending(&target, &evaluate(&policy, &conditions));
//! let mut notes = Vec::new();
//! for kind in plan.raise.iter() {
//!     let severity = policy.severity_for(&kind);
//!     let msg = format!("{target} is {kind}");
//!     let key = AlertKey::new(target.clone(), kind);
//!     if let Some(change) = book.raise(key, severity, msg, None, now, "id-1".into(), None) {
//!         notes.extend(on_change(&change));
//!     }
//! }
//! for kind in plan.resolve.iter() {
//!     if let Some(change) = book.resolve(&AlertKey::new(target.clone(), kind), now) {
//!         notes.extend(on_change(&change));
//!     }
//! }
//! assert_eq!(notes, vec![NotificationKind::Firing]);
//! ```

mod book;
mod kind;
mod notify;
mod policy;
mod record;
mod rules;

pub use book::{AlertBook, AlertChange};
pub use kind::{AlertKind, AlertStatus, CUSTOM_PREFIX, KindSet, MAX_CUSTOM_LEN, Severity};
pub use notify::{Followups, NotificationKind, due_followups, due_followups_after, on_change};
pub use policy::{
    AlertPolicy, DEFAULT_ESCALATION_DELAY, DEFAULT_LOW_SCORE_THRESHOLD, DEFAULT_SUPPRESSION_WINDOW,
    MAX_FOLLOWUP_DELAY, MAX_SUPPRESSION_WINDOW, MIN_REMINDER_INTERVAL,
};
pub use record::{Alert, AlertError, AlertKey, MAX_ACK_BY_LEN, SuppressReason};
pub use rules::{AlertPlan, Conditions, evaluate};
