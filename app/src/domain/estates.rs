//! An estate write body (POST, PUT, PATCH `/api/estates/`).
use serde_json::Value;

use super::validation::Invalid;
use super::writes::Body;

const FIELDS: &[&str] = &["name", "district_id", "intro", "version"];

/// The fields a write sets; `None` leaves the stored value.
#[derive(Debug, Default)]
pub struct EstateFields {
    pub name: Option<String>,
    pub district_id: Option<u32>,
    pub intro: Option<String>,
}

impl EstateFields {
    /// `whole`: POST and PUT need every required field (and an absent `intro` is empty); PATCH
    /// any non-empty subset. Also the body's `version`, if any.
    pub fn parse(v: &Value, whole: bool) -> Result<(Self, Option<u64>), Invalid> {
        let mut b = Body::new(v, FIELDS)?;
        let mut f = EstateFields {
            name: b.text("name", whole, 1, 255),
            district_id: b.id("district_id", whole),
            intro: b.text("intro", false, 0, 1024),
        };
        let version = b.version();
        if whole && f.intro.is_none() {
            f.intro = Some(String::new());
        }
        if !whole && f.is_empty() && b.errors.is_empty() {
            b.error("non_field_errors", "Nothing to change.");
        }
        b.finish()?;
        Ok((f, version))
    }

    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.district_id.is_none() && self.intro.is_none()
    }
}
