//! Typed configuration: `config/default.toml` -> `config/{ZUFANG_ENV}.toml` ->
//! `ZUFANG__SECTION__KEY` environment variables -> one file per secret in `ZUFANG_SECRETS_DIR`.
//!
//! Every struct denies unknown keys, so a typo in a file or a variable fails at startup with the key's name.
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

/// The environments that have a `config/{name}.toml` layer.
pub const ENVIRONMENTS: &[&str] = &["development", "production"];

/// Secret files read from the secrets directory: file name -> configuration key.
/// The file name is always `<section>_<key>`.
pub const SECRET_FILES: &[(&str, &str)] = &[
    ("database_password", "database.password"),
    ("redis_password", "redis.password"),
    ("jwt_secret", "jwt.secret"),
    ("jwt_verify_secrets", "jwt.verify_secrets"),
    ("sms_code_hmac_secret", "sms.code_hmac_secret"),
    ("sentry_dsn", "sentry.dsn"),
    ("sms_webhook_token", "sms.webhook_token"),
    ("amqp_password", "amqp.password"),
    ("s3_access_key_id", "s3.access_key_id"),
    ("s3_secret_access_key", "s3.secret_access_key"),
];

/// Configuration keys holding lists, which an environment variable gives comma-separated.
const LIST_KEYS: &[&str] = &[
    "application.trusted_proxies",
    "application.allowed_hosts",
    "admin.allow_cidrs",
    "admin.deny_cidrs",
    "jwt.verify_public_key_files",
];

/// A secret value: redacted in `Debug` and when the effective configuration is printed.
#[derive(Clone, Deserialize)]
#[serde(from = "String")]
pub struct Secret(SecretString);

impl Secret {
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
    pub fn is_empty(&self) -> bool {
        self.expose().is_empty()
    }
}
impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(SecretString::from(s))
    }
}
impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_empty() { "\"\"" } else { "[REDACTED]" })
    }
}
impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.is_empty() { "" } else { "[REDACTED]" })
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub application: ApplicationSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub cache: CacheSettings,
    pub lists: ListSettings,
    pub log: LogSettings,
    pub otel: OtelSettings,
    pub sentry: SentrySettings,
    pub jwt: JwtSettings,
    /// `zufang worker`: the thumbnail consumer.
    pub worker: WorkerSettings,
    pub sms: SmsSettings,
    pub auth: AuthSettings,
    pub admin: AdminSettings,
    // The photo pipeline: the broker, the object store and the upload limits.
    pub amqp: AmqpSettings,
    pub s3: S3Settings,
    pub photos: PhotoSettings,
    /// Which environment layer was applied (not a key in the files).
    #[serde(skip_deserializing, default)]
    pub environment: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationSettings {
    pub host: String,
    pub port: u16,
    pub keep_alive_seconds: u64,
    pub shutdown_drain_seconds: u64,
    pub shutdown_timeout_seconds: u64,
    pub workers: usize,
    pub max_body_bytes: usize,
    pub trusted_proxies: Vec<IpNet>,
    /// Host names this service answers for (Django's ALLOWED_HOSTS): `name`, `.domain` (the domain
    /// and its subdomains) or `*`. Other Host headers get a 400, so links built from the Host
    /// cannot point elsewhere. Probes and /metrics are exempt (orchestrators call them by address).
    pub allowed_hosts: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: Secret,
    pub name: String,
    pub max_connections: u32,
    pub min_connections: u32,
    pub acquire_timeout_ms: u64,
    pub statement_timeout_ms: u64,
    /// A query slower than this is logged at WARN by its name (as in db_query_duration_seconds),
    /// never by its text: a bulk INSERT's text is megabytes of placeholders. 0 = never.
    pub slow_query_ms: u64,
    /// TLS to the server: disabled, preferred (TLS when offered), required, verify_ca or
    /// verify_identity (the certificate and the host name, against `ssl_ca` or the built-in roots).
    pub ssl_mode: DatabaseSslMode,
    /// A PEM bundle of the CA(s) to verify the server against (e.g. the RDS global bundle).
    pub ssl_ca: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DatabaseSslMode {
    Disabled,
    Preferred,
    Required,
    VerifyCa,
    VerifyIdentity,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    pub host: String,
    pub port: u16,
    pub db: u8,
    /// An ACL user (Redis 6+); empty = the default user (`requirepass`).
    pub username: String,
    pub password: Secret,
    /// TLS to Redis, verified against the OS trust store (ElastiCache with transit encryption).
    pub tls: bool,
    pub key_prefix: String,
    pub pool_size: usize,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSettings {
    pub local_capacity: usize,
    pub local_ttl_seconds: u64,
    pub redis_ttl_seconds: u64,
    pub error_log_interval_seconds: u64,
    pub count_ttl_seconds: u64,
    pub page_ttl_seconds: u64,
    pub page_capacity: usize,
}

/// Bounds of the filtered lists (`/api/houses/`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ListSettings {
    /// page x size beyond this is refused (400 naming `page`, pointing at `cursor`); also the
    /// cap of `count` where no maintained counter knows the exact figure.
    pub max_page_depth: u64,
    /// Title search from each replica's in-memory index (storage/title_index.rs); false: the
    /// n-gram table alone.
    pub memory_title_index: bool,
    /// The in-memory index reloads this often (bounds writes its change log never saw).
    pub title_index_refresh_seconds: u64,
    /// The in-memory index is not loaded when it would need more than this (MiB; the n-gram
    /// table answers instead). A reload briefly holds two copies.
    pub title_index_max_mib: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OtelSettings {
    pub endpoint: String,
    pub service_name: String,
    pub sample_ratio: f64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SentrySettings {
    pub dsn: Secret,
    pub environment: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum JwtAlgorithm {
    HS256,
    RS256,
    EdDSA,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSettings {
    pub algorithm: JwtAlgorithm,
    pub secret: Secret,
    /// HS256 keys accepted for verification besides `secret` (one per line): a key rotation adds
    /// the next key here before it becomes current, and keeps the old one here after.
    pub verify_secrets: Secret,
    pub private_key_file: String,
    pub public_key_file: String,
    /// RS256/EdDSA public keys accepted besides `public_key_file` (rotation, as `verify_secrets`).
    pub verify_public_key_files: Vec<String>,
    pub issuer: String,
    pub audience: String,
    pub access_ttl_seconds: u64,
    pub refresh_ttl_seconds: u64,
    pub leeway_seconds: u64,
}

impl JwtSettings {
    /// The verify-only HS256 keys: the lines of `verify_secrets`, trimmed, blank lines ignored.
    pub fn verify_keys(&self) -> Vec<&str> {
        self.verify_secrets.expose().lines().map(str::trim).filter(|l| !l.is_empty()).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsSenderKind {
    Log,
    Http,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmsSettings {
    pub sender: SmsSenderKind,
    pub webhook_url: String,
    pub webhook_token: Secret,
    /// Key of the HMACs under which SMS codes are kept in Redis. Its own secret, so that a JWT key
    /// rotation does not invalidate codes in flight; empty = derived from the JWT signing key.
    pub code_hmac_secret: Secret,
    pub webhook_timeout_ms: u64,
    pub webhook_max_retries: u32,
    /// Lets a production instance keep the "log" sender (a stack without an SMS gateway, such as the
    /// compose demo); without it production refuses a sender that never delivers a code.
    pub allow_log_sender_in_production: bool,
    pub code_ttl_seconds: u64,
    pub resend_interval_seconds: u64,
    pub max_per_number_per_day: u32,
    pub max_per_ip_per_hour: u32,
}

/// `zufang worker` (the thumbnail consumer); the broker and the store are `[amqp]` and `[s3]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    /// The worker's own listener: /metrics, /healthz, /readyz (on `application.host`).
    pub port: u16,
    /// Unacked deliveries the broker hands this worker at once (jobs in parallel).
    pub prefetch: u16,
    pub queue: String,
    /// Failed attempts before a job is dead-lettered (the retry tiers are 5 s, 30 s, 5 min).
    pub max_attempts: u32,
    /// One job's budget: download, decode, resize, upload.
    pub job_timeout_seconds: u64,
    /// The image decoder's allocation limit per job (`image::Limits::max_alloc`).
    pub max_decode_bytes: u64,
    /// SIGTERM: the job in hand gets this long, then it is left unacked (the broker redelivers it).
    pub shutdown_timeout_seconds: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// Failed password logins per (account, client IP) within the window.
    pub max_failed_logins: u32,
    /// Failed password logins per account from all addresses within the window; beyond it password
    /// login answers 429 and the owner signs in with an SMS code instead (not throttled by this).
    pub max_failed_logins_per_account: u32,
    pub failed_login_window_seconds: u64,
    /// Password hashes computed at once (0 = one per CPU core).
    pub password_hash_concurrency: u32,
    /// Hash requests allowed to wait for the pool; beyond it a 503 with Retry-After at once.
    pub password_hash_queue: u32,
    /// Sign-ups per client IP (an IPv6 client's /64) and per tel, per hour.
    pub max_signups_per_ip_per_hour: u32,
    pub max_signups_per_tel_per_hour: u32,
    pub password_hash_memory_kib: u32,
    pub password_hash_iterations: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    pub allow_cidrs: Vec<IpNet>,
    pub deny_cidrs: Vec<IpNet>,
}

// ---- The photo pipeline's sections ([amqp], [s3], [photos]). -----------------------------------

/// The message broker (RabbitMQ or Amazon MQ). Only the photo routes' relay and the worker use it:
/// the app serves everything else, and reports ready, with the broker down.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AmqpSettings {
    pub host: String,
    pub port: u16,
    pub vhost: String,
    pub username: String,
    pub password: Secret,
    /// amqps with the OS trust store (Amazon MQ accepts nothing else).
    pub tls: bool,
    /// The topic exchange of domain events (`photo.uploaded`).
    pub exchange: String,
    pub heartbeat_seconds: u16,
}

impl AmqpSettings {
    /// The connection URI (with the password: never log it; `redacted_uri` is for messages).
    pub fn uri(&self) -> String {
        let enc = |s: &str| form_urlencoded_component(s);
        format!(
            "{}://{}:{}@{}:{}/{}?heartbeat={}&connection_timeout=5000",
            if self.tls { "amqps" } else { "amqp" },
            enc(&self.username),
            enc(self.password.expose()),
            self.host,
            self.port,
            enc(&self.vhost),
            self.heartbeat_seconds
        )
    }
    /// The same without credentials, for logs and errors.
    pub fn redacted_uri(&self) -> String {
        format!("{}://{}:{}/{}", if self.tls { "amqps" } else { "amqp" }, self.host, self.port, self.vhost)
    }
}

/// Percent-encode everything but RFC 3986's unreserved characters (userinfo and vhost of a URI).
fn form_urlencoded_component(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The S3-compatible object store holding the photos (Garage in compose, S3 on AWS).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    /// "" = AWS's regional endpoint for `region`.
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    /// `endpoint/bucket/key` (Garage) rather than `bucket.endpoint/key` (AWS).
    pub path_style: bool,
    /// Both empty: the instance's or the pod's role credentials (AWS).
    pub access_key_id: Secret,
    pub secret_access_key: Secret,
    pub timeout_ms: u64,
}

/// Upload limits and the outbox relay's pace.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PhotoSettings {
    /// Larger uploads are refused (413) while they stream, before they are buffered whole.
    pub max_upload_bytes: usize,
    /// width x height over this is refused (400) from the header, before any pixel is decoded.
    pub max_pixels: u64,
    /// Photos a house may have (processing + ready); one more is a 409.
    pub max_per_house: u32,
    /// Uploads per user per hour; beyond, 429 with Retry-After.
    pub uploads_per_user_per_hour: u32,
    /// The outbox relay's poll interval when it found nothing to send.
    pub relay_interval_ms: u64,
    /// Outbox rows published (and confirmed) per round.
    pub relay_batch: u32,
}

impl Settings {
    /// The photo sections' checks (each names its key).
    fn photo_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, msg: &str| {
            if !ok {
                problems.push(msg.to_string())
            }
        };
        let p = &self.photos;
        check(p.max_upload_bytes >= 1024, "photos.max_upload_bytes: must be at least 1024");
        check(p.max_pixels >= 1, "photos.max_pixels: must be at least 1");
        check(p.max_per_house >= 1, "photos.max_per_house: must be at least 1");
        check(p.uploads_per_user_per_hour >= 1, "photos.uploads_per_user_per_hour: must be at least 1");
        check(p.relay_interval_ms >= 10, "photos.relay_interval_ms: must be at least 10");
        check((1..=1000).contains(&p.relay_batch), "photos.relay_batch: must be between 1 and 1000");
        check(!self.s3.bucket.is_empty(), "s3.bucket: must not be empty");
        check(!self.s3.region.is_empty(), "s3.region: must not be empty");
        check(
            self.s3.endpoint.is_empty() || self.s3.endpoint.starts_with("http"),
            "s3.endpoint: must be an http(s):// URL or empty (AWS's regional endpoint)",
        );
        check(
            self.s3.access_key_id.is_empty() == self.s3.secret_access_key.is_empty(),
            "s3.access_key_id / s3.secret_access_key: give both (secret files s3_access_key_id, s3_secret_access_key) or neither (the instance role)",
        );
        check(self.s3.timeout_ms >= 100, "s3.timeout_ms: must be at least 100");
        check(!self.amqp.exchange.is_empty(), "amqp.exchange: must not be empty");
        check(!self.amqp.host.is_empty(), "amqp.host: must not be empty");
        problems
    }
}

/// Where the layers come from; `from_env()` reads ZUFANG_CONFIG_DIR, ZUFANG_ENV and ZUFANG_SECRETS_DIR.
#[derive(Debug, Clone)]
pub struct Sources {
    pub config_dir: PathBuf,
    pub environment: String,
    pub secrets_dir: PathBuf,
    /// Read `ZUFANG__*` variables from the process environment.
    pub use_env_vars: bool,
}

impl Sources {
    pub fn from_env() -> Self {
        let config_dir = std::env::var_os("ZUFANG_CONFIG_DIR").map(PathBuf::from).unwrap_or_else(default_config_dir);
        Sources {
            config_dir,
            environment: std::env::var("ZUFANG_ENV").unwrap_or_else(|_| "development".into()),
            secrets_dir: std::env::var_os("ZUFANG_SECRETS_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/run/secrets")),
            use_env_vars: true,
        }
    }
}

/// `./config` when it exists (a container's WORKDIR, or `cargo run` from app/), else the crate's own.
fn default_config_dir() -> PathBuf {
    let local = PathBuf::from("config");
    if local.join("default.toml").is_file() {
        local
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config")
    }
}

pub fn get_configuration() -> anyhow::Result<Settings> {
    load(&Sources::from_env())
}

/// For the jobs that only touch the database (`migrate`, `seed`, `create-user`): the same layers,
/// without the checks of what only serving needs (the JWT keys, the SMS sender), so a migration
/// job gets its database account and nothing else.
pub fn get_database_job_configuration() -> anyhow::Result<Settings> {
    let settings = build(&Sources::from_env(), &[])?;
    settings.validate_for(false)?;
    Ok(settings)
}

/// For `zufang jobs` (the broker's dead-letter queue): the same layers, validated without the
/// serving checks and without requiring a database account it never uses.
pub fn get_jobs_configuration() -> anyhow::Result<Settings> {
    let settings = build(&Sources::from_env(), &[])?;
    settings.validate_checks(false, false)?;
    Ok(settings)
}

/// Load, layer and validate the configuration. Errors name the key and the problem.
pub fn load(sources: &Sources) -> anyhow::Result<Settings> {
    load_with_overrides(sources, &[])
}

/// Like [`load`], with extra `(key, value)` overrides applied after the environment (tests use this).
pub fn load_with_overrides(sources: &Sources, overrides: &[(&str, &str)]) -> anyhow::Result<Settings> {
    let settings = build(sources, overrides)?;
    settings.validate()?;
    Ok(settings)
}

/// The layered settings, not yet validated.
fn build(sources: &Sources, overrides: &[(&str, &str)]) -> anyhow::Result<Settings> {
    let env = sources.environment.as_str();
    if !ENVIRONMENTS.contains(&env) {
        anyhow::bail!("ZUFANG_ENV: unknown environment {env:?}; valid environments are: {}", ENVIRONMENTS.join(", "));
    }
    let default_file = sources.config_dir.join("default.toml");
    if !default_file.is_file() {
        anyhow::bail!(
            "configuration file {} not found (set ZUFANG_CONFIG_DIR to the folder holding default.toml)",
            default_file.display()
        );
    }
    let mut builder = config::Config::builder()
        .add_source(config::File::from(default_file))
        .add_source(config::File::from(sources.config_dir.join(format!("{env}.toml"))).required(false));
    if sources.use_env_vars {
        let mut environment = config::Environment::with_prefix("ZUFANG")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .list_separator(",");
        for key in LIST_KEYS {
            environment = environment.with_list_parse_key(key);
        }
        builder = builder.add_source(environment);
    }
    for (name, key) in SECRET_FILES {
        if let Some(value) = read_secret_file(&sources.secrets_dir, name)? {
            builder = builder.set_override(*key, value)?;
        }
    }
    for (key, value) in overrides {
        // A value written as a JSON array of strings overrides a list key.
        builder = match serde_json::from_str::<Vec<String>>(value) {
            Ok(list) if value.starts_with('[') => builder.set_override(*key, list)?,
            _ => builder.set_override(*key, *value)?,
        };
    }
    let raw = builder.build().context("Failed to read the configuration layers")?;
    let mut settings: Settings = raw.try_deserialize().map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    settings.environment = env.to_string();
    Ok(settings)
}

fn read_secret_file(dir: &Path, name: &str) -> anyhow::Result<Option<String>> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        // Files written by `echo` end in a newline that is not part of the secret.
        Ok(s) => Ok(Some(s.trim_end_matches(['\n', '\r']).to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::anyhow!("secret file {}: {e}", path.display())),
    }
}

impl Settings {
    pub fn is_production(&self) -> bool {
        self.environment == "production"
    }

    /// Checks that serde cannot express. Each error names the key.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.validate_for(true)
    }

    /// `serving = false`: a database job's settings (the JWT and SMS checks left out).
    fn validate_for(&self, serving: bool) -> anyhow::Result<()> {
        self.validate_checks(serving, true)
    }

    /// `database = false`: a broker-only job (`zufang jobs dlq`), which has no database account.
    fn validate_checks(&self, serving: bool, database: bool) -> anyhow::Result<()> {
        let mut problems: Vec<String> = Vec::new();
        let mut check = |ok: bool, msg: String| {
            if !ok {
                problems.push(msg)
            }
        };
        let d = &self.database;
        check(d.max_connections >= 1, "database.max_connections: must be at least 1".into());
        check(
            d.min_connections <= d.max_connections,
            "database.min_connections: must not exceed database.max_connections".into(),
        );
        check(!d.name.is_empty(), "database.name: must not be empty".into());
        check(
            self.auth.password_hash_memory_kib >= 8 && self.auth.password_hash_iterations >= 1,
            "auth.password_hash_memory_kib / password_hash_iterations: at least 8 KiB and 1 pass".into(),
        );
        check(self.redis.pool_size >= 1, "redis.pool_size: must be at least 1".into());
        check(self.redis.timeout_ms >= 1, "redis.timeout_ms: must be at least 1".into());
        check(self.cache.local_capacity >= 1, "cache.local_capacity: must be at least 1".into());
        check(self.cache.page_capacity >= 1, "cache.page_capacity: must be at least 1".into());
        check(
            (100..=1_000_000).contains(&self.lists.max_page_depth),
            "lists.max_page_depth: must be between 100 and 1000000".into(),
        );
        check(
            self.lists.title_index_refresh_seconds >= 1,
            "lists.title_index_refresh_seconds: must be at least 1".into(),
        );
        check(self.lists.title_index_max_mib >= 1, "lists.title_index_max_mib: must be at least 1".into());
        check((0.0..=1.0).contains(&self.otel.sample_ratio), "otel.sample_ratio: must be between 0.0 and 1.0".into());
        check(
            self.otel.endpoint.is_empty() || self.otel.endpoint.starts_with("http"),
            "otel.endpoint: must be an http(s):// URL or empty".into(),
        );
        let w = &self.worker;
        check((1..=1000).contains(&w.prefetch), "worker.prefetch: must be between 1 and 1000".into());
        check(!w.queue.is_empty(), "worker.queue: must not be empty".into());
        check((1..=100).contains(&w.max_attempts), "worker.max_attempts: must be between 1 and 100".into());
        check(w.job_timeout_seconds >= 1, "worker.job_timeout_seconds: must be at least 1".into());
        check(w.max_decode_bytes >= 1 << 20, "worker.max_decode_bytes: must be at least 1048576 (1 MiB)".into());
        check(self.application.max_body_bytes >= 1024, "application.max_body_bytes: must be at least 1024".into());
        check(
            self.sms.sender != SmsSenderKind::Http || self.sms.webhook_url.starts_with("http"),
            "sms.webhook_url: required (an http(s):// URL) when sms.sender = \"http\"".into(),
        );
        check(
            !serving
                || !self.is_production()
                || self.sms.sender != SmsSenderKind::Log
                || self.sms.allow_log_sender_in_production,
            "sms.sender: \"log\" delivers no verification code, so production refuses it; set sms.sender = \"http\" \
             with sms.webhook_url (and the secret file sms_webhook_token), or set \
             sms.allow_log_sender_in_production = true (ZUFANG__SMS__ALLOW_LOG_SENDER_IN_PRODUCTION) for a stack \
             without an SMS gateway"
                .into(),
        );
        check(
            tracing_subscriber::EnvFilter::try_new(&self.log.level).is_ok(),
            format!("log.level: {:?} is not a valid level or filter", self.log.level),
        );
        match self.jwt.algorithm {
            _ if !serving => {}
            JwtAlgorithm::HS256 => {
                let len = self.jwt.secret.expose().len();
                if self.is_production() {
                    check(
                        len >= 32,
                        format!("jwt.secret: must be at least 32 bytes in production (got {len}); put it in the secrets directory as jwt_secret"),
                    );
                    for (i, k) in self.jwt.verify_keys().iter().enumerate() {
                        check(
                            k.len() >= 32,
                            format!("jwt.verify_secrets: key {} must be at least 32 bytes in production (got {}); secrets directory file jwt_verify_secrets, one key per line", i + 1, k.len()),
                        );
                    }
                }
            }
            JwtAlgorithm::RS256 | JwtAlgorithm::EdDSA => {
                check(
                    !self.jwt.private_key_file.is_empty() && !self.jwt.public_key_file.is_empty(),
                    "jwt.private_key_file / jwt.public_key_file: required for RS256 and EdDSA".into(),
                );
            }
        }
        if self.is_production() {
            check(
                !database || !self.database.password.is_empty(),
                "database.password: required in production (secrets directory file database_password)".into(),
            );
            check(self.log.format == LogFormat::Json, "log.format: must be \"json\" in production".into());
        }
        problems.extend(self.photo_problems());
        if problems.is_empty() {
            Ok(())
        } else {
            anyhow::bail!("invalid configuration:\n  - {}", problems.join("\n  - "))
        }
    }

    /// The effective configuration as TOML-like JSON with secrets redacted (`zufang check-config`).
    pub fn redacted_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}
