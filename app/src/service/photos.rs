//! House photo writes. An upload's original goes to the object store first; then ONE transaction
//! inserts the photo row and the outbox row announcing it (the relay publishes it later), so a
//! row without a job, or a job without a row, cannot exist. The store down: 503 before any row.
//! The database down after the put: 503, and the object just written is deleted again (it stays
//! an orphan only if that delete fails too; nothing refers to it, and no job is lost).
//! Who may change a house's photos: its owner or an admin, as for an edit of the house.
use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::houses::check_owner;
use super::written;
use crate::access::Principal;
use crate::accounts::count_attempts;
use crate::domain::photos::{original_key, Sniffed};
use crate::error::ApiError;
use crate::list_cache::Listing;
use crate::objects::ObjectError;
use crate::state::AppState;
use crate::storage::photos::{self, NewPhoto, OutboxMessage, Photo};

/// The event an upload announces, and its body's schema version (rabbitmq/README.md).
pub const PHOTO_UPLOADED: &str = "photo.uploaded";
pub const SCHEMA_VERSION: u32 = 1;

pub fn store_unavailable(e: ObjectError) -> ApiError {
    tracing::warn!(error = %e, "photo store unavailable: answering 503");
    ApiError::ServiceUnavailable("The photo store is unavailable; retry shortly.".into())
}

fn too_many(max: u32) -> ApiError {
    ApiError::Conflict(format!("This house already has {max} photos; delete one first."))
}

/// Everything an upload can be refused for before its body is read: the house (404), the caller
/// (403), the house's photo count (409) and the caller's upload rate (429; the attempt counts).
pub async fn admit_upload(state: &AppState, caller: &Principal, house_id: u32) -> Result<(), ApiError> {
    check_owner(state, caller, house_id).await?;
    let p = &state.settings.photos;
    if photos::live_count(state.store(), house_id).await? >= i64::from(p.max_per_house) {
        state.metrics.photos.upload("limit");
        return Err(too_many(p.max_per_house));
    }
    let key = state.redis_key(&format!("photos:uploads:user:{}", caller.user_id));
    if let Some((_, ttl)) = count_attempts(state, &[(key, p.uploads_per_user_per_hour, 3600)]).await? {
        state.metrics.rate_limit_rejections_total.with_label_values(&["photo_uploads"]).inc();
        state.metrics.photos.upload("rate_limited");
        return Err(ApiError::TooManyRequests {
            message: "Too many photo uploads; try again later.".into(),
            retry_after_seconds: ttl,
        });
    }
    Ok(())
}

/// Store an accepted file and queue its thumbnail job: the new photo (status "processing").
pub async fn upload(
    state: &AppState,
    caller: &Principal,
    house_id: u32,
    file: Bytes,
    image: Sniffed,
) -> Result<Photo, ApiError> {
    let uuid = uuid::Uuid::new_v4().to_string();
    let key = original_key(&uuid);
    let sha256 = hex::encode(Sha256::digest(&file));
    let bytes = file.len() as u32;
    let content_type = image.kind.content_type();
    if let Err(e) = state.objects.put(&key, file, content_type).await {
        state.metrics.photos.upload("unavailable");
        return Err(store_unavailable(e));
    }
    let photo = NewPhoto {
        uuid: &uuid,
        house_id,
        uploaded_by: caller.user_id,
        content_type,
        bytes,
        sha256: &sha256,
        width: image.width,
        height: image.height,
        original_key: &key,
    };
    let inserted = insert_with_job(state, &photo).await;
    let id = match inserted {
        Ok(id) => id,
        Err(e) => {
            if let Err(d) = state.objects.delete(&key).await {
                tracing::warn!(error = %d, object_key = %key, "upload not recorded and its object not deleted: an orphan original");
            }
            let outcome = match &e {
                ApiError::Conflict(_) => "limit",
                ApiError::NotFound(_) => "unsupported",
                _ => "unavailable",
            };
            state.metrics.photos.upload(outcome);
            return Err(e);
        }
    };
    state.metrics.photos.upload("accepted");
    photos::get(state.store(), house_id, id).await?.ok_or_else(|| ApiError::not_found("Photo"))
}

/// One transaction: the house locked (the per-house limit holds against concurrent uploads), the
/// photo row, the outbox row.
async fn insert_with_job(state: &AppState, p: &NewPhoto<'_>) -> Result<u32, ApiError> {
    let max = state.settings.photos.max_per_house;
    let mut tx = state.store().begin().await?;
    let live = photos::lock_house_and_count(&mut tx, p.house_id).await?.ok_or_else(|| ApiError::not_found("House"))?;
    if live >= i64::from(max) {
        return Err(too_many(max));
    }
    let id = photos::insert(&mut tx, p).await?;
    let payload = serde_json::json!({
        "schema_version": SCHEMA_VERSION,
        "event": PHOTO_UPLOADED,
        "photo_id": id,
        "photo_uuid": p.uuid,
        "house_id": p.house_id,
        "object_key": p.original_key,
        "occurred_at": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
    });
    let message_id = uuid::Uuid::new_v4().to_string();
    let message = OutboxMessage {
        message_id: &message_id,
        exchange: &state.settings.amqp.exchange,
        routing_key: PHOTO_UPLOADED,
        payload: &payload,
    };
    photos::enqueue(&mut tx, &message).await?;
    tx.commit("photos_upload_commit", "Failed to commit the upload").await?;
    Ok(id)
}

/// Choose (or un-choose) the house's main photo; the lists show its large size once ready.
pub async fn set_main(
    state: &AppState,
    caller: &Principal,
    house_id: u32,
    photo_id: u32,
    is_main: bool,
) -> Result<Photo, ApiError> {
    check_owner(state, caller, house_id).await?;
    let mut tx = state.store().begin().await?;
    if !photos::lock_photo(&mut tx, house_id, photo_id).await? {
        return Err(ApiError::not_found("Photo"));
    }
    photos::choose_main(&mut tx, house_id, photo_id, is_main).await?;
    photos::sync_main_photo(&mut tx, house_id).await?;
    tx.commit("photos_main_commit", "Failed to commit the main photo").await?;
    written(state, &[Listing::Houses], &[]).await;
    photos::get(state.store(), house_id, photo_id).await?.ok_or_else(|| ApiError::not_found("Photo"))
}

/// Delete the photo's row, then its objects (the original and the derived sizes).
pub async fn delete(state: &AppState, caller: &Principal, house_id: u32, photo_id: u32) -> Result<(), ApiError> {
    check_owner(state, caller, house_id).await?;
    let mut tx = state.store().begin().await?;
    let Some(objects) = photos::delete(&mut tx, house_id, photo_id).await? else {
        return Err(ApiError::not_found("Photo"));
    };
    photos::sync_main_photo(&mut tx, house_id).await?;
    tx.commit("photos_delete_commit", "Failed to commit the deletion").await?;
    written(state, &[Listing::Houses], &[]).await;
    super::delete_objects(state, &objects).await;
    Ok(())
}
