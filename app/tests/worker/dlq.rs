//! Poison messages go to the dead-letter queue and the queue keeps flowing; `zufang jobs dlq
//! list` shows them without consuming; `replay` brings a job back once its cause is fixed.
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;

use crate::harness::{new_uuid, World};

async fn until(what: &str, seconds: u64, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {seconds} s");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn tiny_jpeg() -> Vec<u8> {
    let img = image::RgbImage::from_pixel(64, 48, image::Rgb([10, 200, 30]));
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90).encode_image(&img).unwrap();
    out
}

#[tokio::test]
async fn poison_messages_are_dead_lettered_listed_without_consuming_and_a_fixed_job_replays_to_ready() {
    let world = World::new("wk_dlq").await;
    let worker = world.spawn_worker(&[]).await;
    let (bad_json, newer) = (new_uuid(), new_uuid());
    world.publish(b"{\"schema_version\": 1, oops", &bad_json).await;
    let newer_body = String::from_utf8(world.message(1, &new_uuid()))
        .unwrap()
        .replace("\"schema_version\":1", "\"schema_version\":2");
    world.publish(newer_body.as_bytes(), &newer).await;
    // A job whose original never reached the store: failed for good, then fixed by the operator.
    let missing_uuid = new_uuid();
    let missing = world.photo_row(&missing_uuid, 1000, 64, 48).await;
    let missing_msg = new_uuid();
    world.publish(&world.message(missing, &missing_uuid), &missing_msg).await;
    let (good, good_uuid) = world.photo(&tiny_jpeg(), 64, 48).await;
    world.publish(&world.message(good, &good_uuid), &new_uuid()).await;

    assert_eq!(world.settled(good, 60).await.0, "ready", "the queue kept flowing past the poison");
    let (status, reason, _) = world.settled(missing, 60).await;
    assert_eq!((status.as_str(), reason.as_deref()), ("failed", Some("the original is not in the store")));
    until("three dead jobs", 30, async || world.depth("photo.thumbnail.dlq").await == 3).await;
    assert_eq!(worker.metric("zufang_worker_jobs_total{outcome=\"dead\"}").await, 3.0);

    let (ok, out) = world.jobs(&["dlq", "list", "--json"]).await;
    assert!(ok, "{out}");
    let listed: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let error_of =
        |id: &str| listed.iter().find(|e| e["message_id"] == id).map(|e| e["x_error"].as_str().unwrap().to_string());
    assert!(error_of(&bad_json).unwrap().starts_with("not JSON"), "{listed:?}");
    assert_eq!(error_of(&newer).unwrap(), "unknown schema_version 2");
    assert_eq!(error_of(&missing_msg).unwrap(), "the original is not in the store");
    let entry = listed.iter().find(|e| e["message_id"] == missing_msg.as_str()).unwrap();
    assert_eq!(entry["photo_id"], missing);
    assert!(entry["age_seconds"].as_i64().unwrap() >= 0);
    tokio::time::sleep(Duration::from_secs(6)).await; // the management API samples every 5 s
    assert_eq!(world.depth("photo.thumbnail.dlq").await, 3, "listing consumed nothing");

    // The cause fixed (the original uploaded), the job replayed: the failed photo becomes ready.
    world.store.put(&format!("originals/{missing_uuid}"), Bytes::from(tiny_jpeg()), "image/jpeg").await.unwrap();
    let (ok, out) = world.jobs(&["dlq", "replay", "--message-id", &missing_msg]).await;
    assert!(ok);
    assert_eq!(out.trim(), "1");
    assert_eq!(world.settled_to(missing, "ready", 60).await, "ready");
    until("two dead jobs left", 30, async || world.depth("photo.thumbnail.dlq").await == 2).await;
    drop(worker); // before its vhost goes
    world.cleanup().await;
}
