use std::time::Duration;

use crate::helpers::{closed_port, metric_value, spawn_app, spawn_app_with};
use zufang::seed::Scale;

#[tokio::test]
async fn healthz_answers_ok_without_touching_dependencies() {
    let port = closed_port().to_string();
    // Neither the database nor Redis exists at these ports.
    let app = spawn_app_with(&[("redis.port", &port)], None).await;
    let body = app.get_json("/healthz", 200).await;
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn readyz_reports_each_dependency_ok() {
    let app = spawn_app().await;
    let body = app.get_json("/readyz", 200).await;
    assert_eq!(body["status"], "ok");
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["redis"], "ok");
}

#[tokio::test]
async fn readyz_stays_200_but_degraded_when_only_redis_is_down() {
    let port = closed_port().to_string();
    let app = spawn_app_with(&[("redis.port", &port)], Some(Scale::Small.counts())).await;
    let body = app.get_json("/readyz", 200).await;
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["checks"]["redis"], "degraded");
    assert_eq!(body["checks"]["database"], "ok");
}

#[tokio::test]
async fn readyz_is_503_when_the_database_is_unreachable() {
    let app = spawn_app().await;
    // Same code, second instance pointed at a closed database port.
    let port = closed_port().to_string();
    let settings = crate::helpers::test_settings(&app.settings.database.name, "x:", &[("database.port", &port)]);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let broken = zufang::startup::Application::build_with_listener(settings, listener).unwrap();
    let addr = format!("http://127.0.0.1:{}", broken.port());
    tokio::spawn(broken.run_until_stopped());
    let res = reqwest::get(format!("{addr}/readyz")).await.unwrap();
    assert_eq!(res.status().as_u16(), 503);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["checks"]["database"], "down");
    // Liveness is unaffected: restarting the process would not help.
    assert_eq!(reqwest::get(format!("{addr}/healthz")).await.unwrap().status().as_u16(), 200);
}

#[tokio::test]
async fn reads_fall_back_to_the_database_when_redis_is_down_and_count_the_failure() {
    let port = closed_port().to_string();
    let app = spawn_app_with(&[("redis.port", &port)], Some(Scale::Small.counts())).await;
    let body = app.get_json("/api/districts/", 200).await;
    assert_eq!(body["count"], 6);
    let body = app.get_json("/api/estates/1/", 200).await;
    assert_eq!(body["id"], 1);
    let errors = metric_value(&app.metrics().await, "cache_requests_total{cache=\"redis\",result=\"error\"}");
    assert!(errors >= 2.0, "redis errors counted: {errors}");
}

#[tokio::test]
async fn shutdown_turns_readiness_503_at_once_then_stops_the_server() {
    let app = spawn_app_with(&[("application.shutdown_drain_seconds", "2")], Some(Scale::Small.counts())).await;
    assert_eq!(app.get("/readyz").await.status().as_u16(), 200);
    let handle = app.shutdown.clone();
    let shutdown = tokio::spawn(async move { handle.shutdown().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // During the drain delay the server still answers, but is no longer ready.
    let res = app.get("/readyz").await;
    assert_eq!(res.status().as_u16(), 503);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "shutting_down");
    assert_eq!(app.get("/healthz").await.status().as_u16(), 200);
    tokio::time::timeout(Duration::from_secs(10), shutdown).await.expect("drain finishes").unwrap();
    let result = tokio::time::timeout(Duration::from_secs(10), app.server).await.expect("server stops");
    assert!(result.unwrap().is_ok(), "server exits cleanly");
    assert!(reqwest::get(format!("{}/healthz", app.address)).await.is_err(), "no longer accepting");
}

#[tokio::test]
async fn sigterm_drains_and_exits_zero() {
    // The real binary: a signal runs the same sequence and the process exits 0.
    let app = spawn_app().await; // provides a migrated, seeded database
    let (mut child, base) = crate::helpers::spawn_binary(
        &app,
        &[("ZUFANG__APPLICATION__SHUTDOWN_DRAIN_SECONDS", "1"), ("ZUFANG__LOG__LEVEL", "warn")],
    )
    .await;
    let url = format!("{base}/readyz");
    let pid = child.id().unwrap() as i32;
    let status = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(status.success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(reqwest::get(&url).await.unwrap().status().as_u16(), 503, "not ready while draining");
    let exit = tokio::time::timeout(Duration::from_secs(15), child.wait()).await.expect("exits").unwrap();
    assert_eq!(exit.code(), Some(0));
}

#[tokio::test]
async fn healthcheck_command_reflects_the_instance() {
    let app = spawn_app().await;
    // tokio's Command: a blocking wait would starve the in-process server of its runtime.
    let ok = tokio::process::Command::new(env!("CARGO_BIN_EXE_zufang"))
        .args(["healthcheck", "--url", &format!("{}/healthz", app.address)])
        .env("ZUFANG_CONFIG_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/config"))
        .status()
        .await
        .unwrap();
    assert!(ok.success());
    let down = tokio::process::Command::new(env!("CARGO_BIN_EXE_zufang"))
        .args(["healthcheck", "--url", &format!("http://127.0.0.1:{}/healthz", closed_port())])
        .env("ZUFANG_CONFIG_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/config"))
        .status()
        .await
        .unwrap();
    assert!(!down.success());
}
