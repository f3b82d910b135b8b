//! The list caches (count in Redis, whole pages in-process), invalidated by a generation that
//! every write bumps: a write through the service is visible at once on every replica; a write
//! that bypasses the service is visible within the TTLs; with Redis down the lists are counted.
use reqwest::Method;
use serde_json::{json, Value};
use zufang::domain::pagination::Page;
use zufang::seed::Scale;
use zufang::storage::{estates::EstateSummary, houses::HouseSummary};

use crate::helpers::{closed_port, metric_value, spawn_app, spawn_app_with, spawn_replica, TestApp};
use crate::rbac::house_body;

const LOCAL_HIT: &str = "cache_requests_total{cache=\"local\",result=\"hit\"}";
const REDIS_HIT: &str = "cache_requests_total{cache=\"redis\",result=\"hit\"}";
const REDIS_ERROR: &str = "cache_requests_total{cache=\"redis\",result=\"error\"}";

async fn count(app: &TestApp, path: &str) -> i64 {
    app.get_json(path, 200).await["count"].as_i64().unwrap()
}

/// A house inserted behind the service's back (as a DBA would): no generation bump.
async fn insert_house_by_sql(app: &TestApp, estate: u32) {
    sqlx::query(
        "INSERT INTO houses (title, area, floor, total_floor, direction, price, published_at, type_id, estate_id, \
         city_id, district_id) SELECT '旁路插入', 50, 1, 6, '南', 3000, UTC_TIMESTAMP(), 1, e.id, \
         COALESCE(d.parent_id, d.id), d.id FROM estates e JOIN districts d ON d.id = e.district_id WHERE e.id = ?",
    )
    .bind(estate)
    .execute(&app.db)
    .await
    .unwrap();
}

async fn district_of_estate(app: &TestApp, estate: u32) -> u32 {
    sqlx::query_scalar("SELECT district_id FROM estates WHERE id = ?").bind(estate).fetch_one(&app.db).await.unwrap()
}

#[tokio::test]
async fn lists_are_served_from_the_caches_until_something_changes() {
    let app = spawn_app().await;
    let d = district_of_estate(&app, 2).await;
    let path = format!("/api/houses/?district={d}&ordering=-price");
    let before = count(&app, &path).await;
    insert_house_by_sql(&app, 2).await;
    let m0 = app.metrics().await;
    // The same filter, spelt differently, is the same cached page.
    assert_eq!(count(&app, &format!("/api/houses/?ordering=-price&district={d}&title=")).await, before);
    let m1 = app.metrics().await;
    assert_eq!(metric_value(&m1, LOCAL_HIT) - metric_value(&m0, LOCAL_HIT), 1.0);
    // Another ordering is another page, but the same (cached) count.
    assert_eq!(count(&app, &format!("/api/houses/?district={d}&ordering=price")).await, before);
    let m2 = app.metrics().await;
    assert_eq!(metric_value(&m2, REDIS_HIT) - metric_value(&m1, REDIS_HIT), 1.0);
}

#[tokio::test]
async fn a_write_shows_in_the_next_list_on_another_replica_at_once() {
    let app = spawn_app().await;
    let replica = spawn_replica(&app).await;
    let d = district_of_estate(&app, 2).await;
    // minprice=0: counted by COUNT(*), which is what the caches hold (a district alone is read
    // from the maintained counter, which a write by SQL does not move).
    let houses = format!("/api/houses/?district={d}&minprice=0&ordering=-price");
    // Estate 2's hot, plus one: estate 2 enters this list when a house is added to it.
    let hot: u32 = sqlx::query_scalar("SELECT hot FROM estates WHERE id = 2").fetch_one(&app.db).await.unwrap();
    let estates = format!("/api/estates/?dist={d}&minhot={}&maxhot={}&size=100", hot + 1, hot + 1);
    let ids = |body: &Value| {
        body["results"].as_array().unwrap().iter().map(|e| e["id"].as_u64().unwrap()).collect::<Vec<_>>()
    };
    // Both replicas have the page and the count cached.
    let before = count(&replica, &houses).await;
    assert_eq!(count(&app, &houses).await, before);
    assert!(!ids(&replica.get_json(&estates, 200).await).contains(&2));
    // A bypassing insert first: the cached count hides it, so the next figure proves the write
    // through the service invalidated the caches (not that the page simply expired).
    insert_house_by_sql(&app, 2).await;
    assert_eq!(count(&replica, &houses).await, before);

    let (_, agent) = app.user_with_token("cache_agent", &["agent"]).await;
    let res = app.authed(Method::POST, "/api/houses/", &agent).json(&house_body(2)).send().await.unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(count(&replica, &houses).await, before + 2, "replica served a stale count");
    assert_eq!(count(&app, &houses).await, before + 2);
    // The new house raised estate 2's hot: the estates list of its district is invalidated too.
    assert!(ids(&replica.get_json(&estates, 200).await).contains(&2), "replica served a stale estates page");

    // Deleting it shows at once as well.
    let id = res.json::<Value>().await.unwrap()["id"].as_u64().unwrap();
    let res = app.authed(Method::DELETE, &format!("/api/houses/{id}/"), &agent).send().await.unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(count(&replica, &houses).await, before + 1);
}

#[tokio::test]
async fn estate_writes_show_in_the_next_estates_list_on_another_replica() {
    let app = spawn_app().await;
    let replica = spawn_replica(&app).await;
    let path = "/api/estates/?dist=1";
    let before = count(&replica, path).await;
    let (_, admin) = app.user_with_token("cache_admin", &["admin"]).await;
    let res = app
        .authed(Method::POST, "/api/estates/", &admin)
        .json(&json!({"name": "缓存花园", "district_id": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(count(&replica, path).await, before + 1);
    let named = replica.get_json("/api/estates/?name=%E7%BC%93%E5%AD%98", 200).await; // 缓存
    assert_eq!(named["count"], 1);
    let id = named["results"][0]["id"].as_u64().unwrap();
    let res = app
        .authed(Method::PATCH, &format!("/api/estates/{id}/"), &admin)
        .json(&json!({"name": "改过花园", "version": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(count(&replica, "/api/estates/?name=%E7%BC%93%E5%AD%98").await, 0);
}

#[tokio::test]
async fn with_redis_down_lists_are_counted_on_every_request() {
    let port = closed_port().to_string();
    let app = spawn_app_with(&[("redis.port", &port)], Some(Scale::Small.counts())).await;
    let d = district_of_estate(&app, 2).await;
    let path = format!("/api/houses/?district={d}&minprice=0"); // COUNT(*), not the counter
    let before = count(&app, &path).await;
    insert_house_by_sql(&app, 2).await;
    assert_eq!(count(&app, &path).await, before + 1, "nothing may be cached without a generation");
    let body = app.get_json(&format!("/api/houses/?district={d}&ordering=-price&size=1"), 200).await;
    assert_eq!(body["results"].as_array().unwrap().len(), 1);
    assert!(metric_value(&app.metrics().await, REDIS_ERROR) >= 3.0);
}

#[tokio::test]
async fn the_count_lives_in_redis_with_its_ttl_and_bypassing_writes_show_after_it() {
    let app = spawn_app_with(
        &[("cache.page_ttl_seconds", "0"), ("cache.count_ttl_seconds", "2")],
        Some(Scale::Small.counts()),
    )
    .await;
    let d = district_of_estate(&app, 3).await;
    let path = format!("/api/houses/?district={d}&minprice=0"); // COUNT(*), not the counter
    let before = count(&app, &path).await;
    let mut conn = app.state.redis.get().await.unwrap();
    let keys: Vec<String> = deadpool_redis::redis::cmd("KEYS")
        .arg(format!("{}cache:count:houses:*", app.settings.redis.key_prefix))
        .query_async(&mut *conn)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let ttl: i64 = deadpool_redis::redis::cmd("PTTL").arg(&keys[0]).query_async(&mut *conn).await.unwrap();
    assert!(ttl > 0 && ttl <= 2000, "pttl {ttl}");
    insert_house_by_sql(&app, 3).await;
    assert_eq!(count(&app, &path).await, before, "the count is cached");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(count(&app, &path).await, before + 1, "the count expired");
}

#[tokio::test]
async fn pages_expire_after_the_page_ttl() {
    let app = spawn_app_with(
        &[("cache.page_ttl_seconds", "1"), ("cache.count_ttl_seconds", "0")],
        Some(Scale::Small.counts()),
    )
    .await;
    let path = "/api/estates/?ordering=-id&size=1";
    let first = app.get_json(path, 200).await;
    // Behind the service's back: only the TTL can reveal it.
    sqlx::query("INSERT INTO estates (district_id, name) VALUES (1, '过期花园')").execute(&app.db).await.unwrap();
    assert_eq!(app.get_json(path, 200).await, first);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(app.get_json(path, 200).await["results"][0]["name"], "过期花园");
}

#[tokio::test]
async fn cached_pages_are_byte_identical_to_serialized_pages() {
    let app = spawn_app().await;
    for path in ["/api/estates/?size=3&page=2&ordering=-hot", "/api/houses/?size=2&page=3&ordering=price"] {
        for _ in 0..2 {
            // The first answer is a miss, the second a hit: both must be what serde writes.
            let text = app.get(path).await.text().await.unwrap();
            let again = if path.starts_with("/api/estates/") {
                serde_json::to_string(&serde_json::from_str::<Page<EstateSummary>>(&text).unwrap()).unwrap()
            } else {
                serde_json::to_string(&serde_json::from_str::<Page<HouseSummary>>(&text).unwrap()).unwrap()
            };
            assert_eq!(text, again);
            let v: Value = serde_json::from_str(&text).unwrap();
            assert!(v["next"].as_str().unwrap().contains("page=4") || v["next"].as_str().unwrap().contains("page=3"));
            assert!(v["previous"].is_string());
        }
    }
}

#[tokio::test]
async fn concurrent_misses_of_one_page_read_the_database_once() {
    let app = spawn_app().await;
    let path = "/api/houses/?district=5&ordering=area&size=7";
    let reads = "db_query_duration_seconds_count{query=\"houses_list\"}";
    let m0 = app.metrics().await;
    let bodies = futures_util::future::join_all((0..16).map(|_| app.get_json(path, 200))).await;
    let m1 = app.metrics().await;
    assert_eq!(metric_value(&m1, reads) - metric_value(&m0, reads), 1.0, "one page read for 16 requests");
    assert!(bodies.iter().all(|b| *b == bodies[0]));
    assert_eq!(metric_value(&m1, LOCAL_HIT) - metric_value(&m0, LOCAL_HIT), 15.0);
}
