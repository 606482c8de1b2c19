//! Operations: maintenance windows (CRUD), SLOs per target (objective,
//! error budget, burn rates), the startup checklist and its override,
//! quick actions (restart with confirmation, diagnose, recheck), logs and
//! the activity feed.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use healthcore::engine::{ActivityQuery as EngineActivityQuery, ActivityType, MAX_ACTIVITY_OFFSET};
use healthcore::maintenance::MaintenanceWindow;
use healthcore::model::{CheckId, CheckKey, TargetId};
use healthcore::slo::{DEFAULT_BURN_RULES, ErrorBudget, Slo, burn_rate_from_report, evaluate_burn};
use healthcore::store::{Doc, StoreExt, doc_kind};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::heal::from_value;
use super::{PageQuery, list, paged, to_value, visible_view};
use crate::server::ApiState;
use crate::server::auth::Caller;
use crate::server::error::{ApiError, ApiResult};
use crate::server::extract::{JsonBody, NoBody, OptionalJson, Params, page};

pub(super) fn register(r: OpenApiRouter<ApiState>) -> OpenApiRouter<ApiState> {
    r.routes(routes!(list_maintenance, post_maintenance))
        .routes(routes!(
            get_maintenance,
            put_maintenance,
            delete_maintenance
        ))
        .routes(routes!(get_slo, put_slo, delete_slo))
        .routes(routes!(checklist))
        .routes(routes!(override_checklist))
        .routes(routes!(action))
        .routes(routes!(logs))
        .routes(routes!(activity))
}

// ---- maintenance ------------------------------------------------------

async fn visible_window(
    state: &ApiState,
    caller: &Caller,
    id: &str,
) -> ApiResult<(Doc, MaintenanceWindow)> {
    let doc = state
        .engine
        .store()
        .get_doc(doc_kind::MAINTENANCE, id)
        .await?
        .ok_or_else(|| ApiError::not_found("maintenance window"))?;
    let visible = match &doc.tenant {
        None => caller.is_admin(),
        Some(t) => caller.can_see(t),
    };
    if !visible {
        return Err(ApiError::not_found("maintenance window"));
    }
    let w: MaintenanceWindow = serde_json::from_value(doc.body.clone()).map_err(|e| {
        tracing::error!(error = %e, "stored maintenance window does not decode");
        ApiError::internal()
    })?;
    Ok((doc, w))
}

/// A tenant token's window covers only its tenant: the selector's tenant
/// is set (or must already be) the token's.
fn parse_window(caller: &Caller, mut body: Value) -> ApiResult<MaintenanceWindow> {
    if let (Some(own), Value::Object(m)) = (caller.tenant(), &mut body) {
        let sel = m
            .entry("selector")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Value::Object(s) = sel {
            match s.get("tenant") {
                None => {
                    s.insert("tenant".into(), json!(own));
                }
                Some(Value::String(t)) if t == own.as_str() => {}
                Some(_) => {
                    return Err(ApiError::invalid(
                        "selector.tenant",
                        "a tenant token can only cover its own tenant",
                    ));
                }
            }
        }
    }
    let mut w: MaintenanceWindow = from_value(body)?;
    if w.created_by.is_none() {
        w.created_by = Some(caller.name.clone());
    }
    w.validate()?;
    Ok(w)
}

async fn save_window(state: &ApiState, caller: &Caller, w: MaintenanceWindow) -> ApiResult<Value> {
    if let Some(doc) = state
        .engine
        .store()
        .get_doc(doc_kind::MAINTENANCE, &w.id)
        .await?
    {
        let visible = match &doc.tenant {
            None => caller.is_admin(),
            Some(t) => caller.can_see(t),
        };
        if !visible {
            return Err(ApiError::not_found("maintenance window"));
        }
    }
    let tenant = caller
        .tenant()
        .cloned()
        .or_else(|| w.selector.tenant.clone());
    state
        .engine
        .put_maintenance(w.clone(), tenant.as_ref())
        .await?;
    to_value(&w)
}

/// Maintenance windows of the caller's tenant (all for admins).
#[utoipa::path(get, path = "/maintenance", tag = "operations", security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of windows"), (status = 400, description = "Bad limit or offset")))]
async fn list_maintenance(
    State(state): State<ApiState>,
    caller: Caller,
    Params(q): Params<PageQuery>,
) -> ApiResult<Json<Value>> {
    let p = q.page()?;
    let items = state
        .engine
        .store()
        .maintenance_windows(caller.tenant())
        .await?;
    Ok(paged(items, p))
}

/// Creates or replaces a window by its `id`; without one a new window is
/// created under a generated id, `maintenance-<16 hex digits>`, returned in
/// the answer.
#[utoipa::path(post, path = "/maintenance", tag = "operations", security(("bearer" = [])),
    request_body(content = Object, description = "id (optional: generated as `maintenance-<16 hex>` when absent), name, schedule (one_off or recurring), selector"),
    responses((status = 201, description = "Saved; the window with its id"), (status = 422, description = "A field is invalid")))]
async fn post_maintenance(
    State(state): State<ApiState>,
    caller: Caller,
    JsonBody(mut body): JsonBody<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    super::id_or_generated(&mut body, "maintenance")?;
    let w = parse_window(&caller, body)?;
    Ok((
        StatusCode::CREATED,
        Json(save_window(&state, &caller, w).await?),
    ))
}

/// One window.
#[utoipa::path(get, path = "/maintenance/{id}", tag = "operations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Window id")),
    responses((status = 200, description = "The window"), (status = 404, description = "No such window")))]
async fn get_maintenance(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let (_, w) = visible_window(&state, &caller, &id).await?;
    let active = w.is_active_at(state.engine.now());
    let mut v = to_value(&w)?;
    if let Value::Object(m) = &mut v {
        m.insert("active".into(), json!(active));
    }
    Ok(Json(v))
}

/// Replaces a window (the body's id, if given, must match the path).
#[utoipa::path(put, path = "/maintenance/{id}", tag = "operations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Window id")),
    request_body(content = Object, description = "A maintenance window"),
    responses((status = 200, description = "Saved"), (status = 404, description = "Another tenant's window"),
              (status = 422, description = "A field is invalid")))]
async fn put_maintenance(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(mut body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    super::id_from_path(&mut body, &id)?;
    let w = parse_window(&caller, body)?;
    Ok(Json(save_window(&state, &caller, w).await?))
}

/// Deletes a window.
#[utoipa::path(delete, path = "/maintenance/{id}", tag = "operations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Window id")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such window")))]
async fn delete_maintenance(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    visible_window(&state, &caller, &id).await?;
    state.engine.delete_maintenance(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- SLOs ---------------------------------------------------------------

/// Windows the burn rate is reported over.
const BURN_WINDOWS: [(&str, u64); 6] = [
    ("5m", 300),
    ("30m", 1800),
    ("1h", 3600),
    ("6h", 6 * 3600),
    ("1d", 86_400),
    ("3d", 3 * 86_400),
];

/// A target's SLO with its error budget over the period, burn rates over
/// the workbook's windows and the burn alert that would fire now.
#[utoipa::path(get, path = "/targets/{id}/slo", tag = "operations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Target id")),
    responses((status = 200, description = "Objective, budget, burn rates"), (status = 404, description = "No such target or no SLO")))]
async fn get_slo(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let (id, _) = visible_view(&state, &caller, &id)?;
    let doc = state
        .engine
        .store()
        .get_doc(doc_kind::SLO, id.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found("slo"))?;
    let slo: Slo = serde_json::from_value(doc.body).map_err(|e| {
        tracing::error!(error = %e, "stored slo does not decode");
        ApiError::internal()
    })?;
    let now = state.engine.now();
    let back = |d: Duration| {
        chrono::Duration::from_std(d)
            .ok()
            .and_then(|d| now.checked_sub_signed(d))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    };
    let period = state.engine.uptime(&id, back(slo.period), now).await?;
    let budget = ErrorBudget::from_report(&period.report, slo.objective);
    let mut rates: Vec<(Duration, Option<f64>)> = Vec::new();
    let mut shown = serde_json::Map::new();
    for (name, secs) in BURN_WINDOWS {
        let d = Duration::from_secs(secs);
        let r = state.engine.uptime(&id, back(d), now).await?;
        let rate = burn_rate_from_report(&r.report, slo.objective);
        rates.push((d, rate));
        shown.insert(name.to_owned(), json!(rate));
    }
    let alert = evaluate_burn(&DEFAULT_BURN_RULES, |w| {
        rates.iter().find(|(d, _)| *d == w).and_then(|(_, r)| *r)
    });
    Ok(Json(json!({
        "target": id,
        "slo": slo,
        "uptime_percent": period.report.percent,
        "budget": budget,
        "burn_rates": shown,
        "burn_alert": alert,
    })))
}

/// Sets a target's SLO (`objective` in (0, 1), `period` like `30d`).
#[utoipa::path(put, path = "/targets/{id}/slo", tag = "operations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Target id")),
    request_body(content = Object, description = "objective (e.g. 0.999), period (e.g. `30d`)"),
    responses((status = 200, description = "Saved"), (status = 404, description = "No such target"),
              (status = 422, description = "A field is invalid")))]
async fn put_slo(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(slo): JsonBody<Slo>,
) -> ApiResult<Json<Value>> {
    let (id, v) = visible_view(&state, &caller, &id)?;
    slo.validate()?;
    if slo.period > Duration::from_secs(400 * 86_400) {
        return Err(ApiError::invalid("period", "must be at most 400d"));
    }
    state
        .engine
        .store()
        .put_doc(&Doc {
            kind: doc_kind::SLO.into(),
            id: id.to_string(),
            tenant: Some(v.target.tenant.clone()),
            target: Some(id.clone()),
            body: to_value(&slo)?,
            updated_at: state.engine.now(),
        })
        .await?;
    Ok(Json(json!({"target": id, "slo": slo})))
}

/// Removes a target's SLO.
#[utoipa::path(delete, path = "/targets/{id}/slo", tag = "operations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Target id")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such target or no SLO")))]
async fn delete_slo(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let (id, _) = visible_view(&state, &caller, &id)?;
    if state
        .engine
        .store()
        .delete_doc(doc_kind::SLO, id.as_str())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("slo"))
    }
}

// ---- checklist ----------------------------------------------------------

/// The startup checklist and the ready flag (admins only).
#[utoipa::path(get, path = "/checklist", tag = "operations", security(("bearer" = [])),
    responses((status = 200, description = "Items and ready flag"), (status = 403, description = "Not an admin token")))]
async fn checklist(State(state): State<ApiState>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.require_admin()?;
    Ok(Json(json!({
        "ready": state.engine.is_ready(),
        "items": state.engine.checklist(),
    })))
}

/// Lets a failed checklist item through (admins only, audited). Takes no
/// body (none, or `{}`).
#[utoipa::path(post, path = "/checklist/{check}/override", tag = "operations", security(("bearer" = [])),
    params(("check" = String, Path, description = "Checklist item name")),
    responses((status = 200, description = "Overridden"), (status = 404, description = "No such item"),
              (status = 409, description = "The item has not failed")))]
async fn override_checklist(
    State(state): State<ApiState>,
    caller: Caller,
    Path(check): Path<String>,
    _: NoBody,
) -> ApiResult<Json<Value>> {
    caller.require_admin()?;
    let r = state
        .engine
        .override_checklist(&check, &caller.name)
        .await?;
    Ok(Json(json!({"item": r, "ready": state.engine.is_ready()})))
}

// ---- quick actions ------------------------------------------------------

/// Options of a quick action.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    /// Restart only: must equal the target's id.
    #[serde(default)]
    confirm: Option<String>,
    /// Recheck only: one check (default: every enabled check).
    #[serde(default)]
    check: Option<String>,
}

/// Runs a quick action (004): `restart` (needs `confirm` = the target id),
/// `diagnose` or `recheck`. Admins only (seed 004: "all actions
/// admin-only"): a tenant token gets 404 for another tenant's target and
/// 403 for its own. Every action is audited. Rechecking a passive
/// (heartbeat) check is a 409: it is judged from reports.
#[utoipa::path(post, path = "/targets/{id}/actions/{action}", tag = "operations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Target id"),
           ("action" = String, Path, description = "restart, diagnose or recheck")),
    request_body(content = ActionBody, description = "Optional except for restart"),
    responses((status = 200, description = "What the action did"), (status = 403, description = "Not an admin token"),
              (status = 404, description = "No such target or action"),
              (status = 409, description = "Recheck of a passive (heartbeat) check"),
              (status = 422, description = "Restart not confirmed"), (status = 501, description = "No healer configured")))]
async fn action(
    State(state): State<ApiState>,
    caller: Caller,
    Path((id, action)): Path<(String, String)>,
    OptionalJson(body): OptionalJson<ActionBody>,
) -> ApiResult<Json<Value>> {
    let (id, view) = visible_view(&state, &caller, &id)?;
    caller.require_admin()?;
    match action.as_str() {
        "restart" => {
            let r = state
                .engine
                .restart(&id, body.confirm.as_deref(), &caller.name)
                .await?;
            Ok(Json(to_value(&r)?))
        }
        "diagnose" => {
            let r = state.engine.diagnose(&id, &caller.name).await?;
            let checks: Vec<Value> = r
                .checks
                .iter()
                .map(|(k, o)| json!({"check": k.check, "observation": o}))
                .collect();
            Ok(Json(json!({"target": id, "checks": checks})))
        }
        "recheck" => {
            let names: Vec<CheckId> = match body.check {
                Some(c) => {
                    vec![CheckId::new(&c).map_err(|e| ApiError::invalid("check", e.to_string()))?]
                }
                None => view
                    .checks
                    .iter()
                    .filter(|c| c.spec.enabled && c.spec.kind != "heartbeat")
                    .map(|c| c.id.clone())
                    .collect(),
            };
            let mut out = Vec::with_capacity(names.len());
            for name in names {
                let key = CheckKey::new(id.clone(), name);
                let (status, obs) = state.engine.recheck(&key, &caller.name).await?;
                out.push(json!({"check": key.check, "status": status, "observation": obs}));
            }
            Ok(Json(json!({"target": id, "checks": out})))
        }
        _ => Err(ApiError::not_found("action")),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct LogsQuery {
    /// Lines wanted, at least 1 (default 100, seed 004); more than the cap
    /// (1000 by default) is served as the cap.
    #[param(minimum = 1, default = 100)]
    lines: Option<u64>,
}

/// The target's last log lines, oldest first (seed 004; admins only,
/// audited). `lines` defaults to 100 and is capped at the server's
/// `max_log_lines` (1000 by default): a larger value is served as the cap,
/// and the answer says what was served (`limit`). 501 `not_configured` when
/// no log source serves the target.
#[utoipa::path(get, path = "/targets/{id}/logs", tag = "operations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Target id"), LogsQuery),
    responses((status = 200, description = "`{target, lines, limit}`: lines oldest first"),
              (status = 403, description = "Not an admin token"), (status = 404, description = "No such target"),
              (status = 501, description = "No log source configured for the target"),
              (status = 503, description = "The log source failed")))]
async fn logs(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(q): Params<LogsQuery>,
) -> ApiResult<Json<Value>> {
    let requested = q.lines.unwrap_or(DEFAULT_LOG_LINES);
    if requested == 0 {
        return Err(ApiError::invalid_query("lines", "lines must be at least 1"));
    }
    let max = state.config.max_log_lines;
    let lines = usize::try_from(requested).unwrap_or(usize::MAX).min(max);
    let (id, _) = visible_view(&state, &caller, &id)?;
    caller.require_admin()?;
    let out = state.engine.logs(&id, lines, &caller.name).await?;
    Ok(Json(json!({"target": id, "lines": out, "limit": lines})))
}

/// Log lines served when `lines` is not given (seed 004's "last 100").
const DEFAULT_LOG_LINES: u64 = 100;

// ---- activity -------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ActivityQuery {
    /// Only one type: seed 000's `state_change` (status changes),
    /// `node_event` and `health_alert`, or `heal_event` and `audit`; the
    /// older names `lifecycle`, `alert` and `heal` are aliases.
    r#type: Option<String>,
    /// Only items about this target.
    target: Option<String>,
    /// Seed 000's name for `target`.
    node_id: Option<String>,
    /// Only items at or after this RFC 3339 time.
    since: Option<String>,
    /// Page size 1..=500 (default 50).
    #[param(minimum = 1, maximum = 500, default = 50)]
    limit: Option<u32>,
    /// Items to skip, 0..=10000.
    #[param(minimum = 0, maximum = 10000)]
    offset: Option<u64>,
}

/// The name an activity type had in this API's first version (kept in
/// `type`; seed 000's name is in `activity_type`).
fn legacy_type(t: ActivityType) -> &'static str {
    match t {
        ActivityType::NodeEvent => "lifecycle",
        ActivityType::HealthAlert => "alert",
        ActivityType::HealEvent => "heal",
        other => other.as_str(),
    }
}

/// The activity feed (000): status changes, lifecycle events, alerts, heal
/// events and audited actions merged, newest first. Each item carries seed
/// 000's fields (`id`, `timestamp`, `activity_type`, `category`, `node_id`,
/// `message`, `details`, `triggered_by`) and this API's first ones
/// (`type`, `at`, `target`, `subtype`, `data`: the record itself).
#[utoipa::path(get, path = "/activity", tag = "operations", security(("bearer" = [])),
    params(ActivityQuery),
    responses((status = 200, description = "A page of activity items")))]
async fn activity(
    State(state): State<ApiState>,
    caller: Caller,
    Params(q): Params<ActivityQuery>,
) -> ApiResult<Json<Value>> {
    let p = page(q.limit, q.offset)?;
    if p.offset > MAX_ACTIVITY_OFFSET {
        return Err(ApiError::invalid_query(
            "offset",
            format!("offset must be at most {MAX_ACTIVITY_OFFSET} for the activity feed"),
        ));
    }
    let since = q
        .since
        .as_deref()
        .map(|s| {
            DateTime::parse_from_rfc3339(s)
                .map(|d| d.with_timezone(&Utc))
                .map_err(|_| ApiError::invalid_query("since", "since must be an RFC 3339 time"))
        })
        .transpose()?;
    let kind = q
        .r#type
        .as_deref()
        .map(|t| {
            ActivityType::parse(t).ok_or_else(|| {
                ApiError::invalid_query(
                    "type",
                    "type must be state_change, node_event, health_alert, heal_event or audit \
                     (or lifecycle, alert, heal)",
                )
            })
        })
        .transpose()?;
    let (field, raw) = match (q.target, q.node_id) {
        (Some(t), _) => ("target", Some(t)),
        (None, n) => ("node_id", n),
    };
    let target = raw
        .map(|t| TargetId::new(&t).map_err(|e| ApiError::invalid_query(field, e.to_string())))
        .transpose()?;
    if let Some(t) = &target {
        // another tenant's target is invisible: its feed is empty, as an
        // unknown target's
        if !caller.is_admin() && super::visible_view(&state, &caller, t.as_str()).is_err() {
            return Ok(list(Vec::<Value>::new(), 0, p));
        }
    }
    let feed = state
        .engine
        .activity(&EngineActivityQuery {
            kind,
            target,
            tenant: caller.tenant().cloned(),
            since,
            page: p,
        })
        .await?;
    let items: Vec<Value> = feed
        .items
        .into_iter()
        .map(|e| {
            json!({
                "id": e.id,
                "timestamp": e.timestamp,
                "activity_type": e.kind.as_str(),
                "category": e.category,
                "node_id": e.target,
                "message": e.message,
                "details": e.details,
                "triggered_by": e.triggered_by,
                "type": legacy_type(e.kind),
                "at": e.timestamp,
                "target": e.target,
                "subtype": e.category,
                "data": e.record,
            })
        })
        .collect();
    Ok(list(items, feed.total, p))
}
