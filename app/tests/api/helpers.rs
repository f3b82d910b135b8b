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
        // Shared by every instance of one test (two replicas must accept each other's tokens).
        ("jwt.secret", TEST_JWT_SECRET),
        // Argon2 at its production cost takes seconds in an unoptimized test build.
        ("auth.password_hash_memory_kib", "256"),
        ("auth.password_hash_iterations", "1"),
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

pub const TEST_JWT_SECRET: &str = "test-only-jwt-secret-0123456789abcdef";

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

/// A second replica of `app`: same database, same Redis prefix, same secrets, its own port.
#[allow(dead_code)]
pub async fn spawn_replica(app: &TestApp) -> TestApp {
    spawn_replica_with(app, |_| {}).await
}

/// A replica of `app` whose settings `change` alters first (e.g. other JWT keys, as a replica
/// of another release step would have).
#[allow(dead_code)]
pub async fn spawn_replica_with(app: &TestApp, change: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = app.settings.clone();
    change(&mut settings);
    let db = zufang::storage::pool(&settings.database);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let replica = Application::build_with_listener(settings.clone(), listener).expect("build replica");
    let port = replica.port();
    let state = replica.state().clone();
    let shutdown = replica.shutdown_handle();
    let server = tokio::spawn(replica.run_until_stopped());
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

    /// A user with a known password and these roles, inserted directly (the sign-up flow has its own tests).
    #[allow(dead_code)]
    pub async fn create_user(&self, username: &str, password: &str, roles: &[&str]) -> u32 {
        let hash = zufang::auth::password::hash(password.to_string(), &self.settings.auth).await.unwrap();
        let tel = format!("139{:08}", rand::random::<u32>() % 100_000_000);
        let id = sqlx::query("INSERT INTO users (username, password_hash, tel) VALUES (?, ?, ?)")
            .bind(username)
            .bind(hash)
            .bind(tel)
            .execute(&self.db)
            .await
            .unwrap()
            .last_insert_id() as u32;
        for role in roles {
            sqlx::query("INSERT INTO user_roles (user_id, role_id) SELECT ?, id FROM roles WHERE name = ?")
                .bind(id)
                .bind(role)
                .execute(&self.db)
                .await
                .unwrap();
        }
        id
    }

    /// POST /api/tokens/ and return the response.
    #[allow(dead_code)]
    pub async fn login(&self, username: &str, password: &str) -> reqwest::Response {
        self.client
            .post(format!("{}/api/tokens/", self.address))
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .expect("login request failed")
    }

    /// Log in (asserting 200) and return the access token.
    #[allow(dead_code)]
    pub async fn token(&self, username: &str, password: &str) -> String {
        let res = self.login(username, password).await;
        assert_eq!(res.status(), 200, "login {username}");
        let v: Value = res.json().await.unwrap();
        v["access_token"].as_str().unwrap().to_string()
    }

    /// A user with these roles, logged in: (user id, access token).
    #[allow(dead_code)]
    pub async fn user_with_token(&self, username: &str, roles: &[&str]) -> (u32, String) {
        let id = self.create_user(username, "correct horse battery", roles).await;
        (id, self.token(username, "correct horse battery").await)
    }

    /// A request with a Bearer token.
    #[allow(dead_code)]
    pub fn authed(&self, method: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{}", self.address, path)).bearer_auth(token)
    }

    /// PATCH a house as `token` with `If-Match` at `version`.
    #[allow(dead_code)]
    pub async fn patch_house(&self, id: u64, token: &str, version: u32, body: &Value) -> reqwest::Response {
        self.authed(reqwest::Method::PATCH, &format!("/api/houses/{id}/"), token)
            .header("If-Match", format!("\"{version}\""))
            .json(body)
            .send()
            .await
            .unwrap()
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

/// A loopback SMS gateway for the `http` sender: records every `{"tel","code"}` it receives.
#[allow(dead_code)]
pub struct SmsSink {
    pub url: String,
    pub received: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
}

#[allow(dead_code)]
impl SmsSink {
    pub async fn start() -> SmsSink {
        Self::start_failing(0).await
    }

    /// A gateway that answers 503 to its first `failures` requests (to exercise the retries).
    pub async fn start_failing(failures: usize) -> SmsSink {
        use actix_web::{web, App, HttpResponse, HttpServer};
        let received: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>> = Default::default();
        let sink = received.clone();
        let attempts = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || {
            let sink = sink.clone();
            let attempts = attempts.clone();
            App::new().route(
                "/sms",
                web::post().to(move |req: actix_web::HttpRequest, body: web::Json<Value>| {
                    let sink = sink.clone();
                    let attempt = attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    async move {
                        if attempt < failures {
                            return HttpResponse::ServiceUnavailable().finish();
                        }
                        let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
                        if auth != "Bearer sms-gateway-token" {
                            return HttpResponse::Unauthorized().finish();
                        }
                        let tel = body["tel"].as_str().unwrap_or_default().to_string();
                        let code = body["code"].as_str().unwrap_or_default().to_string();
                        sink.lock().unwrap().push((tel, code));
                        HttpResponse::Ok().finish()
                    }
                }),
            )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        SmsSink { url: format!("http://127.0.0.1:{port}/sms"), received }
    }

    /// Settings overrides pointing the app's `http` sender at this sink.
    pub fn overrides(&self) -> Vec<(&'static str, String)> {
        vec![
            ("sms.sender", "http".into()),
            ("sms.webhook_url", self.url.clone()),
            ("sms.webhook_token", "sms-gateway-token".into()),
        ]
    }

    pub fn last_code(&self, tel: &str) -> Option<String> {
        self.received.lock().unwrap().iter().rev().find(|(t, _)| t == tel).map(|(_, c)| c.clone())
    }

    pub fn count(&self, tel: &str) -> usize {
        self.received.lock().unwrap().iter().filter(|(t, _)| t == tel).count()
    }
}

/// The real `zufang serve` binary on this test's migrated database, ready (`/readyz` 200) on a
/// free port; `extra` adds or overrides environment variables. Returns the child and its base URL.
/// Its stdout (the log) is piped for the caller to read; keep the log level low where nobody reads it.
#[allow(dead_code)]
pub async fn spawn_binary(app: &TestApp, extra: &[(&str, &str)]) -> (tokio::process::Child, String) {
    let port = closed_port();
    let s = &app.settings.database;
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_zufang"));
    cmd.arg("serve")
        .env("ZUFANG_CONFIG_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/config"))
        .env("ZUFANG_SECRETS_DIR", "/nonexistent")
        .env("ZUFANG__APPLICATION__PORT", port.to_string())
        .env("ZUFANG__DATABASE__HOST", &s.host)
        .env("ZUFANG__DATABASE__PORT", s.port.to_string())
        .env("ZUFANG__DATABASE__USERNAME", &s.username)
        .env("ZUFANG__DATABASE__PASSWORD", s.password.expose())
        .env("ZUFANG__DATABASE__NAME", &s.name)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("spawn zufang");
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if let Ok(r) = reqwest::get(format!("{base}/readyz")).await {
            if r.status().is_success() {
                return (child, base);
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the zufang binary did not become ready on {base}");
}
