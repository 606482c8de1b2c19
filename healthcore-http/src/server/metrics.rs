//! `GET /metrics` in the Prometheus (OpenMetrics) text format, built with
//! prometheus-client from the engine's counters and live views at scrape
//! time, and `GET /openapi.json`.
//!
//! Status gauges use the ladder `0 unknown, 1 healthy, 2 degraded,
//! 3 down`. This module reads; it never changes the engine.

use std::sync::atomic::AtomicU64;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use healthcore::engine::LATENCY_BUCKETS;
use healthcore::model::Status;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};

pub(super) fn register(r: OpenApiRouter<ApiState>) -> OpenApiRouter<ApiState> {
    r.routes(routes!(metrics)).routes(routes!(openapi_json))
}

fn ladder(s: Status) -> i64 {
    match s {
        Status::Unknown => 0,
        Status::Healthy => 1,
        Status::Degraded => 2,
        Status::Down => 3,
    }
}

/// A histogram whose buckets were counted elsewhere (the engine's
/// lock-free counters): per-bucket counts, encoded cumulatively.
#[derive(Debug)]
struct CountedHistogram {
    sum: f64,
    count: u64,
    buckets: Vec<(f64, u64)>,
}

impl EncodeMetric for CountedHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_histogram::<NoLabelSet>(self.sum, self.count, &self.buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

type Labels = Vec<(String, String)>;

fn counter(registry: &mut Registry, name: &str, help: &str, v: u64) {
    let c: Counter<u64> = Counter::default();
    c.inc_by(v);
    registry.register(name, help, c);
}

fn gauge_f(registry: &mut Registry, name: &str, help: &str, v: f64) {
    let g: Gauge<f64, AtomicU64> = Gauge::default();
    g.set(v);
    registry.register(name, help, g);
}

/// Renders every metric as OpenMetrics text.
pub fn render(state: &ApiState) -> Result<String, std::fmt::Error> {
    let engine = &state.engine;
    let m = engine.metrics();
    let mut registry = Registry::with_prefix("healthcore");

    let target_status = Family::<Labels, Gauge>::default();
    let target_score = Family::<Labels, Gauge>::default();
    let check_status = Family::<Labels, Gauge>::default();
    let open_alerts = Family::<Labels, Gauge>::default();
    for sev in ["warning", "critical"] {
        open_alerts
            .get_or_create(&vec![("severity".to_owned(), sev.to_owned())])
            .set(0);
    }
    for v in engine.target_views(None) {
        let labels = vec![
            ("target".to_owned(), v.target.id.to_string()),
            ("tenant".to_owned(), v.target.tenant.to_string()),
        ];
        target_status
            .get_or_create(&labels)
            .set(ladder(v.health.status));
        target_score
            .get_or_create(&labels)
            .set(i64::from(v.score.value));
        for c in &v.checks {
            let cl = vec![
                ("target".to_owned(), v.target.id.to_string()),
                ("check".to_owned(), c.id.to_string()),
                ("kind".to_owned(), c.spec.kind.clone()),
            ];
            check_status.get_or_create(&cl).set(ladder(c.state.status));
        }
        for a in &v.alerts {
            open_alerts
                .get_or_create(&vec![(
                    "severity".to_owned(),
                    a.severity.as_str().to_owned(),
                )])
                .inc();
        }
    }
    registry.register(
        "target_status",
        "Target status: 0 unknown, 1 healthy, 2 degraded, 3 down",
        target_status,
    );
    registry.register("target_score", "Target health score 0..=100", target_score);
    registry.register(
        "check_status",
        "Check status: 0 unknown, 1 healthy, 2 degraded, 3 down",
        check_status,
    );
    registry.register("open_alerts", "Unresolved alerts by severity", open_alerts);

    counter(&mut registry, "checks", "Checks run", m.checks);
    counter(
        &mut registry,
        "check_failures",
        "Checks that failed or found the target unreachable",
        m.failures,
    );
    counter(
        &mut registry,
        "check_timeouts",
        "Checks that hit their timeout",
        m.timeouts,
    );
    counter(
        &mut registry,
        "heal_attempts",
        "Heal actions started",
        m.heal_attempts,
    );
    counter(
        &mut registry,
        "results_written",
        "Results stored",
        m.results_written,
    );
    counter(
        &mut registry,
        "results_dropped",
        "Results dropped because the write buffer was full",
        m.results_dropped,
    );
    counter(
        &mut registry,
        "store_errors",
        "Failed store writes (retried)",
        m.store_errors,
    );
    counter(
        &mut registry,
        "notifications_sent",
        "Notifications delivered",
        m.notifications_sent,
    );
    counter(
        &mut registry,
        "notifications_failed",
        "Notifications given up on",
        m.notifications_failed,
    );
    counter(
        &mut registry,
        "notifications_silenced",
        "External notifications not sent: the target's alert channel config is disabled",
        m.notifications_silenced,
    );
    gauge_f(
        &mut registry,
        "store_buffer_depth",
        "Results waiting to be written",
        m.buffer_depth as f64,
    );
    gauge_f(
        &mut registry,
        "engine_lag_max_seconds",
        "Worst scheduling lateness seen",
        m.lateness_max_us as f64 / 1e6,
    );
    let mean = if m.checks > 0 {
        m.lateness_sum_us as f64 / m.checks as f64 / 1e6
    } else {
        0.0
    };
    gauge_f(
        &mut registry,
        "engine_lag_mean_seconds",
        "Mean scheduling lateness",
        mean,
    );
    gauge_f(
        &mut registry,
        "ready",
        "1 once the startup checklist passed",
        if engine.is_ready() { 1.0 } else { 0.0 },
    );

    let mut buckets: Vec<(f64, u64)> = LATENCY_BUCKETS
        .iter()
        .zip(m.latency_buckets.iter())
        .map(|(b, c)| (*b, *c))
        .collect();
    buckets.push((f64::MAX, m.latency_buckets.last().copied().unwrap_or(0)));
    let count = m.latency_buckets.iter().sum();
    registry.register(
        "check_latency_seconds",
        "Latency of checks that reported one",
        CountedHistogram {
            sum: m.latency_sum_us as f64 / 1e6,
            count,
            buckets,
        },
    );

    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(out)
}

/// Prometheus metrics (admins only).
#[utoipa::path(get, path = "/metrics", tag = "meta", security(("bearer" = [])),
    responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text"),
              (status = 403, description = "Not an admin token")))]
async fn metrics(State(state): State<ApiState>, caller: Caller) -> ApiResult<Response> {
    caller.require_admin()?;
    let body = render(&state).map_err(|_| ApiError::internal())?;
    let mut res = body.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    Ok(res)
}

/// This API's OpenAPI 3.1 document, generated from the handlers.
#[utoipa::path(get, path = "/openapi.json", tag = "meta", security(("bearer" = [])),
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
async fn openapi_json(State(state): State<ApiState>, _caller: Caller) -> Response {
    let body = state
        .openapi
        .get()
        .cloned()
        .unwrap_or_else(|| "{}".to_owned());
    let mut res = body.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}
