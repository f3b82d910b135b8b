//! One middleware for every request: request id, the request span (continuing an incoming W3C
//! `traceparent`), RED metrics with the matched route pattern, and one completion log line.
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;
use opentelemetry::propagation::Extractor;
use opentelemetry::trace::TraceContextExt;
use tracing::field::Empty;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::client_ip;
use crate::state::AppState;

struct HeaderExtractor<'a>(&'a actix_web::http::header::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// The `method` label: the methods HTTP defines, anything else `OTHER`, so a client inventing
/// methods cannot create unbounded Prometheus series.
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "OTHER",
    }
}

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next.call(req).await;
    };
    let trusted = &state.settings.application.trusted_proxies;
    let peer_trusted = req.peer_addr().map(|a| client_ip::is_trusted(a.ip(), trusted)).unwrap_or(false);
    let request_id = crate::request_id::request_id(&req, peer_trusted);
    // The matched pattern keeps the label set bounded; unknown paths share one label.
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".to_string());
    let method = method_label(req.method()).to_string();
    let span = tracing::info_span!(
        "http.request",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = Empty,
        latency_ms = Empty,
        request_id = %request_id,
        trace_id = Empty,
    );
    // Only a trusted proxy's traceparent is honoured: anyone else could pin traces.
    if peer_trusted || trusted.is_empty() {
        let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(req.headers())));
        if parent.span().span_context().is_valid() {
            span.set_parent(parent);
        }
    }
    let trace_id = span.context().span().span_context().trace_id();
    span.record("trace_id", tracing::field::display(trace_id));

    let m = &state.metrics;
    m.http_requests_in_flight.inc();
    let start = Instant::now();
    let res = next.call(req).instrument(span.clone()).await;
    m.http_requests_in_flight.dec();
    let elapsed = start.elapsed();
    let status = match &res {
        Ok(r) => r.status(),
        Err(e) => e.as_response_error().status_code(),
    };
    m.http_requests_total.with_label_values(&[&method, &route, status.as_str()]).inc();
    m.http_request_duration_seconds.with_label_values(&[&method, &route]).observe(elapsed.as_secs_f64());
    span.record("http.response.status_code", status.as_u16());
    span.record("latency_ms", elapsed.as_secs_f64() * 1000.0);
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
        tracing::error!(parent: &span, status = status.as_u16(), "request failed");
    } else {
        tracing::info!(parent: &span, status = status.as_u16(), "request completed");
    }
    let trace_id = trace_id.to_string();
    res.map(|mut r| {
        let headers = r.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            headers.insert(HeaderName::from_static("x-request-id"), v);
        }
        // Lets a client (or the proxy's log) quote the trace to look up in the trace UI.
        if let Ok(v) = HeaderValue::from_str(&trace_id) {
            headers.insert(HeaderName::from_static("x-trace-id"), v);
        }
        r
    })
}
