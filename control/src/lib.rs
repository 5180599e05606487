//! Control plane of Sightline: the HTTPS API, accounts and support sessions.
//!
//! Not built yet; the media engine it will drive lives in the `media-core` crate.
