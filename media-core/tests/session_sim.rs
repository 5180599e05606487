//! The session core on virtual time with simulated clients and a seeded network: clean
//! forwarding, loss repaired by NACKs on either leg, reordering and duplication, sequence
//! and rollover-counter wraps, replay, gates, a source switch, consent expiry, and input
//! that must create no state.
//!
//! The clients share no ICE, DTLS or SDP code with the session (see `sim/client.rs`); only
//! the SRTP primitives and the RTCP reader are the crate's own, used from the client side.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod sim;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use media_core::ids::{MediaKind, Mid, PersonId};
use media_core::session::{ParticipantOptions, SessionConfig, SessionEvent};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use sim::client::{payload, payload_id, Received, Retransmit, AUDIO, VIDEO};
use sim::net::Link;
use sim::Sim;

const MS: Duration = Duration::from_millis(1);

/// A publisher and a subscriber, both connected on clean links.
fn pair(seed: u64) -> (Sim, usize, usize) {
    let mut sim = Sim::new(seed);
    let publisher = sim.join("publisher", true);
    let subscriber = sim.join("subscriber", false);
    (sim, publisher, subscriber)
}

/// What the subscriber received on its slot `mid`, RTX unwrapped, in arrival order.
fn received(sim: &Sim, subscriber: usize, mid: &str) -> Vec<Received> {
    let (ssrc, _) = sim.clients[subscriber].slot(mid);
    sim.clients[subscriber].received_on(ssrc).cloned().collect()
}

/// How many times each payload count arrived; checks every payload against its count and
/// that sequence number minus count is the same for every packet (retransmissions too).
fn check_counts(packets: &[Received], tag: u8) -> HashMap<u32, usize> {
    let mut counts = HashMap::new();
    let mut offset = None;
    for packet in packets {
        let (got_tag, count) = payload_id(&packet.payload);
        assert_eq!(got_tag, tag, "payload from the expected stream");
        assert_eq!(
            packet.payload,
            payload(tag, count),
            "payload {count} intact"
        );
        let this = packet.seq.wrapping_sub(count as u16);
        assert_eq!(
            *offset.get_or_insert(this),
            this,
            "packet {count} at its place"
        );
        *counts.entry(count).or_insert(0) += 1;
    }
    counts
}

/// Asserts every count in `0..total` arrived exactly once.
fn assert_each_once(counts: &HashMap<u32, usize>, total: u32) {
    let missing: Vec<u32> = (0..total).filter(|c| !counts.contains_key(c)).collect();
    assert!(missing.is_empty(), "never arrived: {missing:?}");
    let twice: Vec<u32> = (0..total).filter(|c| counts[c] > 1).collect();
    assert!(twice.is_empty(), "arrived more than once: {twice:?}");
    assert_eq!(counts.len(), total as usize);
}

fn assert_continuous(packets: &[Received]) {
    for pair in packets.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq.wrapping_add(1), "no sequence gap");
    }
}

#[test]
fn clean_network_forwards_identical_payloads_under_the_slot_ssrc() {
    let (mut sim, publisher, subscriber) = pair(1);

    for _ in 0..200 {
        sim.send_rtp(publisher, AUDIO);
        sim.send_rtp(publisher, VIDEO);
        sim.run_for(20 * MS);
    }
    sim.run_for(200 * MS);

    for (index, mid, pt, step) in [(AUDIO, "0", 111, 960), (VIDEO, "1", 96, 3000)] {
        let stream = &sim.clients[publisher].streams[index];
        let packets = received(&sim, subscriber, mid);
        assert_eq!(packets.len(), 200, "mid {mid}: every packet");
        for (n, packet) in packets.iter().enumerate() {
            assert_eq!(
                packet.payload,
                payload(stream.tag, n as u32),
                "byte-identical"
            );
            assert_ne!(packet.ssrc, stream.ssrc);
            assert_eq!(packet.pt, pt);
            assert!(!packet.rtx);
            assert_eq!(
                packet.mid.as_deref(),
                Some(mid.as_bytes()),
                "subscriber's MID"
            );
        }
        assert_continuous(&packets);
        for pair in packets.windows(2) {
            assert_eq!(pair[1].ts.wrapping_sub(pair[0].ts), step, "timestamps kept");
        }
    }
    let client = &sim.clients[subscriber];
    assert_eq!(
        client.received.len(),
        400,
        "nothing but the two slots' packets"
    );
    assert_eq!(client.srtp_failures, 0);
    let stats = sim.stats_of(sim.participant(subscriber)).unwrap();
    assert!(stats.slots.iter().all(|s| s.packets == 200));
}

#[test]
fn uplink_loss_is_repaired_by_nacks_and_retransmissions() {
    for (seed, mode) in [(21, Retransmit::Plain), (22, Retransmit::Rtx)] {
        let mut sim = Sim::new(seed);
        let publisher = sim.add_client("publisher", true);
        sim.clients[publisher].retransmit = mode;
        sim.connect(publisher, ParticipantOptions::default());
        let subscriber = sim.join("subscriber", false);

        sim.clients[publisher].up = Link::lossy(0.05);
        sim.stream(publisher, VIDEO, 400, 10 * MS);
        // A clean tail, so that a loss at the very end is noticed too.
        sim.clients[publisher].up = Link::CLEAN;
        sim.stream(publisher, VIDEO, 20, 10 * MS);
        sim.run_for(1000 * MS);

        assert!(sim.net.lost >= 10, "{mode:?}: the uplink lost packets");
        let client = &sim.clients[publisher];
        let nacked = client.nacks_about(client.streams[VIDEO].ssrc);
        assert!(!nacked.is_empty(), "{mode:?}: the session sent NACKs");
        assert!(client.retransmissions > 0);
        let stats = sim.stats_of(sim.participant(publisher)).unwrap();
        let track = stats
            .tracks
            .iter()
            .find(|t| t.kind == Some(MediaKind::Video));
        assert!(track.unwrap().nacks_sent > 0);

        let tag = client.streams[VIDEO].tag;
        let packets = received(&sim, subscriber, "1");
        assert_each_once(&check_counts(&packets, tag), 420);
    }
}

#[test]
fn downlink_loss_is_repaired_from_the_retransmission_cache() {
    let mut sim = Sim::new(3);
    let publisher = sim.join("publisher", true);
    let subscriber = sim.add_client("subscriber", false);
    sim.clients[subscriber].nack_gaps = true;
    sim.connect(subscriber, ParticipantOptions::default());

    sim.clients[subscriber].down = Link::lossy(0.05);
    sim.stream(publisher, VIDEO, 400, 10 * MS);
    sim.clients[subscriber].down = Link::CLEAN;
    sim.stream(publisher, VIDEO, 20, 10 * MS);
    sim.run_for(1000 * MS);

    assert!(sim.net.lost >= 10, "the downlink lost packets");
    let client = &sim.clients[subscriber];
    assert!(client.nacks_sent > 0);
    let packets = received(&sim, subscriber, "1");
    let repaired = packets.iter().filter(|p| p.rtx).count();
    assert!(repaired >= 10, "retransmissions came as RTX: {repaired}");
    let tag = sim.clients[publisher].streams[VIDEO].tag;
    let counts = check_counts(&packets, tag);
    assert!((0..420).all(|c| counts.contains_key(&c)), "every packet");
    let stats = sim.stats_of(sim.participant(subscriber)).unwrap();
    let slot = stats
        .slots
        .iter()
        .find(|s| s.mid == Mid::new(b"1"))
        .unwrap();
    assert!(slot.nacks_received > 0);
    assert_eq!(slot.retransmitted as usize, repaired);
    assert_eq!(sim.clients[publisher].nacks_about(0), Vec::<u16>::new());
}

#[test]
fn uplink_reordering_and_duplication_forward_each_packet_once() {
    let (mut sim, publisher, subscriber) = pair(4);
    sim.stream(publisher, VIDEO, 10, 5 * MS);

    sim.clients[publisher].up = Link {
        duplicate: 0.2,
        jitter: Duration::from_millis(40),
        ..Link::CLEAN
    };
    sim.stream(publisher, VIDEO, 300, 5 * MS);
    sim.clients[publisher].up = Link::CLEAN;
    sim.stream(publisher, VIDEO, 10, 5 * MS);
    sim.run_for(500 * MS);

    assert!(sim.net.duplicated >= 30, "the uplink duplicated packets");
    let tag = sim.clients[publisher].streams[VIDEO].tag;
    let packets = received(&sim, subscriber, "1");
    assert_each_once(&check_counts(&packets, tag), 320);
    let order: Vec<u32> = packets.iter().map(|p| payload_id(&p.payload).1).collect();
    let reordered = order.windows(2).filter(|w| w[1] < w[0]).count();
    assert!(
        reordered >= 20,
        "reordered packets are forwarded: {reordered}"
    );
    let stats = sim.stats_of(sim.participant(publisher)).unwrap();
    let track = stats
        .tracks
        .iter()
        .find(|t| t.kind == Some(MediaKind::Video));
    assert_eq!(track.unwrap().packets, 320, "each packet counted once");
    assert!(stats.auth_failures > 0 && stats.auth_failures <= sim.net.duplicated);
}

#[test]
fn sequence_and_rollover_counter_wraps_are_carried_through() {
    const PACKETS: u32 = 70_000;
    let (mut sim, publisher, subscriber) = pair(5);
    sim.clients[publisher].streams[VIDEO].seq = 65_500;

    for n in 0..PACKETS {
        sim.send_rtp(publisher, VIDEO);
        if n % 10 == 9 {
            sim.run_for(MS);
        }
    }
    sim.run_for(100 * MS);

    let tag = sim.clients[publisher].streams[VIDEO].tag;
    let packets = received(&sim, subscriber, "1");
    assert_eq!(packets.len(), PACKETS as usize);
    assert_each_once(&check_counts(&packets, tag), PACKETS);
    assert_continuous(&packets);
    let wraps = packets.windows(2).filter(|w| w[1].seq < w[0].seq).count();
    assert!(wraps >= 1, "the subscriber's sequence wrapped");
    assert_eq!(sim.clients[subscriber].srtp_failures, 0);
    let stats = sim.stats_of(sim.participant(publisher)).unwrap();
    assert_eq!(
        stats.auth_failures, 0,
        "the publisher's rollover was followed"
    );
}

#[test]
fn replayed_srtp_is_dropped() {
    let (mut sim, publisher, subscriber) = pair(6);
    sim.stream(publisher, VIDEO, 10, 10 * MS);
    let (count, wire) = sim.send_rtp(publisher, VIDEO);
    sim.stream(publisher, VIDEO, 10, 10 * MS);
    sim.run_for(100 * MS);
    let id = sim.participant(publisher);
    let failures = sim.stats_of(id).unwrap().auth_failures;
    let before = sim.clients[subscriber].received.len();

    let addr = sim.clients[publisher].addr;
    assert_eq!(sim.inject(addr, &wire), 0, "a replay is not forwarded");
    sim.clients[publisher].push_raw(wire);
    sim.flush(publisher);
    sim.run_for(100 * MS);

    assert_eq!(sim.clients[subscriber].received.len(), before);
    let tag = sim.clients[publisher].streams[VIDEO].tag;
    let counts = check_counts(&received(&sim, subscriber, "1"), tag);
    assert_eq!(counts[&count], 1);
    assert_eq!(sim.stats_of(id).unwrap().auth_failures, failures + 2);
}

#[test]
fn closed_gate_forwards_nothing_and_reopening_asks_for_a_keyframe() {
    let mut sim = Sim::new(7);
    let publisher = sim.join("publisher", true);
    let subscriber = sim.add_client("subscriber", false);
    // The subscriber NACKs the gap the closed gate leaves: gated media must not leak
    // through retransmissions either.
    sim.clients[subscriber].nack_gaps = true;
    sim.connect(subscriber, ParticipantOptions::default());
    let both = |sim: &mut Sim, count: u32| {
        for _ in 0..count {
            sim.send_rtp(publisher, AUDIO);
            sim.send_rtp(publisher, VIDEO);
            sim.run_for(20 * MS);
        }
    };
    both(&mut sim, 20);
    let id = sim.participant(publisher);

    assert!(sim.session.set_gate(id, None, false));
    both(&mut sim, 50);
    let gated_len = sim.clients[subscriber].received.len();
    assert_eq!(gated_len, 40, "nothing while the gate is closed");
    let stats = sim.stats_of(id).unwrap();
    assert!(stats.tracks.iter().all(|t| t.gated == 50 && !t.gate_open));

    let reopened = sim.now;
    assert!(sim.session.set_gate(id, None, true));
    both(&mut sim, 20);
    sim.run_for(300 * MS);

    for (index, mid) in [(AUDIO, "0"), (VIDEO, "1")] {
        let tag = sim.clients[publisher].streams[index].tag;
        let counts = check_counts(&received(&sim, subscriber, mid), tag);
        let mut got: Vec<u32> = counts.keys().copied().collect();
        got.sort_unstable();
        let expected: Vec<u32> = (0..20).chain(70..90).collect();
        assert_eq!(got, expected, "mid {mid}: only what passed an open gate");
    }
    let video = sim.clients[publisher].streams[VIDEO].ssrc;
    let plis = sim.clients[publisher].plis_about(video);
    assert!(
        plis.iter()
            .any(|at| *at > reopened && *at <= reopened + 100 * MS),
        "a PLI soon after reopening: {:?}",
        plis.iter().map(|at| *at - sim.start).collect::<Vec<_>>()
    );
    let audio = sim.clients[publisher].streams[AUDIO].ssrc;
    assert!(
        sim.clients[publisher].plis_about(audio).is_empty(),
        "no PLI for audio"
    );
}

#[test]
fn reopening_one_tracks_gate_asks_for_a_keyframe() {
    let (mut sim, publisher, _subscriber) = pair(8);
    sim.stream(publisher, VIDEO, 30, 20 * MS);
    let track = sim
        .stats_of(sim.participant(publisher))
        .unwrap()
        .tracks
        .iter()
        .find(|t| t.kind == Some(MediaKind::Video))
        .and_then(|t| t.id)
        .unwrap();

    assert!(sim.session.set_track_gate(track, false));
    sim.stream(publisher, VIDEO, 30, 20 * MS);
    let reopened = sim.now;
    assert!(sim.session.set_track_gate(track, true));
    sim.stream(publisher, VIDEO, 10, 20 * MS);

    let video = sim.clients[publisher].streams[VIDEO].ssrc;
    let plis = sim.clients[publisher].plis_about(video);
    assert!(plis
        .iter()
        .any(|at| *at > reopened && *at <= reopened + 100 * MS));
}

#[test]
fn a_new_source_continues_the_subscribers_stream() {
    let mut sim = Sim::new(9);
    let first = sim.join("first publisher", true);
    let subscriber = sim.join("subscriber", false);
    for _ in 0..50 {
        sim.send_rtp(first, AUDIO);
        sim.send_rtp(first, VIDEO);
        sim.run_for(20 * MS);
    }
    sim.run_for(100 * MS);

    sim.remove(first);
    sim.run_for(500 * MS);
    let switched = sim.events.len();
    let second = sim.add_client("second publisher", true);
    let join = sim.connect(second, ParticipantOptions::default());
    for _ in 0..50 {
        sim.send_rtp(second, AUDIO);
        sim.send_rtp(second, VIDEO);
        sim.run_for(20 * MS);
    }
    sim.run_for(100 * MS);

    let sub_id = sim.participant(subscriber);
    for (index, mid, kind) in [
        (AUDIO, "0", MediaKind::Audio),
        (VIDEO, "1", MediaKind::Video),
    ] {
        let track = join.tracks.iter().find(|t| t.kind == kind).unwrap().id;
        let filled = SessionEvent::SlotFilled {
            participant: sub_id,
            mid: Mid::new(mid.as_bytes()).unwrap(),
            track,
        };
        assert!(
            sim.events[switched..].iter().any(|(_, e)| *e == filled),
            "mid {mid}: SlotFilled for the new source"
        );
        let packets = received(&sim, subscriber, mid);
        assert_eq!(packets.len(), 100);
        let tags = [first, second].map(|ci| sim.clients[ci].streams[index].tag);
        assert!(packets[..50].iter().all(|p| p.payload[0] == tags[0]));
        assert!(packets[50..].iter().all(|p| p.payload[0] == tags[1]));
        assert_continuous(&packets);
        let step = packets[50].ts.wrapping_sub(packets[49].ts);
        assert!(
            step > 0 && step < 1 << 31,
            "mid {mid}: timestamps move forward"
        );
    }
}

#[test]
fn nacks_from_before_a_source_switch_are_not_answered_with_the_new_source() {
    let mut sim = Sim::new(12);
    let first = sim.join("first publisher", true);
    let second = sim.join("second publisher", true);
    let subscriber = sim.add_client("subscriber", false);
    sim.clients[subscriber].nack_gaps = true;
    sim.connect(subscriber, ParticipantOptions::default());
    let both = |sim: &mut Sim, count: u32| {
        for _ in 0..count {
            sim.send_rtp(first, VIDEO);
            sim.send_rtp(second, VIDEO);
            sim.run_for(20 * MS);
        }
    };
    // The slot carries the first publisher; the second one's packets fill its own cache.
    both(&mut sim, 30);
    // The first publisher's last packets never reach the subscriber, then it leaves.
    sim.clients[subscriber].down = Link::lossy(1.0);
    both(&mut sim, 5);
    sim.clients[subscriber].down = Link::CLEAN;
    sim.remove(first);
    sim.stream(second, VIDEO, 30, 20 * MS);
    sim.run_for(300 * MS);

    assert!(
        sim.clients[subscriber].nacks_sent > 0,
        "the subscriber asked for the gap"
    );
    let packets = received(&sim, subscriber, "1");
    let tag = sim.clients[second].streams[VIDEO].tag;
    let second_source: Vec<&Received> = packets.iter().filter(|p| p.payload[0] == tag).collect();
    let first_live = second_source
        .iter()
        .filter(|p| !p.rtx)
        .map(|p| payload_id(&p.payload).1)
        .min()
        .unwrap();
    let older: Vec<u32> = second_source
        .iter()
        .map(|p| payload_id(&p.payload).1)
        .filter(|count| *count < first_live)
        .collect();
    assert!(
        older.is_empty(),
        "the new source's older packets filled the old gap: {older:?}"
    );
}

#[test]
fn a_silent_participant_is_dropped_when_consent_expires() {
    let timeout = SessionConfig::default().consent_timeout;
    let mut sim = Sim::new(10);
    let publisher = sim.join("publisher", true);
    let subscriber = sim.join("subscriber", false);
    sim.clients[subscriber].keepalive = false;
    sim.send_check(subscriber);
    let last_consent = sim.now + Link::CLEAN.delay;
    let id = sim.participant(subscriber);

    for _ in 0..((timeout.as_millis() / 100) - 2) {
        sim.send_rtp(publisher, VIDEO);
        sim.run_for(100 * MS);
    }
    sim.run_until(last_consent + timeout - MS);
    let dropped = |sim: &Sim| {
        sim.events.iter().find_map(|(at, e)| match e {
            SessionEvent::Disconnected { participant, .. } if *participant == id => Some(*at),
            _ => None,
        })
    };
    assert_eq!(
        dropped(&sim),
        None,
        "not dropped before the consent timeout"
    );
    assert!(sim.stats_of(id).is_some());

    sim.run_until(last_consent + timeout + 100 * MS);
    let at = dropped(&sim).expect("dropped after the consent timeout");
    assert!(at >= last_consent + timeout && at <= last_consent + timeout + MS);
    assert!(sim.stats_of(id).is_none());
    assert!(
        sim.is_connected(sim.participant(publisher)),
        "the publisher stays"
    );
    assert_eq!(sim.session.participant_count(), 1);
}

#[test]
fn unauthenticated_input_creates_no_state() {
    let (mut sim, publisher, subscriber) = pair(11);
    sim.stream(publisher, VIDEO, 20, 10 * MS);
    sim.run_for(100 * MS);
    let stats = sim.session.stats();
    let timeout = sim.session.poll_timeout();
    let events = sim.events.len();
    let unknown = |n: u32| {
        let ip = Ipv4Addr::new(203, 0, 113, (n % 250) as u8 + 1);
        SocketAddr::new(IpAddr::V4(ip), 1024 + (n % 60_000) as u16)
    };

    let mut rng = StdRng::seed_from_u64(11);
    for n in 0..4000u32 {
        let len = rng.random_range(0..=1500);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        if let Some(first) = bytes.first_mut() {
            // STUN, DTLS, RTP/RTCP, and anything.
            *first = match n % 4 {
                0 => *first % 4,
                1 => 20 + *first % 44,
                2 => 128 + *first % 64,
                _ => *first,
            };
        }
        assert_eq!(sim.inject(unknown(n), &bytes), 0, "random datagram {n}");
    }
    for (n, ci) in [subscriber, publisher].into_iter().enumerate() {
        let wrong = "wrong-password-of-24chars";
        let check = sim.clients[ci].binding_request(&mut rng, wrong, n == 0);
        assert_eq!(sim.inject(unknown(n as u32), &check), 0, "wrong password");
        let known = sim.clients[ci].addr;
        assert_eq!(
            sim.inject(known, &check),
            0,
            "wrong password, known address"
        );
    }
    let (_, media) = sim.clients[publisher].send_rtp(VIDEO);
    sim.clients[publisher].take_outbox();
    assert_eq!(
        sim.inject(unknown(7), &media),
        0,
        "SRTP from an unchecked address"
    );

    assert_eq!(sim.session.stats(), stats, "no counter moved");
    assert_eq!(sim.session.poll_timeout(), timeout, "no timer moved");
    assert_eq!(sim.events.len(), events, "no event");
    assert_eq!(sim.session.participant_count(), 2);
    assert_eq!(sim.stray_outputs, 0);
}

#[test]
fn an_empty_slot_is_reported_once_not_at_every_join() {
    let mut sim = Sim::new(12);
    let first = sim.join("early subscriber", false);
    sim.run_for(100 * MS);
    let first_id = sim.participant(first);
    let empties_of_first = |sim: &Sim| {
        sim.events
            .iter()
            .filter(|(_, e)| matches!(e, SessionEvent::SlotEmpty { participant, .. } if *participant == first_id))
            .count()
    };
    let reported = empties_of_first(&sim);
    assert_eq!(
        reported, 2,
        "one report for each of its two slots: {:?}",
        sim.events
    );

    // Other subscribers come and go; the first one's slots are still empty and not re-reported.
    for name in ["second subscriber", "third subscriber"] {
        let other = sim.join(name, false);
        sim.run_for(100 * MS);
        sim.remove(other);
        sim.run_for(100 * MS);
    }
    assert_eq!(empties_of_first(&sim), reported);

    // Filled, then emptied again when the publisher leaves: reported again, once per slot.
    let publisher = sim.join("publisher", true);
    sim.run_for(200 * MS);
    sim.remove(publisher);
    sim.run_for(200 * MS);
    assert_eq!(empties_of_first(&sim), reported + 2, "{:?}", sim.events);
}

#[test]
fn a_persons_own_tracks_never_fill_their_own_slots() {
    let mut sim = Sim::new(13);
    let me = Some(PersonId(7));
    let own_publisher = sim.add_client("my publisher", true);
    sim.connect(
        own_publisher,
        ParticipantOptions {
            person: me,
            ..ParticipantOptions::default()
        },
    );
    let own_viewer = sim.add_client("my viewer", false);
    sim.connect(
        own_viewer,
        ParticipantOptions {
            person: me,
            ..ParticipantOptions::default()
        },
    );
    for _ in 0..20 {
        sim.send_rtp(own_publisher, AUDIO);
        sim.run_for(20 * MS);
    }
    assert!(
        received(&sim, own_viewer, "0").is_empty(),
        "my own audio came back to me"
    );

    // Someone else's audio fills the slot at once.
    let other = sim.join("someone else", true);
    for _ in 0..20 {
        sim.send_rtp(other, AUDIO);
        sim.run_for(20 * MS);
    }
    sim.run_for(100 * MS);
    let packets = received(&sim, own_viewer, "0");
    assert_eq!(packets.len(), 20);
    let tag = sim.clients[other].streams[AUDIO].tag;
    assert!(packets.iter().all(|p| p.payload[0] == tag));
}
