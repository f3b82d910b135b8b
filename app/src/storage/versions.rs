//! Optimistic concurrency: rows carry a `version`; an edit names the version it read and touches
//! no row when another write came first. These explain a write that touched nothing.
use super::Store;
use crate::error::{ApiError, ResultExt};

/// A table with a `version` column, and how the API names its rows.
#[derive(Clone, Copy)]
pub struct Versioned {
    pub table: &'static str,
    pub what: &'static str,
}

pub const ESTATES: Versioned = Versioned { table: "estates", what: "Estate" };
pub const HOUSES: Versioned = Versioned { table: "houses", what: "House" };

/// Ok when a conditional write touched its row, else why not (404 or 412).
pub async fn touched(store: Store<'_>, v: Versioned, id: u32, rows_affected: u64) -> Result<(), ApiError> {
    if rows_affected == 1 {
        Ok(())
    } else {
        Err(why_not(store, v, id).await)
    }
}

/// After a conditional write touched no row: 404 when it is gone, else 412 (someone else wrote first).
pub async fn why_not(store: Store<'_>, v: Versioned, id: u32) -> ApiError {
    match check(store, v, id, None).await {
        Ok(current) => stale(v, current),
        Err(e) => e,
    }
}

fn stale(v: Versioned, current: u32) -> ApiError {
    ApiError::PreconditionFailed(format!(
        "{} was modified by someone else (current version {current}); re-read it and retry.",
        v.what
    ))
}

/// The checks a write would make, without writing (an edit that changes nothing: no version
/// bump, no cache invalidation): Ok(current version) when the row is at `version` (any version
/// when None), 404 when it is gone, 412 when it moved on.
pub async fn check(store: Store<'_>, v: Versioned, id: u32, version: Option<u32>) -> Result<u32, ApiError> {
    let q = format!("SELECT version FROM {} WHERE id = ?", v.table);
    let current = store
        .time("write_why_not", sqlx::query_scalar::<_, u32>(&q).bind(id).fetch_optional(store.pool))
        .await
        .context_api("Failed to re-read a row")?
        .ok_or_else(|| ApiError::not_found(v.what))?;
    match version {
        Some(expected) if expected != current => Err(stale(v, current)),
        _ => Ok(current),
    }
}
