//! House writes, each inside the transaction the service (`service::houses`) opens and commits:
//! row locks are taken explicitly where a counter is read-modified-written (the estate's `hot`,
//! `house_counts`), the title index is written in the same transaction, and edits are
//! conditional on the version.
use sqlx::{MySql, QueryBuilder};

use crate::domain::houses::{HouseFields, NewHouse};
use crate::error::{ApiError, ResultExt};
use crate::storage::constraint::{on_constraint, Meaning, OnConstraint};
use crate::storage::versions::{self, HOUSES};
use crate::storage::{search, title_index, Store, Tx};

/// What the houses' keys mean to the API.
const ON_CONSTRAINT: OnConstraint = &[
    ("fk_houses_type", Meaning::UnknownId("type_id")),
    ("fk_houses_estate", Meaning::UnknownId("estate_id")),
    ("fk_house_tags_tag", Meaning::UnknownId("tags")),
];

/// Lock the estate, insert the house, raise the estate's `hot`, count it, index its title and
/// insert the tags (last): the new house's id.
///
/// Locking the estate first (FOR UPDATE) serializes creations on one estate: the house insert's
/// foreign-key check would otherwise take a shared lock and the `hot` update an exclusive one,
/// and two concurrent transactions would deadlock upgrading.
pub async fn insert(tx: &mut Tx<'_>, owner: u32, h: &NewHouse<'_>) -> Result<u32, ApiError> {
    let f = h.fields;
    let lock = sqlx::query_as("SELECT district_id FROM estates WHERE id = ? FOR UPDATE").bind(h.estate_id);
    let district: Option<(u32,)> =
        tx.row("write_house_lock_estate", lock).await.context_api("Failed to lock the estate")?;
    let Some((district_id,)) = district else {
        return Err(ApiError::unknown_reference("estate_id", "Unknown id."));
    };
    let city = sqlx::query_as("SELECT parent_id FROM districts WHERE id = ?").bind(district_id);
    let city: Option<(Option<u32>,)> =
        tx.row("write_house_city", city).await.context_api("Failed to read the estate's district")?;
    let city_id = city.and_then(|(parent,)| parent).unwrap_or(district_id);
    let insert = sqlx::query(
        "INSERT INTO houses (title, area, floor, total_floor, direction, price, detail, street, main_photo, \
                 has_agent_fees, published_at, type_id, estate_id, agent_id, user_id, city_id, district_id) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(), ?, ?, \
                 (SELECT id FROM agents WHERE user_id = ? ORDER BY id LIMIT 1), ?, ?, ?)",
    )
    .bind(h.title)
    .bind(f.area)
    .bind(f.floor)
    .bind(f.total_floor)
    .bind(&f.direction)
    .bind(f.price)
    .bind(f.detail.clone().unwrap_or_default())
    .bind(f.street.clone().unwrap_or_default())
    .bind(f.main_photo.clone().unwrap_or_default())
    .bind(f.has_agent_fees.unwrap_or(false))
    .bind(h.type_id)
    .bind(h.estate_id)
    .bind(owner)
    .bind(owner)
    .bind(city_id)
    .bind(district_id);
    let res = tx
        .execute("write_house_insert", insert)
        .await
        .map_err(|e| on_constraint(e, ON_CONSTRAINT, "Failed to insert the house"))?;
    let id = res.last_insert_id() as u32;
    move_hot(tx, h.estate_id, "write_estate_hot_raise", "UPDATE estates SET hot = hot + 1 WHERE id = ?").await?;
    count_houses(tx, &[(city_id, district_id, h.type_id, 1)]).await?;
    search::index_house(&mut tx.conn, tx.metrics, id, h.title).await?;
    title_index::record_change(tx, id).await?;
    if let Some(tags) = f.tags.as_ref().filter(|t| !t.is_empty()) {
        let mut qb: QueryBuilder<MySql> = QueryBuilder::new("INSERT INTO house_tags (house_id, tag_id) ");
        qb.push_values(tags, |mut b, t| {
            b.push_bind(id).push_bind(*t);
        });
        tx.execute("write_house_tags_insert", qb.build())
            .await
            .map_err(|e| on_constraint(e, ON_CONSTRAINT, "Failed to insert the house's tags"))?;
    }
    Ok(id)
}

/// Move the estate's `hot` (the statement names how).
async fn move_hot(tx: &mut Tx<'_>, estate_id: u32, name: &'static str, sql: &'static str) -> Result<(), ApiError> {
    tx.execute(name, sqlx::query(sql).bind(estate_id)).await.context_api("Failed to move the estate's hot")?;
    Ok(())
}

/// Edit when the row is still at `version`: true when applied (nothing is written otherwise;
/// [`refused`] says why). The rule `floor <= total_floor` holds for the merged row: an edit of
/// one of them is checked against the stored other one in the same statement.
pub async fn update(tx: &mut Tx<'_>, id: u32, version: u32, f: &HouseFields) -> Result<bool, ApiError> {
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
    // A new type moves the house between type counters: read the old one under the row lock.
    let before: Option<(u32, u32, u32)> = match f.type_id {
        Some(_) => {
            let lock = sqlx::query_as("SELECT city_id, district_id, type_id FROM houses WHERE id = ? FOR UPDATE");
            tx.row("write_house_lock", lock.bind(id)).await.context_api("Failed to lock the house")?
        }
        None => None,
    };
    let res = tx
        .execute("write_house_update", qb.build())
        .await
        .map_err(|e| on_constraint(e, ON_CONSTRAINT, "Failed to update the house"))?;
    if res.rows_affected() != 1 {
        return Ok(false);
    }
    if let (Some((city, district, old_type)), Some(new_type)) = (before, f.type_id) {
        if old_type != new_type {
            count_houses(tx, &[(city, district, old_type, -1), (city, district, new_type, 1)]).await?;
        }
    }
    if let Some(title) = &f.title {
        search::index_house(&mut tx.conn, tx.metrics, id, title).await?;
    }
    title_index::record_change(tx, id).await?;
    Ok(true)
}

/// Why an edit touched no row: 404 when the house is gone, 412 when it moved on, else the merged
/// floors broke the rule (400 on the field the edit set).
pub async fn refused(store: Store<'_>, id: u32, version: u32, f: &HouseFields) -> ApiError {
    if let Err(e) = versions::check(store, HOUSES, id, Some(version)).await {
        return e;
    }
    match f.floor {
        Some(_) => ApiError::field("floor", "Must not exceed the house's total_floor."),
        None => ApiError::field("total_floor", "Must not be below the house's floor."),
    }
}

/// Delete a house at `version` (any when None) and take back the `hot` its creation gave the
/// estate (create + delete leaves `hot` where it was): Ok(Some(estate id)) when deleted,
/// Ok(None) when the version did not match. The house and then the estate are locked, in the
/// order `insert` locks them.
pub async fn delete(tx: &mut Tx<'_>, id: u32, version: Option<u32>) -> Result<Option<u32>, ApiError> {
    // Locked: its city, district and type are the counters to lower.
    let lock = sqlx::query_as("SELECT estate_id, city_id, district_id, type_id FROM houses WHERE id = ? FOR UPDATE");
    let house: Option<(u32, u32, u32, u32)> =
        tx.row("write_house_estate", lock.bind(id)).await.context_api("Failed to read the house's estate")?;
    let Some((estate_id, city_id, district_id, type_id)) = house else { return Err(ApiError::not_found("House")) };
    let lock = sqlx::query("SELECT id FROM estates WHERE id = ? FOR UPDATE").bind(estate_id);
    tx.execute("write_house_lock_estate", lock).await.context_api("Failed to lock the estate")?;
    let delete = sqlx::query("DELETE FROM houses WHERE id = ? AND estate_id = ? AND (? IS NULL OR version = ?)");
    let delete = delete.bind(id).bind(estate_id).bind(version).bind(version);
    let res = tx.execute("write_house_delete", delete).await.context_api("Failed to delete the house")?;
    if res.rows_affected() != 1 {
        return Ok(None);
    }
    let lower = "UPDATE estates SET hot = IF(hot > 0, hot - 1, 0) WHERE id = ?";
    move_hot(tx, estate_id, "write_estate_hot_lower", lower).await?;
    // The title's index entries go with the row (ON DELETE CASCADE).
    count_houses(tx, &[(city_id, district_id, type_id, -1)]).await?;
    title_index::record_change(tx, id).await?;
    Ok(Some(estate_id))
}

/// Move the maintained house counters by `delta` per (city, district, type) change, in the
/// write's transaction. Rows are written in primary-key order (scope, then id), so two writes
/// lock them in the same order and cannot deadlock on them.
async fn count_houses(tx: &mut Tx<'_>, changes: &[(u32, u32, u32, i32)]) -> Result<(), ApiError> {
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
    tx.execute("write_house_counts", qb.build()).await.context_api("Failed to update the house counters")?;
    Ok(())
}

/// The owner (`houses.user_id`) of a house (None: no owner any more), or 404.
pub async fn owner(store: Store<'_>, id: u32) -> Result<Option<u32>, ApiError> {
    let row: Option<Option<u32>> = store
        .time(
            "write_house_owner",
            sqlx::query_scalar("SELECT user_id FROM houses WHERE id = ?").bind(id).fetch_optional(store.pool),
        )
        .await
        .context_api("Failed to read the house's owner")?;
    row.ok_or_else(|| ApiError::not_found("House"))
}
