//! `/api/estates/` (filters: name prefix, minhot/maxhot, dist; ordering) and `/api/estates/{id}/` (cached).
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::pages::{cached_page_response, json_bytes};
use super::preconditions::expected_version;
use crate::cache::{encode, keys};
use crate::domain::filters::EstateFilter;
use crate::domain::query::{path_id, QueryMap};
use crate::domain::writes::{etag, Body};
use crate::error::ApiError;
use crate::list_cache::Listing;
use crate::state::AppState;
use crate::storage::estates;
use crate::storage::writes::{self, EstateFields};

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
            |count| async move {
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
    let bytes = state
        .cache
        .get_or_load(&keys::estate(id), || async {
            match estates::detail(&state.db, &state.metrics, id).await? {
                Some(e) => encode(&e).map(Some),
                None => Ok(None),
            }
        })
        .await?
        .ok_or_else(|| ApiError::not_found("Estate"))?;
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

const ESTATE_FIELDS: &[&str] = &["name", "district_id", "intro", "version"];

/// `all`: POST and PUT need every required field; PATCH any non-empty subset.
fn estate_fields(v: &Value, all: bool) -> Result<(EstateFields, Option<u64>), ApiError> {
    let mut b = Body::new(v, ESTATE_FIELDS)?;
    let f = EstateFields {
        name: b.text("name", all, 1, 255),
        district_id: b.id("district_id", all),
        intro: b.text("intro", false, 0, 1024),
    };
    let version = b.uint("version", false, 1, u32::MAX as u64);
    if !all && f.name.is_none() && f.district_id.is_none() && f.intro.is_none() && b.errors.is_empty() {
        b.error("non_field_errors", "Nothing to change.");
    }
    b.finish()?;
    Ok((f, version))
}

async fn fresh(state: &AppState, id: u32) -> Result<HttpResponse, ApiError> {
    let e = estates::detail(&state.db, &state.metrics, id).await?.ok_or_else(|| ApiError::not_found("Estate"))?;
    Ok(HttpResponse::Ok().insert_header(("ETag", etag(e.version))).json(e))
}

pub(super) async fn create(state: web::Data<AppState>, body: web::Json<Value>) -> Result<HttpResponse, ApiError> {
    let (f, _) = estate_fields(&body, true)?;
    let id = writes::create_estate(&state, &f).await?;
    let e = estates::detail(&state.db, &state.metrics, id).await?.ok_or_else(|| ApiError::not_found("Estate"))?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/estates/{id}/")))
        .insert_header(("ETag", etag(e.version)))
        .json(e))
}

async fn write(
    state: &AppState,
    req: &HttpRequest,
    id: &str,
    body: &Value,
    all: bool,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(id, "Estate")?;
    let (mut f, body_version) = estate_fields(body, all)?;
    if all && f.intro.is_none() {
        f.intro = Some(String::new());
    }
    let version = expected_version(req, body_version)?;
    writes::update_estate(state, id, version, &f).await?;
    fresh(state, id).await
}

pub(super) async fn replace(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    write(&state, &req, &path, &body, true).await
}

pub(super) async fn patch(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    write(&state, &req, &path, &body, false).await
}

pub(super) async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "Estate")?;
    let version = match expected_version(&req, None) {
        Ok(v) => Some(v),
        Err(ApiError::PreconditionRequired(_)) => None,
        Err(e) => return Err(e),
    };
    writes::delete_estate(&state, id, version).await?;
    Ok(HttpResponse::NoContent().finish())
}
