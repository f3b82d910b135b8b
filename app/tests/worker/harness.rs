//! One test's world: database (seeded), vhost, object store handles, a worker child process.
use std::time::{Duration, Instant};

use bytes::Bytes;
use lapin::options::BasicPublishOptions;
use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;
use serde_json::{json, Value};
use sqlx::MySqlPool;
use zufang::configuration::Settings;
use zufang::objects::ObjectStore;

use crate::helpers::{closed_port, test_settings, unique_name};

pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run app/tests/worker/run.sh, which starts the broker, the store, MariaDB and Redis")
    })
}

pub struct World {
    pub name: String,
    pub vhost: String,
    pub settings: Settings,
    pub db: MySqlPool,
    /// The app's key: uploads originals, reads what the worker wrote.
    pub store: ObjectStore,
    pub house_id: u32,
    http: reqwest::Client,
}

/// A running `zufang worker`.
pub struct WorkerProcess {
    pub child: tokio::process::Child,
    pub base: String,
}

impl WorkerProcess {
    pub async fn metric(&self, series: &str) -> f64 {
        let text = reqwest::get(format!("{}/metrics", self.base)).await.unwrap().text().await.unwrap();
        crate::helpers::metric_value(&text, series)
    }
}

fn mgmt() -> String {
    format!("http://127.0.0.1:{}", env("ZUFANG_TEST_AMQP_HTTP_PORT"))
}

impl World {
    pub async fn new(tag: &str) -> World {
        let name = unique_name(tag);
        let vhost = name.replace('_', "-");
        let amqp_port = env("ZUFANG_TEST_AMQP_PORT");
        let s3 = [
            ("s3.endpoint", env("ZUFANG_TEST_S3_ENDPOINT")),
            ("s3.region", env("ZUFANG_TEST_S3_REGION")),
            ("s3.bucket", env("ZUFANG_TEST_S3_BUCKET")),
            ("s3.access_key_id", env("ZUFANG_TEST_S3_APP_KEY_ID")),
            ("s3.secret_access_key", env("ZUFANG_TEST_S3_APP_SECRET")),
            ("amqp.port", amqp_port),
            ("amqp.vhost", vhost.clone()),
            ("amqp.username", "zufang-admin".into()),
            ("amqp.password", env("ZUFANG_TEST_AMQP_ADMIN_PASSWORD")),
        ];
        let extra: Vec<(&str, &str)> = s3.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let settings = test_settings(&name, &format!("{name}:"), &extra);
        zufang::cli::migrate(&settings).await.expect("migrate");
        let db = zufang::storage::pool(&settings.database);
        zufang::seed::run(&db, zufang::seed::Scale::Small.counts(), true).await.expect("seed");
        let house_id: u32 = sqlx::query_scalar("SELECT MIN(id) FROM houses").fetch_one(&db).await.unwrap();
        let store = ObjectStore::from_settings(&settings.s3).expect("store");
        let world = World { name, vhost, settings, db, store, house_id, http: reqwest::Client::new() };
        world.create_vhost().await;
        world
    }

    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> reqwest::Response {
        let mut req = self
            .http
            .request(method, format!("{}{path}", mgmt()))
            .basic_auth("zufang-admin", Some(env("ZUFANG_TEST_AMQP_ADMIN_PASSWORD")));
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("management API")
    }

    /// The vhost with rabbitmq/definitions.json's exchanges, queues, bindings and policies, and
    /// the worker's and the admin's permissions of that file.
    async fn create_vhost(&self) {
        let defs: Value = serde_json::from_str(include_str!("../../../rabbitmq/definitions.json")).unwrap();
        let r = self.admin(reqwest::Method::PUT, &format!("/api/vhosts/{}", self.vhost), Some(json!({}))).await;
        assert!(r.status().is_success(), "create vhost: {}", r.status());
        let strip = |k: &str| -> Vec<Value> {
            defs[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| {
                    let mut x = x.clone();
                    x.as_object_mut().unwrap().remove("vhost");
                    x
                })
                .collect()
        };
        let body = json!({"exchanges": strip("exchanges"), "queues": strip("queues"),
                          "bindings": strip("bindings"), "policies": strip("policies")});
        let r = self.admin(reqwest::Method::POST, &format!("/api/definitions/{}", self.vhost), Some(body)).await;
        assert!(r.status().is_success(), "import definitions: {} {}", r.status(), r.text().await.unwrap_or_default());
        for p in defs["permissions"].as_array().unwrap() {
            let user = p["user"].as_str().unwrap();
            let perms = json!({"configure": p["configure"], "write": p["write"], "read": p["read"]});
            let r =
                self.admin(reqwest::Method::PUT, &format!("/api/permissions/{}/{user}", self.vhost), Some(perms)).await;
            assert!(r.status().is_success(), "permissions of {user}: {}", r.status());
        }
    }

    /// Messages in a queue of this vhost (the management API's sampled depth: poll it).
    pub async fn depth(&self, queue: &str) -> i64 {
        let r = self.admin(reqwest::Method::GET, &format!("/api/queues/{}/{queue}", self.vhost), None).await;
        let v: Value = r.json().await.unwrap();
        v["messages"].as_i64().unwrap_or(-1)
    }

    /// `zufang worker` as the broker user zufang-worker with the store's worker key; ready (/readyz 200).
    pub async fn spawn_worker(&self, extra: &[(&str, &str)]) -> WorkerProcess {
        let port = closed_port();
        let s = &self.settings;
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_zufang"));
        cmd.arg("worker")
            .env("ZUFANG_CONFIG_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/config"))
            .env("ZUFANG_SECRETS_DIR", "/nonexistent")
            .env("ZUFANG__APPLICATION__HOST", "127.0.0.1")
            .env("ZUFANG__WORKER__PORT", port.to_string())
            .env("ZUFANG__DATABASE__HOST", &s.database.host)
            .env("ZUFANG__DATABASE__PORT", s.database.port.to_string())
            .env("ZUFANG__DATABASE__USERNAME", &s.database.username)
            .env("ZUFANG__DATABASE__PASSWORD", s.database.password.expose())
            .env("ZUFANG__DATABASE__NAME", &s.database.name)
            .env("ZUFANG__REDIS__KEY_PREFIX", &s.redis.key_prefix)
            .env("ZUFANG__AMQP__PORT", s.amqp.port.to_string())
            .env("ZUFANG__AMQP__VHOST", &self.vhost)
            .env("ZUFANG__AMQP__USERNAME", "zufang-worker")
            .env("ZUFANG__AMQP__PASSWORD", env("ZUFANG_TEST_AMQP_WORKER_PASSWORD"))
            .env("ZUFANG__S3__ENDPOINT", &s.s3.endpoint)
            .env("ZUFANG__S3__REGION", &s.s3.region)
            .env("ZUFANG__S3__BUCKET", &s.s3.bucket)
            .env("ZUFANG__S3__ACCESS_KEY_ID", env("ZUFANG_TEST_S3_WORKER_KEY_ID"))
            .env("ZUFANG__S3__SECRET_ACCESS_KEY", env("ZUFANG_TEST_S3_WORKER_SECRET"))
            .env("ZUFANG__LOG__LEVEL", std::env::var("TEST_LOG").unwrap_or_else(|_| "warn".into()))
            .kill_on_drop(true);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn zufang worker");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(r) = reqwest::get(format!("{base}/readyz")).await {
                if r.status().is_success() {
                    return WorkerProcess { child, base };
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("zufang worker did not become ready on {base}");
    }

    /// A `house_photos` row (processing) whose original is `bytes`, stored under originals/{uuid}.
    pub async fn photo(&self, bytes: &[u8], width: u32, height: u32) -> (u32, String) {
        let uuid = new_uuid();
        let key = format!("originals/{uuid}");
        self.store.put(&key, Bytes::copy_from_slice(bytes), "image/jpeg").await.expect("put original");
        (self.photo_row(&uuid, bytes.len(), width, height).await, uuid)
    }

    /// Only the row (its original is not in the store).
    pub async fn photo_row(&self, uuid: &str, len: usize, width: u32, height: u32) -> u32 {
        let r = sqlx::query(
            "INSERT INTO house_photos (uuid, house_id, status, content_type, bytes, sha256, width, height, \
             original_key, created_at, updated_at) VALUES (?, ?, 'processing', 'image/jpeg', ?, ?, ?, ?, ?, NOW(6), NOW(6))",
        )
        .bind(uuid)
        .bind(self.house_id)
        .bind(len as u32)
        .bind("0".repeat(64))
        .bind(width)
        .bind(height)
        .bind(format!("originals/{uuid}"))
        .execute(&self.db)
        .await
        .expect("insert photo");
        r.last_insert_id() as u32
    }

    pub fn message(&self, photo_id: u32, uuid: &str) -> Vec<u8> {
        json!({"schema_version": 1, "event": "photo.uploaded", "photo_id": photo_id, "photo_uuid": uuid,
               "house_id": self.house_id, "object_key": format!("originals/{uuid}"),
               "occurred_at": "2026-12-06T00:00:00Z"})
        .to_string()
        .into_bytes()
    }

    /// Publish to zufang.events / photo.uploaded as the app's relay would (confirmed); returns the message_id.
    pub async fn publish(&self, body: &[u8], message_id: &str) {
        let conn = zufang::broker::connect(&self.settings.amqp, "test").await.expect("connect");
        let ch = zufang::worker::amqp::confirm_channel(&conn).await.unwrap();
        let mut headers = FieldTable::default();
        headers.insert("schema_version".into(), AMQPValue::LongInt(1));
        let props = BasicProperties::default()
            .with_message_id(message_id.into())
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_type("photo.uploaded".into())
            .with_app_id("zufang".into())
            .with_timestamp(chrono::Utc::now().timestamp() as u64)
            .with_headers(headers);
        let confirm = ch
            .basic_publish(
                "zufang.events",
                "photo.uploaded",
                BasicPublishOptions { mandatory: true, ..Default::default() },
                body,
                props,
            )
            .await
            .unwrap()
            .await
            .unwrap();
        assert!(confirm.is_ack());
        conn.close(200, "bye").await.unwrap();
    }

    pub async fn status(&self, id: u32) -> (String, Option<String>, Option<Value>) {
        let (status, reason, renditions): (String, Option<String>, Option<String>) = sqlx::query_as(
            "SELECT CAST(status AS CHAR), failure_reason, CAST(renditions AS CHAR) FROM house_photos WHERE id = ?",
        )
        .bind(id)
        .fetch_one(&self.db)
        .await
        .unwrap();
        (status, reason, renditions.map(|r| serde_json::from_str(&r).unwrap()))
    }

    /// Wait until the photo leaves `processing` (or panic after `seconds`).
    pub async fn settled(&self, id: u32, seconds: u64) -> (String, Option<String>, Option<Value>) {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        loop {
            let s = self.status(id).await;
            if s.0 != "processing" {
                return s;
            }
            assert!(Instant::now() < deadline, "photo {id} still processing after {seconds} s");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Wait until the photo's status is `want` (or panic after `seconds`).
    pub async fn settled_to(&self, id: u32, want: &str, seconds: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        loop {
            let s = self.status(id).await;
            if s.0 == want {
                return s.0;
            }
            assert!(Instant::now() < deadline, "photo {id} is {:?} ({:?}), not {want}, after {seconds} s", s.0, s.1);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `zufang jobs dlq ...` as zufang-admin; (exit ok, stdout).
    pub async fn jobs(&self, args: &[&str]) -> (bool, String) {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_zufang"))
            .arg("jobs")
            .args(args)
            .env("ZUFANG_CONFIG_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/config"))
            .env("ZUFANG_SECRETS_DIR", "/nonexistent")
            .env("ZUFANG__AMQP__PORT", self.settings.amqp.port.to_string())
            .env("ZUFANG__AMQP__VHOST", &self.vhost)
            .env("ZUFANG__AMQP__USERNAME", "zufang-admin")
            .env("ZUFANG__AMQP__PASSWORD", env("ZUFANG_TEST_AMQP_ADMIN_PASSWORD"))
            .env("ZUFANG__LOG__LEVEL", "warn")
            .output()
            .await
            .expect("run zufang jobs");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub async fn cleanup(self) {
        let _ = self.admin(reqwest::Method::DELETE, &format!("/api/vhosts/{}", self.vhost), None).await;
        let _ = sqlx::query(&format!("DROP DATABASE `{}`", self.name)).execute(&self.db).await;
    }
}

pub fn new_uuid() -> String {
    let b: [u8; 16] = rand::random();
    let h = hex::encode(b);
    format!("{}-{}-4{}-a{}-{}", &h[..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
}
