use crate::helpers::{metric_value, spawn_app};

#[tokio::test]
async fn route_labels_use_the_matched_pattern_never_the_raw_path() {
    let app = spawn_app().await;
    for id in 1..=5 {
        app.get(&format!("/api/estates/{id}/")).await;
    }
    for junk in ["/wp-admin/", "/api/x1/", "/api/x2/", "/etc/passwd"] {
        assert_eq!(app.get(junk).await.status().as_u16(), 404);
    }
    let text = app.metrics().await;
    let series = "http_requests_total{method=\"GET\",route=\"/api/estates/{id}/\",status=\"200\"}";
    assert_eq!(metric_value(&text, series), 5.0, "{text}");
    assert_eq!(metric_value(&text, "http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}"), 4.0);
    assert!(!text.contains("/api/estates/1/"), "raw path leaked into labels");
    assert!(!text.contains("wp-admin") && !text.contains("passwd"));
}

#[tokio::test]
async fn made_up_methods_share_one_other_label() {
    let app = spawn_app().await;
    for (i, method) in ["FOOBAR", "PROPFIND", "BREW", "X-CUSTOM-1", "X-CUSTOM-2"].iter().enumerate() {
        let url = format!("{}/api/districts/", app.address);
        let res = app.client.request(method.parse().unwrap(), &url).send().await.unwrap();
        assert_eq!(res.status(), 405, "{method} #{i}");
    }
    let text = app.metrics().await;
    let series = "http_requests_total{method=\"OTHER\",route=\"/api/districts/\",status=\"405\"}";
    assert_eq!(metric_value(&text, series), 5.0, "{text}");
    for method in ["FOOBAR", "PROPFIND", "BREW", "X-CUSTOM"] {
        assert!(!text.contains(&format!("method=\"{method}")), "{method} became a label");
    }
}

#[tokio::test]
async fn metrics_expose_the_documented_families() {
    let app = spawn_app().await;
    app.get("/api/districts/").await;
    app.get("/api/houses/?district=5").await;
    let text = app.metrics().await;
    for family in [
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "http_requests_in_flight",
        "db_pool_connections{state=\"max\"}",
        "db_query_duration_seconds_bucket{query=\"houses_list\"",
        "cache_requests_total{cache=\"local\",result=\"miss\"}",
        "rate_limit_rejections_total",
        "zufang_build_info{",
        "process_cpu_seconds_total",
    ] {
        assert!(text.contains(family), "missing {family}");
    }
    // The 250 ms latency SLO threshold must be a bucket boundary.
    assert!(text.contains("le=\"0.25\""));
    assert_eq!(metric_value(&text, "db_pool_connections{state=\"max\"}"), 16.0);
}

/// A log sink for one test's subscriber.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A slow query is logged at WARN by its name and time; no statement text reaches the log at any
/// level (sqlx's own statement log would print it whole, bulk INSERTs included).
#[tokio::test]
async fn slow_queries_are_logged_by_name_and_no_sql_text_reaches_the_log() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let settings = crate::helpers::test_settings("information_schema", "slowq", &[("database.slow_query_ms", "100")]);
    let pool = zufang::storage::pool(&settings.database);
    let metrics = zufang::metrics::Metrics::new().unwrap();
    metrics.set_slow_query_ms(settings.database.slow_query_ms);
    let marker = "zufang_sql_text_marker";
    metrics.time_query("test.fast", sqlx::query(&format!("SELECT 1 AS {marker}_fast")).execute(&pool)).await.unwrap();
    metrics
        .time_query("test.sleep", sqlx::query(&format!("SELECT SLEEP(0.3) AS {marker}")).execute(&pool))
        .await
        .unwrap();
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let slow: Vec<&str> = log.lines().filter(|l| l.contains("slow query")).collect();
    assert_eq!(slow.len(), 1, "one slow query expected:\n{log}");
    assert!(slow[0].contains("WARN") && slow[0].contains("test.sleep") && slow[0].contains("elapsed_ms"), "{log}");
    assert!(!log.contains(marker), "SQL text reached the log:\n{log}");
}
