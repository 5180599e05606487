//! Deterministic tests of the session's per-source state through the public API: replay,
//! reordering, rollover, tampering, truncation and the SSRC cap, for all three profiles.

#![allow(clippy::unwrap_used)]

use super::*;

const PROFILES: [SrtpProfile; 3] = [
    SrtpProfile::Aes128CmSha1_80,
    SrtpProfile::AeadAes128Gcm,
    SrtpProfile::AeadAes256Gcm,
];

const SSRC: u32 = 0x1122_3344;

fn master(profile: SrtpProfile, fill: u8) -> MasterKey {
    let key = vec![fill; profile.master_key_len()];
    let salt = vec![fill ^ 0x5a; profile.master_salt_len()];
    MasterKey::new(profile, &key, &salt).unwrap()
}

/// A sender and a receiver keyed alike.
fn pair(profile: SrtpProfile) -> (SrtpSession, SrtpSession) {
    let key = master(profile, 7);
    (
        SrtpSession::new(profile, &key).unwrap(),
        SrtpSession::new(profile, &key).unwrap(),
    )
}

/// A plain RTP packet: fixed header, PT 96, then `payload_len` bytes of payload.
fn rtp(ssrc: u32, seq: u16, payload_len: usize) -> Vec<u8> {
    let mut packet = vec![0x80, 96];
    packet.extend_from_slice(&seq.to_be_bytes());
    packet.extend_from_slice(&u32::from(seq).wrapping_mul(90).to_be_bytes());
    packet.extend_from_slice(&ssrc.to_be_bytes());
    packet.extend((0..payload_len).map(|n| (n as u8) ^ (seq as u8)));
    packet
}

/// A sender report with no report blocks, padded with `extra_words` words.
fn rtcp(ssrc: u32, extra_words: u16) -> Vec<u8> {
    let words = 6 + extra_words;
    let mut packet = vec![0x80, 200];
    packet.extend_from_slice(&words.to_be_bytes());
    packet.extend_from_slice(&ssrc.to_be_bytes());
    packet.extend((0..usize::from(words) * 4 - 4).map(|n| n as u8));
    packet
}

fn protect_rtp(session: &mut SrtpSession, plain: &[u8]) -> Vec<u8> {
    let mut buf = plain.to_vec();
    buf.resize(plain.len() + session.profile().rtp_overhead(), 0);
    let len = session.protect_rtp(&mut buf, plain.len()).unwrap();
    buf.truncate(len);
    buf
}

fn unprotect_rtp(session: &mut SrtpSession, packet: &[u8]) -> Result<Vec<u8>, SrtpError> {
    let mut buf = packet.to_vec();
    let len = session.unprotect_rtp(&mut buf)?;
    buf.truncate(len);
    Ok(buf)
}

fn protect_rtcp(session: &mut SrtpSession, plain: &[u8]) -> Vec<u8> {
    let mut buf = plain.to_vec();
    buf.resize(plain.len() + session.profile().rtcp_overhead(), 0);
    let len = session.protect_rtcp(&mut buf, plain.len()).unwrap();
    buf.truncate(len);
    buf
}

fn unprotect_rtcp(session: &mut SrtpSession, packet: &[u8]) -> Result<Vec<u8>, SrtpError> {
    let mut buf = packet.to_vec();
    let len = session.unprotect_rtcp(&mut buf)?;
    buf.truncate(len);
    Ok(buf)
}

#[test]
fn round_trip_keeps_the_header_clear_and_encrypts_the_payload() {
    for profile in PROFILES {
        let (mut sender, mut receiver) = pair(profile);
        let mut plain = rtp(SSRC, 1000, 40);
        plain[0] = 0x92; // X=1, CC=2
        plain.splice(
            12..12,
            [0, 0, 0, 1, 0, 0, 0, 2, 0xbe, 0xde, 0, 1, 0x10, 0xaa, 0, 0],
        );

        let protected = protect_rtp(&mut sender, &plain);

        assert_eq!(protected.len(), plain.len() + profile.rtp_overhead());
        assert_eq!(protected[..28], plain[..28], "{profile:?}");
        assert_ne!(protected[28..plain.len()], plain[28..], "{profile:?}");
        assert_eq!(unprotect_rtp(&mut receiver, &protected), Ok(plain));
    }
}

#[test]
fn replayed_rtp_packet_is_rejected() {
    for profile in PROFILES {
        let (mut sender, mut receiver) = pair(profile);
        let protected = protect_rtp(&mut sender, &rtp(SSRC, 5, 20));

        assert!(unprotect_rtp(&mut receiver, &protected).is_ok());
        assert_eq!(
            unprotect_rtp(&mut receiver, &protected),
            Err(SrtpError::Replayed)
        );
    }
}

#[test]
fn rtp_packet_behind_the_replay_window_is_too_old() {
    for profile in PROFILES {
        let (mut sender, mut receiver) = pair(profile);
        let packets: Vec<_> = (0..=200)
            .map(|seq| protect_rtp(&mut sender, &rtp(SSRC, seq, 8)))
            .collect();

        assert!(unprotect_rtp(&mut receiver, &packets[200]).is_ok());
        let oldest_kept = 200 - REPLAY_WINDOW as usize + 1;
        assert_eq!(
            unprotect_rtp(&mut receiver, &packets[oldest_kept - 1]),
            Err(SrtpError::TooOld)
        );
        assert!(unprotect_rtp(&mut receiver, &packets[oldest_kept]).is_ok());
    }
}

#[test]
fn rtp_reordered_within_the_window_is_accepted() {
    for profile in PROFILES {
        let (mut sender, mut receiver) = pair(profile);
        let packets: Vec<_> = (0..20)
            .map(|seq| protect_rtp(&mut sender, &rtp(SSRC, seq, 8)))
            .collect();

        for seq in [10, 12, 11, 3, 19, 4] {
            let plain = unprotect_rtp(&mut receiver, &packets[seq]).unwrap();
            assert_eq!(plain, rtp(SSRC, seq as u16, 8), "{profile:?} seq {seq}");
        }
    }
}

#[test]
fn rtp_tampered_anywhere_fails_authentication_and_changes_no_state() {
    for profile in PROFILES {
        let (mut sender, mut receiver) = pair(profile);
        let protected = protect_rtp(&mut sender, &rtp(SSRC, 300, 30));

        for at in [1, 3, 11, 12, protected.len() - 1] {
            let mut tampered = protected.clone();
            tampered[at] ^= 0x01;
            let result = unprotect_rtp(&mut receiver, &tampered);
            assert_eq!(
                result,
                Err(SrtpError::AuthenticationFailed),
                "{profile:?} byte {at}"
            );
        }

        assert_eq!(receiver.source_count(), 0);
        assert_eq!(
            unprotect_rtp(&mut receiver, &protected),
            Ok(rtp(SSRC, 300, 30))
        );
    }
}

/// A forged packet far ahead must not slide the window (or the ROC) past genuine packets.
#[test]
fn forged_packet_far_ahead_does_not_move_the_window() {
    for profile in PROFILES {
        let (mut sender, mut receiver) = pair(profile);
        let packets: Vec<_> = (10..12)
            .map(|seq| protect_rtp(&mut sender, &rtp(SSRC, seq, 8)))
            .collect();
        assert!(unprotect_rtp(&mut receiver, &packets[0]).is_ok());

        let mut forged = protect_rtp(&mut pair(profile).0, &rtp(SSRC, 0x7000, 8));
        let last = forged.len() - 1;
        forged[last] ^= 0x80;
        assert_eq!(
            unprotect_rtp(&mut receiver, &forged),
            Err(SrtpError::AuthenticationFailed)
        );

        assert_eq!(
            unprotect_rtp(&mut receiver, &packets[1]),
            Ok(rtp(SSRC, 11, 8))
        );
    }
}

#[test]
fn packets_under_another_key_fail_authentication() {
    for profile in PROFILES {
        let mut sender = SrtpSession::new(profile, &master(profile, 1)).unwrap();
        let mut receiver = SrtpSession::new(profile, &master(profile, 2)).unwrap();

        let protected = protect_rtp(&mut sender, &rtp(SSRC, 1, 16));
        let protected_rtcp = protect_rtcp(&mut sender, &rtcp(SSRC, 1));

        assert_eq!(
            unprotect_rtp(&mut receiver, &protected),
            Err(SrtpError::AuthenticationFailed)
        );
        assert_eq!(
            unprotect_rtcp(&mut receiver, &protected_rtcp),
            Err(SrtpError::AuthenticationFailed)
        );
    }
}

#[test]
fn truncated_packets_are_malformed() {
    for profile in PROFILES {
        let (mut sender, mut receiver) = pair(profile);
        let protected = protect_rtp(&mut sender, &rtp(SSRC, 1, 0));
        let protected_rtcp = protect_rtcp(&mut sender, &rtcp(SSRC, 0));

        for len in 0..protected.len() {
            let result = unprotect_rtp(&mut receiver, &protected[..len]);
            assert_eq!(
                result,
                Err(SrtpError::Malformed),
                "{profile:?} RTP len {len}"
            );
        }
        for len in 0..8 + profile.rtcp_overhead() {
            let result = unprotect_rtcp(&mut receiver, &protected_rtcp[..len]);
            assert_eq!(
                result,
                Err(SrtpError::Malformed),
                "{profile:?} RTCP len {len}"
            );
        }
        assert_eq!(receiver.source_count(), 0);
    }
}

#[test]
fn header_lengths_past_the_packet_are_malformed() {
    for profile in PROFILES {
        let (mut sender, mut receiver) = pair(profile);
        let mut protected = protect_rtp(&mut sender, &rtp(SSRC, 1, 4));

        protected[0] |= 0x0f; // 15 CSRCs, 60 bytes, past the end.
        assert_eq!(
            unprotect_rtp(&mut receiver, &protected),
            Err(SrtpError::Malformed)
        );

        let mut bad_plain = rtp(SSRC, 2, 4);
        bad_plain[0] |= 0x10; // an extension header that is not there
        let mut buf = bad_plain.clone();
        buf.resize(bad_plain.len() + profile.rtp_overhead(), 0);
        assert_eq!(
            sender.protect_rtp(&mut buf, bad_plain.len()),
            Err(SrtpError::Malformed)
        );
    }
}

#[test]
fn protect_needs_room_for_the_tag() {
    for profile in PROFILES {
        let (mut sender, _) = pair(profile);
        let plain = rtp(SSRC, 1, 10);
        let mut buf = plain.clone();
        buf.resize(plain.len() + profile.rtp_overhead() - 1, 0);

        assert_eq!(
            sender.protect_rtp(&mut buf, plain.len()),
            Err(SrtpError::BufferTooSmall)
        );
        let past_end = buf.len() + 1;
        assert_eq!(
            sender.protect_rtp(&mut buf, past_end),
            Err(SrtpError::BufferTooSmall)
        );
        let plain = rtcp(SSRC, 0);
        let mut buf = plain.clone();
        buf.resize(plain.len() + profile.rtcp_overhead() - 1, 0);
        assert_eq!(
            sender.protect_rtcp(&mut buf, plain.len()),
            Err(SrtpError::BufferTooSmall)
        );
        assert_eq!(sender.source_count(), 0);
    }
}

#[test]
fn sources_beyond_the_cap_are_refused() {
    for profile in PROFILES {
        let (mut sender, mut receiver) = pair(profile);
        let cap = MAX_SOURCES as u32;

        for ssrc in 0..cap {
            let protected = protect_rtp(&mut sender, &rtp(ssrc, 1, 4));
            assert!(unprotect_rtp(&mut receiver, &protected).is_ok());
        }
        let extra = protect_rtp(&mut pair(profile).0, &rtp(cap, 1, 4));
        let mut buf = rtp(cap, 1, 4);
        let len = buf.len();
        buf.resize(len + profile.rtp_overhead(), 0);

        assert_eq!(
            unprotect_rtp(&mut receiver, &extra),
            Err(SrtpError::TooManySources)
        );
        assert_eq!(
            sender.protect_rtp(&mut buf, len),
            Err(SrtpError::TooManySources)
        );
        assert_eq!(receiver.source_count(), MAX_SOURCES);
        let known = protect_rtp(&mut sender, &rtp(3, 2, 4));
        assert!(unprotect_rtp(&mut receiver, &known).is_ok());
    }
}

/// A new SSRC takes a slot only once its packet authenticated.
#[test]
fn forged_packet_from_a_new_source_takes_no_slot() {
    for profile in PROFILES {
        let (mut sender, mut receiver) = pair(profile);
        let mut forged = protect_rtp(&mut sender, &rtp(0xdead, 1, 4));
        forged[14] ^= 1;
        let mut forged_rtcp = protect_rtcp(&mut sender, &rtcp(0xbeef, 0));
        forged_rtcp[9] ^= 1;

        assert_eq!(
            unprotect_rtp(&mut receiver, &forged),
            Err(SrtpError::AuthenticationFailed)
        );
        assert_eq!(
            unprotect_rtcp(&mut receiver, &forged_rtcp),
            Err(SrtpError::AuthenticationFailed)
        );
        assert_eq!(receiver.source_count(), 0);
    }
}

/// RFC 3711 section 3.3.1: the ROC increments when the sequence number wraps, on both sides,
/// and a retransmission of a number from before the wrap keeps its old ROC.
#[test]
fn rollover_across_the_wrap_and_retransmission_from_before_it() {
    for profile in PROFILES {
        let (mut sender, mut receiver) = pair(profile);
        let sent: Vec<u16> = vec![65533, 65535, 0, 1, 2];

        for seq in sent {
            let protected = protect_rtp(&mut sender, &rtp(SSRC, seq, 12));
            assert_eq!(
                unprotect_rtp(&mut receiver, &protected),
                Ok(rtp(SSRC, seq, 12))
            );
        }
        let retransmitted = protect_rtp(&mut sender, &rtp(SSRC, 65534, 12));
        assert_eq!(
            unprotect_rtp(&mut receiver, &retransmitted),
            Ok(rtp(SSRC, 65534, 12))
        );
        let after = protect_rtp(&mut sender, &rtp(SSRC, 3, 12));
        assert_eq!(unprotect_rtp(&mut receiver, &after), Ok(rtp(SSRC, 3, 12)));
    }
}

/// A receiver that missed the wrap cannot decrypt with ROC 0 what was sent with ROC 1.
#[test]
fn rollover_counter_is_part_of_the_authenticated_index() {
    for profile in PROFILES {
        let (mut sender, _) = pair(profile);
        for seq in [65000, 65535, 0] {
            protect_rtp(&mut sender, &rtp(SSRC, seq, 4));
        }
        let with_roc_1 = protect_rtp(&mut sender, &rtp(SSRC, 1, 4));

        let mut fresh_receiver = pair(profile).1;
        let result = unprotect_rtp(&mut fresh_receiver, &with_roc_1);

        assert_eq!(result, Err(SrtpError::AuthenticationFailed), "{profile:?}");
    }
}

#[test]
fn srtcp_round_trip_counts_the_index_up_from_zero_with_e_set() {
    for profile in PROFILES {
        let (mut sender, mut receiver) = pair(profile);

        for expected_index in 0..3u32 {
            let plain = rtcp(SSRC, expected_index as u16);
            let protected = protect_rtcp(&mut sender, &plain);
            let word_at = match profile {
                SrtpProfile::Aes128CmSha1_80 => plain.len(),
                SrtpProfile::AeadAes128Gcm | SrtpProfile::AeadAes256Gcm => protected.len() - 4,
            };
            let word = u32::from_be_bytes(protected[word_at..word_at + 4].try_into().unwrap());

            assert_eq!(word, 0x8000_0000 | expected_index, "{profile:?}");
            assert_ne!(protected[8..plain.len()], plain[8..]);
            assert_eq!(unprotect_rtcp(&mut receiver, &protected), Ok(plain));
        }
    }
}

#[test]
fn srtcp_replayed_too_old_and_unencrypted_are_rejected() {
    for profile in PROFILES {
        let (mut sender, mut receiver) = pair(profile);
        let packets: Vec<_> = (0..=REPLAY_WINDOW)
            .map(|_| protect_rtcp(&mut sender, &rtcp(SSRC, 0)))
            .collect();
        let newest = packets.len() - 1;

        assert!(unprotect_rtcp(&mut receiver, &packets[newest]).is_ok());
        assert_eq!(
            unprotect_rtcp(&mut receiver, &packets[newest]),
            Err(SrtpError::Replayed)
        );
        assert_eq!(
            unprotect_rtcp(&mut receiver, &packets[0]),
            Err(SrtpError::TooOld)
        );
        assert!(unprotect_rtcp(&mut receiver, &packets[1]).is_ok());

        let mut unencrypted = packets[5].clone();
        let word_at = match profile {
            SrtpProfile::Aes128CmSha1_80 => unencrypted.len() - 14,
            SrtpProfile::AeadAes128Gcm | SrtpProfile::AeadAes256Gcm => unencrypted.len() - 4,
        };
        unencrypted[word_at] &= 0x7f;
        assert_eq!(
            unprotect_rtcp(&mut receiver, &unencrypted),
            Err(SrtpError::Unsupported)
        );
    }
}

#[test]
fn forged_srtcp_far_ahead_does_not_move_the_window() {
    for profile in PROFILES {
        let (mut sender, mut receiver) = pair(profile);
        let genuine: Vec<_> = (0..2)
            .map(|_| protect_rtcp(&mut sender, &rtcp(SSRC, 0)))
            .collect();
        assert!(unprotect_rtcp(&mut receiver, &genuine[0]).is_ok());

        let mut forged = genuine[1].clone();
        let word_at = match profile {
            SrtpProfile::Aes128CmSha1_80 => forged.len() - 14,
            SrtpProfile::AeadAes128Gcm | SrtpProfile::AeadAes256Gcm => forged.len() - 4,
        };
        forged[word_at + 1] = 0x40;
        assert_eq!(
            unprotect_rtcp(&mut receiver, &forged),
            Err(SrtpError::AuthenticationFailed)
        );

        assert!(unprotect_rtcp(&mut receiver, &genuine[1]).is_ok());
    }
}

#[test]
fn session_refuses_a_key_of_another_profile() {
    for profile in PROFILES {
        for other in PROFILES.into_iter().filter(|other| *other != profile) {
            let key = master(other, 1);

            let session = SrtpSession::new(profile, &key);

            assert_eq!(session.err(), Some(SrtpError::InvalidKey), "{profile:?}");
        }
    }
}

/// The two GCM profiles share the packet layout but not the key: what one protects the
/// other cannot open, even from master keys that agree in their first 16 bytes.
#[test]
fn aes_128_and_aes_256_gcm_sessions_do_not_interoperate() {
    let salt = [0x5a; 12];
    let key_128 = MasterKey::new(SrtpProfile::AeadAes128Gcm, &[7; 16], &salt).unwrap();
    let key_256 = MasterKey::new(SrtpProfile::AeadAes256Gcm, &[7; 32], &salt).unwrap();
    let mut sender = SrtpSession::new(SrtpProfile::AeadAes256Gcm, &key_256).unwrap();
    let mut receiver = SrtpSession::new(SrtpProfile::AeadAes128Gcm, &key_128).unwrap();

    let protected = protect_rtp(&mut sender, &rtp(SSRC, 1, 16));

    assert_eq!(protected.len(), rtp(SSRC, 1, 16).len() + 16);
    assert_eq!(
        unprotect_rtp(&mut receiver, &protected),
        Err(SrtpError::AuthenticationFailed)
    );
}

#[test]
fn peer_faults_and_caller_faults_are_told_apart() {
    assert!(SrtpError::AuthenticationFailed.is_peer_fault());
    assert!(SrtpError::Replayed.is_peer_fault());
    assert!(!SrtpError::BufferTooSmall.is_peer_fault());
    assert!(!SrtpError::IndexExhausted.is_peer_fault());
}

/// A worker may build sessions on one thread and hand them to another.
#[test]
fn sessions_can_move_between_threads() {
    fn assert_send<T: Send>() {}

    assert_send::<SrtpSession>();
    assert_send::<SrtpKeys>();
}
