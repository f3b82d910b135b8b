//! `/api/houses/` (filters; page-number or keyset `cursor` pagination) and `/api/houses/{id}/`.
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::pages::{base_url, cached_page_response};
use super::params::path_id;
use super::preconditions::{precondition, versioned};
use crate::access::Principal;
use crate::cache::encode;
use crate::domain::filters::{HouseFilter, HousePaging};
use crate::domain::houses::HouseFields;
use crate::domain::pagination::{Cursor, CursorPage};
use crate::domain::query::QueryMap;
use crate::error::ApiError;
use crate::list_cache::Listing;
use crate::service;
use crate::state::AppState;
use crate::storage::houses;
use crate::storage::search::{self, TitlePlan};
use crate::storage::title_index;

pub(super) async fn list(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let q = QueryMap::parse(req.query_string())?;
    let depth = state.settings.lists.max_page_depth;
    let filter = HouseFilter::parse(&q, depth)?;
    // How a title is looked up, decided once per request and only when a query runs: from the
    // replica's in-memory index (count and page ids at once), else the n-gram table's plan.
    let lookup = tokio::sync::OnceCell::new();
    let title = || async {
        lookup
            .get_or_try_init(|| async {
                let Some(t) = &filter.title else { return Ok(Title::Db(TitlePlan::default())) };
                if let Some(found) = state.titles.search(&state.db, &state.metrics, &filter, depth).await? {
                    return Ok::<_, ApiError>(Title::Memory(found));
                }
                Ok(Title::Db(search::plan(&state.db, &state.metrics, t).await?))
            })
            .await
    };
    match filter.paging {
        HousePaging::Page(page) => {
            let (filter, state, title) = (&filter, &state, &title);
            let cached = state
                .lists
                .page(
                    Listing::Houses,
                    &filter.count_key(),
                    &filter.page_key(),
                    || async move {
                        match title().await? {
                            Title::Memory(found) => Ok(found.count),
                            Title::Db(plan) => houses::count(&state.db, &state.metrics, filter, plan, depth).await,
                        }
                    },
                    |count: i64| async move {
                        // A page past the end is an empty page, not an error; skip the query.
                        if page.offset() >= count.max(0) as u64 {
                            return encode(&Vec::<houses::HouseSummary>::new());
                        }
                        encode(&rows(state, filter, title().await?).await?)
                    },
                )
                .await?;
            cached_page_response(&req, state, &q, page, &cached)
        }
        HousePaging::Cursor { ref after, size } => {
            let mut results = rows(&state, &filter, title().await?).await?;
            let more = results.len() as u64 > size;
            results.truncate(size as usize);
            let backwards = after.as_ref().is_some_and(|c| c.r);
            if backwards {
                results.reverse();
            }
            // As DRF's CursorPagination: forwards, a next link when a row lies beyond the page and
            // a previous link when the page started after a row; backwards, the mirror image.
            let (has_next, has_previous) = if backwards { (true, more) } else { (more, after.is_some()) };
            let base = base_url(&req, &state);
            let link = |row: Option<&houses::HouseSummary>, r: bool| {
                row.map(|h| {
                    let c = Cursor {
                        o: filter.ordering_name.clone(),
                        k: houses::sort_key(h, filter.ordering.column),
                        i: h.id,
                        r,
                    };
                    format!("{base}?{}", q.with("cursor", Some(c.encode())))
                })
            };
            let next = if has_next { link(results.last(), false) } else { None };
            let previous = if has_previous { link(results.first(), true) } else { None };
            Ok(HttpResponse::Ok().json(CursorPage { next, previous, results }))
        }
    }
}

/// How this request's title is looked up (see `list`).
enum Title {
    Memory(title_index::Found),
    Db(TitlePlan),
}

/// The page's rows, in the order read.
async fn rows(state: &AppState, f: &HouseFilter, title: &Title) -> Result<Vec<houses::HouseSummary>, ApiError> {
    match title {
        Title::Memory(found) => houses::by_ids(&state.db, &state.metrics, &found.ids).await,
        Title::Db(plan) => houses::list(&state.db, &state.metrics, f, plan).await,
    }
}

pub(super) async fn detail(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "House")?;
    let house = houses::detail(&state.db, &state.metrics, id).await?.ok_or_else(|| ApiError::not_found("House"))?;
    Ok(versioned(&house, house.version, None))
}

pub(super) async fn create(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let (f, _) = HouseFields::parse(&body, true)?;
    let house = service::houses::create(&state, principal.user_id, &f).await?;
    Ok(versioned(&house, house.version, Some(format!("/api/houses/{}/", house.summary.id))))
}

pub(super) async fn patch(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "House")?;
    let (f, body_version) = HouseFields::parse(&body, false)?;
    let house = service::houses::update(&state, &principal, id, &precondition(&req, body_version), &f).await?;
    Ok(versioned(&house, house.version, None))
}

pub(super) async fn delete(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "House")?;
    service::houses::delete(&state, &principal, id, &precondition(&req, None)).await?;
    Ok(HttpResponse::NoContent().finish())
}
