//! `zufang jobs dlq list|replay`: the dead-letter queue of thumbnail jobs, for an operator.
//! Runs as the broker's admin account (`ZUFANG__AMQP__USERNAME=zufang-admin`, its password in the
//! secret file `amqp_password`): the app's and the worker's accounts cannot read the DLQ.
//!
//! `list` reads without consuming: it gets up to N messages unacked, prints them, then closes the
//! channel, which gives every one back to the queue. `replay` republishes each message to the work
//! queue through the default exchange with its attempts reset and an `x-replayed` header (the
//! worker then takes a photo it had marked failed back to processing: this command needs no
//! database account), waits for the confirm, and only then acks the DLQ's copy: a crash in
//! between leaves a duplicate, never a loss (the worker is idempotent).
use anyhow::Context;
use lapin::message::BasicGetMessage;
use lapin::options::{BasicAckOptions, BasicGetOptions};
use lapin::types::AMQPValue;
use serde::Serialize;

use super::amqp;

/// Marks a replayed job: the worker puts a photo it had given up on back to processing.
pub const REPLAYED: &str = "x-replayed";
use crate::configuration::Settings;

/// One DLQ message as `list` shows it.
#[derive(Debug, Serialize)]
pub struct Entry {
    pub message_id: String,
    pub photo_id: Option<u32>,
    pub x_error: String,
    /// The broker's dead-letterings: queue, reason (expired, rejected, delivery_limit) and count.
    pub x_death: Vec<(String, String, i64)>,
    /// Seconds since it was first published (its `timestamp`), if it has one.
    pub age_seconds: Option<i64>,
}

fn entry(m: &BasicGetMessage) -> Entry {
    let d = &m.delivery;
    let photo_id = serde_json::from_slice::<serde_json::Value>(&d.data)
        .ok()
        .and_then(|v| v.get("photo_id")?.as_u64())
        .and_then(|n| u32::try_from(n).ok());
    let now = chrono::Utc::now().timestamp();
    Entry {
        message_id: d.properties.message_id().as_ref().map(|s| s.to_string()).unwrap_or_default(),
        photo_id,
        x_error: amqp::header_text(&d.properties, "x-error").unwrap_or_default(),
        x_death: amqp::x_death(&d.properties),
        age_seconds: d.properties.timestamp().map(|t| now - t as i64),
    }
}

/// Print up to `limit` DLQ messages (a table, or JSON lines with `json`) and leave them all there.
pub async fn list(settings: &Settings, limit: u32, json: bool) -> anyhow::Result<()> {
    let conn = crate::broker::connect(&settings.amqp, "zufang-jobs-dlq").await?;
    let ch = conn.create_channel().await.context("Failed to open a channel")?;
    let mut entries = Vec::new();
    while entries.len() < limit as usize {
        let got = ch.basic_get(amqp::DLQ, BasicGetOptions { no_ack: false }).await.context("Failed to read the DLQ")?;
        let Some(m) = got else { break };
        entries.push(entry(&m));
    }
    // Unacked: closing the channel gives every message back to the queue.
    ch.close(200, "listed").await.context("Failed to close the channel")?;
    let _ = conn.close(200, "bye").await;
    if json {
        for e in &entries {
            println!("{}", serde_json::to_string(e)?);
        }
    } else {
        println!("{:<36}  {:>8}  {:>8}  {:<40}  x-death", "message_id", "photo_id", "age_s", "x-error");
        for e in &entries {
            let deaths: Vec<String> = e.x_death.iter().map(|(q, r, n)| format!("{q}:{r}x{n}")).collect();
            println!(
                "{:<36}  {:>8}  {:>8}  {:<40}  {}",
                e.message_id,
                e.photo_id.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
                e.age_seconds.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
                e.x_error,
                deaths.join(",")
            );
        }
    }
    eprintln!("jobs dlq list: {} message(s) shown (at most {limit}), all left in {}", entries.len(), amqp::DLQ);
    Ok(())
}

/// Move up to `limit` DLQ messages (only `message_id` when given) back to the work queue;
/// returns how many were replayed.
pub async fn replay(settings: &Settings, limit: u32, message_id: Option<&str>) -> anyhow::Result<u32> {
    let conn = crate::broker::connect(&settings.amqp, "zufang-jobs-dlq").await?;
    let ch = amqp::confirm_channel(&conn).await?;
    let queue = settings.worker.queue.as_str();
    let (mut replayed, mut looked) = (0u32, 0u32);
    // Messages skipped by --message-id stay unacked, so a get never returns them twice.
    while replayed < limit {
        let got = ch.basic_get(amqp::DLQ, BasicGetOptions { no_ack: false }).await.context("Failed to read the DLQ")?;
        let Some(m) = got else { break };
        looked += 1;
        let d = &m.delivery;
        let id = d.properties.message_id().as_ref().map(|s| s.to_string()).unwrap_or_default();
        if message_id.is_some_and(|want| want != id) {
            continue;
        }
        let props = amqp::without_header(d.properties.clone(), "x-attempt");
        let props = amqp::with_header(props, REPLAYED, AMQPValue::Boolean(true));
        amqp::publish_confirmed(&ch, "", queue, &d.data, props).await?;
        d.acker.ack(BasicAckOptions::default()).await.context("Failed to ack the DLQ copy")?;
        replayed += 1;
        eprintln!("jobs dlq replay: {id} -> {queue}");
    }
    ch.close(200, "replayed").await.context("Failed to close the channel")?;
    let _ = conn.close(200, "bye").await;
    eprintln!("jobs dlq replay: {replayed} replayed ({looked} looked at)");
    Ok(replayed)
}
