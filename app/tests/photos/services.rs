//! The real broker and store of scripts/ci/photo-services.sh, isolated per test: each test gets
//! its own RabbitMQ vhost with the topology of rabbitmq/definitions.json (created through the
//! management API as the admin user), so no test reads another's messages; objects are keyed by
//! fresh UUIDs, so tests share the bucket safely.
use std::time::Duration;

use lapin::options::{BasicAckOptions, BasicGetOptions};
use lapin::{Channel, Connection, ConnectionProperties};
use serde_json::{json, Value};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run this target through app/tests/photos/run.sh, which starts RabbitMQ and Garage")
    })
}

pub struct Broker {
    pub vhost: String,
    port: String,
    http: String,
    admin_password: String,
    app_password: String,
    s3: [String; 5],
    client: reqwest::Client,
}

impl Broker {
    /// A fresh vhost with the stack's exchanges, queues, bindings and policies, and the app's
    /// (publish to zufang.events only) and the admin's permissions on it.
    pub async fn new() -> Broker {
        let vhost = format!("zt_photos_{:016x}", rand::random::<u64>());
        let b = Broker {
            vhost,
            port: env("ZUFANG_TEST_AMQP_PORT"),
            http: format!("http://127.0.0.1:{}", env("ZUFANG_TEST_AMQP_HTTP_PORT")),
            admin_password: env("ZUFANG_TEST_AMQP_ADMIN_PASSWORD"),
            app_password: env("ZUFANG_TEST_AMQP_APP_PASSWORD"),
            s3: [
                env("ZUFANG_TEST_S3_ENDPOINT"),
                env("ZUFANG_TEST_S3_REGION"),
                env("ZUFANG_TEST_S3_BUCKET"),
                env("ZUFANG_TEST_S3_APP_KEY_ID"),
                env("ZUFANG_TEST_S3_APP_SECRET"),
            ],
            client: reqwest::Client::new(),
        };
        let defs: Value =
            serde_json::from_str(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../rabbitmq/definitions.json")))
                .unwrap();
        b.api(reqwest::Method::PUT, &format!("/api/vhosts/{}", b.vhost), json!({})).await;
        for p in defs["permissions"].as_array().unwrap() {
            let user = p["user"].as_str().unwrap();
            let body = json!({"configure": p["configure"], "write": p["write"], "read": p["read"]});
            b.api(reqwest::Method::PUT, &format!("/api/permissions/{}/{user}", b.vhost), body).await;
        }
        let strip = |key: &str| -> Value {
            let items = defs[key].as_array().unwrap().iter().map(|i| {
                let mut i = i.clone();
                i.as_object_mut().unwrap().remove("vhost");
                i
            });
            Value::Array(items.collect())
        };
        let topology = json!({
            "exchanges": strip("exchanges"), "queues": strip("queues"),
            "bindings": strip("bindings"), "policies": strip("policies"),
        });
        b.api(reqwest::Method::POST, &format!("/api/definitions/{}", b.vhost), topology).await;
        b
    }

    async fn api(&self, method: reqwest::Method, path: &str, body: Value) {
        let res = self
            .client
            .request(method.clone(), format!("{}{path}", self.http))
            .basic_auth("zufang-admin", Some(&self.admin_password))
            .json(&body)
            .send()
            .await
            .expect("management API");
        assert!(res.status().is_success(), "{method} {path}: {} {}", res.status(), res.text().await.unwrap());
    }

    /// The app's settings for this vhost and the shared bucket (the app's own keys).
    pub fn overrides(&self) -> Vec<(&'static str, String)> {
        vec![
            ("amqp.port", self.port.clone()),
            ("amqp.vhost", self.vhost.clone()),
            ("amqp.password", self.app_password.clone()),
            ("s3.endpoint", self.s3[0].clone()),
            ("s3.region", self.s3[1].clone()),
            ("s3.bucket", self.s3[2].clone()),
            ("s3.access_key_id", self.s3[3].clone()),
            ("s3.secret_access_key", self.s3[4].clone()),
            ("photos.relay_interval_ms", "100".into()),
        ]
    }

    /// A channel as the admin on this vhost (to read what the relay published).
    pub async fn admin_channel(&self) -> (Connection, Channel) {
        let uri = format!("amqp://zufang-admin:{}@127.0.0.1:{}/{}", self.admin_password, self.port, self.vhost);
        let props = ConnectionProperties::default()
            .with_executor(tokio_executor_trait::Tokio::current())
            .with_reactor(tokio_reactor_trait::Tokio);
        let conn = Connection::connect(&uri, props).await.expect("admin connection");
        let ch = conn.create_channel().await.unwrap();
        (conn, ch)
    }

    /// Every message now in `queue` (taken and acked).
    pub async fn drain(&self, queue: &str) -> Vec<lapin::message::BasicGetMessage> {
        let (_conn, ch) = self.admin_channel().await;
        let mut out = Vec::new();
        while let Some(m) = ch.basic_get(queue, BasicGetOptions::default()).await.unwrap() {
            m.delivery.acker.ack(BasicAckOptions::default()).await.unwrap();
            out.push(m);
        }
        out
    }

    pub async fn delete(&self) {
        let _ = self
            .client
            .delete(format!("{}/api/vhosts/{}", self.http, self.vhost))
            .basic_auth("zufang-admin", Some(&self.admin_password))
            .send()
            .await;
    }
}

/// Run `scripts/ci/photo-services.sh <command>` (stop/start a service for a fault test), or the
/// script `ZUFANG_TEST_PHOTO_SERVICES` names (a copy running its own containers).
pub fn services(command: &str) {
    let script = std::env::var("ZUFANG_TEST_PHOTO_SERVICES")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/ci/photo-services.sh").to_string());
    let status = std::process::Command::new(&script).arg(command).status().expect("photo-services.sh");
    assert!(status.success(), "photo-services.sh {command} failed");
}

/// Poll `check` every 200 ms until it holds or `limit` passes; whether it held.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}
