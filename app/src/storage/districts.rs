use serde::{Deserialize, Serialize};
use sqlx::MySqlPool;

use crate::error::{ApiError, ResultExt};
use crate::metrics::Metrics;

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct DistrictSummary {
    pub id: u32,
    pub name: String,
    pub is_hot: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct Child {
    pub id: u32,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DistrictDetail {
    pub id: u32,
    pub parent_id: Option<u32>,
    pub name: String,
    pub is_hot: bool,
    pub intro: String,
    pub children: Vec<Child>,
}

#[derive(sqlx::FromRow)]
struct DistrictRow {
    id: u32,
    parent_id: Option<u32>,
    name: String,
    is_hot: bool,
    intro: String,
}

pub async fn provinces(
    db: &MySqlPool,
    m: &Metrics,
    limit: u64,
    offset: u64,
) -> Result<(i64, Vec<DistrictSummary>), ApiError> {
    let count: i64 = m
        .time_query(
            "districts_provinces_count",
            sqlx::query_scalar("SELECT COUNT(*) FROM districts WHERE parent_id IS NULL").fetch_one(db),
        )
        .await
        .context_api("Failed to count provinces")?;
    let rows = m
        .time_query(
            "districts_provinces",
            sqlx::query_as::<_, DistrictSummary>(
                "SELECT id, name, is_hot FROM districts WHERE parent_id IS NULL ORDER BY id LIMIT ? OFFSET ?",
            )
            .bind(limit)
            .bind(offset)
            .fetch_all(db),
        )
        .await
        .context_api("Failed to fetch provinces")?;
    Ok((count, rows))
}

pub async fn detail(db: &MySqlPool, m: &Metrics, id: u32) -> Result<Option<DistrictDetail>, ApiError> {
    let row = m
        .time_query(
            "districts_get",
            sqlx::query_as::<_, DistrictRow>("SELECT id, parent_id, name, is_hot, intro FROM districts WHERE id = ?")
                .bind(id)
                .fetch_optional(db),
        )
        .await
        .context_api("Failed to fetch district")?;
    let Some(r) = row else { return Ok(None) };
    let children = m
        .time_query(
            "districts_children",
            sqlx::query_as::<_, Child>("SELECT id, name FROM districts WHERE parent_id = ? ORDER BY id")
                .bind(id)
                .fetch_all(db),
        )
        .await
        .context_api("Failed to fetch district children")?;
    Ok(Some(DistrictDetail {
        id: r.id,
        parent_id: r.parent_id,
        name: r.name,
        is_hot: r.is_hot,
        intro: r.intro,
        children,
    }))
}

/// Cities (second level) marked hot.
pub async fn hot_cities(
    db: &MySqlPool,
    m: &Metrics,
    limit: u64,
    offset: u64,
) -> Result<(i64, Vec<DistrictSummary>), ApiError> {
    const FROM: &str =
        "FROM districts c JOIN districts p ON p.id = c.parent_id WHERE c.is_hot = 1 AND p.parent_id IS NULL";
    let count: i64 = m
        .time_query("districts_hot_cities_count", sqlx::query_scalar(&format!("SELECT COUNT(*) {FROM}")).fetch_one(db))
        .await
        .context_api("Failed to count hot cities")?;
    let rows = m
        .time_query(
            "districts_hot_cities",
            sqlx::query_as::<_, DistrictSummary>(&format!(
                "SELECT c.id, c.name, c.is_hot {FROM} ORDER BY c.id LIMIT ? OFFSET ?"
            ))
            .bind(limit)
            .bind(offset)
            .fetch_all(db),
        )
        .await
        .context_api("Failed to fetch hot cities")?;
    Ok((count, rows))
}
