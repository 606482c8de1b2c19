//! Targets (CRUD) and their checks (list, upsert, disable). A tenant
//! token creates targets only in its own tenant and sees only those.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use healthcore::engine::EngineError;
use healthcore::fleet::TargetView;
use healthcore::model::{CheckId, CheckKey, CheckSpec, Target, TargetId, TenantId, normalize_mac};
use healthcore::summary::display_status;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{PageQuery, list, paged, visible_view};
use crate::server::ApiState;
use crate::server::auth::Caller;
use crate::server::error::{ApiError, ApiResult};
use crate::server::extract::{JsonBody, Params, page, target_id};

pub(super) fn register(r: OpenApiRouter<ApiState>) -> OpenApiRouter<ApiState> {
    r.routes(routes!(list_targets, create_target))
        .routes(routes!(get_target, put_target, delete_target))
        .routes(routes!(list_checks))
        .routes(routes!(put_check, delete_check))
}

/// A target as written by clients.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TargetBody {
    /// Unique id (required on POST; on PUT it must match the path if given).
    #[serde(default)]
    id: Option<String>,
    /// Display name.
    name: String,
    /// Free-form kind (`node`, `pod`, `vps`, `service`; default `service`).
    #[serde(default)]
    kind: Option<String>,
    /// Owning tenant (default: the token's tenant, or `default` for admins).
    #[serde(default)]
    tenant: Option<String>,
    /// Labels for selectors.
    #[serde(default)]
    labels: BTreeMap<String, String>,
    /// Parent targets (dependencies).
    #[serde(default)]
    parents: Vec<String>,
    /// MAC address for node reports, any common form; stored normalised.
    #[serde(default)]
    mac_address: Option<String>,
}

impl TargetBody {
    fn into_target(self, id: TargetId, caller: &Caller) -> ApiResult<Target> {
        let mut t = Target::new(id, self.name);
        if let Some(kind) = self.kind {
            t.kind = kind;
        }
        t.tenant = match (self.tenant, caller.tenant()) {
            (None, Some(own)) => own.clone(),
            (None, None) => t.tenant,
            (Some(raw), _) => {
                let tenant = TenantId::new(&raw)?;
                if !caller.can_see(&tenant) {
                    return Err(ApiError::invalid(
                        "tenant",
                        "a tenant token can only write its own tenant",
                    ));
                }
                tenant
            }
        };
        t.labels = self.labels;
        t.parents = self
            .parents
            .iter()
            .enumerate()
            .map(|(i, p)| {
                TargetId::new(p)
                    .map_err(|e| ApiError::invalid(format!("parents[{i}]"), e.to_string()))
            })
            .collect::<ApiResult<_>>()?;
        t.mac_address = match self.mac_address {
            None => None,
            Some(m) => Some(
                normalize_mac(&m)
                    .ok_or_else(|| ApiError::invalid("mac_address", "not a valid MAC address"))?,
            ),
        };
        t.validate()?;
        Ok(t)
    }
}

fn check_parents(state: &ApiState, caller: &Caller, t: &Target) -> ApiResult<()> {
    for (i, p) in t.parents.iter().enumerate() {
        let ok = state
            .engine
            .target_view(p)
            .is_some_and(|v| caller.can_see(&v.target.tenant));
        if !ok {
            return Err(ApiError::invalid(
                format!("parents[{i}]"),
                format!("unknown parent target {p}"),
            ));
        }
    }
    Ok(())
}

/// The compact row lists and writes answer with.
pub(crate) fn row(v: &TargetView) -> Value {
    json!({
        "id": v.target.id,
        "name": v.target.name,
        "kind": v.target.kind,
        "tenant": v.target.tenant,
        "labels": v.target.labels,
        "parents": v.target.parents,
        "mac_address": v.target.mac_address,
        "status": v.health.status,
        "cause": v.health.cause,
        "health_status": display_status(v.health.status, v.health.cause),
        "health_score": v.score.value,
        "last_seen_at": v.last_seen_at,
        "lifecycle_state": v.lifecycle.state,
        "checks": v.checks.len(),
        "open_alerts": v.alerts.len(),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only this status (`unknown`, `healthy`, `degraded`, `down`).
    status: Option<String>,
    /// Only this kind.
    kind: Option<String>,
    /// Page size 1..=500 (default 50).
    limit: Option<u32>,
    /// Items to skip.
    offset: Option<u64>,
}

/// Targets visible to the caller, ordered by id.
#[utoipa::path(get, path = "/targets", tag = "targets", security(("bearer" = [])),
    params(ListQuery),
    responses((status = 200, description = "A page of targets")))]
async fn list_targets(
    State(state): State<ApiState>,
    caller: Caller,
    Params(q): Params<ListQuery>,
) -> ApiResult<Json<Value>> {
    let p = page(q.limit, q.offset)?;
    let status = q
        .status
        .as_deref()
        .map(|s| {
            healthcore::model::Status::parse(s).ok_or_else(|| {
                ApiError::invalid_query(
                    "status",
                    "status must be unknown, healthy, degraded or down",
                )
            })
        })
        .transpose()?;
    let mut views = state.engine.target_views(caller.tenant());
    views.retain(|v| {
        status.is_none_or(|s| v.health.status == s)
            && q.kind.as_deref().is_none_or(|k| v.target.kind == k)
    });
    views.sort_by(|a, b| a.target.id.cmp(&b.target.id));
    let paged = p.apply(views);
    let rows: Vec<Value> = paged.items.iter().map(row).collect();
    Ok(list(rows, paged.total, p))
}

/// Creates a target: 409 naming `id` if the id exists (of concurrent
/// creates of one id exactly one succeeds), 409 naming `mac_address` if
/// another target has the MAC address, 422 naming `parents` for an unknown
/// parent or a dependency cycle.
#[utoipa::path(post, path = "/targets", tag = "targets", security(("bearer" = [])),
    request_body = TargetBody,
    responses((status = 201, description = "Created"),
              (status = 409, description = "The id exists, or another target has the MAC address"),
              (status = 422, description = "A field is invalid, a parent is unknown or the parents form a cycle")))]
async fn create_target(
    State(state): State<ApiState>,
    caller: Caller,
    JsonBody(body): JsonBody<TargetBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let raw = body
        .id
        .clone()
        .ok_or_else(|| ApiError::invalid("id", "id is required"))?;
    let id = TargetId::new(&raw)?;
    let t = body.into_target(id.clone(), &caller)?;
    check_parents(&state, &caller, &t)?;
    state.engine.create_target(t).await?;
    let v = state
        .engine
        .target_view(&id)
        .ok_or_else(|| ApiError::not_found("target"))?;
    Ok((StatusCode::CREATED, Json(row(&v))))
}

/// One target.
#[utoipa::path(get, path = "/targets/{id}", tag = "targets", security(("bearer" = [])),
    params(("id" = String, Path, description = "Target id")),
    responses((status = 200, description = "The target"), (status = 404, description = "No such target")))]
async fn get_target(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let (_, v) = visible_view(&state, &caller, &id)?;
    Ok(Json(row(&v)))
}

/// Creates or replaces a target (a tenant only its own: the check is made
/// again at the write, so a concurrent create by another tenant is a 404);
/// 409 naming `mac_address` if another target has the MAC address, 422
/// naming `parents` if the parents would form a cycle.
#[utoipa::path(put, path = "/targets/{id}", tag = "targets", security(("bearer" = [])),
    params(("id" = String, Path, description = "Target id")),
    request_body = TargetBody,
    responses((status = 200, description = "Saved"), (status = 404, description = "Another tenant's target"),
              (status = 409, description = "Another target has the MAC address"),
              (status = 422, description = "A field is invalid, a parent is unknown or the parents form a cycle")))]
async fn put_target(
    State(state): State<ApiState>,
    caller: Caller,
    Path(raw): Path<String>,
    JsonBody(body): JsonBody<TargetBody>,
) -> ApiResult<Json<Value>> {
    let id = target_id(&raw)?;
    if let Some(existing) = state.engine.target_view(&id) {
        if !caller.can_see(&existing.target.tenant) {
            return Err(ApiError::not_found("target"));
        }
    }
    if body.id.as_deref().is_some_and(|b| b != id.as_str()) {
        return Err(ApiError::invalid("id", "id must match the path"));
    }
    let t = body.into_target(id.clone(), &caller)?;
    check_parents(&state, &caller, &t)?;
    // checked again at the write: another tenant may create the id meanwhile
    state
        .engine
        .register_target(t, |existing| match existing {
            Some(e) if !caller.can_see(&e.tenant) => Err(EngineError::NotFound {
                what: "target",
                id: id.to_string(),
            }),
            _ => Ok(()),
        })
        .await?;
    let v = state
        .engine
        .target_view(&id)
        .ok_or_else(|| ApiError::not_found("target"))?;
    Ok(Json(row(&v)))
}

/// Deletes a target with its checks and state.
#[utoipa::path(delete, path = "/targets/{id}", tag = "targets", security(("bearer" = [])),
    params(("id" = String, Path, description = "Target id")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such target")))]
async fn delete_target(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let (id, _) = visible_view(&state, &caller, &id)?;
    state.engine.remove_target(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A target's checks with their state.
#[utoipa::path(get, path = "/targets/{id}/checks", tag = "targets", security(("bearer" = [])),
    params(("id" = String, Path, description = "Target id"), PageQuery),
    responses((status = 200, description = "A page of the checks"), (status = 400, description = "Bad limit or offset"),
              (status = 404, description = "No such target")))]
async fn list_checks(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(q): Params<PageQuery>,
) -> ApiResult<Json<Value>> {
    let p = q.page()?;
    let (_, v) = visible_view(&state, &caller, &id)?;
    let items: Vec<Value> = v
        .checks
        .iter()
        .map(|c| json!({"id": c.id, "spec": c.spec, "state": c.state, "breaker": c.breaker}))
        .collect();
    Ok(paged(items, p))
}

/// A check's configuration (seed 002's PUT health/config). `kind`
/// defaults to the path's check name; durations are strings like `30s`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckBody {
    /// Probe kind (default: the check name in the path).
    #[serde(default)]
    kind: Option<String>,
    /// Probe parameters for the checker of that kind.
    #[serde(default)]
    #[schema(value_type = Object)]
    params: Option<Value>,
    /// Time between runs (default `60s`).
    #[serde(default)]
    interval: Option<String>,
    /// Deadline for one run (default `10s`, below interval).
    #[serde(default)]
    timeout: Option<String>,
    /// Random delay added to each run (default 0).
    #[serde(default)]
    jitter: Option<String>,
    /// Consecutive failures before down (default 3).
    #[serde(default)]
    failure_threshold: Option<u32>,
    /// Consecutive successes before healthy (default 1).
    #[serde(default)]
    success_threshold: Option<u32>,
    /// A success slower than this is degraded.
    #[serde(default)]
    degraded_latency: Option<String>,
    /// Whether the check runs (default true).
    #[serde(default)]
    enabled: Option<bool>,
}

fn duration(field: &str, raw: &str) -> ApiResult<std::time::Duration> {
    humantime::parse_duration(raw)
        .map_err(|_| ApiError::invalid(field.to_owned(), "must be a duration such as 30s or 2m"))
}

impl CheckBody {
    fn into_spec(self, name: CheckId) -> ApiResult<CheckSpec> {
        let kind = self.kind.unwrap_or_else(|| name.as_str().to_owned());
        let mut spec = CheckSpec::new(kind);
        if name.as_str() != spec.kind {
            spec.name = Some(name);
        }
        if let Some(p) = self.params {
            spec.params = p;
        }
        if let Some(i) = &self.interval {
            spec.interval = duration("interval", i)?;
        }
        if let Some(t) = &self.timeout {
            spec.timeout = duration("timeout", t)?;
        }
        if let Some(j) = &self.jitter {
            spec.jitter = duration("jitter", j)?;
        }
        if let Some(f) = self.failure_threshold {
            spec.failure_threshold = f;
        }
        if let Some(s) = self.success_threshold {
            spec.success_threshold = s;
        }
        if let Some(d) = &self.degraded_latency {
            spec.degraded_latency = Some(duration("degraded_latency", d)?);
        }
        if let Some(e) = self.enabled {
            spec.enabled = e;
        }
        spec.validate()?;
        Ok(spec)
    }
}

fn check_id(raw: &str) -> ApiResult<CheckId> {
    CheckId::new(raw).map_err(|e| ApiError::invalid_path("check", e.to_string()))
}

/// Creates or replaces a check (seed 002's `PUT …/health/config`). The
/// check must pass the API's [`CheckPolicy`](crate::server::CheckPolicy):
/// an allowed kind (never `command`), no parameter naming the server's
/// variables, files or directories, and a destination the probe egress
/// policy allows.
#[utoipa::path(put, path = "/targets/{id}/checks/{check}", tag = "targets", security(("bearer" = [])),
    params(("id" = String, Path, description = "Target id"), ("check" = String, Path, description = "Check name (defaults the kind)")),
    request_body = CheckBody,
    responses((status = 200, description = "Saved"), (status = 404, description = "No such target"),
              (status = 422, description = "A field is invalid, the kind may not be defined through the API \
                                             or no checker serves it, a parameter names a server-side variable or file, \
                                             or the destination is not allowed")))]
async fn put_check(
    State(state): State<ApiState>,
    caller: Caller,
    Path((id, check)): Path<(String, String)>,
    JsonBody(body): JsonBody<CheckBody>,
) -> ApiResult<Json<Value>> {
    let name = check_id(&check)?;
    let (id, _) = visible_view(&state, &caller, &id)?;
    let spec = body.into_spec(name)?;
    state
        .config
        .checks
        .admit(&spec, state.resolver.clone())
        .await?;
    let key = state.engine.add_check(&id, spec.clone()).await?;
    Ok(Json(
        json!({"target": key.target, "check": key.check, "spec": spec}),
    ))
}

/// Disables a check (seed 002's `DELETE …/health/config/{type}`, which
/// answers `{"disabled": true}`); its history stays.
#[utoipa::path(delete, path = "/targets/{id}/checks/{check}", tag = "targets", security(("bearer" = [])),
    params(("id" = String, Path, description = "Target id"), ("check" = String, Path, description = "Check name")),
    responses((status = 200, description = "Disabled: `{target, check, spec, disabled: true}`"), (status = 404, description = "No such target or check")))]
async fn delete_check(
    State(state): State<ApiState>,
    caller: Caller,
    Path((id, check)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let name = check_id(&check)?;
    let (id, v) = visible_view(&state, &caller, &id)?;
    let mut spec = v
        .checks
        .into_iter()
        .find(|c| c.id == name)
        .map(|c| c.spec)
        .ok_or_else(|| ApiError::not_found("check"))?;
    spec.enabled = false;
    let key = CheckKey::new(id.clone(), name);
    state.engine.add_check(&id, spec.clone()).await?;
    Ok(Json(
        json!({"target": key.target, "check": key.check, "spec": spec, "disabled": true}),
    ))
}
