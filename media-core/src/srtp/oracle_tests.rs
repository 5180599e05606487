//! Interoperability with an independent implementation, webrtc-rs `rtc-srtp`, as an oracle:
//! what we protect it unprotects and the other way round, for all three profiles, with random
//! payload sizes, CSRCs and header extensions, across a sequence-number wrap, and for SRTCP.
//! Both sides are keyed from the same DTLS exporter output, which also checks the key split.

#![allow(clippy::unwrap_used)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rtc_srtp::config::Config;
use rtc_srtp::context::Context;
use rtc_srtp::option::{srtcp_replay_protection, srtp_replay_protection};
use rtc_srtp::protection_profile::ProtectionProfile;

use super::*;

const PROFILES: [SrtpProfile; 3] = [
    SrtpProfile::Aes128CmSha1_80,
    SrtpProfile::AeadAes128Gcm,
    SrtpProfile::AeadAes256Gcm,
];

const SSRCS: [u32; 3] = [0x0102_0304, 0xcafe_f00d, 7];

/// Our two sessions (we are the DTLS server) and the oracle's two contexts (the client),
/// plus an oracle sender keyed like ours, whose output must match ours byte for byte.
struct Peers {
    our_out: SrtpSession,
    our_in: SrtpSession,
    their_out: Context,
    their_in: Context,
    mirror_out: Context,
}

fn oracle_profile(profile: SrtpProfile) -> ProtectionProfile {
    match profile {
        SrtpProfile::Aes128CmSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
        SrtpProfile::AeadAes128Gcm => ProtectionProfile::AeadAes128Gcm,
        SrtpProfile::AeadAes256Gcm => ProtectionProfile::AeadAes256Gcm,
    }
}

fn oracle_context(profile: SrtpProfile, key: &[u8], salt: &[u8]) -> Context {
    let provider = rtc_srtp::crypto::default_provider().unwrap();
    Context::new(
        key,
        salt,
        oracle_profile(profile),
        Some(srtp_replay_protection(64)),
        Some(srtcp_replay_protection(64)),
        provider.crypto(),
    )
    .unwrap()
}

fn peers(profile: SrtpProfile, rng: &mut StdRng) -> Peers {
    let mut material = vec![0; profile.keying_material_len()];
    rng.fill(&mut material[..]);
    let ours = SrtpKeys::from_keying_material(profile, &material, true).unwrap();
    let mut theirs = Config {
        profile: oracle_profile(profile),
        ..Default::default()
    };
    theirs
        .set_session_keys_from_keying_material(&material, true)
        .unwrap();
    let keys = &theirs.keys;

    Peers {
        our_out: SrtpSession::new(profile, &ours.local).unwrap(),
        our_in: SrtpSession::new(profile, &ours.remote).unwrap(),
        their_out: oracle_context(profile, &keys.local_master_key, &keys.local_master_salt),
        their_in: oracle_context(profile, &keys.remote_master_key, &keys.remote_master_salt),
        mirror_out: oracle_context(profile, &keys.remote_master_key, &keys.remote_master_salt),
    }
}

/// A random RTP packet: up to 3 CSRCs, sometimes a well-formed one-byte header extension
/// (RFC 8285), and 0 to 1200 bytes of payload.
fn random_rtp(rng: &mut StdRng, ssrc: u32, seq: u16) -> Vec<u8> {
    let csrcs: u8 = rng.random_range(0..=3);
    let extension = rng.random_bool(0.5);
    let mut packet = vec![
        0x80 | u8::from(extension) << 4 | csrcs,
        96 | u8::from(seq == 0) << 7,
    ];
    packet.extend_from_slice(&seq.to_be_bytes());
    packet.extend_from_slice(&rng.random::<u32>().to_be_bytes());
    packet.extend_from_slice(&ssrc.to_be_bytes());
    for _ in 0..csrcs {
        packet.extend_from_slice(&rng.random::<u32>().to_be_bytes());
    }
    if extension {
        let [a, b, c, d]: [u8; 4] = rng.random();
        // 0xBEDE, 2 words: id 2 with 3 bytes, id 1 with 1 byte, 2 bytes of padding.
        packet.extend_from_slice(&[0xbe, 0xde, 0, 2, 0x22, a, b, c, 0x10, d, 0, 0]);
    }
    let payload_len = rng.random_range(0..=1200);
    packet.extend((0..payload_len).map(|_| rng.random::<u8>()));
    packet
}

/// A random sender report: the 8-byte header, then up to 100 words of body.
fn random_rtcp(rng: &mut StdRng, ssrc: u32) -> Vec<u8> {
    let body_words: u16 = rng.random_range(5..=100);
    let mut packet = vec![0x80, 200];
    packet.extend_from_slice(&(body_words + 1).to_be_bytes());
    packet.extend_from_slice(&ssrc.to_be_bytes());
    packet.extend((0..body_words * 4).map(|_| rng.random::<u8>()));
    packet
}

fn protect_rtp(session: &mut SrtpSession, plain: &[u8]) -> Vec<u8> {
    let mut buf = plain.to_vec();
    buf.resize(plain.len() + session.profile().rtp_overhead(), 0);
    let len = session.protect_rtp(&mut buf, plain.len()).unwrap();
    buf.truncate(len);
    buf
}

fn unprotect_rtp(session: &mut SrtpSession, packet: &[u8]) -> Vec<u8> {
    let mut buf = packet.to_vec();
    let len = session.unprotect_rtp(&mut buf).unwrap();
    buf.truncate(len);
    buf
}

fn protect_rtcp(session: &mut SrtpSession, plain: &[u8]) -> Vec<u8> {
    let mut buf = plain.to_vec();
    buf.resize(plain.len() + session.profile().rtcp_overhead(), 0);
    let len = session.protect_rtcp(&mut buf, plain.len()).unwrap();
    buf.truncate(len);
    buf
}

fn unprotect_rtcp(session: &mut SrtpSession, packet: &[u8]) -> Vec<u8> {
    let mut buf = packet.to_vec();
    let len = session.unprotect_rtcp(&mut buf).unwrap();
    buf.truncate(len);
    buf
}

/// 3 sources, 400 packets each starting 150 before the wrap, so the ROC goes from 0 to 1.
#[test]
fn rtp_interoperates_with_rtc_srtp_across_the_wrap() {
    for (seed, profile) in PROFILES.into_iter().enumerate() {
        let mut rng = StdRng::seed_from_u64(seed as u64);
        let mut peers = peers(profile, &mut rng);
        let mut to_us = Vec::new();

        for step in 0..400u16 {
            let seq = 65_386u16.wrapping_add(step);
            for ssrc in SSRCS {
                let plain = random_rtp(&mut rng, ssrc, seq);
                let ours = protect_rtp(&mut peers.our_out, &plain);
                let decrypted = peers.their_in.decrypt_rtp(&ours).unwrap();
                assert_eq!(
                    decrypted[..],
                    plain[..],
                    "{profile:?} ssrc {ssrc} seq {seq}"
                );

                let mirrored = peers.mirror_out.encrypt_rtp(&plain).unwrap();
                assert_eq!(mirrored[..], ours[..], "{profile:?} ssrc {ssrc} seq {seq}");

                let theirs = peers.their_out.encrypt_rtp(&plain).unwrap();
                to_us.push((plain, theirs.to_vec()));
            }
        }

        // Deliver the oracle's packets to us with some neighbours swapped.
        for pair in to_us.chunks_mut(7) {
            pair.swap(0, pair.len() - 1);
        }
        for (plain, protected) in &to_us {
            assert_eq!(
                unprotect_rtp(&mut peers.our_in, protected),
                *plain,
                "{profile:?}"
            );
        }
    }
}

/// SRTCP both ways: 150 random sender reports on each of 3 sources.
#[test]
fn rtcp_interoperates_with_rtc_srtp() {
    for (seed, profile) in PROFILES.into_iter().enumerate() {
        let mut rng = StdRng::seed_from_u64(100 + seed as u64);
        let mut peers = peers(profile, &mut rng);

        for _ in 0..150 {
            for ssrc in SSRCS {
                let plain = random_rtcp(&mut rng, ssrc);

                let ours = protect_rtcp(&mut peers.our_out, &plain);
                let decrypted = peers.their_in.decrypt_rtcp(&ours).unwrap();
                assert_eq!(decrypted[..], plain[..], "{profile:?} ssrc {ssrc}");

                let theirs = peers.their_out.encrypt_rtcp(&plain).unwrap();
                assert_eq!(
                    unprotect_rtcp(&mut peers.our_in, &theirs),
                    plain,
                    "{profile:?}"
                );
            }
        }
    }
}
