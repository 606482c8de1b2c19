//! The startup checklist (seed 004): required and optional checks run at
//! start; the engine's ready flag is up once every required check passed
//! or was overridden by an admin (audited). Host applications read or
//! await the flag to gate work.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Engine, EngineError, lock, scheduler};
use crate::error::ValidationError;
use crate::model::{CheckId, CheckSpec};

/// One pre-flight check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecklistItem {
    /// Unique name (`database`, `migrations`, …).
    pub name: String,
    /// The check to run (any registered kind).
    pub check: CheckSpec,
    /// Required checks gate readiness; optional ones are reported only.
    #[serde(default = "yes")]
    pub required: bool,
}

fn yes() -> bool {
    true
}

impl ChecklistItem {
    /// Validates the name and the check.
    pub fn validate(&self) -> Result<(), ValidationError> {
        CheckId::new(&self.name).map_err(|e| ValidationError::new("name", e.rule().to_owned()))?;
        self.check.validate().map_err(|e| e.within("check"))
    }
}

/// Where a checklist item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChecklistStatus {
    /// Not run yet.
    Pending,
    /// Passed.
    Passed,
    /// Failed.
    Failed,
    /// Failed, but an admin let it through.
    Overridden,
}

/// One item's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChecklistResult {
    /// The item's name.
    pub name: String,
    /// Whether it gates readiness.
    pub required: bool,
    /// Where it stands.
    pub status: ChecklistStatus,
    /// Why it failed.
    pub error: Option<String>,
    /// Who overrode it.
    pub overridden_by: Option<String>,
    /// When it last ran.
    pub checked_at: Option<DateTime<Utc>>,
}

pub(crate) fn initial(items: &[ChecklistItem]) -> Vec<ChecklistResult> {
    items
        .iter()
        .map(|i| ChecklistResult {
            name: i.name.clone(),
            required: i.required,
            status: ChecklistStatus::Pending,
            error: None,
            overridden_by: None,
            checked_at: None,
        })
        .collect()
}

fn all_required_ok(results: &[ChecklistResult]) -> bool {
    results.iter().all(|r| {
        !r.required
            || matches!(
                r.status,
                ChecklistStatus::Passed | ChecklistStatus::Overridden
            )
    })
}

impl Engine {
    /// Runs every checklist item now and updates the ready flag.
    pub async fn run_checklist(&self) {
        let inner = &self.inner;
        for (i, item) in inner.checklist_items.iter().enumerate() {
            let obs = scheduler::run_probe(inner, &Arc::new(item.check.clone())).await;
            let passed = obs.outcome.is_success();
            let mut list = lock(&inner.checklist);
            if let Some(r) = list.get_mut(i) {
                r.checked_at = Some(obs.at);
                if passed {
                    r.status = ChecklistStatus::Passed;
                    r.error = None;
                } else if r.status != ChecklistStatus::Overridden {
                    r.status = ChecklistStatus::Failed;
                    r.error = Some(
                        obs.message
                            .clone()
                            .unwrap_or_else(|| format!("check returned {}", obs.outcome)),
                    );
                }
            }
        }
        let ready = all_required_ok(&lock(&inner.checklist));
        let _ = inner.ready.send_replace(ready);
        tracing::info!(ready, "startup checklist finished");
    }

    /// The checklist's results.
    pub fn checklist(&self) -> Vec<ChecklistResult> {
        lock(&self.inner.checklist).clone()
    }

    /// True once every required checklist item passed or was overridden.
    pub fn is_ready(&self) -> bool {
        *self.inner.ready.borrow()
    }

    /// Waits until the engine is ready.
    pub async fn wait_ready(&self) {
        let mut rx = self.inner.ready.subscribe();
        let _ = rx.wait_for(|r| *r).await;
    }

    /// Lets a failed item through (audited). Only failed items can be
    /// overridden: `Conflict` otherwise, `NotFound` for unknown names.
    pub async fn override_checklist(
        &self,
        name: &str,
        actor: &str,
    ) -> Result<ChecklistResult, EngineError> {
        let result = {
            let mut list = lock(&self.inner.checklist);
            let r = list
                .iter_mut()
                .find(|r| r.name == name)
                .ok_or_else(|| EngineError::not_found("checklist item", name))?;
            if r.status != ChecklistStatus::Failed {
                return Err(EngineError::Conflict(format!(
                    "checklist item {name} is not failed"
                )));
            }
            r.status = ChecklistStatus::Overridden;
            r.overridden_by = Some(actor.to_owned());
            r.clone()
        };
        let ready = all_required_ok(&lock(&self.inner.checklist));
        let _ = self.inner.ready.send_replace(ready);
        self.audit(
            actor,
            "checklist_override",
            None,
            "ok",
            serde_json::json!({ "item": name, "error": result.error }),
        )
        .await?;
        Ok(result)
    }
}
