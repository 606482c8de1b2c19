//! # healthcore-http
//!
//! The HTTP edge of [`healthcore`]: what applications mount and
//! operators call.
//!
//! - feature **`server`** (default): [`router`] — an axum router with the
//!   REST API (targets, checks, alerts, healing, maintenance, SLOs,
//!   lifecycle reports, uptime, quick actions, activity), live events as
//!   Server-Sent Events and WebSocket, the OpenAPI document generated from
//!   the handlers and Prometheus metrics; bearer-token auth wraps it all;
//!   the dashboard page (status grid, detail, uptime timeline, alerts,
//!   startup checklist, live over SSE) at `GET /`, compiled in, public
//!   because it holds no data ([`server::dashboard`]);
//! - feature **`client`** (default): the `http` probe
//!   ([`Checker`](healthcore::checker::Checker) kind `http`) and the
//!   Standard Webhooks-signed webhook and Slack notifiers, every request
//!   of theirs behind the egress guard;
//! - the **egress guard** ([`egress`], with either feature): address
//!   classification and the policy that outbound requests and the
//!   destinations of API-defined checks are judged by.
//!
//! The crate holds no health rules: it translates between HTTP and the
//! engine, whose registration rules every caller gets alike (a target's
//! MAC address is no other target's, its parents form no cycle, creating
//! an id is atomic).
//!
//! ## Checks defined through the API
//!
//! `PUT /targets/{id}/checks/{check}` defines a check the server will run
//! with its own privileges, so it goes through a
//! [`CheckPolicy`](server::CheckPolicy) first ([`ApiConfig::checks`](server::ApiConfig::checks);
//! every refusal is a 422 naming the field):
//!
//! - `command` checks are never definable through the API (DESIGN §7:
//!   commands come from operator configuration; the API triggers them);
//!   other kinds must be on an allow-list, by default `heartbeat`, `http`,
//!   `tcp`, `icmp`, `dns`, `tls` and `redis`;
//! - parameters naming the server's environment variables, files,
//!   directories or programs (`*_env`, `*_file`, `*_dir`, `*_path`, `env`,
//!   `file`, `dir`, `path`, `cwd`, `argv`: `redis.password_env`,
//!   `ssh.key_file`, `tls.ca_file`, `disk.write_test_dir`, …) are refused;
//! - the destination (`params.host`, `params.server`, `params.url`) must
//!   pass the probe egress policy: public addresses only unless the
//!   server allows private ranges or CIDRs; metadata addresses always
//!   refused; names resolved at registration, failing closed (a name's
//!   later DNS answers are not re-judged, except by the `http` probe's
//!   own guard).
//!
//! Checks an operator configures (healthd's file, an embedder calling the
//! engine) do not go through it.
//!
//! ## Serving
//!
//! Serve the router with the peer address so node reports record where
//! they came from (seed 001 keeps the client IP, falling back to the
//! body's `ip_address`):
//!
//! ```no_run
//! # async fn demo(app: axum::Router) -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await
//! # }
//! ```
//!
//! Plain `axum::serve(listener, app)` works too, but then every report's
//! address is its body's `ip_address` (see [`server`] on proxies).
//!
//! ## Alert channels (seed 004's per-service alert configs)
//!
//! `PUT /health/alert-channels/{target}` (and `PUT /health/alert-channels`
//! for the default) stores `{escalation_delay, channels, webhook_url,
//! enabled}`; the engine applies it at once and after a restart:
//!
//! - `escalation_delay`: the target's alerts go to external channels after
//!   this long unacknowledged (`0s`: at once); acknowledging stops it;
//! - `channels`: notifier names (`Notifier::name`: `webhook`, `slack`, a
//!   renamed webhook, …; `dashboard` stands for every dashboard-audience
//!   notifier); empty selects every notifier;
//! - `webhook_url`: checked by the webhook egress policy when saved; a
//!   [`WebhookNotifier`](client::WebhookNotifier) delivers the target's
//!   notifications to it *instead of* its own URL, signed with its secret
//!   (a [`WebhookNotifier::routed`](client::WebhookNotifier::routed) one
//!   has no URL of its own and serves only such targets);
//! - `enabled: false`: the target's external notifications are not sent
//!   (counted in `healthcore_notifications_silenced_total`); its alerts are
//!   still recorded, listed and shown on the dashboard.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub mod server;

#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod client;

#[cfg(any(feature = "server", feature = "client"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "server", feature = "client"))))]
pub mod egress;

#[cfg(feature = "server")]
pub use server::{ApiState, Auth, Scope, router, router_with};
