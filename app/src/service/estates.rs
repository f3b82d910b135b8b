//! Estate writes (admins): create, edit (PUT/PATCH), delete. Each bumps the estates' list
//! generation and drops the estate's cached detail.
use super::{required_version, written};
use crate::cache::keys;
use crate::domain::estates::EstateFields;
use crate::domain::writes::Precondition;
use crate::error::ApiError;
use crate::list_cache::Listing;
use crate::state::AppState;
use crate::storage::estates::{self, writes, EstateDetail};
use crate::storage::versions::{self, ESTATES};

/// The estate as stored now (what a write answers).
async fn fresh(state: &AppState, id: u32) -> Result<EstateDetail, ApiError> {
    estates::detail(&state.db, &state.metrics, id).await?.ok_or_else(|| ApiError::not_found("Estate"))
}

pub async fn create(state: &AppState, f: &EstateFields) -> Result<EstateDetail, ApiError> {
    let id = writes::insert(state.store(), f).await?;
    written(state, &[Listing::Estates], &[]).await;
    fresh(state, id).await
}

/// Edit when the estate is still at the expected version; an edit that sets nothing writes nothing.
pub async fn update(state: &AppState, id: u32, pre: &Precondition, f: &EstateFields) -> Result<EstateDetail, ApiError> {
    let version = required_version(pre)?;
    if f.is_empty() {
        versions::check(state.store(), ESTATES, id, Some(version)).await?;
    } else {
        writes::update(state.store(), id, version, f).await?;
        written(state, &[Listing::Estates], &[keys::estate(id)]).await;
    }
    fresh(state, id).await
}

/// Delete (at the expected version when one is given); 409 while houses reference it.
pub async fn delete(state: &AppState, id: u32, pre: &Precondition) -> Result<(), ApiError> {
    writes::delete(state.store(), id, pre.version()?).await?;
    written(state, &[Listing::Estates], &[keys::estate(id)]).await;
    Ok(())
}
