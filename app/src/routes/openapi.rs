//! The OpenAPI 3 document (app/openapi.json), served as written.
use actix_web::{web, HttpResponse};

use super::method_not_allowed;

pub const DOCUMENT: &str = include_str!("../../openapi.json");

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/openapi.json").route(web::get().to(document)).default_service(method_not_allowed(&["GET"])),
    );
}

async fn document() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(DOCUMENT)
}
