//! Trace export and error reporting leave the process: OTLP/HTTP spans reach the collector with
//! the incoming trace id, and a 5xx is reported to Sentry, while the client sees a generic body.
//!
//! Test double (stated as the rules require): neither an OpenTelemetry collector nor Sentry is
//! packaged for Debian, so a minimal HTTP receiver on loopback stands in for both and records
//! what it is sent. The compose end-to-end tests use the real collector.
#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// Accepts HTTP/1.1 requests, stores (path, body), answers 200 `{}`.
fn receiver() -> (u16, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Received = Arc::default();
    let store = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                    let mut len = 0usize;
                    loop {
                        let mut h = String::new();
                        reader.read_line(&mut h).unwrap();
                        if h == "\r\n" || h.is_empty() {
                            break;
                        }
                        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; len];
                    reader.read_exact(&mut body).unwrap();
                    store.lock().unwrap().push((path, body));
                    let mut w = stream.try_clone().unwrap();
                    let _ = w
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
                }
            });
        }
    });
    (port, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_the_collector_and_5xx_reach_sentry_with_a_generic_client_body() {
    let (port, got) = receiver();
    let endpoint = format!("http://127.0.0.1:{port}");
    let dsn = format!("http://publickey@127.0.0.1:{port}/42");
    let settings = helpers::test_settings(
        "unused",
        "unused:",
        &[("otel.endpoint", &endpoint), ("sentry.dsn", &dsn), ("log.level", "error")],
    );
    let guard = zufang::telemetry::init(&settings).expect("telemetry");
    helpers::telemetry_installed_elsewhere();

    let app = helpers::spawn_app().await;
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let res = app
        .client
        .get(format!("{}/api/districts/", app.address))
        .header("traceparent", format!("00-{trace_id}-b7ad6b7169203331-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);

    // Break the database under the service: the next house detail fails inside a query.
    sqlx::query("RENAME TABLE house_tags TO house_tags_gone").execute(&app.db).await.unwrap();
    let res = app.get("/api/houses/1/").await;
    assert_eq!(res.status().as_u16(), 500);
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_string();
    let body = res.text().await.unwrap();
    assert!(body.contains("\"internal_error\""), "{body}");
    assert!(!body.contains("house_tags") && !body.to_lowercase().contains("select"), "internals leaked: {body}");
    assert!(!request_id.is_empty());
    let metrics = app.metrics().await;
    assert_eq!(
        helpers::metric_value(
            &metrics,
            "http_requests_total{method=\"GET\",route=\"/api/houses/{id}/\",status=\"500\"}"
        ),
        1.0
    );

    // Flush: the batch exporter and the Sentry transport send on shutdown.
    tokio::task::spawn_blocking(move || drop(guard)).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let raw_trace_id: Vec<u8> = (0..16).map(|i| u8::from_str_radix(&trace_id[2 * i..2 * i + 2], 16).unwrap()).collect();
    loop {
        let seen = got.lock().unwrap().clone();
        let traces = seen.iter().any(|(p, b)| p == "/v1/traces" && b.windows(16).any(|w| w == raw_trace_id.as_slice()));
        let sentry =
            seen.iter().any(|(p, b)| p.starts_with("/api/42/") && String::from_utf8_lossy(b).contains("house_tags"));
        if traces && sentry {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "collector got traces={traces}, sentry got the error={sentry}; requests: {:?}",
            seen.iter().map(|(p, b)| (p.clone(), b.len())).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
