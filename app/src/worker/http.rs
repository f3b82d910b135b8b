//! The worker's own listener (`worker.port` on `application.host`): `/metrics` (the worker's
//! registry), `/healthz` (the process answers), `/readyz` (connected to the broker and consuming).
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context;

use crate::metrics::WorkerMetrics;

#[derive(Clone)]
struct Probe {
    metrics: WorkerMetrics,
    consuming: Arc<AtomicBool>,
}

async fn scrape(p: web::Data<Probe>) -> HttpResponse {
    match p.metrics.encode() {
        Ok(body) => HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(body),
        Err(e) => {
            tracing::error!(error = %e, "failed to encode the metrics");
            HttpResponse::InternalServerError().finish()
        }
    }
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

async fn readyz(p: web::Data<Probe>) -> HttpResponse {
    if p.consuming.load(Ordering::SeqCst) {
        HttpResponse::Ok().json(serde_json::json!({"status": "ready", "broker": "consuming"}))
    } else {
        HttpResponse::ServiceUnavailable().json(serde_json::json!({"status": "unavailable", "broker": "not consuming"}))
    }
}

/// Bind and start serving on the current runtime; the handle stops it.
pub fn serve(
    listener: TcpListener,
    metrics: WorkerMetrics,
    consuming: Arc<AtomicBool>,
) -> anyhow::Result<ServerHandle> {
    let probe = web::Data::new(Probe { metrics, consuming });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(probe.clone())
            .route("/metrics", web::get().to(scrape))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
    })
    // Probes and a scrape: one thread is plenty, and the cores belong to the image work.
    .workers(1)
    .shutdown_timeout(2)
    .disable_signals()
    .listen(listener)
    .context("Failed to listen")?
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok(handle)
}
