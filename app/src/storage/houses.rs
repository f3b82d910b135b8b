//! House reads: filtered pages (page number or keyset), counts, the detail; `writes` holds the writes.
pub mod writes;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use sqlx::{MySql, MySqlPool, QueryBuilder};

use super::estates::{AgentSummary, Ref};
use super::search::{self, TitlePlan};
use crate::domain::filters::{HouseColumn, HouseFilter, HousePaging};
use crate::domain::pagination::Cursor;
use crate::domain::query::like_escape;
use crate::error::{ApiError, ResultExt};
use crate::metrics::Metrics;

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct HouseSummary {
    pub id: u32,
    pub title: String,
    pub price: u32,
    pub price_unit: String,
    pub area: u32,
    pub floor: u16,
    pub total_floor: u16,
    pub direction: String,
    pub main_photo: String,
    #[serde(with = "iso")]
    pub published_at: NaiveDateTime,
    pub city_id: u32,
    pub district_id: u32,
    pub estate_id: u32,
}

pub use super::iso;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HouseDetail {
    #[serde(flatten)]
    pub summary: HouseSummary,
    pub detail: String,
    pub street: String,
    pub has_agent_fees: bool,
    pub version: u32,
    #[serde(rename = "type")]
    pub house_type: Ref,
    pub estate: Ref,
    pub agent: Option<AgentSummary>,
    pub tags: Vec<Ref>,
    /// Every photo with its status, dimensions and (when ready) its sizes' URLs; `main_photo`
    /// is the chosen one's large size, else the first ready one's.
    #[serde(default)]
    pub photos: Vec<super::photos::Photo>,
}

const SUMMARY_COLUMNS: &str = "id, title, price, price_unit, area, floor, total_floor, direction, main_photo, \
     published_at, city_id, district_id, estate_id";

/// The filter's conditions, each `AND ...` (after [`search::push_from`]).
pub fn push_where(qb: &mut QueryBuilder<'_, MySql>, f: &HouseFilter) {
    let conditions = [
        (" AND district_id = ", f.district),
        (" AND city_id = ", f.city),
        (" AND estate_id = ", f.estate),
        (" AND type_id = ", f.house_type),
        (" AND price >= ", f.min_price),
        (" AND price <= ", f.max_price),
    ];
    for (condition, value) in conditions {
        if let Some(v) = value {
            qb.push(condition).push_bind(v);
        }
    }
    if let Some(t) = &f.title {
        // The substring definition, whichever rows the plan reads.
        qb.push(" AND title LIKE ").push_bind(format!("%{}%", like_escape(t)));
    }
}

/// The sort key of a row as the cursor stores it.
pub fn sort_key(h: &HouseSummary, c: HouseColumn) -> i64 {
    match c {
        HouseColumn::Price => h.price as i64,
        HouseColumn::Area => h.area as i64,
        HouseColumn::PublishedAt => h.published_at.and_utc().timestamp(),
    }
}

/// The page query behind `prefix` (tests pass "EXPLAIN "). A keyset page reads one row more
/// than its size: whether it exists decides the link onwards.
pub fn list_query_prefixed(prefix: &str, f: &HouseFilter, plan: &TitlePlan) -> QueryBuilder<'static, MySql> {
    let mut qb = QueryBuilder::new(format!("{prefix}SELECT {SUMMARY_COLUMNS}"));
    search::push_from(&mut qb, plan.for_page());
    push_where(&mut qb, f);
    let col = f.ordering.column.sql();
    let mut descending = f.ordering.descending;
    let size = match &f.paging {
        HousePaging::Page(p) => p.size,
        HousePaging::Cursor { after, size } => {
            if let Some(Cursor { k, i, r, .. }) = after {
                // A `previous` cursor reads backwards from its row (and the page is reversed).
                descending ^= *r;
                let cmp = if descending { "<" } else { ">" };
                // Seek past the row: (col, id) beyond (k, i) in the direction read, written so
                // the optimizer reads the (col[, id]) index range.
                qb.push(format!(" AND ({col} {cmp} "));
                push_key(&mut qb, f.ordering.column, *k);
                qb.push(format!(" OR ({col} = "));
                push_key(&mut qb, f.ordering.column, *k);
                qb.push(format!(" AND id {cmp} ")).push_bind(*i).push("))");
            }
            *size + 1
        }
    };
    let dir = if descending { "DESC" } else { "ASC" };
    qb.push(format!(" ORDER BY {col} {dir}, id {dir} LIMIT ")).push_bind(size);
    if let HousePaging::Page(p) = &f.paging {
        qb.push(" OFFSET ").push_bind(p.offset());
    }
    qb
}

fn push_key(qb: &mut QueryBuilder<'_, MySql>, c: HouseColumn, k: i64) {
    match c {
        HouseColumn::PublishedAt => {
            let t = chrono::DateTime::from_timestamp(k, 0).map(|d| d.naive_utc()).unwrap_or_default();
            qb.push_bind(t);
        }
        _ => {
            qb.push_bind(k);
        }
    }
}

/// The maintained counter that knows this filter's exact count, if one does: no filter, or
/// only one of city, district, type.
pub fn counter_scope(f: &HouseFilter) -> Option<(&'static str, u32)> {
    if f.title.is_some() || f.min_price.is_some() || f.max_price.is_some() || f.estate.is_some() {
        return None;
    }
    match (f.city, f.district, f.house_type) {
        (None, None, None) => Some(("all", 0)),
        (Some(c), None, None) => Some(("city", c)),
        (None, Some(d), None) => Some(("district", d)),
        (None, None, Some(t)) => Some(("type", t)),
        _ => None,
    }
}

/// Recompute the maintained counters (`house_counts`) from the rows: after a bulk load, or rows
/// written around the service.
pub async fn recount(conn: &mut sqlx::MySqlConnection) -> anyhow::Result<()> {
    use anyhow::Context;
    let mut tx = sqlx::Connection::begin(conn).await.context("Failed to begin the recount")?;
    sqlx::query("DELETE FROM house_counts").execute(&mut *tx).await.context("Failed to clear the counters")?;
    sqlx::query(
        "INSERT INTO house_counts (scope, scope_id, houses) \
         SELECT 'all', 0, COUNT(*) FROM houses \
         UNION ALL SELECT 'city', city_id, COUNT(*) FROM houses GROUP BY city_id \
         UNION ALL SELECT 'district', district_id, COUNT(*) FROM houses GROUP BY district_id \
         UNION ALL SELECT 'type', type_id, COUNT(*) FROM houses GROUP BY type_id",
    )
    .execute(&mut *tx)
    .await
    .context("Failed to count the houses")?;
    tx.commit().await.context("Failed to commit the recount")?;
    Ok(())
}

/// `COUNT(*)` of the filter's first `cap` rows: index entries read stop at the cap.
pub fn count_query_prefixed(prefix: &str, f: &HouseFilter, plan: &TitlePlan, cap: u64) -> QueryBuilder<'static, MySql> {
    let mut qb = QueryBuilder::new(format!("{prefix}SELECT COUNT(*) FROM (SELECT 1"));
    search::push_from(&mut qb, plan.for_count(f.filters_besides_title()));
    push_where(&mut qb, f);
    qb.push(" LIMIT ").push_bind(cap).push(") capped");
    qb
}

/// The count a page reports: exact up to `cap`, `cap` beyond (the rows page numbers reach).
pub async fn count(db: &MySqlPool, m: &Metrics, f: &HouseFilter, plan: &TitlePlan, cap: u64) -> Result<i64, ApiError> {
    if let Some((scope, id)) = counter_scope(f) {
        let n: Option<i32> = m
            .time_query(
                "houses_count_counter",
                sqlx::query_scalar("SELECT houses FROM house_counts WHERE scope = ? AND scope_id = ?")
                    .bind(scope)
                    .bind(id)
                    .fetch_optional(db),
            )
            .await
            .context_api("Failed to read a house counter")?;
        return Ok(i64::from(n.unwrap_or(0).max(0)).min(cap as i64));
    }
    let mut cq = count_query_prefixed("", f, plan, cap);
    m.time_query("houses_count", cq.build_query_scalar().fetch_one(db)).await.context_api("Failed to count houses")
}

pub async fn list(
    db: &MySqlPool,
    m: &Metrics,
    f: &HouseFilter,
    plan: &TitlePlan,
) -> Result<Vec<HouseSummary>, ApiError> {
    let mut lq = list_query_prefixed("", f, plan);
    m.time_query("houses_list", lq.build_query_as::<HouseSummary>().fetch_all(db))
        .await
        .context_api("Failed to fetch houses page")
}

/// The rows of `ids` in that order (a page the in-memory title index chose); a house deleted
/// since is left out.
pub async fn by_ids(db: &MySqlPool, m: &Metrics, ids: &[u32]) -> Result<Vec<HouseSummary>, ApiError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut qb = super::with_list(&format!("SELECT {SUMMARY_COLUMNS} FROM houses WHERE id IN "), ids);
    let rows: Vec<HouseSummary> = m
        .time_query("houses_by_ids", qb.build_query_as::<HouseSummary>().fetch_all(db))
        .await
        .context_api("Failed to fetch houses page")?;
    let mut by_id: std::collections::HashMap<u32, HouseSummary> = rows.into_iter().map(|h| (h.id, h)).collect();
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

#[derive(sqlx::FromRow)]
struct HouseRow {
    #[sqlx(flatten)]
    summary: HouseSummary,
    detail: String,
    street: String,
    has_agent_fees: bool,
    version: u32,
    type_id: u32,
    type_name: String,
    estate_name: String,
    agent_id: Option<u32>,
}

pub async fn detail(db: &MySqlPool, m: &Metrics, id: u32) -> Result<Option<HouseDetail>, ApiError> {
    let row = m
        .time_query(
            "houses_get",
            sqlx::query_as::<_, HouseRow>(
                "SELECT h.id, h.title, h.price, h.price_unit, h.area, h.floor, h.total_floor, h.direction, h.main_photo, \
                 h.published_at, h.city_id, h.district_id, h.estate_id, h.detail, h.street, h.has_agent_fees, h.version, \
                 h.type_id, t.name AS type_name, e.name AS estate_name, h.agent_id \
                 FROM houses h JOIN house_types t ON t.id = h.type_id JOIN estates e ON e.id = h.estate_id WHERE h.id = ?",
            )
            .bind(id)
            .fetch_optional(db),
        )
        .await
        .context_api("Failed to fetch house")?;
    let Some(r) = row else { return Ok(None) };
    let agent = match r.agent_id {
        Some(aid) => m
            .time_query(
                "agents_get",
                sqlx::query_as::<_, AgentSummary>(
                    "SELECT id, name, tel, servstar, realstar, profstar, is_certified FROM agents WHERE id = ?",
                )
                .bind(aid)
                .fetch_optional(db),
            )
            .await
            .context_api("Failed to fetch house agent")?,
        None => None,
    };
    let tags: Vec<(u32, String)> = m
        .time_query(
            "houses_tags",
            sqlx::query_as("SELECT t.id, t.name FROM house_tags ht JOIN tags t ON t.id = ht.tag_id WHERE ht.house_id = ? ORDER BY t.id")
                .bind(id)
                .fetch_all(db),
        )
        .await
        .context_api("Failed to fetch house tags")?;
    let photos = super::photos::list(super::Store::new(db, m), id, 100, 0).await?;
    let estate = Ref { id: r.summary.estate_id, name: r.estate_name };
    Ok(Some(HouseDetail {
        summary: r.summary,
        detail: r.detail,
        street: r.street,
        has_agent_fees: r.has_agent_fees,
        version: r.version,
        house_type: Ref { id: r.type_id, name: r.type_name },
        estate,
        agent,
        tags: tags.into_iter().map(|(id, name)| Ref { id, name }).collect(),
        photos,
    }))
}
