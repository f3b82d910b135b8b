//! Access tokens: JWTs signed with HS256 (a shared secret of at least 32 bytes in production),
//! RS256 or EdDSA (PEM key files). Validation pins the configured algorithm, so `alg: none` and
//! algorithm confusion (an HS256 token signed with the RSA public key, or an RS256 token where
//! HS256 is configured) fail before any signature check.
//!
//! Key rotation: every token names its key in the `kid` header, derived from the key itself (no
//! id to keep in step by hand). Tokens are signed with the current key and verified with the key
//! their `kid` names, among the current one and the verify-only ones (`jwt.verify_secrets`,
//! `jwt.verify_public_key_files`); an unknown `kid` is an invalid token. A token without `kid`
//! (issued before kids existed) is checked against the current key only.
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::configuration::{JwtAlgorithm, JwtSettings, Secret};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
    pub iss: String,
    pub aud: String,
    pub jti: String,
    pub roles: Vec<String>,
    /// The account's session epoch at issue (`users.session_epoch`): revoking every session of
    /// an account bumps it, and the guard refuses tokens of an older epoch. Tokens from before
    /// the claim existed read as epoch 0.
    #[serde(default)]
    pub sep: u32,
}

pub struct JwtKeys {
    algorithm: Algorithm,
    encoding: EncodingKey,
    /// The current key's id (signing).
    kid: String,
    /// Verification keys by id; the first is the current key.
    decoding: Vec<(String, DecodingKey)>,
    issuer: String,
    audience: String,
    pub access_ttl: u64,
    leeway: u64,
    /// Key for HMACs of secrets stored in Redis (SMS codes): from `sms.code_hmac_secret` when set,
    /// else derived from the signing material (which a key rotation then changes).
    pub hmac_key: Vec<u8>,
}

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The key id of key material: a prefix naming the algorithm family and 16 hex digits of a
/// domain-separated SHA-256 (a one-way function of a 32+ byte random key reveals nothing usable).
pub fn key_id(prefix: &str, material: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"zufang-jwt-kid\0");
    h.update(material);
    format!("{prefix}-{}", &hex::encode(h.finalize())[..16])
}

impl JwtKeys {
    /// `sms_code_hmac_secret`: the SMS-code HMAC key's own secret (empty: derived from the signing key).
    pub fn from_settings(s: &JwtSettings, sms_code_hmac_secret: &Secret) -> anyhow::Result<Self> {
        use sha2::{Digest, Sha256};
        let (algorithm, encoding, decoding, hmac_key) = match s.algorithm {
            JwtAlgorithm::HS256 => {
                let mut secret = s.secret.expose().as_bytes().to_vec();
                if secret.is_empty() {
                    // Development only (production validation requires >= 32 bytes): tokens from
                    // this process are not accepted by any other replica or after a restart.
                    tracing::warn!("jwt.secret is empty: using a random per-process secret (development only)");
                    secret = rand::random::<[u8; 32]>().to_vec();
                }
                let key = Sha256::digest(&secret).to_vec();
                let mut decoding = vec![(key_id("hs", &secret), DecodingKey::from_secret(&secret))];
                for extra in s.verify_keys() {
                    decoding.push((key_id("hs", extra.as_bytes()), DecodingKey::from_secret(extra.as_bytes())));
                }
                (Algorithm::HS256, EncodingKey::from_secret(&secret), decoding, key)
            }
            JwtAlgorithm::RS256 | JwtAlgorithm::EdDSA => {
                let private = std::fs::read(&s.private_key_file)
                    .with_context(|| format!("jwt.private_key_file: cannot read {}", s.private_key_file))?;
                let public = std::fs::read(&s.public_key_file)
                    .with_context(|| format!("jwt.public_key_file: cannot read {}", s.public_key_file))?;
                let key = Sha256::digest(&private).to_vec();
                let rsa = s.algorithm == JwtAlgorithm::RS256;
                let (prefix, what) = if rsa { ("rs", "an RSA") } else { ("ed", "an Ed25519") };
                let public_key = |pem: &[u8], file: &str| -> anyhow::Result<(String, DecodingKey)> {
                    let k = if rsa { DecodingKey::from_rsa_pem(pem) } else { DecodingKey::from_ed_pem(pem) };
                    Ok((key_id(prefix, pem), k.with_context(|| format!("{file}: not {what} PEM public key"))?))
                };
                let mut decoding = vec![public_key(&public, "jwt.public_key_file")?];
                for file in &s.verify_public_key_files {
                    let pem = std::fs::read(file)
                        .with_context(|| format!("jwt.verify_public_key_files: cannot read {file}"))?;
                    decoding.push(public_key(&pem, "jwt.verify_public_key_files")?);
                }
                let encoding =
                    if rsa { EncodingKey::from_rsa_pem(&private) } else { EncodingKey::from_ed_pem(&private) }
                        .with_context(|| format!("jwt.private_key_file: not {what} PEM key"))?;
                (if rsa { Algorithm::RS256 } else { Algorithm::EdDSA }, encoding, decoding, key)
            }
        };
        let hmac_key = if sms_code_hmac_secret.is_empty() {
            hmac_key
        } else {
            Sha256::digest(sms_code_hmac_secret.expose().as_bytes()).to_vec()
        };
        let kids: Vec<&str> = decoding.iter().map(|(k, _)| k.as_str()).collect();
        tracing::info!(current = kids[0], verify_only = ?&kids[1..], "JWT keys loaded");
        Ok(JwtKeys {
            algorithm,
            encoding,
            kid: decoding[0].0.clone(),
            decoding,
            issuer: s.issuer.clone(),
            audience: s.audience.clone(),
            access_ttl: s.access_ttl_seconds,
            // The issue caps clock-skew tolerance at 30 s whatever the configuration says.
            leeway: s.leeway_seconds.min(30),
            hmac_key,
        })
    }

    pub fn issue(&self, user_id: u32, roles: Vec<String>, session_epoch: u32) -> anyhow::Result<String> {
        let now = now();
        let claims = Claims {
            sub: user_id.to_string(),
            iat: now,
            nbf: now,
            exp: now + self.access_ttl,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            jti: hex::encode(rand::random::<[u8; 16]>()),
            roles,
            sep: session_epoch,
        };
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        encode(&header, &claims, &self.encoding).context("Failed to sign an access token")
    }

    /// The id of the signing key (the `kid` of every token issued now).
    pub fn current_kid(&self) -> &str {
        &self.kid
    }

    /// The user id of a valid token; any failure is reported as one reason (never the key material).
    pub fn validate(&self, token: &str) -> Result<(u32, Claims), String> {
        let mut v = Validation::new(self.algorithm);
        v.leeway = self.leeway;
        v.validate_nbf = true;
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        v.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        let invalid = || "The access token is invalid.".to_string();
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid())?;
        let key = match header.kid.as_deref() {
            None => &self.decoding[0].1,
            Some(kid) => &self.decoding.iter().find(|(k, _)| k == kid).ok_or_else(invalid)?.1,
        };
        let data = decode::<Claims>(token, key, &v).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind::*;
            match e.kind() {
                ExpiredSignature => "The access token has expired.".to_string(),
                ImmatureSignature => "The access token is not valid yet.".to_string(),
                InvalidIssuer | InvalidAudience => "The access token was issued for another service.".to_string(),
                InvalidAlgorithm => "The access token uses an unaccepted algorithm.".to_string(),
                _ => "The access token is invalid.".to_string(),
            }
        })?;
        let id = data.claims.sub.parse::<u32>().map_err(|_| "The access token is invalid.".to_string())?;
        Ok((id, data.claims))
    }
}
