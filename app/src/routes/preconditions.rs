//! HTTP preconditions of conditional writes: the `ETag` a versioned object is answered with, and
//! the `If-Match` header read back from the request, kept with the body's `version` for the write
//! to resolve (`domain::writes::Precondition`).
use actix_web::http::header::IF_MATCH;
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use crate::domain::writes::{etag, Precondition};

/// A versioned object (200, or 201 with its `Location` when `created_at` names it) with the
/// `ETag` of its version.
pub fn versioned<T: Serialize>(object: &T, version: u32, created_at: Option<String>) -> HttpResponse {
    let mut res = match created_at {
        Some(location) => {
            let mut res = HttpResponse::Created();
            res.insert_header(("Location", location));
            res
        }
        None => HttpResponse::Ok(),
    };
    res.insert_header(("ETag", etag(version))).json(object)
}

/// What the client expects the row's version to be, from `If-Match` or the body's `version`.
pub fn precondition(req: &HttpRequest, body_version: Option<u64>) -> Precondition {
    let if_match = req.headers().get(IF_MATCH).map(|h| h.to_str().unwrap_or("").to_string());
    Precondition { if_match, body_version }
}
