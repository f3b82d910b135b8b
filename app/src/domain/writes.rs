//! What every write body shares: typed access to a JSON object that records each field problem
//! (the one collector, `validation::Fields`), and the optimistic-concurrency precondition.
use serde_json::{Map, Value};

use super::validation::{Fields, Invalid};

/// Typed access to a JSON object body that collects per-field errors.
pub struct Body<'a> {
    obj: &'a Map<String, Value>,
    pub errors: Fields,
}

impl<'a> Body<'a> {
    pub fn new(v: &'a Value, allowed: &[&str]) -> Result<Self, Invalid> {
        let obj = v.as_object().ok_or_else(|| Invalid::Malformed("The body must be a JSON object.".into()))?;
        let mut b = Body { obj, errors: Fields::default() };
        for k in obj.keys() {
            if !allowed.contains(&k.as_str()) {
                b.error(k, "Unknown field.");
            }
        }
        Ok(b)
    }

    pub fn error(&mut self, field: &str, msg: &str) {
        self.errors.add(field, msg);
    }

    /// Whether the body has the key at all (even as null).
    pub fn has(&self, field: &str) -> bool {
        self.obj.contains_key(field)
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

    /// The body's `version` (the alternative to `If-Match`).
    pub fn version(&mut self) -> Option<u64> {
        self.uint("version", false, 1, u32::MAX as u64)
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

    pub fn finish(self) -> Result<(), Invalid> {
        self.errors.finish()
    }
}

/// The version a conditional write expects: `If-Match: "7"` (an ETag from GET) or `"version": 7`
/// in the body, kept as sent until the write resolves it (after its permission checks).
#[derive(Debug, Clone, Default)]
pub struct Precondition {
    /// The header's value (unreadable bytes as "").
    pub if_match: Option<String>,
    pub body_version: Option<u64>,
}

impl Precondition {
    /// The expected version, or `None` when the client sent neither. Writes that replace or edit
    /// a row require one, so two clients editing the same version cannot silently overwrite each
    /// other.
    pub fn version(&self) -> Result<Option<u32>, Invalid> {
        if let Some(raw) = &self.if_match {
            let raw = raw.trim();
            let raw = raw.strip_prefix("W/").unwrap_or(raw);
            return raw
                .trim_matches('"')
                .parse::<u32>()
                .map(Some)
                .map_err(|_| Invalid::Malformed("If-Match must be an ETag from this API, e.g. \"3\".".into()));
        }
        self.body_version.map(|v| u32::try_from(v).map_err(|_| Invalid::field("version", "Out of range."))).transpose()
    }
}

pub fn etag(version: u32) -> String {
    format!("\"{version}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pre(if_match: Option<&str>, body_version: Option<u64>) -> Precondition {
        Precondition { if_match: if_match.map(String::from), body_version }
    }

    #[test]
    fn if_match_wins_over_the_body_and_accepts_weak_etags() {
        assert_eq!(pre(Some("W/\"7\""), Some(3)).version(), Ok(Some(7)));
        assert_eq!(pre(None, Some(3)).version(), Ok(Some(3)));
        assert_eq!(pre(None, None).version(), Ok(None));
    }

    #[test]
    fn an_unreadable_if_match_is_malformed() {
        assert!(matches!(pre(Some("abc"), None).version(), Err(Invalid::Malformed(_))));
    }
}
