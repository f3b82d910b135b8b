//! Cache-aside in two tiers: an in-process LRU with a short TTL (in the spirit of Python's
//! `@lru_cache`) in front of Redis with a longer TTL, in front of the database.
//!
//! A Redis failure never fails a read: the value comes from the database, the failure is counted
//! (`cache_requests_total{cache="redis",result="error"}`) and logged at most once per interval.
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes_compat::Bytes;
use deadpool_redis::redis::AsyncCommands;
use lru::LruCache;

use serde::{de::DeserializeOwned, Serialize};

use crate::error::ApiError;
use crate::metrics::Metrics;

mod bytes_compat {
    pub type Bytes = std::sync::Arc<[u8]>;
}

#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    local: Mutex<LruCache<String, (Instant, Bytes)>>,
    local_ttl: Duration,
    redis_ttl: u64,
    redis: deadpool_redis::Pool,
    prefix: String,
    timeout: Duration,
    metrics: Metrics,
    error_log_interval: Duration,
    last_error_log: Mutex<Option<Instant>>,
}

impl Cache {
    pub fn new(redis: deadpool_redis::Pool, settings: &crate::configuration::Settings, metrics: Metrics) -> Self {
        let c = &settings.cache;
        Cache {
            inner: Arc::new(Inner {
                local: Mutex::new(LruCache::new(NonZeroUsize::new(c.local_capacity.max(1)).expect("capacity >= 1"))),
                local_ttl: Duration::from_secs(c.local_ttl_seconds),
                redis_ttl: c.redis_ttl_seconds.max(1),
                redis,
                prefix: format!("{}cache:", settings.redis.key_prefix),
                timeout: Duration::from_millis(settings.redis.timeout_ms),
                metrics,
                error_log_interval: Duration::from_secs(c.error_log_interval_seconds.max(1)),
                last_error_log: Mutex::new(None),
            }),
        }
    }

    /// The cached bytes for `key`, or `load()`'s (then stored in both tiers). `load` returning
    /// `Ok(None)` (not found) is not cached.
    pub async fn get_or_load<F, Fut, E>(&self, key: &str, load: F) -> Result<Option<Bytes>, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Option<Vec<u8>>, E>>,
    {
        self.lookup(key, load, true).await
    }

    /// One object's JSON through the cache: `load` reads the object (`None`: there is none,
    /// which is not cached and answers 404 naming `what`).
    pub async fn object<T: Serialize>(
        &self,
        key: &str,
        what: &str,
        load: impl AsyncFnOnce() -> Result<Option<T>, ApiError>,
    ) -> Result<Bytes, ApiError> {
        self.get_or_load(key, || async {
            match load().await? {
                Some(v) => encode(&v).map(Some),
                None => Ok(None),
            }
        })
        .await?
        .ok_or_else(|| ApiError::not_found(what))
    }

    /// As `get_or_load`, through Redis only: for values whose invalidation must reach every
    /// replica at once (a user's roles and session epoch), which an in-process copy would not.
    pub async fn get_or_load_shared<F, Fut, E>(&self, key: &str, load: F) -> Result<Option<Bytes>, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Option<Vec<u8>>, E>>,
    {
        self.lookup(key, load, false).await
    }

    async fn lookup<F, Fut, E>(&self, key: &str, load: F, local: bool) -> Result<Option<Bytes>, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Option<Vec<u8>>, E>>,
    {
        if local {
            if let Some(v) = self.local_get(key) {
                self.inner.metrics.cache("local", "hit");
                return Ok(Some(v));
            }
            self.inner.metrics.cache("local", "miss");
        }
        match self.redis_get(key).await {
            Ok(Some(v)) => {
                self.inner.metrics.cache("redis", "hit");
                let v: Bytes = v.into();
                if local {
                    self.local_put(key, v.clone());
                }
                return Ok(Some(v));
            }
            Ok(None) => self.inner.metrics.cache("redis", "miss"),
            Err(e) => self.redis_failed("read", e),
        }
        let Some(loaded) = load().await? else {
            return Ok(None);
        };
        if let Err(e) = self.redis_set(key, &loaded, self.inner.redis_ttl).await {
            self.redis_failed("write", e);
        }
        let v: Bytes = loaded.into();
        if local {
            self.local_put(key, v.clone());
        }
        Ok(Some(v))
    }

    /// Drop `keys` from both tiers (on writes). Other replicas' local tiers expire within local_ttl.
    pub async fn invalidate(&self, keys: &[String]) {
        {
            let mut local = self.inner.local.lock().unwrap_or_else(|p| p.into_inner());
            for k in keys {
                local.pop(k);
            }
        }
        let full: Vec<String> = keys.iter().map(|k| format!("{}{}", self.inner.prefix, k)).collect();
        let res = tokio::time::timeout(self.inner.timeout, async {
            let mut conn = self.inner.redis.get().await.map_err(|e| anyhow::anyhow!(e))?;
            let _: () = conn.del(full).await.map_err(|e| anyhow::anyhow!(e))?;
            Ok::<_, anyhow::Error>(())
        })
        .await;
        match res {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.redis_failed("invalidate", e),
            Err(_) => self.redis_failed("invalidate", anyhow::anyhow!("timed out")),
        }
    }

    fn local_get(&self, key: &str) -> Option<Bytes> {
        let mut local = self.inner.local.lock().unwrap_or_else(|p| p.into_inner());
        match local.get(key) {
            Some((at, v)) if at.elapsed() < self.inner.local_ttl => Some(v.clone()),
            Some(_) => {
                local.pop(key);
                None
            }
            None => None,
        }
    }

    fn local_put(&self, key: &str, v: Bytes) {
        if self.inner.local_ttl.is_zero() {
            return;
        }
        let mut local = self.inner.local.lock().unwrap_or_else(|p| p.into_inner());
        local.put(key.to_string(), (Instant::now(), v));
    }

    /// GET `key` under this cache's prefix (bounded by `redis.timeout_ms`).
    pub(crate) async fn redis_get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let span = tracing::info_span!("redis.get", otel.kind = "client", db.system = "redis");
        let fut = async {
            let mut conn = self.inner.redis.get().await?;
            let v: Option<Vec<u8>> = conn.get(format!("{}{}", self.inner.prefix, key)).await?;
            Ok::<_, anyhow::Error>(v)
        };
        use tracing::Instrument;
        tokio::time::timeout(self.inner.timeout, fut.instrument(span))
            .await
            .map_err(|_| anyhow::anyhow!("Redis GET timed out"))?
    }

    /// SETEX `key` under this cache's prefix with `ttl` seconds (bounded by `redis.timeout_ms`).
    pub(crate) async fn redis_set(&self, key: &str, v: &[u8], ttl: u64) -> anyhow::Result<()> {
        let span = tracing::info_span!("redis.set", otel.kind = "client", db.system = "redis");
        let fut = async {
            let mut conn = self.inner.redis.get().await?;
            let _: () = conn.set_ex(format!("{}{}", self.inner.prefix, key), v, ttl.max(1)).await?;
            Ok::<_, anyhow::Error>(())
        };
        use tracing::Instrument;
        tokio::time::timeout(self.inner.timeout, fut.instrument(span))
            .await
            .map_err(|_| anyhow::anyhow!("Redis SETEX timed out"))?
    }

    /// Count a Redis failure and log it at most once per `cache.error_log_interval_seconds`.
    pub(crate) fn redis_failed(&self, op: &str, e: anyhow::Error) {
        self.inner.metrics.cache("redis", "error");
        let mut last = self.inner.last_error_log.lock().unwrap_or_else(|p| p.into_inner());
        let due = last.map(|t| t.elapsed() >= self.inner.error_log_interval).unwrap_or(true);
        if due {
            *last = Some(Instant::now());
            tracing::warn!(operation = op, error = %format!("{e:#}"), "Redis unavailable; serving from the database (logged once per interval)");
        }
    }
}

/// Decode a cached value; a value that no longer decodes is treated as an internal error.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("Failed to decode a cached value")))
}

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value)
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("Failed to encode a value for the cache")))
}

/// Every key of the two-tier cache, in one place (writers invalidate exactly what readers fill).
pub mod keys {
    use crate::domain::pagination::PageRequest;

    /// A page of provinces (`GET /api/districts/`).
    pub fn provinces_page(page: PageRequest) -> String {
        format!("districts:p{}:s{}", page.page, page.size)
    }

    /// A page of hot cities (`GET /api/hot-cities/`).
    pub fn hot_cities_page(page: PageRequest) -> String {
        format!("hot-cities:p{}:s{}", page.page, page.size)
    }

    /// A district with its children (`GET /api/districts/{id}/`).
    pub fn district(id: u32) -> String {
        format!("districts:{id}")
    }

    /// An estate with its district and agents (`GET /api/estates/{id}/`); shows `hot`.
    pub fn estate(id: u32) -> String {
        format!("estates:{id}")
    }

    /// A user's state, session epoch, roles and privileges (the RBAC guard). `v2`: the value
    /// gained `active` and `session_epoch`; a new key keeps the old release's values out of it.
    pub fn user_acl(user_id: u32) -> String {
        format!("acl:v2:user:{user_id}")
    }
}
