//! The heal event log record (002's `CloudPodAutoHealEvent`) and what a
//! healer returns.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::heal::{HealAction, HealDecision, HealPolicy};
use crate::model::{Status, TargetId};

/// Where a heal event stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum HealResult {
    /// The healer is running.
    Pending,
    /// The healer reported success.
    Success,
    /// The healer reported failure (or timed out).
    Failed,
    /// A gate held the heal; see the event's reason.
    Skipped,
}

impl HealResult {
    /// All results.
    pub const ALL: [HealResult; 4] = [
        HealResult::Pending,
        HealResult::Success,
        HealResult::Failed,
        HealResult::Skipped,
    ];

    /// The snake_case name used in JSON and SQL.
    pub const fn as_str(self) -> &'static str {
        match self {
            HealResult::Pending => "pending",
            HealResult::Success => "success",
            HealResult::Failed => "failed",
            HealResult::Skipped => "skipped",
        }
    }

    /// Parses a snake_case name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// True for every result but `Pending`.
    pub const fn is_final(self) -> bool {
        !matches!(self, HealResult::Pending)
    }
}

impl fmt::Display for HealResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a `Healer` reports after running an action.
///
/// ```
/// use healthcore::heal::{HealOutcome, HealResult};
/// let o = HealOutcome::failed("container not found");
/// assert_eq!(o.result(), HealResult::Failed);
/// assert_eq!(serde_json::to_value(&o).unwrap()["result"], "failed");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum HealOutcome {
    /// The action ran.
    Success {
        /// What the healer has to say (`restarted in 2.1s`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// The action could not run or reported an error.
    Failed {
        /// Why, for the heal event's `error_message`.
        error: String,
    },
}

impl HealOutcome {
    /// Success without a message.
    pub fn success() -> Self {
        HealOutcome::Success { message: None }
    }

    /// Failure with an error text.
    pub fn failed(error: impl Into<String>) -> Self {
        HealOutcome::Failed {
            error: error.into(),
        }
    }

    /// The event result it maps to.
    pub fn result(&self) -> HealResult {
        match self {
            HealOutcome::Success { .. } => HealResult::Success,
            HealOutcome::Failed { .. } => HealResult::Failed,
        }
    }

    /// True for `Success`.
    pub fn is_success(&self) -> bool {
        matches!(self, HealOutcome::Success { .. })
    }
}

/// One heal decision in the log: a heal that ran (pending, then success
/// or failed) or one that a gate skipped, with its reason.
///
/// ```
/// use healthcore::heal::{HealAction, HealEvent, HealOutcome, HealResult};
/// use healthcore::model::{Status, TargetId};
/// let t = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
/// let mut e = HealEvent::pending("ev-1", TargetId::new("pod-1").unwrap(), Some("p1".into()),
///     HealAction::Restart, "3 consecutive failures", Some(Status::Down), t);
/// assert_eq!(e.result, HealResult::Pending);
/// e.complete_with(HealOutcome::success(), Some(Status::Healthy), t);
/// assert_eq!(e.result, HealResult::Success);
/// assert_eq!(e.completed_at, Some(t));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealEvent {
    /// Unique id, chosen by the caller (the engine or the store).
    pub id: String,
    /// The target healed.
    pub target: TargetId,
    /// The policy that decided, if any (a manual heal has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_id: Option<String>,
    /// The action run, or that would have run.
    pub action: HealAction,
    /// Why (`3 consecutive failures`, `in cooldown, 5m remaining`, …).
    pub reason: String,
    /// Where it stands.
    pub result: HealResult,
    /// The healer's error, for `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// The target's status when the heal was decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_status: Option<Status>,
    /// The target's status when the heal completed, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_status: Option<Status>,
    /// When the decision was made.
    pub triggered_at: DateTime<Utc>,
    /// When the heal finished (at once for a skip).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
}

impl HealEvent {
    /// A heal that is about to run: result `pending`, not completed.
    pub fn pending(
        id: impl Into<String>,
        target: TargetId,
        policy_id: Option<String>,
        action: HealAction,
        reason: impl Into<String>,
        previous_status: Option<Status>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: id.into(),
            target,
            policy_id,
            action,
            reason: reason.into(),
            result: HealResult::Pending,
            error_message: None,
            previous_status,
            new_status: None,
            triggered_at: now,
            completed_at: None,
        }
    }

    /// A heal a gate held: result `skipped`, completed at `now`. Pass the
    /// [`SkipReason`](crate::heal::SkipReason)'s text as `reason`.
    pub fn skipped(
        id: impl Into<String>,
        target: TargetId,
        policy_id: Option<String>,
        action: HealAction,
        reason: impl Into<String>,
        previous_status: Option<Status>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            result: HealResult::Skipped,
            completed_at: Some(now),
            ..Self::pending(id, target, policy_id, action, reason, previous_status, now)
        }
    }

    /// The event for a [`HealDecision`] of `policy`: pending for `Heal`,
    /// skipped for `Skip` (with the policy's action, or its escalation
    /// action once the regular attempts are used up), `None` for
    /// `NotNeeded`.
    pub fn from_decision(
        id: impl Into<String>,
        target: TargetId,
        policy: &HealPolicy,
        decision: &HealDecision,
        previous_status: Option<Status>,
        now: DateTime<Utc>,
    ) -> Option<Self> {
        let policy_id = Some(policy.id.clone());
        match decision {
            HealDecision::NotNeeded => None,
            HealDecision::Heal { action, reason, .. } => Some(Self::pending(
                id,
                target,
                policy_id,
                action.clone(),
                reason.clone(),
                previous_status,
                now,
            )),
            HealDecision::Skip { reason } => Some(Self::skipped(
                id,
                target,
                policy_id,
                policy.action.clone(),
                reason.to_string(),
                previous_status,
                now,
            )),
        }
    }

    /// Finishes the event: sets result, error, new status and
    /// `completed_at = now`. Completing twice overwrites.
    pub fn complete(
        &mut self,
        result: HealResult,
        error: Option<String>,
        new_status: Option<Status>,
        now: DateTime<Utc>,
    ) {
        self.result = result;
        self.error_message = error;
        self.new_status = new_status;
        self.completed_at = Some(now);
    }

    /// Finishes the event from a healer's outcome (a success message is
    /// not kept; a failure's error becomes `error_message`).
    pub fn complete_with(
        &mut self,
        outcome: HealOutcome,
        new_status: Option<Status>,
        now: DateTime<Utc>,
    ) {
        let result = outcome.result();
        let error = match outcome {
            HealOutcome::Failed { error } => Some(error),
            HealOutcome::Success { .. } => None,
        };
        self.complete(result, error, new_status, now);
    }

    /// True once the event has a final result.
    pub fn is_complete(&self) -> bool {
        self.result.is_final() && self.completed_at.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heal::SkipReason;
    use crate::model::TenantId;

    fn t0() -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + chrono::TimeDelta::days(20_000)
    }

    fn pod() -> TargetId {
        TargetId::new("pod-1").unwrap()
    }

    #[test]
    fn results_round_trip() {
        for r in HealResult::ALL {
            assert_eq!(HealResult::parse(r.as_str()), Some(r));
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{r}\""));
        }
        assert_eq!(HealResult::parse("escalate"), None);
        assert!(!HealResult::Pending.is_final());
        assert!(HealResult::Skipped.is_final());
    }

    #[test]
    fn pending_then_failed() {
        let mut e = HealEvent::pending(
            "e1",
            pod(),
            Some("p1".into()),
            HealAction::Restart,
            "3 consecutive failures",
            Some(Status::Down),
            t0(),
        );
        assert_eq!(e.result, HealResult::Pending);
        assert!(!e.is_complete());
        assert_eq!(e.completed_at, None);
        let later = t0() + chrono::TimeDelta::seconds(4);
        e.complete_with(HealOutcome::failed("ssh: permission denied"), None, later);
        assert_eq!(e.result, HealResult::Failed);
        assert_eq!(e.error_message.as_deref(), Some("ssh: permission denied"));
        assert_eq!(e.completed_at, Some(later));
        assert!(e.is_complete());
        e.complete(HealResult::Success, None, Some(Status::Healthy), later);
        assert_eq!(e.error_message, None);
        assert_eq!(e.new_status, Some(Status::Healthy));
    }

    #[test]
    fn skipped_is_complete_at_once() {
        let e = HealEvent::skipped(
            "e2",
            pod(),
            None,
            HealAction::Restart,
            SkipReason::BreakerOpen.to_string(),
            Some(Status::Down),
            t0(),
        );
        assert_eq!(e.result, HealResult::Skipped);
        assert_eq!(e.completed_at, Some(t0()));
        assert!(e.is_complete());
    }

    #[test]
    fn from_decisions() {
        let p = HealPolicy::new("p1", TenantId::new("acme").unwrap(), "pods");
        assert!(
            HealEvent::from_decision("e", pod(), &p, &HealDecision::NotNeeded, None, t0())
                .is_none()
        );
        let heal = HealDecision::Heal {
            action: HealAction::Migrate,
            reason: "escalation after 3 attempts".into(),
            escalation: true,
            attempt: 4,
        };
        let e = HealEvent::from_decision("e", pod(), &p, &heal, Some(Status::Down), t0()).unwrap();
        assert_eq!(e.action, HealAction::Migrate);
        assert_eq!(e.result, HealResult::Pending);
        assert_eq!(e.policy_id.as_deref(), Some("p1"));
        assert_eq!(e.reason, "escalation after 3 attempts");
        let skip = HealDecision::Skip {
            reason: SkipReason::Unreachable,
        };
        let e = HealEvent::from_decision("e", pod(), &p, &skip, None, t0()).unwrap();
        assert_eq!(e.action, HealAction::Restart);
        assert_eq!(e.result, HealResult::Skipped);
        assert!(e.reason.contains("unreachable"));
    }

    #[test]
    fn serde_shape() {
        let mut e = HealEvent::pending(
            "e1",
            pod(),
            Some("p1".into()),
            HealAction::custom("drain").unwrap(),
            "3 consecutive failures",
            Some(Status::Down),
            t0(),
        );
        e.complete_with(
            HealOutcome::Success {
                message: Some("ok".into()),
            },
            Some(Status::Healthy),
            t0(),
        );
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["action"], "drain");
        assert_eq!(json["result"], "success");
        assert_eq!(json["previous_status"], "down");
        assert_eq!(json["new_status"], "healthy");
        assert_eq!(json["target"], "pod-1");
        assert!(json.get("error_message").is_none());
        assert_eq!(serde_json::from_value::<HealEvent>(json).unwrap(), e);
        let o = HealOutcome::Success {
            message: Some("done".into()),
        };
        let back: HealOutcome = serde_json::from_value(serde_json::to_value(&o).unwrap()).unwrap();
        assert_eq!(back, o);
        assert!(o.is_success());
        assert_eq!(HealOutcome::success().result(), HealResult::Success);
    }
}
