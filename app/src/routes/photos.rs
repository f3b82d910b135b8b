//! `/api/houses/{id}/photos/` (upload, list), `/api/houses/{id}/photos/{pid}/` (read, choose as
//! main, delete) and `/media/{key}` (a derived size, streamed from the private bucket).
//!
//! An upload is read as it streams and refused (413) the moment it passes
//! `photos.max_upload_bytes`; what it is comes from its bytes (`domain::photos::sniff`), never
//! from the client's Content-Type or file name.
use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde_json::Value;

use super::pages::{page_response, Counted};
use super::params::path_id;
use crate::access::Principal;
use crate::domain::pagination::PageRequest;
use crate::domain::photos::{is_derived_key, parse_patch, sniff, Refusal};
use crate::domain::query::QueryMap;
use crate::error::ApiError;
use crate::objects::ObjectError;
use crate::service;
use crate::state::AppState;
use crate::storage::photos;

/// Form fields other than `file` (a client's extra fields) may total this much.
const OTHER_FIELDS_LIMIT: usize = 64 * 1024;

fn ids(path: &(String, String)) -> Result<(u32, u32), ApiError> {
    Ok((path_id(&path.0, "House")?, path_id(&path.1, "Photo")?))
}

pub(super) async fn upload(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let house_id = path_id(&path, "House")?;
    if req.content_type() != "multipart/form-data" {
        return Err(ApiError::UnsupportedMediaType(
            "Content-Type must be multipart/form-data with the image in the field \"file\".".into(),
        ));
    }
    service::photos::admit_upload(&state, &principal, house_id).await?;
    let max = state.settings.photos.max_upload_bytes;
    let file = match read_file(Multipart::new(req.headers(), payload), max).await {
        Ok(file) => file,
        Err(e) => {
            if matches!(e, ApiError::PayloadTooLarge { .. }) {
                state.metrics.photos.upload("too_large");
            }
            return Err(e);
        }
    };
    let image = sniff(&file, state.settings.photos.max_pixels).map_err(|r| {
        let outcome = match r {
            Refusal::Unsupported(_) => "unsupported",
            Refusal::TooManyPixels { .. } => "too_many_pixels",
        };
        state.metrics.photos.upload(outcome);
        match r {
            Refusal::Unsupported(_) => ApiError::UnsupportedMediaType(r.message()),
            Refusal::TooManyPixels { .. } => ApiError::field("file", r.message()),
        }
    })?;
    let photo = service::photos::upload(&state, &principal, house_id, file, image).await?;
    Ok(HttpResponse::Accepted()
        .insert_header((header::LOCATION, format!("/api/houses/{house_id}/photos/{}/", photo.id)))
        .json(photo))
}

/// The `file` field's bytes, counted as they arrive.
async fn read_file(mut form: Multipart, max: usize) -> Result<Bytes, ApiError> {
    let malformed = |e: actix_multipart::MultipartError| ApiError::BadRequest(format!("Malformed multipart body: {e}"));
    let mut other = 0usize;
    while let Some(field) = form.next().await {
        let mut field = field.map_err(malformed)?;
        let is_file = field.name() == Some("file");
        let mut buf = BytesMut::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(malformed)?;
            if is_file {
                if buf.len() + chunk.len() > max {
                    drop(buf);
                    discard_rest(field, form, max).await;
                    return Err(ApiError::PayloadTooLarge { limit: max });
                }
                buf.extend_from_slice(&chunk);
            } else {
                other += chunk.len();
                if other > OTHER_FIELDS_LIMIT {
                    return Err(ApiError::PayloadTooLarge { limit: OTHER_FIELDS_LIMIT });
                }
            }
        }
        if is_file {
            return Ok(buf.freeze());
        }
    }
    Err(ApiError::field("file", "This field is required: the image, as a multipart/form-data file field."))
}

/// Read and drop what is left of a refused upload, up to `max` more bytes, so the client (still
/// sending) reads the 413 instead of a connection reset; nothing is kept. Beyond that the
/// connection is closed after the answer.
async fn discard_rest(mut field: actix_multipart::Field, mut form: Multipart, max: usize) {
    let mut discarded = 0usize;
    while let Some(Ok(chunk)) = field.next().await {
        discarded += chunk.len();
        if discarded > max {
            return;
        }
    }
    drop(field);
    while let Some(Ok(mut f)) = form.next().await {
        while let Some(Ok(chunk)) = f.next().await {
            discarded += chunk.len();
            if discarded > max {
                return;
            }
        }
    }
}

pub(super) async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let house_id = path_id(&path, "House")?;
    let q = QueryMap::parse(req.query_string())?;
    let page = PageRequest::parse(&q)?;
    if !photos::house_exists(state.store(), house_id).await? {
        return Err(ApiError::not_found("House"));
    }
    let count = photos::count(state.store(), house_id).await?;
    let results = photos::list(state.store(), house_id, page.size, page.offset()).await?;
    Ok(page_response(&req, &state, &q, page, Counted { count, results }))
}

pub(super) async fn detail(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (house_id, photo_id) = ids(&path)?;
    let photo = photos::get(state.store(), house_id, photo_id).await?.ok_or_else(|| ApiError::not_found("Photo"))?;
    Ok(HttpResponse::Ok().json(photo))
}

pub(super) async fn patch(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    path: web::Path<(String, String)>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let (house_id, photo_id) = ids(&path)?;
    let is_main = parse_patch(&body)?;
    let photo = service::photos::set_main(&state, &principal, house_id, photo_id, is_main).await?;
    Ok(HttpResponse::Ok().json(photo))
}

pub(super) async fn delete(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (house_id, photo_id) = ids(&path)?;
    service::photos::delete(&state, &principal, house_id, photo_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A derived size, streamed from the bucket. Only keys of the contract's `derived/` pattern are
/// served (originals may carry EXIF/GPS: never); a key never changes content, so it is cached
/// for a year. Nothing about the store (its name, host, errors) reaches the client.
pub(super) async fn media(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let key = format!("derived/{}/{}", path.0, path.1);
    if !is_derived_key(&key) {
        return Err(ApiError::not_found("Media"));
    }
    let object = match state.objects.get_stream(&key).await {
        Ok(o) => o,
        Err(ObjectError::NotFound) => return Err(ApiError::not_found("Media")),
        Err(e) => return Err(service::photos::store_unavailable(e)),
    };
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // Every derived size is a JPEG (the key says .jpg); the store's own type is not trusted.
        .content_type("image/jpeg");
    if let Some(etag) = &object.meta.etag {
        if req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
            return Ok(HttpResponse::NotModified()
                .insert_header((header::ETAG, etag.clone()))
                .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
                .finish());
        }
        res.insert_header((header::ETAG, etag.clone()));
    }
    let body = object.body.map(|chunk| chunk.map_err(|e| actix_web::error::ErrorServiceUnavailable(e.to_string())));
    if object.meta.size > 0 {
        res.no_chunking(object.meta.size);
    }
    Ok(res.streaming(body))
}
