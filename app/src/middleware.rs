//! The middleware for every request: `observe` (request id, the request span continuing an
//! incoming W3C `traceparent`, RED metrics with the matched route pattern, one completion log
//! line) and `allowed_host` (the Host check, Django's ALLOWED_HOSTS).
use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, ResponseError};
use opentelemetry::propagation::Extractor;
use opentelemetry::trace::TraceContextExt;
use tracing::field::Empty;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::client_ip;
use crate::error::ApiError;
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

/// The host part of a Host header value (no port; IPv6 literals keep their brackets), lowercased.
fn host_only(value: &str) -> String {
    let v = value.trim();
    let host = if v.starts_with('[') {
        v.split_inclusive(']').next().unwrap_or(v)
    } else {
        v.rsplit_once(':').filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit())).map_or(v, |(h, _)| h)
    };
    host.to_ascii_lowercase()
}

/// Whether `host` (already without port) is one of `allowed` (`name`, `.domain`, `*`).
pub fn host_allowed(host: &str, allowed: &[String]) -> bool {
    !host.is_empty()
        && allowed.iter().any(|a| {
            let a = a.to_ascii_lowercase();
            a == "*"
                || a == host
                || a.strip_prefix('.')
                    .is_some_and(|d| host == d || host.strip_suffix(d).is_some_and(|p| p.ends_with('.')))
        })
}

/// Paths orchestrators and scrapers reach by address (any Host).
const ANY_HOST_PATHS: &[&str] = &["/healthz", "/readyz", "/metrics"];

/// `application.allowed_hosts`: a request for another host gets a 400 before any handler runs,
/// so nothing the service builds from the Host (pagination links, Location) names a host an
/// attacker chose. Behind a trusted proxy the proxy's X-Forwarded-Host is the host checked.
pub async fn allowed_host(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    };
    if ANY_HOST_PATHS.contains(&req.path()) {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    }
    let a = &state.settings.application;
    let host = host_only(client_ip::requested_host(req.request(), &a.trusted_proxies).unwrap_or_default());
    if host_allowed(&host, &a.allowed_hosts) {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    }
    let e = ApiError::BadRequest("Invalid Host header: this service does not answer for that host name.".into());
    Ok(req.into_response(e.error_response()).map_into_right_body())
}

#[cfg(test)]
mod host_tests {
    use super::{host_allowed, host_only};

    #[test]
    fn hosts_match_names_domains_and_the_wildcard() {
        let allowed = vec!["example.com".to_string(), ".zufang.test".to_string(), "[::1]".to_string()];
        assert_eq!(host_only("Example.com:8443"), "example.com");
        assert_eq!(host_only("[::1]:8080"), "[::1]");
        assert!(host_allowed(&host_only("example.com:443"), &allowed));
        assert!(host_allowed("zufang.test", &allowed));
        assert!(host_allowed("api.zufang.test", &allowed));
        assert!(!host_allowed("evilzufang.test", &allowed));
        assert!(!host_allowed("example.com.evil.test", &allowed));
        assert!(host_allowed(&host_only("[::1]"), &allowed));
        assert!(!host_allowed("", &allowed));
        assert!(host_allowed("anything", &["*".to_string()]));
    }
}
