//! Keyframe detection from the first bytes of an RTP payload, per codec: VP8 (RFC 7741),
//! VP9 (RFC 9628), H.264 (RFC 6184) and AV1 (AOMedia "RTP Payload Format for AV1").
//!
//! The forwarder uses it to switch a subscriber to a new source or layer only where the
//! decoder can start. Only the payload descriptor and the codec's first header bytes are
//! read; nothing is decoded, and no input can make these functions panic.

use super::wire::Reader;
use crate::ids::Codec;

/// Whether `payload` (the RTP payload, padding removed) starts a keyframe.
///
/// Always false for Opus, whose every packet is decodable on its own.
pub fn is_keyframe(codec: Codec, payload: &[u8]) -> bool {
    let found = match codec {
        Codec::Opus => None,
        Codec::Vp8 => vp8(payload),
        Codec::Vp9 => vp9(payload),
        Codec::H264 => h264(payload),
        Codec::Av1 => av1(payload),
    };

    found.unwrap_or(false)
}

/// VP8: the payload descriptor (RFC 7741 section 4.2), then on the start of partition 0
/// the frame tag's P bit (RFC 7741 section 4.3), clear on a keyframe.
///
/// ```text
///      +-+-+-+-+-+-+-+-+
///      |X|R|N|S|R| PID |
///      +-+-+-+-+-+-+-+-+
/// X:   |I|L|T|K| RSV   |
/// I:   |M| PictureID   |  (a second byte when M is set)
/// L:   |   TL0PICIDX   |
/// T/K: |TID|Y| KEYIDX  |
///      +-+-+-+-+-+-+-+-+
///      |Size0|H| VER |P|  (first byte of the VP8 payload header)
/// ```
fn vp8(payload: &[u8]) -> Option<bool> {
    let mut r = Reader::new(payload);
    let desc = r.u8()?;
    let start_of_partition_0 = desc & 0x10 != 0 && desc & 0x07 == 0;
    if !start_of_partition_0 {
        return Some(false);
    }
    if desc & 0x80 != 0 {
        let ext = r.u8()?;
        if ext & 0x80 != 0 && r.u8()? & 0x80 != 0 {
            r.u8()?;
        }
        if ext & 0x40 != 0 {
            r.u8()?;
        }
        if ext & 0x30 != 0 {
            r.u8()?;
        }
    }

    Some(r.u8()? & 0x01 == 0)
}

/// VP9: the payload descriptor (RFC 9628 section 4.2); a keyframe starts where a frame
/// begins (B) that is not inter-picture predicted (P clear), on spatial layer 0 when
/// layer indices are present.
///
/// ```text
///      +-+-+-+-+-+-+-+-+
///      |I|P|L|F|B|E|V|Z|
/// I:   |M| PICTURE ID  |  (a second byte when M is set)
/// L:   | TID |U| SID |D|
/// ```
fn vp9(payload: &[u8]) -> Option<bool> {
    let mut r = Reader::new(payload);
    let desc = r.u8()?;
    let inter_predicted = desc & 0x40 != 0;
    let begins_frame = desc & 0x08 != 0;
    if inter_predicted || !begins_frame {
        return Some(false);
    }
    if desc & 0x80 != 0 && r.u8()? & 0x80 != 0 {
        r.u8()?;
    }
    if desc & 0x20 != 0 {
        let spatial_id = (r.u8()? >> 1) & 0x07;
        return Some(spatial_id == 0);
    }

    Some(true)
}

const H264_IDR: u8 = 5;
const H264_SPS: u8 = 7;
const H264_STAP_A: u8 = 24;
const H264_FU_A: u8 = 28;

fn h264_starts_keyframe(nal_type: u8) -> bool {
    nal_type == H264_IDR || nal_type == H264_SPS
}

/// H.264 (RFC 6184 section 5.2): a single NAL unit, a STAP-A holding one, or the start
/// fragment of an FU-A, of type IDR (5) or SPS (7).
///
/// ```text
/// NAL unit header and FU indicator: |F|NRI|  Type   |
/// FU header:                        |S|E|R|  Type   |
/// STAP-A: header, then repeated (16-bit NALU size, NAL unit)
/// ```
fn h264(payload: &[u8]) -> Option<bool> {
    let mut r = Reader::new(payload);
    let nal_type = r.u8()? & 0x1F;
    match nal_type {
        1..=23 => Some(h264_starts_keyframe(nal_type)),
        H264_STAP_A => {
            while !r.rest().is_empty() {
                let size = usize::from(r.u16()?);
                let nal = r.take(size)?;
                if nal.first().is_some_and(|b| h264_starts_keyframe(b & 0x1F)) {
                    return Some(true);
                }
            }
            Some(false)
        }
        H264_FU_A => {
            let fu = r.u8()?;
            Some(fu & 0x80 != 0 && h264_starts_keyframe(fu & 0x1F))
        }
        _ => Some(false),
    }
}

/// AV1: the aggregation header's N bit marks the first packet of a new coded video
/// sequence, which starts with a keyframe (AV1 RTP specification section 4.4).
///
/// ```text
/// |Z|Y| W |N|-|-|-|
/// ```
fn av1(payload: &[u8]) -> Option<bool> {
    Some(payload.first()? & 0x08 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vp8_keyframe_and_delta() {
        let key = [
            0x90, // X=1, S=1, PID=0
            0x80, // I=1
            0x81, 0x23, // M=1, 15-bit picture id 0x0123
            0x50, // frame tag: size0=2, show_frame=1, version=0, P=0 (keyframe)
            0x03, 0x00, 0x9D, 0x01, 0x2A, // rest of tag, keyframe start code
        ];
        assert!(is_keyframe(Codec::Vp8, &key));

        let mut delta = key;
        delta[4] = 0x51; // P=1: interframe
        assert!(!is_keyframe(Codec::Vp8, &delta));

        let mut middle = key;
        middle[0] = 0x80; // S=0: continuation of a partition
        assert!(!is_keyframe(Codec::Vp8, &middle));

        let short = [
            0x10, // X=0, S=1, PID=0
            0x00, // frame tag with P=0
        ];
        assert!(is_keyframe(Codec::Vp8, &short));
        assert!(!is_keyframe(Codec::Vp8, &short[..1]));
    }

    #[test]
    fn vp8_descriptor_with_every_optional_byte() {
        let key = [
            0x90, // X=1, S=1, PID=0
            0xF0, // I=1, L=1, T=1, K=1
            0x05, // M=0, 7-bit picture id 5
            0x11, // TL0PICIDX
            0x40, // TID=1, Y=0, KEYIDX=0
            0x10, // frame tag, P=0
        ];
        assert!(is_keyframe(Codec::Vp8, &key));
    }

    #[test]
    fn vp9_keyframe_and_delta() {
        let key = [
            0xAC, // I=1, P=0, L=1, F=0, B=1, E=1
            0x80, 0x01, // M=1, picture id 1
            0x00, // TID=0, U=0, SID=0, D=0
            0x00, // TL0PICIDX
        ];
        assert!(is_keyframe(Codec::Vp9, &key));

        let mut delta = key;
        delta[0] |= 0x40; // P=1
        assert!(!is_keyframe(Codec::Vp9, &delta));

        let mut upper_layer = key;
        upper_layer[3] = 0x03; // SID=1, D=1
        assert!(!is_keyframe(Codec::Vp9, &upper_layer));

        let mut not_start = key;
        not_start[0] &= !0x08; // B=0
        assert!(!is_keyframe(Codec::Vp9, &not_start));

        assert!(is_keyframe(Codec::Vp9, &[0x08])); // B=1 only
    }

    #[test]
    fn h264_single_stap_a_and_fu_a() {
        assert!(is_keyframe(Codec::H264, &[0x65, 0x88])); // NRI=3, type 5 IDR
        assert!(is_keyframe(Codec::H264, &[0x67, 0x42])); // type 7 SPS
        assert!(!is_keyframe(Codec::H264, &[0x41, 0x9A])); // type 1 non-IDR slice

        let stap_a = [
            0x78, // NRI=3, type 24 STAP-A
            0x00, 0x02, // NALU 1 size
            0x67, 0x42, // SPS
            0x00, 0x02, // NALU 2 size
            0x68, 0xCE, // PPS
        ];
        assert!(is_keyframe(Codec::H264, &stap_a));
        let stap_a_delta = [
            0x78, // STAP-A
            0x00, 0x01, // NALU 1 size
            0x06, // SEI
            0x00, 0x02, // NALU 2 size
            0x41, 0x9A, // non-IDR slice
        ];
        assert!(!is_keyframe(Codec::H264, &stap_a_delta));
        assert!(!is_keyframe(Codec::H264, &[0x78, 0x00, 0x09, 0x65])); // size past the end

        assert!(is_keyframe(Codec::H264, &[0x7C, 0x85, 0x88])); // FU-A, S=1, type 5
        assert!(!is_keyframe(Codec::H264, &[0x7C, 0x05, 0x88])); // FU-A, S=0, type 5
        assert!(!is_keyframe(Codec::H264, &[0x7C, 0x81, 0x9A])); // FU-A, S=1, type 1
    }

    #[test]
    fn av1_new_coded_video_sequence() {
        assert!(is_keyframe(Codec::Av1, &[0x18, 0x0A])); // W=1, N=1
        assert!(!is_keyframe(Codec::Av1, &[0x10, 0x32])); // W=1, N=0
    }

    #[test]
    fn opus_and_empty_payloads_are_never_keyframes() {
        assert!(!is_keyframe(Codec::Opus, &[0xFF; 8]));
        for codec in [Codec::Opus, Codec::Vp8, Codec::Vp9, Codec::H264, Codec::Av1] {
            assert!(!is_keyframe(codec, &[]));
        }
    }
}
