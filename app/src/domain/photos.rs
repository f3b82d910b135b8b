//! What an uploaded file is, decided from its bytes alone (never the client's Content-Type or
//! file name): the format by its magic number, the dimensions by decoding the header only, then
//! the pixel limit (a decompression bomb is refused before a single pixel is decoded) and a cheap
//! completeness check (a truncated upload would fail later, in the worker, as a poison job).
use std::io::Cursor;

use image::{ImageFormat, ImageReader};

use super::validation::{Fields, Invalid};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    Jpeg,
    Png,
    Webp,
}

impl ImageKind {
    pub fn content_type(self) -> &'static str {
        match self {
            ImageKind::Jpeg => "image/jpeg",
            ImageKind::Png => "image/png",
            ImageKind::Webp => "image/webp",
        }
    }
}

/// An accepted image: its kind and the dimensions its header declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sniffed {
    pub kind: ImageKind,
    pub width: u32,
    pub height: u32,
}

/// Why a file is refused (each is its own status: 415, 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not a JPEG, PNG or WebP, or not a whole one (415).
    Unsupported(&'static str),
    /// More pixels than the limit, by the header (400).
    TooManyPixels { width: u32, height: u32, limit: u64 },
}

impl Refusal {
    pub fn message(&self) -> String {
        match self {
            Refusal::Unsupported(why) => format!("Unsupported file: {why} Upload a JPEG, PNG or WebP image."),
            Refusal::TooManyPixels { width, height, limit } => {
                format!("The image is {width}x{height} pixels; at most {limit} pixels are accepted.")
            }
        }
    }
}

/// Classify `bytes` (the whole upload).
pub fn sniff(bytes: &[u8], max_pixels: u64) -> Result<Sniffed, Refusal> {
    let kind = match image::guess_format(bytes) {
        Ok(ImageFormat::Jpeg) => ImageKind::Jpeg,
        Ok(ImageFormat::Png) => ImageKind::Png,
        Ok(ImageFormat::WebP) => ImageKind::Webp,
        _ => return Err(Refusal::Unsupported("not a JPEG, PNG or WebP file.")),
    };
    let format = match kind {
        ImageKind::Jpeg => ImageFormat::Jpeg,
        ImageKind::Png => ImageFormat::Png,
        ImageKind::Webp => ImageFormat::WebP,
    };
    // Reads the header (up to PNG's first data chunk, JPEG's frame header), no pixel data.
    let (width, height) = ImageReader::with_format(Cursor::new(bytes), format)
        .into_dimensions()
        .map_err(|_| Refusal::Unsupported("the image header cannot be read."))?;
    if width == 0 || height == 0 {
        return Err(Refusal::Unsupported("the image has no pixels."));
    }
    let limit = max_pixels;
    if u64::from(width) * u64::from(height) > limit {
        return Err(Refusal::TooManyPixels { width, height, limit });
    }
    if !complete(kind, bytes) {
        return Err(Refusal::Unsupported("the file is truncated."));
    }
    Ok(Sniffed { kind, width, height })
}

/// The end of the file is where the format says it is: JPEG's EOI marker (some encoders pad
/// after it), PNG's IEND chunk, WebP's RIFF length.
fn complete(kind: ImageKind, bytes: &[u8]) -> bool {
    match kind {
        ImageKind::Jpeg => {
            let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            end >= 4 && bytes[..end].ends_with(&[0xFF, 0xD9])
        }
        ImageKind::Png => {
            bytes.len() >= 12 && bytes[bytes.len() - 12..].starts_with(&[0, 0, 0, 0, b'I', b'E', b'N', b'D'])
        }
        ImageKind::Webp => {
            bytes.len() >= 12 && {
                let riff = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
                // The chunk's size plus its 8-byte header, with RIFF's pad byte for an odd size.
                riff + 8 == bytes.len() || (riff % 2 == 1 && riff + 9 == bytes.len())
            }
        }
    }
}

/// A derived object key as the worker writes it: `derived/{uuid}/{name}-{16 hex}.jpg`, nothing
/// else (no `..`, no other prefix, no other extension): what `/media/` is allowed to serve.
pub fn is_derived_key(key: &str) -> bool {
    let Some(rest) = key.strip_prefix("derived/") else { return false };
    let Some((uuid, file)) = rest.split_once('/') else { return false };
    let uuid_ok = uuid.len() == 36
        && uuid.char_indices().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_digit() || ('a'..='f').contains(&c)
            }
        });
    let Some(stem) = file.strip_suffix(".jpg") else { return false };
    let Some((name, hash)) = stem.rsplit_once('-') else { return false };
    uuid_ok
        && matches!(name, "large" | "small")
        && hash.len() == 16
        && hash.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

/// The body of `PATCH /api/houses/{id}/photos/{pid}/`: `{"is_main": true|false}` and nothing else.
pub fn parse_patch(body: &serde_json::Value) -> Result<bool, Invalid> {
    let Some(obj) = body.as_object() else {
        return Err(Invalid::Malformed("Expected a JSON object.".into()));
    };
    let mut fields = Fields::default();
    for key in obj.keys().filter(|k| k.as_str() != "is_main") {
        fields.add(key, "Unknown field; only is_main can be changed.");
    }
    let is_main = match obj.get("is_main") {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(_) => {
            fields.add("is_main", "Must be a boolean.");
            false
        }
        None => {
            fields.add("is_main", "This field is required.");
            false
        }
    };
    fields.finish()?;
    Ok(is_main)
}

/// The object key of an upload's original.
pub fn original_key(uuid: &str) -> String {
    format!("originals/{uuid}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::RgbImage;

    fn encoded(format: ImageFormat, w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 7) as u8, (y * 5) as u8, 90]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    /// A PNG whose IHDR claims `w` x `h` (with a valid CRC) around a tiny image's data: a bomb
    /// costs a few hundred bytes to make and would cost w*h*3 bytes to decode.
    pub fn png_claiming(w: u32, h: u32) -> Vec<u8> {
        let mut png = encoded(ImageFormat::Png, 4, 4);
        png[16..20].copy_from_slice(&w.to_be_bytes());
        png[20..24].copy_from_slice(&h.to_be_bytes());
        let crc = crc32(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        png
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }

    #[test]
    fn jpeg_png_and_webp_are_recognised_with_their_dimensions() {
        for (format, kind) in [
            (ImageFormat::Jpeg, ImageKind::Jpeg),
            (ImageFormat::Png, ImageKind::Png),
            (ImageFormat::WebP, ImageKind::Webp),
        ] {
            let s = sniff(&encoded(format, 40, 30), 40_000_000).unwrap();
            assert_eq!(s, Sniffed { kind, width: 40, height: 30 });
        }
    }

    #[test]
    fn svg_html_and_pdf_are_unsupported_whatever_they_are_called() {
        for body in [
            &b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>"[..],
            b"<!DOCTYPE html><html><body>hi</body></html>",
            b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF",
            b"",
        ] {
            assert!(matches!(sniff(body, 40_000_000), Err(Refusal::Unsupported(_))), "{body:?}");
        }
    }

    #[test]
    fn truncated_files_are_unsupported() {
        for format in [ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::WebP] {
            let full = encoded(format, 64, 64);
            let cut = &full[..full.len() - 10];
            assert_eq!(sniff(cut, 40_000_000), Err(Refusal::Unsupported("the file is truncated.")), "{format:?}");
        }
    }

    #[test]
    fn a_jpeg_padded_after_its_end_marker_is_complete() {
        let mut jpeg = encoded(ImageFormat::Jpeg, 8, 8);
        jpeg.extend_from_slice(&[0, 0, 0]);
        assert!(sniff(&jpeg, 40_000_000).is_ok());
    }

    #[test]
    fn a_pixel_bomb_is_refused_from_its_header() {
        let bomb = png_claiming(8000, 7500);
        assert!(bomb.len() < 1000);
        assert_eq!(
            sniff(&bomb, 40_000_000),
            Err(Refusal::TooManyPixels { width: 8000, height: 7500, limit: 40_000_000 })
        );
        assert!(sniff(&png_claiming(4, 4), 16).is_ok());
        assert!(matches!(sniff(&png_claiming(4, 4), 15), Err(Refusal::TooManyPixels { .. })));
    }

    #[test]
    fn a_patch_sets_is_main_and_nothing_else() {
        assert_eq!(parse_patch(&serde_json::json!({"is_main": true})), Ok(true));
        assert_eq!(parse_patch(&serde_json::json!({"is_main": false})), Ok(false));
        for bad in [
            serde_json::json!({"is_main": "yes"}),
            serde_json::json!({}),
            serde_json::json!({"is_main": true, "status": "ready"}),
            serde_json::json!([1]),
        ] {
            assert!(parse_patch(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_derived_keys_of_the_contract_are_servable() {
        let uuid = "0f8e4c2a-1b3d-4e5f-8a9b-0c1d2e3f4a5b";
        assert!(is_derived_key(&format!("derived/{uuid}/large-0123456789abcdef.jpg")));
        assert!(is_derived_key(&format!("derived/{uuid}/small-0123456789abcdef.jpg")));
        for bad in [
            format!("originals/{uuid}"),
            format!("derived/{uuid}/medium-0123456789abcdef.jpg"),
            format!("derived/{uuid}/large-0123456789ABCDEF.jpg"),
            format!("derived/{uuid}/large-0123456789abcde.jpg"),
            format!("derived/{uuid}/large-0123456789abcdef.png"),
            format!("derived/{uuid}/../../originals/{uuid}"),
            format!("derived/{uuid}/x/large-0123456789abcdef.jpg"),
            "derived/not-a-uuid/large-0123456789abcdef.jpg".to_string(),
            String::new(),
        ] {
            assert!(!is_derived_key(&bad), "{bad}");
        }
    }
}
