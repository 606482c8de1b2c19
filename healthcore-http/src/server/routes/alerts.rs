//! Alerts (list with filters, acknowledge, resolve) and alert channel
//! configs (004's escalation delay, channels, webhook URL).

use axum::Json;
use axum::extract::{Path, State};
use healthcore::alert::{Alert, AlertStatus, Severity};
use healthcore::store::{AlertChannelConfig, AlertQuery, StoreExt, doc_kind};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{PageQuery, alert_json, list, paged, to_value, visible_view};
use crate::server::ApiState;
use crate::server::auth::Caller;
use crate::server::error::{ApiError, ApiResult};
use crate::server::extract::{JsonBody, NoBody, OptionalJson, Params, page, target_id};

pub(super) fn register(r: OpenApiRouter<ApiState>) -> OpenApiRouter<ApiState> {
    r.routes(routes!(list_alerts))
        .routes(routes!(acknowledge))
        .routes(routes!(resolve))
        .routes(routes!(list_channels, put_default_channel))
        .routes(routes!(put_channel))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AlertsQuery {
    /// `active`, `acknowledged` or `resolved`.
    status: Option<String>,
    /// `warning` or `critical`.
    severity: Option<String>,
    /// Only this target.
    target: Option<String>,
    /// Seed 000's name for `target`.
    node_id: Option<String>,
    /// Page size 1..=500 (default 50).
    limit: Option<u32>,
    /// Items to skip.
    offset: Option<u64>,
}

/// Alerts, newest first, filtered by status, severity and target (000).
#[utoipa::path(get, path = "/health/alerts", tag = "alerts", security(("bearer" = [])),
    params(AlertsQuery),
    responses((status = 200, description = "A page of alerts")))]
async fn list_alerts(
    State(state): State<ApiState>,
    caller: Caller,
    Params(q): Params<AlertsQuery>,
) -> ApiResult<Json<Value>> {
    let p = page(q.limit, q.offset)?;
    let status = q
        .status
        .as_deref()
        .map(|s| {
            AlertStatus::parse(s).ok_or_else(|| {
                ApiError::invalid_query("status", "status must be active, acknowledged or resolved")
            })
        })
        .transpose()?;
    let severity = q
        .severity
        .as_deref()
        .map(|s| {
            Severity::parse(s).ok_or_else(|| {
                ApiError::invalid_query("severity", "severity must be warning or critical")
            })
        })
        .transpose()?;
    let target = q
        .target
        .or(q.node_id)
        .map(|t| {
            healthcore::model::TargetId::new(&t)
                .map_err(|e| ApiError::invalid_query("target", e.to_string()))
        })
        .transpose()?;
    let page_ = state
        .engine
        .store()
        .list_alerts(&AlertQuery {
            status,
            severity,
            target,
            tenant: caller.tenant().cloned(),
            page: p,
            ..Default::default()
        })
        .await?;
    let items = page_
        .items
        .iter()
        .map(|a| alert_json(&state, a))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(list(items, page_.total, p))
}

/// Loads an alert the caller may see (404 otherwise): the engine's copy
/// while it is open, else the store's.
async fn visible_alert(state: &ApiState, caller: &Caller, id: &str) -> ApiResult<Alert> {
    if id.is_empty() || id.len() > 256 {
        return Err(ApiError::not_found("alert"));
    }
    let a = state
        .engine
        .alert(id)
        .await?
        .ok_or_else(|| ApiError::not_found("alert"))?;
    if caller.is_admin() {
        return Ok(a);
    }
    let visible = state
        .engine
        .target_view(&a.target)
        .is_some_and(|v| caller.can_see(&v.target.tenant));
    if visible {
        Ok(a)
    } else {
        Err(ApiError::not_found("alert"))
    }
}

/// Who acknowledges (default: the token's name).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AckBody {
    /// A person's name to record instead of the token's name.
    #[serde(default)]
    by: Option<String>,
}

/// Acknowledges an active alert: 404 unknown, 409 if not active (the
/// message says its status). A 200 comes once the store holds the change,
/// so every read after it shows the alert acknowledged; 503 when the store
/// does not confirm in time (the change is kept and written later).
#[utoipa::path(post, path = "/health/alerts/{id}/acknowledge", tag = "alerts", security(("bearer" = [])),
    params(("id" = String, Path, description = "Alert id")),
    request_body(content = AckBody, description = "Optional"),
    responses((status = 200, description = "Acknowledged"), (status = 404, description = "No such alert"),
              (status = 409, description = "The alert is not active")))]
async fn acknowledge(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<AckBody>,
) -> ApiResult<Json<Value>> {
    visible_alert(&state, &caller, &id).await?;
    let by = body.by.unwrap_or_else(|| caller.name.clone());
    let a = state.engine.acknowledge(&id, &by).await?;
    Ok(Json(alert_json(&state, &a)?))
}

/// Resolves an open alert by hand: 404 unknown, 409 if already resolved.
/// Like acknowledging, a 200 means every later read shows it resolved.
/// Takes no body (none, or `{}`).
#[utoipa::path(post, path = "/health/alerts/{id}/resolve", tag = "alerts", security(("bearer" = [])),
    params(("id" = String, Path, description = "Alert id")),
    responses((status = 200, description = "Resolved"), (status = 404, description = "No such alert"),
              (status = 409, description = "Already resolved")))]
async fn resolve(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    _: NoBody,
) -> ApiResult<Json<Value>> {
    visible_alert(&state, &caller, &id).await?;
    let a = state.engine.resolve_alert(&id).await?;
    Ok(Json(alert_json(&state, &a)?))
}

/// Alert channel configs visible to the caller (the default one for
/// admins only).
#[utoipa::path(get, path = "/health/alert-channels", tag = "alerts", security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of channel configs"), (status = 400, description = "Bad limit or offset")))]
async fn list_channels(
    State(state): State<ApiState>,
    caller: Caller,
    Params(q): Params<PageQuery>,
) -> ApiResult<Json<Value>> {
    let p = q.page()?;
    let all: Vec<AlertChannelConfig> = state
        .engine
        .store()
        .docs_of(doc_kind::ALERT_CHANNEL, None, None)
        .await?;
    let items: Vec<AlertChannelConfig> = all
        .into_iter()
        .filter(|c| match &c.target {
            None => caller.is_admin(),
            Some(t) => state
                .engine
                .target_view(t)
                .is_some_and(|v| caller.can_see(&v.target.tenant)),
        })
        .collect();
    Ok(paged(items, p))
}

fn validate_channel(state: &ApiState, c: &AlertChannelConfig) -> ApiResult<()> {
    if c.channels.len() > 16 {
        return Err(ApiError::invalid("channels", "at most 16 channels"));
    }
    for (i, ch) in c.channels.iter().enumerate() {
        if ch.is_empty() || ch.len() > 64 || ch.chars().any(char::is_control) {
            return Err(ApiError::invalid(
                format!("channels[{i}]"),
                "a channel name is 1..=64 characters",
            ));
        }
    }
    if c.escalation_delay > std::time::Duration::from_secs(7 * 86_400) {
        return Err(ApiError::invalid("escalation_delay", "must be at most 7d"));
    }
    if let Some(url) = &c.webhook_url {
        check_webhook_url(state, url)?;
    }
    Ok(())
}

#[cfg(feature = "client")]
fn check_webhook_url(state: &ApiState, url: &str) -> ApiResult<()> {
    match &state.egress {
        Some(policy) => policy
            .check_url(url)
            .map(|_| ())
            .map_err(|e| ApiError::invalid("webhook_url", e.to_string())),
        None => Ok(()),
    }
}

#[cfg(not(feature = "client"))]
fn check_webhook_url(_state: &ApiState, url: &str) -> ApiResult<()> {
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(())
    } else {
        Err(ApiError::invalid("webhook_url", "must be an http(s) URL"))
    }
}

/// Sets the default alert channel config (admins only).
#[utoipa::path(put, path = "/health/alert-channels", tag = "alerts", security(("bearer" = [])),
    request_body(content = Object, description = "escalation_delay (e.g. `5m`; `0s` = external at once), channels (notifier names; `dashboard` = every dashboard notifier; empty = all), webhook_url (replaces the webhook notifier's URL for the target; checked by the egress policy), enabled (false silences external notifications; alerts are still recorded)"),
    responses((status = 200, description = "Saved"), (status = 403, description = "Not an admin token"),
              (status = 422, description = "A field is invalid")))]
async fn put_default_channel(
    State(state): State<ApiState>,
    caller: Caller,
    JsonBody(mut body): JsonBody<AlertChannelConfig>,
) -> ApiResult<Json<Value>> {
    caller.require_admin()?;
    if body.target.is_some() {
        return Err(ApiError::invalid(
            "target",
            "the default config has no target; use /health/alert-channels/{target}",
        ));
    }
    body.target = None;
    validate_channel(&state, &body)?;
    state.engine.put_alert_channel(body.clone()).await?;
    Ok(Json(to_value(&body)?))
}

/// Sets one target's alert channel config (004's `PUT alerts/:service`).
#[utoipa::path(put, path = "/health/alert-channels/{target}", tag = "alerts", security(("bearer" = [])),
    params(("target" = String, Path, description = "Target id")),
    request_body(content = Object, description = "escalation_delay (e.g. `5m`; `0s` = external at once), channels (notifier names; `dashboard` = every dashboard notifier; empty = all), webhook_url (replaces the webhook notifier's URL for the target; checked by the egress policy), enabled (false silences external notifications; alerts are still recorded)"),
    responses((status = 200, description = "Saved"), (status = 404, description = "No such target"),
              (status = 422, description = "A field is invalid")))]
async fn put_channel(
    State(state): State<ApiState>,
    caller: Caller,
    Path(target): Path<String>,
    JsonBody(mut body): JsonBody<AlertChannelConfig>,
) -> ApiResult<Json<Value>> {
    let id = target_id(&target)?;
    let (id, _) = visible_view(&state, &caller, id.as_str())?;
    if body.target.as_ref().is_some_and(|t| t != &id) {
        return Err(ApiError::invalid("target", "target must match the path"));
    }
    body.target = Some(id);
    validate_channel(&state, &body)?;
    state.engine.put_alert_channel(body.clone()).await?;
    Ok(Json(to_value(&body)?))
}
