//! Integration tests over HTTP against the real service, MariaDB and Redis.
mod auth;
mod cache;
mod config;
mod districts;
mod errors;
mod estates;
mod explain;
mod health;
mod helpers;
mod houses;
mod list_cache;
mod metrics;
mod openapi;
mod rbac;
mod routes;
mod sms;
mod writes;
