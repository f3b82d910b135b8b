//! Logs (tracing-subscriber: pretty in development, JSON in production), traces (OpenTelemetry,
//! OTLP/HTTP export when `otel.endpoint` is set; W3C trace context), and error reporting (Sentry
//! when `sentry.dsn` is set).
use anyhow::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, TracerProvider};
use opentelemetry_sdk::Resource;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::configuration::{LogFormat, Settings};

/// Flushes traces and Sentry events on drop (at the end of `main`).
pub struct TelemetryGuard {
    provider: TracerProvider,
    _sentry: Option<sentry::ClientInitGuard>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(e) = self.provider.shutdown() {
            eprintln!("failed to flush traces: {e}");
        }
    }
}

fn filter(level: &str) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level))
}

/// Install the global subscriber. Must run inside the Tokio runtime (the batch span exporter uses it).
pub fn init(settings: &Settings) -> anyhow::Result<TelemetryGuard> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let o = &settings.otel;
    let mut builder = TracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(o.sample_ratio))))
        .with_resource(Resource::new(vec![
            KeyValue::new("service.name", o.service_name.clone()),
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            KeyValue::new("deployment.environment", settings.environment.clone()),
        ]));
    if !o.endpoint.is_empty() {
        use opentelemetry_otlp::WithExportConfig;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(format!("{}/v1/traces", o.endpoint.trim_end_matches('/')))
            .build()
            .context("Failed to build the OTLP span exporter")?;
        builder = builder.with_batch_exporter(exporter, opentelemetry_sdk::runtime::Tokio);
    }
    let provider = builder.build();
    let tracer = provider.tracer("zufang");
    opentelemetry::global::set_tracer_provider(provider.clone());
    // Per-layer filters: the log level (config or RUST_LOG) filters log output only, so a quiet
    // log level never switches off the request spans that traces are made of.
    use tracing_subscriber::Layer;
    let otel_layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(EnvFilter::new("info,h2=off,hyper=off,reqwest=off,tower=off,opentelemetry=off"));
    let registry = tracing_subscriber::registry().with(otel_layer);
    let log_filter = filter(&settings.log.level);
    match settings.log.format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_filter(log_filter),
            )
            .try_init(),
        LogFormat::Pretty => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .compact()
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
                    .with_filter(log_filter),
            )
            .try_init(),
    }
    .context("Failed to install the tracing subscriber")?;

    let sentry = if settings.sentry.dsn.is_empty() {
        None
    } else {
        Some(sentry::init((
            settings.sentry.dsn.expose().to_string(),
            sentry::ClientOptions {
                release: Some(env!("CARGO_PKG_VERSION").into()),
                environment: Some(settings.sentry.environment.clone().into()),
                ..Default::default()
            },
        )))
    };
    Ok(TelemetryGuard { provider, _sentry: sentry })
}

/// Install only a log subscriber (CLI commands other than `serve`).
pub fn init_logs_only(level: &str) {
    let _ = tracing_subscriber::registry()
        .with(filter(level))
        .with(tracing_subscriber::fmt::layer().compact().with_writer(std::io::stderr))
        .try_init();
}

/// Log an unexpected error with its whole cause chain (inside the request span, so with the
/// request and trace ids) and report it to Sentry when configured.
pub fn report_internal_error(e: &anyhow::Error) {
    tracing::error!(error.cause_chain = %format!("{e:#}"), error.debug = ?e, "internal error");
    if sentry::Hub::current().client().is_some() {
        sentry::integrations::anyhow::capture_anyhow(e);
    }
}
