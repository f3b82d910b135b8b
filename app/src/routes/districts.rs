//! `/api/districts/`, `/api/districts/{id}/`, `/api/hot-cities/` (cached: cache-aside, two tiers).
use actix_web::{web, HttpRequest, HttpResponse};

use super::pages::{json_bytes, page_response, Counted};
use super::params::path_id;
use crate::cache::{decode, encode, keys};
use crate::domain::pagination::PageRequest;
use crate::domain::query::QueryMap;
use crate::error::ApiError;
use crate::state::AppState;
use crate::storage::districts::{self, DistrictList, DistrictSummary};

pub(super) async fn list(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    cached_page(&state, &req, DistrictList::Provinces, keys::provinces_page).await
}

pub(super) async fn detail(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "District")?;
    let load = || districts::detail(&state.db, &state.metrics, id);
    let bytes = state.cache.object(&keys::district(id), "District", load).await?;
    Ok(json_bytes(&bytes))
}

pub(super) async fn hot_cities(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    cached_page(&state, &req, DistrictList::HotCities, keys::hot_cities_page).await
}

/// A page of a district list through the cache (`key` names the page).
async fn cached_page(
    state: &AppState,
    req: &HttpRequest,
    list: DistrictList,
    key: fn(PageRequest) -> String,
) -> Result<HttpResponse, ApiError> {
    let q = QueryMap::parse(req.query_string())?;
    let page = PageRequest::parse(&q)?;
    let bytes = state
        .cache
        .get_or_load(&key(page), || async {
            let (count, results) = districts::page(&state.db, &state.metrics, list, page.size, page.offset()).await?;
            encode(&Counted { count, results }).map(Some)
        })
        .await?
        .ok_or_else(|| ApiError::not_found("Page"))?;
    let counted: Counted<DistrictSummary> = decode(&bytes)?;
    Ok(page_response(req, state, &q, page, counted))
}
