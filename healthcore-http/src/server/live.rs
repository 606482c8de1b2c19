//! Live events: the engine's broadcast bus served as Server-Sent Events
//! (`GET /events`, the event name in the `event:` field and the JSON in
//! `data:`) and as a WebSocket (`GET /ws`, one JSON text message
//! `{"event": name, "data": …}` per event). Both are tenant-filtered:
//! a tenant token gets only its tenant's events; fleet-wide events
//! (`health:summary_updated`) go to admins only. Payloads carry seed
//! 000's field names beside the core's (`node_id`, `old_status`,
//! `new_status`, `health_score`; `alert_type`, `node_id`, `node_name`;
//! `total_nodes`). A subscriber too slow to keep up is told how many
//! events it missed (`health:lagged`), never slows the engine. Both authenticate with the bearer header or, for
//! browsers, a single-use `?ticket=` (see `POST /events/ticket`).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use healthcore::event::Event;
use healthcore::summary::display_status;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::Params;

pub(super) fn register(r: OpenApiRouter<ApiState>) -> OpenApiRouter<ApiState> {
    r.routes(routes!(sse)).routes(routes!(ws))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    /// Comma-separated event names to receive (default: all), e.g.
    /// `health:status_changed,health:alert_created`.
    types: Option<String>,
    /// A single-use ticket from `POST /events/ticket`, in place of the
    /// `Authorization` header (for browsers' `EventSource`).
    #[expect(
        dead_code,
        reason = "redeemed by the auth layer before the handler runs"
    )]
    ticket: Option<String>,
}

/// Which events a subscriber gets.
#[derive(Debug, Clone)]
struct Filter {
    caller: Caller,
    types: Option<Vec<String>>,
}

impl Filter {
    fn new(caller: Caller, types: Option<String>) -> ApiResult<Self> {
        let types = match types {
            None => None,
            Some(t) => {
                let list: Vec<String> = t
                    .split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect();
                if list.is_empty() || list.len() > 32 || list.iter().any(|s| s.len() > 64) {
                    return Err(ApiError::invalid_query(
                        "types",
                        "types is a comma-separated list of up to 32 event names",
                    ));
                }
                Some(list)
            }
        };
        Ok(Self { caller, types })
    }

    fn wants(&self, e: &Event) -> bool {
        let visible = match e.tenant() {
            Some(t) => self.caller.can_see(t),
            None => self.caller.is_admin(),
        };
        visible
            && self
                .types
                .as_ref()
                .is_none_or(|t| t.iter().any(|n| n == e.name()))
    }
}

/// An event's JSON as sent: the core's fields plus seed 000's names beside
/// them: `health:status_changed` also carries `node_id`, `old_status`,
/// `new_status` (the passive vocabulary: `stale`, `offline`, …) and
/// `health_score`; an alert event's `alert` also `alert_type`, `node_id`,
/// `node_name` (and `target_name`); `health:summary_updated`'s `summary`
/// also `total_nodes`.
fn wire_data(state: &ApiState, e: &Event) -> String {
    let mut v = serde_json::to_value(e).unwrap_or_else(|_| json!({}));
    match e {
        Event::StatusChanged {
            target,
            from,
            to,
            cause,
            from_cause,
            score,
            ..
        } => {
            if let serde_json::Value::Object(m) = &mut v {
                m.insert("node_id".into(), json!(target));
                m.insert(
                    "old_status".into(),
                    json!(display_status(*from, *from_cause)),
                );
                m.insert("new_status".into(), json!(display_status(*to, *cause)));
                m.insert("health_score".into(), json!(score));
            }
        }
        Event::AlertCreated { alert, .. }
        | Event::AlertAcknowledged { alert, .. }
        | Event::AlertResolved { alert, .. }
        | Event::AlertEscalated { alert, .. } => {
            let name = state
                .engine
                .target_view(&alert.target)
                .map(|t| t.target.name);
            if let Some(a) = v.get_mut("alert") {
                super::routes::add_alert_seed_fields(a, name);
            }
        }
        Event::SummaryUpdated { summary } => {
            if let Some(serde_json::Value::Object(m)) = v.get_mut("summary") {
                m.insert("total_nodes".into(), json!(summary.total_targets));
            }
        }
        _ => {}
    }
    v.to_string()
}

/// The next event the filter lets through, or a lag notice; `None` when
/// the bus is closed.
async fn next_event(
    state: &ApiState,
    rx: &mut Receiver<Event>,
    filter: &Filter,
) -> Option<(String, String)> {
    loop {
        match rx.recv().await {
            Ok(e) => {
                if !filter.wants(&e) {
                    continue;
                }
                return Some((e.name().to_owned(), wire_data(state, &e)));
            }
            Err(RecvError::Lagged(n)) => {
                return Some(("health:lagged".to_owned(), json!({"missed": n}).to_string()));
            }
            Err(RecvError::Closed) => return None,
        }
    }
}

/// Server-Sent Events: one `event:` per engine event, tenant-filtered.
#[utoipa::path(get, path = "/events", tag = "meta", security(("bearer" = [])),
    params(EventsQuery),
    responses((status = 200, description = "text/event-stream of health:* events", content_type = "text/event-stream")))]
async fn sse(
    State(state): State<ApiState>,
    caller: Caller,
    Params(q): Params<EventsQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let filter = Filter::new(caller, q.types)?;
    let rx = state.engine.subscribe();
    let stream =
        futures_util::stream::unfold((state, rx, filter), |(state, mut rx, filter)| async move {
            let (name, data) = next_event(&state, &mut rx, &filter).await?;
            Some((
                Ok(SseEvent::default().event(name).data(data)),
                (state, rx, filter),
            ))
        });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// WebSocket: one text message `{"event": name, "data": event}` per
/// engine event, tenant-filtered.
#[utoipa::path(get, path = "/ws", tag = "meta", security(("bearer" = [])),
    params(EventsQuery),
    responses((status = 101, description = "Switching to the WebSocket protocol"),
              (status = 400, description = "Not a WebSocket upgrade request")))]
async fn ws(
    State(state): State<ApiState>,
    caller: Caller,
    Params(q): Params<EventsQuery>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let filter = match Filter::new(caller, q.types) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let upgrade = match upgrade {
        Ok(u) => u,
        Err(_) => {
            return ApiError::bad_request("GET /ws needs a WebSocket upgrade request")
                .into_response();
        }
    };
    let rx = state.engine.subscribe();
    upgrade
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket| pump(state, socket, rx, filter))
}

async fn pump(state: ApiState, mut socket: WebSocket, mut rx: Receiver<Event>, filter: Filter) {
    loop {
        tokio::select! {
            next = next_event(&state, &mut rx, &filter) => {
                let Some((name, data)) = next else { break };
                let text = format!("{{\"event\":{},\"data\":{}}}", json!(name), data);
                if socket.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => {
                match incoming {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {} // pings are answered by axum; other input is ignored
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use healthcore::model::{Cause, Status, TargetId, TenantId};

    fn status_event(tenant: &str) -> Event {
        Event::StatusChanged {
            target: TargetId::new("t").unwrap(),
            tenant: TenantId::new(tenant).unwrap(),
            check: None,
            from: Status::Healthy,
            to: Status::Down,
            cause: Cause::None,
            from_cause: Cause::None,
            score: None,
            at: chrono::Utc::now(),
        }
    }

    #[test]
    fn tenant_and_type_filter() {
        let acme = Caller {
            name: "a".into(),
            scope: crate::server::Scope::Tenant(TenantId::new("acme").unwrap()),
        };
        let f = Filter::new(acme.clone(), None).unwrap();
        assert!(f.wants(&status_event("acme")));
        assert!(!f.wants(&status_event("other")));
        let summary = Event::SummaryUpdated {
            summary: Default::default(),
        };
        assert!(!f.wants(&summary));
        assert!(
            Filter::new(Caller::admin("r"), None)
                .unwrap()
                .wants(&summary)
        );
        let f = Filter::new(acme, Some("health:alert_created".into())).unwrap();
        assert!(!f.wants(&status_event("acme")));
        assert!(Filter::new(Caller::admin("r"), Some(",".into())).is_err());
    }
}
