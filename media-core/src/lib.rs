//! Sightline's media data plane: a thread-per-core WebRTC forwarder.
//!
//! A support session's participants (the customer's phone, the agents' browsers) send their
//! media to one relay port; the forwarder authenticates them with ICE-lite, keys SRTP with
//! DTLS, decrypts each packet once in place, and re-encrypts it for every subscriber whose
//! slot the source fills. See `docs/architecture.md` for the threads and the packet path.
//!
//! The protocol modules are sans-IO: they take bytes and a time and return bytes, events and
//! deadlines. Sockets, threads and clocks live only in [`worker`] and [`engine`].

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod demux;
pub mod dtls;
pub mod engine;
pub mod feedback;
pub mod fingerprint;
pub mod ice;
pub mod ids;
pub mod net;
pub mod output;
pub mod rtp;
pub mod sdp;
pub mod session;
pub mod srtp;
mod worker;

pub use engine::{Engine, EngineConfig, EngineError, EngineEvent, SessionInfo};
pub use session::{Flows, JoinAnswer, ParticipantOptions, SessionEvent};
