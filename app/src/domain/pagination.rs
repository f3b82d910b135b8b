//! Page-number pagination (`?page=N&size=M`) answered as DRF's
//! `{"count", "next", "previous", "results"}`, and an opaque keyset cursor for deep house pages.
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::query::{FieldParser, QueryMap};
use super::validation::Invalid;

pub const DEFAULT_PAGE_SIZE: u64 = 20;
pub const MAX_PAGE_SIZE: u64 = 100;
/// Pages beyond this are refused: OFFSET scans every skipped row (use the cursor instead).
pub const MAX_PAGE: u64 = 100_000;
/// Default bound on page x size for house pages (`pagination.max_page_depth`).
pub const DEFAULT_MAX_PAGE_DEPTH: u64 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: u64,
    pub size: u64,
}

impl PageRequest {
    pub fn parse_into(p: &mut FieldParser<'_>) -> PageRequest {
        let page = match p.uint("page", MAX_PAGE) {
            Some(0) => {
                p.error("page", "Ensure this value is greater than or equal to 1.");
                1
            }
            Some(v) => v,
            None => 1,
        };
        let size = match p.uint("size", MAX_PAGE_SIZE) {
            Some(0) => {
                p.error("size", "Ensure this value is greater than or equal to 1.");
                DEFAULT_PAGE_SIZE
            }
            Some(v) => v,
            None => DEFAULT_PAGE_SIZE,
        };
        PageRequest { page, size }
    }

    pub fn parse(q: &QueryMap) -> Result<PageRequest, Invalid> {
        let mut p = FieldParser::new(q);
        let page = Self::parse_into(&mut p);
        p.finish()?;
        Ok(page)
    }

    pub fn offset(&self) -> u64 {
        (self.page - 1) * self.size
    }
}

/// A keyset position: the ordering column's value and the id (the tie-breaker) of the row the
/// page starts after (`r` false: the last row of the previous page, read forward) or before (`r`
/// true: the first row of the next page, read backward for a `previous` link), as DRF's
/// CursorPagination does. Not signed: every field is checked when decoded, and a forged but
/// valid position only seeks elsewhere in the same ordering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    /// Ordering this cursor belongs to (a cursor from another ordering is rejected).
    pub o: String,
    /// Sort key of the last row (price, area, or published_at as a Unix timestamp).
    pub k: i64,
    /// Id of the last row.
    pub i: u32,
    /// Reverse: the page before this position (a `previous` link).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub r: bool,
}

impl Cursor {
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    pub fn decode(s: &str) -> Option<Cursor> {
        if s.len() > 200 {
            return None;
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// A page of results in DRF's shape.
#[derive(Debug, Serialize, Deserialize)]
pub struct Page<T> {
    pub count: i64,
    pub next: Option<String>,
    pub previous: Option<String>,
    pub results: Vec<T>,
}

/// A keyset page: no count (counting is the scan the cursor avoids).
#[derive(Debug, Serialize, Deserialize)]
pub struct CursorPage<T> {
    pub next: Option<String>,
    pub previous: Option<String>,
    pub results: Vec<T>,
}

/// next/previous links for page-number pagination.
pub fn links(base: &str, q: &QueryMap, page: PageRequest, count: i64) -> (Option<String>, Option<String>) {
    let url = |qs: String| {
        if qs.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{qs}")
        }
    };
    let next =
        ((page.page * page.size) < count.max(0) as u64).then(|| url(q.with("page", Some((page.page + 1).to_string()))));
    let previous = (page.page > 1).then(|| {
        // Like DRF, the link to page 1 drops the page parameter.
        let target = page.page - 1;
        url(q.with("page", (target > 1).then(|| target.to_string())))
    });
    (next, previous)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = Cursor { o: "-price".into(), k: 4200, i: 17, r: false };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        let back = Cursor { o: "area".into(), k: 80, i: 3, r: true };
        assert_eq!(Cursor::decode(&back.encode()), Some(back));
        // Unknown fields are refused rather than ignored.
        let extra = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"o":"price","k":1,"i":1,"x":1}"#);
        assert_eq!(Cursor::decode(&extra), None);
        assert_eq!(Cursor::decode("not-base64!"), None);
        assert_eq!(Cursor::decode("e30"), None); // "{}"
    }

    #[test]
    fn links_on_first_middle_and_last_page() {
        let q = QueryMap::parse("size=10").unwrap();
        let (n, p) = links("http://h/api/x/", &q, PageRequest { page: 1, size: 10 }, 25);
        assert_eq!(n.as_deref(), Some("http://h/api/x/?size=10&page=2"));
        assert_eq!(p, None);
        let q2 = QueryMap::parse("size=10&page=2").unwrap();
        let (_, p) = links("http://h/api/x/", &q2, PageRequest { page: 2, size: 10 }, 25);
        assert_eq!(p.as_deref(), Some("http://h/api/x/?size=10"));
        let q3 = QueryMap::parse("size=10&page=3").unwrap();
        let (n, p) = links("http://h/api/x/", &q3, PageRequest { page: 3, size: 10 }, 25);
        assert_eq!(n, None);
        assert_eq!(p.as_deref(), Some("http://h/api/x/?size=10&page=2"));
    }
}
