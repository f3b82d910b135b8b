//! Deterministic seed data: `zufang seed --scale small|bench`.
//!
//! small: a real province -> city -> district tree (6 provinces), a few hundred estates and houses.
//! bench: the same tree, 100,000 estates and 1,000,000 houses, in batched multi-row inserts.
//! The same scale always produces the same rows (fixed RNG seed, explicit ids). A database that
//! already has districts is left alone, so the compose `migrate` job can run on every start.
use std::time::Instant;

use anyhow::Context;
use chrono::NaiveDateTime;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::{Executor, MySql, MySqlPool, QueryBuilder};

use crate::storage::bulk;

/// (province, [(city, is_hot, [districts])])
type Tree = &'static [(&'static str, &'static [(&'static str, bool, &'static [&'static str])])];

pub const DISTRICT_TREE: Tree = &[
    (
        "四川省",
        &[
            (
                "成都市",
                true,
                &[
                    "锦江区",
                    "青羊区",
                    "金牛区",
                    "武侯区",
                    "成华区",
                    "龙泉驿区",
                    "青白江区",
                    "新都区",
                    "温江区",
                    "双流区",
                    "郫都区",
                ],
            ),
            ("绵阳市", false, &["涪城区", "游仙区", "安州区"]),
            ("德阳市", false, &["旌阳区", "罗江区"]),
        ],
    ),
    (
        "广东省",
        &[
            ("广州市", true, &["荔湾区", "越秀区", "海珠区", "天河区", "白云区", "黄埔区", "番禺区", "花都区"]),
            ("深圳市", true, &["罗湖区", "福田区", "南山区", "宝安区", "龙岗区", "盐田区", "龙华区"]),
            ("珠海市", false, &["香洲区", "斗门区", "金湾区"]),
        ],
    ),
    (
        "浙江省",
        &[
            ("杭州市", true, &["上城区", "拱墅区", "西湖区", "滨江区", "萧山区", "余杭区"]),
            ("宁波市", false, &["海曙区", "江北区", "北仑区", "镇海区", "鄞州区"]),
        ],
    ),
    (
        "江苏省",
        &[
            ("南京市", true, &["玄武区", "秦淮区", "建邺区", "鼓楼区", "浦口区", "栖霞区", "雨花台区", "江宁区"]),
            ("苏州市", true, &["姑苏区", "虎丘区", "吴中区", "相城区", "吴江区"]),
            ("无锡市", false, &["梁溪区", "锡山区", "惠山区", "滨湖区", "新吴区"]),
        ],
    ),
    (
        "湖北省",
        &[
            ("武汉市", true, &["江岸区", "江汉区", "硚口区", "汉阳区", "武昌区", "青山区", "洪山区"]),
            ("宜昌市", false, &["西陵区", "伍家岗区", "点军区"]),
        ],
    ),
    (
        "陕西省",
        &[
            ("西安市", true, &["新城区", "碑林区", "莲湖区", "雁塔区", "未央区", "灞桥区"]),
            ("咸阳市", false, &["秦都区", "渭城区"]),
        ],
    ),
];

pub const HOUSE_TYPES: &[&str] =
    &["开间", "一室一厅", "两室一厅", "两室两厅", "三室一厅", "三室两厅", "四室两厅", "合租单间"];
pub const TAGS: &[&str] =
    &["近地铁", "精装修", "拎包入住", "随时看房", "押一付一", "南北通透", "有电梯", "独立卫生间", "可短租", "带阳台"];
const ESTATE_PREFIXES: &[&str] = &[
    "锦绣", "翠苑", "阳光", "金色", "碧水", "万科", "绿地", "保利", "龙湖", "华润", "天府", "滨江", "凤凰", "紫荆",
    "东方",
];
const ESTATE_SUFFIXES: &[&str] = &["花园", "公馆", "家园", "小区", "天地", "新城", "雅苑", "府邸", "广场", "名都"];
const DIRECTIONS: &[&str] = &["东", "南", "西", "北", "南北", "东西", "东南", "西南"];
const SURNAMES: &[&str] = &["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡"];
const GIVEN: &[&str] = &["伟", "芳", "娜", "敏", "静", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛", "明", "超"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scale {
    Small,
    Bench,
}

/// How many rows of each kind to generate.
#[derive(Debug, Clone, Copy)]
pub struct Counts {
    pub agents: u32,
    pub estates: u32,
    pub houses: u32,
}

impl Scale {
    pub fn counts(self) -> Counts {
        match self {
            Scale::Small => Counts { agents: 30, estates: 300, houses: 600 },
            Scale::Bench => Counts { agents: 2_000, estates: 100_000, houses: 1_000_000 },
        }
    }
}

const BATCH: usize = 1000;
/// 15 placeholders a row: 4,000 rows stay under MariaDB's 65,535 per statement.
const HOUSE_BATCH: usize = 4000;
/// Connections writing house batches at once (the generator is the fourth worker).
const LOAD_CONNECTIONS: usize = 3;

/// id, title, area, floor, total_floor, direction, price, published_at, has_agent_fees, type_id,
/// estate_id, agent_id, city_id, district_id
type HouseRow = (u32, String, u32, u16, u16, &'static str, u32, NaiveDateTime, bool, u32, u32, u32, u32, u32);

async fn insert_houses(conn: &mut sqlx::MySqlConnection, data: &[HouseRow]) -> anyhow::Result<()> {
    let mut qb: QueryBuilder<MySql> = QueryBuilder::new(
        "INSERT INTO houses (id, title, area, floor, total_floor, direction, price, published_at, has_agent_fees, \
         type_id, estate_id, agent_id, city_id, district_id, detail) ",
    );
    qb.push_values(data, |mut b, r| {
        b.push_bind(r.0)
            .push_bind(r.1.clone())
            .push_bind(r.2)
            .push_bind(r.3)
            .push_bind(r.4)
            .push_bind(r.5)
            .push_bind(r.6)
            .push_bind(r.7)
            .push_bind(r.8)
            .push_bind(r.9)
            .push_bind(r.10)
            .push_bind(r.11)
            .push_bind(r.12)
            .push_bind(r.13)
            .push_bind("");
    });
    qb.build().execute(&mut *conn).await.context("Failed to insert houses")?;
    Ok(())
}
const SEED: u64 = 0x7A75_6661_6E67; // "zufang"

struct Progress {
    what: &'static str,
    total: u64,
    done: u64,
    every: u64,
    started: Instant,
    quiet: bool,
}

impl Progress {
    fn new(what: &'static str, total: u64, quiet: bool) -> Self {
        Progress { what, total, done: 0, every: (total / 20).max(1), started: Instant::now(), quiet }
    }
    fn add(&mut self, n: u64) {
        let before = self.done / self.every;
        self.done += n;
        if !self.quiet && (self.done / self.every != before || self.done == self.total) {
            let secs = self.started.elapsed().as_secs_f64();
            tracing::info!(
                rows = self.done,
                of = self.total,
                seconds = secs,
                rows_per_second = (self.done as f64 / secs.max(1e-9)).round(),
                "seed: {} {}%",
                self.what,
                self.done * 100 / self.total.max(1)
            );
        }
    }
}

/// Seed unless the database already holds districts. Returns false when it was already seeded.
pub async fn run(db: &MySqlPool, counts: Counts, quiet: bool) -> anyhow::Result<bool> {
    let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM districts")
        .fetch_one(db)
        .await
        .context("Failed to check for existing data")?;
    if existing > 0 {
        if !quiet {
            tracing::info!("seed: database already has {existing} districts; nothing to do");
        }
        return Ok(false);
    }
    let mut conn = db.acquire().await.context("Failed to get a connection for seeding")?;
    conn.execute(bulk::BULK_SESSION).await?;
    let mut rng = StdRng::seed_from_u64(SEED);
    let metrics = crate::metrics::Metrics::new()?;

    // Districts: provinces, then cities, then districts, with explicit ids in tree order.
    let mut rows: Vec<(u32, Option<u32>, String, bool)> = Vec::new();
    let mut leaf: Vec<(u32, u32)> = Vec::new(); // (district id, city id)
    let mut next = 1u32;
    for (province, cities) in DISTRICT_TREE {
        let pid = next;
        next += 1;
        rows.push((pid, None, province.to_string(), false));
        for (city, hot, districts) in cities.iter() {
            let cid = next;
            next += 1;
            rows.push((cid, Some(pid), city.to_string(), *hot));
            for d in districts.iter() {
                rows.push((next, Some(cid), d.to_string(), false));
                leaf.push((next, cid));
                next += 1;
            }
        }
    }
    let mut qb: QueryBuilder<MySql> = QueryBuilder::new("INSERT INTO districts (id, parent_id, name, is_hot, intro) ");
    qb.push_values(&rows, |mut b, (id, parent, name, hot)| {
        b.push_bind(*id).push_bind(*parent).push_bind(name.clone()).push_bind(*hot).push_bind(format!("{name}简介"));
    });
    qb.build().execute(&mut *conn).await.context("Failed to insert districts")?;

    let mut qb: QueryBuilder<MySql> = QueryBuilder::new("INSERT INTO house_types (id, name) ");
    qb.push_values(HOUSE_TYPES.iter().enumerate(), |mut b, (i, n)| {
        b.push_bind(i as u32 + 1).push_bind(*n);
    });
    qb.build().execute(&mut *conn).await.context("Failed to insert house types")?;
    let mut qb: QueryBuilder<MySql> = QueryBuilder::new("INSERT INTO tags (id, name) ");
    qb.push_values(TAGS.iter().enumerate(), |mut b, (i, n)| {
        b.push_bind(i as u32 + 1).push_bind(*n);
    });
    qb.build().execute(&mut *conn).await.context("Failed to insert tags")?;

    // Agents.
    let mut p = Progress::new("agents", counts.agents as u64, quiet);
    for chunk_start in (1..=counts.agents).step_by(BATCH) {
        let ids: Vec<u32> = (chunk_start..=(chunk_start + BATCH as u32 - 1).min(counts.agents)).collect();
        let data: Vec<(u32, String, String, u8, u8, u8, bool)> = ids
            .iter()
            .map(|&id| {
                let name =
                    format!("{}{}", SURNAMES[rng.gen_range(0..SURNAMES.len())], GIVEN[rng.gen_range(0..GIVEN.len())]);
                let tel = format!("1{}{:09}", rng.gen_range(3..=9), rng.gen_range(0..1_000_000_000u32));
                (id, name, tel, rng.gen_range(1..=5), rng.gen_range(1..=5), rng.gen_range(1..=5), rng.gen_bool(0.6))
            })
            .collect();
        let mut qb: QueryBuilder<MySql> =
            QueryBuilder::new("INSERT INTO agents (id, name, tel, servstar, realstar, profstar, is_certified) ");
        qb.push_values(&data, |mut b, r| {
            b.push_bind(r.0)
                .push_bind(r.1.clone())
                .push_bind(r.2.clone())
                .push_bind(r.3)
                .push_bind(r.4)
                .push_bind(r.5)
                .push_bind(r.6);
        });
        qb.build().execute(&mut *conn).await.context("Failed to insert agents")?;
        p.add(ids.len() as u64);
    }

    // Estates (+ 1-3 agents each). Remember each estate's (district, city, name) for the houses.
    let mut estates: Vec<(u32, u32, String)> = Vec::with_capacity(counts.estates as usize);
    let mut p = Progress::new("estates", counts.estates as u64, quiet);
    for chunk_start in (1..=counts.estates).step_by(BATCH) {
        let end = (chunk_start + BATCH as u32 - 1).min(counts.estates);
        let mut data = Vec::with_capacity(BATCH);
        let mut links = Vec::with_capacity(BATCH * 2);
        for id in chunk_start..=end {
            let (district, city) = leaf[rng.gen_range(0..leaf.len())];
            let mut name = format!(
                "{}{}",
                ESTATE_PREFIXES[rng.gen_range(0..ESTATE_PREFIXES.len())],
                ESTATE_SUFFIXES[rng.gen_range(0..ESTATE_SUFFIXES.len())]
            );
            if rng.gen_bool(0.5) {
                name.push_str(&format!("{}期", rng.gen_range(1..=9)));
            }
            // Popularity is skewed: most estates are quiet, a few are hot.
            let hot: u32 = if rng.gen_bool(0.1) { rng.gen_range(1000..=20000) } else { rng.gen_range(0..1000) };
            data.push((id, district, name.clone(), hot));
            let mut agents: Vec<u32> = (0..rng.gen_range(1..=3)).map(|_| rng.gen_range(1..=counts.agents)).collect();
            agents.sort_unstable();
            agents.dedup();
            links.extend(agents.into_iter().map(|a| (a, id)));
            estates.push((district, city, name));
        }
        let mut qb: QueryBuilder<MySql> = QueryBuilder::new("INSERT INTO estates (id, district_id, name, hot, intro) ");
        qb.push_values(&data, |mut b, r| {
            b.push_bind(r.0).push_bind(r.1).push_bind(r.2.clone()).push_bind(r.3).push_bind("");
        });
        qb.build().execute(&mut *conn).await.context("Failed to insert estates")?;
        let mut qb: QueryBuilder<MySql> = QueryBuilder::new("INSERT INTO agent_estates (agent_id, estate_id) ");
        qb.push_values(&links, |mut b, r| {
            b.push_bind(r.0).push_bind(r.1);
        });
        qb.build().execute(&mut *conn).await.context("Failed to link agents to estates")?;
        p.add((end - chunk_start + 1) as u64);
    }

    // Houses (+ 0-3 tags each, + the title index), generated chunk by chunk so memory stays flat
    // at bench scale, written by parallel connections into tables without secondary indexes.
    let deferred = bulk::defer_indexes(&mut conn, &["houses", "house_tags", "house_title_grams"]).await?;
    let mut writer = bulk::ParallelWriter::start(db, LOAD_CONNECTIONS).await?;
    let base = NaiveDateTime::parse_from_str("2026-01-01 00:00:00", "%Y-%m-%d %H:%M:%S").context("base date")?;
    let mut p = Progress::new("houses", counts.houses as u64, quiet);
    for chunk_start in (1..=counts.houses).step_by(HOUSE_BATCH) {
        let end = (chunk_start + HOUSE_BATCH as u32 - 1).min(counts.houses);
        let mut data: Vec<HouseRow> = Vec::with_capacity(HOUSE_BATCH);
        let mut tags = Vec::with_capacity(HOUSE_BATCH * 2);
        for id in chunk_start..=end {
            let estate_id = rng.gen_range(1..=counts.estates);
            let (district, city, ref ename) = estates[(estate_id - 1) as usize];
            let type_idx = rng.gen_range(0..HOUSE_TYPES.len());
            let area: u32 = rng.gen_range(15..=200);
            let total_floor: u16 = rng.gen_range(6..=40);
            let direction = DIRECTIONS[rng.gen_range(0..DIRECTIONS.len())];
            let price: u32 = (rng.gen_range(800..=20000) / 50) * 50;
            let published = base + chrono::Duration::seconds(rng.gen_range(0..300 * 86400));
            let title = format!("{ename} {} {area}㎡ 朝{direction}", HOUSE_TYPES[type_idx]);
            data.push((
                id,
                title,
                area,
                rng.gen_range(1..=total_floor),
                total_floor,
                direction,
                price,
                published,
                rng.gen_bool(0.3),
                type_idx as u32 + 1,
                estate_id,
                rng.gen_range(1..=counts.agents),
                city,
                district,
            ));
            let mut t: Vec<u32> = (0..rng.gen_range(0..=3)).map(|_| rng.gen_range(1..=TAGS.len() as u32)).collect();
            t.sort_unstable();
            t.dedup();
            tags.extend(t.into_iter().map(|tag| (id, tag)));
        }
        let metrics = metrics.clone();
        writer
            .send(Box::new(move |conn| {
                Box::pin(async move {
                    insert_houses(conn, &data).await?;
                    let titles: Vec<(u32, String)> = data.into_iter().map(|r| (r.0, r.1)).collect();
                    crate::storage::search::insert_grams(conn, &metrics, &titles)
                        .await
                        .map_err(|e| anyhow::anyhow!("Failed to index the titles: {e}"))?;
                    if !tags.is_empty() {
                        let mut qb: QueryBuilder<MySql> =
                            QueryBuilder::new("INSERT INTO house_tags (house_id, tag_id) ");
                        qb.push_values(&tags, |mut b, r| {
                            b.push_bind(r.0).push_bind(r.1);
                        });
                        qb.build().execute(&mut *conn).await.context("Failed to tag houses")?;
                    }
                    Ok(())
                })
            }))
            .await?;
        p.add((end - chunk_start + 1) as u64);
    }
    writer.finish().await?;
    let started = Instant::now();
    bulk::restore_indexes(&mut conn, &deferred).await?;
    if !quiet {
        tracing::info!(seconds = started.elapsed().as_secs_f64(), "seed: secondary indexes rebuilt");
    }
    crate::storage::houses::recount(&mut conn).await?;
    // Rows written around the change log: every replica's in-memory title index reloads.
    crate::storage::title_index::new_epoch(&mut conn).await?;
    conn.execute("SET SESSION foreign_key_checks = 1, unique_checks = 1").await?;
    // Fresh statistics so the optimizer sees the real cardinalities right away.
    conn.execute("ANALYZE TABLE districts, estates, houses, agents, agent_estates, house_tags, house_title_grams")
        .await?;
    Ok(true)
}
