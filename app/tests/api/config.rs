//! Configuration layering, validation and redaction, through the real binary (`check-config`)
//! so the environment-variable layer is exercised without touching this process's environment.
use std::process::Command;

use zufang::configuration::{self, Sources};

fn check_config(envs: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zufang"));
    cmd.arg("check-config")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("ZUFANG_CONFIG_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/config"))
        .env("ZUFANG_SECRETS_DIR", "/nonexistent");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn environment_variables_override_the_files() {
    let (ok, out, err) = check_config(&[
        ("ZUFANG__APPLICATION__PORT", "9999"),
        ("ZUFANG__DATABASE__HOST", "db.internal"),
        ("ZUFANG__APPLICATION__TRUSTED_PROXIES", "10.0.0.0/8,172.28.10.0/24"),
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["application"]["port"], 9999);
    assert_eq!(v["database"]["host"], "db.internal");
    assert_eq!(v["application"]["trusted_proxies"], serde_json::json!(["10.0.0.0/8", "172.28.10.0/24"]));
}

#[test]
fn an_unknown_key_fails_with_its_name() {
    let (ok, _, err) = check_config(&[("ZUFANG__DATABASE__HOSTNAME", "x")]);
    assert!(!ok);
    assert!(err.contains("hostname"), "{err}");
}

#[test]
fn an_unknown_environment_lists_the_valid_ones() {
    let (ok, _, err) = check_config(&[("ZUFANG_ENV", "staging")]);
    assert!(!ok);
    assert!(err.contains("development") && err.contains("production"), "{err}");
}

#[test]
fn production_refuses_a_short_jwt_secret_naming_the_key() {
    let (ok, _, err) = check_config(&[
        ("ZUFANG_ENV", "production"),
        ("ZUFANG__JWT__SECRET", "too-short"),
        ("ZUFANG__DATABASE__PASSWORD", "pw"),
    ]);
    assert!(!ok);
    assert!(err.contains("jwt.secret") && err.contains("32 bytes"), "{err}");
    assert!(!err.contains("too-short"), "the secret itself must not be printed: {err}");
}

#[test]
fn production_refuses_a_short_verify_only_jwt_key_naming_the_key() {
    let (ok, _, err) = check_config(&[
        ("ZUFANG_ENV", "production"),
        ("ZUFANG__JWT__SECRET", "a-current-key-long-enough-for-production-use"),
        ("ZUFANG__JWT__VERIFY_SECRETS", "short-old-key"),
        ("ZUFANG__DATABASE__PASSWORD", "pw"),
    ]);
    assert!(!ok);
    assert!(err.contains("jwt.verify_secrets") && err.contains("32 bytes"), "{err}");
    assert!(!err.contains("short-old-key"), "the key itself must not be printed: {err}");
}

#[test]
fn secret_files_override_and_are_redacted_when_printed() {
    let dir = std::env::temp_dir().join(format!("zufang-secrets-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret = "s3cr3t-jwt-value-that-is-long-enough-for-prod";
    std::fs::write(dir.join("jwt_secret"), format!("{secret}\n")).unwrap();
    std::fs::write(dir.join("database_password"), "db-pass-from-file\n").unwrap();
    let sources = Sources {
        config_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/config").into(),
        environment: "production".into(),
        secrets_dir: dir.clone(),
        use_env_vars: false,
    };
    // Production refuses the default "log" SMS sender unless told this stack has no gateway.
    let no_gateway = [("sms.allow_log_sender_in_production", "true")];
    let s =
        configuration::load_with_overrides(&sources, &no_gateway).expect("production config with secrets from files");
    assert_eq!(s.jwt.secret.expose(), secret, "trailing newline stripped");
    assert_eq!(s.database.password.expose(), "db-pass-from-file");
    let printed = serde_json::to_string(&s.redacted_json()).unwrap();
    let debugged = format!("{s:?}");
    for text in [&printed, &debugged] {
        assert!(!text.contains(secret) && !text.contains("db-pass-from-file"), "secret leaked: {text}");
        assert!(text.contains("[REDACTED]"));
    }
    // The binary prints the same redacted view.
    let (ok, out, err) = check_config(&[
        ("ZUFANG_ENV", "production"),
        ("ZUFANG_SECRETS_DIR", dir.to_str().unwrap()),
        ("ZUFANG__SMS__ALLOW_LOG_SENDER_IN_PRODUCTION", "true"),
    ]);
    assert!(ok, "{err}");
    assert!(!out.contains(secret) && out.contains("[REDACTED]"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn invalid_values_are_reported_together() {
    let (ok, _, err) =
        check_config(&[("ZUFANG__OTEL__SAMPLE_RATIO", "2.0"), ("ZUFANG__DATABASE__MAX_CONNECTIONS", "0")]);
    assert!(!ok);
    assert!(err.contains("otel.sample_ratio") && err.contains("database.max_connections"), "{err}");
}
