use crate::helpers::{assert_error, spawn_app, TestApp};

/// GET `url` answers 400 `invalid` naming `field`.
async fn assert_invalid_field(app: &TestApp, url: &str, field: &str) {
    let body = app.get_json(url, 400).await;
    let fields = assert_error(&body, "invalid");
    assert!(fields.get(field).is_some(), "{url}: {body}");
}

#[tokio::test]
async fn unknown_routes_are_json_404() {
    let app = spawn_app().await;
    let body = app.get_json("/api/nothing-here/", 404).await;
    assert_error(&body, "not_found");
}

#[tokio::test]
async fn wrong_methods_are_405_with_an_allow_header() {
    let app = spawn_app().await;
    for path in ["/api/districts/", "/api/hot-cities/", "/healthz", "/api/houses/"] {
        let res = app.client.delete(format!("{}{path}", app.address)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 405, "{path}");
        assert!(res.headers()["allow"].to_str().unwrap().contains("GET"));
        let body: serde_json::Value = res.json().await.unwrap();
        assert_error(&body, "method_not_allowed");
    }
}

#[tokio::test]
async fn malformed_percent_encoding_is_taken_literally_never_a_500() {
    // Like Django's QueryDict, an invalid escape is kept as text and invalid UTF-8 is replaced.
    let app = spawn_app().await;
    assert_eq!(app.get_json("/api/estates/?name=%ZZ", 200).await["count"], 0);
    assert_eq!(app.get_json("/api/estates/?name=%FF%FE", 200).await["count"], 0);
    assert_eq!(app.get_json("/api/houses/?title=%E4%B8", 200).await["count"], 0);
}

#[tokio::test]
async fn bad_pagination_parameters_name_each_field() {
    let app = spawn_app().await;
    for (qs, field) in [
        ("page=abc", "page"),
        ("page=-1", "page"),
        ("page=0", "page"),
        ("size=0", "size"),
        ("size=101", "size"),
        ("size=1.5", "size"),
        ("size=-3", "size"),
    ] {
        for base in ["/api/districts/", "/api/estates/", "/api/houses/", "/api/hot-cities/"] {
            assert_invalid_field(&app, &format!("{base}?{qs}"), field).await;
        }
    }
    // The maximum size itself is fine.
    app.get_json("/api/estates/?size=100", 200).await;
}

#[tokio::test]
async fn a_repeated_query_parameter_is_refused_not_resolved() {
    // With "last value wins" and "empty is absent", `size=junk&size=` was a valid first page.
    let app = spawn_app().await;
    assert_invalid_field(&app, "/api/districts/?size=junk&size=", "size").await;
    assert_invalid_field(&app, "/api/estates/?page=1&name=a&page=2", "page").await;
    assert_invalid_field(&app, "/api/houses/?ordering=price&ordering=-price", "ordering").await;
    // Once each, and an empty value still counts as absent.
    app.get_json("/api/districts/?size=5&page=", 200).await;
}

#[tokio::test]
async fn errors_never_echo_sql_or_internals() {
    let app = spawn_app().await;
    let body = app.get_json("/api/estates/?name=%27%20OR%201%3D1%20--&ordering=id;DROP%20TABLE%20estates", 400).await;
    let text = body.to_string();
    assert!(!text.to_lowercase().contains("select"), "{text}");
    assert!(!text.contains("DROP TABLE"), "input must not be echoed unbounded: {text}");
    // The table is still there and the quote was treated as text.
    let ok = app.get_json("/api/estates/?name=%27%20OR%201%3D1%20--", 200).await;
    assert_eq!(ok["count"], 0);
}

#[tokio::test]
async fn an_unreachable_database_is_a_503_with_retry_after_never_a_500() {
    let app = spawn_app().await;
    let port = crate::helpers::closed_port();
    let down = crate::helpers::spawn_replica_with(&app, |s| {
        s.database.port = port;
        s.database.acquire_timeout_ms = 500;
    })
    .await;
    for path in ["/api/districts/", "/api/estates/?size=1", "/api/houses/1/"] {
        let res = down.get(path).await;
        assert_eq!(res.status(), 503, "{path}");
        assert!(res.headers().get("retry-after").is_some(), "{path}: no Retry-After");
        assert_error(&res.json().await.unwrap(), "service_unavailable");
    }
}

#[tokio::test]
async fn the_statement_timeout_is_a_503_not_a_500() {
    use zufang::error::ResultExt;
    let app = spawn_app().await;
    // MariaDB's own statement timeout (max_statement_time), as the pool sets it per session.
    let res: Result<i64, _> = sqlx::query_scalar("SET STATEMENT max_statement_time = 0.05 FOR SELECT SLEEP(2)")
        .fetch_one(&app.db)
        .await
        .context_api("a slow query");
    match res {
        Err(zufang::error::ApiError::ServiceUnavailable(msg)) => assert!(msg.contains("too long"), "{msg}"),
        other => panic!("a statement timeout must be a 503, got {other:?}"),
    }
    // A real bug stays a 500.
    let res: Result<i64, _> = sqlx::query_scalar("SELECT no_such_column FROM districts LIMIT 1")
        .fetch_one(&app.db)
        .await
        .context_api("a broken query");
    assert!(matches!(res, Err(zufang::error::ApiError::Internal(_))), "{res:?}");
}
