//! Control plane of Sightline: the HTTPS API, accounts and support sessions.
//!
//! What exists so far: the sans-IO security primitives ([`auth`]) and the HTTPS transport
//! ([`http`]: TLS configuration, a hyper server with limits, problem details, a router). The
//! `sightline` binary that wires them to a store and to the media engine (the `media-core`
//! crate) does not exist yet.

#![forbid(unsafe_code)]

pub mod auth;
pub mod http;
