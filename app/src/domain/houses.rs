//! A house write body (POST `/api/houses/`, PATCH `/api/houses/{id}/`).
use serde_json::Value;

use super::validation::Invalid;
use super::writes::Body;

const FIELDS: &[&str] = &[
    "title",
    "area",
    "floor",
    "total_floor",
    "direction",
    "price",
    "type_id",
    "estate_id",
    "detail",
    "street",
    "main_photo",
    "has_agent_fees",
    "tags",
    "version",
];

/// The fields a write sets; `None` leaves the stored value. `estate_id` and `tags` are set at
/// creation only.
#[derive(Debug, Default)]
pub struct HouseFields {
    pub title: Option<String>,
    pub area: Option<u64>,
    pub floor: Option<u64>,
    pub total_floor: Option<u64>,
    pub direction: Option<String>,
    pub price: Option<u64>,
    pub type_id: Option<u32>,
    pub estate_id: Option<u32>,
    pub detail: Option<String>,
    pub street: Option<String>,
    pub main_photo: Option<String>,
    pub has_agent_fees: Option<bool>,
    pub tags: Option<Vec<u32>>,
}

/// A house as created: the fields creation requires, present.
pub struct NewHouse<'a> {
    pub fields: &'a HouseFields,
    pub title: &'a str,
    pub type_id: u32,
    pub estate_id: u32,
}

impl HouseFields {
    /// `create`: the required fields must be there; otherwise (PATCH) any non-empty subset.
    /// Also the body's `version`, if any.
    pub fn parse(v: &Value, create: bool) -> Result<(Self, Option<u64>), Invalid> {
        let mut b = Body::new(v, FIELDS)?;
        let f = HouseFields {
            title: b.text("title", create, 1, 100),
            area: b.uint("area", create, 1, 100_000),
            floor: b.uint("floor", create, 0, 300),
            total_floor: b.uint("total_floor", create, 1, 300),
            direction: b.text("direction", create, 1, 16),
            price: b.uint("price", create, 0, 100_000_000),
            type_id: b.id("type_id", create),
            estate_id: if create { b.id("estate_id", true) } else { None },
            detail: b.text("detail", false, 0, 2048),
            street: b.text("street", false, 0, 255),
            main_photo: b.text("main_photo", false, 0, 255),
            has_agent_fees: b.boolean("has_agent_fees"),
            tags: if create { b.ids("tags") } else { None },
        };
        if !create {
            for moved in ["estate_id", "tags"] {
                if b.has(moved) {
                    b.error(moved, "Cannot be changed here.");
                }
            }
        }
        // Rendered as a link or an image source by clients: only web URLs (no javascript:, data:).
        if let Some(url) = f.main_photo.as_deref().filter(|u| !u.is_empty()) {
            let lower = url.to_ascii_lowercase();
            if !(lower.starts_with("https://") || lower.starts_with("http://")) || url.chars().any(char::is_whitespace)
            {
                b.error("main_photo", "Must be an http:// or https:// URL.");
            }
        }
        if let (Some(fl), Some(total)) = (f.floor, f.total_floor) {
            if fl > total {
                b.error("floor", "Must not exceed total_floor.");
            }
        }
        let version = b.version();
        b.finish()?;
        Ok((f, version))
    }

    /// The fields creation requires (`parse(_, true)` checked them).
    pub fn as_new(&self) -> Option<NewHouse<'_>> {
        Some(NewHouse {
            fields: self,
            title: self.title.as_deref()?,
            type_id: self.type_id?,
            estate_id: self.estate_id?,
        })
    }

    /// True when an edit sets nothing.
    pub fn is_empty(&self) -> bool {
        let HouseFields {
            title,
            area,
            floor,
            total_floor,
            direction,
            price,
            type_id,
            estate_id,
            detail,
            street,
            main_photo,
            has_agent_fees,
            tags,
        } = self;
        title.is_none()
            && area.is_none()
            && floor.is_none()
            && total_floor.is_none()
            && direction.is_none()
            && price.is_none()
            && type_id.is_none()
            && estate_id.is_none()
            && detail.is_none()
            && street.is_none()
            && main_photo.is_none()
            && has_agent_fees.is_none()
            && tags.is_none()
    }
}
