//! The route table (routes/mod.rs) is the one source of access policy: a handler mounted outside
//! it is refused by the guard, and the seeded privileges name only declared, privileged operations.
use actix_web::middleware::from_fn;
use actix_web::{test, web, App, HttpResponse};
use zufang::routes::{Policy, ENDPOINTS};

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_route_mounted_outside_the_table_is_refused_even_for_an_admin() {
    let app = spawn_app().await;
    let (_, token) = app.user_with_token("routes_admin", &["admin"]).await;
    // The service as startup.rs builds it, plus one handler nobody declared.
    let service = test::init_service(
        App::new()
            .wrap(from_fn(zufang::routes::guard::guard))
            .configure(zufang::startup::configure_app(app.state.clone()))
            .service(
                web::resource("/api/undeclared/")
                    .route(web::get().to(|| async { HttpResponse::Ok().body("ran") }))
                    .route(web::post().to(|| async { HttpResponse::Ok().body("ran") })),
            ),
    )
    .await;
    for (method, bearer) in [("GET", None), ("POST", None), ("GET", Some(&token)), ("POST", Some(&token))] {
        let mut req = test::TestRequest::default().method(method.parse().unwrap()).uri("/api/undeclared/");
        if let Some(t) = bearer {
            req = req.insert_header(("Authorization", format!("Bearer {t}")));
        }
        let res = test::call_service(&service, req.to_request()).await;
        let status = res.status();
        let body = test::read_body(res).await;
        assert_eq!(status, 403, "{method} (token: {}) -> {status}", bearer.is_some());
        let body: serde_json::Value = serde_json::from_slice(&body).expect("a JSON error body, not the handler's");
        assert_eq!(body["error"]["code"], "permission_denied", "{body}");
    }
    // A declared operation through the same service still works: the refusal is about the table.
    let res = test::call_service(&service, test::TestRequest::get().uri("/api/districts/").to_request()).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn every_seeded_privilege_names_a_declared_privileged_operation() {
    let app = spawn_app().await;
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT method, route FROM privileges").fetch_all(&app.db).await.expect("privileges");
    assert!(rows.len() > 1, "the seed has privileges");
    for (method, route) in rows {
        if (method.as_str(), route.as_str()) == ("*", "*") {
            continue; // the admin role's "everything"
        }
        let endpoint = ENDPOINTS
            .iter()
            .find(|e| e.path == route && (method == "*" || e.method == method))
            .unwrap_or_else(|| panic!("seeded privilege {method} {route} is not in the route table"));
        assert_ne!(endpoint.policy, Policy::Public, "seeded privilege {method} {route} guards a public operation");
    }
}
