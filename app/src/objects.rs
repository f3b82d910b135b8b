//! The object store client (S3 API): put, get (whole or streamed), head and delete by key, signed
//! with AWS Signature Version 4. The same code talks to Garage (path-style, static keys) and to
//! AWS S3 (virtual-hosted, static keys or role credentials: a pod's IRSA web identity token
//! exchanged at STS, the container endpoint of ECS and EKS Pod Identity, or EC2's IMDSv2 — the
//! order of the AWS SDKs' default chain).
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
    /// A role: IRSA's web identity when the pod identity webhook set it, else the container's
    /// (ECS, EKS Pod Identity), else the instance's (EC2 IMDSv2); cached until five minutes
    /// before it expires.
    Role {
        web_identity: Option<WebIdentity>,
        cache: Mutex<Option<Credentials>>,
    },
}

/// IRSA (EKS IAM roles for service accounts): the webhook mounts a projected service account
/// token and sets `AWS_ROLE_ARN` and `AWS_WEB_IDENTITY_TOKEN_FILE`; the token is exchanged for
/// role credentials with STS AssumeRoleWithWebIdentity (a call that needs no signature).
#[derive(Debug, Clone)]
struct WebIdentity {
    role_arn: String,
    /// Re-read at every exchange: the kubelet rotates it.
    token_file: String,
    session_name: String,
    /// `https://sts.{region}.amazonaws.com` (the regional endpoint the webhook asks for), or
    /// `AWS_ENDPOINT_URL_STS` (an STS interface endpoint, or a test's stand-in).
    endpoint: String,
}

impl WebIdentity {
    fn from_env(region: &str) -> Option<Self> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let role_arn = var("AWS_ROLE_ARN")?;
        let token_file = var("AWS_WEB_IDENTITY_TOKEN_FILE")?;
        let session_name = var("AWS_ROLE_SESSION_NAME").unwrap_or_else(|| format!("zufang-{}", std::process::id()));
        let endpoint = var("AWS_ENDPOINT_URL_STS").unwrap_or_else(|| format!("https://sts.{region}.amazonaws.com"));
        Some(WebIdentity { role_arn, token_file, session_name, endpoint })
    }
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
            CredentialSource::Role { web_identity: WebIdentity::from_env(&s.region), cache: Mutex::new(None) }
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
            CredentialSource::Role { web_identity, cache } => {
                let mut cached = cache.lock().await;
                let fresh = cached.as_ref().is_some_and(|c| match c.expires {
                    Some(t) => t - chrono::Duration::minutes(5) > Utc::now(),
                    None => true,
                });
                if !fresh {
                    *cached = Some(match web_identity {
                        Some(w) => web_identity_credentials(&self.inner.http, w).await?,
                        None => role_credentials(&self.inner.http).await?,
                    });
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

/// STS AssumeRoleWithWebIdentity with the pod's current token (form-encoded POST, XML answer).
async fn web_identity_credentials(http: &reqwest::Client, w: &WebIdentity) -> Result<Credentials, ObjectError> {
    let fail = |what: &str| ObjectError::Unavailable(format!("web identity credentials: {what}"));
    let token = std::fs::read_to_string(&w.token_file).map_err(|_| fail("token file unreadable"))?;
    let form = [
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", w.role_arn.as_str()),
        ("RoleSessionName", w.session_name.as_str()),
        ("WebIdentityToken", token.trim()),
    ];
    let resp = http
        .post(format!("{}/", w.endpoint.trim_end_matches('/')))
        .form(&form)
        .send()
        .await
        .map_err(|e| unavailable("web identity credentials", &e))?;
    // STS's error body names the role and the reason; keep the status only (never the token).
    let status = resp.status();
    if !status.is_success() {
        return Err(fail(&format!("STS refused ({})", status.as_u16())));
    }
    let xml = resp.text().await.map_err(|_| fail("malformed"))?;
    let field = |name: &str| xml_text(&xml, name).ok_or_else(|| fail("malformed"));
    let expires = DateTime::parse_from_rfc3339(&field("Expiration")?).map_err(|_| fail("malformed"))?;
    Ok(Credentials {
        key_id: field("AccessKeyId")?,
        secret: field("SecretAccessKey")?,
        token: Some(field("SessionToken")?),
        expires: Some(expires.with_timezone(&Utc)),
    })
}

/// The text of the first `<name>…</name>` element, XML entities decoded (STS's answer is flat,
/// fixed XML; the four values are base64 or ISO-8601 text).
fn xml_text(xml: &str, name: &str) -> Option<String> {
    let start = xml.find(&format!("<{name}>"))? + name.len() + 2;
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    let raw = xml[start..end].trim();
    Some(
        raw.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
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

    /// A stand-in for STS on loopback (the real one is not reachable here): answers one request
    /// with `status` and `body`, and hands back what it was sent.
    fn fake_sts(status: u16, body: &'static str) -> (String, std::thread::JoinHandle<String>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            // Headers, then as many body bytes as content-length says.
            loop {
                let n = conn.read(&mut buf).unwrap();
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).to_string();
                if let Some(split) = text.find("\r\n\r\n") {
                    let len = text[..split]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if got.len() >= split + 4 + len {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            let reply = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: text/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            conn.write_all(reply.as_bytes()).unwrap();
            String::from_utf8_lossy(&got).to_string()
        });
        (url, handle)
    }

    fn identity(endpoint: String, token: &str) -> (WebIdentity, std::path::PathBuf) {
        let file = std::env::temp_dir().join(format!("zufang-irsa-{}-{}", std::process::id(), token.len()));
        std::fs::write(&file, format!("{token}\n")).unwrap();
        let w = WebIdentity {
            role_arn: "arn:aws:iam::123456789012:role/zufang-prod-app-photos".into(),
            token_file: file.display().to_string(),
            session_name: "zufang-test".into(),
            endpoint,
        };
        (w, file)
    }

    #[tokio::test]
    async fn irsa_token_is_exchanged_at_sts_for_role_credentials() {
        let answer = "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
            <AssumeRoleWithWebIdentityResult><Credentials>\
            <SessionToken>FwoGZXIvYXdzEB4a/+tok=</SessionToken>\
            <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY</SecretAccessKey>\
            <Expiration>2030-01-02T03:04:05Z</Expiration>\
            <AccessKeyId>ASIAEXAMPLE</AccessKeyId>\
            </Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>";
        let (url, sts) = fake_sts(200, answer);
        let (w, file) = identity(url, "eyJhbGciOiJSUzI1NiJ9.pod-token.sig");
        let c = web_identity_credentials(&reqwest::Client::new(), &w).await.unwrap();
        let request = sts.join().unwrap();
        std::fs::remove_file(file).unwrap();
        assert_eq!(c.key_id, "ASIAEXAMPLE");
        assert_eq!(c.secret, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
        assert_eq!(c.token.as_deref(), Some("FwoGZXIvYXdzEB4a/+tok="));
        assert_eq!(c.expires.unwrap().to_rfc3339(), "2030-01-02T03:04:05+00:00");
        assert!(request.starts_with("POST / HTTP/1.1"), "{request}");
        assert!(request.contains("Action=AssumeRoleWithWebIdentity"), "{request}");
        assert!(request.contains("RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fzufang-prod-app-photos"));
        // The file's token, without its newline.
        assert!(
            request.contains("WebIdentityToken=eyJhbGciOiJSUzI1NiJ9.pod-token.sig&")
                || request.ends_with("WebIdentityToken=eyJhbGciOiJSUzI1NiJ9.pod-token.sig"),
            "{request}"
        );
    }

    #[tokio::test]
    async fn sts_refusal_is_unavailable_without_the_token_or_the_role() {
        let (url, sts) = fake_sts(403, "<ErrorResponse><Error><Code>AccessDenied</Code><Message>Not authorized to perform sts:AssumeRoleWithWebIdentity on arn:aws:iam::123456789012:role/x</Message></Error></ErrorResponse>");
        let (w, file) = identity(url, "secret-pod-token");
        let e = web_identity_credentials(&reqwest::Client::new(), &w).await.err().expect("an error").to_string();
        sts.join().unwrap();
        std::fs::remove_file(file).unwrap();
        assert!(e.contains("STS refused (403)"), "{e}");
        assert!(!e.contains("secret-pod-token") && !e.contains("arn:aws"), "{e}");
    }

    #[tokio::test]
    async fn a_missing_token_file_is_named_as_such() {
        let w = WebIdentity {
            role_arn: "arn:aws:iam::1:role/r".into(),
            token_file: "/nonexistent/zufang/token".into(),
            session_name: "s".into(),
            endpoint: "http://127.0.0.1:9".into(),
        };
        let e = web_identity_credentials(&reqwest::Client::new(), &w).await.err().expect("an error").to_string();
        assert!(e.contains("token file unreadable"), "{e}");
    }

    #[test]
    fn xml_text_decodes_entities_and_misses_cleanly() {
        assert_eq!(xml_text("<a><B> x&amp;y </B></a>", "B").as_deref(), Some("x&y"));
        assert_eq!(xml_text("<a></a>", "B"), None);
    }

    #[test]
    fn empty_payload_hash_is_the_sha256_of_nothing() {
        assert_eq!(hex::encode(Sha256::digest(b"")), EMPTY_SHA256);
    }
}
