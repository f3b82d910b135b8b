use crate::helpers::{assert_error, spawn_app, spawn_app_with};
use zufang::seed::{Scale, DISTRICT_TREE};

#[tokio::test]
async fn districts_list_returns_the_provinces_only() {
    let app = spawn_app().await;
    let body = app.get_json("/api/districts/", 200).await;
    assert_eq!(body["count"], DISTRICT_TREE.len());
    let names: Vec<&str> = body["results"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    let expected: Vec<&str> = DISTRICT_TREE.iter().map(|(p, _)| *p).collect();
    assert_eq!(names, expected);
    for r in body["results"].as_array().unwrap() {
        assert!(r["id"].is_u64() && r["is_hot"].is_boolean());
    }
}

#[tokio::test]
async fn district_detail_has_parent_intro_and_direct_children() {
    let app = spawn_app().await;
    let provinces = app.get_json("/api/districts/", 200).await;
    let sichuan = provinces["results"][0]["id"].as_u64().unwrap();
    let p = app.get_json(&format!("/api/districts/{sichuan}/"), 200).await;
    assert!(p["parent_id"].is_null());
    assert_eq!(p["children"].as_array().unwrap().len(), DISTRICT_TREE[0].1.len());
    let chengdu = &p["children"][0];
    assert_eq!(chengdu["name"], "成都市");
    let c = app.get_json(&format!("/api/districts/{}/", chengdu["id"]), 200).await;
    assert_eq!(c["parent_id"].as_u64(), Some(sichuan));
    assert!(c["intro"].is_string());
    assert_eq!(c["children"].as_array().unwrap().len(), DISTRICT_TREE[0].1[0].2.len());
    // A leaf district has no children.
    let leaf = app.get_json(&format!("/api/districts/{}/", c["children"][0]["id"]), 200).await;
    assert_eq!(leaf["children"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn unknown_or_malformed_district_ids_are_404_with_the_error_shape() {
    let app = spawn_app().await;
    for path in [
        "/api/districts/999999/",
        "/api/districts/abc/",
        "/api/districts/0/",
        "/api/districts/-1/",
        "/api/districts/99999999999999999999/",
    ] {
        let body = app.get_json(path, 404).await;
        assert_error(&body, "not_found");
    }
}

#[tokio::test]
async fn hot_cities_lists_only_hot_second_level_districts() {
    let app = spawn_app().await;
    let body = app.get_json("/api/hot-cities/", 200).await;
    let expected: Vec<&str> =
        DISTRICT_TREE.iter().flat_map(|(_, cities)| cities.iter().filter(|c| c.1).map(|c| c.0)).collect();
    let got: Vec<&str> = body["results"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(got, expected);
    assert_eq!(body["count"], expected.len());
}

#[tokio::test]
async fn pagination_links_are_absolute_and_keep_the_other_parameters() {
    let app = spawn_app().await;
    let p1 = app.get_json("/api/districts/?size=4", 200).await;
    assert_eq!(p1["results"].as_array().unwrap().len(), 4);
    assert!(p1["previous"].is_null());
    let next = p1["next"].as_str().unwrap();
    assert_eq!(next, format!("http://127.0.0.1:{}/api/districts/?size=4&page=2", app.port));
    let p2 = app.get_json("/api/districts/?size=4&page=2", 200).await;
    assert_eq!(p2["results"].as_array().unwrap().len(), 2, "last page holds the rest");
    assert!(p2["next"].is_null());
    assert_eq!(p2["previous"].as_str().unwrap(), format!("http://127.0.0.1:{}/api/districts/?size=4", app.port));
    // A page past the end is empty, not an error.
    let p9 = app.get_json("/api/districts/?size=4&page=9", 200).await;
    assert_eq!(p9["results"].as_array().unwrap().len(), 0);
    assert_eq!(p9["count"], 6);
}

#[tokio::test]
async fn forwarded_proto_and_host_are_honoured_from_a_trusted_proxy_only() {
    // 127.0.0.1 is a trusted proxy in default.toml; the forwarded host must be an allowed one.
    let allowed = r#"["127.0.0.1", "zufang.example"]"#;
    let app = spawn_app_with(&[("application.allowed_hosts", allowed)], Some(Scale::Small.counts())).await;
    let res = app
        .client
        .get(format!("{}/api/districts/?size=2", app.address))
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "zufang.example")
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["next"], "https://zufang.example/api/districts/?size=2&page=2");

    let untrusted = spawn_app_with(&[("application.trusted_proxies", "[]")], Some(Scale::Small.counts())).await;
    let res = untrusted
        .client
        .get(format!("{}/api/districts/?size=2", untrusted.address))
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "evil.example")
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = res.json().await.unwrap();
    let next = body["next"].as_str().unwrap();
    assert!(next.starts_with("http://127.0.0.1:"), "{next}");
}

#[tokio::test]
async fn a_path_without_its_trailing_slash_redirects_like_django() {
    let app = spawn_app().await;
    let res = app.get("/api/districts?size=2").await;
    assert_eq!(res.status().as_u16(), 301);
    assert_eq!(res.headers()["location"], "/api/districts/?size=2");
    let res = app.get("/api/districts/1").await;
    assert_eq!(res.status().as_u16(), 301);
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated_and_traces_continue() {
    let app = spawn_app().await;
    let res = app.get("/api/districts/").await;
    let generated = res.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(generated.len(), 32);
    let res = app
        .client
        .get(format!("{}/api/districts/", app.address))
        .header("X-Request-ID", "edge-abc-123")
        .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "edge-abc-123");
    assert_eq!(res.headers()["x-trace-id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    // A request id with unsafe characters is replaced, not echoed.
    let res =
        app.client.get(format!("{}/healthz", app.address)).header("X-Request-ID", "a b<script>").send().await.unwrap();
    assert_ne!(res.headers()["x-request-id"], "a b<script>");
}
