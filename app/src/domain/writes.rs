//! Write bodies (estates, houses) parsed into typed values, every field problem reported at
//! once (400 with `fields`), and the `If-Match` precondition.
use serde_json::{Map, Value};

use crate::error::{ApiError, FieldErrors};

/// Typed access to a JSON object body that collects per-field errors.
pub struct Body<'a> {
    obj: &'a Map<String, Value>,
    pub errors: FieldErrors,
}

impl<'a> Body<'a> {
    pub fn new(v: &'a Value, allowed: &[&str]) -> Result<Self, ApiError> {
        let obj = v.as_object().ok_or_else(|| ApiError::BadRequest("The body must be a JSON object.".into()))?;
        let mut b = Body { obj, errors: FieldErrors::new() };
        for k in obj.keys() {
            if !allowed.contains(&k.as_str()) {
                b.error(k, "Unknown field.");
            }
        }
        Ok(b)
    }

    pub fn error(&mut self, field: &str, msg: &str) {
        self.errors.entry(field.to_string()).or_default().push(msg.to_string());
    }

    fn present(&mut self, field: &str, required: bool) -> Option<&'a Value> {
        match self.obj.get(field) {
            Some(Value::Null) | None => {
                if required {
                    self.error(field, "This field is required.");
                }
                None
            }
            Some(v) => Some(v),
        }
    }

    pub fn text(&mut self, field: &str, required: bool, min: usize, max: usize) -> Option<String> {
        let v = self.present(field, required)?;
        match v.as_str().map(str::trim) {
            Some(s) if (min..=max).contains(&s.chars().count()) => Some(s.to_string()),
            Some(_) => {
                self.error(field, &format!("Must be {min} to {max} characters."));
                None
            }
            None => {
                self.error(field, "Must be a string.");
                None
            }
        }
    }

    pub fn uint(&mut self, field: &str, required: bool, min: u64, max: u64) -> Option<u64> {
        let v = self.present(field, required)?;
        match v.as_u64() {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.error(field, &format!("Must be an integer from {min} to {max}."));
                None
            }
        }
    }

    pub fn id(&mut self, field: &str, required: bool) -> Option<u32> {
        self.uint(field, required, 1, u32::MAX as u64).map(|n| n as u32)
    }

    pub fn boolean(&mut self, field: &str) -> Option<bool> {
        let v = self.present(field, false)?;
        let b = v.as_bool();
        if b.is_none() {
            self.error(field, "Must be true or false.");
        }
        b
    }

    pub fn ids(&mut self, field: &str) -> Option<Vec<u32>> {
        let v = self.present(field, false)?;
        let parsed: Option<Vec<u32>> = v.as_array().and_then(|a| {
            a.iter().map(|x| x.as_u64().filter(|n| (1..=u32::MAX as u64).contains(n)).map(|n| n as u32)).collect()
        });
        match parsed {
            Some(mut ids) if ids.len() <= 32 => {
                ids.sort_unstable();
                ids.dedup();
                Some(ids)
            }
            _ => {
                self.error(field, "Must be a list of at most 32 ids.");
                None
            }
        }
    }

    pub fn finish(self) -> Result<(), ApiError> {
        ApiError::check_fields(self.errors)
    }
}

/// The version a conditional write expects: `If-Match: "7"` (an ETag from GET) or `"version": 7`
/// in the body. Writes that replace or edit a row require one (428 otherwise), so two clients
/// editing the same version cannot silently overwrite each other.
/// `if_match` is the header's value (`None` when absent; unreadable bytes as "").
pub fn expected_version(if_match: Option<&str>, body_version: Option<u64>) -> Result<u32, ApiError> {
    if let Some(raw) = if_match {
        let raw = raw.trim();
        let raw = raw.strip_prefix("W/").unwrap_or(raw);
        return raw
            .trim_matches('"')
            .parse::<u32>()
            .map_err(|_| ApiError::BadRequest("If-Match must be an ETag from this API, e.g. \"3\".".into()));
    }
    match body_version {
        Some(v) => u32::try_from(v).map_err(|_| ApiError::field("version", "Out of range.")),
        None => Err(ApiError::PreconditionRequired(
            "Send If-Match with the ETag you read (or \"version\" in the body).".into(),
        )),
    }
}

pub fn etag(version: u32) -> String {
    format!("\"{version}\"")
}
