//! The derived sizes of one original: decode under hard limits, apply the EXIF orientation,
//! resize, encode as JPEG without any metadata, and name each by its content. CPU-bound: the
//! worker runs [`render`] on a blocking thread.
use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageReader};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The sizes made of every photo: name and the square each must fit in (shared contract).
pub const SIZES: &[(&str, u32)] = &[("large", 1280), ("small", 320)];
pub const JPEG_QUALITY: u8 = 82;
pub const CONTENT_TYPE: &str = "image/jpeg";

/// Bounds of one decode.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// `worker.max_decode_bytes`: the decoder's allocation limit.
    pub max_alloc: u64,
    /// `photos.max_pixels`: width x height from the header, checked before any pixel is decoded
    /// (the upload API checks it too; this holds for originals that reached the store otherwise).
    pub max_pixels: u64,
}

/// One encoded size, ready to be stored under `key`.
#[derive(Debug, Clone, Serialize)]
pub struct Rendition {
    pub name: &'static str,
    pub key: String,
    pub width: u32,
    pub height: u32,
    pub content_type: &'static str,
    pub bytes: usize,
    #[serde(skip)]
    pub data: Vec<u8>,
}

/// The renditions and the original's dimensions once oriented.
#[derive(Debug)]
pub struct Rendered {
    pub width: u32,
    pub height: u32,
    pub renditions: Vec<Rendition>,
}

/// `derived/{uuid}/{name}-{first 16 hex of sha256(data)}.jpg`: a key never changes content, and a
/// redelivered job writes the same keys (the encoder is deterministic).
pub fn derived_key(uuid: &str, name: &str, data: &[u8]) -> String {
    let digest = hex::encode(Sha256::digest(data));
    format!("derived/{uuid}/{name}-{}.jpg", &digest[..16])
}

/// The largest size with the same aspect ratio that fits in `bound` x `bound`; never enlarged,
/// never below 1 pixel.
pub fn fit_within(width: u32, height: u32, bound: u32) -> (u32, u32) {
    if width <= bound && height <= bound {
        return (width.max(1), height.max(1));
    }
    let (w, h, b) = (u64::from(width), u64::from(height), u64::from(bound));
    if w >= h {
        (bound, ((h * b + w / 2) / w).max(1) as u32)
    } else {
        (((w * b + h / 2) / h).max(1) as u32, bound)
    }
}

/// Every size of `original`. An error is permanent (the bytes will not decode any better
/// later): undecodable, unsupported, or over a limit.
pub fn render(original: &[u8], uuid: &str, limits: DecodeLimits) -> Result<Rendered, String> {
    let mut reader = ImageReader::new(Cursor::new(original))
        .with_guessed_format()
        .map_err(|e| format!("unreadable original: {e}"))?;
    let mut decode_limits = image::Limits::default();
    decode_limits.max_alloc = Some(limits.max_alloc);
    reader.limits(decode_limits.clone());
    let mut decoder = reader.into_decoder().map_err(|e| format!("undecodable original: {e}"))?;
    let (w, h) = decoder.dimensions();
    if u64::from(w) * u64::from(h) > limits.max_pixels {
        return Err(format!("too many pixels: {w}x{h} is over {}", limits.max_pixels));
    }
    // The decoded pixels and their RGB copy count against the budget before anything is
    // allocated (`into_decoder` leaves the output buffer to the caller, unlike `decode`); the
    // decoder's own scratch memory gets what the output leaves.
    let output = decoder.total_bytes();
    let needed = output.saturating_add(u64::from(w) * u64::from(h) * 3);
    if needed > limits.max_alloc {
        return Err(format!(
            "over the decode budget: {w}x{h} needs {needed} bytes, worker.max_decode_bytes is {}",
            limits.max_alloc
        ));
    }
    decode_limits.max_alloc = Some(limits.max_alloc - output);
    decoder.set_limits(decode_limits).map_err(|e| format!("over the decode limits: {e}"))?;
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| format!("undecodable original: {e}"))?;
    image.apply_orientation(orientation);
    // JPEG has no alpha: transparent pixels become their colour channels (the upload's own).
    let rgb = DynamicImage::ImageRgb8(image.to_rgb8());
    drop(image);
    let (width, height) = (rgb.width(), rgb.height());
    let mut renditions = Vec::with_capacity(SIZES.len());
    // Each size from the previous one (already smaller): the small one costs little.
    let mut source = rgb;
    for (name, bound) in SIZES {
        let (fw, fh) = fit_within(source.width(), source.height(), *bound);
        let resized = if (fw, fh) == (source.width(), source.height()) {
            source
        } else {
            source.resize_exact(fw, fh, FilterType::Triangle)
        };
        let mut data = Vec::new();
        JpegEncoder::new_with_quality(&mut data, JPEG_QUALITY)
            .encode_image(&resized)
            .map_err(|e| format!("encoding the {name} size failed: {e}"))?;
        renditions.push(Rendition {
            name,
            key: derived_key(uuid, name, &data),
            width: fw,
            height: fh,
            content_type: CONTENT_TYPE,
            bytes: data.len(),
            data,
        });
        source = resized;
    }
    Ok(Rendered { width, height, renditions })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageFormat, RgbImage};

    const UUID: &str = "0b7f3c1e-2a4d-4e5f-8a9b-0c1d2e3f4a5b";
    const LIMITS: DecodeLimits = DecodeLimits { max_alloc: 256 << 20, max_pixels: 40_000_000 };

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn sizes_fit_their_square_and_keep_the_aspect_ratio() {
        assert_eq!(fit_within(4000, 3000, 1280), (1280, 960));
        assert_eq!(fit_within(3000, 4000, 320), (240, 320));
        assert_eq!(fit_within(1280, 1280, 1280), (1280, 1280));
        assert_eq!(fit_within(100, 50, 320), (100, 50), "never enlarged");
        assert_eq!(fit_within(10_000, 1, 320), (320, 1), "never below one pixel");
    }

    #[test]
    fn keys_are_named_by_content() {
        let k = derived_key(UUID, "large", b"abc");
        // sha256("abc") = ba7816bf8f01cfea...
        assert_eq!(k, format!("derived/{UUID}/large-ba7816bf8f01cfea.jpg"));
        assert_ne!(k, derived_key(UUID, "large", b"abd"));
    }

    #[test]
    fn a_png_becomes_two_jpegs_that_fit_and_render_the_same_twice() {
        let original = png(2000, 1000);
        let r = render(&original, UUID, LIMITS).unwrap();
        assert_eq!((r.width, r.height), (2000, 1000));
        let dims: Vec<_> = r.renditions.iter().map(|x| (x.name, x.width, x.height)).collect();
        assert_eq!(dims, [("large", 1280, 640), ("small", 320, 160)]);
        for x in &r.renditions {
            assert_eq!(&x.data[..3], &[0xFF, 0xD8, 0xFF], "a JPEG");
            assert_eq!(image::load_from_memory(&x.data).unwrap().width(), x.width);
        }
        let again = render(&original, UUID, LIMITS).unwrap();
        assert_eq!(r.renditions[0].key, again.renditions[0].key, "deterministic: a redelivery writes the same key");
    }

    #[test]
    fn over_the_pixel_limit_fails_before_decoding() {
        let err = render(&png(300, 200), UUID, DecodeLimits { max_pixels: 50_000, ..LIMITS }).unwrap_err();
        assert_eq!(err, "too many pixels: 300x200 is over 50000");
    }

    #[test]
    fn over_the_allocation_limit_fails_instead_of_allocating() {
        let err = render(&png(1200, 1200), UUID, DecodeLimits { max_alloc: 1 << 20, ..LIMITS }).unwrap_err();
        assert_eq!(err, "over the decode budget: 1200x1200 needs 8640000 bytes, worker.max_decode_bytes is 1048576");
    }

    #[test]
    fn garbage_is_a_permanent_error() {
        assert!(render(b"%PDF-1.7 not an image", UUID, LIMITS).is_err());
        let truncated = &png(64, 64)[..100];
        assert!(render(truncated, UUID, LIMITS).is_err());
    }
}
