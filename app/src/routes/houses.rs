//! `/api/houses/` (filters; page-number or keyset `cursor` pagination) and `/api/houses/{id}/`.
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::pages::{base_url, cached_page_response};
use super::preconditions::expected_version;
use crate::access::Principal;
use crate::cache::encode;
use crate::domain::filters::{HouseFilter, HousePaging};
use crate::domain::pagination::{Cursor, CursorPage};
use crate::domain::query::{path_id, QueryMap};
use crate::domain::writes::{etag, Body};
use crate::error::ApiError;
use crate::list_cache::Listing;
use crate::state::AppState;
use crate::storage::houses;
use crate::storage::search::{self, TitlePlan};
use crate::storage::writes::{self, HouseFields};

pub(super) async fn list(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let q = QueryMap::parse(req.query_string())?;
    let depth = state.settings.lists.max_page_depth;
    let filter = HouseFilter::parse(&q, depth)?;
    // How a title is looked up, decided once per request and only when a query runs.
    let plan = tokio::sync::OnceCell::new();
    let title_plan = || async {
        match &filter.title {
            Some(t) => plan.get_or_try_init(|| search::plan(&state.db, &state.metrics, t)).await.cloned(),
            None => Ok(TitlePlan::default()),
        }
    };
    match filter.paging {
        HousePaging::Page(page) => {
            let (filter, state, title_plan) = (&filter, &state, &title_plan);
            let cached =
                state
                    .lists
                    .page(
                        Listing::Houses,
                        &filter.count_key(),
                        &filter.page_key(),
                        || async move {
                            houses::count(&state.db, &state.metrics, filter, &title_plan().await?, depth).await
                        },
                        |count| async move {
                            // A page past the end is an empty page, not an error; skip the query.
                            if page.offset() >= count.max(0) as u64 {
                                return encode(&Vec::<houses::HouseSummary>::new());
                            }
                            encode(&houses::list(&state.db, &state.metrics, filter, &title_plan().await?).await?)
                        },
                    )
                    .await?;
            cached_page_response(&req, state, &q, page, &cached)
        }
        HousePaging::Cursor { ref after, size } => {
            let mut results = houses::list(&state.db, &state.metrics, &filter, &title_plan().await?).await?;
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

pub(super) async fn detail(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "House")?;
    let house = houses::detail(&state.db, &state.metrics, id).await?.ok_or_else(|| ApiError::not_found("House"))?;
    Ok(HttpResponse::Ok().insert_header(("ETag", etag(house.version))).json(house))
}

const HOUSE_FIELDS: &[&str] = &[
    "title",
    "area",
    "floor",
    "total_floor",
    "direction",
    "price",
    "type_id",
    "estate_id",
    "detail",
    "street",
    "main_photo",
    "has_agent_fees",
    "tags",
    "version",
];

/// `create`: the required fields must be there; otherwise (PATCH) any non-empty subset.
fn house_fields(v: &Value, create: bool) -> Result<(HouseFields, Option<u64>), ApiError> {
    let mut b = Body::new(v, HOUSE_FIELDS)?;
    let f = HouseFields {
        title: b.text("title", create, 1, 100),
        area: b.uint("area", create, 1, 100_000),
        floor: b.uint("floor", create, 0, 300),
        total_floor: b.uint("total_floor", create, 1, 300),
        direction: b.text("direction", create, 1, 16),
        price: b.uint("price", create, 0, 100_000_000),
        type_id: b.id("type_id", create),
        estate_id: if create { b.id("estate_id", true) } else { None },
        detail: b.text("detail", false, 0, 2048),
        street: b.text("street", false, 0, 255),
        main_photo: b.text("main_photo", false, 0, 255),
        has_agent_fees: b.boolean("has_agent_fees"),
        tags: if create { b.ids("tags") } else { None },
    };
    if !create {
        for moved in ["estate_id", "tags"] {
            if v.get(moved).is_some() {
                b.error(moved, "Cannot be changed here.");
            }
        }
    }
    // Rendered as a link or an image source by clients: only web URLs (no javascript:, data:).
    if let Some(url) = f.main_photo.as_deref().filter(|u| !u.is_empty()) {
        let lower = url.to_ascii_lowercase();
        if !(lower.starts_with("https://") || lower.starts_with("http://")) || url.chars().any(char::is_whitespace) {
            b.error("main_photo", "Must be an http:// or https:// URL.");
        }
    }
    if let (Some(fl), Some(total)) = (f.floor, f.total_floor) {
        if fl > total {
            b.error("floor", "Must not exceed total_floor.");
        }
    }
    let version = b.uint("version", false, 1, u32::MAX as u64);
    b.finish()?;
    Ok((f, version))
}

async fn respond(state: &AppState, id: u32, created: bool) -> Result<HttpResponse, ApiError> {
    let house = houses::detail(&state.db, &state.metrics, id).await?.ok_or_else(|| ApiError::not_found("House"))?;
    let mut res = if created { HttpResponse::Created() } else { HttpResponse::Ok() };
    if created {
        res.insert_header(("Location", format!("/api/houses/{id}/")));
    }
    Ok(res.insert_header(("ETag", etag(house.version))).json(house))
}

pub(super) async fn create(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let (f, _) = house_fields(&body, true)?;
    let id = writes::create_house(&state, principal.user_id, &f).await?;
    respond(&state, id, true).await
}

/// Owners edit their own houses; admins any. Agents calling on someone else's house get 403.
async fn check_owner(state: &AppState, principal: &Principal, id: u32) -> Result<(), ApiError> {
    let owner = writes::house_owner(state, id).await?;
    if principal.is_admin() || owner == Some(principal.user_id) {
        Ok(())
    } else {
        Err(ApiError::Forbidden("Only the house's owner (or an admin) may change it.".into()))
    }
}

pub(super) async fn patch(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "House")?;
    let (f, body_version) = house_fields(&body, false)?;
    check_owner(&state, &principal, id).await?;
    let version = expected_version(&req, body_version)?;
    writes::update_house(&state, id, version, &f).await?;
    respond(&state, id, false).await
}

pub(super) async fn delete(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "House")?;
    check_owner(&state, &principal, id).await?;
    let version = match expected_version(&req, None) {
        Ok(v) => Some(v),
        Err(ApiError::PreconditionRequired(_)) => None,
        Err(e) => return Err(e),
    };
    writes::delete_house(&state, id, version).await?;
    Ok(HttpResponse::NoContent().finish())
}
