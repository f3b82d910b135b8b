//! `zufang worker`: consumes `photo.thumbnail` (manual acks, prefetch), makes the derived sizes
//! of each photo, marks it ready or failed, and acks. Failures that may pass (store, database,
//! timeout) are republished to a retry tier; permanent ones, and jobs out of attempts, go to the
//! dead-letter queue with the reason. The broker connection is re-established with backoff.
//! SIGTERM: stop consuming, let the jobs in hand finish within `worker.shutdown_timeout_seconds`,
//! else close without acking them (the broker redelivers). rabbitmq/README.md has the contract.
pub mod amqp;
pub mod dlq;
pub mod http;
pub mod message;
pub mod photos;
pub mod thumbnail;

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::Channel;
use sqlx::MySqlPool;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use crate::configuration::Settings;
use crate::list_cache::{ListCache, Listing};
use crate::metrics::WorkerMetrics;
use crate::objects::{ObjectError, ObjectStore};
use message::AfterFailure;
use photos::{Marked, Photo};
use thumbnail::{DecodeLimits, Rendered};

/// How a job ended (the `outcome` label of the job metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ready,
    Retry,
    Dead,
    Skipped,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ready => "ready",
            Outcome::Retry => "retry",
            Outcome::Dead => "dead",
            Outcome::Skipped => "skipped",
        }
    }
}

/// Why a job failed: a transient failure is retried, a permanent one is not.
#[derive(Debug)]
enum Failure {
    Transient(String),
    Permanent(String),
}

pub struct Worker {
    settings: Arc<Settings>,
    db: MySqlPool,
    objects: ObjectStore,
    lists: ListCache,
    /// The API's statement metrics: the worker's statements go through the same timed `Store`.
    db_metrics: crate::metrics::Metrics,
    metrics: WorkerMetrics,
    consuming: Arc<AtomicBool>,
}

/// Bind `application.host:worker.port` and run until SIGTERM/SIGINT.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let listener = TcpListener::bind((settings.application.host.as_str(), settings.worker.port))
        .with_context(|| format!("Failed to bind {}:{}", settings.application.host, settings.worker.port))?;
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        crate::startup::wait_for_signal().await;
        let _ = stop_tx.send(true);
    });
    run_with_listener(settings, listener, stop).await
}

/// The worker on a given listener until `stop` turns true.
pub async fn run_with_listener(
    settings: Settings,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let metrics = WorkerMetrics::new().context("Failed to register the worker metrics")?;
    let consuming = Arc::new(AtomicBool::new(false));
    let port = listener.local_addr()?.port();
    let server = http::serve(listener, metrics.clone(), consuming.clone())?;
    let db = crate::storage::pool(&settings.database);
    let objects = ObjectStore::from_settings(&settings.s3)?;
    let redis = crate::startup::redis_pool(&settings)?;
    let app_metrics = crate::metrics::Metrics::new()?;
    let cache = crate::cache::Cache::new(redis.clone(), &settings, app_metrics.clone());
    let lists = ListCache::new(redis, &settings, cache, app_metrics.clone());
    let worker = Arc::new(Worker {
        settings: Arc::new(settings),
        db: db.clone(),
        objects,
        lists,
        db_metrics: app_metrics,
        metrics,
        consuming,
    });
    tracing::info!(port, queue = %worker.settings.worker.queue, "zufang worker: probes and /metrics listening");
    let mut backoff = Duration::from_secs(1);
    loop {
        if *stop.borrow() {
            break;
        }
        let started = Instant::now();
        match worker.session(&mut stop).await {
            Ok(()) => break,
            Err(e) => {
                worker.set_consuming(false);
                if started.elapsed() > Duration::from_secs(60) {
                    backoff = Duration::from_secs(1);
                }
                tracing::warn!(error = %format!("{e:#}"), retry_in_seconds = backoff.as_secs(), "broker session ended; reconnecting");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => break,
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
    worker.set_consuming(false);
    server.stop(true).await;
    db.close().await;
    tracing::info!("zufang worker: stopped");
    Ok(())
}

/// Decrements the in-progress gauge when a job ends, however it ends (aborted included).
struct InProgress(prometheus::IntGauge);

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Worker {
    fn set_consuming(&self, on: bool) {
        self.consuming.store(on, Ordering::SeqCst);
        self.metrics.broker_connected.set(i64::from(on));
    }

    /// One connection: consume until `stop` (Ok) or until the broker goes away (Err).
    async fn session(self: &Arc<Self>, stop: &mut watch::Receiver<bool>) -> anyhow::Result<()> {
        let w = &self.settings.worker;
        let conn = crate::broker::connect(&self.settings.amqp, "zufang-worker").await?;
        let channel = conn.create_channel().await.context("Failed to open a channel")?;
        channel.basic_qos(w.prefetch, BasicQosOptions::default()).await.context("Failed to set the prefetch")?;
        let publisher = amqp::confirm_channel(&conn).await?;
        let tag = format!("zufang-worker-{}", std::process::id());
        let mut consumer = channel
            .basic_consume(&w.queue, &tag, BasicConsumeOptions::default(), FieldTable::default())
            .await
            .with_context(|| format!("Failed to consume {:?}", w.queue))?;
        self.set_consuming(true);
        tracing::info!(queue = %w.queue, prefetch = w.prefetch, "consuming");
        let broken = Arc::new(Notify::new());
        let mut jobs = JoinSet::new();
        let end = loop {
            tokio::select! {
                _ = stop.changed() => break Ok(()),
                _ = broken.notified() => break Err(anyhow::anyhow!("a publish or an ack failed; reconnecting")),
                next = consumer.next() => match next {
                    Some(Ok(delivery)) => {
                        let (worker, publisher, broken) = (self.clone(), publisher.clone(), broken.clone());
                        jobs.spawn(async move {
                            if let Err(e) = worker.handle(&publisher, delivery).await {
                                // Not acked: the broker redelivers it once this channel is gone.
                                tracing::error!(error = %format!("{e:#}"), "job left unacked");
                                broken.notify_one();
                            }
                        });
                    }
                    Some(Err(e)) => break Err(anyhow::Error::new(e).context("The consumer failed")),
                    None => break Err(anyhow::anyhow!("the broker cancelled the consumer")),
                },
                Some(_) = jobs.join_next(), if !jobs.is_empty() => {}
            }
        };
        self.set_consuming(false);
        if end.is_ok() {
            let _ = channel.basic_cancel(&tag, BasicCancelOptions::default()).await;
            let in_hand = jobs.len();
            tracing::info!(jobs = in_hand, "shutdown: consumer cancelled; finishing the jobs in hand");
            let budget = Duration::from_secs(w.shutdown_timeout_seconds);
            if tokio::time::timeout(budget, async { while jobs.join_next().await.is_some() {} }).await.is_err() {
                tracing::warn!(
                    jobs = jobs.len(),
                    "shutdown: jobs not finished in time are left unacked; the broker redelivers them"
                );
                jobs.abort_all();
            }
        } else {
            jobs.abort_all();
        }
        let _ = conn.close(200, "zufang worker: bye").await;
        end
    }

    /// One delivery, start to ack. Err: the broker could not be told (left unacked).
    async fn handle(&self, publisher: &Channel, delivery: Delivery) -> anyhow::Result<()> {
        let started = Instant::now();
        self.metrics.jobs_in_progress.inc();
        let _in_progress = InProgress(self.metrics.jobs_in_progress.clone());
        let outcome = self.decide(publisher, &delivery).await?;
        delivery.ack(BasicAckOptions::default()).await.context("Failed to ack")?;
        let seconds = started.elapsed().as_secs_f64();
        self.metrics.job(outcome.label(), seconds);
        let message_id = delivery.properties.message_id().as_ref().map(|s| s.to_string()).unwrap_or_default();
        tracing::info!(message_id, outcome = outcome.label(), seconds, redelivered = delivery.redelivered, "job done");
        Ok(())
    }

    async fn decide(&self, publisher: &Channel, d: &Delivery) -> anyhow::Result<Outcome> {
        let failed_before = amqp::header_u32(&d.properties, "x-attempt").unwrap_or(0);
        let msg = match message::parse(&d.data) {
            Ok(m) => m,
            Err(reason) => {
                tracing::warn!(reason, "unusable message: dead-lettered");
                self.dead(publisher, d, &reason).await?;
                return Ok(Outcome::Dead);
            }
        };
        let id = msg.photo_id;
        if d.properties.headers().as_ref().is_some_and(|h| h.inner().contains_key(dlq::REPLAYED)) {
            match photos::retry_failed(&self.db, id).await {
                Ok(true) => tracing::info!(photo_id = id, "replayed: the failed photo is processed again"),
                Ok(false) => {}
                Err(e) => {
                    return self.failed(publisher, d, id, failed_before, Failure::Transient(format!("{e:#}"))).await
                }
            }
        }
        let photo = match photos::load(&self.db, id).await {
            Ok(Some(p)) if p.status == "processing" && p.uuid.eq_ignore_ascii_case(&msg.photo_uuid) => p,
            // Ready or failed already (a redelivery or a duplicate), or deleted: nothing to do.
            Ok(_) => return Ok(Outcome::Skipped),
            Err(e) => return self.failed(publisher, d, id, failed_before, Failure::Transient(format!("{e:#}"))).await,
        };
        let budget = Duration::from_secs(self.settings.worker.job_timeout_seconds);
        let made = match tokio::time::timeout(budget, self.make(&photo)).await {
            Ok(r) => r,
            Err(_) => Err(Failure::Transient(format!("timed out after {} s", budget.as_secs()))),
        };
        let rendered = match made {
            Ok(r) => r,
            Err(f) => return self.failed(publisher, d, id, failed_before, f).await,
        };
        match photos::mark_ready(crate::storage::Store::new(&self.db, &self.db_metrics), &photo, &rendered).await {
            Ok(Marked::Ready { main_changed }) => {
                if main_changed {
                    // The lists show each house's main photo: every replica's cached pages go.
                    self.lists.bump(&[Listing::Houses]).await;
                }
                Ok(Outcome::Ready)
            }
            Ok(Marked::AlreadyDone) => Ok(Outcome::Skipped),
            Err(e) => self.failed(publisher, d, id, failed_before, Failure::Transient(format!("{e:#}"))).await,
        }
    }

    /// Download, render (on a blocking thread, under the decode limits) and store the sizes.
    async fn make(&self, photo: &Photo) -> Result<Rendered, Failure> {
        let original = match self.objects.get(&photo.original_key).await {
            Ok(o) => o.bytes,
            Err(ObjectError::NotFound) => return Err(Failure::Permanent("the original is not in the store".into())),
            Err(e) => return Err(Failure::Transient(format!("object store: {e}"))),
        };
        let limits = DecodeLimits {
            max_alloc: self.settings.worker.max_decode_bytes,
            max_pixels: self.settings.photos.max_pixels,
        };
        let uuid = photo.uuid.clone();
        let rendered = tokio::task::spawn_blocking(move || thumbnail::render(&original, &uuid, limits))
            .await
            .map_err(|e| Failure::Transient(format!("render task: {e}")))?
            .map_err(Failure::Permanent)?;
        for r in &rendered.renditions {
            self.objects
                .put(&r.key, bytes::Bytes::from(r.data.clone()), r.content_type)
                .await
                .map_err(|e| Failure::Transient(format!("object store: {e}")))?;
        }
        Ok(rendered)
    }

    /// A failed job: retried through a tier while attempts are left, else failed and dead-lettered.
    async fn failed(
        &self,
        publisher: &Channel,
        d: &Delivery,
        photo_id: u32,
        failed_before: u32,
        failure: Failure,
    ) -> anyhow::Result<Outcome> {
        let reason = match failure {
            Failure::Permanent(reason) => reason,
            Failure::Transient(reason) => {
                let reason = message::short(&reason);
                let failed = failed_before + 1;
                if let Err(e) = photos::count_attempt(&self.db, photo_id, &reason).await {
                    tracing::warn!(error = %format!("{e:#}"), photo_id, "could not count the attempt");
                }
                match message::after_failure(failed, self.settings.worker.max_attempts) {
                    AfterFailure::Retry(tier) => {
                        tracing::warn!(photo_id, attempt = failed, tier, reason, "job failed; retrying later");
                        // A retry is no longer the operator's replay (a later failure must stand).
                        let props = amqp::without_header(d.properties.clone(), dlq::REPLAYED);
                        let props = amqp::with_header(props, "x-attempt", AMQPValue::LongUInt(failed));
                        let props = amqp::with_header(props, "x-error", amqp::text(&reason));
                        amqp::publish_confirmed(publisher, amqp::RETRY_EXCHANGE, tier, &d.data, props).await?;
                        return Ok(Outcome::Retry);
                    }
                    AfterFailure::GiveUp => format!("gave up after {failed} attempts: {reason}"),
                }
            }
        };
        let reason = message::short(&reason);
        tracing::warn!(photo_id, reason, "job failed for good: photo marked failed, message dead-lettered");
        if let Err(e) = photos::mark_failed(&self.db, photo_id, &reason).await {
            // The row stays `processing`; a replay from the DLQ finishes it once the database is back.
            tracing::error!(error = %format!("{e:#}"), photo_id, "could not mark the photo failed");
        }
        self.dead(publisher, d, &reason).await?;
        Ok(Outcome::Dead)
    }

    /// To `zufang.dead` (routing key = the work queue, bound to the DLQ) with `x-error`.
    async fn dead(&self, publisher: &Channel, d: &Delivery, reason: &str) -> anyhow::Result<()> {
        let props = amqp::with_header(d.properties.clone(), "x-error", amqp::text(&message::short(reason)));
        amqp::publish_confirmed(publisher, amqp::DEAD_EXCHANGE, &self.settings.worker.queue, &d.data, props).await
    }
}
