//! STUN framing read in place, without allocating (RFC 8489 sections 5, 14 and 14.5).
//!
//! The demultiplexer calls [`is_stun`] and [`peek_local_ufrag`] for every datagram that reaches
//! a shared port, so they only borrow the buffer. The integrity check runs before any
//! attribute is decoded, so unauthenticated bytes never reach the full decoder.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |0 0|     STUN Message Type     |         Message Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         Magic Cookie                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Transaction ID (96 bits)                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Type                  |            Length             |  attributes, each
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  padded to 4 bytes
//! ```

use aws_lc_rs::{constant_time, hmac};

use super::IceError;

/// Size of the STUN header.
pub(crate) const HEADER_LEN: usize = 20;
/// Size of an attribute's type and length fields.
const ATTR_HEADER_LEN: usize = 4;
/// RFC 8489 section 5: the fixed second word of every STUN message.
const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
/// Message type of a Binding request (method 0x001, class request).
pub(crate) const BINDING_REQUEST: u16 = 0x0001;

/// USERNAME (RFC 8489 section 14.3).
pub(crate) const ATTR_USERNAME: u16 = 0x0006;
/// MESSAGE-INTEGRITY (RFC 8489 section 14.5).
pub(crate) const ATTR_MESSAGE_INTEGRITY: u16 = 0x0008;
/// MESSAGE-INTEGRITY-SHA256 (RFC 8489 section 14.6).
pub(crate) const ATTR_MESSAGE_INTEGRITY_SHA256: u16 = 0x001C;
/// PRIORITY (RFC 8445 section 16.1).
pub(crate) const ATTR_PRIORITY: u16 = 0x0024;
/// USE-CANDIDATE (RFC 8445 section 16.1).
pub(crate) const ATTR_USE_CANDIDATE: u16 = 0x0025;
/// FINGERPRINT (RFC 8489 section 14.7).
pub(crate) const ATTR_FINGERPRINT: u16 = 0x8028;

/// Length of an HMAC-SHA1 MESSAGE-INTEGRITY value.
const INTEGRITY_LEN: usize = 20;

/// Whether `buf` is a STUN message: RFC 7983 section 7 puts STUN at first bytes 0..=3, and
/// RFC 8489 section 5 adds the magic cookie and a length that is a multiple of 4 and covers
/// exactly the rest of the datagram.
pub fn is_stun(buf: &[u8]) -> bool {
    let Some(header) = buf.first_chunk::<HEADER_LEN>() else {
        return false;
    };
    let body_len = usize::from(u16::from_be_bytes([header[2], header[3]]));

    header[0] <= 3
        && header[4..8] == MAGIC_COOKIE
        && body_len % 4 == 0
        && HEADER_LEN + body_len == buf.len()
}

/// The message type of a buffer that passed [`is_stun`].
pub(crate) fn message_type(buf: &[u8]) -> Option<u16> {
    let first = buf.first_chunk::<2>()?;

    Some(u16::from_be_bytes(*first))
}

/// The local ufrag named by a binding request's USERNAME ("local:remote"), without verifying
/// it; for demultiplexing a shared port by ICE username. Never panics, allocates nothing.
pub fn peek_local_ufrag(buf: &[u8]) -> Option<&[u8]> {
    if !is_stun(buf) || message_type(buf)? != BINDING_REQUEST {
        return None;
    }
    let username = authenticated_attributes(buf)
        .map_while(Result::ok)
        .find(|attr| attr.kind == ATTR_USERNAME)?
        .value;
    let colon = username.iter().position(|&b| b == b':')?;
    let local = username.get(..colon)?;

    (!local.is_empty()).then_some(local)
}

/// One attribute as it sits in the message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawAttribute<'a> {
    /// The attribute type.
    pub kind: u16,
    /// The value, without padding.
    pub value: &'a [u8],
    /// Offset of the attribute's type field from the start of the message.
    pub offset: usize,
}

/// Iterates over a message's attributes in order; yields an error and stops when an attribute
/// runs past the end of the message.
pub(crate) struct Attributes<'a> {
    message: &'a [u8],
    offset: usize,
    failed: bool,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Result<RawAttribute<'a>, IceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.offset >= self.message.len() {
            return None;
        }
        let attr = read_attribute(self.message, self.offset);
        match attr {
            Some((attr, next)) => {
                self.offset = next;
                Some(Ok(attr))
            }
            None => {
                self.failed = true;
                Some(Err(IceError::Malformed))
            }
        }
    }
}

/// Reads the attribute at `offset`, returning it and the offset of the next one.
fn read_attribute(message: &[u8], offset: usize) -> Option<(RawAttribute<'_>, usize)> {
    let header = message.get(offset..)?.first_chunk::<ATTR_HEADER_LEN>()?;
    let kind = u16::from_be_bytes([header[0], header[1]]);
    let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
    let start = offset + ATTR_HEADER_LEN;
    let value = message.get(start..start + len)?;
    let next = start + len.next_multiple_of(4);
    if next > message.len() {
        return None;
    }

    Some((
        RawAttribute {
            kind,
            value,
            offset,
        },
        next,
    ))
}

/// All attributes of a message that passed [`is_stun`].
pub(crate) fn attributes(message: &[u8]) -> Attributes<'_> {
    Attributes {
        message,
        offset: HEADER_LEN,
        failed: false,
    }
}

/// The attributes up to and including MESSAGE-INTEGRITY: RFC 8489 section 14.5 has the
/// receiver ignore everything after it except the integrity and fingerprint attributes.
pub(crate) fn authenticated_attributes(
    message: &[u8],
) -> impl Iterator<Item = Result<RawAttribute<'_>, IceError>> {
    let mut done = false;
    attributes(message).take_while(move |attr| {
        let keep = !done;
        if let Ok(attr) = attr {
            done |= attr.kind == ATTR_MESSAGE_INTEGRITY;
        }
        keep
    })
}

/// Finds the first attribute of `kind`, failing when the attribute list is malformed.
pub(crate) fn find_attribute(
    message: &[u8],
    kind: u16,
) -> Result<Option<RawAttribute<'_>>, IceError> {
    for attr in attributes(message) {
        let attr = attr?;
        if attr.kind == kind {
            return Ok(Some(attr));
        }
    }

    Ok(None)
}

/// Checks MESSAGE-INTEGRITY (RFC 8489 section 14.5): HMAC-SHA1 keyed with the short-term
/// password over the message up to that attribute, with the header length rewritten to end
/// just after it. The tag is compared in constant time.
pub(crate) fn verify_integrity(message: &[u8], key: &hmac::Key) -> Result<(), IceError> {
    let attr =
        find_attribute(message, ATTR_MESSAGE_INTEGRITY)?.ok_or(IceError::MissingIntegrity)?;
    if attr.value.len() != INTEGRITY_LEN {
        return Err(IceError::Malformed);
    }
    let covered_len = attr.offset + ATTR_HEADER_LEN + INTEGRITY_LEN - HEADER_LEN;
    let covered_len = u16::try_from(covered_len).map_err(|_| IceError::Malformed)?;
    let message_type = message.get(..2).ok_or(IceError::Malformed)?;
    let rest = message.get(4..attr.offset).ok_or(IceError::Malformed)?;

    let mut context = hmac::Context::with_key(key);
    context.update(message_type);
    context.update(&covered_len.to_be_bytes());
    context.update(rest);
    let tag = context.sign();

    constant_time::verify_slices_are_equal(tag.as_ref(), attr.value)
        .map_err(|_| IceError::BadIntegrity)
}

/// Checks FINGERPRINT when present (RFC 8489 section 14.7): it must be the last attribute and
/// hold the CRC-32 of the message before it, XORed with 0x5354554e. Returns whether it was
/// present.
pub(crate) fn verify_fingerprint(message: &[u8]) -> Result<bool, IceError> {
    use stun_rs::attributes::stun::Fingerprint;

    let Some(attr) = find_attribute(message, ATTR_FINGERPRINT)? else {
        return Ok(false);
    };
    let value: &[u8; 4] = attr.value.try_into().map_err(|_| IceError::Malformed)?;
    if attr.offset + ATTR_HEADER_LEN + value.len() != message.len() {
        return Err(IceError::Malformed);
    }
    let input = stun_rs::get_input_text::<Fingerprint>(message).ok_or(IceError::Malformed)?;

    if Fingerprint::from(value).validate(&input) {
        Ok(true)
    } else {
        Err(IceError::BadFingerprint)
    }
}
