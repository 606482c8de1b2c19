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
//! - feature **`client`** (default): the egress guard every outbound request
//!   goes through, the `http` probe ([`Checker`](healthcore::checker::Checker)
//!   kind `http`), and the Standard Webhooks-signed webhook and Slack
//!   notifiers.
//!
//! The crate holds no health rules: it translates between HTTP and the
//! engine.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub mod server;

#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod client;

#[cfg(feature = "server")]
pub use server::{ApiState, Auth, Scope, router, router_with};
