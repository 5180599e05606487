//! Why an SRTP or SRTCP packet could not be protected or unprotected, typed by who is at fault.

/// An SRTP transform failure.
///
/// The first group is the peer's fault (or an attacker's): drop the packet, count it, and log
/// at trace level at most. The second group is a misuse by the caller or a key that has run
/// its course. [`SrtpError::is_peer_fault`] tells the groups apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum SrtpError {
    /// The packet is too short, not RTP version 2, or its header lengths run past its end.
    #[error("malformed SRTP or SRTCP packet")]
    Malformed,
    /// The authentication tag does not match: a wrong key, tampering or corruption.
    #[error("SRTP authentication failed")]
    AuthenticationFailed,
    /// The packet index was already accepted once (RFC 3711 section 3.3.2).
    #[error("replayed SRTP packet")]
    Replayed,
    /// The packet index is behind the replay window, so a replay cannot be ruled out.
    #[error("SRTP packet older than the replay window")]
    TooOld,
    /// The SSRC is new and the session already tracks [`MAX_SOURCES`](super::MAX_SOURCES).
    ///
    /// On protect this is the caller sending from too many sources in one session.
    #[error("too many SSRCs in one SRTP session")]
    TooManySources,
    /// The peer used an SRTP feature not implemented here: SRTCP with the E flag clear.
    #[error("unencrypted SRTCP is not supported")]
    Unsupported,

    /// The buffer is shorter than the stated length, or has no room for the tag and index.
    #[error("buffer too small for the SRTP packet")]
    BufferTooSmall,
    /// The master key or salt has the wrong length, or belongs to another profile.
    #[error("invalid SRTP master key")]
    InvalidKey,
    /// The 48-bit SRTP or 31-bit SRTCP index is used up; the association must be re-keyed
    /// (RFC 3711 section 9.2).
    #[error("SRTP packet index exhausted, re-keying needed")]
    IndexExhausted,
    /// The crypto library refused an operation that cannot fail on valid input.
    #[error("crypto library failure")]
    Crypto,
}

impl SrtpError {
    /// Whether the packet from the peer caused the error (drop it), rather than our own use.
    pub fn is_peer_fault(self) -> bool {
        matches!(
            self,
            SrtpError::Malformed
                | SrtpError::AuthenticationFailed
                | SrtpError::Replayed
                | SrtpError::TooOld
                | SrtpError::TooManySources
                | SrtpError::Unsupported
        )
    }
}
