//! The raw query string as a map, plus typed field parsers that record DRF-style messages.

use super::validation::{Fields, Invalid};

/// Query parameters, each given at most once.
pub struct QueryMap {
    pairs: Vec<(String, String)>,
}

impl QueryMap {
    pub fn parse(query_string: &str) -> Result<Self, Invalid> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query_string)
            .map_err(|_| Invalid::Malformed("Malformed query string.".into()))?;
        // A repeated parameter is refused rather than resolved (first or last wins): a proxy, a
        // cache key and this parser that pick different copies would each see another request.
        let repeated = pairs.iter().enumerate().find(|(i, (k, _))| pairs[..*i].iter().any(|(seen, _)| seen == k));
        if let Some((_, (key, _))) = repeated {
            return Err(Invalid::field(key, "Give this parameter once."));
        }
        Ok(QueryMap { pairs })
    }

    /// The value of `key`, with empty values treated as absent (as django-filter does).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    pub fn contains(&self, key: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == key)
    }

    /// All pairs with `key` replaced by `value` (or removed when `None`): for next/previous links.
    pub fn with(&self, key: &str, value: Option<String>) -> String {
        let mut out: Vec<(String, String)> = self.pairs.iter().filter(|(k, _)| k != key).cloned().collect();
        if let Some(v) = value {
            out.push((key.to_string(), v));
        }
        serde_urlencoded::to_string(out).unwrap_or_default()
    }
}

/// Collects per-field errors while parsing typed values out of a [`QueryMap`].
pub struct FieldParser<'a> {
    q: &'a QueryMap,
    pub errors: Fields,
}

impl<'a> FieldParser<'a> {
    pub fn new(q: &'a QueryMap) -> Self {
        FieldParser { q, errors: Fields::default() }
    }

    pub fn error(&mut self, field: &str, msg: impl Into<String>) {
        self.errors.add(field, msg);
    }

    /// A non-negative integer no larger than `max`.
    pub fn uint(&mut self, field: &str, max: u64) -> Option<u64> {
        let raw = self.q.get(field)?;
        match raw.trim().parse::<i128>() {
            Ok(v) if v < 0 => {
                self.error(field, "Ensure this value is greater than or equal to 0.");
                None
            }
            Ok(v) if v > max as i128 => {
                self.error(field, format!("Ensure this value is less than or equal to {max}."));
                None
            }
            Ok(v) => Some(v as u64),
            Err(_) => {
                self.error(field, "A valid integer is required.");
                None
            }
        }
    }

    /// An id (a positive integer that fits the id columns).
    pub fn id(&mut self, field: &str) -> Option<u32> {
        let raw = self.q.get(field)?;
        match raw.trim().parse::<u32>() {
            Ok(v) if v >= 1 => Some(v),
            _ => {
                self.error(field, "Select a valid choice: a positive integer id is required.");
                None
            }
        }
    }

    /// A free-text search value: at most `max_chars` characters, no control characters.
    pub fn text(&mut self, field: &str, max_chars: usize) -> Option<String> {
        let raw = self.q.get(field)?;
        let value = raw.trim();
        if value.chars().count() > max_chars {
            self.error(field, format!("Ensure this field has no more than {max_chars} characters."));
            return None;
        }
        if value.chars().any(char::is_control) {
            self.error(field, "Control characters are not allowed.");
            return None;
        }
        if value.is_empty() {
            return None;
        }
        Some(value.to_string())
    }

    pub fn finish(self) -> Result<(), Invalid> {
        self.errors.finish()
    }
}

/// Escape `%`, `_` and `\` so user text matches literally inside a LIKE pattern.
pub fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A path id: a positive integer that fits the id columns (anything else names no row).
pub fn parse_id(raw: &str) -> Option<u32> {
    raw.parse::<u32>().ok().filter(|v| *v >= 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameter_is_refused_and_empty_is_absent() {
        assert!(QueryMap::parse("a=1&b=2&a=").is_err());
        let q = QueryMap::parse("a=2&b=").unwrap();
        assert_eq!(q.get("a"), Some("2"));
        assert_eq!(q.get("b"), None);
        assert!(q.contains("b"));
    }

    #[test]
    fn uint_rejects_negative_non_integer_and_too_large() {
        let q = QueryMap::parse("x=-1&y=abc&z=101&ok=7").unwrap();
        let mut p = FieldParser::new(&q);
        assert_eq!(p.uint("x", 100), None);
        assert_eq!(p.uint("y", 100), None);
        assert_eq!(p.uint("z", 100), None);
        assert_eq!(p.uint("ok", 100), Some(7));
        assert_eq!(p.errors.len(), 3);
    }

    #[test]
    fn like_escape_neutralises_wildcards() {
        assert_eq!(like_escape("50%_off\\"), "50\\%\\_off\\\\");
    }

    #[test]
    fn replacing_a_parameter_keeps_the_others() {
        let q = QueryMap::parse("name=%E9%94%A6&page=2&size=5").unwrap();
        let s = q.with("page", Some("3".into()));
        assert!(s.contains("size=5") && s.contains("page=3") && s.contains("name=%E9%94%A6"), "{s}");
    }
}
