//! Fenced writes: the side effects of a claimed check, applied only while
//! its lease is held (multi-instance scale-out, DESIGN.md §7).

use chrono::{DateTime, Utc};

use super::{Entry, InsertAlert, StateRecord};
use crate::alert::{Alert, AlertStatus};

/// One side effect of a claimed check, for
/// [`Store::fenced`](super::Store::fenced).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum FencedWrite<'a> {
    /// [`Store::put_states`](super::Store::put_states).
    States(&'a [StateRecord]),
    /// [`Store::insert_alert`](super::Store::insert_alert).
    InsertAlert(&'a Alert),
    /// [`Store::update_alert`](super::Store::update_alert) with the
    /// expected stored status.
    UpdateAlert(&'a Alert, AlertStatus),
    /// [`Store::append_entries`](super::Store::append_entries) (heal
    /// events, status windows, …).
    Entries(&'a [Entry]),
    /// [`Store::complete_claim`](super::Store::complete_claim) with the
    /// next due time, in the same transaction.
    Complete(DateTime<Utc>),
}

impl FencedWrite<'_> {
    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            FencedWrite::States(_) => "states",
            FencedWrite::InsertAlert(_) => "insert_alert",
            FencedWrite::UpdateAlert(..) => "update_alert",
            FencedWrite::Entries(_) => "entries",
            FencedWrite::Complete(_) => "complete",
        }
    }
}

/// What one [`FencedWrite`] did, in order.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FencedOutcome {
    /// Written.
    Written,
    /// The result of a [`FencedWrite::InsertAlert`].
    Alert(InsertAlert),
}
