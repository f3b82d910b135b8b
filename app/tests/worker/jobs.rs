//! A photo's way through the worker: ready with both sizes, no metadata, once.
use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::RgbImage;

use crate::harness::{new_uuid, World};

/// A JPEG of `w` x `h` with an EXIF block: orientation 6 (display rotated 90° clockwise) and a
/// GPS position, as a phone writes it.
fn phone_jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, 90]));
    let mut plain = Vec::new();
    JpegEncoder::new_with_quality(&mut plain, 90).encode_image(&img).unwrap();
    // TIFF, little-endian: IFD0 {Orientation = 6, GPS IFD pointer}, GPS IFD {LatitudeRef N, Latitude 39/1 54/1 0/1}.
    let mut t: Vec<u8> = b"II*\0".to_vec();
    t.extend(8u32.to_le_bytes());
    t.extend(2u16.to_le_bytes());
    t.extend([0x12, 0x01, 3, 0]);
    t.extend(1u32.to_le_bytes());
    t.extend([6, 0, 0, 0]);
    t.extend([0x25, 0x88, 4, 0]);
    t.extend(1u32.to_le_bytes());
    t.extend(38u32.to_le_bytes());
    t.extend(0u32.to_le_bytes());
    assert_eq!(t.len(), 38);
    t.extend(2u16.to_le_bytes());
    t.extend([0x01, 0x00, 2, 0]);
    t.extend(2u32.to_le_bytes());
    t.extend(*b"N\0\0\0");
    t.extend([0x02, 0x00, 5, 0]);
    t.extend(3u32.to_le_bytes());
    t.extend(68u32.to_le_bytes());
    t.extend(0u32.to_le_bytes());
    assert_eq!(t.len(), 68);
    for (n, d) in [(39u32, 1u32), (54, 1), (0, 1)] {
        t.extend(n.to_le_bytes());
        t.extend(d.to_le_bytes());
    }
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(t);
    let mut out = plain[..2].to_vec(); // SOI
    out.extend([0xFF, 0xE1]);
    out.extend(((app1.len() + 2) as u16).to_be_bytes());
    out.extend(app1);
    out.extend(&plain[2..]);
    out
}

/// A PNG written row by row (a 60 MP one never exists decoded in the test).
fn streamed_png(w: u32, h: u32, color: png::ColorType, row: impl Fn(u32) -> Vec<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(Cursor::new(&mut out), w, h);
    enc.set_color(color);
    enc.set_compression(png::Compression::Fast);
    let mut writer = enc.write_header().unwrap();
    let mut stream = writer.stream_writer().unwrap();
    for y in 0..h {
        std::io::Write::write_all(&mut stream, &row(y)).unwrap();
    }
    stream.finish().unwrap();
    drop(writer);
    out
}

fn has(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn a_phone_jpeg_becomes_ready_upright_with_both_sizes_and_no_metadata() {
    let world = World::new("wk_ready").await;
    let worker = world.spawn_worker(&[]).await;
    let original = phone_jpeg(1600, 800);
    assert!(has(&original, b"Exif\0\0"), "the original carries EXIF");
    let (id, uuid) = world.photo(&original, 1600, 800).await;

    world.publish(&world.message(id, &uuid), &new_uuid()).await;
    let (status, reason, renditions) = world.settled(id, 60).await;

    assert_eq!(status, "ready", "{reason:?}");
    let (w, h): (u32, u32) = sqlx::query_as("SELECT width, height FROM house_photos WHERE id = ?")
        .bind(id)
        .fetch_one(&world.db)
        .await
        .unwrap();
    assert_eq!((w, h), (800, 1600), "the oriented original: portrait");
    let renditions = renditions.unwrap();
    let sizes: Vec<(String, u64, u64)> = renditions
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap().to_string(), r["width"].as_u64().unwrap(), r["height"].as_u64().unwrap()))
        .collect();
    assert_eq!(sizes, [("large".to_string(), 640, 1280), ("small".to_string(), 160, 320)]);
    for r in renditions.as_array().unwrap() {
        let key = r["key"].as_str().unwrap();
        assert!(key.starts_with(&format!("derived/{uuid}/{}-", r["name"].as_str().unwrap())), "{key}");
        let bytes = world.store.get(key).await.expect("the rendition is in the store").bytes;
        assert_eq!(bytes.len() as u64, r["bytes"].as_u64().unwrap());
        assert!(!has(&bytes, b"Exif"), "no EXIF block in {key}");
        assert!(!has(&bytes, &[0xFF, 0xE1]), "no APP1 segment in {key}");
        let decoded = image::load_from_memory(&bytes).unwrap();
        assert_eq!(
            (u64::from(decoded.width()), u64::from(decoded.height())),
            (r["width"].as_u64().unwrap(), r["height"].as_u64().unwrap())
        );
    }
    let main: String = sqlx::query_scalar("SELECT main_photo FROM houses WHERE id = ?")
        .bind(world.house_id)
        .fetch_one(&world.db)
        .await
        .unwrap();
    assert_eq!(
        main,
        format!("/media/{}", renditions[0]["key"].as_str().unwrap()),
        "the house's first ready photo is its main photo"
    );
    assert_eq!(worker.metric("zufang_worker_jobs_total{outcome=\"ready\"}").await, 1.0);
    assert_eq!(worker.metric("zufang_worker_broker_connected").await, 1.0);
    drop(worker); // before its vhost goes
    world.cleanup().await;
}

#[tokio::test]
async fn a_duplicated_message_is_skipped_and_writes_no_second_set() {
    let world = World::new("wk_dup").await;
    let worker = world.spawn_worker(&[]).await;
    let (id, uuid) = world.photo(&phone_jpeg(400, 300), 400, 300).await;
    let message_id = new_uuid();
    world.publish(&world.message(id, &uuid), &message_id).await;
    let (status, _, first) = world.settled(id, 60).await;
    assert_eq!(status, "ready");

    world.publish(&world.message(id, &uuid), &message_id).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while worker.metric("zufang_worker_jobs_total{outcome=\"skipped\"}").await < 1.0 {
        assert!(std::time::Instant::now() < deadline, "the duplicate was not handled");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    let (status, _, second) = world.status(id).await;
    assert_eq!(status, "ready");
    assert_eq!(first, second, "the renditions are the first delivery's");
    assert_eq!(worker.metric("zufang_worker_jobs_total{outcome=\"ready\"}").await, 1.0);
    drop(worker); // before its vhost goes
    world.cleanup().await;
}

#[tokio::test]
async fn a_60_megapixel_original_fails_with_a_reason_instead_of_exhausting_memory() {
    let world = World::new("wk_big").await;
    let worker = world.spawn_worker(&[]).await;
    // 7746 x 7746 grey PNG (60 MP): tiny compressed, 60 MB decoded (180 MB as RGB).
    let (w, h) = (7746u32, 7746u32);
    let png = streamed_png(w, h, png::ColorType::Grayscale, |_| vec![128u8; w as usize]);
    let (id, uuid) = world.photo(&png, w, h).await;
    world.publish(&world.message(id, &uuid), &new_uuid()).await;

    let (status, reason, renditions) = world.settled(id, 60).await;

    assert_eq!(status, "failed");
    assert_eq!(reason.as_deref(), Some("too many pixels: 7746x7746 is over 40000000"));
    assert!(renditions.is_none());
    assert_eq!(worker.metric("zufang_worker_jobs_total{outcome=\"dead\"}").await, 1.0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while world.depth("photo.thumbnail.dlq").await != 1 {
        assert!(std::time::Instant::now() < deadline, "the job did not reach the DLQ");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    drop(worker); // before its vhost goes
    world.cleanup().await;
}

/// A 20 MP original (seconds of decoding and resizing in a test build) published, and `worker`
/// working on it; returns the photo id.
async fn slow_job_started(world: &World, worker: &crate::harness::WorkerProcess) -> u32 {
    let (w, h) = (5000u32, 4000u32);
    let png = streamed_png(w, h, png::ColorType::Rgb, |y| {
        (0..w).flat_map(|x| [(x % 251) as u8, (y % 241) as u8, 77]).collect()
    });
    let (id, uuid) = world.photo(&png, w, h).await;
    world.publish(&world.message(id, &uuid), &new_uuid()).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while worker.metric("zufang_worker_jobs_in_progress").await < 1.0 {
        assert!(std::time::Instant::now() < deadline, "the job never started");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    id
}

#[tokio::test]
async fn sigterm_finishes_the_job_in_hand_then_exits_cleanly() {
    let world = World::new("wk_term").await;
    let mut worker = world.spawn_worker(&[]).await;
    let id = slow_job_started(&world, &worker).await;

    let pid = worker.child.id().unwrap() as i32;
    // SAFETY: a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let exit =
        tokio::time::timeout(std::time::Duration::from_secs(40), worker.child.wait()).await.expect("exited in time");

    assert!(exit.unwrap().success(), "exit code 0");
    assert_eq!(world.status(id).await.0, "ready", "the job in hand was finished before exiting");
    world.cleanup().await;
}

#[tokio::test]
async fn a_worker_killed_mid_job_leaves_it_to_the_next_worker_which_makes_it_ready_once() {
    let world = World::new("wk_kill").await;
    let mut first = world.spawn_worker(&[]).await;
    let id = slow_job_started(&world, &first).await;

    first.child.start_kill().unwrap(); // SIGKILL: no ack, no goodbye
    first.child.wait().await.unwrap();
    assert_eq!(world.status(id).await.0, "processing", "killed before it finished");
    let second = world.spawn_worker(&[]).await;

    let (status, reason, renditions) = world.settled(id, 120).await;
    assert_eq!(status, "ready", "{reason:?}");
    assert_eq!(renditions.unwrap().as_array().unwrap().len(), 2);
    assert_eq!(
        second.metric("zufang_worker_jobs_total{outcome=\"ready\"}").await,
        1.0,
        "made once, by the second worker"
    );
    drop(second); // before its vhost goes
    world.cleanup().await;
}

/// A loopback TCP relay to the store that can be taken down: connections are then closed at once,
/// as a stopped store refuses them (the real store keeps running for the other tests).
struct StoreSwitch {
    port: u16,
    up: tokio::sync::watch::Sender<bool>,
}

impl StoreSwitch {
    async fn start(target: &str) -> StoreSwitch {
        let target = target.trim_start_matches("http://").to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (up, state) = tokio::sync::watch::channel(true);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !*state.borrow() {
                    continue; // dropped: the client sees the connection closed
                }
                let target = target.clone();
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        StoreSwitch { port, up }
    }
}

#[tokio::test]
async fn with_the_store_down_the_job_is_retried_and_becomes_ready_once_it_is_back() {
    let world = World::new("wk_store").await;
    let switch = StoreSwitch::start(&world.settings.s3.endpoint).await;
    let endpoint = format!("http://127.0.0.1:{}", switch.port);
    let (id, uuid) = world.photo(&phone_jpeg(300, 200), 300, 200).await;
    switch.up.send(false).unwrap();
    let worker = world.spawn_worker(&[("ZUFANG__S3__ENDPOINT", &endpoint)]).await;
    world.publish(&world.message(id, &uuid), &new_uuid()).await;

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while worker.metric("zufang_worker_jobs_total{outcome=\"retry\"}").await < 1.0 {
        assert!(std::time::Instant::now() < deadline, "no retry while the store is down");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let attempts: u32 = sqlx::query_scalar("SELECT attempts FROM house_photos WHERE id = ?")
        .bind(id)
        .fetch_one(&world.db)
        .await
        .unwrap();
    assert!(attempts >= 1, "the failed attempt is counted on the row");
    assert_eq!(world.status(id).await.0, "processing");
    switch.up.send(true).unwrap();

    let (status, reason, _) = world.settled(id, 60).await;
    assert_eq!(status, "ready", "{reason:?}");
    assert_eq!(worker.metric("zufang_worker_jobs_total{outcome=\"ready\"}").await, 1.0);
    assert_eq!(worker.metric("zufang_worker_jobs_total{outcome=\"dead\"}").await, 0.0);
    drop(worker); // before its vhost goes
    world.cleanup().await;
}
