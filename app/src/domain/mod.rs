//! Typed values parsed at the edge ("parse, don't validate"): once a handler holds an
//! `EstateFilter`, a `PageRequest` or an `EstateFields`, it cannot see invalid input. Nothing here
//! knows HTTP: a refused input is a `validation::Invalid`, which `error.rs` answers.
pub mod accounts;
pub mod admin;
pub mod estates;
pub mod filters;
pub mod houses;
pub mod pagination;
pub mod photos;
pub mod query;
pub mod validation;
pub mod writes;
