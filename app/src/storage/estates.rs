//! Estate reads: the filtered page and its count, the detail; `writes` holds the writes.
pub mod writes;

use serde::{Deserialize, Serialize};
use sqlx::{MySql, MySqlPool, QueryBuilder};

use crate::domain::filters::EstateFilter;
use crate::domain::query::like_escape;
use crate::error::{ApiError, ResultExt};
use crate::metrics::Metrics;

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct EstateSummary {
    pub id: u32,
    pub name: String,
    pub hot: u32,
    pub district_id: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct AgentSummary {
    pub id: u32,
    pub name: String,
    pub tel: String,
    pub servstar: u8,
    pub realstar: u8,
    pub profstar: u8,
    pub is_certified: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ref {
    pub id: u32,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EstateDetail {
    pub id: u32,
    pub name: String,
    pub hot: u32,
    pub intro: String,
    /// For `If-Match` on PUT/PATCH/DELETE.
    pub version: u32,
    pub district_id: u32,
    pub district: Ref,
    pub agents: Vec<AgentSummary>,
}

/// The WHERE clause of the estate filter (shared by the page and the count).
pub fn push_where(qb: &mut QueryBuilder<'_, MySql>, f: &EstateFilter) {
    qb.push(" WHERE 1=1");
    if let Some(d) = f.district {
        qb.push(" AND district_id = ").push_bind(d);
    }
    if let Some(name) = &f.name {
        qb.push(" AND name LIKE ").push_bind(format!("{}%", like_escape(name)));
    }
    if let Some(lo) = f.min_hot {
        qb.push(" AND hot >= ").push_bind(lo);
    }
    if let Some(hi) = f.max_hot {
        qb.push(" AND hot <= ").push_bind(hi);
    }
}

pub fn list_query(f: &EstateFilter) -> QueryBuilder<'static, MySql> {
    list_query_prefixed("", f)
}

/// The page query behind `prefix` (tests pass "EXPLAIN ").
pub fn list_query_prefixed(prefix: &str, f: &EstateFilter) -> QueryBuilder<'static, MySql> {
    let mut qb = QueryBuilder::new(format!("{prefix}SELECT id, name, hot, district_id FROM estates"));
    push_where(&mut qb, f);
    let dir = if f.ordering.descending { "DESC" } else { "ASC" };
    qb.push(format!(" ORDER BY {} {dir}", f.ordering.column.sql()));
    if f.ordering.column.sql() != "id" {
        qb.push(format!(", id {dir}"));
    }
    qb.push(" LIMIT ").push_bind(f.page.size).push(" OFFSET ").push_bind(f.page.offset());
    qb
}

pub fn count_query(f: &EstateFilter) -> QueryBuilder<'static, MySql> {
    count_query_prefixed("", f)
}

pub fn count_query_prefixed(prefix: &str, f: &EstateFilter) -> QueryBuilder<'static, MySql> {
    let mut qb = QueryBuilder::new(format!("{prefix}SELECT COUNT(*) FROM estates"));
    push_where(&mut qb, f);
    qb
}

pub async fn count(db: &MySqlPool, m: &Metrics, f: &EstateFilter) -> Result<i64, ApiError> {
    let mut cq = count_query(f);
    m.time_query("estates_count", cq.build_query_scalar().fetch_one(db)).await.context_api("Failed to count estates")
}

pub async fn list(db: &MySqlPool, m: &Metrics, f: &EstateFilter) -> Result<Vec<EstateSummary>, ApiError> {
    let mut lq = list_query(f);
    m.time_query("estates_list", lq.build_query_as::<EstateSummary>().fetch_all(db))
        .await
        .context_api("Failed to fetch estates page")
}

#[derive(sqlx::FromRow)]
struct EstateRow {
    id: u32,
    name: String,
    hot: u32,
    intro: String,
    version: u32,
    district_id: u32,
    district_name: String,
}

pub async fn detail(db: &MySqlPool, m: &Metrics, id: u32) -> Result<Option<EstateDetail>, ApiError> {
    let row = m
        .time_query(
            "estates_get",
            sqlx::query_as::<_, EstateRow>(
                "SELECT e.id, e.name, e.hot, e.intro, e.version, e.district_id, d.name AS district_name \
                 FROM estates e JOIN districts d ON d.id = e.district_id WHERE e.id = ?",
            )
            .bind(id)
            .fetch_optional(db),
        )
        .await
        .context_api("Failed to fetch estate")?;
    let Some(r) = row else { return Ok(None) };
    let agents = m
        .time_query(
            "estates_agents",
            sqlx::query_as::<_, AgentSummary>(
                "SELECT a.id, a.name, a.tel, a.servstar, a.realstar, a.profstar, a.is_certified \
                 FROM agent_estates ae JOIN agents a ON a.id = ae.agent_id WHERE ae.estate_id = ? ORDER BY a.id",
            )
            .bind(id)
            .fetch_all(db),
        )
        .await
        .context_api("Failed to fetch estate agents")?;
    Ok(Some(EstateDetail {
        id: r.id,
        name: r.name,
        hot: r.hot,
        intro: r.intro,
        version: r.version,
        district_id: r.district_id,
        district: Ref { id: r.district_id, name: r.district_name },
        agents,
    }))
}
