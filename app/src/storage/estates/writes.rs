//! Estate writes: one statement each, conditional on the version for edits. The service
//! (`service::estates`) bumps the list generation and drops the cached detail after them.
use crate::domain::estates::EstateFields;
use crate::error::ApiError;
use crate::storage::constraint::{on_constraint, Meaning, OnConstraint};
use crate::storage::versions::{self, ESTATES};
use crate::storage::Store;

/// What the estates' keys mean to the API.
const ON_CONSTRAINT: OnConstraint = &[
    ("fk_estates_district", Meaning::UnknownId("district_id")),
    ("fk_houses_estate", Meaning::Conflict("The estate still has houses; delete or move them first.")),
];

pub async fn insert(store: Store<'_>, f: &EstateFields) -> Result<u32, ApiError> {
    let res = store
        .time(
            "write_estate_insert",
            sqlx::query("INSERT INTO estates (name, district_id, intro) VALUES (?, ?, ?)")
                .bind(&f.name)
                .bind(f.district_id)
                .bind(f.intro.clone().unwrap_or_default())
                .execute(store.pool),
        )
        .await
        .map_err(|e| on_constraint(e, ON_CONSTRAINT, "Failed to insert the estate"))?;
    Ok(res.last_insert_id() as u32)
}

/// Set the given fields when the row is still at `version`: Ok(new version), else 404 or 412.
pub async fn update(store: Store<'_>, id: u32, version: u32, f: &EstateFields) -> Result<u32, ApiError> {
    let res = store
        .time(
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
            .execute(store.pool),
        )
        .await
        .map_err(|e| on_constraint(e, ON_CONSTRAINT, "Failed to update the estate"))?;
    versions::touched(store, ESTATES, id, res.rows_affected()).await?;
    Ok(version + 1)
}

/// Delete when at `version` (any when None); 409 while houses reference it.
pub async fn delete(store: Store<'_>, id: u32, version: Option<u32>) -> Result<(), ApiError> {
    let res = store
        .time(
            "write_estate_delete",
            sqlx::query("DELETE FROM estates WHERE id = ? AND (? IS NULL OR version = ?)")
                .bind(id)
                .bind(version)
                .bind(version)
                .execute(store.pool),
        )
        .await
        .map_err(|e| on_constraint(e, ON_CONSTRAINT, "Failed to delete the estate"))?;
    versions::touched(store, ESTATES, id, res.rows_affected()).await
}
