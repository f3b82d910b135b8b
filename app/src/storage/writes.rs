//! Writes to estates and houses: each is one transaction at the default REPEATABLE READ
//! isolation, with row locks taken explicitly where a counter is read-modified-written, and
//! optimistic concurrency (`version`) for edits. Every committed write bumps the generation of
//! the lists it can change (list_cache.rs) and drops the detail caches it changes, after the
//! commit, so no replica serves a cached count, page or detail from before it: each function here
//! owns its whole write (transaction -> generation bump -> cache invalidation), and the handlers
//! only parse, call and respond.
use sqlx::{MySql, QueryBuilder, Transaction};

use super::search;
use crate::cache::keys;
use crate::error::{ApiError, FieldErrors, ResultExt};
use crate::list_cache::Listing;
use crate::state::AppState;

/// A foreign-key failure (MariaDB 1452 on insert/update, 1451 on delete), by constraint name.
pub fn fk_violation(e: &sqlx::Error) -> Option<(u16, String)> {
    let sqlx::Error::Database(d) = e else { return None };
    let code = d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()?.number();
    if code != 1451 && code != 1452 {
        return None;
    }
    let msg = d.message();
    let name = msg.split("CONSTRAINT `").nth(1).and_then(|r| r.split('`').next()).unwrap_or("").to_string();
    Some((code, name))
}

fn unprocessable(field: &str, msg: &str) -> ApiError {
    let mut fields = FieldErrors::new();
    fields.insert(field.into(), vec![msg.into()]);
    ApiError::Unprocessable { message: "A referenced object does not exist.".into(), fields }
}

/// Map an insert/update error: unknown references are 422 on the field they came from.
fn reference_error(e: sqlx::Error, what: &'static str) -> ApiError {
    if let Some((1452, name)) = fk_violation(&e) {
        let field = match name.as_str() {
            "fk_estates_district" => "district_id",
            "fk_houses_type" => "type_id",
            "fk_houses_estate" => "estate_id",
            "fk_house_tags_tag" => "tags",
            _ => "non_field_errors",
        };
        return unprocessable(field, "Unknown id.");
    }
    ApiError::Internal(anyhow::Error::new(e).context(what))
}

async fn begin(state: &AppState) -> Result<Transaction<'static, MySql>, ApiError> {
    state.db.begin().await.context_api("Failed to begin a transaction")
}

// ---------- estates ----------

pub struct EstateFields {
    pub name: Option<String>,
    pub district_id: Option<u32>,
    pub intro: Option<String>,
}

pub async fn create_estate(state: &AppState, f: &EstateFields) -> Result<u32, ApiError> {
    let res = state
        .metrics
        .time_query(
            "write_estate_insert",
            sqlx::query("INSERT INTO estates (name, district_id, intro) VALUES (?, ?, ?)")
                .bind(&f.name)
                .bind(f.district_id)
                .bind(f.intro.clone().unwrap_or_default())
                .execute(&state.db),
        )
        .await
        .map_err(|e| reference_error(e, "Failed to insert the estate"))?;
    state.lists.bump(&[Listing::Estates]).await;
    Ok(res.last_insert_id() as u32)
}

/// Update the given fields when the row is still at `version`; Ok(new version).
pub async fn update_estate(state: &AppState, id: u32, version: u32, f: &EstateFields) -> Result<u32, ApiError> {
    if f.name.is_none() && f.district_id.is_none() && f.intro.is_none() {
        return unchanged(state, "estates", id, "Estate", Some(version)).await;
    }
    let res = state
        .metrics
        .time_query(
            "write_estate_update",
            sqlx::query(
                "UPDATE estates SET name = COALESCE(?, name), district_id = COALESCE(?, district_id), \
         intro = COALESCE(?, intro), version = version + 1 WHERE id = ? AND version = ?",
            )
            .bind(&f.name)
            .bind(f.district_id)
            .bind(&f.intro)
            .bind(id)
            .bind(version)
            .execute(&state.db),
        )
        .await
        .map_err(|e| reference_error(e, "Failed to update the estate"))?;
    if res.rows_affected() == 1 {
        state.lists.bump(&[Listing::Estates]).await;
        state.cache.invalidate(&[keys::estate(id)]).await;
        return Ok(version + 1);
    }
    Err(why_not(state, "estates", id, "Estate").await)
}

pub async fn delete_estate(state: &AppState, id: u32, version: Option<u32>) -> Result<(), ApiError> {
    let res = state
        .metrics
        .time_query(
            "write_estate_delete",
            sqlx::query("DELETE FROM estates WHERE id = ? AND (? IS NULL OR version = ?)")
                .bind(id)
                .bind(version)
                .bind(version)
                .execute(&state.db),
        )
        .await;
    match res {
        Ok(r) if r.rows_affected() == 1 => {
            state.lists.bump(&[Listing::Estates]).await;
            state.cache.invalidate(&[keys::estate(id)]).await;
            Ok(())
        }
        Ok(_) => Err(why_not(state, "estates", id, "Estate").await),
        Err(e) if matches!(fk_violation(&e), Some((1451, _))) => {
            Err(ApiError::Conflict("The estate still has houses; delete or move them first.".into()))
        }
        Err(e) => Err(e).context_api("Failed to delete the estate"),
    }
}

/// After a conditional write touched no row: 404 when it is gone, else 412 (someone else wrote first).
async fn why_not(state: &AppState, table: &'static str, id: u32, what: &str) -> ApiError {
    match unchanged(state, table, id, what, None).await {
        Ok(current) => stale(what, current),
        Err(e) => e,
    }
}

fn stale(what: &str, current: u32) -> ApiError {
    ApiError::PreconditionFailed(format!(
        "{what} was modified by someone else (current version {current}); re-read it and retry."
    ))
}

/// An edit that changes nothing (an empty PATCH): no write, no version bump, no cache
/// invalidation — only the checks a write would make: Ok(version) when the row is at `version`
/// (any version when None), 404 when it is gone, 412 when it moved on.
async fn unchanged(
    state: &AppState,
    table: &'static str,
    id: u32,
    what: &str,
    version: Option<u32>,
) -> Result<u32, ApiError> {
    let q = format!("SELECT version FROM {table} WHERE id = ?");
    let current = state
        .metrics
        .time_query("write_why_not", sqlx::query_scalar::<_, u32>(&q).bind(id).fetch_optional(&state.db))
        .await
        .context_api("Failed to re-read a row")?
        .ok_or_else(|| ApiError::not_found(what))?;
    match version {
        Some(v) if v != current => Err(stale(what, current)),
        _ => Ok(current),
    }
}

// ---------- houses ----------

#[derive(Default)]
pub struct HouseFields {
    pub title: Option<String>,
    pub area: Option<u64>,
    pub floor: Option<u64>,
    pub total_floor: Option<u64>,
    pub direction: Option<String>,
    pub price: Option<u64>,
    pub type_id: Option<u32>,
    pub estate_id: Option<u32>,
    pub detail: Option<String>,
    pub street: Option<String>,
    pub main_photo: Option<String>,
    pub has_agent_fees: Option<bool>,
    pub tags: Option<Vec<u32>>,
}

/// One transaction: lock the estate row, insert the house, raise the estate's `hot`, insert the
/// tags (last). Any failure rolls everything back.
///
/// Locking the estate first (FOR UPDATE) serializes creations on one estate: the house insert's
/// foreign-key check would otherwise take a shared lock and the `hot` update an exclusive one,
/// and two concurrent transactions would deadlock upgrading.
pub async fn create_house(state: &AppState, owner: u32, f: &HouseFields) -> Result<u32, ApiError> {
    let estate_id = f.estate_id.expect("required by the parser");
    let mut tx = begin(state).await?;
    let district: Option<u32> = state
        .metrics
        .time_query(
            "write_house_lock_estate",
            sqlx::query_scalar("SELECT district_id FROM estates WHERE id = ? FOR UPDATE")
                .bind(estate_id)
                .fetch_optional(&mut *tx),
        )
        .await
        .context_api("Failed to lock the estate")?;
    let Some(district_id) = district else {
        return Err(unprocessable("estate_id", "Unknown id."));
    };
    let city: Option<Option<u32>> = state
        .metrics
        .time_query(
            "write_house_city",
            sqlx::query_scalar("SELECT parent_id FROM districts WHERE id = ?")
                .bind(district_id)
                .fetch_optional(&mut *tx),
        )
        .await
        .context_api("Failed to read the estate's district")?;
    let city_id = city.flatten().unwrap_or(district_id);
    let res = state
        .metrics
        .time_query(
            "write_house_insert",
            sqlx::query(
                "INSERT INTO houses (title, area, floor, total_floor, direction, price, detail, street, main_photo, \
         has_agent_fees, published_at, type_id, estate_id, agent_id, user_id, city_id, district_id) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(), ?, ?, \
         (SELECT id FROM agents WHERE user_id = ? ORDER BY id LIMIT 1), ?, ?, ?)",
            )
            .bind(&f.title)
            .bind(f.area)
            .bind(f.floor)
            .bind(f.total_floor)
            .bind(&f.direction)
            .bind(f.price)
            .bind(f.detail.clone().unwrap_or_default())
            .bind(f.street.clone().unwrap_or_default())
            .bind(f.main_photo.clone().unwrap_or_default())
            .bind(f.has_agent_fees.unwrap_or(false))
            .bind(f.type_id)
            .bind(estate_id)
            .bind(owner)
            .bind(owner)
            .bind(city_id)
            .bind(district_id)
            .execute(&mut *tx),
        )
        .await
        .map_err(|e| reference_error(e, "Failed to insert the house"))?;
    let id = res.last_insert_id() as u32;
    state
        .metrics
        .time_query(
            "write_estate_hot_raise",
            sqlx::query("UPDATE estates SET hot = hot + 1 WHERE id = ?").bind(estate_id).execute(&mut *tx),
        )
        .await
        .context_api("Failed to raise the estate's hot")?;
    let type_id = f.type_id.expect("required by the parser");
    count_houses(&mut tx, state, &[(city_id, district_id, type_id, 1)]).await?;
    let title = f.title.as_deref().expect("required by the parser");
    search::index_house(&mut tx, &state.metrics, id, title).await?;
    if let Some(tags) = f.tags.as_ref().filter(|t| !t.is_empty()) {
        let mut qb: QueryBuilder<MySql> = QueryBuilder::new("INSERT INTO house_tags (house_id, tag_id) ");
        qb.push_values(tags, |mut b, t| {
            b.push_bind(id).push_bind(*t);
        });
        state
            .metrics
            .time_query("write_house_tags_insert", qb.build().execute(&mut *tx))
            .await
            .map_err(|e| reference_error(e, "Failed to insert the house's tags"))?;
    }
    state.metrics.time_query("write_house_commit", tx.commit()).await.context_api("Failed to commit the new house")?;
    // The estate's `hot` changed too: its lists filter and sort by it, its detail shows it.
    state.lists.bump(&[Listing::Houses, Listing::Estates]).await;
    state.cache.invalidate(&[keys::estate(estate_id)]).await;
    Ok(id)
}

impl HouseFields {
    /// True when an edit sets nothing.
    fn is_empty(&self) -> bool {
        let HouseFields {
            title,
            area,
            floor,
            total_floor,
            direction,
            price,
            type_id,
            estate_id,
            detail,
            street,
            main_photo,
            has_agent_fees,
            tags,
        } = self;
        title.is_none()
            && area.is_none()
            && floor.is_none()
            && total_floor.is_none()
            && direction.is_none()
            && price.is_none()
            && type_id.is_none()
            && estate_id.is_none()
            && detail.is_none()
            && street.is_none()
            && main_photo.is_none()
            && has_agent_fees.is_none()
            && tags.is_none()
    }
}

/// Edit when the row is still at `version` (ownership is checked by the handler first). The rule
/// `floor <= total_floor` holds for the merged row: an edit of one of them is checked against
/// the stored other one in the same statement.
pub async fn update_house(state: &AppState, id: u32, version: u32, f: &HouseFields) -> Result<u32, ApiError> {
    if f.is_empty() {
        return unchanged(state, "houses", id, "House", Some(version)).await;
    }
    let mut qb: QueryBuilder<MySql> = QueryBuilder::new("UPDATE houses SET version = version + 1");
    macro_rules! set {
        ($col:literal, $v:expr) => {
            if let Some(v) = $v {
                qb.push(concat!(", ", $col, " = ")).push_bind(v);
            }
        };
    }
    set!("title", f.title.clone());
    set!("area", f.area);
    set!("floor", f.floor);
    set!("total_floor", f.total_floor);
    set!("direction", f.direction.clone());
    set!("price", f.price);
    set!("detail", f.detail.clone());
    set!("street", f.street.clone());
    set!("main_photo", f.main_photo.clone());
    set!("has_agent_fees", f.has_agent_fees);
    set!("type_id", f.type_id);
    qb.push(" WHERE id = ").push_bind(id).push(" AND version = ").push_bind(version);
    match (f.floor, f.total_floor) {
        (Some(fl), None) => {
            qb.push(" AND ").push_bind(fl).push(" <= total_floor");
        }
        (None, Some(total)) => {
            qb.push(" AND floor <= ").push_bind(total);
        }
        _ => {}
    }
    let mut tx = begin(state).await?;
    // A new type moves the house between type counters: read the old one under the row lock.
    let before: Option<(u32, u32, u32)> = match f.type_id {
        Some(_) => state
            .metrics
            .time_query(
                "write_house_lock",
                sqlx::query_as("SELECT city_id, district_id, type_id FROM houses WHERE id = ? FOR UPDATE")
                    .bind(id)
                    .fetch_optional(&mut *tx),
            )
            .await
            .context_api("Failed to lock the house")?,
        None => None,
    };
    let res = state
        .metrics
        .time_query("write_house_update", qb.build().execute(&mut *tx))
        .await
        .map_err(|e| reference_error(e, "Failed to update the house"))?;
    if res.rows_affected() == 1 {
        if let (Some((city, district, old_type)), Some(new_type)) = (before, f.type_id) {
            if old_type != new_type {
                count_houses(&mut tx, state, &[(city, district, old_type, -1), (city, district, new_type, 1)]).await?;
            }
        }
        if let Some(title) = &f.title {
            search::index_house(&mut tx, &state.metrics, id, title).await?;
        }
        state.metrics.time_query("write_house_commit", tx.commit()).await.context_api("Failed to commit the edit")?;
        state.lists.bump(&[Listing::Houses]).await;
        return Ok(version + 1);
    }
    drop(tx);
    unchanged(state, "houses", id, "House", Some(version)).await?;
    // At the expected version and still there: the merged floors broke the rule.
    let (field, msg) = match f.floor {
        Some(_) => ("floor", "Must not exceed the house's total_floor."),
        None => ("total_floor", "Must not be below the house's floor."),
    };
    Err(ApiError::field(field, msg))
}

/// Delete a house and take back the `hot` its creation gave the estate (create + delete leaves
/// `hot` where it was). The estate row is locked first, in the order create_house locks them.
pub async fn delete_house(state: &AppState, id: u32, version: Option<u32>) -> Result<(), ApiError> {
    let mut tx = begin(state).await?;
    // Locked: its city, district and type are the counters to lower.
    let house: Option<(u32, u32, u32, u32)> = state
        .metrics
        .time_query(
            "write_house_estate",
            sqlx::query_as("SELECT estate_id, city_id, district_id, type_id FROM houses WHERE id = ? FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx),
        )
        .await
        .context_api("Failed to read the house's estate")?;
    let Some((estate_id, city_id, district_id, type_id)) = house else { return Err(ApiError::not_found("House")) };
    state
        .metrics
        .time_query(
            "write_house_lock_estate",
            sqlx::query("SELECT id FROM estates WHERE id = ? FOR UPDATE").bind(estate_id).execute(&mut *tx),
        )
        .await
        .context_api("Failed to lock the estate")?;
    let res = state
        .metrics
        .time_query(
            "write_house_delete",
            sqlx::query("DELETE FROM houses WHERE id = ? AND estate_id = ? AND (? IS NULL OR version = ?)")
                .bind(id)
                .bind(estate_id)
                .bind(version)
                .bind(version)
                .execute(&mut *tx),
        )
        .await
        .context_api("Failed to delete the house")?;
    if res.rows_affected() != 1 {
        drop(tx);
        return Err(why_not(state, "houses", id, "House").await);
    }
    state
        .metrics
        .time_query(
            "write_estate_hot_lower",
            sqlx::query("UPDATE estates SET hot = IF(hot > 0, hot - 1, 0) WHERE id = ?")
                .bind(estate_id)
                .execute(&mut *tx),
        )
        .await
        .context_api("Failed to lower the estate's hot")?;
    // The title's index entries go with the row (ON DELETE CASCADE).
    count_houses(&mut tx, state, &[(city_id, district_id, type_id, -1)]).await?;
    state.metrics.time_query("write_house_commit", tx.commit()).await.context_api("Failed to commit the deletion")?;
    state.lists.bump(&[Listing::Houses, Listing::Estates]).await;
    state.cache.invalidate(&[keys::estate(estate_id)]).await;
    Ok(())
}

/// Move the maintained house counters by `delta` per (city, district, type) change, in the
/// write's transaction. Rows are written in primary-key order (scope, then id), so two writes
/// lock them in the same order and cannot deadlock on them.
async fn count_houses(
    tx: &mut Transaction<'static, MySql>,
    state: &AppState,
    changes: &[(u32, u32, u32, i32)],
) -> Result<(), ApiError> {
    let mut rows: std::collections::BTreeMap<(u8, u32), i32> = Default::default();
    for &(city, district, type_id, delta) in changes {
        for key in [(0, 0), (1, city), (2, district), (3, type_id)] {
            *rows.entry(key).or_default() += delta;
        }
    }
    rows.retain(|_, d| *d != 0);
    if rows.is_empty() {
        return Ok(());
    }
    const SCOPES: [&str; 4] = ["all", "city", "district", "type"];
    let mut qb: QueryBuilder<MySql> = QueryBuilder::new("INSERT INTO house_counts (scope, scope_id, houses) ");
    qb.push_values(&rows, |mut b, (&(scope, id), &delta)| {
        b.push_bind(SCOPES[scope as usize]).push_bind(id).push_bind(delta);
    });
    qb.push(" ON DUPLICATE KEY UPDATE houses = houses + VALUES(houses)");
    state
        .metrics
        .time_query("write_house_counts", qb.build().execute(&mut **tx))
        .await
        .context_api("Failed to update the house counters")?;
    Ok(())
}

/// The owner (`houses.user_id`) of a house, or 404.
pub async fn house_owner(state: &AppState, id: u32) -> Result<Option<u32>, ApiError> {
    let row: Option<Option<u32>> = state
        .metrics
        .time_query(
            "write_house_owner",
            sqlx::query_scalar("SELECT user_id FROM houses WHERE id = ?").bind(id).fetch_optional(&state.db),
        )
        .await
        .context_api("Failed to read the house's owner")?;
    row.ok_or_else(|| ApiError::not_found("House"))
}
