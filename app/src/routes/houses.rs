//! `/api/houses/` (filters; page-number or keyset `cursor` pagination) and `/api/houses/{id}/`.
use actix_web::{web, HttpRequest, HttpResponse};

use super::{base_url, method_not_allowed, page_response, Counted};
use crate::domain::filters::{HouseFilter, HousePaging};
use crate::domain::pagination::{Cursor, CursorPage};
use crate::domain::query::{path_id, QueryMap};
use crate::error::ApiError;
use crate::state::AppState;
use crate::storage::houses;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/houses/").route(web::get().to(list)).default_service(method_not_allowed(&["GET"])))
        .service(
            web::resource("/api/houses/{id}/")
                .route(web::get().to(detail))
                .default_service(method_not_allowed(&["GET"])),
        );
}

async fn list(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let q = QueryMap::parse(req.query_string())?;
    let filter = HouseFilter::parse(&q)?;
    match filter.paging {
        HousePaging::Page(page) => {
            let count = houses::count(&state.db, &state.metrics, &filter).await?;
            // A page past the end is an empty page, not an error; skip the query.
            let results = if page.offset() >= count.max(0) as u64 {
                Vec::new()
            } else {
                houses::list(&state.db, &state.metrics, &filter).await?
            };
            Ok(page_response(&req, &state, &q, page, Counted { count, results }))
        }
        HousePaging::Cursor { size, .. } => {
            let results = houses::list(&state.db, &state.metrics, &filter).await?;
            let next = if results.len() as u64 == size {
                results.last().map(|last| {
                    let c = Cursor {
                        o: filter.ordering_name.clone(),
                        k: houses::sort_key(last, filter.ordering.column),
                        i: last.id,
                    };
                    format!("{}?{}", base_url(&req, &state), q.with("cursor", Some(c.encode())))
                })
            } else {
                None
            };
            Ok(HttpResponse::Ok().json(CursorPage { next, previous: None, results }))
        }
    }
}

async fn detail(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "House")?;
    let house = houses::detail(&state.db, &state.metrics, id).await?.ok_or_else(|| ApiError::not_found("House"))?;
    Ok(HttpResponse::Ok().json(house))
}
