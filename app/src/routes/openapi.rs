//! The OpenAPI 3 document (app/openapi.json), served as written.
use actix_web::HttpResponse;

pub const DOCUMENT: &str = include_str!("../../openapi.json");

pub(super) async fn document() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(DOCUMENT)
}
