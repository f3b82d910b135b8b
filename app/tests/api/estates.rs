use serde_json::Value;

use crate::helpers::{assert_error, spawn_app, TestApp};

/// A district of our own with estates of known hotness (two tie at 200), for boundary tests.
async fn fixture(app: &TestApp) -> u32 {
    let city: u32 =
        sqlx::query_scalar("SELECT id FROM districts WHERE name = '成都市'").fetch_one(&app.db).await.unwrap();
    let res = sqlx::query("INSERT INTO districts (parent_id, name) VALUES (?, '测试区')")
        .bind(city)
        .execute(&app.db)
        .await
        .unwrap();
    let dist = res.last_insert_id() as u32;
    for (name, hot) in [("边界甲", 100u32), ("边界乙", 200), ("边界丙", 200), ("边界丁", 300), ("甲边界", 250)]
    {
        sqlx::query("INSERT INTO estates (district_id, name, hot) VALUES (?, ?, ?)")
            .bind(dist)
            .bind(name)
            .bind(hot)
            .execute(&app.db)
            .await
            .unwrap();
    }
    dist
}

fn names(body: &Value) -> Vec<String> {
    body["results"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_string()).collect()
}

fn ids(body: &Value) -> Vec<u64> {
    body["results"].as_array().unwrap().iter().map(|r| r["id"].as_u64().unwrap()).collect()
}

#[tokio::test]
async fn estates_hot_bounds_are_inclusive() {
    let app = spawn_app().await;
    let d = fixture(&app).await;
    let body = app.get_json(&format!("/api/estates/?dist={d}&minhot=200&maxhot=200"), 200).await;
    assert_eq!(names(&body), ["边界乙", "边界丙"]);
    let body = app.get_json(&format!("/api/estates/?dist={d}&minhot=100&maxhot=250"), 200).await;
    assert_eq!(body["count"], 4);
    let body = app.get_json(&format!("/api/estates/?dist={d}&minhot=301"), 200).await;
    assert_eq!(body["count"], 0);
    assert_eq!(body["results"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn estates_name_is_a_prefix_match_not_a_substring() {
    let app = spawn_app().await;
    let d = fixture(&app).await;
    let body = app.get_json(&format!("/api/estates/?dist={d}&name=%E8%BE%B9%E7%95%8C"), 200).await; // 边界
    assert_eq!(body["count"], 4, "甲边界 contains but does not start with 边界");
    assert!(!names(&body).contains(&"甲边界".to_string()));
    // LIKE wildcards in the input are literal.
    let body = app.get_json(&format!("/api/estates/?dist={d}&name=%25"), 200).await;
    assert_eq!(body["count"], 0);
}

#[tokio::test]
async fn estates_dist_is_exact_and_results_have_the_documented_fields() {
    let app = spawn_app().await;
    let d = fixture(&app).await;
    let body = app.get_json(&format!("/api/estates/?dist={d}"), 200).await;
    assert_eq!(body["count"], 5);
    for r in body["results"].as_array().unwrap() {
        assert_eq!(r["district_id"], d);
        for f in ["id", "name", "hot", "district_id"] {
            assert!(r.get(f).is_some(), "missing {f}");
        }
    }
}

#[tokio::test]
async fn estates_orderings_sort_with_id_tie_breaks() {
    let app = spawn_app().await;
    let d = fixture(&app).await;
    let asc = app.get_json(&format!("/api/estates/?dist={d}&ordering=hot"), 200).await;
    assert_eq!(names(&asc), ["边界甲", "边界乙", "边界丙", "甲边界", "边界丁"]);
    let desc = app.get_json(&format!("/api/estates/?dist={d}&ordering=-hot"), 200).await;
    assert_eq!(names(&desc), ["边界丁", "甲边界", "边界丙", "边界乙", "边界甲"], "ties by -id under -hot");
    let by_id = app.get_json(&format!("/api/estates/?dist={d}&ordering=-id"), 200).await;
    let mut sorted = ids(&by_id);
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(ids(&by_id), sorted);
    let by_name = app.get_json("/api/estates/?ordering=name&size=100", 200).await;
    let n = names(&by_name);
    let mut sorted_names = n.clone();
    sorted_names.sort();
    assert_eq!(n.len(), 100);
    // MariaDB's utf8mb4_unicode_ci collation orders CJK by code point, like Rust's sort here.
    assert_eq!(n, sorted_names);
}

#[tokio::test]
async fn estates_pages_tile_the_whole_result_without_overlap() {
    let app = spawn_app().await;
    let total = app.get_json("/api/estates/?minhot=500", 200).await["count"].as_u64().unwrap();
    assert!(total > 25);
    let mut seen = Vec::new();
    let mut page = 1;
    loop {
        let body = app.get_json(&format!("/api/estates/?minhot=500&ordering=-hot&size=10&page={page}"), 200).await;
        seen.extend(ids(&body));
        if body["next"].is_null() {
            break;
        }
        page += 1;
    }
    let mut unique = seen.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(seen.len() as u64, total);
    assert_eq!(unique.len() as u64, total);
}

#[tokio::test]
async fn estates_filter_rejects_bad_values_per_field() {
    let app = spawn_app().await;
    for (qs, field) in [
        ("minhot=10&maxhot=5", "minhot"),
        ("minhot=-1", "minhot"),
        ("maxhot=abc", "maxhot"),
        ("ordering=price", "ordering"),
        ("ordering=hot,-id", "ordering"),
        ("dist=x", "dist"),
        ("minhot=99999999999", "minhot"),
    ] {
        let body = app.get_json(&format!("/api/estates/?{qs}"), 400).await;
        let fields = assert_error(&body, "invalid");
        assert!(fields.get(field).is_some(), "{qs}: {body}");
    }
    let long = "锦".repeat(65);
    let body = app.get_json(&format!("/api/estates/?name={long}"), 400).await;
    assert!(assert_error(&body, "invalid").get("name").is_some());
    let body = app.get_json("/api/estates/?name=a%00b", 400).await;
    assert!(assert_error(&body, "invalid").get("name").is_some());
}

#[tokio::test]
async fn estate_detail_has_its_district_and_agents() {
    let app = spawn_app().await;
    let body = app.get_json("/api/estates/1/", 200).await;
    assert_eq!(body["id"], 1);
    assert_eq!(body["district"]["id"], body["district_id"]);
    assert!(body["district"]["name"].is_string());
    let agents = body["agents"].as_array().unwrap();
    let expected: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM agent_estates WHERE estate_id = 1").fetch_one(&app.db).await.unwrap();
    assert_eq!(agents.len() as i64, expected);
    assert!(agents.iter().all(|a| a["tel"].as_str().unwrap().len() == 11));
    assert_error(&app.get_json("/api/estates/424242/", 404).await, "not_found");
}
