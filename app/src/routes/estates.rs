//! `/api/estates/` (filters: name prefix, minhot/maxhot, dist; ordering) and `/api/estates/{id}/` (cached).
use actix_web::{web, HttpRequest, HttpResponse};

use super::{encode, json_bytes, method_not_allowed, page_response, Counted};
use crate::domain::filters::EstateFilter;
use crate::domain::query::{path_id, QueryMap};
use crate::error::ApiError;
use crate::state::AppState;
use crate::storage::estates;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/estates/").route(web::get().to(list)).default_service(method_not_allowed(&["GET"])),
    )
    .service(
        web::resource("/api/estates/{id}/").route(web::get().to(detail)).default_service(method_not_allowed(&["GET"])),
    );
}

pub fn detail_key(id: u32) -> String {
    format!("estates:{id}")
}

async fn list(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let q = QueryMap::parse(req.query_string())?;
    let filter = EstateFilter::parse(&q)?;
    let (count, results) = estates::list(&state.db, &state.metrics, &filter).await?;
    Ok(page_response(&req, &state, &q, filter.page, Counted { count, results }))
}

async fn detail(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "Estate")?;
    let bytes = state
        .cache
        .get_or_load(&detail_key(id), || async {
            match estates::detail(&state.db, &state.metrics, id).await? {
                Some(e) => encode(&e).map(Some),
                None => Ok(None),
            }
        })
        .await?
        .ok_or_else(|| ApiError::not_found("Estate"))?;
    Ok(json_bytes(&bytes))
}
