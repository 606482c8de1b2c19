//! Event-stream tickets: how a browser's `EventSource` (which cannot send
//! an `Authorization` header) authenticates to `GET /events` and `GET /ws`.
//!
//! `POST /events/ticket`, called with the bearer token, answers a random
//! single-use ticket valid for 60 seconds, bound to the caller's name and
//! scope. `GET /events?ticket=<t>` (or `/ws?ticket=<t>`) without an
//! `Authorization` header redeems it: the stream runs as that caller. A
//! ticket is accepted on those two routes only, once, before it expires;
//! anything else is the usual 401. The token itself never goes into a URL,
//! and the request log records paths without query strings.
//!
//! Tickets are 32 bytes from the operating system's random source, kept
//! only as SHA-256 digests in this process's memory (so behind a load
//! balancer the redeeming request must reach the issuing instance: sticky
//! sessions, or the header-authenticated stream). At most
//! [`MAX_OUTSTANDING`] unredeemed tickets exist at once; beyond that the
//! issue call answers 503 until some expire.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::NoBody;

/// How long a ticket may wait to be redeemed.
pub const TICKET_TTL: Duration = Duration::from_secs(60);

/// Most unredeemed, unexpired tickets at once.
pub const MAX_OUTSTANDING: usize = 10_000;

/// Routes on which a ticket is accepted in place of a bearer token.
pub(crate) const TICKET_ROUTES: [&str; 2] = ["/events", "/ws"];

/// The ticket table.
#[derive(Debug, Default)]
pub(crate) struct Tickets {
    live: Mutex<HashMap<[u8; 32], (Caller, Instant)>>,
}

impl Tickets {
    /// A new ticket for `caller`, valid for [`TICKET_TTL`].
    pub(crate) fn issue(&self, caller: &Caller) -> ApiResult<String> {
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).map_err(|e| {
            tracing::error!(error = %e, "no randomness for an event-stream ticket");
            ApiError::internal()
        })?;
        let ticket = hex(&raw);
        let now = Instant::now();
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.retain(|_, (_, exp)| *exp > now);
        if live.len() >= MAX_OUTSTANDING {
            return Err(ApiError::unavailable(
                "too many outstanding event-stream tickets; retry in a minute",
            ));
        }
        live.insert(digest(&ticket), (caller.clone(), now + TICKET_TTL));
        Ok(ticket)
    }

    /// The caller a ticket was issued to, if it is live; the ticket is
    /// spent either way.
    pub(crate) fn redeem(&self, ticket: &str) -> Option<Caller> {
        if ticket.len() != 64 {
            return None;
        }
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let (caller, exp) = live.remove(&digest(ticket))?;
        (exp > Instant::now()).then_some(caller)
    }
}

fn digest(ticket: &str) -> [u8; 32] {
    Sha256::digest(ticket.as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// The `ticket` query parameter of `query`, if any.
pub(crate) fn ticket_in(query: Option<&str>) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == "ticket")
        .map(|(_, v)| v.into_owned())
}

pub(super) fn register(r: OpenApiRouter<ApiState>) -> OpenApiRouter<ApiState> {
    r.routes(routes!(issue))
}

/// A single-use ticket for `GET /events?ticket=…` or `GET /ws?ticket=…`,
/// for clients that cannot send an `Authorization` header (a browser's
/// `EventSource`). Valid 60 s, bound to the caller's scope. Takes no body
/// (none, or `{}`).
#[utoipa::path(post, path = "/events/ticket", tag = "meta", security(("bearer" = [])),
    responses((status = 200, description = "`{\"ticket\": string, \"expires_in\": seconds}`"),
              (status = 503, description = "Too many outstanding tickets")))]
async fn issue(State(state): State<ApiState>, caller: Caller, _: NoBody) -> ApiResult<Json<Value>> {
    let ticket = state.tickets.issue(&caller)?;
    Ok(Json(
        json!({"ticket": ticket, "expires_in": TICKET_TTL.as_secs()}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_use_and_unguessable() {
        let t = Tickets::default();
        let a = t.issue(&Caller::admin("ops")).unwrap();
        let b = t.issue(&Caller::admin("ops")).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(t.redeem(&a).unwrap().name, "ops");
        assert!(t.redeem(&a).is_none(), "a ticket is spent once redeemed");
        assert!(t.redeem("").is_none());
        assert!(t.redeem(&"0".repeat(64)).is_none());
        assert!(t.redeem(&b).is_some());
    }

    #[test]
    fn expired_tickets_are_refused() {
        let t = Tickets::default();
        let a = t.issue(&Caller::admin("ops")).unwrap();
        {
            let mut live = t.live.lock().unwrap();
            for (_, exp) in live.values_mut() {
                *exp = Instant::now() - Duration::from_secs(1);
            }
        }
        assert!(t.redeem(&a).is_none());
    }

    #[test]
    fn query_parsing() {
        assert_eq!(ticket_in(Some("types=a&ticket=abc")).unwrap(), "abc");
        assert_eq!(ticket_in(Some("ticket=a%2Bb")).unwrap(), "a+b");
        assert!(ticket_in(Some("types=a")).is_none());
        assert!(ticket_in(None).is_none());
    }
}
