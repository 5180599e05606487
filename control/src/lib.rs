//! Control plane of Sightline: the HTTPS API, accounts and support sessions.
//!
//! What exists so far: the sans-IO security primitives ([`auth`]), the HTTPS transport
//! ([`http`]: TLS configuration, a hyper server with limits, problem details, a router) and the
//! tenant-scoped store ([`store`]: sqlx on SQLite with embedded migrations), the API
//! ([`api`]), and the `sightline` binary's parts: its [`config`]uration, the [`daemon`] that
//! serves the API beside the media engine (the `media-core` crate), and the [`cli`].

#![forbid(unsafe_code)]

pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod http;
pub mod store;
pub mod web;
