//! SRTP and SRTCP (RFC 3711) with the `SRTP_AES128_CM_HMAC_SHA1_80`, `SRTP_AEAD_AES_128_GCM`
//! and `SRTP_AEAD_AES_256_GCM` (RFC 7714) profiles, keyed by DTLS-SRTP (RFC 5764).
//!
//! Packets are transformed in place in the caller's buffer: protect appends the tag (and the
//! SRTCP index) in the room the caller left after the packet, unprotect leaves the plain
//! packet at the start of the buffer. Keys are expanded and the per-SSRC table is sized once
//! per [`SrtpSession`], so the packet path makes no heap allocation.
//!
//! Not supported: key derivation rates other than 0 (DTLS-SRTP uses 0), MKIs, and receiving
//! SRTCP with the E flag clear (browsers always encrypt; such packets give
//! [`SrtpError::Unsupported`]).

mod cipher;
mod error;
mod header;
mod key;
mod profile;
mod replay;
mod session;
mod transform;

#[cfg(test)]
mod oracle_tests;
#[cfg(test)]
mod session_tests;

pub use error::SrtpError;
pub use key::{MasterKey, SrtpKeys};
pub use profile::SrtpProfile;
pub use replay::REPLAY_WINDOW;
pub use session::{SrtpSession, MAX_SOURCES};
