use deadpool_redis::redis::AsyncCommands;

use crate::helpers::{metric_value, spawn_app, spawn_app_with};
use zufang::seed::Scale;

const LOCAL_HIT: &str = "cache_requests_total{cache=\"local\",result=\"hit\"}";
const REDIS_HIT: &str = "cache_requests_total{cache=\"redis\",result=\"hit\"}";
const REDIS_MISS: &str = "cache_requests_total{cache=\"redis\",result=\"miss\"}";

#[tokio::test]
async fn district_reads_are_served_from_the_local_tier_after_the_first() {
    let app = spawn_app().await;
    app.get_json("/api/districts/2/", 200).await;
    let before = app.metrics().await;
    assert_eq!(metric_value(&before, REDIS_MISS), 1.0);
    for _ in 0..3 {
        app.get_json("/api/districts/2/", 200).await;
    }
    let after = app.metrics().await;
    assert_eq!(metric_value(&after, LOCAL_HIT) - metric_value(&before, LOCAL_HIT), 3.0);
}

#[tokio::test]
async fn redis_holds_the_value_with_a_ttl_so_another_replica_hits_it() {
    // local_ttl_seconds = 0 disables the local tier: every read goes to Redis.
    let app = spawn_app_with(&[("cache.local_ttl_seconds", "0")], Some(Scale::Small.counts())).await;
    app.get_json("/api/estates/3/", 200).await;
    app.get_json("/api/estates/3/", 200).await;
    let m = app.metrics().await;
    assert_eq!(metric_value(&m, REDIS_HIT), 1.0);
    let mut conn = app.state.redis.get().await.unwrap();
    let key = format!("{}cache:estates:3", app.settings.redis.key_prefix);
    let ttl: i64 = conn.ttl(&key).await.unwrap();
    assert!(ttl > 0 && ttl <= app.settings.cache.redis_ttl_seconds as i64, "ttl {ttl}");
}

#[tokio::test]
async fn invalidation_drops_both_tiers_so_the_next_read_sees_the_database() {
    let app = spawn_app().await;
    let before = app.get_json("/api/estates/4/", 200).await;
    sqlx::query("UPDATE estates SET name = '改名花园' WHERE id = 4").execute(&app.db).await.unwrap();
    // Still cached.
    assert_eq!(app.get_json("/api/estates/4/", 200).await["name"], before["name"]);
    app.state.cache.invalidate(&[zufang::cache::keys::estate(4)]).await;
    assert_eq!(app.get_json("/api/estates/4/", 200).await["name"], "改名花园");
}

#[tokio::test]
async fn not_found_is_not_cached() {
    let app = spawn_app().await;
    app.get_json("/api/districts/5000/", 404).await;
    sqlx::query("INSERT INTO districts (id, parent_id, name) VALUES (5000, NULL, '新省')")
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(app.get_json("/api/districts/5000/", 200).await["name"], "新省");
}
