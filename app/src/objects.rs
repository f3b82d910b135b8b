//! The object store client (S3 API): put, get (whole or streamed), head and delete by key, signed
//! with AWS Signature Version 4. The same code talks to Garage (path-style, static keys) and to
//! AWS S3 (virtual-hosted, static keys or the instance's / pod's role credentials).
//!
//! Why not a crate: `object_store` links a quick-xml with open advisories (0.12, 0.13) or a
//! second reqwest with aws-lc (0.14), and `aws-sdk-s3` is far heavier to compile; the four
//! calls the photos need are a few lines of SigV4 over the reqwest the app already links.
//!
//! Errors never carry the endpoint, the bucket or a credential: [`ObjectError`]'s messages are
//! safe to log, and the API answers only "the photo store is unavailable".
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::Stream;
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode, Url};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use crate::configuration::S3Settings;

#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("object not found")]
    NotFound,
    /// The store could not be reached, timed out, or answered an error status.
    #[error("object store unavailable: {0}")]
    Unavailable(String),
}

/// A whole object and what the store says about it.
#[derive(Debug, Clone)]
pub struct Object {
    pub bytes: Bytes,
    pub content_type: Option<String>,
    pub etag: Option<String>,
}

/// An object's metadata (HEAD).
#[derive(Debug, Clone)]
pub struct ObjectMeta {
    pub size: u64,
    pub content_type: Option<String>,
    pub etag: Option<String>,
}

/// A streamed object: its metadata and the body as it arrives.
pub struct ObjectStream {
    pub meta: ObjectMeta,
    pub body: std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, ObjectError>> + Send>>,
}

#[derive(Clone)]
struct Credentials {
    key_id: String,
    secret: String,
    token: Option<String>,
    /// Role credentials expire; static keys do not.
    expires: Option<DateTime<Utc>>,
}

enum CredentialSource {
    Static(Credentials),
    /// The instance's (EC2 IMDSv2) or the container's (ECS, EKS Pod Identity) role, cached
    /// until five minutes before it expires.
    Role(Mutex<Option<Credentials>>),
}

/// A handle on one bucket; cheap to clone.
#[derive(Clone)]
pub struct ObjectStore {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// `scheme://host[:port]` of the bucket's requests.
    base: Url,
    /// Path prefix before the key: `/bucket` path-style, empty virtual-hosted.
    prefix: String,
    region: String,
    credentials: CredentialSource,
}

type HmacSha256 = Hmac<Sha256>;

const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

impl ObjectStore {
    pub fn from_settings(s: &S3Settings) -> anyhow::Result<Self> {
        let endpoint = if s.endpoint.is_empty() {
            format!("https://s3.{}.amazonaws.com", s.region)
        } else {
            s.endpoint.trim_end_matches('/').to_string()
        };
        let mut base = Url::parse(&endpoint).map_err(|e| anyhow::anyhow!("s3.endpoint: not a URL ({e})"))?;
        let prefix = if s.path_style {
            format!("/{}", uri_encode(&s.bucket, true))
        } else {
            let host = base.host_str().ok_or_else(|| anyhow::anyhow!("s3.endpoint: no host"))?.to_string();
            base.set_host(Some(&format!("{}.{host}", s.bucket)))
                .map_err(|e| anyhow::anyhow!("s3.bucket: not usable in a host name ({e})"))?;
            String::new()
        };
        let credentials = if s.access_key_id.is_empty() {
            CredentialSource::Role(Mutex::new(None))
        } else {
            CredentialSource::Static(Credentials {
                key_id: s.access_key_id.expose().to_string(),
                secret: s.secret_access_key.expose().to_string(),
                token: None,
                expires: None,
            })
        };
        let timeout = Duration::from_millis(s.timeout_ms);
        let http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .read_timeout(timeout)
            // No redirect is legitimate from a bucket; following one would re-send to another host.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(ObjectStore { inner: Arc::new(Inner { http, base, prefix, region: s.region.clone(), credentials }) })
    }

    /// Store `body` under `key` (replaces any object there).
    pub async fn put(&self, key: &str, body: Bytes, content_type: &str) -> Result<(), ObjectError> {
        let hash = hex::encode(Sha256::digest(&body));
        let resp = self.send(Method::PUT, key, &hash, Some(content_type), Some(body)).await?;
        expect_success(resp, "put").await.map(drop)
    }

    /// The whole object.
    pub async fn get(&self, key: &str) -> Result<Object, ObjectError> {
        let resp = expect_success(self.send(Method::GET, key, EMPTY_SHA256, None, None).await?, "get").await?;
        let meta = meta_of(&resp);
        let bytes = resp.bytes().await.map_err(|e| unavailable("get", &e))?;
        Ok(Object { bytes, content_type: meta.content_type, etag: meta.etag })
    }

    /// The object as a stream (for serving it without holding it whole).
    pub async fn get_stream(&self, key: &str) -> Result<ObjectStream, ObjectError> {
        use futures_util::StreamExt;
        let resp = expect_success(self.send(Method::GET, key, EMPTY_SHA256, None, None).await?, "get").await?;
        let meta = meta_of(&resp);
        let body = resp.bytes_stream().map(|r| r.map_err(|e| unavailable("get body", &e)));
        Ok(ObjectStream { meta, body: Box::pin(body) })
    }

    /// The object's metadata, or None when there is no such object.
    pub async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, ObjectError> {
        match expect_success(self.send(Method::HEAD, key, EMPTY_SHA256, None, None).await?, "head").await {
            Ok(resp) => Ok(Some(meta_of(&resp))),
            Err(ObjectError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Delete `key`; deleting a missing object succeeds (S3 answers 204 either way).
    pub async fn delete(&self, key: &str) -> Result<(), ObjectError> {
        match expect_success(self.send(Method::DELETE, key, EMPTY_SHA256, None, None).await?, "delete").await {
            Ok(_) | Err(ObjectError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn send(
        &self,
        method: Method,
        key: &str,
        payload_hash: &str,
        content_type: Option<&str>,
        body: Option<Bytes>,
    ) -> Result<reqwest::Response, ObjectError> {
        let inner = &self.inner;
        let creds = self.credentials().await?;
        let path = format!("{}/{}", inner.prefix, uri_encode(key, false));
        let mut url = inner.base.clone();
        url.set_path(&path);
        let now = Utc::now();
        let host = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        let authorization = sign(&creds, &inner.region, method.as_str(), &path, &host, payload_hash, now);
        let mut req = inner
            .http
            .request(method, url)
            .header("x-amz-date", amz_date(now))
            .header("x-amz-content-sha256", payload_hash)
            .header("authorization", authorization);
        if let Some(token) = &creds.token {
            req = req.header("x-amz-security-token", token);
        }
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        if let Some(body) = body {
            req = req.body(body);
        }
        req.send().await.map_err(|e| unavailable("request", &e))
    }

    async fn credentials(&self) -> Result<Credentials, ObjectError> {
        match &self.inner.credentials {
            CredentialSource::Static(c) => Ok(c.clone()),
            CredentialSource::Role(cache) => {
                let mut cached = cache.lock().await;
                let fresh = cached.as_ref().is_some_and(|c| match c.expires {
                    Some(t) => t - chrono::Duration::minutes(5) > Utc::now(),
                    None => true,
                });
                if !fresh {
                    *cached = Some(role_credentials(&self.inner.http).await?);
                }
                Ok(cached.clone().expect("credentials were just loaded"))
            }
        }
    }
}

fn unavailable(what: &str, e: &reqwest::Error) -> ObjectError {
    // reqwest's message names the URL (host and bucket): keep only the kind of failure.
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "body interrupted"
    } else {
        "request failed"
    };
    ObjectError::Unavailable(format!("{what}: {kind}"))
}

async fn expect_success(resp: reqwest::Response, what: &str) -> Result<reqwest::Response, ObjectError> {
    match resp.status() {
        s if s.is_success() => Ok(resp),
        StatusCode::NOT_FOUND => Err(ObjectError::NotFound),
        s => {
            // The error document's Code (AccessDenied, SignatureDoesNotMatch, ...) says what went
            // wrong without naming the bucket or the key.
            let text = resp.text().await.unwrap_or_default();
            let code = text.split("<Code>").nth(1).and_then(|r| r.split("</Code>").next()).unwrap_or("");
            Err(ObjectError::Unavailable(format!("{what}: HTTP {} {code}", s.as_u16())))
        }
    }
}

fn meta_of(resp: &reqwest::Response) -> ObjectMeta {
    let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    ObjectMeta {
        size: header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0),
        content_type: header("content-type"),
        etag: header("etag"),
    }
}

fn amz_date(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// RFC 3986 percent-encoding as SigV4 wants it: unreserved characters stay, `/` stays in a key.
fn uri_encode(s: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b'/' if !encode_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any size");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// The `Authorization` header of a request without a query string (SigV4, service `s3`).
fn sign(
    c: &Credentials,
    region: &str,
    method: &str,
    path: &str,
    host: &str,
    payload_hash: &str,
    now: DateTime<Utc>,
) -> String {
    let date = now.format("%Y%m%d").to_string();
    let stamp = amz_date(now);
    let mut headers = vec![
        ("host", host.to_string()),
        ("x-amz-content-sha256", payload_hash.to_string()),
        ("x-amz-date", stamp.clone()),
    ];
    if let Some(token) = &c.token {
        headers.push(("x-amz-security-token", token.clone()));
    }
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{}\n", v.trim())).collect();
    let signed_headers = headers.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(";");
    let canonical_request = format!("{method}\n{path}\n\n{canonical_headers}\n{signed_headers}\n{payload_hash}");
    let scope = format!("{date}/{region}/s3/aws4_request");
    let to_sign =
        format!("AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{}", hex::encode(Sha256::digest(canonical_request.as_bytes())));
    let mut key = hmac(format!("AWS4{}", c.secret).as_bytes(), &date);
    for part in [region, "s3", "aws4_request"] {
        key = hmac(&key, part);
    }
    let signature = hex::encode(hmac(&key, &to_sign));
    format!("AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}", c.key_id)
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RoleCredentials {
    access_key_id: String,
    secret_access_key: String,
    token: String,
    expiration: DateTime<Utc>,
}

/// Role credentials: the container endpoint when the platform set one (ECS task roles, EKS Pod
/// Identity), else the EC2 instance metadata service (IMDSv2: a session token first).
async fn role_credentials(http: &reqwest::Client) -> Result<Credentials, ObjectError> {
    let fail = |what: &str| ObjectError::Unavailable(format!("role credentials: {what}"));
    let creds: RoleCredentials = if let Some(url) = container_credentials_url() {
        let mut req = http.get(url);
        if let Ok(token) = std::env::var("AWS_CONTAINER_AUTHORIZATION_TOKEN") {
            req = req.header("authorization", token);
        } else if let Ok(file) = std::env::var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
            let token = std::fs::read_to_string(file).map_err(|_| fail("token file unreadable"))?;
            req = req.header("authorization", token.trim());
        }
        let resp = req.send().await.map_err(|e| unavailable("role credentials", &e))?;
        resp.error_for_status().map_err(|_| fail("refused"))?.json().await.map_err(|_| fail("malformed"))?
    } else {
        let imds = "http://169.254.169.254/latest";
        let token = http
            .put(format!("{imds}/api/token"))
            .header("x-aws-ec2-metadata-token-ttl-seconds", "21600")
            .send()
            .await
            .map_err(|e| unavailable("instance metadata", &e))?
            .error_for_status()
            .map_err(|_| fail("no instance metadata token"))?
            .text()
            .await
            .map_err(|_| fail("no instance metadata token"))?;
        let get = |path: String| {
            http.get(format!("{imds}/meta-data/iam/security-credentials/{path}"))
                .header("x-aws-ec2-metadata-token", token.clone())
        };
        let role = get(String::new()).send().await.map_err(|e| unavailable("instance metadata", &e))?;
        let role = role
            .error_for_status()
            .map_err(|_| fail("no instance role"))?
            .text()
            .await
            .map_err(|_| fail("no instance role"))?;
        let role = role.lines().next().unwrap_or_default().trim().to_string();
        let resp = get(role).send().await.map_err(|e| unavailable("instance metadata", &e))?;
        resp.error_for_status().map_err(|_| fail("refused"))?.json().await.map_err(|_| fail("malformed"))?
    };
    Ok(Credentials {
        key_id: creds.access_key_id,
        secret: creds.secret_access_key,
        token: Some(creds.token),
        expires: Some(creds.expiration),
    })
}

fn container_credentials_url() -> Option<String> {
    if let Ok(full) = std::env::var("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
        return Some(full);
    }
    std::env::var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").ok().map(|rel| format!("http://169.254.170.2{rel}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_aws_documentation_example() {
        // "GET Object" example of the S3 SigV4 documentation (Authenticating Requests: Using the
        // Authorization Header), without its Range header.
        let c = Credentials {
            key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            token: None,
            expires: None,
        };
        let now = DateTime::parse_from_rfc3339("2013-05-24T00:00:00Z").unwrap().with_timezone(&Utc);
        let auth = sign(&c, "us-east-1", "GET", "/test.txt", "examplebucket.s3.amazonaws.com", EMPTY_SHA256, now);
        assert!(auth.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature="
        ));
        assert_eq!(auth.rsplit('=').next().unwrap().len(), 64);
    }

    #[test]
    fn keys_are_encoded_but_keep_their_slashes() {
        assert_eq!(uri_encode("derived/a b/c+d.jpg", false), "derived/a%20b/c%2Bd.jpg");
        assert_eq!(uri_encode("a/b", true), "a%2Fb");
    }

    #[test]
    fn empty_payload_hash_is_the_sha256_of_nothing() {
        assert_eq!(hex::encode(Sha256::digest(b"")), EMPTY_SHA256);
    }
}
