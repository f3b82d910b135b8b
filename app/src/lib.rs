//! zufang: a rental-listings REST API (districts, estates, houses) in the conventions of
//! Django REST Framework, on actix-web, MariaDB (sqlx) and Redis (deadpool-redis).
//!
//! `main.rs` only wires the pieces; everything lives here so the integration tests run the same code.
pub mod access;
pub mod accounts;
pub mod auth;
pub mod broker;
pub mod cache;
pub mod cli;
pub mod client_ip;
pub mod configuration;
pub mod domain;
pub mod error;
pub mod list_cache;
pub mod metrics;
pub mod middleware;
pub mod objects;
pub mod relay;
pub mod request_id;
pub mod routes;
pub mod seed;
pub mod service;
pub mod startup;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod worker;
