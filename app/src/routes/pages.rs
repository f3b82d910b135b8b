//! DRF page responses: `{count, next, previous, results}` with absolute links built from the
//! request, from fresh rows or from a cached, already serialized page.
use actix_web::{HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::cache::encode;
use crate::client_ip::external_origin;
use crate::domain::pagination::{links, Page, PageRequest};
use crate::domain::query::QueryMap;
use crate::error::ApiError;
use crate::state::AppState;

/// A page as stored in the cache: everything but the request-dependent links.
#[derive(Serialize, Deserialize)]
pub struct Counted<T> {
    pub count: i64,
    pub results: Vec<T>,
}

/// The absolute URL of this request's path, as the client addressed it.
pub fn base_url(req: &HttpRequest, state: &AppState) -> String {
    format!("{}{}", external_origin(req, &state.settings.application.trusted_proxies), req.path())
}

/// A DRF page response with absolute next/previous links.
pub fn page_response<T: Serialize>(
    req: &HttpRequest,
    state: &AppState,
    q: &QueryMap,
    page: PageRequest,
    counted: Counted<T>,
) -> HttpResponse {
    let (next, previous) = links(&base_url(req, state), q, page, counted.count);
    HttpResponse::Ok().json(Page { count: counted.count, next, previous, results: counted.results })
}

/// A DRF page response around cached, already serialized results: the same bytes as
/// [`page_response`] (serde writes the fields in declaration order, compact), without
/// re-serializing the rows.
pub fn cached_page_response(
    req: &HttpRequest,
    state: &AppState,
    q: &QueryMap,
    page: PageRequest,
    cached: &crate::list_cache::CachedPage,
) -> Result<HttpResponse, ApiError> {
    let (next, previous) = links(&base_url(req, state), q, page, cached.count);
    let mut body = Vec::with_capacity(cached.results.len() + 256);
    body.extend_from_slice(format!("{{\"count\":{},\"next\":", cached.count).as_bytes());
    body.extend_from_slice(&encode(&next)?);
    body.extend_from_slice(b",\"previous\":");
    body.extend_from_slice(&encode(&previous)?);
    body.extend_from_slice(b",\"results\":");
    body.extend_from_slice(&cached.results);
    body.push(b'}');
    Ok(HttpResponse::Ok().content_type("application/json").body(body))
}

/// Cached bytes are already the JSON body.
pub fn json_bytes(bytes: &[u8]) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(bytes.to_vec())
}
