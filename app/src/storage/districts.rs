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

/// The two district lists.
#[derive(Debug, Clone, Copy)]
pub enum DistrictList {
    /// Top-level districts (`GET /api/districts/`).
    Provinces,
    /// Cities (second level) marked hot (`GET /api/hot-cities/`).
    HotCities,
}

/// The count of a district list and one page of it, by id.
pub async fn page(
    db: &MySqlPool,
    m: &Metrics,
    list: DistrictList,
    limit: u64,
    offset: u64,
) -> Result<(i64, Vec<DistrictSummary>), ApiError> {
    // (count and page query names, the listed districts' table alias, FROM)
    let (names, a, from) = match list {
        DistrictList::Provinces => {
            (("districts_provinces_count", "districts_provinces"), "", "FROM districts WHERE parent_id IS NULL")
        }
        DistrictList::HotCities => (
            ("districts_hot_cities_count", "districts_hot_cities"),
            "c.",
            "FROM districts c JOIN districts p ON p.id = c.parent_id WHERE c.is_hot = 1 AND p.parent_id IS NULL",
        ),
    };
    let count = format!("SELECT COUNT(*) {from}");
    let count: i64 = m
        .time_query(names.0, sqlx::query_scalar(&count).fetch_one(db))
        .await
        .context_api("Failed to count districts")?;
    let rows = format!("SELECT {a}id, {a}name, {a}is_hot {from} ORDER BY {a}id LIMIT ? OFFSET ?");
    let rows = sqlx::query_as::<_, DistrictSummary>(&rows).bind(limit).bind(offset);
    let rows = m.time_query(names.1, rows.fetch_all(db)).await.context_api("Failed to fetch districts")?;
    Ok((count, rows))
}

pub async fn detail(db: &MySqlPool, m: &Metrics, id: u32) -> Result<Option<DistrictDetail>, ApiError> {
    let row = sqlx::query_as::<_, DistrictRow>("SELECT id, parent_id, name, is_hot, intro FROM districts WHERE id = ?");
    let row =
        m.time_query("districts_get", row.bind(id).fetch_optional(db)).await.context_api("Failed to fetch district")?;
    let Some(r) = row else { return Ok(None) };
    let children = sqlx::query_as::<_, Child>("SELECT id, name FROM districts WHERE parent_id = ? ORDER BY id");
    let children = m
        .time_query("districts_children", children.bind(id).fetch_all(db))
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
