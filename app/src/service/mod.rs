//! One function per write: each owns the whole write — the transaction (storage runs its
//! statements), then, after the commit, the list generations it bumps and the cached details it
//! drops — so no replica serves a cached count, page or detail from before it, and no route
//! reaches into another resource's cache keys (they are all in `cache::keys`).
pub mod admin;
pub mod estates;
pub mod houses;
pub mod photos;

use crate::domain::writes::Precondition;
use crate::error::ApiError;
use crate::list_cache::Listing;
use crate::state::AppState;

/// After a committed write: bump the lists it can change, then drop the cached values it changed.
async fn written(state: &AppState, lists: &[Listing], cached: &[String]) {
    if !lists.is_empty() {
        state.lists.bump(lists).await;
    }
    if !cached.is_empty() {
        state.cache.invalidate(cached).await;
    }
}

/// Delete objects whose rows are gone (a photo's, or a deleted house's photos'). A failure leaves
/// an orphan, logged with its key: nothing serves or refers to it any more.
pub async fn delete_objects(state: &AppState, keys: &[String]) {
    for key in keys {
        if let Err(e) = state.objects.delete(key).await {
            tracing::warn!(error = %e, object_key = %key, "row deleted but its object was not: an orphan");
        }
    }
}

/// The version an edit expects; an edit without one is refused (428).
fn required_version(pre: &Precondition) -> Result<u32, ApiError> {
    pre.version()?.ok_or_else(|| {
        ApiError::PreconditionRequired("Send If-Match with the ETag you read (or \"version\" in the body).".into())
    })
}
