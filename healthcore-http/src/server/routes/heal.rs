//! Heal policies (002: list, create/update, read, replace, delete), a
//! target's heal history and the manual reset of its heal attempts.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use healthcore::heal::HealPolicy;
use healthcore::store::{StoreExt, doc_kind};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{PageQuery, list, paged, to_value, visible_view};
use crate::server::ApiState;
use crate::server::auth::Caller;
use crate::server::error::{ApiError, ApiResult};
use crate::server::extract::{JsonBody, NoBody, Params, page};

pub(super) fn register(r: OpenApiRouter<ApiState>) -> OpenApiRouter<ApiState> {
    r.routes(routes!(list_policies, post_policy))
        .routes(routes!(get_policy, put_policy, delete_policy))
        .routes(routes!(heal_history))
        .routes(routes!(heal_reset))
}

/// Deserialises a JSON value, naming the failing field (422).
pub(crate) fn from_value<T: DeserializeOwned>(v: Value) -> ApiResult<T> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let msg = e.inner().to_string();
        let field =
            crate::server::extract::field_of(&path, &msg).unwrap_or_else(|| "body".to_owned());
        ApiError::invalid(field, msg)
    })
}

/// Puts the caller's tenant into a body without one; refuses another
/// tenant's name for tenant tokens.
pub(crate) fn scope_tenant(caller: &Caller, body: &mut Value) -> ApiResult<()> {
    let Value::Object(m) = body else {
        return Err(ApiError::invalid("body", "must be a JSON object"));
    };
    match (m.get("tenant"), caller.tenant()) {
        (None, Some(own)) => {
            m.insert("tenant".into(), json!(own));
        }
        (Some(Value::String(t)), Some(own)) if t != own.as_str() => {
            return Err(ApiError::invalid(
                "tenant",
                "a tenant token can only write its own tenant",
            ));
        }
        _ => {}
    }
    Ok(())
}

async fn visible_policy(state: &ApiState, caller: &Caller, id: &str) -> ApiResult<HealPolicy> {
    let doc = state
        .engine
        .store()
        .get_doc(doc_kind::HEAL_POLICY, id)
        .await?
        .ok_or_else(|| ApiError::not_found("heal policy"))?;
    let p: HealPolicy = serde_json::from_value(doc.body).map_err(|e| {
        tracing::error!(error = %e, "stored heal policy does not decode");
        ApiError::internal()
    })?;
    if caller.can_see(&p.tenant) {
        Ok(p)
    } else {
        Err(ApiError::not_found("heal policy"))
    }
}

async fn save_policy(state: &ApiState, caller: &Caller, p: HealPolicy) -> ApiResult<Value> {
    if !caller.can_see(&p.tenant) {
        return Err(ApiError::invalid(
            "tenant",
            "a tenant token can only write its own tenant",
        ));
    }
    // an id taken by another tenant is invisible, hence "not found"
    if let Some(doc) = state
        .engine
        .store()
        .get_doc(doc_kind::HEAL_POLICY, &p.id)
        .await?
    {
        if doc.tenant.as_ref().is_some_and(|t| !caller.can_see(t)) {
            return Err(ApiError::not_found("heal policy"));
        }
    }
    state.engine.put_heal_policy(p.clone()).await?;
    to_value(&p)
}

/// Heal policies of the caller's tenant (all for admins).
#[utoipa::path(get, path = "/heal/policies", tag = "healing", security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of policies"), (status = 400, description = "Bad limit or offset")))]
async fn list_policies(
    State(state): State<ApiState>,
    caller: Caller,
    Params(q): Params<PageQuery>,
) -> ApiResult<Json<Value>> {
    let p = q.page()?;
    let items = state.engine.store().heal_policies(caller.tenant()).await?;
    Ok(paged(items, p))
}

/// Creates or updates a policy by its `id` (seed 002's POST). Without an
/// `id` a new policy is created under a generated one,
/// `policy-<16 hex digits>`, returned in the answer.
#[utoipa::path(post, path = "/heal/policies", tag = "healing", security(("bearer" = [])),
    request_body(content = Object, description = "A heal policy: id (optional: generated as `policy-<16 hex>` when absent), name, trigger_after_failures, action, cooldown, max_attempts, …"),
    responses((status = 200, description = "Saved; the policy with its id"), (status = 422, description = "A field is invalid")))]
async fn post_policy(
    State(state): State<ApiState>,
    caller: Caller,
    JsonBody(mut body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    scope_tenant(&caller, &mut body)?;
    super::id_or_generated(&mut body, "policy")?;
    let p: HealPolicy = from_value(body)?;
    Ok(Json(save_policy(&state, &caller, p).await?))
}

/// One policy.
#[utoipa::path(get, path = "/heal/policies/{id}", tag = "healing", security(("bearer" = [])),
    params(("id" = String, Path, description = "Policy id")),
    responses((status = 200, description = "The policy"), (status = 404, description = "No such policy")))]
async fn get_policy(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(to_value(
        &visible_policy(&state, &caller, &id).await?,
    )?))
}

/// Replaces a policy (the body's id, if given, must match the path).
#[utoipa::path(put, path = "/heal/policies/{id}", tag = "healing", security(("bearer" = [])),
    params(("id" = String, Path, description = "Policy id")),
    request_body(content = Object, description = "A heal policy"),
    responses((status = 200, description = "Saved"), (status = 404, description = "Another tenant's policy"),
              (status = 422, description = "A field is invalid")))]
async fn put_policy(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(mut body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    scope_tenant(&caller, &mut body)?;
    super::id_from_path(&mut body, &id)?;
    let p: HealPolicy = from_value(body)?;
    Ok(Json(save_policy(&state, &caller, p).await?))
}

/// Deletes a policy.
#[utoipa::path(delete, path = "/heal/policies/{id}", tag = "healing", security(("bearer" = [])),
    params(("id" = String, Path, description = "Policy id")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such policy")))]
async fn delete_policy(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    visible_policy(&state, &caller, &id).await?;
    state.engine.delete_heal_policy(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A target's heal events, newest first (002).
#[utoipa::path(get, path = "/targets/{id}/heal/history", tag = "healing", security(("bearer" = [])),
    params(("id" = String, Path, description = "Target id"), PageQuery),
    responses((status = 200, description = "A page of heal events"), (status = 404, description = "No such target")))]
async fn heal_history(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(q): Params<PageQuery>,
) -> ApiResult<Json<Value>> {
    let p = page(q.limit, q.offset)?;
    let (id, _) = visible_view(&state, &caller, &id)?;
    let events = state.engine.store().heal_events(&id, p).await?;
    Ok(list(events.items, events.total, p))
}

/// Resets a target's heal attempts (audited). Takes no body (none, or
/// `{}`).
#[utoipa::path(post, path = "/targets/{id}/heal/reset", tag = "healing", security(("bearer" = [])),
    params(("id" = String, Path, description = "Target id")),
    responses((status = 200, description = "Reset"), (status = 404, description = "No such target")))]
async fn heal_reset(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    _: NoBody,
) -> ApiResult<Json<Value>> {
    let (id, _) = visible_view(&state, &caller, &id)?;
    state.engine.reset_heal(&id, &caller.name).await?;
    Ok(Json(json!({"target": id, "reset": true})))
}
