//! The `photo.uploaded` message as the worker reads it, and the retry policy: pure functions, no I/O.
use serde::Deserialize;

/// The schema versions this worker knows. A newer one is dead-lettered at once: an older worker
/// must not retry a newer producer's message forever (rabbitmq/README.md, the message contract).
pub const SCHEMA_VERSIONS: &[u64] = &[1];
pub const EVENT: &str = "photo.uploaded";

/// `photo.uploaded`, schema_version 1. Fields may be added within a version; unknown ones are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PhotoUploaded {
    pub schema_version: u64,
    pub event: String,
    pub photo_id: u32,
    pub photo_uuid: String,
    pub house_id: u32,
    pub object_key: String,
}

/// The body, or the reason it can never be processed (the message goes to the DLQ with it).
pub fn parse(body: &[u8]) -> Result<PhotoUploaded, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not JSON: {}", short(&e.to_string())))?;
    let version = value.get("schema_version").ok_or("no schema_version")?;
    match version.as_u64() {
        Some(v) if SCHEMA_VERSIONS.contains(&v) => {}
        _ => return Err(format!("unknown schema_version {}", short(&version.to_string()))),
    }
    let m: PhotoUploaded =
        serde_json::from_value(value).map_err(|e| format!("malformed {EVENT}: {}", short(&e.to_string())))?;
    if m.event != EVENT {
        return Err(format!("unexpected event {:?}", short(&m.event)));
    }
    if !is_uuid(&m.photo_uuid) {
        return Err("photo_uuid is not a UUID".into());
    }
    Ok(m)
}

/// 8-4-4-4-12 hex digits: object keys are built from it, so nothing else may pass.
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { c == '-' } else { c.is_ascii_hexdigit() })
}

/// What becomes of a job that failed for a reason that may pass (store, database, timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Republish to `zufang.retry` with this routing key (the tier's queue).
    Retry(&'static str),
    /// No attempts left: dead-letter it.
    GiveUp,
}

/// The retry tiers of rabbitmq/definitions.json, by failed attempt (1, 2, 3 and beyond).
pub const RETRY_TIERS: &[&str] = &["photo.thumbnail.retry.5s", "photo.thumbnail.retry.30s", "photo.thumbnail.retry.5m"];

/// `failed`: attempts failed so far, this one included (>= 1).
pub fn after_failure(failed: u32, max_attempts: u32) -> AfterFailure {
    if failed >= max_attempts {
        return AfterFailure::GiveUp;
    }
    let i = (failed.max(1) as usize - 1).min(RETRY_TIERS.len() - 1);
    AfterFailure::Retry(RETRY_TIERS[i])
}

/// Reasons go into a header and a VARCHAR(255): one line, bounded.
pub fn short(s: &str) -> String {
    let line: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if line.chars().count() <= 200 {
        line
    } else {
        let mut cut: String = line.chars().take(199).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "0b7f3c1e-2a4d-4e5f-8a9b-0c1d2e3f4a5b";

    fn body(version: &str) -> String {
        format!(
            r#"{{"schema_version":{version},"event":"photo.uploaded","photo_id":42,"photo_uuid":"{UUID}","house_id":7,"object_key":"originals/{UUID}","occurred_at":"2026-12-06T00:00:00Z"}}"#
        )
    }

    #[test]
    fn a_version_1_message_parses_and_extra_fields_are_ignored() {
        let m = parse(body("1").replace("}", r#","added_later":true}"#).as_bytes()).unwrap();
        assert_eq!((m.photo_id, m.house_id, m.photo_uuid.as_str()), (42, 7, UUID));
    }

    #[test]
    fn an_unknown_schema_version_is_refused_with_its_number() {
        assert_eq!(parse(body("2").as_bytes()).unwrap_err(), "unknown schema_version 2");
        assert_eq!(parse(body("\"1\"").as_bytes()).unwrap_err(), "unknown schema_version \"1\"");
    }

    #[test]
    fn bad_json_and_missing_fields_are_refused() {
        assert!(parse(b"{not json").unwrap_err().starts_with("not JSON"));
        assert_eq!(parse(b"{}").unwrap_err(), "no schema_version");
        let no_id = body("1").replace(r#""photo_id":42,"#, "");
        assert!(parse(no_id.as_bytes()).unwrap_err().contains("photo_id"), "names the field");
    }

    #[test]
    fn a_uuid_that_could_escape_the_key_space_is_refused() {
        let evil = body("1").replace(UUID, "../../originals/aaaaaaaaaaaaaaaaaaaaaaaaa");
        assert_eq!(parse(evil.as_bytes()).unwrap_err(), "photo_uuid is not a UUID");
        assert!(is_uuid(UUID));
        assert!(!is_uuid(&UUID.replace('-', "x")));
    }

    #[test]
    fn another_event_is_refused() {
        let other = body("1").replace("photo.uploaded", "house.changed");
        assert!(parse(other.as_bytes()).unwrap_err().starts_with("unexpected event"));
    }

    #[test]
    fn retry_tiers_follow_the_failed_attempts_then_give_up() {
        assert_eq!(after_failure(1, 4), AfterFailure::Retry("photo.thumbnail.retry.5s"));
        assert_eq!(after_failure(2, 4), AfterFailure::Retry("photo.thumbnail.retry.30s"));
        assert_eq!(after_failure(3, 4), AfterFailure::Retry("photo.thumbnail.retry.5m"));
        assert_eq!(after_failure(4, 4), AfterFailure::GiveUp);
        assert_eq!(after_failure(6, 10), AfterFailure::Retry("photo.thumbnail.retry.5m"), "the last tier repeats");
        assert_eq!(after_failure(1, 1), AfterFailure::GiveUp);
    }

    #[test]
    fn reasons_are_one_bounded_line() {
        assert_eq!(short("a\nb"), "a b");
        assert_eq!(short(&"x".repeat(500)).chars().count(), 200);
    }
}
