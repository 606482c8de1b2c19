//! The REST handlers, one file per area, and the helpers they share:
//! tenant-scoped lookups (another tenant's ids are 404, never 403) and the
//! list envelope `{"data", "total", "limit", "offset"}`.

mod alerts;
mod grid;
mod heal;
mod health;
mod lifecycle;
mod ops;
mod targets;

use axum::Json;
use healthcore::fleet::TargetView;
use healthcore::model::TargetId;
use healthcore::store::PageRequest;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;

use super::ApiState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::target_id;

pub(super) fn register(r: OpenApiRouter<ApiState>) -> OpenApiRouter<ApiState> {
    let r = health::register(r);
    let r = grid::register(r);
    let r = targets::register(r);
    let r = alerts::register(r);
    let r = heal::register(r);
    let r = lifecycle::register(r);
    ops::register(r)
}

/// The target's live view, if it exists and the caller may see it.
pub(crate) fn visible_view(
    state: &ApiState,
    caller: &Caller,
    raw: &str,
) -> ApiResult<(TargetId, TargetView)> {
    let id = target_id(raw)?;
    match state.engine.target_view(&id) {
        Some(v) if caller.can_see(&v.target.tenant) => Ok((id, v)),
        _ => Err(ApiError::not_found("target")),
    }
}

/// The list envelope.
pub(crate) fn list<T: Serialize>(items: Vec<T>, total: u64, page: PageRequest) -> Json<Value> {
    Json(json!({
        "data": items,
        "total": total,
        "limit": page.limit,
        "offset": page.offset,
    }))
}

/// `limit` and `offset` of a list with no other query parameter.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// Page size 1..=500 (default 50).
    limit: Option<u32>,
    /// Items to skip.
    offset: Option<u64>,
}

impl PageQuery {
    /// The checked page (400 naming `limit` when out of range).
    pub(crate) fn page(&self) -> ApiResult<PageRequest> {
        super::extract::page(self.limit, self.offset)
    }
}

/// The list envelope over one page of an already filtered, ordered list.
pub(crate) fn paged<T: Serialize>(items: Vec<T>, page: PageRequest) -> Json<Value> {
    let p = page.apply(items);
    list(p.items, p.total, page)
}

/// Serialises a value (infallible for our types; a failure is logged).
pub(crate) fn to_value<T: Serialize>(v: &T) -> ApiResult<Value> {
    serde_json::to_value(v).map_err(|e| {
        tracing::error!(error = %e, "response serialisation failed");
        ApiError::internal()
    })
}

/// A PUT body's `id`: taken from the path when absent, refused (422 naming
/// `id`) when it differs from the path.
pub(super) fn id_from_path(body: &mut Value, id: &str) -> ApiResult<()> {
    if let Value::Object(m) = body {
        match m.get("id") {
            None => {
                m.insert("id".into(), Value::String(id.to_owned()));
            }
            Some(Value::String(b)) if b == id => {}
            Some(_) => return Err(ApiError::invalid("id", "id must match the path")),
        }
    }
    Ok(())
}

/// A fresh id `<prefix>-<16 lowercase hex digits>` (64 random bits from
/// the operating system) for a create without one.
pub(super) fn generated_id(prefix: &str) -> ApiResult<String> {
    let mut raw = [0u8; 8];
    getrandom::fill(&mut raw).map_err(|e| {
        tracing::error!(error = %e, "no randomness for a generated id");
        ApiError::internal()
    })?;
    let mut id = String::with_capacity(prefix.len() + 17);
    id.push_str(prefix);
    id.push('-');
    for b in raw {
        id.push_str(&format!("{b:02x}"));
    }
    Ok(id)
}

/// A POST body's `id`: a generated one ([`generated_id`]) when absent or
/// null; a body that is not a JSON object is left for the parser to refuse.
pub(super) fn id_or_generated(body: &mut Value, prefix: &str) -> ApiResult<()> {
    if let Value::Object(m) = body {
        if m.get("id").is_none_or(Value::is_null) {
            m.insert("id".into(), Value::String(generated_id(prefix)?));
        }
    }
    Ok(())
}

/// An alert as the API answers it: the core's fields, the target's name
/// (`target_name`) and seed 000's `HealthAlertResponse` names beside them
/// (`alert_type` = `kind`, `node_id` = `target`, `node_name` = the
/// target's name).
pub(crate) fn alert_json(state: &ApiState, a: &healthcore::alert::Alert) -> ApiResult<Value> {
    let mut v = to_value(a)?;
    let name = state.engine.target_view(&a.target).map(|t| t.target.name);
    add_alert_seed_fields(&mut v, name);
    Ok(v)
}

/// Adds `target_name` and seed 000's `alert_type`, `node_id` and
/// `node_name` to a serialised alert.
pub(crate) fn add_alert_seed_fields(v: &mut Value, name: Option<String>) {
    if let Value::Object(m) = v {
        let kind = m.get("kind").cloned().unwrap_or(Value::Null);
        let target = m.get("target").cloned().unwrap_or(Value::Null);
        m.insert("target_name".into(), json!(name));
        m.insert("alert_type".into(), kind);
        m.insert("node_id".into(), target);
        m.insert("node_name".into(), json!(name));
    }
}

/// Seed 000's summary (`HealthSummaryResponse`): the core's fields plus
/// `total_nodes` (= `total_targets`).
pub(crate) fn summary_json(s: &healthcore::summary::Summary) -> ApiResult<Value> {
    let mut v = to_value(s)?;
    if let Value::Object(m) = &mut v {
        m.insert("total_nodes".into(), json!(s.total_targets));
    }
    Ok(v)
}
