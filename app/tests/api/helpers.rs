//! `spawn_app()`: the real service on a random port, against real MariaDB and Redis, each test
//! on its own database and its own Redis key prefix. MariaDB/Redis come from
//! scripts/ci/services.sh (scripts/ci/test-app.sh exports MARIADB_* and REDIS_URL); a missing
//! variable fails the test loudly instead of skipping it.
use std::net::TcpListener;
use std::sync::Once;

use serde_json::Value;
use sqlx::MySqlPool;
use zufang::configuration::{self, Settings, Sources};
use zufang::seed::{Counts, Scale};
use zufang::startup::{Application, ShutdownHandle};
use zufang::state::AppState;

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub db: MySqlPool,
    pub state: AppState,
    pub settings: Settings,
    pub shutdown: ShutdownHandle,
    pub server: tokio::task::JoinHandle<anyhow::Result<()>>,
    pub client: reqwest::Client,
}

static TELEMETRY: Once = Once::new();

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the suite through scripts/ci/test-app.sh (make test-app), which starts MariaDB and Redis")
    })
}

/// Layered settings for a test: the real default.toml plus per-test overrides.
pub fn test_settings(db_name: &str, prefix: &str, extra: &[(&str, &str)]) -> Settings {
    let password = std::fs::read_to_string(env("MARIADB_PASSWORD_FILE")).expect("password file").trim().to_string();
    let host = env("MARIADB_HOST");
    let port = env("MARIADB_PORT");
    let user = env("MARIADB_USER");
    let mut overrides: Vec<(&str, &str)> = vec![
        ("application.port", "0"),
        ("application.workers", "2"),
        ("application.shutdown_drain_seconds", "0"),
        ("database.host", &host),
        ("database.port", &port),
        ("database.username", &user),
        ("database.password", &password),
        ("database.name", db_name),
        ("redis.key_prefix", prefix),
        ("log.level", "warn"),
    ];
    overrides.extend_from_slice(extra);
    let sources = Sources {
        config_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/config").into(),
        environment: "development".into(),
        secrets_dir: "/nonexistent-zufang-secrets".into(),
        use_env_vars: false,
    };
    configuration::load_with_overrides(&sources, &overrides).expect("test settings")
}

pub fn unique_name(tag: &str) -> String {
    let r: u64 = rand::random();
    format!("zt_{tag}_{r:016x}")
}

/// For a test binary that installs its own telemetry first (tests/telemetry.rs).
#[allow(dead_code)]
pub fn telemetry_installed_elsewhere() {
    TELEMETRY.call_once(|| {});
}

fn init_telemetry() {
    TELEMETRY.call_once(|| {
        let settings = test_settings(
            "unused",
            "unused:",
            &[("log.level", &std::env::var("TEST_LOG").unwrap_or_else(|_| "error".into()))],
        );
        // No exporter (otel.endpoint is empty): spans still get ids, so trace propagation is testable.
        std::mem::forget(zufang::telemetry::init(&settings).expect("telemetry"));
    });
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[], Some(Scale::Small.counts())).await
}

/// Spawn with extra config overrides; `seed = None` leaves the database empty (migrated only).
pub async fn spawn_app_with(extra: &[(&str, &str)], seed: Option<Counts>) -> TestApp {
    init_telemetry();
    let name = unique_name("api");
    let settings = test_settings(&name, &format!("{name}:"), extra);
    zufang::cli::migrate(&settings).await.expect("migrate");
    let db = zufang::storage::pool(&settings.database);
    if let Some(counts) = seed {
        zufang::seed::run(&db, counts, true).await.expect("seed");
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let app = Application::build_with_listener(settings.clone(), listener).expect("build app");
    let port = app.port();
    let state = app.state().clone();
    let shutdown = app.shutdown_handle();
    let server = tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    TestApp { address: format!("http://127.0.0.1:{port}"), port, db, state, settings, shutdown, server, client }
}

impl TestApp {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{}", self.address, path)).send().await.expect("request failed")
    }

    /// GET and decode JSON, asserting the status.
    pub async fn get_json(&self, path: &str, status: u16) -> Value {
        let res = self.get(path).await;
        let got = res.status().as_u16();
        let body = res.text().await.unwrap();
        assert_eq!(got, status, "GET {path}: unexpected status; body: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: body is not JSON ({e}): {body}"))
    }

    pub async fn metrics(&self) -> String {
        self.get("/metrics").await.text().await.unwrap()
    }
}

/// The value of one series in Prometheus text (`name{labels}` exactly as exposed), or 0.
pub fn metric_value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0.0)
}

/// Asserts the API's error shape and returns `error.fields`.
pub fn assert_error(body: &Value, code: &str) -> Value {
    let err = body.get("error").unwrap_or_else(|| panic!("no error object in {body}"));
    assert_eq!(err["code"], code, "{body}");
    assert!(err["message"].as_str().map(|m| !m.is_empty()).unwrap_or(false), "{body}");
    assert!(err["fields"].is_object(), "{body}");
    err["fields"].clone()
}

/// A TCP port with nothing listening (bound then released).
pub fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}
