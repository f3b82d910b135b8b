//! Caches for the filtered list endpoints (`/api/estates/`, `/api/houses/`), invalidated by a
//! generation number per listing kept in Redis.
//!
//! - Generation: `{prefix}gen:{listing}`. Every committed write that can change a list bumps it
//!   (`INCR`), and every list request reads it first, so all replicas see a write at once: a
//!   request that starts after the bump looks up keys no cached value was stored under.
//! - Count cache (Redis, `cache.count_ttl_seconds`): the exact `COUNT(*)` of one normalized
//!   filter (the filters only: ordering and page do not change a count), keyed by generation.
//!   The count is the expensive half of a page (it reads every matching index entry).
//! - Page cache (in-process LRU, `cache.page_ttl_seconds`, `cache.page_capacity` entries): the
//!   count and the serialized results of one normalized (filter, ordering, page, size), keyed by
//!   generation. The next/previous links depend on the request (host, parameter order) and are
//!   built for each response. Concurrent misses of one page are coalesced: one request reads
//!   the database, the others wait for its page (without this, every expiry under load sends
//!   all in-flight requests for a popular page to MariaDB at once, and they queue there); and
//!   while one request reloads an expired page of the current generation, the others get the
//!   expired one (up to twice the TTL old) instead of waiting.
//!
//! Both TTLs are safety nets for writes that bypass the service (SQL by hand, `zufang seed`).
//! When Redis is unavailable the generation is unknown: both caches are bypassed and the page
//! comes from the database (correct, slower), and the failure is counted as
//! `cache_requests_total{cache="redis",result="error"}`. A bump that fails (Redis down during a
//! write) clears this replica's pages; other replicas' pages expire within the page TTL and
//! counts cached before the write within the count TTL.
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deadpool_redis::redis::{self, aio::MultiplexedConnection, AsyncCommands};
use lru::LruCache;

use crate::cache::Cache;
use crate::error::ApiError;
use crate::metrics::Metrics;

/// A list endpoint whose caches share one generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    Estates,
    Houses,
}

impl Listing {
    pub fn name(self) -> &'static str {
        match self {
            Listing::Estates => "estates",
            Listing::Houses => "houses",
        }
    }
}

/// Runs a listing's COUNT(*), only when no cached count answers.
pub trait Count: AsyncFnOnce() -> Result<i64, ApiError> {}
impl<F: AsyncFnOnce() -> Result<i64, ApiError>> Count for F {}

/// Reads and serializes a page's results, given the count, only when no cached page answers.
pub trait List: AsyncFnOnce(i64) -> Result<Vec<u8>, ApiError> {}
impl<F: AsyncFnOnce(i64) -> Result<Vec<u8>, ApiError>> List for F {}

/// One page as cached: the count and the `results` array, already serialized as JSON.
#[derive(Clone)]
pub struct CachedPage {
    pub count: i64,
    pub results: Arc<[u8]>,
}

#[derive(Clone)]
pub struct ListCache {
    inner: Arc<Inner>,
}

struct Inner {
    redis: deadpool_redis::Pool,
    /// `redis.key_prefix`: generations live at `{prefix}gen:{listing}`.
    prefix: String,
    timeout: Duration,
    count_ttl: u64,
    page_ttl: Duration,
    pages: Mutex<LruCache<String, (Instant, CachedPage)>>,
    /// One multiplexed connection taken out of the pool for the generation reads: a pool
    /// checkout costs a round trip of its own (deadpool-redis pings on every recycle), which
    /// doubled the Redis work of every cached list request. Dropped on any error.
    shared: Mutex<Option<MultiplexedConnection>>,
    /// Pages being loaded: later requests for the same key wait on its lock, then re-check.
    loading: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Shares the Redis helpers, the key prefix of cached values and the error-log throttle.
    cache: Cache,
    metrics: Metrics,
}

impl ListCache {
    pub fn new(
        redis: deadpool_redis::Pool,
        settings: &crate::configuration::Settings,
        cache: Cache,
        metrics: Metrics,
    ) -> Self {
        let c = &settings.cache;
        ListCache {
            inner: Arc::new(Inner {
                redis,
                prefix: settings.redis.key_prefix.clone(),
                timeout: Duration::from_millis(settings.redis.timeout_ms),
                count_ttl: c.count_ttl_seconds,
                page_ttl: Duration::from_secs(c.page_ttl_seconds),
                pages: Mutex::new(LruCache::new(NonZeroUsize::new(c.page_capacity.max(1)).expect("capacity >= 1"))),
                loading: Mutex::new(HashMap::new()),
                shared: Mutex::new(None),
                cache,
                metrics,
            }),
        }
    }

    fn enabled(&self) -> bool {
        self.inner.count_ttl > 0 || !self.inner.page_ttl.is_zero()
    }

    async fn conn(&self) -> anyhow::Result<MultiplexedConnection> {
        if let Some(c) = self.inner.shared.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Ok(c);
        }
        let c = deadpool_redis::Connection::take(self.inner.redis.get().await?);
        *self.inner.shared.lock().unwrap_or_else(|p| p.into_inner()) = Some(c.clone());
        Ok(c)
    }

    fn drop_conn(&self) {
        *self.inner.shared.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn gen_key(&self, l: Listing) -> String {
        format!("{}gen:{}", self.inner.prefix, l.name())
    }

    /// The current generation of `l`, or `None` when Redis cannot say (then nothing is cached).
    pub async fn generation(&self, l: Listing) -> Option<u64> {
        let key = self.gen_key(l);
        let fut = async {
            let mut conn = self.conn().await?;
            if let Some(g) = conn.get::<_, Option<u64>>(&key).await? {
                return Ok::<_, anyhow::Error>(g);
            }
            // No generation yet (a new Redis, or the key was evicted): start from the clock in
            // microseconds, above any value an earlier INCR sequence reached, so keys cached
            // under an old generation are never read again.
            let start = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_micros() as u64)
                .unwrap_or(1);
            let _: Option<String> = redis::cmd("SET").arg(&key).arg(start).arg("NX").query_async(&mut conn).await?;
            let g: u64 = conn.get(&key).await?;
            Ok(g)
        };
        match tokio::time::timeout(self.inner.timeout, fut).await {
            Ok(Ok(g)) => Some(g),
            Ok(Err(e)) => {
                self.drop_conn();
                self.inner.cache.redis_failed("generation", e);
                None
            }
            Err(_) => {
                self.drop_conn();
                self.inner.cache.redis_failed("generation", anyhow::anyhow!("Redis GET timed out"));
                None
            }
        }
    }

    /// After a committed write: every replica's next list of these listings misses the caches.
    pub async fn bump(&self, listings: &[Listing]) {
        let keys: Vec<String> = listings.iter().map(|l| self.gen_key(*l)).collect();
        let fut = async {
            let mut conn = self.inner.redis.get().await?;
            let mut pipe = redis::pipe();
            for k in &keys {
                pipe.incr(k, 1u64).ignore();
            }
            let _: () = pipe.query_async(&mut *conn).await?;
            Ok::<_, anyhow::Error>(())
        };
        let res = match tokio::time::timeout(self.inner.timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(anyhow::anyhow!("Redis INCR timed out")),
        };
        if let Err(e) = res {
            // Other replicas cannot be told; at least this one forgets its pages.
            self.inner.pages.lock().unwrap_or_else(|p| p.into_inner()).clear();
            self.inner.cache.redis_failed("bump generation", e);
        }
    }

    /// A page of `l` through both caches. `count_key` normalizes the filter, `page_key` adds
    /// the ordering and the page; `count` runs the COUNT(*), `list` reads the page's results
    /// (given the count, so a page past the end can skip the query) and serializes them.
    pub async fn page(
        &self,
        l: Listing,
        count_key: &str,
        page_key: &str,
        count: impl Count,
        list: impl List,
    ) -> Result<CachedPage, ApiError> {
        let generation = if self.enabled() { self.generation(l).await } else { None };
        let page_key = generation.map(|g| format!("{}:{g}:{count_key}|{page_key}", l.name()));
        let Some(k) = page_key.filter(|_| !self.inner.page_ttl.is_zero()) else {
            return self.load(l, generation, count_key, count, list).await;
        };
        let stale = match self.page_lookup(&k) {
            Some((p, true)) => {
                self.inner.metrics.cache("local", "hit");
                return Ok(p);
            }
            Some((p, false)) => Some(p),
            None => None,
        };
        let lock = self.inner.loading.lock().unwrap_or_else(|p| p.into_inner()).entry(k.clone()).or_default().clone();
        let _loading = match (lock.try_lock(), stale) {
            (Ok(guard), _) => guard,
            // Expired (same generation, so only a bypassing write can have changed it) and
            // another request is already reloading it: serve it meanwhile instead of queueing.
            (Err(_), Some(p)) => {
                self.inner.metrics.cache("local", "hit");
                return Ok(p);
            }
            (Err(_), None) => lock.lock().await,
        };
        // Another request may have loaded it while this one waited.
        if let Some((p, true)) = self.page_lookup(&k) {
            self.inner.metrics.cache("local", "hit");
            return Ok(p);
        }
        self.inner.metrics.cache("local", "miss");
        let res = self.load(l, generation, count_key, count, list).await;
        if let Ok(page) = &res {
            self.inner.pages.lock().unwrap_or_else(|p| p.into_inner()).put(k.clone(), (Instant::now(), page.clone()));
        }
        // Waiters hold their own handle to the lock; new requests find the page (or start over).
        let mut loading = self.inner.loading.lock().unwrap_or_else(|p| p.into_inner());
        if loading.get(&k).is_some_and(|m| Arc::ptr_eq(m, &lock)) {
            loading.remove(&k);
        }
        res
    }

    /// Count (through the count cache when there is a generation) and read one page.
    async fn load(
        &self,
        l: Listing,
        generation: Option<u64>,
        count_key: &str,
        count: impl Count,
        list: impl List,
    ) -> Result<CachedPage, ApiError> {
        let n = match generation.filter(|_| self.inner.count_ttl > 0) {
            Some(g) => self.cached_count(&format!("count:{}:{g}:{count_key}", l.name()), count).await?,
            None => count().await?,
        };
        Ok(CachedPage { count: n, results: list(n).await?.into() })
    }

    async fn cached_count(&self, key: &str, count: impl Count) -> Result<i64, ApiError> {
        let cache = &self.inner.cache;
        match cache.redis_get(key).await {
            Ok(Some(v)) => {
                if let Some(n) = std::str::from_utf8(&v).ok().and_then(|s| s.parse::<i64>().ok()) {
                    self.inner.metrics.cache("redis", "hit");
                    return Ok(n);
                }
                // Not a number (written by something else): recount and overwrite.
                self.inner.metrics.cache("redis", "miss");
            }
            Ok(None) => self.inner.metrics.cache("redis", "miss"),
            Err(e) => {
                cache.redis_failed("read count", e);
                return count().await;
            }
        }
        let n = count().await?;
        if let Err(e) = cache.redis_set(key, n.to_string().as_bytes(), self.inner.count_ttl).await {
            cache.redis_failed("write count", e);
        }
        Ok(n)
    }

    /// The page under `key` and whether it is fresh (younger than the TTL). An expired page is
    /// kept up to twice the TTL, to be served while one request reloads it.
    fn page_lookup(&self, key: &str) -> Option<(CachedPage, bool)> {
        let mut pages = self.inner.pages.lock().unwrap_or_else(|p| p.into_inner());
        let age = pages.get(key)?.0.elapsed();
        if age >= self.inner.page_ttl * 2 {
            pages.pop(key);
            return None;
        }
        pages.get(key).map(|(_, p)| (p.clone(), age < self.inner.page_ttl))
    }
}
