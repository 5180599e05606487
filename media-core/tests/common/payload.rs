//! Self-describing media payloads, so that a receiver can prove that the bytes a sender
//! put in an RTP packet arrived unchanged through the forwarder.
//!
//! A payload is a codec prefix followed by a stamp. The prefix makes the payload look like
//! the start of a frame of its codec (VP8 payload descriptor and frame tag per RFC 7741,
//! VP9 descriptor per RFC 9628, H.264 NAL units per RFC 6184, AV1 aggregation header), so
//! that keyframe detection sees keyframes where the sender meant them. The payloads are
//! not decodable media: a real decoder rejects them.
//!
//! Stamp layout (all integers big-endian), also checked by `tests/interop/aiortc_peer.py`:
//!
//! ```text
//! "SLTP" | codec id u8 | flags u8 (bit 0: keyframe) | index u32 | body length u16
//!        | body (xorshift32 bytes seeded by the index) | FNV-1a 32 of everything before
//! ```

use media_core::ids::{Codec, MediaKind};

/// The four bytes that open every stamp.
pub const MAGIC: [u8; 4] = *b"SLTP";

const HEADER_LEN: usize = 12;
const CHECKSUM_LEN: usize = 4;

/// What a stamped payload says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The codec whose prefix the payload carries.
    pub codec: Codec,
    /// The sender's running frame index for this stream.
    pub index: u32,
    /// Whether the prefix marks the frame as a keyframe (always false for audio).
    pub keyframe: bool,
}

impl Stamp {
    /// The media kind of the stamped payload.
    pub fn kind(&self) -> MediaKind {
        self.codec.kind()
    }
}

/// Builds the payload of frame `index` of a `codec` stream; `keyframe` is ignored for audio.
///
/// Payload sizes vary with the index between 76 and 900 bytes, all below a 1200-byte MTU.
pub fn payload_for(codec: Codec, index: u32, keyframe: bool) -> Vec<u8> {
    let keyframe = keyframe && codec.kind() == MediaKind::Video;
    let stamp = stamp_bytes(codec, index, keyframe);
    let mut payload = codec_prefix(codec, keyframe, stamp.len());
    if codec == Codec::H264 && keyframe {
        // The stamp is the body of the IDR NAL unit that closes the STAP-A.
        payload.extend_from_slice(&(stamp.len() as u16 + 1).to_be_bytes());
        payload.push(0x65);
    }
    payload.extend_from_slice(&stamp);
    payload
}

/// Checks a received payload: finds its stamp and returns it when the whole payload is
/// byte for byte what [`payload_for`] builds for that stamp, `None` otherwise.
pub fn check_payload(payload: &[u8]) -> Option<Stamp> {
    let at = payload.windows(MAGIC.len()).position(|w| w == MAGIC)?;
    let stamp = read_stamp(&payload[at..])?;
    (payload_for(stamp.codec, stamp.index, stamp.keyframe) == payload).then_some(stamp)
}

fn codec_id(codec: Codec) -> u8 {
    match codec {
        Codec::Opus => 1,
        Codec::Vp8 => 2,
        Codec::Vp9 => 3,
        Codec::H264 => 4,
        Codec::Av1 => 5,
    }
}

fn codec_from_id(id: u8) -> Option<Codec> {
    [Codec::Opus, Codec::Vp8, Codec::Vp9, Codec::H264, Codec::Av1]
        .into_iter()
        .find(|c| codec_id(*c) == id)
}

fn body_len(index: u32) -> usize {
    64 + (index as usize).wrapping_mul(131) % 800
}

fn body(index: u32, len: usize) -> impl Iterator<Item = u8> {
    let mut state = index.wrapping_mul(0x9E37_79B9) | 1;
    (0..len).map(move |_| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state as u8
    })
}

fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811C_9DC5, |hash, b| {
        (hash ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

fn stamp_bytes(codec: Codec, index: u32, keyframe: bool) -> Vec<u8> {
    let len = body_len(index);
    let mut out = Vec::with_capacity(HEADER_LEN + len + CHECKSUM_LEN);
    out.extend_from_slice(&MAGIC);
    out.push(codec_id(codec));
    out.push(u8::from(keyframe));
    out.extend_from_slice(&index.to_be_bytes());
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend(body(index, len));
    let checksum = fnv1a32(&out);
    out.extend_from_slice(&checksum.to_be_bytes());
    out
}

fn read_stamp(bytes: &[u8]) -> Option<Stamp> {
    let header = bytes.get(..HEADER_LEN)?;
    let codec = codec_from_id(header[4])?;
    let keyframe = header[5] & 1 == 1;
    let index = u32::from_be_bytes([header[6], header[7], header[8], header[9]]);
    let len = usize::from(u16::from_be_bytes([header[10], header[11]]));
    let end = HEADER_LEN + len;
    let checksum = bytes.get(end..end + CHECKSUM_LEN)?;
    if bytes.len() != end + CHECKSUM_LEN || checksum != fnv1a32(&bytes[..end]).to_be_bytes() {
        return None;
    }
    Some(Stamp {
        codec,
        index,
        keyframe,
    })
}

/// The bytes before the stamp: enough of the codec's payload format for keyframe detection.
fn codec_prefix(codec: Codec, keyframe: bool, stamp_len: usize) -> Vec<u8> {
    match codec {
        Codec::Opus => Vec::new(),
        Codec::Vp8 => vp8_prefix(keyframe, stamp_len),
        // RFC 9628 section 4.2: B and E set (one packet per frame), P clear on a keyframe.
        Codec::Vp9 => vec![0x0C | if keyframe { 0 } else { 0x40 }],
        Codec::H264 if keyframe => h264_keyframe_prefix(),
        // A non-IDR slice (NAL type 1, RFC 6184 section 5.6 single NAL unit packet).
        Codec::H264 => vec![0x41],
        // AV1 aggregation header W=1 (one OBU), N on keyframes; then an OBU_FRAME header.
        Codec::Av1 => vec![0x10 | if keyframe { 0x08 } else { 0 }, 0x30],
    }
}

/// RFC 7741 section 4.2 descriptor (S=1, partition 0) and the VP8 frame header (RFC 6386
/// section 9.1): a 3-byte frame tag whose bit 0 is clear on keyframes, then on keyframes
/// the start code and a 640x480 size.
fn vp8_prefix(keyframe: bool, stamp_len: usize) -> Vec<u8> {
    let first_partition = (stamp_len as u32) & 0x7_FFFF;
    let tag = u32::from(!keyframe) | (1 << 4) | (first_partition << 5);
    let mut out = vec![0x10, tag as u8, (tag >> 8) as u8, (tag >> 16) as u8];
    if keyframe {
        out.extend_from_slice(&[0x9D, 0x01, 0x2A, 0x80, 0x02, 0xE0, 0x01]);
    }
    out
}

/// RFC 6184 section 5.7.1 STAP-A carrying an SPS (constrained baseline, level 3.1) and a
/// PPS; [`payload_for`] appends the IDR slice that carries the stamp.
fn h264_keyframe_prefix() -> Vec<u8> {
    let sps: &[u8] = &[0x67, 0x42, 0xE0, 0x1F, 0x8D, 0x68, 0x05, 0x00, 0x5B, 0xA1];
    let pps: &[u8] = &[0x68, 0xCE, 0x3C, 0x80];
    let mut out = vec![0x78];
    for nal in [sps, pps] {
        out.extend_from_slice(&(nal.len() as u16).to_be_bytes());
        out.extend_from_slice(nal);
    }
    out
}
