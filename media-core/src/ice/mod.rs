//! ICE-lite for one participant (RFC 8445 sections 2.5, 6.3 and 7.3; STUN RFC 8489; consent
//! freshness RFC 7675).
//!
//! The relay is a lite agent: it has one host candidate, is always controlled and never sends
//! checks of its own. It answers the peer's authenticated Binding requests, remembers which
//! source addresses passed a check, follows the peer's nomination (USE-CANDIDATE), and
//! declares consent lost when nothing authenticated arrived for the consent timeout.
//!
//! Calling convention: feed every STUN datagram addressed to this participant to
//! [`IceAgent::handle_binding_request`] and send the reply it writes; report authenticated
//! SRTP with [`IceAgent::on_authenticated_traffic`]; wake at [`IceAgent::poll_timeout`] and
//! tear the session down once [`IceAgent::is_expired`]. An ICE-lite server drops requests it
//! cannot authenticate instead of answering them, so it cannot be used to reflect traffic.

mod credentials;
mod wire;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use aws_lc_rs::hmac;
use stun_rs::attributes::ice::{IceControlled, UseCandidate};
use stun_rs::attributes::stun::{
    ErrorCode, Fingerprint, MessageIntegrity, UnknownAttributes, XorMappedAddress,
};
use stun_rs::methods::BINDING;
use stun_rs::{
    HMACKey, MessageClass, MessageDecoderBuilder, MessageEncoderBuilder, StunMessage,
    StunMessageBuilder, TransactionId,
};
use tracing::trace;

pub(crate) use credentials::is_ice_string;
pub use credentials::IceCredentials;
pub use wire::{is_stun, peek_local_ufrag};

/// How many validated source addresses a participant keeps; the least recently checked one
/// that is not nominated is forgotten first.
pub const MAX_VALIDATED: usize = 8;

/// The longest consent timeout accepted; longer values are clamped.
const MAX_CONSENT_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// Comprehension-required attributes (type below 0x8000) that a Binding request may carry
/// without a 420 answer (RFC 8489 section 6.3.1).
const UNDERSTOOD: [u16; 5] = [
    wire::ATTR_USERNAME,
    wire::ATTR_MESSAGE_INTEGRITY,
    wire::ATTR_MESSAGE_INTEGRITY_SHA256,
    wire::ATTR_PRIORITY,
    wire::ATTR_USE_CANDIDATE,
];

/// Why a Binding request was refused. Every variant means that nothing was written to `out`
/// and no state changed.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum IceError {
    /// Not a well-formed STUN message, or an attribute runs past its end (peer or noise).
    #[error("malformed STUN message")]
    Malformed,
    /// A STUN message other than a Binding request (peer).
    #[error("not a binding request")]
    NotBindingRequest,
    /// USERNAME missing or not `local-ufrag:remote-ufrag` (peer or a stale session).
    #[error("unknown username")]
    UnknownUsername,
    /// MESSAGE-INTEGRITY missing (peer).
    #[error("missing message integrity")]
    MissingIntegrity,
    /// MESSAGE-INTEGRITY does not match the local password (peer or attacker).
    #[error("bad message integrity")]
    BadIntegrity,
    /// FINGERPRINT present but wrong (corruption or not STUN).
    #[error("bad fingerprint")]
    BadFingerprint,
    /// Consent expired earlier (RFC 7675 section 5.1): the credentials may not be used again
    /// on this session; the peer must restart ICE.
    #[error("consent expired")]
    ConsentExpired,
    /// The response did not fit in the output buffer (caller misuse).
    #[error("response does not fit the output buffer")]
    Encode,
    /// Credentials that break the RFC 8839 grammar (caller misuse).
    #[error("invalid ICE credentials")]
    InvalidCredentials,
}

/// What [`IceAgent::handle_binding_request`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindingReply {
    /// Length of the response written at the start of `out`.
    pub len: usize,
    /// Whether the request carried USE-CANDIDATE and nominated its source address.
    pub nominated: bool,
    /// `None` for a success response; 420 or 487 for an authenticated error response.
    pub error_code: Option<u16>,
}

/// An authenticated Binding request, reduced to what the answer depends on.
struct CheckedRequest {
    transaction_id: TransactionId,
    use_candidate: bool,
    peer_controlled: bool,
    unknown: Vec<u16>,
}

/// One participant's ICE-lite state: credentials, validated addresses, nomination, consent.
pub struct IceAgent {
    local_ufrag: String,
    expected_username: Vec<u8>,
    verify_key: hmac::Key,
    response_key: Option<HMACKey>,
    consent_timeout: Duration,
    last_consent: Instant,
    validated: Vec<(SocketAddr, Instant)>,
    nominated: Option<SocketAddr>,
    latest_validated: Option<SocketAddr>,
}

impl IceAgent {
    /// Creates the state for one participant whose offer carried `remote_ufrag`; consent
    /// starts at `now`, so a peer that never checks expires after `consent_timeout`
    /// (RFC 7675 suggests 30 s; clamped to at most a day).
    pub fn new(
        local: IceCredentials,
        remote_ufrag: String,
        consent_timeout: Duration,
        now: Instant,
    ) -> Self {
        let expected_username = format!("{}:{}", local.ufrag, remote_ufrag).into_bytes();
        let verify_key =
            hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, local.pwd().as_bytes());
        IceAgent {
            expected_username,
            verify_key,
            response_key: HMACKey::new_short_term(local.pwd()).ok(),
            local_ufrag: local.ufrag,
            consent_timeout: consent_timeout.min(MAX_CONSENT_TIMEOUT),
            last_consent: now,
            validated: Vec::with_capacity(MAX_VALIDATED),
            nominated: None,
            latest_validated: None,
        }
    }

    /// Takes new credentials for an ICE restart (RFC 8445 section 2.4): from now on checks
    /// must carry `local.ufrag:remote_ufrag` and the new password's integrity; the old ones
    /// are refused. Validated addresses and the nomination stay, so media keeps its path
    /// until the new checks choose one, and DTLS and SRTP are untouched.
    pub fn restart(&mut self, local: IceCredentials, remote_ufrag: &str) {
        self.expected_username = format!("{}:{}", local.ufrag, remote_ufrag).into_bytes();
        self.verify_key =
            hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, local.pwd().as_bytes());
        self.response_key = HMACKey::new_short_term(local.pwd()).ok();
        self.local_ufrag = local.ufrag;
    }

    /// Verifies a Binding request and writes the answer into `out`.
    ///
    /// The request must be a Binding request whose USERNAME is `local:remote`, whose
    /// MESSAGE-INTEGRITY matches the local password, and whose FINGERPRINT (when present) is
    /// right. The success response repeats the transaction id and carries XOR-MAPPED-ADDRESS
    /// = `from`, MESSAGE-INTEGRITY and FINGERPRINT. An authenticated request with unknown
    /// comprehension-required attributes gets 420 (RFC 8489 section 6.3.1); one from a peer
    /// that also claims the controlled role gets 487 (RFC 8445 section 7.3.1.1: a lite agent
    /// cannot switch to controlling). Anything that fails authentication is an error with no
    /// response and no state change.
    pub fn handle_binding_request(
        &mut self,
        buf: &[u8],
        from: SocketAddr,
        now: Instant,
        out: &mut [u8],
    ) -> Result<BindingReply, IceError> {
        let request = self.authenticate(buf, now).inspect_err(|e| {
            trace!(target: "ice", error = %e, "binding request dropped");
        })?;

        if !request.unknown.is_empty() {
            let attr = UnknownAttributes::from(request.unknown.as_slice());
            return self.write_error(&request, 420, "Unknown Attribute", Some(attr), out);
        }
        if request.peer_controlled {
            trace!(target: "ice", "role conflict: peer is controlled too");
            return self.write_error(&request, 487, "Role Conflict", None, out);
        }

        let response = self
            .response(request.transaction_id, MessageClass::SuccessResponse)?
            .with_attribute(XorMappedAddress::from(from));
        let len = self.encode(response, out)?;
        self.record_success(from, request.use_candidate, now);

        Ok(BindingReply {
            len,
            nominated: request.use_candidate,
            error_code: None,
        })
    }

    /// The address media goes to: the nominated one, or the latest validated one when the peer
    /// has not nominated (some clients never send USE-CANDIDATE).
    pub fn selected(&self) -> Option<SocketAddr> {
        self.nominated.or(self.latest_validated)
    }

    /// Every address that has passed a connectivity check and is still remembered.
    pub fn validated_addresses(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.validated.iter().map(|(addr, _)| *addr)
    }

    /// Whether `from` has passed a connectivity check.
    pub fn is_valid_source(&self, from: SocketAddr) -> bool {
        self.validated.iter().any(|(addr, _)| *addr == from)
    }

    /// Counts authenticated SRTP or SRTCP from the peer as consent (RFC 7675 section 5.1).
    /// Consent that has already expired is not revived.
    pub fn on_authenticated_traffic(&mut self, now: Instant) {
        if !self.is_expired(now) && now > self.last_consent {
            self.last_consent = now;
        }
    }

    /// Whether nothing authenticated arrived for the consent timeout.
    pub fn is_expired(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last_consent) >= self.consent_timeout
    }

    /// When consent expires unless more authenticated traffic arrives.
    pub fn poll_timeout(&self) -> Instant {
        self.last_consent
            .checked_add(self.consent_timeout)
            .unwrap_or(self.last_consent)
    }

    /// The local username fragment this agent answers for.
    pub fn local_ufrag(&self) -> &str {
        &self.local_ufrag
    }

    /// Runs every check that must pass before the request may change anything.
    fn authenticate(&self, buf: &[u8], now: Instant) -> Result<CheckedRequest, IceError> {
        if !is_stun(buf) {
            return Err(IceError::Malformed);
        }
        if wire::message_type(buf) != Some(wire::BINDING_REQUEST) {
            return Err(IceError::NotBindingRequest);
        }
        if self.is_expired(now) {
            return Err(IceError::ConsentExpired);
        }

        wire::verify_fingerprint(buf)?;
        self.check_username(buf)?;
        wire::verify_integrity(buf, &self.verify_key)?;

        decode_request(buf)
    }

    /// RFC 8445 section 7.3: USERNAME must be the local ufrag, a colon, the remote ufrag.
    fn check_username(&self, buf: &[u8]) -> Result<(), IceError> {
        let username = wire::authenticated_attributes(buf)
            .map_while(Result::ok)
            .find(|attr| attr.kind == wire::ATTR_USERNAME)
            .ok_or(IceError::UnknownUsername)?;

        if username.value == self.expected_username.as_slice() {
            Ok(())
        } else {
            Err(IceError::UnknownUsername)
        }
    }

    /// A response of `class` to `transaction_id`; integrity and fingerprint are added last.
    fn response(
        &self,
        transaction_id: TransactionId,
        class: MessageClass,
    ) -> Result<StunMessageBuilder, IceError> {
        if self.response_key.is_none() {
            return Err(IceError::InvalidCredentials);
        }

        Ok(StunMessageBuilder::new(BINDING, class).with_transaction_id(transaction_id))
    }

    /// Writes an authenticated error response; the check failed, so nothing changes.
    fn write_error(
        &self,
        request: &CheckedRequest,
        code: u16,
        reason: &str,
        unknown: Option<UnknownAttributes>,
        out: &mut [u8],
    ) -> Result<BindingReply, IceError> {
        let error_code = stun_rs::ErrorCode::new(code, reason).map_err(|_| IceError::Encode)?;
        let mut response = self
            .response(request.transaction_id, MessageClass::ErrorResponse)?
            .with_attribute(ErrorCode::new(error_code));
        if let Some(unknown) = unknown {
            response = response.with_attribute(unknown);
        }
        let len = self.encode(response, out)?;

        Ok(BindingReply {
            len,
            nominated: false,
            error_code: Some(code),
        })
    }

    /// Appends MESSAGE-INTEGRITY and FINGERPRINT and encodes the response into `out`.
    fn encode(&self, response: StunMessageBuilder, out: &mut [u8]) -> Result<usize, IceError> {
        let key = self
            .response_key
            .clone()
            .ok_or(IceError::InvalidCredentials)?;
        let message = response
            .with_attribute(MessageIntegrity::new(key))
            .with_attribute(Fingerprint::default())
            .build();

        MessageEncoderBuilder::default()
            .build()
            .encode(out, &message)
            .map_err(|_| IceError::Encode)
    }

    /// A check succeeded: refresh consent, remember the address, follow the nomination.
    fn record_success(&mut self, from: SocketAddr, nominated: bool, now: Instant) {
        self.on_authenticated_traffic(now);
        if nominated {
            self.nominated = Some(from);
        }
        self.latest_validated = Some(from);

        if let Some(entry) = self.validated.iter_mut().find(|(addr, _)| *addr == from) {
            entry.1 = now;
            return;
        }
        if self.validated.len() >= MAX_VALIDATED {
            self.forget_oldest();
        }
        self.validated.push((from, now));
    }

    /// Forgets the least recently checked address other than the nominated one.
    fn forget_oldest(&mut self) {
        let nominated = self.nominated;
        let oldest = self
            .validated
            .iter()
            .enumerate()
            .filter(|(_, (addr, _))| Some(*addr) != nominated)
            .min_by_key(|(_, (_, seen))| *seen)
            .map(|(index, _)| index);
        if let Some(index) = oldest {
            self.validated.swap_remove(index);
        }
    }
}

impl fmt::Debug for IceAgent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IceAgent")
            .field("local_ufrag", &self.local_ufrag)
            .field("validated", &self.validated.len())
            .field("nominated", &self.nominated.is_some())
            .field("consent_timeout", &self.consent_timeout)
            .finish_non_exhaustive()
    }
}

/// Decodes an authenticated request with stun-rs and keeps what the answer depends on.
fn decode_request(buf: &[u8]) -> Result<CheckedRequest, IceError> {
    let (message, _) = MessageDecoderBuilder::default()
        .build()
        .decode(buf)
        .map_err(|_| IceError::Malformed)?;

    Ok(CheckedRequest {
        transaction_id: *message.transaction_id(),
        use_candidate: has::<UseCandidate>(&message),
        peer_controlled: has::<IceControlled>(&message),
        unknown: unknown_required(buf),
    })
}

/// Whether the decoded message carries an attribute of type `A`.
fn has<A: stun_rs::StunAttributeType>(message: &StunMessage) -> bool {
    message.get::<A>().is_some()
}

/// The comprehension-required attribute types before MESSAGE-INTEGRITY that we do not
/// understand (RFC 8489 section 6.3.1).
fn unknown_required(buf: &[u8]) -> Vec<u16> {
    wire::authenticated_attributes(buf)
        .map_while(Result::ok)
        .map(|attr| attr.kind)
        .filter(|kind| *kind < 0x8000 && !UNDERSTOOD.contains(kind))
        .collect()
}
