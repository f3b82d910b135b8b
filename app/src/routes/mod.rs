//! HTTP routes: one module of handlers per resource, mounted from the route table (`table`).
pub mod accounts;
pub mod admin;
pub mod districts;
pub mod estates;
pub mod health;
pub mod houses;
pub mod openapi;
pub mod table;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::client_ip::external_origin;
use crate::domain::pagination::{links, Page, PageRequest};
use crate::domain::query::QueryMap;
use crate::error::ApiError;
use crate::state::AppState;

/// Mounts every operation of the route table.
pub fn config(cfg: &mut web::ServiceConfig) {
    table::config(cfg);
}

/// A resource's fallback: the method is not one of `allowed` -> 405 with an `Allow` header.
pub fn method_not_allowed(allowed: Vec<&'static str>) -> actix_web::Route {
    web::to(move |req: HttpRequest| {
        let allowed = allowed.clone();
        async move {
            Err::<HttpResponse, ApiError>(ApiError::MethodNotAllowed { method: req.method().to_string(), allowed })
        }
    })
}

/// Unknown routes: like Django's APPEND_SLASH, a GET without the trailing slash is redirected
/// when the slashed path exists; anything else is a JSON 404.
pub async fn fallback(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let path = req.path();
    if (req.method() == actix_web::http::Method::GET || req.method() == actix_web::http::Method::HEAD)
        && !path.ends_with('/')
        && req.resource_map().has_resource(&format!("{path}/"))
    {
        let mut location = format!("{path}/");
        if !req.query_string().is_empty() {
            location = format!("{location}?{}", req.query_string());
        }
        return Ok(HttpResponse::MovedPermanently().insert_header((header::LOCATION, location)).finish());
    }
    Err(ApiError::NotFound("No route matches this path.".into()))
}

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

/// Decode a cached value; a value that no longer decodes is treated as an internal error.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("Failed to decode a cached value")))
}

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value)
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("Failed to encode a value for the cache")))
}

/// Cached bytes are already the JSON body.
pub fn json_bytes(bytes: &[u8]) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(bytes.to_vec())
}
