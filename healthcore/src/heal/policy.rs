//! [`HealPolicy`]: when and how a tenant's targets are healed, with its
//! [`HealSelector`], optional [`BackoffConfig`], validation and
//! [`select_policy`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::heal::HealAction;
use crate::model::{DEFAULT_TENANT, MAX_ID_LEN, MAX_THRESHOLD, Target, TargetId, TenantId};

/// Default consecutive failures before a heal (002: 3).
pub const DEFAULT_TRIGGER_AFTER_FAILURES: u32 = 3;
/// Default time between two heal attempts on one target (002: 10 min).
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(10 * 60);
/// Default attempts before giving up (002: 3).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// Largest `max_attempts` and `escalate_after_attempts` accepted.
pub const MAX_HEAL_ATTEMPTS: u32 = 1000;
/// Default first backoff delay (Kubernetes CrashLoopBackOff: 10 s).
pub const DEFAULT_BACKOFF_INITIAL: Duration = Duration::from_secs(10);
/// Default backoff cap (Kubernetes: 300 s).
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(300);
/// Default healthy time after which backoff and attempts reset
/// (Kubernetes: 10 min).
pub const DEFAULT_BACKOFF_RESET_AFTER: Duration = Duration::from_secs(10 * 60);

/// Kubernetes CrashLoopBackOff-style pacing between heal attempts, on top
/// of the policy's cooldown and max attempts.
///
/// After attempt `n` (1-based) the next attempt waits
/// `min(initial × 2^(n-1), max)` from the last attempt: 10 s, 20 s, 40 s,
/// 80 s, 160 s, 300 s, 300 s … with the defaults. The first attempt is
/// never delayed (the trigger already gates it). Once the target has been
/// continuously `healthy` for `reset_after`, attempts (and so the delay)
/// reset to zero.
///
/// ```
/// use healthcore::heal::BackoffConfig;
/// use std::time::Duration;
/// let b: BackoffConfig = serde_json::from_str(r#"{"initial":"5s"}"#).unwrap();
/// assert_eq!(b.delay_after(3), Duration::from_secs(20));
/// assert_eq!(b.max, Duration::from_secs(300));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackoffConfig {
    /// Delay after the first attempt.
    #[serde(default = "default_backoff_initial", with = "humantime_serde")]
    pub initial: Duration,
    /// Cap on the delay.
    #[serde(default = "default_backoff_max", with = "humantime_serde")]
    pub max: Duration,
    /// Continuous healthy time after which attempts reset. Zero resets on
    /// the first healthy status.
    #[serde(default = "default_backoff_reset_after", with = "humantime_serde")]
    pub reset_after: Duration,
}

fn default_backoff_initial() -> Duration {
    DEFAULT_BACKOFF_INITIAL
}
fn default_backoff_max() -> Duration {
    DEFAULT_BACKOFF_MAX
}
fn default_backoff_reset_after() -> Duration {
    DEFAULT_BACKOFF_RESET_AFTER
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            initial: DEFAULT_BACKOFF_INITIAL,
            max: DEFAULT_BACKOFF_MAX,
            reset_after: DEFAULT_BACKOFF_RESET_AFTER,
        }
    }
}

impl BackoffConfig {
    /// The delay that must pass after the last attempt when `attempts`
    /// attempts have been made: zero for 0 attempts, else
    /// `min(initial × 2^(attempts-1), max)`. Never overflows.
    pub fn delay_after(&self, attempts: u32) -> Duration {
        if attempts == 0 {
            return Duration::ZERO;
        }
        let mut delay = self.initial;
        // 128 doublings take any non-zero Duration past its maximum, so the
        // loop is bounded whatever `attempts` is.
        for _ in 1..attempts.min(129) {
            if delay >= self.max {
                break;
            }
            delay = delay.saturating_mul(2);
        }
        delay.min(self.max)
    }

    /// Checks `initial > 0` and `initial <= max`; fields are named bare
    /// (`initial`), so a policy reports `backoff.initial`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.initial.is_zero() {
            return Err(ValidationError::new("initial", "must be greater than 0"));
        }
        if self.initial > self.max {
            return Err(ValidationError::new(
                "initial",
                "must not be greater than max",
            ));
        }
        Ok(())
    }
}

/// Which of the tenant's targets a policy covers. Every non-empty list is
/// a condition and all conditions must hold; an empty selector covers every
/// target of the tenant.
///
/// ```
/// use healthcore::heal::HealSelector;
/// use healthcore::model::{Target, TargetId};
/// let mut pod = Target::new(TargetId::new("pod-1").unwrap(), "pod-1");
/// pod.kind = "pod".into();
/// let sel: HealSelector = serde_json::from_str(r#"{"kinds":["pod","vps"]}"#).unwrap();
/// assert!(sel.matches(&pod));
/// assert!(HealSelector::default().matches(&pod));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealSelector {
    /// The target must be one of these (empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetId>,
    /// The target's kind must be one of these (empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<String>,
    /// The target must carry every one of these labels with this value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl HealSelector {
    /// True if `target` meets every condition (tenant is not checked here;
    /// see [`HealPolicy::matches`]).
    pub fn matches(&self, target: &Target) -> bool {
        (self.targets.is_empty() || self.targets.contains(&target.id))
            && (self.kinds.is_empty() || self.kinds.contains(&target.kind))
            && self
                .labels
                .iter()
                .all(|(k, v)| target.labels.get(k) == Some(v))
    }

    /// True when the selector has no condition.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty() && self.kinds.is_empty() && self.labels.is_empty()
    }

    /// How specific the selector is, for [`select_policy`]: explicit
    /// targets beat labels, more labels beat fewer, labels beat kinds, and
    /// any condition beats none. Compare the tuples lexicographically.
    pub fn specificity(&self) -> (bool, usize, bool) {
        (
            !self.targets.is_empty(),
            self.labels.len(),
            !self.kinds.is_empty(),
        )
    }

    /// Checks kinds are 1..=64 characters and label keys 1..=128, with no
    /// control characters; fields are named bare (`kinds`, `labels`).
    pub fn validate(&self) -> Result<(), ValidationError> {
        for kind in &self.kinds {
            if kind.is_empty() || kind.len() > 64 || kind.chars().any(char::is_control) {
                return Err(ValidationError::new(
                    "kinds",
                    "each kind must be 1..=64 characters without control characters",
                ));
            }
        }
        for (k, v) in &self.labels {
            if k.is_empty() || k.len() > 128 || k.chars().any(char::is_control) {
                return Err(ValidationError::new(
                    "labels",
                    "each label key must be 1..=128 characters without control characters",
                ));
            }
            if v.len() > 256 || v.chars().any(char::is_control) {
                return Err(ValidationError::new(
                    "labels",
                    "each label value must be at most 256 characters without control characters",
                ));
            }
        }
        Ok(())
    }
}

/// An auto-heal policy (002's `CloudPodAutoHealPolicy`), owned by a tenant
/// and applied to the targets its selector covers.
///
/// Durations read and write as humantime strings (`"10m"`). Defaults
/// follow 002: enabled, trigger after 3 consecutive failures, `restart`,
/// cooldown 10 min, at most 3 attempts, notify on trigger, no escalation,
/// no backoff, every target of the tenant. `tenant` defaults to
/// [`DEFAULT_TENANT`] like [`Target::tenant`].
///
/// **Escalation rule.** `escalate_after_attempts` switches escalation on;
/// `escalation_action` says what runs and defaults to `notify_only`, as in
/// 002 (`policy.escalationAction || 'notify_only'`); an action without
/// `escalate_after_attempts` would never run and is refused. As in 002,
/// escalation happens only once the regular attempts are used up: when
/// `attempts >= max_attempts` and `attempts >= escalate_after_attempts`,
/// the escalation action runs once (after the usual cooldown and backoff).
/// Validation therefore requires `1 <= escalate_after_attempts <=
/// max_attempts` (a larger value could never be reached, 002's silent
/// misconfiguration), which also rules out escalation with unlimited
/// attempts.
///
/// **`max_attempts: 0`** means no limit: cooldown (and backoff) are then
/// the only brakes, so it is refused when `cooldown` is zero.
///
/// ```
/// use healthcore::heal::{HealAction, HealPolicy};
/// use std::time::Duration;
/// let p: HealPolicy = serde_json::from_value(serde_json::json!({
///     "id": "p1", "tenant": "acme", "name": "pods", "cooldown": "5m",
///     "escalate_after_attempts": 3, "escalation_action": "migrate"
/// })).unwrap();
/// assert_eq!(p.trigger_after_failures, 3);
/// assert_eq!(p.action, HealAction::Restart);
/// assert_eq!(p.cooldown, Duration::from_secs(300));
/// p.validate().unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealPolicy {
    /// Unique id (1..=128 characters, no control characters).
    pub id: String,
    /// Owning tenant; the policy only ever applies to this tenant's targets.
    #[serde(default = "default_tenant")]
    pub tenant: TenantId,
    /// Display name.
    pub name: String,
    /// A disabled policy never heals (and is passed over by
    /// [`select_policy`]).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Consecutive failures before the first heal.
    #[serde(default = "default_trigger")]
    pub trigger_after_failures: u32,
    /// What to do.
    #[serde(default = "default_action")]
    pub action: HealAction,
    /// Least time between two attempts on one target.
    #[serde(default = "default_cooldown", with = "humantime_serde")]
    pub cooldown: Duration,
    /// Attempts before giving up (0: no limit, needs a cooldown).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Notify when a heal is triggered.
    #[serde(default = "default_true")]
    pub notify_on_trigger: bool,
    /// Escalate once this many attempts were made and `max_attempts` is
    /// reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate_after_attempts: Option<u32>,
    /// The action run once on escalation; `notify_only` when
    /// `escalate_after_attempts` is set without it (002). See
    /// [`HealPolicy::escalation`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation_action: Option<HealAction>,
    /// Optional CrashLoopBackOff-style pacing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<BackoffConfig>,
    /// Which targets of the tenant the policy covers.
    #[serde(default, skip_serializing_if = "HealSelector::is_empty")]
    pub selector: HealSelector,
}

fn default_tenant() -> TenantId {
    TenantId::new(DEFAULT_TENANT).expect("literal tenant is valid")
}
fn default_true() -> bool {
    true
}
fn default_trigger() -> u32 {
    DEFAULT_TRIGGER_AFTER_FAILURES
}
fn default_action() -> HealAction {
    HealAction::Restart
}
fn default_cooldown() -> Duration {
    DEFAULT_COOLDOWN
}
fn default_max_attempts() -> u32 {
    DEFAULT_MAX_ATTEMPTS
}

impl HealPolicy {
    /// A policy with every default from 002, covering every target of
    /// `tenant`.
    pub fn new(id: impl Into<String>, tenant: TenantId, name: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            tenant,
            name: name.into(),
            enabled: true,
            trigger_after_failures: DEFAULT_TRIGGER_AFTER_FAILURES,
            action: HealAction::Restart,
            cooldown: DEFAULT_COOLDOWN,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            notify_on_trigger: true,
            escalate_after_attempts: None,
            escalation_action: None,
            backoff: None,
            selector: HealSelector::default(),
        }
    }

    /// True if `target` belongs to the policy's tenant and its selector
    /// covers it. Does not look at `enabled`.
    pub fn matches(&self, target: &Target) -> bool {
        self.tenant == target.tenant && self.selector.matches(target)
    }

    /// True when escalation is on (`escalate_after_attempts` is set).
    pub fn has_escalation(&self) -> bool {
        self.escalate_after_attempts.is_some()
    }

    /// The escalation, if on: after how many attempts, and the action that
    /// runs (`escalation_action`, or `notify_only` without one, as 002's
    /// `policy.escalationAction || 'notify_only'`).
    ///
    /// ```
    /// use healthcore::heal::{HealAction, HealPolicy};
    /// use healthcore::model::TenantId;
    /// let mut p = HealPolicy::new("p1", TenantId::new("acme").unwrap(), "pods");
    /// assert_eq!(p.escalation(), None);
    /// p.escalate_after_attempts = Some(3);
    /// p.validate().unwrap();
    /// assert_eq!(p.escalation(), Some((3, &HealAction::NotifyOnly)));
    /// ```
    pub fn escalation(&self) -> Option<(u32, &HealAction)> {
        static NOTIFY_ONLY: HealAction = HealAction::NotifyOnly;
        let after = self.escalate_after_attempts?;
        Some((
            after,
            self.escalation_action.as_ref().unwrap_or(&NOTIFY_ONLY),
        ))
    }

    /// Checks every rule; the error names the field.
    ///
    /// Rules: `id` 1..=128 characters without control characters; `name`
    /// not blank, at most 256 characters; `trigger_after_failures` in
    /// 1..=1000; `max_attempts` at most 1000, and at least 1 when
    /// `cooldown` is zero; `action` and `escalation_action` valid names;
    /// `escalate_after_attempts` in `1..=max_attempts`; `escalation_action`
    /// only with `escalate_after_attempts` (alone it would never run);
    /// `backoff.initial` > 0 and ≤ `backoff.max`;
    /// selector kinds and labels well-formed.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.id.is_empty()
            || self.id.chars().count() > MAX_ID_LEN
            || self.id.chars().any(char::is_control)
        {
            return Err(ValidationError::new(
                "id",
                "must be 1..=128 characters without control characters",
            ));
        }
        if self.name.trim().is_empty() {
            return Err(ValidationError::new("name", "must not be empty"));
        }
        if self.name.chars().count() > 256 || self.name.chars().any(char::is_control) {
            return Err(ValidationError::new(
                "name",
                "must be at most 256 characters with no control characters",
            ));
        }
        if self.trigger_after_failures == 0 {
            return Err(ValidationError::new(
                "trigger_after_failures",
                "must be at least 1",
            ));
        }
        if self.trigger_after_failures > MAX_THRESHOLD {
            return Err(ValidationError::new(
                "trigger_after_failures",
                format!("must be at most {MAX_THRESHOLD}"),
            ));
        }
        self.action.validate()?;
        if self.max_attempts > MAX_HEAL_ATTEMPTS {
            return Err(ValidationError::new(
                "max_attempts",
                format!("must be at most {MAX_HEAL_ATTEMPTS}"),
            ));
        }
        if self.max_attempts == 0 && self.cooldown.is_zero() {
            return Err(ValidationError::new(
                "max_attempts",
                "must be at least 1 when cooldown is 0 (0 means unlimited attempts and needs a cooldown)",
            ));
        }
        match (self.escalate_after_attempts, &self.escalation_action) {
            (None, None) => {}
            (None, Some(_)) => {
                return Err(ValidationError::new(
                    "escalate_after_attempts",
                    "is required when escalation_action is set",
                ));
            }
            (Some(after), action) => {
                if after == 0 {
                    return Err(ValidationError::new(
                        "escalate_after_attempts",
                        "must be at least 1",
                    ));
                }
                if self.max_attempts == 0 {
                    return Err(ValidationError::new(
                        "escalate_after_attempts",
                        "needs a limited max_attempts (escalation happens once attempts are used up)",
                    ));
                }
                if after > self.max_attempts {
                    return Err(ValidationError::new(
                        "escalate_after_attempts",
                        "must not be greater than max_attempts (escalation happens once attempts are used up)",
                    ));
                }
                if let Some(action) = action {
                    action.validate().map_err(|e| {
                        ValidationError::new("escalation_action", e.rule().to_owned())
                    })?;
                }
            }
        }
        if let Some(backoff) = &self.backoff {
            backoff.validate().map_err(|e| e.within("backoff"))?;
        }
        self.selector.validate().map_err(|e| e.within("selector"))?;
        Ok(())
    }
}

/// The policy that applies to `target`: among the enabled policies that
/// match it (same tenant, selector covers it), the most specific selector
/// wins ([`HealSelector::specificity`]: explicit targets, then more labels,
/// then kinds, then the catch-all); on a tie, the first in `policies`.
/// Does not allocate.
///
/// ```
/// use healthcore::heal::{select_policy, HealPolicy};
/// use healthcore::model::{Target, TargetId, TenantId};
/// let t = Target::new(TargetId::new("web-1").unwrap(), "web-1");
/// let all = HealPolicy::new("all", t.tenant.clone(), "all");
/// let mut one = HealPolicy::new("one", t.tenant.clone(), "web-1 only");
/// one.selector.targets.push(t.id.clone());
/// let policies = [all, one];
/// assert_eq!(select_policy(&policies, &t).unwrap().id, "one");
/// ```
pub fn select_policy<'a>(policies: &'a [HealPolicy], target: &Target) -> Option<&'a HealPolicy> {
    let mut best: Option<&'a HealPolicy> = None;
    for p in policies {
        if !p.enabled || !p.matches(target) {
            continue;
        }
        match best {
            Some(b) if b.selector.specificity() >= p.selector.specificity() => {}
            _ => best = Some(p),
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> TenantId {
        TenantId::new("acme").unwrap()
    }

    fn policy() -> HealPolicy {
        HealPolicy::new("p1", tenant(), "pods")
    }

    fn target(id: &str) -> Target {
        let mut t = Target::new(TargetId::new(id).unwrap(), id);
        t.tenant = tenant();
        t
    }

    #[test]
    fn defaults_match_002() {
        let p: HealPolicy = serde_json::from_value(
            serde_json::json!({"id": "p1", "tenant": "acme", "name": "pods"}),
        )
        .unwrap();
        assert_eq!(p, policy());
        assert!(p.enabled);
        assert_eq!(p.trigger_after_failures, 3);
        assert_eq!(p.action, HealAction::Restart);
        assert_eq!(p.cooldown, Duration::from_secs(600));
        assert_eq!(p.max_attempts, 3);
        assert!(p.notify_on_trigger);
        assert_eq!(p.escalate_after_attempts, None);
        assert_eq!(p.escalation_action, None);
        assert_eq!(p.backoff, None);
        assert!(p.selector.is_empty());
        p.validate().unwrap();
        let d: HealPolicy =
            serde_json::from_value(serde_json::json!({"id": "p", "name": "n"})).unwrap();
        assert_eq!(d.tenant.as_str(), "default");
    }

    #[test]
    fn backoff_defaults() {
        let b: BackoffConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(b, BackoffConfig::default());
        assert_eq!(b.initial, Duration::from_secs(10));
        assert_eq!(b.max, Duration::from_secs(300));
        assert_eq!(b.reset_after, Duration::from_secs(600));
        b.validate().unwrap();
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let b = BackoffConfig::default();
        let secs: Vec<u64> = (0..=8).map(|n| b.delay_after(n).as_secs()).collect();
        assert_eq!(secs, [0, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(b.delay_after(u32::MAX), Duration::from_secs(300));
        let huge = BackoffConfig {
            initial: Duration::from_nanos(1),
            max: Duration::MAX,
            reset_after: Duration::ZERO,
        };
        assert_eq!(huge.delay_after(3), Duration::from_nanos(4));
        assert_eq!(huge.delay_after(u32::MAX), Duration::MAX);
        let zero = BackoffConfig {
            initial: Duration::ZERO,
            ..b
        };
        assert_eq!(zero.delay_after(u32::MAX), Duration::ZERO);
    }

    #[test]
    fn invalid_policies_name_their_field() {
        let base = policy();
        let cases: Vec<(HealPolicy, &str, &str)> = vec![
            (
                HealPolicy {
                    id: String::new(),
                    ..base.clone()
                },
                "id",
                "",
            ),
            (
                HealPolicy {
                    name: "  ".into(),
                    ..base.clone()
                },
                "name",
                "",
            ),
            (
                HealPolicy {
                    trigger_after_failures: 0,
                    ..base.clone()
                },
                "trigger_after_failures",
                "at least 1",
            ),
            (
                HealPolicy {
                    trigger_after_failures: 1001,
                    ..base.clone()
                },
                "trigger_after_failures",
                "",
            ),
            // Zero cooldown with zero (unlimited) max attempts.
            (
                HealPolicy {
                    cooldown: Duration::ZERO,
                    max_attempts: 0,
                    ..base.clone()
                },
                "max_attempts",
                "cooldown",
            ),
            (
                HealPolicy {
                    max_attempts: 1001,
                    ..base.clone()
                },
                "max_attempts",
                "",
            ),
            (
                HealPolicy {
                    escalation_action: Some(HealAction::Migrate),
                    ..base.clone()
                },
                "escalate_after_attempts",
                "required",
            ),
            // Escalation before any attempt.
            (
                HealPolicy {
                    escalate_after_attempts: Some(0),
                    escalation_action: Some(HealAction::Migrate),
                    ..base.clone()
                },
                "escalate_after_attempts",
                "at least 1",
            ),
            // Escalation that could never be reached.
            (
                HealPolicy {
                    escalate_after_attempts: Some(4),
                    escalation_action: Some(HealAction::Migrate),
                    ..base.clone()
                },
                "escalate_after_attempts",
                "max_attempts",
            ),
            (
                HealPolicy {
                    max_attempts: 0,
                    escalate_after_attempts: Some(1),
                    escalation_action: Some(HealAction::Migrate),
                    ..base.clone()
                },
                "escalate_after_attempts",
                "limited",
            ),
            (
                HealPolicy {
                    action: HealAction::Custom("Bad Name".into()),
                    ..base.clone()
                },
                "action",
                "",
            ),
            (
                HealPolicy {
                    escalate_after_attempts: Some(3),
                    escalation_action: Some(HealAction::Custom("restart".into())),
                    ..base.clone()
                },
                "escalation_action",
                "built-in",
            ),
            (
                HealPolicy {
                    backoff: Some(BackoffConfig {
                        initial: Duration::ZERO,
                        ..BackoffConfig::default()
                    }),
                    ..base.clone()
                },
                "backoff.initial",
                "greater than 0",
            ),
            (
                HealPolicy {
                    backoff: Some(BackoffConfig {
                        initial: Duration::from_secs(301),
                        ..BackoffConfig::default()
                    }),
                    ..base.clone()
                },
                "backoff.initial",
                "max",
            ),
            (
                HealPolicy {
                    selector: HealSelector {
                        kinds: vec![String::new()],
                        ..HealSelector::default()
                    },
                    ..base.clone()
                },
                "selector.kinds",
                "",
            ),
        ];
        for (p, field, rule) in cases {
            let err = p.validate().unwrap_err();
            assert_eq!(err.field(), field, "{p:?}");
            assert!(err.rule().contains(rule), "{err}");
        }
    }

    #[test]
    fn accepted_edge_policies() {
        // Unlimited attempts paced by a cooldown.
        HealPolicy {
            max_attempts: 0,
            ..policy()
        }
        .validate()
        .unwrap();
        // No cooldown but a limit.
        HealPolicy {
            cooldown: Duration::ZERO,
            max_attempts: 1,
            ..policy()
        }
        .validate()
        .unwrap();
        // Escalation exactly at max and below it.
        for after in [1, 3] {
            HealPolicy {
                escalate_after_attempts: Some(after),
                escalation_action: Some(HealAction::custom("page-oncall").unwrap()),
                ..policy()
            }
            .validate()
            .unwrap();
        }
        // Escalation without an action: 002 falls back to notify_only.
        let p = HealPolicy {
            escalate_after_attempts: Some(2),
            ..policy()
        };
        p.validate().unwrap();
        assert!(p.has_escalation());
        assert_eq!(p.escalation(), Some((2, &HealAction::NotifyOnly)));
        let from_json: HealPolicy = serde_json::from_value(serde_json::json!({
            "id": "p", "name": "n", "escalate_after_attempts": 3
        }))
        .unwrap();
        from_json.validate().unwrap();
        assert_eq!(from_json.escalation(), Some((3, &HealAction::NotifyOnly)));
        let custom = HealPolicy {
            escalate_after_attempts: Some(3),
            escalation_action: Some(HealAction::Migrate),
            ..policy()
        };
        assert_eq!(custom.escalation(), Some((3, &HealAction::Migrate)));
    }

    #[test]
    fn serde_round_trip_and_unknown_fields() {
        let p = HealPolicy {
            escalate_after_attempts: Some(2),
            escalation_action: Some(HealAction::Migrate),
            backoff: Some(BackoffConfig::default()),
            cooldown: Duration::from_secs(90),
            ..policy()
        };
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["cooldown"], "1m 30s");
        assert_eq!(json["escalation_action"], "migrate");
        assert_eq!(json["backoff"]["max"], "5m");
        assert_eq!(serde_json::from_value::<HealPolicy>(json).unwrap(), p);
        let err = serde_json::from_value::<HealPolicy>(
            serde_json::json!({"id": "p", "name": "n", "cooldown_minutes": 10}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("cooldown_minutes"));
        assert!(
            serde_json::from_value::<HealPolicy>(
                serde_json::json!({"id": "p", "name": "n", "backoff": {"jitter": "1s"}})
            )
            .is_err()
        );
    }

    #[test]
    fn matching_needs_tenant_and_selector() {
        let mut pod = target("pod-1");
        pod.kind = "pod".into();
        pod.labels.insert("tier".into(), "web".into());
        let mut p = policy();
        assert!(p.matches(&pod));
        let mut other = pod.clone();
        other.tenant = TenantId::new("globex").unwrap();
        assert!(!p.matches(&other));
        p.selector.kinds = vec!["vps".into()];
        assert!(!p.matches(&pod));
        p.selector.kinds.push("pod".into());
        assert!(p.matches(&pod));
        p.selector.labels.insert("tier".into(), "db".into());
        assert!(!p.matches(&pod));
        p.selector.labels.insert("tier".into(), "web".into());
        assert!(p.matches(&pod));
        p.selector.targets = vec![TargetId::new("pod-2").unwrap()];
        assert!(!p.matches(&pod));
        p.selector.targets.push(pod.id.clone());
        assert!(p.matches(&pod));
    }

    #[test]
    fn select_prefers_enabled_then_specific_then_first() {
        let mut pod = target("pod-1");
        pod.kind = "pod".into();
        pod.labels.insert("tier".into(), "web".into());
        pod.labels.insert("zone".into(), "a".into());

        let catch_all = HealPolicy::new("all", tenant(), "all");
        let catch_all_2 = HealPolicy::new("all-2", tenant(), "all 2");
        let mut by_kind = HealPolicy::new("kind", tenant(), "kind");
        by_kind.selector.kinds.push("pod".into());
        let mut by_label = HealPolicy::new("label", tenant(), "label");
        by_label.selector.labels.insert("tier".into(), "web".into());
        let mut by_two_labels = by_label.clone();
        by_two_labels.id = "labels".into();
        by_two_labels
            .selector
            .labels
            .insert("zone".into(), "a".into());
        let mut by_target = HealPolicy::new("target", tenant(), "target");
        by_target.selector.targets.push(pod.id.clone());
        let mut foreign = by_target.clone();
        foreign.id = "foreign".into();
        foreign.tenant = TenantId::new("globex").unwrap();

        let pick = |ps: &[HealPolicy]| select_policy(ps, &pod).map(|p| p.id.clone());
        assert_eq!(pick(&[]), None);
        assert_eq!(pick(&[foreign.clone()]), None);
        assert_eq!(
            pick(&[catch_all.clone(), catch_all_2.clone()]).as_deref(),
            Some("all")
        );
        assert_eq!(
            pick(&[catch_all.clone(), by_kind.clone()]).as_deref(),
            Some("kind")
        );
        assert_eq!(
            pick(&[by_kind.clone(), by_label.clone()]).as_deref(),
            Some("label")
        );
        assert_eq!(
            pick(&[by_label.clone(), by_two_labels.clone()]).as_deref(),
            Some("labels")
        );
        let all = [
            catch_all.clone(),
            by_kind.clone(),
            by_two_labels.clone(),
            foreign.clone(),
            by_target.clone(),
        ];
        assert_eq!(pick(&all).as_deref(), Some("target"));
        let mut disabled = by_target.clone();
        disabled.enabled = false;
        assert_eq!(pick(&[disabled, catch_all.clone()]).as_deref(), Some("all"));
    }
}
