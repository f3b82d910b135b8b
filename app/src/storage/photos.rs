//! House photos and the outbox row announcing each upload: the reads of the photo routes and the
//! house detail, and the writes, each inside the transaction `service::photos` opens.
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::{iso, Store, Tx};
use crate::error::{ApiError, ResultExt};

/// A derived size as the worker records it in `house_photos.renditions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rendition {
    pub name: String,
    pub key: String,
    #[serde(default)]
    pub width: u32,
    #[serde(default)]
    pub height: u32,
}

/// The URLs of a ready photo's sizes (`/media/{key}`).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct PhotoUrls {
    pub large: Option<String>,
    pub small: Option<String>,
}

/// A photo as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Photo {
    pub id: u32,
    pub house_id: u32,
    pub status: String,
    pub content_type: String,
    pub bytes: u32,
    pub width: u32,
    pub height: u32,
    pub is_main: bool,
    /// The sizes' URLs once the photo is ready, else null.
    pub urls: Option<PhotoUrls>,
    pub failure_reason: Option<String>,
    #[serde(with = "iso")]
    pub created_at: NaiveDateTime,
}

#[derive(sqlx::FromRow)]
struct PhotoRow {
    id: u32,
    house_id: u32,
    status: String,
    content_type: String,
    bytes: u32,
    width: u32,
    height: u32,
    is_main: i64,
    renditions: Option<String>,
    failure_reason: Option<String>,
    created_at: NaiveDateTime,
}

const COLUMNS: &str = "p.id, p.house_id, CAST(p.status AS CHAR) AS status, p.content_type, p.bytes, p.width, \
     p.height, (h.main_photo_id <=> p.id) AS is_main, CAST(p.renditions AS CHAR) AS renditions, p.failure_reason, \
     p.created_at";

fn renditions(raw: &Option<String>) -> Vec<Rendition> {
    raw.as_deref().and_then(|r| serde_json::from_str(r).ok()).unwrap_or_default()
}

/// The `/media/` URL of an object key.
pub fn media_url(key: &str) -> String {
    format!("/media/{key}")
}

impl PhotoRow {
    fn into_photo(self) -> Photo {
        let urls = (self.status == "ready").then(|| {
            let r = renditions(&self.renditions);
            let url = |name: &str| r.iter().find(|x| x.name == name).map(|x| media_url(&x.key));
            PhotoUrls { large: url("large"), small: url("small") }
        });
        Photo {
            id: self.id,
            house_id: self.house_id,
            status: self.status,
            content_type: self.content_type,
            bytes: self.bytes,
            width: self.width,
            height: self.height,
            is_main: self.is_main == 1,
            urls,
            failure_reason: self.failure_reason,
            created_at: self.created_at,
        }
    }
}

/// A house's photos, oldest first (`limit`/`offset`: one page).
pub async fn list(store: Store<'_>, house_id: u32, limit: u64, offset: u64) -> Result<Vec<Photo>, ApiError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM house_photos p JOIN houses h ON h.id = p.house_id \
         WHERE p.house_id = ? ORDER BY p.id LIMIT ? OFFSET ?"
    );
    let rows: Vec<PhotoRow> = store
        .time("photos_list", sqlx::query_as(&sql).bind(house_id).bind(limit).bind(offset).fetch_all(store.pool))
        .await
        .context_api("Failed to fetch the house's photos")?;
    Ok(rows.into_iter().map(PhotoRow::into_photo).collect())
}

pub async fn count(store: Store<'_>, house_id: u32) -> Result<i64, ApiError> {
    store
        .time(
            "photos_count",
            sqlx::query_scalar("SELECT COUNT(*) FROM house_photos WHERE house_id = ?")
                .bind(house_id)
                .fetch_one(store.pool),
        )
        .await
        .context_api("Failed to count the house's photos")
}

/// The house's photos that count against its limit (processing and ready; failed ones do not).
pub async fn live_count(store: Store<'_>, house_id: u32) -> Result<i64, ApiError> {
    store
        .time(
            "photos_count_live",
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM house_photos WHERE house_id = ? AND status IN ('processing', 'ready')",
            )
            .bind(house_id)
            .fetch_one(store.pool),
        )
        .await
        .context_api("Failed to count the house's photos")
}

/// One photo of one house (None: no such photo on this house).
pub async fn get(store: Store<'_>, house_id: u32, photo_id: u32) -> Result<Option<Photo>, ApiError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM house_photos p JOIN houses h ON h.id = p.house_id WHERE p.house_id = ? AND p.id = ?"
    );
    let row: Option<PhotoRow> = store
        .time("photos_get", sqlx::query_as(&sql).bind(house_id).bind(photo_id).fetch_optional(store.pool))
        .await
        .context_api("Failed to fetch the photo")?;
    Ok(row.map(PhotoRow::into_photo))
}

/// Whether the house exists.
pub async fn house_exists(store: Store<'_>, house_id: u32) -> Result<bool, ApiError> {
    let found: Option<u32> = store
        .time(
            "photos_house_exists",
            sqlx::query_scalar("SELECT id FROM houses WHERE id = ?").bind(house_id).fetch_optional(store.pool),
        )
        .await
        .context_api("Failed to read the house")?;
    Ok(found.is_some())
}

/// A new upload: its row and the job announcing it.
pub struct NewPhoto<'a> {
    pub uuid: &'a str,
    pub house_id: u32,
    pub uploaded_by: u32,
    pub content_type: &'a str,
    pub bytes: u32,
    pub sha256: &'a str,
    pub width: u32,
    pub height: u32,
    pub original_key: &'a str,
}

/// An outbox row: the message the relay will publish once the transaction commits.
pub struct OutboxMessage<'a> {
    pub message_id: &'a str,
    pub exchange: &'a str,
    pub routing_key: &'a str,
    pub payload: &'a serde_json::Value,
}

/// Lock the house row and count its processing and ready photos: the per-house limit holds
/// against concurrent uploads (they queue on the lock). None: no such house.
pub async fn lock_house_and_count(tx: &mut Tx<'_>, house_id: u32) -> Result<Option<i64>, ApiError> {
    let lock = sqlx::query_as::<_, (u32,)>("SELECT id FROM houses WHERE id = ? FOR UPDATE").bind(house_id);
    if tx.row("photos_lock_house", lock).await.context_api("Failed to lock the house")?.is_none() {
        return Ok(None);
    }
    let count = sqlx::query_as::<_, (i64,)>(
        "SELECT COUNT(*) FROM house_photos WHERE house_id = ? AND status IN ('processing', 'ready')",
    )
    .bind(house_id);
    let n = tx.row("photos_count_live", count).await.context_api("Failed to count the house's photos")?;
    Ok(Some(n.map_or(0, |(n,)| n)))
}

/// Insert the photo row: its id.
pub async fn insert(tx: &mut Tx<'_>, p: &NewPhoto<'_>) -> Result<u32, ApiError> {
    let q = sqlx::query(
        "INSERT INTO house_photos (uuid, house_id, uploaded_by, status, content_type, bytes, sha256, width, height, \
         original_key, attempts, created_at, updated_at) \
         VALUES (?, ?, ?, 'processing', ?, ?, ?, ?, ?, ?, 0, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))",
    )
    .bind(p.uuid)
    .bind(p.house_id)
    .bind(p.uploaded_by)
    .bind(p.content_type)
    .bind(p.bytes)
    .bind(p.sha256)
    .bind(p.width)
    .bind(p.height)
    .bind(p.original_key);
    let res = tx.execute("photos_insert", q).await.context_api("Failed to insert the photo")?;
    Ok(res.last_insert_id() as u32)
}

/// Queue a message in the outbox (same transaction as the change it announces), due at once.
pub async fn enqueue(tx: &mut Tx<'_>, m: &OutboxMessage<'_>) -> Result<(), ApiError> {
    let q = sqlx::query(
        "INSERT INTO outbox (message_id, exchange_name, routing_key, payload, created_at, attempts, next_attempt_at) \
         VALUES (?, ?, ?, ?, UTC_TIMESTAMP(6), 0, UTC_TIMESTAMP(6))",
    )
    .bind(m.message_id)
    .bind(m.exchange)
    .bind(m.routing_key)
    .bind(m.payload.to_string());
    tx.execute("outbox_insert", q).await.context_api("Failed to queue the photo's job")?;
    Ok(())
}

/// Lock one photo of a house: false when there is no such photo.
pub async fn lock_photo(tx: &mut Tx<'_>, house_id: u32, photo_id: u32) -> Result<bool, ApiError> {
    let q = sqlx::query_as::<_, (u32,)>("SELECT id FROM house_photos WHERE house_id = ? AND id = ? FOR UPDATE")
        .bind(house_id)
        .bind(photo_id);
    Ok(tx.row("photos_lock", q).await.context_api("Failed to read the photo")?.is_some())
}

/// Make `photo_id` the house's chosen photo, or (`is_main` false) stop it being the chosen one.
pub async fn choose_main(tx: &mut Tx<'_>, house_id: u32, photo_id: u32, is_main: bool) -> Result<(), ApiError> {
    let q = if is_main {
        sqlx::query("UPDATE houses SET main_photo_id = ? WHERE id = ?").bind(photo_id).bind(house_id)
    } else {
        sqlx::query("UPDATE houses SET main_photo_id = NULL WHERE id = ? AND main_photo_id = ?")
            .bind(house_id)
            .bind(photo_id)
    };
    tx.execute("photos_choose_main", q).await.context_api("Failed to choose the main photo")?;
    Ok(())
}

/// Delete one photo of a house (its row; the chosen-photo pointer falls back to NULL): the keys
/// of the objects it had (the original first), or None when there was no such photo.
pub async fn delete(tx: &mut Tx<'_>, house_id: u32, photo_id: u32) -> Result<Option<Vec<String>>, ApiError> {
    let read = sqlx::query_as::<_, (String, Option<String>)>(
        "SELECT original_key, CAST(renditions AS CHAR) FROM house_photos WHERE house_id = ? AND id = ? FOR UPDATE",
    )
    .bind(house_id)
    .bind(photo_id);
    let Some((original_key, raw)) =
        tx.row("photos_lock_for_delete", read).await.context_api("Failed to read the photo")?
    else {
        return Ok(None);
    };
    let clear = sqlx::query("UPDATE houses SET main_photo_id = NULL WHERE id = ? AND main_photo_id = ?")
        .bind(house_id)
        .bind(photo_id);
    tx.execute("photos_unchoose", clear).await.context_api("Failed to clear the main photo")?;
    let del = sqlx::query("DELETE FROM house_photos WHERE id = ?").bind(photo_id);
    tx.execute("photos_delete_row", del).await.context_api("Failed to delete the photo")?;
    let mut keys = vec![original_key];
    keys.extend(renditions(&raw).into_iter().map(|r| r.key));
    Ok(Some(keys))
}

/// Every object of a house's photos (before the house is deleted: its rows go with it).
pub async fn objects_of_house(store: Store<'_>, house_id: u32) -> Result<Vec<String>, ApiError> {
    let rows: Vec<(String, Option<String>)> = store
        .time(
            "photos_house_objects",
            sqlx::query_as("SELECT original_key, CAST(renditions AS CHAR) FROM house_photos WHERE house_id = ?")
                .bind(house_id)
                .fetch_all(store.pool),
        )
        .await
        .context_api("Failed to read the house's photos")?;
    Ok(rows
        .into_iter()
        .flat_map(|(original, raw)| std::iter::once(original).chain(renditions(&raw).into_iter().map(|r| r.key)))
        .collect())
}

/// Keep `houses.main_photo` (the URL the lists show, so they stay one-table queries) in step with
/// the photos: the chosen photo's large size when it is ready, else the first ready photo's, else
/// the column's own value when it is not one of ours (a URL set before photos existed), else "".
/// Call it in the transaction of any change to a house's photos (the worker too, when it marks
/// one ready). True when the house row was touched (the lists may show something new).
pub async fn sync_main_photo(tx: &mut Tx<'_>, house_id: u32) -> Result<bool, ApiError> {
    let pick = sqlx::query_as::<_, (Option<String>,)>(
        "SELECT CAST(p.renditions AS CHAR) FROM house_photos p JOIN houses h ON h.id = p.house_id \
         WHERE p.house_id = ? AND p.status = 'ready' ORDER BY (h.main_photo_id <=> p.id) DESC, p.id LIMIT 1",
    )
    .bind(house_id);
    let chosen = tx.row("photos_main_pick", pick).await.context_api("Failed to pick the main photo")?;
    let large =
        chosen.and_then(|(raw,)| renditions(&raw).into_iter().find(|r| r.name == "large")).map(|r| media_url(&r.key));
    let q = match large {
        Some(url) => sqlx::query("UPDATE houses SET main_photo = ? WHERE id = ?").bind(url).bind(house_id),
        None => sqlx::query("UPDATE houses SET main_photo = '' WHERE id = ? AND main_photo LIKE '/media/derived/%'")
            .bind(house_id),
    };
    let done = tx.execute("photos_main_sync", q).await.context_api("Failed to update the main photo")?;
    Ok(done.rows_affected() > 0)
}
