//! Quick actions (seed 004): recheck now, diagnose, restart (with an
//! explicit confirmation), last N log lines. Every action is audited with
//! its actor and result.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Engine, EngineError, claims, effects, lock, scheduler};
use crate::heal::{HealAction, HealOutcome};
use crate::model::{CheckKey, Observation, Status, TargetId};

/// What "diagnose" found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiagnoseReport {
    /// Each check's extended observation.
    pub checks: Vec<(CheckKey, Observation)>,
}

/// What "restart" did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestartReport {
    /// The target.
    pub target: TargetId,
    /// How it went.
    pub outcome: HealOutcome,
}

impl Engine {
    /// Runs a check now, outside its schedule, and feeds the result
    /// through the rules. Like a scheduled run it never overlaps another
    /// run of the same check (it waits for one in flight) and takes a
    /// slot of the global concurrency bound. Audited, refusals and
    /// failures included. A passive (heartbeat) check is refused with
    /// [`EngineError::PassiveCheck`]: it has nothing to run, and feeding
    /// it an `unknown` would be a lie.
    ///
    /// In claims mode (several instances share the store) the recheck
    /// first claims the check and runs through the same fenced path as a
    /// claimed run, from the state the previous owner stored: when another
    /// instance holds the check's lease it is refused with
    /// [`EngineError::Conflict`] ("held by another instance … try again")
    /// and nothing runs or changes.
    pub async fn recheck(
        &self,
        key: &CheckKey,
        actor: &str,
    ) -> Result<(Status, Observation), EngineError> {
        let spec = lock(&self.inner.fleet)
            .check_spec(key)
            .cloned()
            .ok_or_else(|| EngineError::not_found("check", key))?;
        if spec.kind == crate::fleet::HEARTBEAT_KIND {
            return Err(EngineError::PassiveCheck {
                key: key.to_string(),
            });
        }
        let done = if self.inner.claims.is_some() {
            claims::recheck(&self.inner, key, spec).await
        } else {
            let run_lock = scheduler::run_lock(&self.inner, key);
            let _guard = run_lock.lock().await;
            let permit = self.inner.semaphore.acquire().await;
            let obs = scheduler::run_probe(&self.inner, &Arc::new(spec)).await;
            drop(permit);
            scheduler::ingest(&self.inner, key, obs.clone()).map(|status| (status, obs))
        };
        let details = serde_json::json!({"check": key.check});
        match done {
            Ok((status, obs)) => {
                self.audit(
                    actor,
                    "recheck",
                    Some(&key.target),
                    obs.outcome.as_str(),
                    details,
                )
                .await?;
                Ok((status, obs))
            }
            Err(e) => {
                let result = match &e {
                    EngineError::Conflict(why) => format!("refused: {why}"),
                    other => format!("failed: {other}"),
                };
                if let Err(audit) = self
                    .audit(actor, "recheck", Some(&key.target), &result, details)
                    .await
                {
                    tracing::warn!(error = %audit, "audit of a failed recheck could not be written");
                }
                Err(e)
            }
        }
    }

    /// Runs every enabled check of a target in its extended form and
    /// returns the output (not fed to the rules). Each run waits for a run
    /// of the same check in flight (never overlapping it) and takes a
    /// slot of the global concurrency bound. Audited.
    pub async fn diagnose(
        &self,
        target: &TargetId,
        actor: &str,
    ) -> Result<DiagnoseReport, EngineError> {
        let specs: Vec<(CheckKey, crate::model::CheckSpec)> = {
            let fleet = lock(&self.inner.fleet);
            let view = fleet
                .target_view(target, self.inner.clock.now())
                .ok_or_else(|| EngineError::not_found("target", target))?;
            view.checks
                .into_iter()
                .filter(|c| c.spec.enabled && c.spec.kind != crate::fleet::HEARTBEAT_KIND)
                .map(|c| (CheckKey::new(target.clone(), c.id), c.spec))
                .collect()
        };
        let mut checks = Vec::with_capacity(specs.len());
        for (key, spec) in specs {
            let run_lock = scheduler::run_lock(&self.inner, &key);
            let _running = run_lock.lock().await;
            let _permit = self.inner.semaphore.acquire().await;
            let obs = scheduler::probe(&self.inner, &Arc::new(spec), true).await;
            checks.push((key, obs));
        }
        self.audit(
            actor,
            "diagnose",
            Some(target),
            "ok",
            serde_json::json!({"checks": checks.len()}),
        )
        .await?;
        Ok(DiagnoseReport { checks })
    }

    /// Restarts a target through the healer. `confirm` must equal the
    /// target's id; anything else is refused (and audited as refused).
    pub async fn restart(
        &self,
        target: &TargetId,
        confirm: Option<&str>,
        actor: &str,
    ) -> Result<RestartReport, EngineError> {
        let t = lock(&self.inner.fleet)
            .target(target)
            .cloned()
            .ok_or_else(|| EngineError::not_found("target", target))?;
        if confirm != Some(target.as_str()) {
            self.audit(
                actor,
                "restart",
                Some(target),
                "refused: not confirmed",
                serde_json::Value::Null,
            )
            .await?;
            return Err(EngineError::ConfirmationRequired {
                expected: target.to_string(),
            });
        }
        let healer = self
            .inner
            .healer
            .clone()
            .ok_or(EngineError::NotConfigured("healer"))?;
        // retried while the target cannot be reached, within the heal timeout
        let outcome = effects::heal(&self.inner, healer.as_ref(), &t, &HealAction::Restart).await;
        let result = match &outcome {
            HealOutcome::Success { .. } => "ok".to_owned(),
            HealOutcome::Failed { error } => format!("failed: {error}"),
            #[allow(unreachable_patterns)]
            _ => "unknown".to_owned(),
        };
        self.audit(
            actor,
            "restart",
            Some(target),
            &result,
            serde_json::Value::Null,
        )
        .await?;
        Ok(RestartReport {
            target: target.clone(),
            outcome,
        })
    }

    /// The last `lines` log lines of a target (capped by
    /// `limits.max_log_lines`). Audited.
    pub async fn logs(
        &self,
        target: &TargetId,
        lines: usize,
        actor: &str,
    ) -> Result<Vec<String>, EngineError> {
        let t = lock(&self.inner.fleet)
            .target(target)
            .cloned()
            .ok_or_else(|| EngineError::not_found("target", target))?;
        let source = self
            .inner
            .log_source
            .clone()
            .ok_or(EngineError::NotConfigured("log source"))?;
        let n = lines.clamp(1, self.inner.config.limits.max_log_lines);
        let res = source.last_lines(&t, n).await;
        let (result, out) = match res {
            Ok(mut v) => {
                if v.len() > n {
                    v.drain(..v.len() - n);
                }
                ("ok".to_owned(), Ok(v))
            }
            Err(e @ crate::healer::LogError::NotConfigured(_)) => (
                format!("failed: {e}"),
                Err(EngineError::NotConfigured("log source")),
            ),
            Err(e) => {
                tracing::warn!(target_id = %target, error = %e, "reading logs failed");
                (
                    format!("failed: {e}"),
                    Err(EngineError::Unavailable("reading the target's logs")),
                )
            }
        };
        self.audit(
            actor,
            "logs",
            Some(target),
            &result,
            serde_json::json!({"lines": n}),
        )
        .await?;
        out
    }
}
