//! `/api/estates/` (filters: name prefix, minhot/maxhot, dist; ordering) and `/api/estates/{id}/` (cached).
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::pages::{cached_page_response, json_bytes};
use super::params::path_id;
use super::preconditions::{precondition, versioned};
use crate::cache::{encode, keys};
use crate::domain::estates::EstateFields;
use crate::domain::filters::EstateFilter;
use crate::domain::query::QueryMap;
use crate::domain::writes::etag;
use crate::error::ApiError;
use crate::list_cache::Listing;
use crate::service;
use crate::state::AppState;
use crate::storage::estates;

pub(super) async fn list(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let q = QueryMap::parse(req.query_string())?;
    let filter = EstateFilter::parse(&q)?;
    let (filter, state) = (&filter, &state);
    let page = state
        .lists
        .page(
            Listing::Estates,
            &filter.count_key(),
            &filter.page_key(),
            || estates::count(&state.db, &state.metrics, filter),
            |count: i64| async move {
                // A page past the end is an empty page, not an error; skip the query.
                if filter.page.offset() >= count.max(0) as u64 {
                    return encode(&Vec::<estates::EstateSummary>::new());
                }
                encode(&estates::list(&state.db, &state.metrics, filter).await?)
            },
        )
        .await?;
    cached_page_response(&req, state, &q, filter.page, &page)
}

pub(super) async fn detail(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "Estate")?;
    let load = || estates::detail(&state.db, &state.metrics, id);
    let bytes = state.cache.object(&keys::estate(id), "Estate", load).await?;
    // The ETag for If-Match: the cached body's version (serde skips the other fields).
    #[derive(serde::Deserialize)]
    struct Versioned {
        version: u32,
    }
    let mut res = json_bytes(&bytes);
    if let Ok(v) = serde_json::from_slice::<Versioned>(&bytes) {
        if let Ok(h) = actix_web::http::header::HeaderValue::from_str(&etag(v.version)) {
            res.headers_mut().insert(actix_web::http::header::ETAG, h);
        }
    }
    Ok(res)
}

pub(super) async fn create(state: web::Data<AppState>, body: web::Json<Value>) -> Result<HttpResponse, ApiError> {
    let (f, _) = EstateFields::parse(&body, true)?;
    let e = service::estates::create(&state, &f).await?;
    Ok(versioned(&e, e.version, Some(format!("/api/estates/{}/", e.id))))
}

/// PUT (`WHOLE`: every required field, an absent `intro` empties it) or PATCH (any subset).
pub(super) async fn edit<const WHOLE: bool>(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "Estate")?;
    let (f, body_version) = EstateFields::parse(&body, WHOLE)?;
    let e = service::estates::update(&state, id, &precondition(&req, body_version), &f).await?;
    Ok(versioned(&e, e.version, None))
}

pub(super) async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "Estate")?;
    service::estates::delete(&state, id, &precondition(&req, None)).await?;
    Ok(HttpResponse::NoContent().finish())
}
