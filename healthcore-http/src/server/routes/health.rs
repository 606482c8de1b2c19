//! Health reads: the public liveness answer, seed 000's summary and
//! per-target detail and snapshots, seed 002's overview and result
//! history, and uptime (004) per target and fleet-wide.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use healthcore::model::CheckId;
use healthcore::store::StoreExt;
use healthcore::summary::display_status;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{alert_json, list, paged, summary_json, to_value, visible_view};
use crate::server::ApiState;
use crate::server::auth::Caller;
use crate::server::error::{ApiError, ApiResult};
use crate::server::extract::{Params, page};

pub(super) fn register(r: OpenApiRouter<ApiState>) -> OpenApiRouter<ApiState> {
    r.routes(routes!(health))
        .routes(routes!(summary))
        .routes(routes!(overview))
        .routes(routes!(target_health))
        .routes(routes!(target_history))
        .routes(routes!(target_results))
        .routes(routes!(target_uptime))
        .routes(routes!(fleet_uptime))
}

/// Liveness and readiness, public: `{"status": "ok", "ready": bool}`.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "The service is up; `ready` tells whether the startup checklist passed")))]
async fn health(State(state): State<ApiState>) -> Json<Value> {
    Json(json!({"status": "ok", "ready": state.engine.is_ready()}))
}

/// Counts by status, average score and alert totals (seed 000), of the
/// caller's tenant for tenant tokens.
#[utoipa::path(get, path = "/health/summary", tag = "health", security(("bearer" = [])),
    responses((status = 200, description = "total_targets (also as seed 000's total_nodes), by_status, average_score, active_alerts, critical_alerts")))]
async fn summary(State(state): State<ApiState>, caller: Caller) -> ApiResult<Json<Value>> {
    Ok(Json(summary_json(&state.engine.summary(caller.tenant()))?))
}

/// Seed 002's tenant-wide overview: counts and one row per target.
#[utoipa::path(get, path = "/health/overview", tag = "health", security(("bearer" = [])),
    responses((status = 200, description = "summary counts and per-target rows")))]
async fn overview(State(state): State<ApiState>, caller: Caller) -> ApiResult<Json<Value>> {
    Ok(Json(to_value(&state.engine.overview(caller.tenant()))?))
}

/// One target's health: status, cause, score with breakdown, check
/// counters and breakers, lifecycle, last boot, IP change, active alerts.
#[utoipa::path(get, path = "/targets/{id}/health", tag = "health", security(("bearer" = [])),
    params(("id" = String, Path, description = "Target id")),
    responses((status = 200, description = "Health detail"), (status = 404, description = "No such target")))]
async fn target_health(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let (_, v) = visible_view(&state, &caller, &id)?;
    let checks: Vec<Value> = v
        .checks
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "kind": c.spec.kind,
                "enabled": c.spec.enabled,
                "status": c.state.status,
                "cause": c.state.cause,
                "consecutive_failures": c.state.consecutive_failures,
                "consecutive_successes": c.state.consecutive_successes,
                "total_checks": c.state.total_checks,
                "total_failures": c.state.total_failures,
                "total_recoveries": c.state.total_recoveries,
                "last_check_at": c.state.last_check_at,
                "last_healthy_at": c.state.last_healthy_at,
                "last_unhealthy_at": c.state.last_unhealthy_at,
                "last_outcome": c.state.last_outcome,
                "last_latency_ms": c.state.last_latency.map(|d| d.as_secs_f64() * 1000.0),
                "breaker": c.breaker,
                "breaker_detail": c.breaker_detail,
                "flapping": c.flapping,
                "flap_percent": c.flap_percent,
            })
        })
        .collect();
    let active_alerts = v
        .alerts
        .iter()
        .map(|a| alert_json(&state, a))
        .collect::<ApiResult<Vec<_>>>()?;
    let lc = &v.lifecycle;
    Ok(Json(json!({
        "target_id": v.target.id,
        "name": v.target.name,
        "tenant": v.target.tenant,
        "health_status": display_status(v.health.status, v.health.cause),
        "status": v.health.status,
        "cause": v.health.cause,
        "health_score": v.score.value,
        "score_breakdown": v.score.breakdown,
        "last_seen_at": v.last_seen_at,
        "lifecycle": lc,
        "boot_count": lc.boot_count,
        "install_attempts": lc.install_attempts,
        "last_boot_at": lc.last_boot_at,
        "ip_address": lc.ip_address,
        "last_ip_change_at": lc.last_ip_change_at,
        "previous_ip_address": lc.previous_ip_address,
        "checks": checks,
        "heal": v.heal,
        "active_alerts": active_alerts,
    })))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct HoursQuery {
    /// Hours of history, 1..=168 (default 24).
    hours: Option<u32>,
    /// Page size 1..=500 (default 50).
    limit: Option<u32>,
    /// Snapshots to skip.
    offset: Option<u64>,
}

/// Health snapshots for trend graphs, oldest first (seed 000).
#[utoipa::path(get, path = "/targets/{id}/health/history", tag = "health", security(("bearer" = [])),
    params(("id" = String, Path, description = "Target id"), HoursQuery),
    responses((status = 200, description = "Snapshots in the range"), (status = 404, description = "No such target")))]
async fn target_history(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(q): Params<HoursQuery>,
) -> ApiResult<Json<Value>> {
    let hours = q.hours.unwrap_or(24);
    if !(1..=168).contains(&hours) {
        return Err(ApiError::invalid_query("hours", "hours must be 1..=168"));
    }
    let p = page(q.limit, q.offset)?;
    let (id, _) = visible_view(&state, &caller, &id)?;
    let since = state.engine.now() - chrono::Duration::hours(i64::from(hours));
    let snaps = state.engine.store().snapshots(&id, since).await?;
    let Json(mut body) = paged(snaps, p);
    body["hours"] = json!(hours);
    Ok(Json(body))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ResultsQuery {
    /// Hours of results, 1..=720 (default 24).
    hours: Option<u32>,
    /// Only this check.
    check: Option<String>,
}

/// Recent results with count-based uptime and average latency (seed 002).
/// `total_checks`, `healthy_checks`, `unhealthy_checks`,
/// `uptime_percentage` and `avg_latency_ms` count every result of the
/// window (the target's, or with `check` that check's); `results` lists
/// the newest of them, at most `results_limit` (100). `counts_complete` is
/// `false` only for one check over a store that keeps no per-check counts.
#[utoipa::path(get, path = "/targets/{id}/results", tag = "health", security(("bearer" = [])),
    params(("id" = String, Path, description = "Target id"), ResultsQuery),
    responses((status = 200, description = "Result history: counts over the whole window, the newest results (at most results_limit)"),
              (status = 404, description = "No such target")))]
async fn target_results(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(q): Params<ResultsQuery>,
) -> ApiResult<Json<Value>> {
    let hours = q.hours.unwrap_or(24);
    if !(1..=720).contains(&hours) {
        return Err(ApiError::invalid_query("hours", "hours must be 1..=720"));
    }
    let check = q
        .check
        .map(CheckId::new)
        .transpose()
        .map_err(|e| ApiError::invalid_query("check", e.to_string()))?;
    let (id, _) = visible_view(&state, &caller, &id)?;
    let h = state.engine.result_history(&id, hours, check).await?;
    Ok(Json(to_value(&h)?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct UptimeQuery {
    /// The range back from now: `24h`, `7d`, `30d` or any duration from
    /// 1 minute to 400 days (default `24h`).
    window: Option<String>,
    /// Page size for the fleet-wide list, 1..=500 (default 50).
    limit: Option<u32>,
    /// Items to skip.
    offset: Option<u64>,
}

fn window(raw: Option<&str>) -> ApiResult<Duration> {
    let raw = raw.unwrap_or("24h");
    let d = humantime::parse_duration(raw).map_err(|_| {
        ApiError::invalid_query("window", "window must be a duration such as 24h, 7d or 30d")
    })?;
    if d < Duration::from_secs(60) || d > Duration::from_secs(400 * 86_400) {
        return Err(ApiError::invalid_query(
            "window",
            "window must be between 1m and 400d",
        ));
    }
    Ok(d)
}

fn range(state: &ApiState, w: Duration) -> ApiResult<(DateTime<Utc>, DateTime<Utc>)> {
    let now = state.engine.now();
    let d = chrono::Duration::from_std(w)
        .map_err(|_| ApiError::invalid_query("window", "window is too long"))?;
    Ok((now - d, now))
}

/// Time-weighted uptime of one target over a window, with a timeline
/// (004).
#[utoipa::path(get, path = "/targets/{id}/uptime", tag = "health", security(("bearer" = [])),
    params(("id" = String, Path, description = "Target id"), UptimeQuery),
    responses((status = 200, description = "Uptime report and timeline"), (status = 404, description = "No such target")))]
async fn target_uptime(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(q): Params<UptimeQuery>,
) -> ApiResult<Json<Value>> {
    let w = window(q.window.as_deref())?;
    let (id, _) = visible_view(&state, &caller, &id)?;
    let (from, to) = range(&state, w)?;
    let v = state.engine.uptime(&id, from, to).await?;
    Ok(Json(to_value(&v)?))
}

/// Uptime of every visible target over a window (004), paged.
#[utoipa::path(get, path = "/uptime", tag = "health", security(("bearer" = [])),
    params(UptimeQuery),
    responses((status = 200, description = "One uptime report per target")))]
async fn fleet_uptime(
    State(state): State<ApiState>,
    caller: Caller,
    Params(q): Params<UptimeQuery>,
) -> ApiResult<Json<Value>> {
    let w = window(q.window.as_deref())?;
    let p = page(q.limit, q.offset)?;
    let (from, to) = range(&state, w)?;
    let mut all = state.engine.uptime_all(caller.tenant(), from, to).await?;
    all.sort_by(|a, b| a.target.cmp(&b.target));
    let paged = p.apply(all);
    Ok(list(paged.items, paged.total, p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows() {
        assert_eq!(window(None).unwrap(), Duration::from_secs(86_400));
        assert_eq!(window(Some("7d")).unwrap(), Duration::from_secs(7 * 86_400));
        assert_eq!(
            window(Some("30d")).unwrap(),
            Duration::from_secs(30 * 86_400)
        );
        assert_eq!(window(Some("10s")).unwrap_err().field(), Some("window"));
        assert_eq!(window(Some("500d")).unwrap_err().field(), Some("window"));
        assert_eq!(window(Some("soon")).unwrap_err().field(), Some("window"));
    }
}
