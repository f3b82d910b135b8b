//! The outbox relay: a background task in every app replica that hands the outbox's rows to the
//! broker. Each round, in one transaction: claim a batch of due rows (`FOR UPDATE SKIP LOCKED`,
//! so replicas never send the same row at once), publish each (persistent, `mandatory`, on a
//! confirm channel), wait for the batch's confirms, delete the confirmed rows and push the others
//! back (`attempts`, `next_attempt_at`, `last_error`). A row leaves the outbox only after the
//! broker confirmed it: a broker or relay outage delays jobs, never drops one; a crash between
//! the confirm and the delete sends a row twice, which the worker's idempotence absorbs.
//!
//! It never blocks a request (its own task and its own pool connection), reconnects with
//! backoff, and stops at shutdown between rounds.
use std::time::{Duration, Instant};

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::publisher_confirm::Confirmation;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection};
use sqlx::MySqlPool;
use tokio::sync::watch;

use crate::configuration::Settings;
use crate::metrics::Metrics;

/// How long a batch's confirms may take before the round counts them as failed.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the pending-count and oldest-age gauges are refreshed.
const GAUGE_INTERVAL: Duration = Duration::from_secs(5);

/// A row claimed for publishing.
#[derive(sqlx::FromRow)]
struct OutboxRow {
    id: u64,
    message_id: String,
    exchange_name: String,
    routing_key: String,
    payload: String,
}

/// Retry delay of a row after its `attempts`-th failure: 1 s doubling, at most 5 minutes.
pub fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(1u64 << attempts.min(9)).min(Duration::from_secs(300))
}

/// Start the relay; it runs until `stop` turns true. The handle ends when it has stopped.
pub fn spawn(
    settings: &Settings,
    db: MySqlPool,
    metrics: Metrics,
    stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let relay = Relay {
        amqp: settings.amqp.clone(),
        batch: settings.photos.relay_batch,
        idle: Duration::from_millis(settings.photos.relay_interval_ms),
        db,
        metrics,
        connection: None,
        channel: None,
    };
    tokio::spawn(relay.run(stop))
}

struct Relay {
    amqp: crate::configuration::AmqpSettings,
    batch: u32,
    idle: Duration,
    db: MySqlPool,
    metrics: Metrics,
    connection: Option<Connection>,
    channel: Option<Channel>,
}

enum Round {
    /// Nothing was due: wait the idle interval.
    Idle,
    /// A batch went out (wholly or partly): look again at once.
    Sent,
    /// The broker or the database failed: back off.
    Failed,
}

impl Relay {
    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        tracing::info!(broker = %self.amqp.redacted_uri(), "outbox relay started");
        let mut failures: u32 = 0;
        let mut gauges_at = Instant::now() - GAUGE_INTERVAL;
        while !*stop.borrow() {
            if gauges_at.elapsed() >= GAUGE_INTERVAL {
                self.refresh_gauges().await;
                gauges_at = Instant::now();
            }
            let wait = match self.round().await {
                Round::Sent => {
                    failures = 0;
                    continue;
                }
                Round::Idle => {
                    failures = 0;
                    self.idle
                }
                Round::Failed => {
                    failures = failures.saturating_add(1);
                    backoff(failures.min(5)).min(Duration::from_secs(10))
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                // Err: the application was dropped without a shutdown (tests); stop as well.
                changed = stop.changed() => if changed.is_err() { break },
            }
        }
        if let Some(conn) = self.connection.take() {
            let _ = conn.close(200, "shutdown").await;
        }
        tracing::info!("outbox relay stopped");
    }

    async fn refresh_gauges(&self) {
        let q = sqlx::query_as::<_, (i64, Option<f64>)>(
            "SELECT COUNT(*), CAST(TIMESTAMPDIFF(MICROSECOND, MIN(created_at), UTC_TIMESTAMP(6)) / 1e6 AS DOUBLE) FROM outbox",
        );
        match self.metrics.time_query("outbox_pending", q.fetch_one(&self.db)).await {
            Ok((n, age)) => {
                let m = &self.metrics.photos;
                m.outbox_pending_messages.set(n);
                m.outbox_oldest_age_seconds.set(age.unwrap_or(0.0).max(0.0));
            }
            Err(e) => tracing::warn!(error = %e, "outbox relay: cannot read the outbox's size"),
        }
    }

    /// The confirm channel, (re)connecting when there is none or it closed.
    async fn channel(&mut self) -> anyhow::Result<Channel> {
        if let Some(ch) = self.channel.as_ref().filter(|c| c.status().connected()) {
            return Ok(ch.clone());
        }
        self.channel = None;
        let usable = self.connection.as_ref().is_some_and(|c| c.status().connected());
        if !usable {
            self.connection = Some(crate::broker::connect(&self.amqp, "zufang-relay").await?);
            tracing::info!("outbox relay connected to the broker");
        }
        let conn = self.connection.as_ref().expect("connected above");
        let ch = conn.create_channel().await?;
        ch.confirm_select(ConfirmSelectOptions::default()).await?;
        self.channel = Some(ch.clone());
        Ok(ch)
    }

    async fn round(&mut self) -> Round {
        // Connect before claiming rows: with the broker down nothing is locked or counted.
        let due: Result<Option<u64>, sqlx::Error> = self
            .metrics
            .time_query(
                "outbox_due",
                sqlx::query_scalar("SELECT id FROM outbox WHERE next_attempt_at <= UTC_TIMESTAMP(6) LIMIT 1")
                    .fetch_optional(&self.db),
            )
            .await;
        match due {
            Ok(None) => return Round::Idle,
            Ok(Some(_)) => {}
            Err(e) => {
                tracing::warn!(error = %e, "outbox relay: database unavailable");
                return Round::Failed;
            }
        }
        let channel = match self.channel().await {
            Ok(ch) => ch,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "outbox relay: broker unavailable; jobs wait in the outbox");
                self.connection = None;
                return Round::Failed;
            }
        };
        match self.publish_batch(&channel).await {
            Ok(0) => Round::Idle,
            Ok(_) => Round::Sent,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "outbox relay: round failed");
                Round::Failed
            }
        }
    }

    /// Claim, publish, settle: the number of rows claimed.
    async fn publish_batch(&mut self, channel: &Channel) -> anyhow::Result<usize> {
        let mut tx = self.db.begin().await?;
        let rows: Vec<OutboxRow> = self
            .metrics
            .time_query(
                "outbox_claim",
                sqlx::query_as(
                    "SELECT id, message_id, exchange_name, routing_key, CAST(payload AS CHAR) AS payload FROM outbox \
                     WHERE next_attempt_at <= UTC_TIMESTAMP(6) ORDER BY next_attempt_at, id LIMIT ? \
                     FOR UPDATE SKIP LOCKED",
                )
                .bind(self.batch)
                .fetch_all(&mut *tx),
            )
            .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut confirms = Vec::with_capacity(rows.len());
        let mut broken = false;
        for row in &rows {
            let published = if broken {
                Err("not sent: the channel failed earlier in the batch".to_string())
            } else {
                match channel
                    .basic_publish(
                        &row.exchange_name,
                        &row.routing_key,
                        BasicPublishOptions { mandatory: true, ..Default::default() },
                        row.payload.as_bytes(),
                        properties(row),
                    )
                    .await
                {
                    Ok(confirm) => Ok(confirm),
                    Err(e) => {
                        broken = true;
                        Err(format!("publish failed: {e}"))
                    }
                }
            };
            confirms.push(published);
        }
        let mut confirmed = Vec::new();
        let mut failed: Vec<(u64, String)> = Vec::new();
        for (row, published) in rows.iter().zip(confirms) {
            let outcome = match published {
                Err(e) => Err(e),
                Ok(confirm) => match tokio::time::timeout(CONFIRM_TIMEOUT, confirm).await {
                    Ok(Ok(Confirmation::Ack(None))) => Ok(()),
                    Ok(Ok(Confirmation::Ack(Some(_)))) => {
                        Err(format!("unroutable: no queue bound to {} {}", row.exchange_name, row.routing_key))
                    }
                    Ok(Ok(Confirmation::Nack(_))) => Err("nacked by the broker".to_string()),
                    Ok(Ok(Confirmation::NotRequested)) => Err("confirms were not enabled".to_string()),
                    Ok(Err(e)) => {
                        broken = true;
                        Err(format!("confirm failed: {e}"))
                    }
                    Err(_) => {
                        broken = true;
                        Err("no confirm in time".to_string())
                    }
                },
            };
            match outcome {
                Ok(()) => confirmed.push(row.id),
                Err(e) => failed.push((row.id, e)),
            }
        }
        if broken {
            // Start the next round on a fresh channel (and connection, if that is what failed).
            self.channel = None;
        }
        if !confirmed.is_empty() {
            let mut qb = crate::storage::with_list("DELETE FROM outbox WHERE id IN ", &confirmed);
            self.metrics.time_query("outbox_delete", qb.build().execute(&mut *tx)).await?;
        }
        for (id, error) in &failed {
            let q = sqlx::query(
                "UPDATE outbox SET attempts = attempts + 1, \
                 next_attempt_at = UTC_TIMESTAMP(6) + INTERVAL LEAST(POW(2, LEAST(attempts, 9)), 300) SECOND, \
                 last_error = ? WHERE id = ?",
            )
            .bind(truncate(error, 255))
            .bind(id);
            self.metrics.time_query("outbox_backoff", q.execute(&mut *tx)).await?;
        }
        self.metrics.time_query("outbox_commit", tx.commit()).await?;
        let m = &self.metrics.photos;
        m.outbox_published_total.inc_by(confirmed.len() as u64);
        m.outbox_publish_failures_total.inc_by(failed.len() as u64);
        if let Some((_, error)) = failed.first() {
            tracing::warn!(failed = failed.len(), confirmed = confirmed.len(), first_error = %error, "outbox relay: messages kept for a retry");
        }
        if failed.is_empty() {
            Ok(rows.len())
        } else {
            anyhow::bail!("{} of {} messages not confirmed", failed.len(), rows.len())
        }
    }
}

/// The message contract's AMQP properties (rabbitmq/README.md).
fn properties(row: &OutboxRow) -> BasicProperties {
    let schema_version = serde_json::from_str::<serde_json::Value>(&row.payload)
        .ok()
        .and_then(|v| v.get("schema_version").and_then(|s| s.as_i64()))
        .unwrap_or(1);
    let mut headers = FieldTable::default();
    headers.insert(ShortString::from("schema_version"), AMQPValue::LongLongInt(schema_version));
    BasicProperties::default()
        .with_message_id(row.message_id.as_str().into())
        .with_type(row.routing_key.as_str().into())
        .with_delivery_mode(2)
        .with_timestamp(chrono::Utc::now().timestamp().max(0) as u64)
        .with_app_id("zufang".into())
        .with_content_type("application/json".into())
        .with_headers(headers)
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_up_to_five_minutes() {
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(20), Duration::from_secs(300));
    }

    #[test]
    fn errors_are_cut_at_a_character_boundary() {
        assert_eq!(truncate("ab", 5), "ab");
        assert_eq!(truncate("租房租房", 2), "租房");
    }
}
