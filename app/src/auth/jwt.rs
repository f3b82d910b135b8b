//! Access tokens: JWTs signed with HS256 (a shared secret of at least 32 bytes in production),
//! RS256 or EdDSA (PEM key files). Validation pins the configured algorithm, so `alg: none` and
//! algorithm confusion (an HS256 token signed with the RSA public key, or an RS256 token where
//! HS256 is configured) fail before any signature check.
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::configuration::{JwtAlgorithm, JwtSettings};

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
}

pub struct JwtKeys {
    algorithm: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
    issuer: String,
    audience: String,
    pub access_ttl: u64,
    leeway: u64,
    /// Key for HMACs of secrets stored in Redis (SMS codes), derived from the signing material.
    pub hmac_key: Vec<u8>,
}

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl JwtKeys {
    pub fn from_settings(s: &JwtSettings) -> anyhow::Result<Self> {
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
                (Algorithm::HS256, EncodingKey::from_secret(&secret), DecodingKey::from_secret(&secret), key)
            }
            JwtAlgorithm::RS256 | JwtAlgorithm::EdDSA => {
                let private = std::fs::read(&s.private_key_file)
                    .with_context(|| format!("jwt.private_key_file: cannot read {}", s.private_key_file))?;
                let public = std::fs::read(&s.public_key_file)
                    .with_context(|| format!("jwt.public_key_file: cannot read {}", s.public_key_file))?;
                let key = Sha256::digest(&private).to_vec();
                if s.algorithm == JwtAlgorithm::RS256 {
                    (
                        Algorithm::RS256,
                        EncodingKey::from_rsa_pem(&private).context("jwt.private_key_file: not an RSA PEM key")?,
                        DecodingKey::from_rsa_pem(&public).context("jwt.public_key_file: not an RSA PEM key")?,
                        key,
                    )
                } else {
                    (
                        Algorithm::EdDSA,
                        EncodingKey::from_ed_pem(&private).context("jwt.private_key_file: not an Ed25519 PEM key")?,
                        DecodingKey::from_ed_pem(&public).context("jwt.public_key_file: not an Ed25519 PEM key")?,
                        key,
                    )
                }
            }
        };
        Ok(JwtKeys {
            algorithm,
            encoding,
            decoding,
            issuer: s.issuer.clone(),
            audience: s.audience.clone(),
            access_ttl: s.access_ttl_seconds,
            // The issue caps clock-skew tolerance at 30 s whatever the configuration says.
            leeway: s.leeway_seconds.min(30),
            hmac_key,
        })
    }

    pub fn issue(&self, user_id: u32, roles: Vec<String>) -> anyhow::Result<String> {
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
        };
        encode(&Header::new(self.algorithm), &claims, &self.encoding).context("Failed to sign an access token")
    }

    /// The user id of a valid token; any failure is reported as one reason (never the key material).
    pub fn validate(&self, token: &str) -> Result<(u32, Claims), String> {
        let mut v = Validation::new(self.algorithm);
        v.leeway = self.leeway;
        v.validate_nbf = true;
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        v.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        let data = decode::<Claims>(token, &self.decoding, &v).map_err(|e| {
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
