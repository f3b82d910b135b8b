//! HTTP preconditions of conditional writes: the `If-Match` header read from the request and
//! handed to the domain rule (`domain::writes::expected_version`).
use actix_web::http::header::IF_MATCH;
use actix_web::HttpRequest;

use crate::domain::writes;
use crate::error::ApiError;

/// The version a write expects, from `If-Match` or the body's `version`.
pub fn expected_version(req: &HttpRequest, body_version: Option<u64>) -> Result<u32, ApiError> {
    let if_match = req.headers().get(IF_MATCH).map(|h| h.to_str().unwrap_or(""));
    writes::expected_version(if_match, body_version)
}
