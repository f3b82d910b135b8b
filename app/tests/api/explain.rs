//! EXPLAIN guard: with enough rows that MariaDB's optimizer prefers indexes, no list/filter query
//! (page or count) reads estates or houses with a full table scan (`type` = `ALL`).
use sqlx::{MySqlPool, Row};
use zufang::domain::filters::{EstateFilter, HouseFilter};
use zufang::domain::pagination::Cursor;
use zufang::domain::query::QueryMap;
use zufang::seed::Counts;
use zufang::storage::search::{self, TitlePlan};
use zufang::storage::{estates, houses};

use crate::helpers::spawn_app_with;

async fn plan(db: &MySqlPool, mut qb: sqlx::QueryBuilder<'static, sqlx::MySql>) -> Vec<(String, String, String)> {
    let rows = qb.build().fetch_all(db).await.expect("EXPLAIN");
    rows.iter()
        .map(|r| {
            let get = |c: &str| -> String { r.try_get::<Option<String>, _>(c).ok().flatten().unwrap_or_default() };
            (get("table"), get("type"), get("key"))
        })
        .collect()
}

fn assert_no_full_scan(what: &str, plan: &[(String, String, String)]) {
    for (table, kind, key) in plan {
        if table == "estates" || table == "houses" {
            assert_ne!(kind, "ALL", "{what}: full scan on {table} (plan: {plan:?})");
        }
        let _ = key;
    }
}

async fn title_plan(db: &MySqlPool, app: &crate::helpers::TestApp, qs: &str) -> TitlePlan {
    let q = QueryMap::parse(qs).unwrap();
    match q.get("title") {
        Some(t) => search::plan(db, &app.state.metrics, t).await.unwrap(),
        None => TitlePlan::default(),
    }
}

#[tokio::test]
async fn no_list_or_filter_query_scans_estates_or_houses_in_full() {
    let counts = Counts { agents: 200, estates: 20_000, houses: 100_000 };
    let app = spawn_app_with(&[], Some(counts)).await;
    // Plans, not latency: the EXPLAINs get a pool that waits for a connection as long as it takes
    // on a machine busy with the other tests (the 3 s acquire timeout once ran out here in CI).
    let mut patient = app.settings.database.clone();
    patient.acquire_timeout_ms = 60_000;
    let pool = zufang::storage::pool(&patient);
    let db = &pool;
    let (city, district, estate): (u32, u32, u32) =
        sqlx::query_as("SELECT city_id, district_id, estate_id FROM houses WHERE id = 1").fetch_one(db).await.unwrap();

    let estate_queries = [
        String::new(),
        format!("dist={district}"),
        "name=%E9%94%A6%E7%BB%A3".to_string(), // 锦绣
        "minhot=15000".to_string(),
        "minhot=1000&maxhot=1200".to_string(),
        format!("dist={district}&minhot=100&maxhot=900"),
        format!("dist={district}&name=%E9%94%A6"),
    ];
    let orderings = ["id", "-id", "hot", "-hot", "name", "-name"];
    let mut checked = 0;
    for qs in &estate_queries {
        for o in orderings {
            let q = QueryMap::parse(&format!("{qs}&ordering={o}&page=3&size=20")).unwrap();
            let f = EstateFilter::parse(&q).unwrap();
            let what = format!("estates ?{qs}&ordering={o}");
            assert_no_full_scan(&what, &plan(db, estates::list_query_prefixed("EXPLAIN ", &f)).await);
            checked += 1;
        }
        let f = EstateFilter::parse(&QueryMap::parse(qs).unwrap()).unwrap();
        assert_no_full_scan(
            &format!("count estates ?{qs}"),
            &plan(db, estates::count_query_prefixed("EXPLAIN ", &f)).await,
        );
    }

    let house_queries = [
        String::new(),
        format!("district={district}"),
        format!("city={city}"),
        format!("estate={estate}"),
        "type=3".to_string(),
        "minprice=3000&maxprice=3200".to_string(),
        "title=%E4%B8%A4%E5%AE%A4".to_string(), // 两室 (substring; dense: read along the ordering)
        "title=%E9%94%A6%E7%BB%A3%E8%8A%B1%E5%9B%AD%20%E4%B8%A4%E5%AE%A4".to_string(), // 锦绣花园 两室 (bigrams)
        "title=88%E3%8E%A1".to_string(),        // 88㎡ (bigrams)
        format!("district={district}&minprice=2000&maxprice=9000"),
        format!("city={city}&type=2"),
    ];
    let orderings = ["price", "-price", "published_at", "-published_at", "area", "-area"];
    for qs in &house_queries {
        for o in orderings {
            let title_plan = title_plan(db, &app, qs).await;
            for paging in ["page=3&size=20", "cursor=&size=20"] {
                let q = QueryMap::parse(&format!("{qs}&ordering={o}&{paging}")).unwrap();
                let f = HouseFilter::parse(&q, 10_000).unwrap();
                let what = format!("houses ?{qs}&ordering={o}&{paging}");
                assert_no_full_scan(&what, &plan(db, houses::list_query_prefixed("EXPLAIN ", &f, &title_plan)).await);
                checked += 1;
            }
            // Deep keyset pages of every ordering, both directions: seek past a real row.
            let h: zufang::storage::houses::HouseSummary = sqlx::query_as(
                "SELECT id, title, price, price_unit, area, floor, total_floor, direction, main_photo, \
                 published_at, city_id, district_id, estate_id FROM houses WHERE id = 50000",
            )
            .fetch_one(db)
            .await
            .unwrap();
            let f0 = HouseFilter::parse(&QueryMap::parse(&format!("ordering={o}")).unwrap(), 10_000).unwrap();
            for r in [false, true] {
                let c = Cursor { o: o.to_string(), k: houses::sort_key(&h, f0.ordering.column), i: h.id, r };
                let q = QueryMap::parse(&format!("{qs}&ordering={o}&cursor={}", c.encode())).unwrap();
                let f = HouseFilter::parse(&q, 10_000).unwrap();
                let p = plan(db, houses::list_query_prefixed("EXPLAIN ", &f, &title_plan)).await;
                assert_no_full_scan(&format!("houses ?{qs}&ordering={o}&cursor (r={r})"), &p);
                // Indexed filters and orderings seek in an index that matches both (no sort).
                let filter_col = if qs.is_empty() {
                    Some("")
                } else if qs.starts_with("district=") && !qs.contains('&') {
                    Some("district_")
                } else if qs.starts_with("city=") && !qs.contains('&') {
                    Some("city_")
                } else if qs == "type=3" {
                    Some("type_")
                } else {
                    None
                };
                if let Some(prefix) = filter_col {
                    let col = o.trim_start_matches('-').replace("published_at", "published");
                    let want = format!("idx_houses_{prefix}{col}");
                    assert!(
                        p.iter().any(|(_, _, key)| *key == want),
                        "houses ?{qs}&ordering={o}&cursor: want {want}, plan {p:?}"
                    );
                }
                checked += 1;
            }
        }
        let f = HouseFilter::parse(&QueryMap::parse(qs).unwrap(), 10_000).unwrap();
        let title_plan = title_plan(db, &app, qs).await;
        assert_no_full_scan(
            &format!("count houses ?{qs}"),
            &plan(db, houses::count_query_prefixed("EXPLAIN ", &f, &title_plan, 10_000)).await,
        );
    }
    assert!(checked > 100);
}
