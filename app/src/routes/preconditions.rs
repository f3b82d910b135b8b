//! HTTP preconditions of conditional writes: the `If-Match` header read from the request, kept
//! with the body's `version` for the write to resolve (`domain::writes::Precondition`).
use actix_web::http::header::IF_MATCH;
use actix_web::HttpRequest;

use crate::domain::writes::Precondition;

/// What the client expects the row's version to be, from `If-Match` or the body's `version`.
pub fn precondition(req: &HttpRequest, body_version: Option<u64>) -> Precondition {
    let if_match = req.headers().get(IF_MATCH).map(|h| h.to_str().unwrap_or("").to_string());
    Precondition { if_match, body_version }
}
