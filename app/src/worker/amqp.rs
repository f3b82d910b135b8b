//! The broker side of `zufang worker` and `zufang jobs dlq` (their connection is the service's one,
//! `crate::broker::connect`): publisher confirms, and the headers the message contract names.
use anyhow::Context;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection};

/// Exchanges of rabbitmq/definitions.json the worker publishes to.
pub const RETRY_EXCHANGE: &str = "zufang.retry";
pub const DEAD_EXCHANGE: &str = "zufang.dead";
/// The queue of dead thumbnail jobs (bound to `zufang.dead` with the routing key `photo.thumbnail`).
pub const DLQ: &str = "photo.thumbnail.dlq";

/// A channel in confirm mode: every publish is waited for until the broker has it.
pub async fn confirm_channel(conn: &Connection) -> anyhow::Result<Channel> {
    let ch = conn.create_channel().await.context("Failed to open a channel")?;
    ch.confirm_select(ConfirmSelectOptions::default()).await.context("Failed to enable publisher confirms")?;
    Ok(ch)
}

/// Publish with `mandatory` and wait for the confirm: Ok only when the broker acked it and a
/// queue took it (a returned message is an error, not a silent drop).
pub async fn publish_confirmed(
    ch: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    props: BasicProperties,
) -> anyhow::Result<()> {
    let confirm = ch
        .basic_publish(
            exchange,
            routing_key,
            BasicPublishOptions { mandatory: true, ..Default::default() },
            body,
            props,
        )
        .await
        .with_context(|| format!("Failed to publish to {exchange:?} / {routing_key:?}"))?
        .await
        .with_context(|| format!("No confirm from the broker for {exchange:?} / {routing_key:?}"))?;
    if !confirm.is_ack() {
        anyhow::bail!("the broker refused the message for {exchange:?} / {routing_key:?} (nack)");
    }
    if confirm.take_message().is_some() {
        anyhow::bail!("no queue is bound to {exchange:?} with {routing_key:?} (returned)");
    }
    Ok(())
}

/// `props` with header `name` set (replacing any earlier value).
pub fn with_header(props: BasicProperties, name: &str, value: AMQPValue) -> BasicProperties {
    let mut headers = props.headers().clone().unwrap_or_default();
    headers.insert(ShortString::from(name), value);
    props.with_headers(headers)
}

/// `props` without header `name`.
pub fn without_header(props: BasicProperties, name: &str) -> BasicProperties {
    let Some(headers) = props.headers().clone() else { return props };
    let kept: FieldTable = headers
        .inner()
        .iter()
        .filter(|(k, _)| k.as_str() != name)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect::<std::collections::BTreeMap<_, _>>()
        .into();
    props.with_headers(kept)
}

/// A header as text (x-error), if present.
pub fn header_text(props: &BasicProperties, name: &str) -> Option<String> {
    let headers = props.headers().as_ref()?;
    match headers.inner().get(name)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        other => Some(format!("{other:?}")),
    }
}

/// A header as an unsigned number (x-attempt), if present and numeric.
pub fn header_u32(props: &BasicProperties, name: &str) -> Option<u32> {
    let headers = props.headers().as_ref()?;
    let n: i128 = match headers.inner().get(name)? {
        AMQPValue::ShortShortInt(v) => (*v).into(),
        AMQPValue::ShortShortUInt(v) => (*v).into(),
        AMQPValue::ShortInt(v) => (*v).into(),
        AMQPValue::ShortUInt(v) => (*v).into(),
        AMQPValue::LongInt(v) => (*v).into(),
        AMQPValue::LongUInt(v) => (*v).into(),
        AMQPValue::LongLongInt(v) => (*v).into(),
        _ => return None,
    };
    u32::try_from(n).ok()
}

/// The broker's `x-death` summary of a message: (queue, reason, count) of each dead-lettering.
pub fn x_death(props: &BasicProperties) -> Vec<(String, String, i64)> {
    let Some(headers) = props.headers().as_ref() else { return Vec::new() };
    let Some(AMQPValue::FieldArray(deaths)) = headers.inner().get("x-death") else { return Vec::new() };
    deaths
        .as_slice()
        .iter()
        .filter_map(|d| match d {
            AMQPValue::FieldTable(t) => {
                let text = |k: &str| match t.inner().get(k) {
                    Some(AMQPValue::LongString(s)) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
                    Some(AMQPValue::ShortString(s)) => s.to_string(),
                    _ => String::new(),
                };
                let count = match t.inner().get("count") {
                    Some(AMQPValue::LongLongInt(n)) => *n,
                    Some(AMQPValue::LongInt(n)) => (*n).into(),
                    _ => 0,
                };
                Some((text("queue"), text("reason"), count))
            }
            _ => None,
        })
        .collect()
}

/// A text header value.
pub fn text(s: &str) -> AMQPValue {
    AMQPValue::LongString(s.into())
}
