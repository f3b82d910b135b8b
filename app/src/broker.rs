//! The AMQP connection (lapin on the tokio runtime) shared by the outbox relay and the worker:
//! one place that turns `[amqp]` into a connection, so TLS, heartbeats and timeouts are the same
//! everywhere and no error or log line carries the password.
use lapin::{Connection, ConnectionProperties};

use crate::configuration::AmqpSettings;

/// Connect as `[amqp]` says; `name` shows in the broker's connection list (`zufang-relay`).
pub async fn connect(settings: &AmqpSettings, name: &str) -> anyhow::Result<Connection> {
    let props = ConnectionProperties::default()
        .with_connection_name(name.into())
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio);
    Connection::connect(&settings.uri(), props).await.map_err(|e| {
        // lapin's errors name the reason (refused, auth, vhost), never the URI's password.
        anyhow::anyhow!("Failed to connect to the broker at {}: {e}", settings.redacted_uri())
    })
}
