//! Control plane of Sightline: the HTTPS API, accounts and support sessions.
//!
//! Only the sans-IO security primitives exist so far ([`auth`]); the HTTP API, the store and
//! the media engine they will drive (the `media-core` crate) are wired together later.

#![forbid(unsafe_code)]

pub mod auth;
pub mod store;
