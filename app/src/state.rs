//! Shared application state handed to every handler.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use sqlx::MySqlPool;

use crate::auth::jwt::JwtKeys;
use crate::auth::sms::SmsSender;
use crate::cache::Cache;
use crate::configuration::Settings;
use crate::list_cache::ListCache;
use crate::metrics::Metrics;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: MySqlPool,
    pub redis: deadpool_redis::Pool,
    pub cache: Cache,
    /// Counts and pages of the filtered lists, invalidated by generation (see list_cache.rs).
    pub lists: ListCache,
    /// Title search from memory (storage/title_index.rs), loaded on first use or at serve start.
    pub titles: crate::storage::title_index::TitleIndex,
    pub metrics: Metrics,
    /// Access-token signing and validation keys.
    pub jwt: Arc<JwtKeys>,
    /// Bounds concurrent password hashing (`auth.password_hash_*`).
    pub hashing: Arc<crate::auth::password::HashPool>,
    /// Where SMS codes go (`sms.sender`).
    pub sms: Arc<dyn SmsSender>,
    /// The photo bucket (`[s3]`); nothing connects until a photo route uses it.
    pub objects: crate::objects::ObjectStore,
    /// Set at the first SIGTERM/SIGINT: `/readyz` answers 503 from then on.
    pub shutting_down: Arc<AtomicBool>,
}

impl AppState {
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }
    /// The database handle of the storage modules (the pool and the metrics to time queries in).
    pub fn store(&self) -> crate::storage::Store<'_> {
        crate::storage::Store::new(&self.db, &self.metrics)
    }
    /// A Redis key under this deployment's prefix.
    pub fn redis_key(&self, key: &str) -> String {
        format!("{}{}", self.settings.redis.key_prefix, key)
    }
}
