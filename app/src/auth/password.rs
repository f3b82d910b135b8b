//! Argon2id password hashes; the cost comes from `auth.password_hash_*` (default m=19 MiB, t=2,
//! p=1: OWASP's minimum). Verification reads the cost from the stored hash.
//!
//! Request handlers hash through a `HashPool`: a fixed set of threads (so a fixed amount of
//! Argon2 memory, which the allocator keeps per thread once used) with a bounded queue in front.
//! `hash` (the CLI's `create-user`) runs on tokio's blocking pool instead.
use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::Context;
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::configuration::AuthSettings;
use crate::error::ApiError;

type Job = Box<dyn FnOnce() + Send>;

/// `concurrency` hashing threads and room for `queue` more requests waiting; anyone beyond is
/// refused at once with a 503 + Retry-After. A flood of bogus logins thus costs a fixed amount of
/// memory and at most `concurrency` cores, leaving the rest to the other endpoints.
pub struct HashPool {
    admitted: Arc<Semaphore>,
    jobs: mpsc::Sender<Job>,
    /// Counts each refusal (`rate_limit_rejections_total{limiter="password_hash"}`).
    refused: prometheus::IntCounter,
}

/// Admission to the pool (running or queued); dropping it frees the place.
pub struct HashSlot {
    _admitted: OwnedSemaphorePermit,
}

impl HashPool {
    pub fn new(s: &AuthSettings, refused: prometheus::IntCounter) -> Self {
        let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
        let n = if s.password_hash_concurrency == 0 { cores } else { s.password_hash_concurrency as usize };
        let (jobs, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..n {
            let rx = rx.clone();
            let worker = move || loop {
                let job = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                match job {
                    // A panicking hash answers its caller with an error (its result sender is
                    // dropped) and leaves the thread serving.
                    Ok(job) => {
                        let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
                    }
                    Err(_) => break, // the pool was dropped
                }
            };
            std::thread::Builder::new().name(format!("zufang-hash-{i}")).spawn(worker).expect("spawn a hashing thread");
        }
        HashPool { admitted: Arc::new(Semaphore::new(n + s.password_hash_queue as usize)), jobs, refused }
    }

    /// A place in the pool; Err(503 + Retry-After) at once when every place is taken.
    pub fn slot(&self) -> Result<HashSlot, ApiError> {
        let admitted = self.admitted.clone().try_acquire_owned().map_err(|_| {
            self.refused.inc();
            ApiError::Overloaded {
                message: "The service is busy verifying passwords; retry shortly.".into(),
                retry_after_seconds: 1,
            }
        })?;
        Ok(HashSlot { _admitted: admitted })
    }

    async fn run<T: Send + 'static>(
        &self,
        _slot: &HashSlot,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = tx.send(f());
            }))
            .map_err(|_| anyhow::anyhow!("the password hashing threads are gone"))?;
        rx.await.context("A password hashing job failed")
    }

    pub async fn hash(&self, slot: &HashSlot, password: String, settings: &AuthSettings) -> anyhow::Result<String> {
        let argon = hasher(settings);
        self.run(slot, move || hash_with(&argon, &password)).await?
    }

    /// True when `password` matches `stored`; with `stored = None` a dummy hash is verified
    /// (always false), so that "unknown account" and "wrong password" take the same time.
    pub async fn verify(
        &self,
        slot: &HashSlot,
        password: String,
        stored: Option<String>,
        settings: &AuthSettings,
    ) -> anyhow::Result<bool> {
        let settings = settings.clone();
        self.run(slot, move || {
            let exists = stored.is_some();
            let stored = stored.unwrap_or_else(|| dummy_hash(&settings).to_string());
            let ok = match PasswordHash::new(&stored) {
                Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
                Err(_) => false,
            };
            ok && exists
        })
        .await
    }
}

fn hasher(s: &AuthSettings) -> Argon2<'static> {
    let params = Params::new(s.password_hash_memory_kib, s.password_hash_iterations, 1, None)
        .unwrap_or_else(|_| Params::default());
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_with(argon: &Argon2<'_>, password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon.hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| anyhow::anyhow!("argon2: {e}"))
}

/// Hash on tokio's blocking pool (the CLI; request handlers use a `HashPool`).
pub async fn hash(password: String, settings: &AuthSettings) -> anyhow::Result<String> {
    let argon = hasher(settings);
    tokio::task::spawn_blocking(move || hash_with(&argon, &password)).await.context("Password hashing task failed")?
}

/// A hash of a random password, verified against when the account does not exist.
fn dummy_hash(settings: &AuthSettings) -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let pw = hex::encode(rand::random::<[u8; 16]>());
        hash_with(&hasher(settings), &pw).unwrap_or_default()
    })
}
