//! The photo routes against the real broker and store (scripts/ci/photo-services.sh) besides
//! MariaDB and Redis: uploads and every refusal, the outbox relay's messages (and its surviving a
//! broker restart), `/media/`, deletion. Run by app/tests/photos/run.sh, one test at a time (one
//! of them stops the broker).
#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;
mod services;

use std::collections::BTreeSet;
use std::io::Cursor;
use std::time::Duration;

use bytes::Bytes;
use image::{ImageFormat, RgbImage};
use reqwest::Method;
use serde_json::{json, Value};
use zufang::seed::Scale;

use helpers::{assert_error, spawn_app_with, TestApp};
use services::{eventually, services, Broker};

fn encoded(format: ImageFormat, w: u32, h: u32) -> Vec<u8> {
    let img = RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 3) as u8, (y * 5) as u8, 200]));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

/// A valid small PNG whose IHDR (CRC recomputed) declares 8000x7500: 60 MP in a few hundred bytes.
fn png_bomb() -> Vec<u8> {
    let mut png = encoded(ImageFormat::Png, 8, 8);
    png[16..20].copy_from_slice(&8000u32.to_be_bytes());
    png[20..24].copy_from_slice(&7500u32.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

struct Fixture {
    app: TestApp,
    broker: Broker,
    owner: String,
    owner_id: u32,
    house: u32,
}

async fn fixture(extra: &[(&str, &str)]) -> Fixture {
    let broker = Broker::new().await;
    let owned = broker.overrides();
    let mut overrides: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    overrides.extend_from_slice(extra);
    let app = spawn_app_with(&overrides, Some(Scale::Small.counts())).await;
    let (owner_id, owner) = app.user_with_token("photo_owner", &["agent"]).await;
    let body = json!({"title": "带照片的房子", "area": 80, "floor": 3, "total_floor": 18, "direction": "南",
                      "price": 5200, "type_id": 1, "estate_id": 1});
    let res = app.authed(Method::POST, "/api/houses/", &owner).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let house = res.json::<Value>().await.unwrap()["id"].as_u64().unwrap() as u32;
    Fixture { app, broker, owner, owner_id, house }
}

impl Fixture {
    async fn upload_as(
        &self,
        token: Option<&str>,
        house: u32,
        name: &str,
        mime: &str,
        bytes: Vec<u8>,
    ) -> reqwest::Response {
        let part = reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()).mime_str(mime).unwrap();
        let form = reqwest::multipart::Form::new().part("file", part);
        let mut req = self.app.client.post(format!("{}/api/houses/{house}/photos/", self.app.address)).multipart(form);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    async fn upload(&self, name: &str, mime: &str, bytes: Vec<u8>) -> reqwest::Response {
        self.upload_as(Some(&self.owner), self.house, name, mime, bytes).await
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.app.db).await.unwrap()
    }

    async fn outbox_empty(&self) -> bool {
        self.count("SELECT COUNT(*) FROM outbox").await == 0
    }
}

#[tokio::test]
async fn an_upload_is_stored_recorded_and_announced_once_on_the_thumbnail_queue() {
    let f = fixture(&[]).await;
    let jpeg = encoded(ImageFormat::Jpeg, 64, 48);
    let res = f.upload("house.jpg", "image/jpeg", jpeg.clone()).await;
    assert_eq!(res.status(), 202);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    let photo: Value = res.json().await.unwrap();
    assert_eq!(location, format!("/api/houses/{}/photos/{}/", f.house, photo["id"]));
    assert_eq!(photo["status"], "processing");
    assert_eq!((photo["width"].as_u64(), photo["height"].as_u64()), (Some(64), Some(48)));
    assert_eq!(photo["content_type"], "image/jpeg");
    assert!(photo["urls"].is_null());

    let (uuid, key, uploaded_by): (String, String, Option<u32>) =
        sqlx::query_as("SELECT uuid, original_key, uploaded_by FROM house_photos WHERE id = ?")
            .bind(photo["id"].as_u64().unwrap())
            .fetch_one(&f.app.db)
            .await
            .unwrap();
    assert_eq!(key, format!("originals/{uuid}"));
    assert_eq!(uploaded_by, Some(f.owner_id));
    let stored = f.app.state.objects.get(&key).await.unwrap();
    assert_eq!(stored.bytes, Bytes::from(jpeg));

    assert!(eventually(Duration::from_secs(15), || f.outbox_empty()).await, "the relay did not publish");
    let messages = f.broker.drain("photo.thumbnail").await;
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    let p = &m.delivery.properties;
    let body: Value = serde_json::from_slice(&m.delivery.data).unwrap();
    assert_eq!(body["schema_version"], 1);
    assert_eq!(body["event"], "photo.uploaded");
    assert_eq!(body["photo_id"], photo["id"]);
    assert_eq!(body["photo_uuid"], uuid.as_str());
    assert_eq!(body["house_id"], f.house);
    assert_eq!(body["object_key"], key.as_str());
    assert!(body["occurred_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(p.message_id().as_ref().map(|s| s.as_str().len()), Some(36));
    assert_eq!(p.kind().as_ref().map(|s| s.as_str()), Some("photo.uploaded"));
    assert_eq!(*p.delivery_mode(), Some(2));
    assert_eq!(p.app_id().as_ref().map(|s| s.as_str()), Some("zufang"));
    assert_eq!(p.content_type().as_ref().map(|s| s.as_str()), Some("application/json"));
    assert!(p.timestamp().is_some());
    let headers = p.headers().as_ref().unwrap();
    let version = headers.inner().iter().find(|(k, _)| k.as_str() == "schema_version").unwrap().1;
    assert_eq!(format!("{version:?}"), "LongLongInt(1)");

    let metrics = f.app.metrics().await;
    assert_eq!(helpers::metric_value(&metrics, "zufang_photo_uploads_total{outcome=\"accepted\"}"), 1.0);
    assert_eq!(helpers::metric_value(&metrics, "zufang_outbox_published_total"), 1.0);
    f.broker.delete().await;
}

#[tokio::test]
async fn png_and_webp_are_accepted_by_their_bytes_whatever_they_are_called() {
    let f = fixture(&[]).await;
    let res = f.upload("x.gif", "application/octet-stream", encoded(ImageFormat::Png, 20, 10)).await;
    assert_eq!(res.status(), 202);
    assert_eq!(res.json::<Value>().await.unwrap()["content_type"], "image/png");
    let res = f.upload("x.txt", "text/plain", encoded(ImageFormat::WebP, 10, 20)).await;
    assert_eq!(res.status(), 202);
    assert_eq!(res.json::<Value>().await.unwrap()["content_type"], "image/webp");
    f.broker.delete().await;
}

#[tokio::test]
async fn every_bad_file_is_refused_and_leaves_no_row_job_or_object() {
    let f = fixture(&[("photos.max_upload_bytes", "1048576")]).await;
    let jpeg = encoded(ImageFormat::Jpeg, 64, 64);
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        ("notes.jpg", "image/jpeg", b"just some text, not an image".to_vec(), 415, "unsupported_media_type"),
        (
            "scan.jpg",
            "image/jpeg",
            b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n".to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            "logo.jpg",
            "image/svg+xml",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>".to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            "page.png",
            "image/png",
            b"<!DOCTYPE html><html><body>x</body></html>".to_vec(),
            415,
            "unsupported_media_type",
        ),
        ("cut.jpg", "image/jpeg", jpeg[..jpeg.len() / 2].to_vec(), 415, "unsupported_media_type"),
        ("bomb.png", "image/png", png_bomb(), 400, "invalid"),
        ("huge.jpg", "image/jpeg", vec![0xAB; 3 * 1024 * 1024], 413, "payload_too_large"),
    ];
    for (name, mime, bytes, status, code) in cases {
        let res = f.upload(name, mime, bytes).await;
        assert_eq!(res.status(), status, "{name}");
        assert_error(&res.json().await.unwrap(), code);
    }
    assert_eq!(f.count("SELECT COUNT(*) FROM house_photos").await, 0);
    assert_eq!(f.count("SELECT COUNT(*) FROM outbox").await, 0);
    let metrics = f.app.metrics().await;
    for (outcome, n) in [("unsupported", 5.0), ("too_many_pixels", 1.0), ("too_large", 1.0), ("accepted", 0.0)] {
        let series = format!("zufang_photo_uploads_total{{outcome=\"{outcome}\"}}");
        assert_eq!(helpers::metric_value(&metrics, &series), n, "{outcome}");
    }
    // Not a form at all.
    let res = f
        .app
        .authed(Method::POST, &format!("/api/houses/{}/photos/", f.house), &f.owner)
        .json(&json!({"file": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    f.broker.delete().await;
}

#[tokio::test]
async fn only_the_owner_or_an_admin_uploads_to_a_house_that_exists() {
    let f = fixture(&[]).await;
    let png = || encoded(ImageFormat::Png, 8, 8);
    let res = f.upload_as(None, f.house, "a.png", "image/png", png()).await;
    assert_eq!(res.status(), 401);
    assert_error(&res.json().await.unwrap(), "not_authenticated");
    let (_, other_agent) = f.app.user_with_token("other_agent", &["agent"]).await;
    let res = f.upload_as(Some(&other_agent), f.house, "a.png", "image/png", png()).await;
    assert_eq!(res.status(), 403);
    assert_error(&res.json().await.unwrap(), "permission_denied");
    let (_, user) = f.app.user_with_token("plain_user", &["user"]).await;
    let res = f.upload_as(Some(&user), f.house, "a.png", "image/png", png()).await;
    assert_eq!(res.status(), 403);
    let res = f.upload_as(Some(&f.owner), 999_999, "a.png", "image/png", png()).await;
    assert_eq!(res.status(), 404);
    assert_error(&res.json().await.unwrap(), "not_found");
    let (_, admin) = f.app.user_with_token("photo_admin", &["admin"]).await;
    let res = f.upload_as(Some(&admin), f.house, "a.png", "image/png", png()).await;
    assert_eq!(res.status(), 202);
    assert_eq!(f.count("SELECT COUNT(*) FROM house_photos").await, 1);
    f.broker.delete().await;
}

#[tokio::test]
async fn a_house_holds_at_most_max_per_house_photos() {
    let f = fixture(&[("photos.max_per_house", "2")]).await;
    for _ in 0..2 {
        assert_eq!(f.upload("a.png", "image/png", encoded(ImageFormat::Png, 8, 8)).await.status(), 202);
    }
    let res = f.upload("a.png", "image/png", encoded(ImageFormat::Png, 8, 8)).await;
    assert_eq!(res.status(), 409);
    assert_error(&res.json().await.unwrap(), "conflict");
    assert_eq!(f.count("SELECT COUNT(*) FROM house_photos").await, 2);
    // A failed photo does not count against the limit.
    sqlx::query("UPDATE house_photos SET status = 'failed' ORDER BY id LIMIT 1").execute(&f.app.db).await.unwrap();
    assert_eq!(f.upload("a.png", "image/png", encoded(ImageFormat::Png, 8, 8)).await.status(), 202);
    f.broker.delete().await;
}

#[tokio::test]
async fn uploads_past_the_hourly_rate_are_429_with_retry_after() {
    let f = fixture(&[("photos.uploads_per_user_per_hour", "2")]).await;
    for _ in 0..2 {
        assert_eq!(f.upload("a.png", "image/png", encoded(ImageFormat::Png, 8, 8)).await.status(), 202);
    }
    let res = f.upload("a.png", "image/png", encoded(ImageFormat::Png, 8, 8)).await;
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry));
    assert_error(&res.json().await.unwrap(), "throttled");
    assert_eq!(f.count("SELECT COUNT(*) FROM house_photos").await, 2);
    f.broker.delete().await;
}

#[tokio::test]
async fn the_store_down_is_a_503_with_retry_after_and_nothing_recorded() {
    let port = helpers::closed_port().to_string();
    let endpoint = format!("http://127.0.0.1:{port}");
    let f = fixture(&[("s3.endpoint", &endpoint)]).await;
    let res = f.upload("a.png", "image/png", encoded(ImageFormat::Png, 8, 8)).await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "5");
    let body = res.text().await.unwrap();
    assert!(!body.contains(&port) && !body.contains("zufang-photos"), "{body}");
    assert_eq!(f.count("SELECT COUNT(*) FROM house_photos").await, 0);
    assert_eq!(f.count("SELECT COUNT(*) FROM outbox").await, 0);
    f.broker.delete().await;
}

#[tokio::test]
async fn the_relay_survives_a_broker_restart_and_loses_or_doubles_no_job() {
    let f = fixture(&[]).await;
    services("stop-amqp");
    let mut ids = BTreeSet::new();
    for _ in 0..5 {
        let res = f.upload("a.png", "image/png", encoded(ImageFormat::Png, 8, 8)).await;
        assert_eq!(res.status(), 202, "uploads do not need the broker");
        ids.insert(res.json::<Value>().await.unwrap()["id"].as_u64().unwrap());
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(f.count("SELECT COUNT(*) FROM outbox").await, 5, "the jobs wait in the outbox");
    services("start-amqp");
    assert!(
        eventually(Duration::from_secs(60), || f.outbox_empty()).await,
        "the outbox did not drain after the restart"
    );
    let messages = f.broker.drain("photo.thumbnail").await;
    let message_ids: BTreeSet<String> =
        messages.iter().map(|m| m.delivery.properties.message_id().as_ref().unwrap().to_string()).collect();
    let photo_ids: BTreeSet<u64> = messages
        .iter()
        .map(|m| serde_json::from_slice::<Value>(&m.delivery.data).unwrap()["photo_id"].as_u64().unwrap())
        .collect();
    assert_eq!(messages.len(), 5, "one message per upload");
    assert_eq!(message_ids.len(), 5, "no message twice");
    assert_eq!(photo_ids, ids);
    let metrics = f.app.metrics().await;
    assert_eq!(helpers::metric_value(&metrics, "zufang_outbox_published_total"), 5.0);
    f.broker.delete().await;
}

/// What the worker does when a photo is ready: derived objects in the store, the row ready with
/// its renditions (and the house's main photo in step, through the library's own function).
async fn make_ready(f: &Fixture, photo_id: u64) -> Vec<String> {
    let uuid: String = sqlx::query_scalar("SELECT uuid FROM house_photos WHERE id = ?")
        .bind(photo_id)
        .fetch_one(&f.app.db)
        .await
        .unwrap();
    let mut renditions = Vec::new();
    let mut keys = Vec::new();
    for (name, size) in [("large", 32), ("small", 8)] {
        let jpeg = encoded(ImageFormat::Jpeg, size, size);
        let key = format!("derived/{uuid}/{name}-{:016x}.jpg", rand::random::<u64>());
        f.app.state.objects.put(&key, Bytes::from(jpeg), "image/jpeg").await.unwrap();
        renditions.push(json!({"name": name, "key": key, "width": size, "height": size, "content_type": "image/jpeg"}));
        keys.push(key);
    }
    let mut tx = f.app.state.store().begin().await.unwrap();
    let q = sqlx::query("UPDATE house_photos SET status = 'ready', renditions = ? WHERE id = ?")
        .bind(Value::Array(renditions).to_string())
        .bind(photo_id);
    tx.execute("test_ready", q).await.unwrap();
    zufang::storage::photos::sync_main_photo(&mut tx, f.house).await.unwrap();
    tx.commit("test_ready_commit", "commit").await.unwrap();
    keys
}

#[tokio::test]
async fn ready_photos_show_in_the_house_and_media_serves_only_derived_sizes() {
    let f = fixture(&[]).await;
    let mut photo_ids = Vec::new();
    for _ in 0..2 {
        let res = f.upload("a.jpg", "image/jpeg", encoded(ImageFormat::Jpeg, 40, 40)).await;
        photo_ids.push(res.json::<Value>().await.unwrap()["id"].as_u64().unwrap());
    }
    let first = make_ready(&f, photo_ids[0]).await;
    let second = make_ready(&f, photo_ids[1]).await;
    let house = f.app.get_json(&format!("/api/houses/{}/", f.house), 200).await;
    assert_eq!(house["main_photo"], format!("/media/{}", first[0]), "the first ready photo");
    let photos = house["photos"].as_array().unwrap();
    assert_eq!(photos.len(), 2);
    assert_eq!(photos[0]["status"], "ready");
    assert_eq!(photos[0]["urls"]["small"], format!("/media/{}", first[1]));

    let res = f
        .app
        .authed(Method::PATCH, &format!("/api/houses/{}/photos/{}/", f.house, photo_ids[1]), &f.owner)
        .json(&json!({"is_main": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["is_main"], true);
    let house = f.app.get_json(&format!("/api/houses/{}/", f.house), 200).await;
    assert_eq!(house["main_photo"], format!("/media/{}", second[0]), "the chosen photo");
    let list = f.app.get_json("/api/houses/?title=带照片的房子", 200).await;
    let listed = list["results"].as_array().unwrap().iter().find(|h| h["id"] == f.house).unwrap().clone();
    assert_eq!(listed["main_photo"], format!("/media/{}", second[0]), "the list shows it too");
    let page = f.app.get_json(&format!("/api/houses/{}/photos/", f.house), 200).await;
    assert_eq!(page["count"], 2);

    let res = f.app.get(&format!("/media/{}", first[0])).await;
    assert_eq!(res.status(), 200);
    let h = res.headers().clone();
    assert_eq!(h["content-type"], "image/jpeg");
    assert_eq!(h["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let etag = h["etag"].to_str().unwrap().to_string();
    for (name, value) in h.iter() {
        let v = value.to_str().unwrap_or("");
        assert!(!v.contains("zufang-photos") && !v.contains("garage") && !v.contains("Garage"), "{name}: {v}");
    }
    assert_eq!(res.bytes().await.unwrap(), f.app.state.objects.get(&first[0]).await.unwrap().bytes);
    let res = f
        .app
        .client
        .get(format!("{}/media/{}", f.app.address, first[0]))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);

    let uuid = first[0].split('/').nth(1).unwrap();
    for path in [
        format!("/media/originals/{uuid}"),
        format!("/media/derived/{uuid}/medium-0000000000000000.jpg"),
        format!("/media/derived/{uuid}/large-0000000000000000.jpg"),
        format!("/media/derived/{uuid}/..%2F..%2Foriginals%2F{uuid}"),
        format!("/media/derived/{}/large-0000000000000000.jpg", uuid.to_uppercase()),
    ] {
        let res = f.app.get(&path).await;
        assert_eq!(res.status(), 404, "{path}");
    }
    f.broker.delete().await;
}

#[tokio::test]
async fn deleting_a_photo_or_its_house_removes_the_rows_and_every_object() {
    let f = fixture(&[]).await;
    let res = f.upload("a.jpg", "image/jpeg", encoded(ImageFormat::Jpeg, 40, 40)).await;
    let id = res.json::<Value>().await.unwrap()["id"].as_u64().unwrap();
    let original: String = sqlx::query_scalar("SELECT original_key FROM house_photos WHERE id = ?")
        .bind(id)
        .fetch_one(&f.app.db)
        .await
        .unwrap();
    let derived = make_ready(&f, id).await;
    let path = format!("/api/houses/{}/photos/{id}/", f.house);
    let (_, other) = f.app.user_with_token("not_owner", &["agent"]).await;
    assert_eq!(f.app.authed(Method::DELETE, &path, &other).send().await.unwrap().status(), 403);
    assert_eq!(f.app.authed(Method::DELETE, &path, &f.owner).send().await.unwrap().status(), 204);
    assert_eq!(f.app.get(&path).await.status(), 404);
    for key in std::iter::once(&original).chain(&derived) {
        assert!(f.app.state.objects.head(key).await.unwrap().is_none(), "{key} still stored");
    }
    let house = f.app.get_json(&format!("/api/houses/{}/", f.house), 200).await;
    assert_eq!(house["main_photo"], "", "no photo left to show");
    assert_eq!(f.app.get(&format!("/media/{}", derived[0])).await.status(), 404);
    assert_eq!(f.app.authed(Method::DELETE, &path, &f.owner).send().await.unwrap().status(), 404);

    // Deleting the house deletes its photos' objects too (the rows go by cascade).
    let res = f.upload("b.jpg", "image/jpeg", encoded(ImageFormat::Jpeg, 40, 40)).await;
    let id = res.json::<Value>().await.unwrap()["id"].as_u64().unwrap();
    let original: String = sqlx::query_scalar("SELECT original_key FROM house_photos WHERE id = ?")
        .bind(id)
        .fetch_one(&f.app.db)
        .await
        .unwrap();
    let derived = make_ready(&f, id).await;
    let res = f.app.authed(Method::DELETE, &format!("/api/houses/{}/", f.house), &f.owner).send().await.unwrap();
    assert_eq!(res.status(), 204);
    for key in std::iter::once(&original).chain(&derived) {
        assert!(f.app.state.objects.head(key).await.unwrap().is_none(), "{key} outlived its house");
    }
    f.broker.delete().await;
}
