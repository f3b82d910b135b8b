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
