//! House photos end to end on the running compose stack: an upload through the edge (the VIP),
//! the outbox relay, RabbitMQ, `zufang worker`, Garage, and the renditions served back through the
//! edge's `/media/` cache; then the fault drills of the pipeline, each stating how many jobs were
//! lost (the goal is 0): the worker SIGKILLed mid-job, the broker stopped for 30 s during 200
//! uploads, the store down while jobs run, and a poison message. Figures go to
//! artifacts/stack/photos.jsonl.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use zufang_e2e::{admin_token, client, compose, eventually, published_url, random_hex, record, vip_url};

/// The drills stop and start shared services: one at a time even if the harness runs threads.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A JPEG of `w`x`h` (a gradient with noise, so it does not compress to nothing), optionally with
/// an EXIF block carrying GPS coordinates and orientation 6 (rotate 90° clockwise to display).
fn jpeg(w: u32, h: u32, exif_gps: bool, seed: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let n = (x.wrapping_mul(2654435761) ^ y.wrapping_mul(40503) ^ seed) & 31;
        image::Rgb([((x * 255 / w.max(1)) as u8) ^ n as u8, ((y * 255 / h.max(1)) as u8), (seed & 255) as u8])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85).encode_image(&img).expect("encode a JPEG");
    if exif_gps {
        let app1 = exif_app1();
        out.splice(2..2, app1);
    }
    out
}

/// An APP1 segment: "Exif\0\0" + a big-endian TIFF with IFD0 {Orientation 6, GPSInfo pointer} and
/// a GPS IFD {GPSLatitudeRef "N", GPSLatitude 39/1 54/1 27/1}.
fn exif_app1() -> Vec<u8> {
    let mut t: Vec<u8> = b"MM\0\x2a\0\0\0\x08".to_vec();
    // IFD0 at 8: 2 entries (12 bytes each) + next-IFD 0 → GPS IFD at 8 + 2 + 24 + 4 = 38.
    t.extend_from_slice(&2u16.to_be_bytes());
    t.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0]); // Orientation SHORT 6
    t.extend_from_slice(&[0x88, 0x25, 0, 4, 0, 0, 0, 1, 0, 0, 0, 38]); // GPSInfo LONG → 38
    t.extend_from_slice(&0u32.to_be_bytes());
    // GPS IFD at 38: 2 entries + next 0 → rationals at 38 + 2 + 24 + 4 = 68.
    t.extend_from_slice(&2u16.to_be_bytes());
    t.extend_from_slice(&[0, 1, 0, 2, 0, 0, 0, 2, b'N', 0, 0, 0]); // GPSLatitudeRef ASCII "N"
    t.extend_from_slice(&[0, 2, 0, 5, 0, 0, 0, 3, 0, 0, 0, 68]); // GPSLatitude RATIONAL x3 → 68
    t.extend_from_slice(&0u32.to_be_bytes());
    for (n, d) in [(39u32, 1u32), (54, 1), (27, 1)] {
        t.extend_from_slice(&n.to_be_bytes());
        t.extend_from_slice(&d.to_be_bytes());
    }
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&t);
    let mut seg = vec![0xFF, 0xE1];
    seg.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    seg.extend_from_slice(&payload);
    seg
}

/// (width, height) from a JPEG's first SOF marker.
fn jpeg_size(b: &[u8]) -> Result<(u32, u32)> {
    ensure!(b.starts_with(&[0xFF, 0xD8]), "not a JPEG");
    let mut i = 2;
    while i + 9 < b.len() {
        ensure!(b[i] == 0xFF, "bad JPEG marker at {i}");
        let m = b[i + 1];
        let len = u16::from_be_bytes([b[i + 2], b[i + 3]]) as usize;
        if matches!(m, 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF) {
            let h = u16::from_be_bytes([b[i + 5], b[i + 6]]) as u32;
            let w = u16::from_be_bytes([b[i + 7], b[i + 8]]) as u32;
            return Ok((w, h));
        }
        i += 2 + len;
    }
    bail!("no SOF marker")
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn auth(token: &str) -> String {
    format!("Bearer {token}")
}

/// Houses `from..from + n` of the first page of 50 (each drill takes its own: a house accepts at
/// most 20 photos, `[photos] max_per_house`).
fn houses(from: usize, n: usize) -> Result<Vec<u64>> {
    let page: Value = client().get(format!("{}/api/houses/?size=50", vip_url())).send()?.json()?;
    let ids: Vec<u64> =
        page["results"].as_array().context("no results")?.iter().filter_map(|h| h["id"].as_u64()).collect();
    ensure!(ids.len() >= from + n, "wanted {} houses, the seed gave {}", from + n, ids.len());
    Ok(ids[from..from + n].to_vec())
}

/// POST one photo through the VIP: (status, body, Location).
fn upload(token: &str, house: u64, bytes: Vec<u8>, name: &str) -> Result<(u16, Value, Option<String>)> {
    let part = reqwest::blocking::multipart::Part::bytes(bytes).file_name(name.to_string()).mime_str("image/jpeg")?;
    let form = reqwest::blocking::multipart::Form::new().part("file", part);
    let resp = client()
        .post(format!("{}/api/houses/{house}/photos/", vip_url()))
        .header("Authorization", auth(token))
        .multipart(form)
        .send()?;
    let status = resp.status().as_u16();
    let location = resp.headers().get("location").and_then(|v| v.to_str().ok()).map(String::from);
    let body: Value = resp.json().unwrap_or(Value::Null);
    Ok((status, body, location))
}

fn photo(house: u64, id: u64) -> Result<Value> {
    let resp = client().get(format!("{}/api/houses/{house}/photos/{id}/", vip_url())).send()?;
    ensure!(resp.status().is_success(), "GET photo {id}: {}", resp.status());
    Ok(resp.json()?)
}

/// Waits until every photo is out of `processing`; returns those not `ready` with their reason.
fn wait_settled(photos: &[(u64, u64)], limit: Duration) -> Result<Vec<String>> {
    let deadline = Instant::now() + limit;
    let mut pending: Vec<(u64, u64)> = photos.to_vec();
    let mut not_ready = Vec::new();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for &(house, id) in &pending {
            let p = photo(house, id)?;
            match p["status"].as_str() {
                Some("processing") => still.push((house, id)),
                Some("ready") => {}
                other => not_ready.push(format!("photo {id}: {other:?} {}", p["failure_reason"])),
            }
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            bail!("{} of {} photos still processing after {limit:?}", pending.len(), photos.len());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok(not_ready)
}

/// Objects in the photo bucket, as the store itself counts them (Garage's CLI in the s3 container).
fn bucket_objects() -> Result<u64> {
    let out = compose(&["exec", "-T", "s3", "/garage", "-c", "/etc/garage.toml", "bucket", "info", "zufang-photos"])?;
    for line in out.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("Objects:") {
            return rest.trim().replace(',', "").parse().context("the object count");
        }
    }
    bail!("no `Objects:` line in garage bucket info:\n{out}")
}

/// Waits (Garage updates its bucket counters asynchronously) until the store holds `want` objects;
/// the last count on a timeout.
fn objects_settle_at(want: u64) -> Result<u64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n = bucket_objects()?;
        if n == want || Instant::now() > deadline {
            return Ok(n);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A request to the broker's management API (published on the operators' address) as zufang-admin,
/// whose password is read inside the broker's container (never on this host's disk or argv).
fn rabbit_api(method: reqwest::Method, path: &str) -> Result<reqwest::blocking::RequestBuilder> {
    let password =
        compose(&["exec", "-T", "rabbitmq", "head", "-n", "1", "/run/stack-secrets/rabbitmq/admin_password"])?;
    let base = published_url("rabbitmq", 15672)?;
    Ok(client().request(method, format!("{base}/api/{path}")).basic_auth("zufang-admin", Some(password.trim())))
}

fn rabbit(path: &str) -> Result<Value> {
    let resp = rabbit_api(reqwest::Method::GET, path)?.send()?;
    ensure!(resp.status().is_success(), "GET /api/{path}: {}", resp.status());
    Ok(resp.json()?)
}

fn rabbit_publish(routing_key: &str, body: &str, message_id: &str) -> Result<()> {
    let resp = rabbit_api(reqwest::Method::POST, "exchanges/zufang/zufang.events/publish")?
        .json(&json!({"routing_key": routing_key, "payload": body, "payload_encoding": "string",
                      "properties": {"message_id": message_id, "content_type": "application/json", "delivery_mode": 2}}))
        .send()?;
    ensure!(resp.status().is_success(), "publish: {}", resp.status());
    let r: Value = resp.json()?;
    ensure!(r["routed"] == true, "the message was not routed: {r}");
    Ok(())
}

fn queue_messages(queue: &str) -> Result<u64> {
    Ok(rabbit(&format!("queues/zufang/{queue}"))?["messages"].as_u64().unwrap_or(0))
}

/// Upload → 202 → ready; both renditions through the edge with immutable caching and without
/// EXIF; the house shows the photo; DELETE removes the row and its objects.
#[test]
fn upload_is_processed_and_served_through_the_edge_then_deleted() -> Result<()> {
    let _s = serial();
    let token = admin_token()?;
    let house = houses(0, 1)?[0];
    let before = bucket_objects()?;
    let t0 = Instant::now();
    let (status, body, location) = upload(&token, house, jpeg(2400, 1600, true, 1), "gps.jpg")?;
    ensure!(status == 202, "upload: {status} {body}");
    ensure!(body["status"] == "processing", "a new photo is processing: {body}");
    let id = body["id"].as_u64().context("no id")?;
    let location = location.context("no Location header")?;
    ensure!(location.ends_with(&format!("/api/houses/{house}/photos/{id}/")), "Location {location}");
    ensure!(wait_settled(&[(house, id)], Duration::from_secs(60))?.is_empty(), "the photo did not become ready");
    let ready_after = t0.elapsed();
    let p = photo(house, id)?;
    // Orientation 6 turns 2400x1600 into a portrait 1600x2400 before resizing.
    let mut sizes = Vec::new();
    for (name, bound) in [("large", 1280u32), ("small", 320u32)] {
        let url = p["urls"][name].as_str().with_context(|| format!("no {name} URL in {p}"))?;
        ensure!(url.starts_with("/media/derived/"), "{name} URL {url}");
        let resp = client().get(format!("{}{url}", vip_url())).send()?;
        ensure!(resp.status() == 200, "GET {url}: {}", resp.status());
        let h = resp.headers().clone();
        ensure!(
            h.get("content-type").map(|v| v == "image/jpeg").unwrap_or(false),
            "{name}: {:?}",
            h.get("content-type")
        );
        let cc = h.get("cache-control").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        ensure!(cc.contains("immutable") && cc.contains("max-age=31536000"), "{name} Cache-Control: {cc}");
        // Nothing of the store shows through: no x-amz-* header, no Garage in any value.
        for (k, v) in h.iter() {
            let v = v.to_str().unwrap_or("").to_ascii_lowercase();
            ensure!(
                !k.as_str().starts_with("x-amz") && !v.contains("garage") && !v.contains("s3:3900"),
                "{name}: {k}: {v}"
            );
        }
        let bytes = resp.bytes()?.to_vec();
        ensure!(!contains(&bytes, b"Exif") && !contains(&bytes, b"GPS"), "{name} still carries EXIF");
        let (w, hgt) = jpeg_size(&bytes)?;
        ensure!(w.max(hgt) == bound.min(2400) && hgt > w, "{name} is {w}x{hgt}: want portrait, longest side {bound}");
        sizes.push(json!({"name": name, "w": w, "h": hgt, "bytes": bytes.len()}));
    }
    let detail: Value = client().get(format!("{}/api/houses/{house}/", vip_url())).send()?.json()?;
    ensure!(
        detail["main_photo"].as_str().is_some_and(|u| u.contains("/media/derived/")),
        "main_photo: {}",
        detail["main_photo"]
    );
    let stored = objects_settle_at(before + 3)?;
    ensure!(stored == before + 3, "original + 2 renditions stored: {stored} objects, want {}", before + 3);
    let resp = client()
        .delete(format!("{}/api/houses/{house}/photos/{id}/", vip_url()))
        .header("Authorization", auth(&token))
        .send()?;
    ensure!(resp.status() == 204, "DELETE: {}", resp.status());
    ensure!(
        client().get(format!("{}/api/houses/{house}/photos/{id}/", vip_url())).send()?.status() == 404,
        "the photo is gone"
    );
    eventually("the objects are deleted", Duration::from_secs(30), Duration::from_millis(500), || {
        Ok((bucket_objects()? == before).then_some(()))
    })?;
    record("photos", &json!({"drill": "e2e", "ready_after_s": ready_after.as_secs_f64(), "renditions": sizes}));
    Ok(())
}

/// Bad input through the edge: the edge's own limit, the app's type check, anonymous.
#[test]
fn bad_uploads_get_clear_errors_through_the_edge() -> Result<()> {
    let _s = serial();
    let token = admin_token()?;
    let house = houses(1, 1)?[0];
    let (status, body, _) = upload(&token, house, b"%PDF-1.4 not an image".to_vec(), "x.jpg")?;
    ensure!(status == 415, "a PDF named .jpg: {status} {body}");
    ensure!(body.to_string().contains("file"), "the error names the field: {body}");
    let big = vec![0xFFu8; 13 * 1024 * 1024];
    let (status, body, _) = upload(&token, house, big, "big.jpg")?;
    ensure!(status == 413, "13 MiB: {status} {body}");
    let part = reqwest::blocking::multipart::Part::bytes(jpeg(64, 64, false, 2)).file_name("a.jpg");
    let resp = client()
        .post(format!("{}/api/houses/{house}/photos/", vip_url()))
        .multipart(reqwest::blocking::multipart::Form::new().part("file", part))
        .send()?;
    ensure!(resp.status() == 401, "anonymous: {}", resp.status());
    let resp = client().get(format!("{}/media/originals/{}", vip_url(), random_hex(16))).send()?;
    ensure!(resp.status() == 404, "originals are never served: {}", resp.status());
    Ok(())
}

/// SIGKILL of the worker while it works through a backlog: the unacked jobs come back and every
/// photo becomes ready once.
#[test]
fn worker_killed_mid_job_loses_nothing() -> Result<()> {
    let _s = serial();
    let token = admin_token()?;
    let house_ids = houses(2, 2)?;
    compose(&["stop", "worker"])?;
    let before = bucket_objects()?;
    let redelivered_before =
        rabbit("queues/zufang/photo.thumbnail")?["message_stats"]["redeliver"].as_u64().unwrap_or(0);
    let mut photos = Vec::new();
    for i in 0..12u32 {
        let house = house_ids[(i % 2) as usize];
        let (status, body, _) = upload(&token, house, jpeg(4000, 3000, false, 100 + i), "big.jpg")?;
        ensure!(status == 202, "upload {i}: {status} {body}");
        photos.push((house, body["id"].as_u64().context("id")?));
    }
    compose(&["start", "worker"])?;
    // Kill as soon as the first photo is ready: the worker holds the next ones (prefetch).
    eventually("a first photo ready", Duration::from_secs(60), Duration::from_millis(100), || {
        Ok(photos.iter().any(|&(h, id)| photo(h, id).map(|p| p["status"] == "ready").unwrap_or(false)).then_some(()))
    })?;
    compose(&["kill", "-s", "KILL", "worker"])?;
    let killed_at = Instant::now();
    compose(&["up", "-d", "--wait", "worker"])?;
    let not_ready = wait_settled(&photos, Duration::from_secs(120))?;
    ensure!(not_ready.is_empty(), "lost or failed: {not_ready:?}");
    let redelivered = rabbit("queues/zufang/photo.thumbnail")?["message_stats"]["redeliver"]
        .as_u64()
        .unwrap_or(0)
        .saturating_sub(redelivered_before);
    let objects = objects_settle_at(before + 3 * photos.len() as u64)?.saturating_sub(before);
    ensure!(objects == 3 * photos.len() as u64, "{objects} objects for {} photos: want 3 each", photos.len());
    record(
        "photos",
        &json!({"drill": "worker_sigkill", "uploads": photos.len(), "lost": 0, "redelivered": redelivered,
                "all_ready_after_kill_s": killed_at.elapsed().as_secs_f64()}),
    );
    Ok(())
}

/// The broker stopped for 30 s while 200 photos are uploaded: uploads go on (the outbox keeps the
/// jobs), every accepted photo becomes ready after the broker is back, none twice.
#[test]
fn broker_outage_during_uploads_delays_but_loses_nothing() -> Result<()> {
    let _s = serial();
    let token = admin_token()?;
    let house_ids = houses(4, 20)?;
    let before = bucket_objects()?;
    let mut accepted = Vec::new();
    let mut unavailable = 0u32;
    let mut other = Vec::new();
    let t0 = Instant::now();
    let (mut stopped_at, mut started_at) = (None, None);
    for i in 0..200u32 {
        // The edge allows 2 uploads/s per address (burst 10): stay just under it.
        let due = Duration::from_millis(560 * i as u64);
        if let Some(wait) = due.checked_sub(t0.elapsed()) {
            std::thread::sleep(wait);
        }
        if i == 20 {
            compose(&["stop", "rabbitmq"])?;
            stopped_at = Some(t0.elapsed());
        }
        if stopped_at.is_some() && started_at.is_none() && t0.elapsed() >= stopped_at.unwrap() + Duration::from_secs(30)
        {
            compose(&["start", "rabbitmq"])?;
            started_at = Some(t0.elapsed());
        }
        let house = house_ids[(i % 20) as usize];
        let (status, body, _) = upload(&token, house, jpeg(640, 480, false, 1000 + i), "p.jpg")?;
        match status {
            202 => accepted.push((house, body["id"].as_u64().context("id")?)),
            503 => unavailable += 1,
            s => other.push(format!("{s} {body}")),
        }
    }
    if started_at.is_none() {
        compose(&["start", "rabbitmq"])?;
    }
    compose(&["up", "-d", "--wait", "rabbitmq", "worker"])?;
    ensure!(other.is_empty(), "uploads answered neither 202 nor 503: {other:?}");
    let recovered = Instant::now();
    let not_ready = wait_settled(&accepted, Duration::from_secs(180))?;
    ensure!(not_ready.is_empty(), "accepted photos not ready: {not_ready:?}");
    let objects = objects_settle_at(before + 3 * accepted.len() as u64)?.saturating_sub(before);
    ensure!(
        objects == 3 * accepted.len() as u64,
        "{objects} objects for {} photos: none twice, none missing",
        accepted.len()
    );
    record(
        "photos",
        &json!({"drill": "broker_down_30s", "uploads": 200, "accepted": accepted.len(), "unavailable_503": unavailable,
                "lost": 0, "all_ready_after_recovery_s": recovered.elapsed().as_secs_f64()}),
    );
    Ok(())
}

/// The store down: an upload is a clean 503; jobs already queued retry and complete after it is
/// back.
#[test]
fn store_outage_retries_then_completes() -> Result<()> {
    let _s = serial();
    let token = admin_token()?;
    let house = houses(24, 1)?[0];
    compose(&["stop", "worker"])?;
    let mut photos = Vec::new();
    for i in 0..5u32 {
        let (status, body, _) = upload(&token, house, jpeg(800, 600, false, 2000 + i), "s.jpg")?;
        ensure!(status == 202, "upload {i}: {status} {body}");
        photos.push((house, body["id"].as_u64().context("id")?));
    }
    compose(&["stop", "s3"])?;
    let (status, body, _) = upload(&token, house, jpeg(320, 240, false, 2100), "down.jpg")?;
    ensure!(status == 503, "an upload with the store down: {status} {body}");
    // Not `start`: Compose starts a service's dependencies with it, and the worker depends on the
    // store (through s3-init); `up --no-deps` starts the worker alone.
    compose(&["up", "-d", "--no-deps", "worker"])?;
    // The worker fails each job on the store and sends it to the 5 s retry tier.
    std::thread::sleep(Duration::from_secs(8));
    let still: Vec<_> =
        photos.iter().filter(|&&(h, id)| photo(h, id).map(|p| p["status"] == "processing").unwrap_or(false)).collect();
    ensure!(
        still.len() == photos.len(),
        "with the store down no photo can be ready: {} of {}",
        still.len(),
        photos.len()
    );
    compose(&["start", "s3"])?;
    let back = Instant::now();
    let not_ready = wait_settled(&photos, Duration::from_secs(120))?;
    ensure!(not_ready.is_empty(), "not ready after the store came back: {not_ready:?}");
    record(
        "photos",
        &json!({"drill": "store_down", "jobs": photos.len(), "lost": 0, "ready_after_store_back_s": back.elapsed().as_secs_f64()}),
    );
    Ok(())
}

/// A message no worker can use goes to the dead-letter queue with its reason, the queue keeps
/// flowing, and the operator's commands list and replay it.
#[test]
fn poison_message_is_dead_lettered_and_the_queue_keeps_flowing() -> Result<()> {
    let _s = serial();
    let token = admin_token()?;
    let house = houses(25, 1)?[0];
    let dlq_before = queue_messages("photo.thumbnail.dlq")?;
    let poison_id = format!("00000000-0000-4000-8000-{}", random_hex(6));
    rabbit_publish("photo.uploaded", "{\"schema_version\": 99, \"event\": \"photo.uploaded\"}", &poison_id)?;
    eventually("the poison message in the DLQ", Duration::from_secs(30), Duration::from_millis(500), || {
        Ok((queue_messages("photo.thumbnail.dlq")? > dlq_before).then_some(()))
    })?;
    let (status, body, _) = upload(&token, house, jpeg(640, 480, false, 3000), "after.jpg")?;
    ensure!(status == 202, "{status} {body}");
    let id = body["id"].as_u64().context("id")?;
    ensure!(wait_settled(&[(house, id)], Duration::from_secs(60))?.is_empty(), "the next good job is processed");
    let listed = compose(&["--profile", "ops", "run", "--rm", "jobs", "dlq", "list"])?;
    ensure!(listed.contains(&poison_id), "`jobs dlq list` shows the poison message:\n{listed}");
    ensure!(queue_messages("photo.thumbnail.dlq")? > dlq_before, "listing consumed nothing");
    compose(&["--profile", "ops", "run", "--rm", "jobs", "dlq", "replay", "--message-id", &poison_id])?;
    // Replayed, it is dead-lettered again (still poison), once more in the DLQ.
    eventually("the replayed message back in the DLQ", Duration::from_secs(30), Duration::from_millis(500), || {
        let listed = compose(&["--profile", "ops", "run", "--rm", "jobs", "dlq", "list"])?;
        Ok(listed.contains(&poison_id).then_some(()))
    })?;
    record("photos", &json!({"drill": "poison", "dead_lettered": 1, "next_job_ready": true}));
    Ok(())
}

#[test]
fn test_image_helpers_are_right() -> Result<()> {
    let j = jpeg(30, 20, true, 7);
    ensure!(jpeg_size(&j)? == (30, 20));
    ensure!(contains(&j, b"Exif") && image::load_from_memory(&j).is_ok());
    Ok(())
}
