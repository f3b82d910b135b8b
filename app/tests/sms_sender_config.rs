//! Production refuses the "log" SMS sender (it never delivers a code, so sign-up cannot complete)
//! unless `sms.allow_log_sender_in_production` says the stack has no gateway on purpose. Checked
//! through the real binary's `check-config`, which runs the same validation as `serve`.
use std::process::Command;

const JWT: &str = "a-test-secret-that-is-at-least-32-bytes-long";

fn check_config(envs: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zufang"));
    cmd.arg("check-config")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("ZUFANG_CONFIG_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/config"))
        .env("ZUFANG_SECRETS_DIR", "/nonexistent")
        .env("ZUFANG_ENV", "production")
        .env("ZUFANG__JWT__SECRET", JWT)
        .env("ZUFANG__DATABASE__PASSWORD", "pw");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn production_refuses_the_log_sender_naming_the_override() {
    let (ok, _, err) = check_config(&[]);
    assert!(!ok, "production with sms.sender = \"log\" must be refused");
    assert!(err.contains("sms.sender") && err.contains("sms.allow_log_sender_in_production"), "{err}");
}

#[test]
fn the_explicit_override_allows_the_log_sender() {
    let (ok, out, err) = check_config(&[("ZUFANG__SMS__ALLOW_LOG_SENDER_IN_PRODUCTION", "true")]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["sms"]["sender"], "log");
    assert_eq!(v["sms"]["allow_log_sender_in_production"], true);
}

#[test]
fn production_accepts_the_http_sender() {
    let (ok, out, err) =
        check_config(&[("ZUFANG__SMS__SENDER", "http"), ("ZUFANG__SMS__WEBHOOK_URL", "https://sms.example.com/send")]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["sms"]["allow_log_sender_in_production"], false);
}

#[test]
fn development_keeps_the_log_sender_without_the_override() {
    let (ok, _, err) = check_config(&[("ZUFANG_ENV", "development"), ("ZUFANG__LOG__FORMAT", "pretty")]);
    assert!(ok, "{err}");
}
