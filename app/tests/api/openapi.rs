use std::collections::BTreeSet;

use serde_json::Value;
use zufang::routes::{Policy, ENDPOINTS};

use crate::helpers::spawn_app;

fn doc() -> Value {
    serde_json::from_str(zufang::routes::openapi::DOCUMENT).expect("openapi.json is JSON")
}

#[test]
fn the_document_covers_exactly_the_routes_the_service_serves() {
    let d = doc();
    assert!(d["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = BTreeSet::new();
    for (path, item) in d["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let served: BTreeSet<(String, String)> =
        ENDPOINTS.iter().map(|e| (e.method.to_string(), e.path.to_string())).collect();
    assert_eq!(documented, served);
}

#[test]
fn every_operation_documents_its_parameters_and_error_body() {
    let d = doc();
    let expected: &[(&str, &[&str])] = &[
        ("/api/estates/", &["name", "minhot", "maxhot", "dist", "ordering", "page", "size"]),
        (
            "/api/houses/",
            &[
                "title", "minprice", "maxprice", "city", "district", "type", "estate", "ordering", "page", "size",
                "cursor",
            ],
        ),
        ("/api/districts/", &["page", "size"]),
        ("/api/hot-cities/", &["page", "size"]),
    ];
    let resolve = |p: &Value| -> Value {
        match p.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let name = r.rsplit('/').next().unwrap();
                d["components"]["parameters"][name].clone()
            }
            None => p.clone(),
        }
    };
    for (path, params) in expected {
        let op = &d["paths"][path]["get"];
        let names: BTreeSet<String> = op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| resolve(p)["name"].as_str().unwrap().to_string())
            .collect();
        let want: BTreeSet<String> = params.iter().map(|s| s.to_string()).collect();
        assert_eq!(names, want, "{path}");
    }
    assert!(d["components"]["schemas"]["Error"].is_object());
    for (path, item) in d["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap_or_else(|| panic!("{method} {path} has no responses"));
            if path.starts_with("/api/") {
                let errors: Vec<&String> =
                    responses.keys().filter(|k| k.starts_with('4') || k.starts_with('5')).collect();
                assert!(!errors.is_empty(), "{method} {path} documents no error response");
            }
        }
    }
    let text = d.to_string();
    assert!(!text.contains("\"$ref\":\"#/components/schemas/Missing"));
}

#[test]
fn secured_operations_declare_the_bearer_scheme() {
    let d = doc();
    assert_eq!(d["components"]["securitySchemes"]["bearerAuth"]["scheme"], "bearer");
    for (path, item) in d["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            // The route table says who may call it; the document must say the same.
            let endpoint = zufang::routes::find(&method.to_uppercase(), path)
                .unwrap_or_else(|| panic!("{method} {path} is not in the route table"));
            let needs_auth = endpoint.policy != zufang::routes::Policy::Public;
            let declared = op["security"].as_array().map(|s| s.iter().any(|r| r.get("bearerAuth").is_some()));
            assert_eq!(declared == Some(true), needs_auth, "{method} {path}: security {declared:?}");
            if needs_auth {
                for status in ["401", "403"] {
                    assert!(op["responses"][status].is_object(), "{method} {path} documents no {status}");
                }
            }
        }
    }
}

/// The operation's responses with `$ref`s to `components/responses` resolved.
fn response<'a>(d: &'a Value, op: &'a Value, status: &str) -> Option<&'a Value> {
    let r = op["responses"].get(status)?;
    match r.get("$ref").and_then(Value::as_str) {
        Some(name) => d["components"]["responses"].get(name.rsplit('/').next().unwrap()),
        None => Some(r),
    }
}

#[test]
fn every_json_operation_documents_the_errors_its_body_can_cause() {
    // actix answers 415 for a body that is not application/json and 413 past max_body_bytes
    // before any handler runs; a secured operation answers 503 when Redis cannot check the token.
    let d = doc();
    for (path, item) in d["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let mut want = Vec::new();
            if op.get("requestBody").is_some() {
                want.extend(["400", "413", "415"]);
            }
            if op.get("security").is_some() {
                want.push("503");
            }
            // Every path but the probes and /metrics refuses a Host not in allowed_hosts.
            if !["/healthz", "/readyz", "/metrics"].contains(&path.as_str()) {
                want.push("400");
            }
            for status in want {
                let r = response(&d, op, status).unwrap_or_else(|| panic!("{method} {path} documents no {status}"));
                assert!(r["description"].is_string(), "{method} {path} {status}");
            }
        }
    }
}

#[test]
fn the_house_list_shapes_are_exclusive() {
    // A response must match exactly one branch of the oneOf: the page has `count`, the cursor
    // page must not.
    let d = doc();
    let schemas = &d["components"]["schemas"];
    assert!(schemas["PageMeta"]["required"].as_array().unwrap().contains(&"count".into()));
    assert_eq!(schemas["HouseCursorPage"]["not"]["required"], serde_json::json!(["count"]));
}

#[test]
fn role_privileges_name_exactly_the_routes_and_methods_the_service_serves() {
    let d = doc();
    let mut documented = BTreeSet::new();
    for branch in d["components"]["schemas"]["Privilege"]["oneOf"].as_array().unwrap() {
        let route = branch["properties"]["route"]["enum"][0].as_str().unwrap().to_string();
        for m in branch["properties"]["method"]["enum"].as_array().unwrap() {
            documented.insert((m.as_str().unwrap().to_string(), route.clone()));
        }
    }
    let mut served: BTreeSet<(String, String)> =
        ENDPOINTS.iter().map(|e| (e.method.to_string(), e.path.to_string())).collect();
    for e in ENDPOINTS {
        served.insert(("*".into(), e.path.to_string()));
    }
    for m in ["*", "GET", "POST", "PUT", "PATCH", "DELETE"] {
        served.insert((m.into(), "*".into()));
    }
    assert_eq!(documented, served);
}

#[tokio::test]
async fn every_documented_route_is_actually_served() {
    let app = spawn_app().await;
    // Secured reads (the profile, the admin API) are called as an admin; a 401 without the token
    // proves they are secured rather than missing.
    let (_, token) = app.user_with_token("openapi_admin", &["admin"]).await;
    for e in ENDPOINTS.iter().filter(|e| e.method == "GET") {
        let (method, path) = (e.method, e.path);
        let concrete = path
            .replace("{id}", "1")
            .replace("{pid}", "1")
            .replace("{uuid}", "00000000-0000-4000-8000-000000000000")
            .replace("{file}", "large-0000000000000000.jpg");
        let url = format!("{}{}", app.address, concrete);
        let res = app.client.request(method.parse().unwrap(), &url).bearer_auth(&token).send().await.unwrap();
        if concrete == path.replace("{id}", "1") {
            assert!(res.status().is_success(), "{method} {concrete}: {}", res.status());
        } else {
            // No photo or object exists here: the handler's own 404 (or the unreachable store's
            // 503) proves the route is served; the router's fallback would say no route matches.
            let status = res.status();
            let body: serde_json::Value = res.json().await.unwrap();
            assert!([404, 503].contains(&status.as_u16()), "{method} {concrete}: {status}");
            assert_ne!(body["error"]["message"], "No route matches this path.", "{method} {concrete}");
        }
        if e.policy != Policy::Public {
            let anonymous = app.client.request(method.parse().unwrap(), &url).send().await.unwrap();
            assert_eq!(anonymous.status(), 401, "{method} {concrete} without a token");
        }
    }
    let served = app.get("/openapi.json").await;
    assert_eq!(served.headers()["content-type"], "application/json");
}
