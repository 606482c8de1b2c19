//! The status grid in one call: every visible target's name, status,
//! cause, score, latency, last check, uptime over a window and open alert
//! count, with the counts by status. The dashboard draws its grid from it;
//! with 1,000 targets it replaces 1,000 detail requests.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use healthcore::model::{Status, TargetId};
use healthcore::summary::display_status;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::to_value;
use crate::server::ApiState;
use crate::server::auth::Caller;
use crate::server::error::{ApiError, ApiResult};
use crate::server::extract::Params;

pub(super) fn register(r: OpenApiRouter<ApiState>) -> OpenApiRouter<ApiState> {
    r.routes(routes!(grid))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct GridQuery {
    /// Uptime window back from now: `24h`, `7d`, `30d` or any duration
    /// from 1 hour to 30 days (default `7d`); `off` leaves uptime out.
    uptime: Option<String>,
}

/// One grid cell.
#[derive(Debug, Serialize)]
struct Cell {
    id: TargetId,
    name: String,
    tenant: healthcore::model::TenantId,
    status: Status,
    /// The display name: 000's `stale`/`offline` or the status.
    label: &'static str,
    cause: healthcore::model::Cause,
    score: u8,
    /// Slowest last latency among its enabled checks, ms.
    latency_ms: Option<f64>,
    /// Latest check (or report) time.
    last_check_at: Option<DateTime<Utc>>,
    /// Time-weighted uptime % over the window.
    uptime_percent: Option<f64>,
    /// Unresolved alerts.
    alerts: usize,
}

fn uptime_window(raw: Option<&str>) -> ApiResult<Option<Duration>> {
    let raw = raw.unwrap_or("7d");
    if raw == "off" {
        return Ok(None);
    }
    let d = humantime::parse_duration(raw).map_err(|_| {
        ApiError::invalid_query(
            "uptime",
            "uptime must be a duration such as 24h or 7d, or off",
        )
    })?;
    if d < Duration::from_secs(3600) || d > Duration::from_secs(30 * 86_400) {
        return Err(ApiError::invalid_query(
            "uptime",
            "uptime must be between 1h and 30d",
        ));
    }
    Ok(Some(d))
}

/// Every visible target as one compact row, worst status first, then by
/// name; counts by status; the ready flag.
#[utoipa::path(get, path = "/health/grid", tag = "health", security(("bearer" = [])),
    params(GridQuery),
    responses((status = 200, description = "`{generated_at, ready, uptime_window, counts: {total, healthy, degraded, down, unknown}, \
                targets: [{id, name, tenant, status, label, cause, score, latency_ms, last_check_at, uptime_percent, alerts}]}`"),
              (status = 400, description = "Bad `uptime` window")))]
async fn grid(
    State(state): State<ApiState>,
    caller: Caller,
    Params(q): Params<GridQuery>,
) -> ApiResult<Json<Value>> {
    let window = uptime_window(q.uptime.as_deref())?;
    let views = state.engine.target_views(caller.tenant());
    let now = state.engine.now();
    let mut uptime: std::collections::HashMap<TargetId, Option<f64>> = Default::default();
    if let Some(w) = window {
        let d = chrono::Duration::from_std(w)
            .map_err(|_| ApiError::invalid_query("uptime", "uptime is too long"))?;
        for v in state
            .engine
            .uptime_all(caller.tenant(), now - d, now)
            .await?
        {
            uptime.insert(v.target, v.report.percent);
        }
    }
    let mut counts = [0u64; 4];
    let mut cells: Vec<Cell> = views
        .into_iter()
        .map(|v| {
            let enabled = v.checks.iter().filter(|c| c.spec.enabled);
            let latency_ms = enabled
                .clone()
                .filter_map(|c| c.state.last_latency)
                .max()
                .map(|d| (d.as_secs_f64() * 10_000.0).round() / 10.0);
            let last_check_at = enabled
                .filter_map(|c| c.state.last_check_at)
                .max()
                .or(v.last_seen_at);
            let slot = match v.health.status {
                Status::Healthy => 0,
                Status::Degraded => 1,
                Status::Down => 2,
                _ => 3,
            };
            if let Some(c) = counts.get_mut(slot) {
                *c += 1;
            }
            Cell {
                uptime_percent: uptime
                    .get(&v.target.id)
                    .copied()
                    .flatten()
                    .map(|p| (p * 1000.0).round() / 1000.0),
                id: v.target.id,
                name: v.target.name,
                tenant: v.target.tenant,
                status: v.health.status,
                label: display_status(v.health.status, v.health.cause),
                cause: v.health.cause,
                score: v.score.value,
                latency_ms,
                last_check_at,
                alerts: v.alerts.len(),
            }
        })
        .collect();
    cells.sort_by(|a, b| {
        b.status
            .cmp(&a.status)
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.id.cmp(&b.id))
    });
    let [healthy, degraded, down, unknown] = counts;
    Ok(Json(json!({
        "generated_at": now,
        "ready": state.engine.is_ready(),
        "uptime_window": window.map(|_| q.uptime.as_deref().unwrap_or("7d")),
        "counts": {
            "total": cells.len(),
            "healthy": healthy,
            "degraded": degraded,
            "down": down,
            "unknown": unknown,
        },
        "targets": to_value(&cells)?,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows() {
        assert_eq!(
            uptime_window(None).unwrap(),
            Some(Duration::from_secs(7 * 86_400))
        );
        assert_eq!(uptime_window(Some("off")).unwrap(), None);
        assert_eq!(
            uptime_window(Some("24h")).unwrap(),
            Some(Duration::from_secs(86_400))
        );
        for bad in ["10m", "31d", "soon", ""] {
            assert_eq!(
                uptime_window(Some(bad)).unwrap_err().field(),
                Some("uptime"),
                "{bad}"
            );
        }
    }
}
