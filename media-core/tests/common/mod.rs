//! Test peers for media-core's interop tests: WebRTC endpoints that share no ICE, DTLS or
//! SRTP code with the forwarder.
//!
//! - [`rtc_peer`]: a synchronous peer on the webrtc-rs sans-IO `rtc` crate, in process.
//! - [`aiortc`]: a peer on Python's aiortc, in a child process (needs the venv that
//!   `scripts/setup-test-env.sh` builds).
//! - [`payload`]: self-describing payloads that prove media arrived unchanged.

// Each test binary uses a different part of the harness.
#![allow(dead_code)]

pub mod aiortc;
pub mod json;
pub mod payload;
pub mod rtc_peer;
pub mod rtc_setup;
