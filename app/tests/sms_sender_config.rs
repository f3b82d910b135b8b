//! Production refuses the "log" SMS sender (it never delivers a code, so sign-up cannot complete)
//! unless `sms.allow_log_sender_in_production` says the stack has no gateway on purpose. The check is
//! in the configuration loader, which `serve`, `check-config` and every other subcommand go through.
use zufang::configuration::{self, Settings, SmsSenderKind, Sources};

const PRODUCTION_SECRETS: [(&str, &str); 2] =
    [("jwt.secret", "a-test-secret-that-is-at-least-32-bytes-long"), ("database.password", "pw")];

/// The shipped config files (default.toml, then the environment's), these overrides, no process
/// environment and no secrets directory.
fn load(environment: &str, overrides: &[(&str, &str)]) -> anyhow::Result<Settings> {
    let sources = Sources {
        config_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/config").into(),
        environment: environment.into(),
        secrets_dir: "/nonexistent".into(),
        use_env_vars: false,
    };
    let all: Vec<(&str, &str)> = PRODUCTION_SECRETS.iter().chain(overrides).copied().collect();
    configuration::load_with_overrides(&sources, &all)
}

#[test]
fn production_refuses_the_default_log_sender_naming_the_override() {
    let err = format!("{:#}", load("production", &[]).expect_err("production with sms.sender = \"log\""));
    assert!(err.contains("sms.sender") && err.contains("sms.allow_log_sender_in_production"), "{err}");
    assert!(err.contains("ZUFANG__SMS__ALLOW_LOG_SENDER_IN_PRODUCTION"), "names the variable too: {err}");
}

#[test]
fn the_explicit_override_allows_the_log_sender() {
    let s = load("production", &[("sms.allow_log_sender_in_production", "true")]).expect("override set");
    assert_eq!(s.sms.sender, SmsSenderKind::Log);
    assert!(s.sms.allow_log_sender_in_production);
}

#[test]
fn production_accepts_the_http_sender_without_the_override() {
    let s = load("production", &[("sms.sender", "http"), ("sms.webhook_url", "https://sms.example.com/send")])
        .expect("webhook sender");
    assert_eq!(s.sms.sender, SmsSenderKind::Http);
    assert!(!s.sms.allow_log_sender_in_production, "off by default");
}

#[test]
fn development_keeps_the_log_sender_without_the_override() {
    let s = load("development", &[]).expect("development");
    assert_eq!(s.sms.sender, SmsSenderKind::Log);
}
