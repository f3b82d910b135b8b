//! Typed values parsed at the edge ("parse, don't validate"): once a handler holds an
//! `EstateFilter` or a `PageRequest`, it cannot see invalid input.
pub mod accounts;
pub mod filters;
pub mod pagination;
pub mod query;
pub mod writes;
