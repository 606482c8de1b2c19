//! Node reports (001's body in its event and legacy forms, MAC addresses
//! validated and normalised), a target's lifecycle events and the list of
//! stalled installs.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::Extensions;
use healthcore::report::ReportBody;
use healthcore::store::StoreExt;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::targets::row;
use super::{PageQuery, list, paged, to_value, visible_view};
use crate::server::ApiState;
use crate::server::auth::Caller;
use crate::server::error::{ApiError, ApiResult};
use crate::server::extract::{JsonBody, Params, page};

pub(super) fn register(r: OpenApiRouter<ApiState>) -> OpenApiRouter<ApiState> {
    r.routes(routes!(report))
        .routes(routes!(events))
        .routes(routes!(stalled))
}

/// Seed 001's node report: the event form (`event`, `status`, `message`,
/// `event_metadata`) or the legacy form (`installation_status`,
/// `installation_progress`, `installation_error`); with neither, a
/// heartbeat.
///
/// Documentation only: the body is parsed and validated by
/// [`healthcore::report::ReportBody`], the one copy of the rules. A test
/// keeps this mirror's field set equal to it.
#[allow(dead_code)]
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ReportBody)]
pub(crate) struct ReportBodySchema {
    /// The node's MAC address, any common form.
    mac_address: String,
    /// `boot_started`, `install_started`, `install_progress`,
    /// `install_complete`, `install_failed`, `first_boot` or `heartbeat`.
    #[serde(default)]
    event: Option<String>,
    /// `success` (default), `failed` or `in_progress`.
    #[serde(default)]
    status: Option<String>,
    /// A message from the node.
    #[serde(default)]
    message: Option<String>,
    /// Metadata (OS version, kernel, …).
    #[serde(default)]
    #[schema(value_type = Object)]
    event_metadata: Option<Value>,
    /// Install progress 0..=100 (also `installation_progress`).
    #[serde(default)]
    progress: Option<i64>,
    /// The node's own IP address.
    #[serde(default)]
    ip_address: Option<String>,
    /// Hardware and naming facts, kept in the event's metadata.
    #[serde(default)]
    hostname: Option<String>,
    /// Hardware vendor.
    #[serde(default)]
    vendor: Option<String>,
    /// Hardware model.
    #[serde(default)]
    model: Option<String>,
    /// Serial number.
    #[serde(default)]
    serial_number: Option<String>,
    /// System UUID.
    #[serde(default)]
    system_uuid: Option<String>,
    /// Legacy: `started`, `progress`, `complete` or `failed`.
    #[serde(default)]
    installation_status: Option<String>,
    /// Legacy progress 0..=100.
    #[serde(default)]
    installation_progress: Option<i64>,
    /// Legacy error message.
    #[serde(default)]
    installation_error: Option<String>,
}

fn client_ip(ext: &Extensions) -> Option<String> {
    ext.get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
}

/// A node reports an event (or, in the legacy form, its install status).
/// The event records the client's address (seed 001), else the body's
/// `ip_address`. With a token, only the token's tenant's nodes; when the
/// route is made public ([`Auth::public`](crate::server::Auth::public),
/// healthd's `public_reports`), a request without a token reports for any
/// node.
#[utoipa::path(post, path = "/report", tag = "lifecycle", security(("bearer" = [])),
    request_body = ReportBodySchema,
    responses((status = 200, description = "Logged; the node and what changed"),
              (status = 404, description = "No node with this MAC address"),
              (status = 422, description = "A field is invalid")))]
async fn report(
    State(state): State<ApiState>,
    ext: Extensions,
    JsonBody(body): JsonBody<ReportBody>,
) -> ApiResult<Json<Value>> {
    // no caller only when the auth layer let the request through as public
    let caller = ext.get::<Caller>();
    let mac = body.mac()?;
    let r = body.into_report(client_ip(&ext))?;
    let target = match state.engine.target_by_mac(&mac).await {
        Ok(t) if caller.is_none_or(|c| c.can_see(&t.tenant)) => t,
        Ok(_) => return Err(ApiError::not_found("target with this MAC address")),
        Err(healthcore::engine::EngineError::NotFound { .. }) => {
            return Err(ApiError::not_found("target with this MAC address"));
        }
        Err(e) => return Err(e.into()),
    };
    let outcome = state.engine.report(&target.id, &r)?;
    let view = state
        .engine
        .target_view(&target.id)
        .ok_or_else(|| ApiError::not_found("target"))?;
    Ok(Json(json!({
        "data": row(&view),
        "message": outcome.message,
        "outcome": to_value(&outcome)?,
    })))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    /// Only this event type.
    event_type: Option<String>,
    /// Alias of `event_type`.
    r#type: Option<String>,
    /// Page size 1..=500 (default 50).
    limit: Option<u32>,
    /// Items to skip.
    offset: Option<u64>,
}

/// A target's lifecycle events, newest first (001).
#[utoipa::path(get, path = "/targets/{id}/events", tag = "lifecycle", security(("bearer" = [])),
    params(("id" = String, Path, description = "Target id"), EventsQuery),
    responses((status = 200, description = "A page of events"), (status = 404, description = "No such target")))]
async fn events(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(q): Params<EventsQuery>,
) -> ApiResult<Json<Value>> {
    let p = page(q.limit, q.offset)?;
    let ty = q.event_type.or(q.r#type);
    if let Some(t) = &ty {
        healthcore::lifecycle::LifecycleEventType::parse(t)
            .map_err(|e| ApiError::invalid_query("event_type", e.rule().to_owned()))?;
    }
    let (id, _) = visible_view(&state, &caller, &id)?;
    let page_ = state
        .engine
        .store()
        .lifecycle_events(&id, ty.as_deref(), p)
        .await?;
    Ok(list(page_.items, page_.total, p))
}

/// Targets whose install ran past the timeout (001).
#[utoipa::path(get, path = "/targets/stalled", tag = "lifecycle", security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of stalled targets"), (status = 400, description = "Bad limit or offset")))]
async fn stalled(
    State(state): State<ApiState>,
    caller: Caller,
    Params(q): Params<PageQuery>,
) -> ApiResult<Json<Value>> {
    let p = q.page()?;
    let items: Vec<Value> = state
        .engine
        .stalled()
        .into_iter()
        .filter(|t| caller.can_see(&t.tenant))
        .filter_map(|t| state.engine.target_view(&t.id))
        .map(|v| row(&v))
        .collect();
    Ok(paged(items, p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::PartialSchema;

    /// The OpenAPI mirror documents exactly the fields the core parses.
    #[test]
    fn schema_mirror_has_the_core_fields() {
        let schema = serde_json::to_value(ReportBodySchema::schema()).unwrap();
        let mut documented: Vec<String> = schema["properties"]
            .as_object()
            .expect("an object schema")
            .keys()
            .cloned()
            .collect();
        documented.sort();
        let mut core: Vec<String> = healthcore::report::REPORT_FIELDS
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        core.sort();
        assert_eq!(documented, core);
    }
}
