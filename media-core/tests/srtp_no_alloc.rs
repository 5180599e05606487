//! Proves that the SRTP packet path makes no heap allocation: a counting global allocator
//! wraps the system one, and after the sessions are set up, protecting and unprotecting RTP
//! and RTCP many times, across a sequence-number wrap, for all three profiles, counts nothing.
//!
//! Only allocations by the measuring thread count, so the test harness's own threads cannot
//! disturb the result. Allocations inside aws-lc's C code go to `malloc` directly and are not
//! seen here.

#![allow(clippy::unwrap_used)]

mod alloc_counter;

use alloc_counter::{allocations_during, CountingAllocator};
use media_core::srtp::{MasterKey, SrtpProfile, SrtpSession};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const SSRCS: [u32; 4] = [0x1111_1111, 0x2222_2222, 0x3333_3333, 0x4444_4444];

/// Writes a plain RTP packet with a one-word header extension into `buf`; returns its length.
fn write_rtp(buf: &mut [u8], ssrc: u32, seq: u16, payload_len: usize) -> usize {
    buf[..4].copy_from_slice(&[0x90, 96, (seq >> 8) as u8, seq as u8]);
    buf[4..8].copy_from_slice(&u32::from(seq).wrapping_mul(3000).to_be_bytes());
    buf[8..12].copy_from_slice(&ssrc.to_be_bytes());
    buf[12..20].copy_from_slice(&[0xbe, 0xde, 0, 1, 0x10, seq as u8, 0, 0]);
    for (n, byte) in buf[20..20 + payload_len].iter_mut().enumerate() {
        *byte = n as u8 ^ seq as u8;
    }
    20 + payload_len
}

/// Writes a plain RTCP sender report with `body_words` words after the header.
fn write_rtcp(buf: &mut [u8], ssrc: u32, body_words: u16) -> usize {
    buf[..4].copy_from_slice(&[0x80, 200, (body_words >> 8) as u8, body_words as u8 + 1]);
    buf[4..8].copy_from_slice(&ssrc.to_be_bytes());
    let len = 8 + 4 * usize::from(body_words);
    for (n, byte) in buf[8..len].iter_mut().enumerate() {
        *byte = n as u8;
    }
    len
}

/// One RTP and one RTCP round trip per source, checking the plain packets come back.
fn round_trip(
    sender: &mut SrtpSession,
    receiver: &mut SrtpSession,
    plain: &mut [u8],
    wire: &mut [u8],
    seq: u16,
) {
    for (n, ssrc) in SSRCS.into_iter().enumerate() {
        let payload_len = (usize::from(seq) * 7 + n * 131) % 1200;
        let len = write_rtp(plain, ssrc, seq, payload_len);
        wire[..len].copy_from_slice(&plain[..len]);
        let protected = sender.protect_rtp(wire, len).unwrap();
        assert_eq!(receiver.unprotect_rtp(&mut wire[..protected]).unwrap(), len);
        assert!(wire[..len] == plain[..len]);

        let len = write_rtcp(plain, ssrc, 6 + seq % 40);
        wire[..len].copy_from_slice(&plain[..len]);
        let protected = sender.protect_rtcp(wire, len).unwrap();
        assert_eq!(
            receiver.unprotect_rtcp(&mut wire[..protected]).unwrap(),
            len
        );
        assert!(wire[..len] == plain[..len]);
    }
}

#[test]
fn protect_and_unprotect_make_no_allocation_per_packet() {
    let profiles = [
        SrtpProfile::Aes128CmSha1_80,
        SrtpProfile::AeadAes128Gcm,
        SrtpProfile::AeadAes256Gcm,
    ];
    for profile in profiles {
        let key = vec![0x42; profile.master_key_len()];
        let salt = vec![0x24; profile.master_salt_len()];
        let master = MasterKey::new(profile, &key, &salt).unwrap();
        let mut sender = SrtpSession::new(profile, &master).unwrap();
        let mut receiver = SrtpSession::new(profile, &master).unwrap();
        let mut plain = vec![0; 1500];
        let mut wire = vec![0; 1500];
        let first_seq = 65_000u16;
        round_trip(&mut sender, &mut receiver, &mut plain, &mut wire, first_seq);

        let allocations = allocations_during(|| {
            for step in 1..2000u16 {
                let seq = first_seq.wrapping_add(step);
                round_trip(&mut sender, &mut receiver, &mut plain, &mut wire, seq);
            }
        });

        assert_eq!(
            allocations, 0,
            "{profile:?}: allocations on the packet path"
        );
    }
}

/// The counter itself works, so a zero above means something.
#[test]
fn the_counting_allocator_sees_allocations() {
    let allocations = allocations_during(|| {
        let boxed = std::hint::black_box(Box::new([0u8; 64]));
        drop(boxed);
    });

    assert_eq!(allocations, 1);
}
