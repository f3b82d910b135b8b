//! Build the HTTP server from settings and run it with a graceful lifecycle:
//! SIGTERM/SIGINT -> `/readyz` 503 at once -> keep serving for the drain delay (so proxies and
//! endpoint controllers stop sending) -> stop accepting, let in-flight requests finish within the
//! shutdown timeout -> close pools -> exit 0.
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{middleware::from_fn, web, App, HttpServer};
use anyhow::Context;

use crate::cache::Cache;
use crate::configuration::Settings;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::state::AppState;

pub struct Application {
    port: u16,
    server: Server,
    state: AppState,
    /// The outbox relay (a background task) and its stop signal.
    relay: tokio::task::JoinHandle<()>,
    relay_stop: Arc<tokio::sync::watch::Sender<bool>>,
}

/// Triggers the graceful shutdown sequence (signals do the same).
#[derive(Clone)]
pub struct ShutdownHandle {
    server: ServerHandle,
    relay_stop: Arc<tokio::sync::watch::Sender<bool>>,
    flag: Arc<AtomicBool>,
    drain: Duration,
}

impl ShutdownHandle {
    pub async fn shutdown(&self) {
        if self.flag.swap(true, Ordering::SeqCst) {
            return;
        }
        tracing::info!(drain_seconds = self.drain.as_secs_f64(), "shutdown: readiness now 503; draining");
        tokio::time::sleep(self.drain).await;
        tracing::info!("shutdown: no new connections; finishing in-flight requests");
        // The relay finishes its round (rows it claimed are deleted or pushed back) and stops.
        self.relay_stop.send_replace(true);
        self.server.stop(true).await;
    }
}

pub fn redis_pool(settings: &Settings) -> anyhow::Result<deadpool_redis::Pool> {
    let r = &settings.redis;
    let timeout = Some(Duration::from_millis(r.timeout_ms));
    let cfg = deadpool_redis::Config {
        url: None,
        connection: Some(deadpool_redis::ConnectionInfo {
            addr: if r.tls {
                deadpool_redis::ConnectionAddr::TcpTls { host: r.host.clone(), port: r.port, insecure: false }
            } else {
                deadpool_redis::ConnectionAddr::Tcp(r.host.clone(), r.port)
            },
            redis: deadpool_redis::RedisConnectionInfo {
                db: r.db as i64,
                username: (!r.username.is_empty()).then(|| r.username.clone()),
                password: (!r.password.is_empty()).then(|| r.password.expose().to_string()),
                protocol: Default::default(),
            },
        }),
        pool: Some(deadpool_redis::PoolConfig {
            max_size: r.pool_size,
            timeouts: deadpool_redis::Timeouts { wait: timeout, create: timeout, recycle: timeout },
            ..Default::default()
        }),
    };
    cfg.create_pool(Some(deadpool_redis::Runtime::Tokio1)).context("Failed to create the Redis pool")
}

pub fn build_state(settings: Settings) -> anyhow::Result<AppState> {
    let metrics = Metrics::new().context("Failed to register metrics")?;
    metrics.set_slow_query_ms(settings.database.slow_query_ms);
    let db = crate::storage::pool(&settings.database);
    let redis = redis_pool(&settings)?;
    let cache = Cache::new(redis.clone(), &settings, metrics.clone());
    let lists = crate::list_cache::ListCache::new(redis.clone(), &settings, cache.clone(), metrics.clone());
    let jwt = Arc::new(crate::auth::jwt::JwtKeys::from_settings(&settings.jwt, &settings.sms.code_hmac_secret)?);
    let sms = crate::auth::sms::sender_from_settings(&settings.sms, settings.is_production())?;
    for result in ["success", "failure"] {
        // Dashboards read 0 rather than "no data" before the first code.
        metrics.sms_codes_sent_total.with_label_values(&[sms.name(), result]);
    }
    let refused = metrics.rate_limit_rejections_total.with_label_values(&["password_hash"]);
    let hashing = Arc::new(crate::auth::password::HashPool::new(&settings.auth, refused));
    let objects =
        crate::objects::ObjectStore::from_settings(&settings.s3).context("Failed to set up the photo store")?;
    let titles = crate::storage::title_index::TitleIndex::new(
        settings.lists.memory_title_index,
        Duration::from_secs(settings.lists.title_index_refresh_seconds),
        settings.lists.title_index_max_mib,
    );
    Ok(AppState {
        titles,
        objects,
        settings: Arc::new(settings),
        db,
        redis,
        cache,
        lists,
        metrics,
        jwt,
        hashing,
        sms,
        shutting_down: Arc::new(AtomicBool::new(false)),
    })
}

fn json_config(limit: usize) -> web::JsonConfig {
    use actix_web::error::JsonPayloadError;
    web::JsonConfig::default().limit(limit).error_handler(move |err, _req| {
        let api = match &err {
            JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
                ApiError::PayloadTooLarge { limit }
            }
            JsonPayloadError::ContentType => {
                ApiError::UnsupportedMediaType("Content-Type must be application/json.".into())
            }
            JsonPayloadError::Deserialize(e) if e.is_data() => ApiError::BadRequest(format!("Invalid JSON body: {e}")),
            _ => ApiError::BadRequest("Malformed JSON body.".into()),
        };
        api.into()
    })
}

/// The App for one worker; tests build the same thing.
pub fn configure_app(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        let limit = state.settings.application.max_body_bytes;
        cfg.app_data(web::Data::new(state))
            .app_data(json_config(limit))
            .app_data(web::PayloadConfig::new(limit))
            .configure(crate::routes::config)
            .default_service(web::to(crate::routes::fallback::fallback));
    }
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let a = &settings.application;
        let listener = TcpListener::bind((a.host.as_str(), a.port))
            .with_context(|| format!("Failed to bind {}:{}", a.host, a.port))?;
        Self::build_with_listener(settings, listener)
    }

    pub fn build_with_listener(settings: Settings, listener: TcpListener) -> anyhow::Result<Self> {
        let port = listener.local_addr()?.port();
        let a = settings.application.clone();
        let state = build_state(settings)?;
        let app_state = state.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                // Inner to outer: the host check and the guard run inside observe, so their
                // refusals are measured too.
                .wrap(from_fn(crate::routes::guard::guard))
                .wrap(from_fn(crate::middleware::allowed_host))
                .wrap(from_fn(crate::middleware::observe))
                .configure(configure_app(app_state.clone()))
        })
        .keep_alive(Duration::from_secs(a.keep_alive_seconds))
        .shutdown_timeout(a.shutdown_timeout_seconds)
        // Our own handler runs the drain sequence; actix's would stop accepting at once.
        .disable_signals();
        if a.workers > 0 {
            server = server.workers(a.workers);
        }
        let server = server.listen(listener).context("Failed to listen")?.run();
        let (relay_stop, stop) = tokio::sync::watch::channel(false);
        let relay = crate::relay::spawn(&state.settings, state.db.clone(), state.metrics.clone(), stop);
        // Serving starts at once; title search uses the n-gram table until this load is done.
        state.titles.warm(&state.db, &state.metrics);
        Ok(Application { port, server, state, relay, relay_stop: Arc::new(relay_stop) })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            server: self.server.handle(),
            relay_stop: self.relay_stop.clone(),
            flag: self.state.shutting_down.clone(),
            drain: Duration::from_secs(self.state.settings.application.shutdown_drain_seconds),
        }
    }

    /// Serve until a shutdown completes; SIGTERM and SIGINT start one.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let handle = self.shutdown_handle();
        let signals = tokio::spawn(async move {
            wait_for_signal().await;
            handle.shutdown().await;
        });
        tracing::info!(port = self.port, "zufang listening");
        let result = self.server.await;
        signals.abort();
        self.relay_stop.send_replace(true);
        if let Err(e) = self.relay.await {
            tracing::error!(error = %e, "the outbox relay task failed");
        }
        self.state.db.close().await;
        self.state.redis.close();
        tracing::info!("shutdown complete");
        result.context("HTTP server failed")
    }
}

pub(crate) async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
            tracing::error!("cannot install signal handlers");
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
