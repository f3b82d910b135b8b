use serde_json::Value;

use crate::helpers::{assert_error, spawn_app};

fn results(body: &Value) -> &Vec<Value> {
    body["results"].as_array().unwrap()
}

async fn sql_count(app: &crate::helpers::TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.db).await.unwrap()
}

#[tokio::test]
async fn houses_price_bounds_are_inclusive() {
    let app = spawn_app().await;
    // Boundaries taken from the data itself: the minimum and maximum prices must be included.
    let (lo, hi): (u32, u32) = sqlx::query_as("SELECT MIN(price), MAX(price) FROM houses WHERE district_id = 5")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let body = app.get_json(&format!("/api/houses/?district=5&minprice={lo}&maxprice={hi}&size=100"), 200).await;
    let all = sql_count(&app, "SELECT COUNT(*) FROM houses WHERE district_id = 5").await;
    assert_eq!(body["count"], all);
    let body = app.get_json(&format!("/api/houses/?district=5&minprice={lo}&maxprice={lo}"), 200).await;
    let at_lo = sql_count(&app, &format!("SELECT COUNT(*) FROM houses WHERE district_id = 5 AND price = {lo}")).await;
    assert!(at_lo >= 1);
    assert_eq!(body["count"], at_lo);
    assert!(results(&body).iter().all(|h| h["price"] == lo));
    let body = app.get_json(&format!("/api/houses/?district=5&minprice={}", hi + 1), 200).await;
    assert_eq!(body["count"], 0);
}

#[tokio::test]
async fn houses_title_is_a_substring_match() {
    let app = spawn_app().await;
    // "两室" appears in the middle of titles ("<estate> 两室一厅 ..."), never at the start.
    let body = app.get_json("/api/houses/?title=%E4%B8%A4%E5%AE%A4&size=100", 200).await;
    let expected = sql_count(&app, "SELECT COUNT(*) FROM houses WHERE title LIKE '%两室%'").await;
    assert!(expected > 0);
    assert_eq!(body["count"], expected);
    assert!(results(&body).iter().all(|h| h["title"].as_str().unwrap().contains("两室")));
}

#[tokio::test]
async fn houses_exact_id_filters_combine() {
    let app = spawn_app().await;
    for (param, column) in
        [("city", "city_id"), ("district", "district_id"), ("type", "type_id"), ("estate", "estate_id")]
    {
        let value: u32 = sqlx::query_scalar(&format!("SELECT {column} FROM houses ORDER BY id LIMIT 1"))
            .fetch_one(&app.db)
            .await
            .unwrap();
        let body = app.get_json(&format!("/api/houses/?{param}={value}&size=100"), 200).await;
        let expected = sql_count(&app, &format!("SELECT COUNT(*) FROM houses WHERE {column} = {value}")).await;
        assert_eq!(body["count"], expected, "{param}");
        if param != "type" {
            assert!(results(&body).iter().all(|h| h[column] == value), "{param}");
        }
    }
    let body = app.get_json("/api/houses/?city=2&district=5&type=3", 200).await;
    let expected =
        sql_count(&app, "SELECT COUNT(*) FROM houses WHERE city_id = 2 AND district_id = 5 AND type_id = 3").await;
    assert_eq!(body["count"], expected);
}

#[tokio::test]
async fn houses_orderings_are_stable_with_id_tie_breaks() {
    let app = spawn_app().await;
    for (ordering, key, desc) in [
        ("price", "price", false),
        ("-price", "price", true),
        ("area", "area", false),
        ("-area", "area", true),
        ("published_at", "published_at", false),
        ("-published_at", "published_at", true),
    ] {
        let body = app.get_json(&format!("/api/houses/?ordering={ordering}&size=100"), 200).await;
        let rows = results(&body);
        assert_eq!(rows.len(), 100);
        for w in rows.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            let ka = a[key].to_string();
            let kb = b[key].to_string();
            let (ka, kb) =
                if key == "published_at" { (ka, kb) } else { (format!("{:>12}", ka), format!("{:>12}", kb)) };
            let ord = if desc { kb.cmp(&ka) } else { ka.cmp(&kb) };
            assert!(ord.is_le(), "{ordering}: {a} then {b}");
            if ka == kb {
                let (ia, ib) = (a["id"].as_u64().unwrap(), b["id"].as_u64().unwrap());
                assert!(if desc { ia > ib } else { ia < ib }, "{ordering}: tie not broken by id");
            }
        }
    }
    let body = app.get_json("/api/houses/?ordering=hot", 400).await;
    assert!(assert_error(&body, "invalid").get("ordering").is_some());
}

#[tokio::test]
async fn houses_cursor_pages_visit_every_row_once_in_order() {
    let app = spawn_app().await;
    let paged = app.get_json("/api/houses/?city=2&ordering=-price&size=100", 200).await;
    let total = paged["count"].as_u64().unwrap();
    assert!(total > 20, "fixture too small: {total}");
    // Full list by pages of 7 via the cursor.
    let mut url = format!("{}/api/houses/?city=2&ordering=-price&size=7&cursor=", app.address);
    let mut seen: Vec<u64> = Vec::new();
    for _ in 0..1000 {
        let body: Value = app.client.get(&url).send().await.unwrap().json().await.unwrap();
        assert!(body.get("count").is_none(), "keyset pages do not count");
        seen.extend(results(&body).iter().map(|h| h["id"].as_u64().unwrap()));
        match body["next"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    let by_page: Vec<u64> = if total <= 100 {
        results(&paged).iter().map(|h| h["id"].as_u64().unwrap()).collect()
    } else {
        panic!("fixture larger than one page")
    };
    assert_eq!(seen, by_page, "cursor order equals page order");
}

#[tokio::test]
async fn houses_cursor_rejects_tampering_and_mixing_with_page() {
    let app = spawn_app().await;
    let body = app.get_json("/api/houses/?cursor=bm90LWEtY3Vyc29y", 400).await;
    assert!(assert_error(&body, "invalid").get("cursor").is_some());
    let body = app.get_json("/api/houses/?cursor=&page=2", 400).await;
    assert!(assert_error(&body, "invalid").get("cursor").is_some());
    // A cursor made for another ordering.
    let first = app.get_json("/api/houses/?ordering=price&size=2&cursor=", 200).await;
    let next = first["next"].as_str().unwrap();
    let cursor = next.split("cursor=").nth(1).unwrap();
    let body = app.get_json(&format!("/api/houses/?ordering=-area&cursor={cursor}"), 400).await;
    assert!(assert_error(&body, "invalid").get("cursor").is_some());
}

#[tokio::test]
async fn houses_results_have_the_documented_fields_and_detail_nests_relations() {
    let app = spawn_app().await;
    let body = app.get_json("/api/houses/?size=1", 200).await;
    let h = &results(&body)[0];
    for f in ["id", "title", "price", "price_unit", "area", "published_at", "city_id", "district_id", "estate_id"] {
        assert!(h.get(f).is_some(), "missing {f}");
    }
    let id = h["id"].as_u64().unwrap();
    let d = app.get_json(&format!("/api/houses/{id}/"), 200).await;
    assert!(d["type"]["name"].is_string());
    assert_eq!(d["estate"]["id"], d["estate_id"]);
    assert!(d["agent"].is_object());
    let tags: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM house_tags WHERE house_id = ?")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(d["tags"].as_array().unwrap().len() as i64, tags);
    assert_error(&app.get_json("/api/houses/9999999/", 404).await, "not_found");
}

#[tokio::test]
async fn houses_empty_results_and_past_the_last_page() {
    let app = spawn_app().await;
    let body = app.get_json("/api/houses/?title=%E4%B8%8D%E5%AD%98%E5%9C%A8", 200).await; // 不存在
    assert_eq!(body["count"], 0);
    assert!(body["next"].is_null() && body["previous"].is_null());
    let body = app.get_json("/api/houses/?page=400", 200).await;
    assert_eq!(results(&body).len(), 0);
    assert!(body["previous"].is_string());
}
