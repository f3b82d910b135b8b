//! Keyed and plain SHA-256 digests, hex-encoded: what Redis stores instead of secrets (SMS codes,
//! refresh-token secrets) and what keys a limit without keeping the account name in clear.
/// An HMAC-SHA256 of `msg` under `key`, hex-encoded.
pub fn hmac_hex(key: &[u8], msg: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(msg.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A SHA-256 of `s`, hex-encoded.
pub fn sha256_hex(s: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(s.as_bytes()))
}
