//! The worker's statements on `house_photos` and `houses`. Every state change is guarded by
//! `status = 'processing'`, so a redelivered or duplicated job changes nothing the first one did.
use anyhow::Context;
use sqlx::MySqlPool;

use crate::storage::Store;

use super::thumbnail::Rendered;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Photo {
    pub id: u32,
    pub uuid: String,
    pub house_id: u32,
    pub status: String,
    pub original_key: String,
}

pub async fn load(db: &MySqlPool, id: u32) -> anyhow::Result<Option<Photo>> {
    sqlx::query_as::<_, Photo>(
        "SELECT id, uuid, house_id, CAST(status AS CHAR) AS status, original_key FROM house_photos WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(db)
    .await
    .context("Failed to load the photo")
}

/// What [`mark_ready`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marked {
    /// The photo was still processing: it is ready now; `main_changed` when the house's
    /// `main_photo` now shows it.
    Ready { main_changed: bool },
    /// Another delivery of the same job got there first (or the photo was deleted).
    AlreadyDone,
}

/// One transaction: the photo ready with its renditions and oriented dimensions, and the house's
/// `main_photo` URL brought in step by the same function the API's photo changes use
/// ([`crate::storage::photos::sync_main_photo`]), so both agree on which photo is the main one.
pub async fn mark_ready(store: Store<'_>, photo: &Photo, r: &Rendered) -> anyhow::Result<Marked> {
    let renditions = serde_json::to_string(&r.renditions).context("Failed to encode the renditions")?;
    let mut tx = store.begin().await?;
    let done = tx
        .execute(
            "photos_mark_ready",
            sqlx::query(
                "UPDATE house_photos SET status = 'ready', renditions = ?, width = ?, height = ?, \
                 failure_reason = NULL, updated_at = NOW(6) WHERE id = ? AND status = 'processing'",
            )
            .bind(&renditions)
            .bind(r.width)
            .bind(r.height)
            .bind(photo.id),
        )
        .await
        .context("Failed to mark the photo ready")?;
    if done.rows_affected() == 0 {
        return Ok(Marked::AlreadyDone);
    }
    let main_changed = crate::storage::photos::sync_main_photo(&mut tx, photo.house_id).await?;
    tx.commit("photos_mark_ready_commit", "Failed to commit the ready photo").await?;
    Ok(Marked::Ready { main_changed })
}

/// Failed for good, with a short reason; false when it was no longer processing.
pub async fn mark_failed(db: &MySqlPool, id: u32, reason: &str) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "UPDATE house_photos SET status = 'failed', failure_reason = ?, updated_at = NOW(6) \
         WHERE id = ? AND status = 'processing'",
    )
    .bind(reason)
    .bind(id)
    .execute(db)
    .await
    .context("Failed to mark the photo failed")?;
    Ok(done.rows_affected() > 0)
}

/// One more failed attempt on the row (what the API can show while it retries).
pub async fn count_attempt(db: &MySqlPool, id: u32, reason: &str) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE house_photos SET attempts = attempts + 1, failure_reason = ?, updated_at = NOW(6) \
         WHERE id = ? AND status = 'processing'",
    )
    .bind(reason)
    .bind(id)
    .execute(db)
    .await
    .context("Failed to count the attempt")?;
    Ok(())
}

/// An operator replayed the job: a photo the worker had given up on is processed again.
pub async fn retry_failed(db: &MySqlPool, id: u32) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "UPDATE house_photos SET status = 'processing', attempts = 0, failure_reason = NULL, updated_at = NOW(6) \
         WHERE id = ? AND status = 'failed'",
    )
    .bind(id)
    .execute(db)
    .await
    .context("Failed to take the photo back to processing")?;
    Ok(done.rows_affected() > 0)
}
