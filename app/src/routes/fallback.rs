//! What the router answers when no operation matches: 405 with `Allow` for a known path,
//! Django's APPEND_SLASH redirect, or a JSON 404.
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::error::ApiError;

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
