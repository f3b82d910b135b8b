//! House writes: publish (agents, admins), edit and delete (the owner or an admin). A creation
//! or deletion also moves the estate's `hot`, so it bumps the estates' list generation too and
//! drops the estate's cached detail.
use super::{required_version, written};
use crate::access::Principal;
use crate::cache::keys;
use crate::domain::houses::HouseFields;
use crate::domain::writes::Precondition;
use crate::error::ApiError;
use crate::list_cache::Listing;
use crate::state::AppState;
use crate::storage::houses::{self, writes, HouseDetail};
use crate::storage::versions::{self, HOUSES};

/// The house as stored now (what a write answers).
async fn fresh(state: &AppState, id: u32) -> Result<HouseDetail, ApiError> {
    houses::detail(&state.db, &state.metrics, id).await?.ok_or_else(|| ApiError::not_found("House"))
}

/// One transaction: the house, its counters, its title index and its tags; any failure rolls
/// all back.
pub async fn create(state: &AppState, owner: u32, f: &HouseFields) -> Result<HouseDetail, ApiError> {
    let new = f.as_new().ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a new house lacks a required field")))?;
    let mut tx = state.store().begin().await?;
    let id = writes::insert(&mut tx, owner, &new).await?;
    tx.commit("write_house_commit", "Failed to commit the new house").await?;
    written(state, &[Listing::Houses, Listing::Estates], &[keys::estate(new.estate_id)]).await;
    fresh(state, id).await
}

/// Owners change their own houses; admins any. Anyone else gets 403 (404 when there is no such house).
pub(super) async fn check_owner(state: &AppState, caller: &Principal, id: u32) -> Result<(), ApiError> {
    let owner = writes::owner(state.store(), id).await?;
    if caller.is_admin() || owner == Some(caller.user_id) {
        Ok(())
    } else {
        Err(ApiError::Forbidden("Only the house's owner (or an admin) may change it.".into()))
    }
}

/// Edit when the house is still at the expected version; an edit that sets nothing writes nothing.
pub async fn update(
    state: &AppState,
    caller: &Principal,
    id: u32,
    pre: &Precondition,
    f: &HouseFields,
) -> Result<HouseDetail, ApiError> {
    check_owner(state, caller, id).await?;
    let version = required_version(pre)?;
    if f.is_empty() {
        versions::check(state.store(), HOUSES, id, Some(version)).await?;
        return fresh(state, id).await;
    }
    let mut tx = state.store().begin().await?;
    if !writes::update(&mut tx, id, version, f).await? {
        drop(tx);
        return Err(writes::refused(state.store(), id, version, f).await);
    }
    tx.commit("write_house_commit", "Failed to commit the edit").await?;
    written(state, &[Listing::Houses], &[]).await;
    fresh(state, id).await
}

/// Delete (at the expected version when one is given) and give back the estate's `hot`.
pub async fn delete(state: &AppState, caller: &Principal, id: u32, pre: &Precondition) -> Result<(), ApiError> {
    check_owner(state, caller, id).await?;
    let version = pre.version()?;
    // The photo rows go with the house (ON DELETE CASCADE); their objects are deleted after.
    let objects = crate::storage::photos::objects_of_house(state.store(), id).await?;
    let mut tx = state.store().begin().await?;
    let Some(estate_id) = writes::delete(&mut tx, id, version).await? else {
        drop(tx);
        return Err(versions::why_not(state.store(), HOUSES, id).await);
    };
    tx.commit("write_house_commit", "Failed to commit the deletion").await?;
    written(state, &[Listing::Houses, Listing::Estates], &[keys::estate(estate_id)]).await;
    super::delete_objects(state, &objects).await;
    Ok(())
}
