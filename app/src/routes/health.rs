//! Liveness, readiness and metrics endpoints (scraped on the internal network only; the edge
//! answers 404 for /readyz and /metrics).
use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::state::AppState;

/// Liveness: the process serves HTTP. Touches no dependency, so a database outage never makes
/// an orchestrator restart every replica.
pub(super) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Readiness: 503 when the database is unreachable or shutdown has begun. A Redis outage only
/// degrades (reads fall back to the database): taking every replica out of the balancer over a
/// cache outage would turn a partial outage into a total one.
pub(super) async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.is_shutting_down() {
        return HttpResponse::ServiceUnavailable()
            .json(json!({"status": "shutting_down", "checks": {"database": "skipped", "redis": "skipped"}}));
    }
    let db_ok = matches!(
        tokio::time::timeout(Duration::from_secs(2), sqlx::query("SELECT 1").execute(&state.db)).await,
        Ok(Ok(_))
    );
    let redis_ok = redis_ping(&state).await;
    let body = json!({
        "status": if !db_ok { "unavailable" } else if redis_ok { "ok" } else { "degraded" },
        "checks": {"database": if db_ok { "ok" } else { "down" }, "redis": if redis_ok { "ok" } else { "degraded" }},
    });
    if db_ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

pub async fn redis_ping(state: &AppState) -> bool {
    let timeout = Duration::from_millis(state.settings.redis.timeout_ms.max(200));
    let ping = async {
        let mut conn = state.redis.get().await.ok()?;
        deadpool_redis::redis::cmd("PING").query_async::<String>(&mut conn).await.ok()
    };
    matches!(tokio::time::timeout(timeout, ping).await, Ok(Some(_)))
}

pub(super) async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let m = &state.metrics;
    let size = state.db.size() as i64;
    let idle = state.db.num_idle() as i64;
    m.db_pool_connections.with_label_values(&["idle"]).set(idle);
    m.db_pool_connections.with_label_values(&["active"]).set((size - idle).max(0));
    m.db_pool_connections.with_label_values(&["max"]).set(state.settings.database.max_connections as i64);
    match m.encode() {
        Ok(text) => HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(text),
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "Failed to encode metrics");
            HttpResponse::InternalServerError().finish()
        }
    }
}
