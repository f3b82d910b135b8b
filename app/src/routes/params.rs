//! Path parameters.
use crate::domain::query::parse_id;
use crate::error::ApiError;

/// The id in a path; anything that is not a positive id is a 404, as in DRF.
pub fn path_id(raw: &str, what: &str) -> Result<u32, ApiError> {
    parse_id(raw).ok_or_else(|| ApiError::not_found(what))
}
