//! Control plane of Sightline: the HTTPS API, accounts and support sessions.
//!
//! What exists so far: the sans-IO security primitives ([`auth`]), the HTTPS transport
//! ([`http`]: TLS configuration, a hyper server with limits, problem details, a router) and the
//! tenant-scoped store ([`store`]: sqlx on SQLite with embedded migrations). The `sightline`
//! binary that wires them to the media engine (the `media-core` crate) does not exist yet.

#![forbid(unsafe_code)]

pub mod api;
pub mod auth;
pub mod http;
pub mod store;
