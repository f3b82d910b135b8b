//! Prometheus metrics on one registry. Names follow Prometheus conventions (`_total` counters,
//! `_seconds` histograms in base units) and labels are bounded: `route` is the matched route
//! pattern (or `unmatched`), never the raw path.
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Request latency buckets: sub-millisecond (cached reads) to seconds (timeouts). 0.25 is the
/// latency SLO threshold, so it must be a bucket boundary.
pub const HTTP_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
const DB_BUCKETS: &[f64] = &[0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub http_requests_total: IntCounterVec,
    pub http_request_duration_seconds: HistogramVec,
    pub http_requests_in_flight: IntGauge,
    pub db_pool_connections: IntGaugeVec,
    pub db_query_duration_seconds: HistogramVec,
    pub cache_requests_total: IntCounterVec,
    pub rate_limit_rejections_total: IntCounterVec,
    pub sms_codes_sent_total: IntCounterVec,
    pub auth_logins_total: IntCounterVec,
    pub build_info: IntGaugeVec,
    /// `title=` searches by what answered them: `memory` (the replica's title index) or `ngram`
    /// (the n-gram table: index loading or disabled, one-character terms).
    pub title_searches_total: IntCounterVec,
    /// Houses in this replica's in-memory title index (0 until loaded).
    pub title_index_houses: IntGauge,
    /// The photo uploads and the outbox relay.
    pub photos: PhotoMetrics,
    /// `database.slow_query_ms`: time_query logs a query at least this slow (0 = never).
    slow_query_ms: std::sync::Arc<AtomicU64>,
}

impl Metrics {
    pub fn new() -> anyhow::Result<Self> {
        let registry = Registry::new();
        let http_requests_total = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests served, by method, route pattern and status."),
            &["method", "route", "status"],
        )?;
        let http_request_duration_seconds = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency in seconds.")
                .buckets(HTTP_BUCKETS.to_vec()),
            &["method", "route"],
        )?;
        let http_requests_in_flight =
            IntGauge::new("http_requests_in_flight", "HTTP requests being served right now.")?;
        let db_pool_connections = IntGaugeVec::new(
            Opts::new("db_pool_connections", "Database pool connections by state (idle, active, max)."),
            &["state"],
        )?;
        let db_query_duration_seconds = HistogramVec::new(
            HistogramOpts::new("db_query_duration_seconds", "Database query latency in seconds, by query name.")
                .buckets(DB_BUCKETS.to_vec()),
            &["query"],
        )?;
        let cache_requests_total = IntCounterVec::new(
            Opts::new(
                "cache_requests_total",
                "Cache lookups by cache tier (local, redis) and result (hit, miss, error).",
            ),
            &["cache", "result"],
        )?;
        let rate_limit_rejections_total = IntCounterVec::new(
            Opts::new("rate_limit_rejections_total", "Requests rejected by a rate limiter."),
            &["limiter"],
        )?;
        let sms_codes_sent_total = IntCounterVec::new(
            Opts::new("sms_codes_sent_total", "SMS verification codes handed to a sender, by sender and result."),
            &["sender", "result"],
        )?;
        let auth_logins_total = IntCounterVec::new(
            Opts::new("auth_logins_total", "Login attempts by result (success, failure, throttled)."),
            &["result"],
        )?;
        let build_info = IntGaugeVec::new(
            Opts::new("build_info", "Build information; the value is always 1.").namespace("zufang"),
            &["version", "git_sha"],
        )?;
        registry.register(Box::new(http_requests_total.clone()))?;
        registry.register(Box::new(http_request_duration_seconds.clone()))?;
        registry.register(Box::new(http_requests_in_flight.clone()))?;
        registry.register(Box::new(db_pool_connections.clone()))?;
        registry.register(Box::new(db_query_duration_seconds.clone()))?;
        registry.register(Box::new(cache_requests_total.clone()))?;
        registry.register(Box::new(rate_limit_rejections_total.clone()))?;
        registry.register(Box::new(sms_codes_sent_total.clone()))?;
        registry.register(Box::new(auth_logins_total.clone()))?;
        registry.register(Box::new(build_info.clone()))?;
        let title_searches_total = IntCounterVec::new(
            Opts::new("title_searches_total", "House title searches, by the index that answered them."),
            &["index"],
        )?;
        let title_index_houses =
            IntGauge::new("title_index_houses", "Houses in this replica's in-memory title index (0 until loaded).")?;
        registry.register(Box::new(title_searches_total.clone()))?;
        registry.register(Box::new(title_index_houses.clone()))?;
        for index in ["memory", "ngram"] {
            title_searches_total.with_label_values(&[index]);
        }
        #[cfg(target_os = "linux")]
        registry.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))?;
        // The revision: the image's (ZUFANG_GIT_SHA set by app/Dockerfile), else the build's.
        let git_sha = std::env::var("ZUFANG_GIT_SHA")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| option_env!("ZUFANG_GIT_SHA").unwrap_or("unknown").to_string());
        build_info.with_label_values(&[env!("CARGO_PKG_VERSION"), git_sha.as_str()]).set(1);
        // Pre-create the label sets dashboards and alerts expect, so they read 0 rather than "no data".
        for (tier, result) in
            [("local", "hit"), ("local", "miss"), ("redis", "hit"), ("redis", "miss"), ("redis", "error")]
        {
            cache_requests_total.with_label_values(&[tier, result]);
        }
        for limiter in [
            "sms_interval",
            "sms_daily",
            "sms_ip",
            "login",
            "login_account",
            "signup_ip",
            "signup_tel",
            "password_hash",
        ] {
            rate_limit_rejections_total.with_label_values(&[limiter]);
        }
        for result in ["success", "failure", "throttled"] {
            auth_logins_total.with_label_values(&[result]);
        }
        let photos = PhotoMetrics::register(&registry)?;
        Ok(Metrics {
            photos,
            registry,
            http_requests_total,
            http_request_duration_seconds,
            http_requests_in_flight,
            db_pool_connections,
            db_query_duration_seconds,
            cache_requests_total,
            rate_limit_rejections_total,
            sms_codes_sent_total,
            auth_logins_total,
            build_info,
            title_searches_total,
            title_index_houses,
            slow_query_ms: std::sync::Arc::new(AtomicU64::new(1000)),
        })
    }

    pub fn cache(&self, tier: &str, result: &str) {
        self.cache_requests_total.with_label_values(&[tier, result]).inc();
    }

    pub fn encode(&self) -> anyhow::Result<String> {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        Ok(String::from_utf8(buf)?)
    }

    pub fn set_slow_query_ms(&self, ms: u64) {
        self.slow_query_ms.store(ms, Ordering::Relaxed);
    }

    /// Time a database query under `name`, inside a `db.query` span (a child span in traces).
    pub async fn time_query<F, T>(&self, name: &'static str, fut: F) -> T
    where
        F: std::future::Future<Output = T>,
    {
        use tracing::Instrument;
        let start = Instant::now();
        let span = tracing::info_span!("db.query", otel.kind = "client", db.system = "mysql", db.operation = name);
        let out = fut.instrument(span).await;
        let took = start.elapsed();
        self.db_query_duration_seconds.with_label_values(&[name]).observe(took.as_secs_f64());
        let slow_ms = self.slow_query_ms.load(Ordering::Relaxed);
        if slow_ms > 0 && took.as_millis() >= u128::from(slow_ms) {
            tracing::warn!(query = name, elapsed_ms = took.as_millis() as u64, slow_query_ms = slow_ms, "slow query");
        }
        out
    }
}

/// The photo pipeline's app side: uploads by outcome and the outbox relay (names fixed by the
/// photo contract; alerts and dashboards read them).
#[derive(Clone)]
pub struct PhotoMetrics {
    pub uploads_total: IntCounterVec,
    pub outbox_pending_messages: IntGauge,
    pub outbox_oldest_age_seconds: prometheus::Gauge,
    pub outbox_published_total: prometheus::IntCounter,
    pub outbox_publish_failures_total: prometheus::IntCounter,
}

/// Outcomes of `zufang_photo_uploads_total`, pre-created so each reads 0 before it happens.
pub const UPLOAD_OUTCOMES: &[&str] =
    &["accepted", "too_large", "unsupported", "too_many_pixels", "limit", "rate_limited", "unavailable"];

impl PhotoMetrics {
    fn register(registry: &Registry) -> anyhow::Result<Self> {
        let uploads_total =
            IntCounterVec::new(Opts::new("zufang_photo_uploads_total", "Photo uploads by outcome."), &["outcome"])?;
        let outbox_pending_messages =
            IntGauge::new("zufang_outbox_pending_messages", "Outbox rows not yet confirmed by the broker.")?;
        let outbox_oldest_age_seconds = prometheus::Gauge::new(
            "zufang_outbox_oldest_age_seconds",
            "Age of the oldest outbox row in seconds (0 when empty).",
        )?;
        let outbox_published_total = prometheus::IntCounter::new(
            "zufang_outbox_published_total",
            "Outbox messages the broker confirmed (and the relay then deleted).",
        )?;
        let outbox_publish_failures_total = prometheus::IntCounter::new(
            "zufang_outbox_publish_failures_total",
            "Outbox messages the broker refused, returned as unroutable or never confirmed (retried later).",
        )?;
        registry.register(Box::new(uploads_total.clone()))?;
        registry.register(Box::new(outbox_pending_messages.clone()))?;
        registry.register(Box::new(outbox_oldest_age_seconds.clone()))?;
        registry.register(Box::new(outbox_published_total.clone()))?;
        registry.register(Box::new(outbox_publish_failures_total.clone()))?;
        for outcome in UPLOAD_OUTCOMES {
            uploads_total.with_label_values(&[outcome]);
        }
        Ok(PhotoMetrics {
            uploads_total,
            outbox_pending_messages,
            outbox_oldest_age_seconds,
            outbox_published_total,
            outbox_publish_failures_total,
        })
    }

    pub fn upload(&self, outcome: &str) {
        self.uploads_total.with_label_values(&[outcome]).inc();
    }
}

/// Job duration buckets of `zufang worker`: a small JPEG in tens of milliseconds, a 40 MP
/// original in seconds, the job timeout (60 s) at the top.
const JOB_BUCKETS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// The outcomes of a thumbnail job (`outcome` label): bounded, pre-created.
pub const JOB_OUTCOMES: &[&str] = &["ready", "retry", "dead", "skipped"];

/// `zufang worker`'s metrics, on a registry of their own (its /metrics serves these and the
/// process collector, not the API's request metrics).
#[derive(Clone)]
pub struct WorkerMetrics {
    pub registry: Registry,
    pub jobs_total: IntCounterVec,
    pub job_duration_seconds: HistogramVec,
    pub jobs_in_progress: IntGauge,
    pub broker_connected: IntGauge,
}

impl WorkerMetrics {
    pub fn new() -> anyhow::Result<Self> {
        let registry = Registry::new();
        let jobs_total = IntCounterVec::new(
            Opts::new("worker_jobs_total", "Thumbnail jobs handled, by outcome (ready, retry, dead, skipped).")
                .namespace("zufang"),
            &["outcome"],
        )?;
        let job_duration_seconds = HistogramVec::new(
            HistogramOpts::new("worker_job_duration_seconds", "Thumbnail job duration in seconds, by outcome.")
                .namespace("zufang")
                .buckets(JOB_BUCKETS.to_vec()),
            &["outcome"],
        )?;
        let jobs_in_progress = IntGauge::with_opts(
            Opts::new("worker_jobs_in_progress", "Thumbnail jobs being worked on now.").namespace("zufang"),
        )?;
        let broker_connected = IntGauge::with_opts(
            Opts::new("worker_broker_connected", "1 while the worker is connected to the broker and consuming.")
                .namespace("zufang"),
        )?;
        registry.register(Box::new(jobs_total.clone()))?;
        registry.register(Box::new(job_duration_seconds.clone()))?;
        registry.register(Box::new(jobs_in_progress.clone()))?;
        registry.register(Box::new(broker_connected.clone()))?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))?;
        for outcome in JOB_OUTCOMES {
            jobs_total.with_label_values(&[outcome]);
            job_duration_seconds.with_label_values(&[outcome]);
        }
        Ok(WorkerMetrics { registry, jobs_total, job_duration_seconds, jobs_in_progress, broker_connected })
    }

    /// One finished job.
    pub fn job(&self, outcome: &str, seconds: f64) {
        self.jobs_total.with_label_values(&[outcome]).inc();
        self.job_duration_seconds.with_label_values(&[outcome]).observe(seconds);
    }

    pub fn encode(&self) -> anyhow::Result<String> {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        Ok(String::from_utf8(buf)?)
    }
}
