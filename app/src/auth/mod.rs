//! Authentication primitives with no application state: JWT keys (`jwt`), HMAC/SHA-256
//! digests (`digest`), Argon2id password hashing (`password`) and the SMS senders (`sms`). The flows that use
//! them across replicas are in `accounts`; the RBAC guard is `routes::guard`.
pub mod digest;
pub mod jwt;
pub mod password;
pub mod sms;
