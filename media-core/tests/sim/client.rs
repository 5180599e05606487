//! A simulated WebRTC client made of parts that are not the session: a dimpl DTLS client,
//! STUN checks built with stun-rs, SRTP keyed from the client's own DTLS export, RTP
//! written and read by hand, and an SDP offer written as text.
//!
//! A publisher sends Opus on mid 0 and VP8 on mid 1 and can answer NACKs with plain or RTX
//! retransmissions; a subscriber records what it receives and can NACK its gaps.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dimpl::{Config, Dtls, Output};
use media_core::fingerprint::{Fingerprint, HashAlgorithm};
use media_core::ids::{ExtSeq, ParticipantId, SeqNo, Ssrc};
use media_core::rtp::rtcp::{self as wire, RtcpPacket};
use media_core::srtp::{SrtpKeys, SrtpProfile, SrtpSession};
use rand::rngs::StdRng;
use rand::Rng;
use stun_rs::attributes::ice::{IceControlling, Priority, UseCandidate};
use stun_rs::attributes::stun::{Fingerprint as StunFingerprint, MessageIntegrity, UserName};
use stun_rs::methods::BINDING;
use stun_rs::{HMACKey, MessageClass, MessageEncoderBuilder, StunMessageBuilder};

use super::net::Link;
use super::sdp::{self, AnswerInfo, PublishedSsrcs, MID_EXT, OPUS_PT, RTX_PT, TWCC_EXT, VP8_PT};

/// Index of the audio stream in [`Client::streams`].
pub const AUDIO: usize = 0;
/// Index of the video stream in [`Client::streams`].
pub const VIDEO: usize = 1;

/// How often a client repeats its consent check (RFC 7675 suggests about every 5 s).
const KEEPALIVE: Duration = Duration::from_secs(5);
/// How often a subscriber that NACKs looks for gaps.
const NACK_ROUND: Duration = Duration::from_millis(20);
/// How long a subscriber waits before asking for the same packet again.
const NACK_RETRY: Duration = Duration::from_millis(60);
/// Plain packets a publisher keeps for retransmission, per stream.
const HISTORY: u16 = 2000;

/// How a publisher answers a NACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retransmit {
    /// It does not.
    Off,
    /// It sends the same packet again (same SSRC and sequence number).
    Plain,
    /// It sends an RTX packet (RFC 4588) on its RTX SSRC.
    Rtx,
}

/// One stream a publisher sends.
#[derive(Debug, Clone)]
pub struct Stream {
    /// The m-line it is sent on.
    pub mid: &'static str,
    /// Its SSRC.
    pub ssrc: u32,
    /// Its payload type.
    pub pt: u8,
    /// Its RTX SSRC and payload type.
    pub rtx: Option<(u32, u8)>,
    /// The next sequence number.
    pub seq: u16,
    /// The next timestamp.
    pub ts: u32,
    /// Timestamp increment per packet.
    pub ts_step: u32,
    /// Packets sent so far; each payload carries its count.
    pub sent: u32,
    /// First byte of every payload, unique per client and stream.
    pub tag: u8,
    rtx_seq: u16,
}

/// One RTP packet the client decrypted, with RTX already unwrapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// When it arrived.
    pub at: Instant,
    /// Its SSRC (the primary one for an unwrapped RTX packet).
    pub ssrc: u32,
    /// Its payload type.
    pub pt: u8,
    /// Its sequence number (the original one for RTX).
    pub seq: u16,
    /// Its timestamp.
    pub ts: u32,
    /// Its marker bit.
    pub marker: bool,
    /// The value of its MID header extension.
    pub mid: Option<Vec<u8>>,
    /// Its payload.
    pub payload: Vec<u8>,
    /// Whether it came as an RTX packet.
    pub rtx: bool,
}

/// One RTCP packet the client decrypted, reduced to what the tests look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feedback {
    /// Generic NACK about `media`.
    Nack {
        /// The media source.
        media: u32,
        /// The sequence numbers reported lost.
        lost: Vec<u16>,
    },
    /// Picture loss indication about `media`.
    Pli {
        /// The media source.
        media: u32,
    },
    /// A sender report from `ssrc`.
    SenderReport {
        /// The sender.
        ssrc: u32,
    },
    /// A receiver report.
    ReceiverReport,
    /// Transport-wide congestion control feedback.
    TransportCc,
    /// Anything else.
    Other,
}

/// A subscriber's view of one incoming stream, for NACKs.
#[derive(Debug)]
struct Tracker {
    highest: ExtSeq,
    /// Every sequence number below this one arrived.
    floor: u64,
    seen: BTreeSet<u64>,
    asked: HashMap<u64, Instant>,
}

/// A simulated browser or phone.
pub struct Client {
    /// A name for assertion messages.
    pub name: String,
    /// Its address.
    pub addr: SocketAddr,
    /// Its path to the session.
    pub up: Link,
    /// The session's path to it.
    pub down: Link,
    /// Its participant handle once it joined.
    pub participant: Option<ParticipantId>,
    /// What it read from the session's answer.
    pub answer: Option<AnswerInfo>,
    /// The streams it publishes (empty for a subscriber).
    pub streams: Vec<Stream>,
    /// How it answers NACKs.
    pub retransmit: Retransmit,
    /// Whether it NACKs the gaps in what it receives.
    pub nack_gaps: bool,
    /// Whether it repeats consent checks.
    pub keepalive: bool,
    /// Every RTP packet it decrypted, in arrival order.
    pub received: Vec<Received>,
    /// Every RTCP packet it decrypted, with its arrival time.
    pub feedback: Vec<(Instant, Feedback)>,
    /// SRTP or SRTCP packets that failed to decrypt.
    pub srtp_failures: u64,
    /// STUN success responses received.
    pub stun_successes: u64,
    /// Retransmissions sent in answer to NACKs.
    pub retransmissions: u64,
    /// NACK packets sent.
    pub nacks_sent: u64,
    ufrag: String,
    pwd: String,
    fingerprint: Fingerprint,
    dtls: Dtls,
    dtls_timeout: Option<Instant>,
    srtp_tx: Option<SrtpSession>,
    srtp_rx: Option<SrtpSession>,
    history: HashMap<(u32, u16), Vec<u8>>,
    trackers: HashMap<u32, Tracker>,
    next_keepalive: Option<Instant>,
    next_nack_round: Option<Instant>,
    next_twcc: u16,
    rtcp_ssrc: u32,
    outbox: Vec<Vec<u8>>,
}

/// A random ICE credential of `len` characters.
fn ice_chars(rng: &mut StdRng, len: usize) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/";
    (0..len)
        .map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())]))
        .collect()
}

/// The DTLS-SRTP protection profile id (RFC 5764 section 4.1.2) of a dimpl profile.
fn profile_id(profile: dimpl::SrtpProfile) -> u16 {
    match profile {
        dimpl::SrtpProfile::AES128_CM_SHA1_80 => 0x0001,
        dimpl::SrtpProfile::AEAD_AES_128_GCM => 0x0007,
        dimpl::SrtpProfile::AEAD_AES_256_GCM => 0x0008,
        _ => 0,
    }
}

/// The payload of packet `counter` of the stream tagged `tag`: the tag, the count, then
/// bytes that depend on both; 20 to 116 bytes long.
pub fn payload(tag: u8, counter: u32) -> Vec<u8> {
    let len = 20 + (counter % 97) as usize;
    let mut bytes = Vec::with_capacity(len);
    bytes.push(tag);
    bytes.extend_from_slice(&counter.to_be_bytes());
    while bytes.len() < len {
        bytes.push((counter as usize * 31 + bytes.len() * 7) as u8 ^ tag);
    }
    bytes
}

/// The tag and count a payload from [`payload`] starts with.
pub fn payload_id(payload: &[u8]) -> (u8, u32) {
    let count = u32::from_be_bytes([payload[1], payload[2], payload[3], payload[4]]);
    (payload[0], count)
}

/// The fields of a plain RTP packet, read by hand (RFC 3550 section 5.1, RFC 8285).
struct Plain<'a> {
    marker: bool,
    pt: u8,
    seq: u16,
    ts: u32,
    ssrc: u32,
    header_len: usize,
    mid: Option<Vec<u8>>,
    payload: &'a [u8],
}

fn read_rtp(bytes: &[u8]) -> Option<Plain<'_>> {
    if bytes.len() < 12 || bytes[0] >> 6 != 2 {
        return None;
    }
    let mut header_len = 12 + 4 * usize::from(bytes[0] & 0x0f);
    let mut mid = None;
    if bytes[0] & 0x10 != 0 {
        let profile = u16::from_be_bytes([bytes[header_len], bytes[header_len + 1]]);
        let words = u16::from_be_bytes([bytes[header_len + 2], bytes[header_len + 3]]);
        let block = bytes.get(header_len + 4..header_len + 4 + 4 * usize::from(words))?;
        if profile == 0xbede {
            mid = one_byte_element(block, MID_EXT);
        }
        header_len += 4 + block.len();
    }
    let padding = if bytes[0] & 0x20 != 0 {
        usize::from(*bytes.last()?)
    } else {
        0
    };
    Some(Plain {
        marker: bytes[1] & 0x80 != 0,
        pt: bytes[1] & 0x7f,
        seq: u16::from_be_bytes([bytes[2], bytes[3]]),
        ts: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
        ssrc: u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]),
        header_len,
        mid,
        payload: bytes.get(header_len..bytes.len().checked_sub(padding)?)?,
    })
}

/// The value of element `id` in a one-byte header-extension block (RFC 8285 section 4.2).
fn one_byte_element(block: &[u8], id: u8) -> Option<Vec<u8>> {
    let mut at = 0;
    while at < block.len() {
        let byte = block[at];
        if byte == 0 {
            at += 1;
            continue;
        }
        let (element, len) = (byte >> 4, usize::from(byte & 0x0f) + 1);
        if element == 15 {
            return None;
        }
        let value = block.get(at + 1..at + 1 + len)?;
        if element == id {
            return Some(value.to_vec());
        }
        at += 1 + len;
    }
    None
}

impl Client {
    /// A client at `addr`; a publisher when `publish` is set. `tag` marks its payloads.
    pub fn new(
        name: &str,
        addr: SocketAddr,
        publish: Option<PublishedSsrcs>,
        tag: u8,
        rng: &mut StdRng,
        now: Instant,
    ) -> Client {
        let cert = dimpl::certificate::generate_self_signed_certificate().unwrap();
        let fingerprint = Fingerprint::of(HashAlgorithm::Sha256, &cert.certificate);
        let mut dtls = Dtls::new_auto(Arc::new(Config::default()), cert, now);
        dtls.set_active(true);
        let streams = publish
            .map(|ssrcs| Client::streams(ssrcs, tag, rng))
            .unwrap_or_default();
        Client {
            name: name.to_owned(),
            addr,
            up: Link::CLEAN,
            down: Link::CLEAN,
            participant: None,
            answer: None,
            streams,
            retransmit: Retransmit::Off,
            nack_gaps: false,
            keepalive: true,
            received: Vec::new(),
            feedback: Vec::new(),
            srtp_failures: 0,
            stun_successes: 0,
            retransmissions: 0,
            nacks_sent: 0,
            ufrag: ice_chars(rng, 8),
            pwd: ice_chars(rng, 24),
            fingerprint,
            dtls,
            dtls_timeout: None,
            srtp_tx: None,
            srtp_rx: None,
            history: HashMap::new(),
            trackers: HashMap::new(),
            next_keepalive: None,
            next_nack_round: None,
            next_twcc: rng.random(),
            rtcp_ssrc: rng.random(),
            outbox: Vec::new(),
        }
    }

    fn streams(ssrcs: PublishedSsrcs, tag: u8, rng: &mut StdRng) -> Vec<Stream> {
        let audio = Stream {
            mid: "0",
            ssrc: ssrcs.audio,
            pt: OPUS_PT,
            rtx: None,
            seq: rng.random(),
            ts: rng.random(),
            ts_step: 960,
            sent: 0,
            tag,
            rtx_seq: 0,
        };
        let video = Stream {
            mid: "1",
            ssrc: ssrcs.video,
            pt: VP8_PT,
            rtx: Some((ssrcs.rtx, RTX_PT)),
            ts_step: 3000,
            tag: tag | 1,
            rtx_seq: rng.random(),
            ..audio.clone()
        };
        vec![audio, video]
    }

    /// The client's SDP offer.
    pub fn offer(&self) -> String {
        let publish = self.streams.get(VIDEO).map(|v| PublishedSsrcs {
            audio: self.streams[AUDIO].ssrc,
            video: v.ssrc,
            rtx: v.rtx.map_or(0, |(ssrc, _)| ssrc),
        });
        sdp::offer(
            &self.ufrag,
            &self.pwd,
            &self.fingerprint.to_string(),
            publish,
        )
    }

    /// Takes the session's answer.
    pub fn set_answer(&mut self, participant: ParticipantId, answer_sdp: &str) {
        self.participant = Some(participant);
        self.answer = Some(sdp::parse_answer(answer_sdp));
    }

    /// Starts ICE (a nominating check) and DTLS (the first flight).
    pub fn start(&mut self, now: Instant, rng: &mut StdRng) {
        self.send_check(rng, true);
        let _ = self.dtls.handle_timeout(now);
        self.poll_dtls();
        self.next_keepalive = Some(now + KEEPALIVE);
        self.next_nack_round = Some(now + NACK_ROUND);
    }

    /// Whether DTLS finished and SRTP is keyed.
    pub fn is_connected(&self) -> bool {
        self.srtp_tx.is_some()
    }

    /// A Binding request to the session with `pwd` as the key, as a controlling full ICE
    /// agent sends it.
    pub fn binding_request(&self, rng: &mut StdRng, pwd: &str, use_candidate: bool) -> Vec<u8> {
        let answer = self.answer.as_ref().expect("an answer before checks");
        let username = format!("{}:{}", answer.ice_ufrag, self.ufrag);
        let mut builder = StunMessageBuilder::new(BINDING, MessageClass::Request)
            .with_transaction_id(rng.random::<[u8; 12]>().into())
            .with_attribute(UserName::new(username).unwrap())
            .with_attribute(Priority::new(0x6e00_01ff))
            .with_attribute(IceControlling::new(rng.random()));
        if use_candidate {
            builder = builder.with_attribute(UseCandidate::default());
        }
        let key = HMACKey::new_short_term(pwd).unwrap();
        builder = builder
            .with_attribute(MessageIntegrity::new(key))
            .with_attribute(StunFingerprint::default());
        let mut buf = vec![0; 1500];
        let len = MessageEncoderBuilder::default()
            .build()
            .encode(&mut buf, &builder.build())
            .unwrap();
        buf.truncate(len);
        buf
    }

    /// Queues a consent check with the right password.
    pub fn send_check(&mut self, rng: &mut StdRng, use_candidate: bool) {
        let pwd = self.answer.as_ref().expect("answer").ice_pwd.clone();
        let request = self.binding_request(rng, &pwd, use_candidate);
        self.outbox.push(request);
    }

    /// Handles one datagram from the session.
    pub fn handle_datagram(&mut self, bytes: &[u8], now: Instant) {
        match bytes.first() {
            // A Binding success response (RFC 8489 section 5).
            Some(0..=3) if bytes.get(..2) == Some(&[0x01, 0x01]) => self.stun_successes += 1,
            Some(20..=63) => {
                let _ = self.dtls.handle_packet(bytes);
                self.poll_dtls();
            }
            Some(128..=191) if bytes.len() > 1 && (64..=95).contains(&(bytes[1] & 0x7f)) => {
                self.handle_srtcp(bytes, now)
            }
            Some(128..=191) => self.handle_srtp(bytes, now),
            _ => {}
        }
    }

    fn poll_dtls(&mut self) {
        let mut buf = vec![0; 2048];
        for _ in 0..1000 {
            match self.dtls.poll_output(&mut buf) {
                Output::Packet(p) => self.outbox.push(p.to_vec()),
                Output::Timeout(at) => {
                    self.dtls_timeout = Some(at);
                    return;
                }
                Output::KeyingMaterial(material, profile) => self.key_srtp(&material, profile),
                Output::BufferTooSmall { needed } => buf.resize(needed, 0),
                _ => {}
            }
        }
        panic!("{}: dimpl kept producing output", self.name);
    }

    fn key_srtp(&mut self, material: &[u8], profile: dimpl::SrtpProfile) {
        let profile = SrtpProfile::from_dtls_id(profile_id(profile)).expect("a known profile");
        let keys = SrtpKeys::from_keying_material(profile, material, false).unwrap();
        self.srtp_tx = Some(SrtpSession::new(profile, &keys.local).unwrap());
        self.srtp_rx = Some(SrtpSession::new(profile, &keys.remote).unwrap());
    }

    fn handle_srtp(&mut self, bytes: &[u8], now: Instant) {
        let Some(srtp) = self.srtp_rx.as_mut() else {
            return;
        };
        let mut buf = bytes.to_vec();
        let Ok(len) = srtp.unprotect_rtp(&mut buf) else {
            self.srtp_failures += 1;
            return;
        };
        let packet = read_rtp(&buf[..len]).expect("the session sends well-formed RTP");
        let mut received = Received {
            at: now,
            ssrc: packet.ssrc,
            pt: packet.pt,
            seq: packet.seq,
            ts: packet.ts,
            marker: packet.marker,
            mid: packet.mid,
            payload: packet.payload.to_vec(),
            rtx: false,
        };
        let rtx_of = self.answer.as_ref().and_then(|a| {
            a.slots
                .iter()
                .find(|s| s.rtx_ssrc == Some(packet.ssrc))
                .map(|s| s.ssrc)
        });
        if let Some(primary) = rtx_of {
            let osn = u16::from_be_bytes([received.payload[0], received.payload[1]]);
            received.payload.drain(..2);
            received.ssrc = primary;
            received.seq = osn;
            received.rtx = true;
        }
        self.track(received.ssrc, received.seq);
        self.received.push(received);
    }

    fn handle_srtcp(&mut self, bytes: &[u8], now: Instant) {
        let Some(srtp) = self.srtp_rx.as_mut() else {
            return;
        };
        let mut buf = bytes.to_vec();
        let Ok(len) = srtp.unprotect_rtcp(&mut buf) else {
            self.srtp_failures += 1;
            return;
        };
        let mut nacks = Vec::new();
        for packet in wire::compound(&buf[..len]) {
            let feedback = match packet.expect("the session sends well-formed RTCP") {
                RtcpPacket::Nack { media, fci, .. } => {
                    let lost: Vec<u16> = fci.lost().map(|s| s.0).collect();
                    nacks.push((media.0, lost.clone()));
                    Feedback::Nack {
                        media: media.0,
                        lost,
                    }
                }
                RtcpPacket::Pli { media, .. } => Feedback::Pli { media: media.0 },
                RtcpPacket::SenderReport(sr) => Feedback::SenderReport { ssrc: sr.ssrc.0 },
                RtcpPacket::ReceiverReport(_) => Feedback::ReceiverReport,
                RtcpPacket::TransportCc { .. } => Feedback::TransportCc,
                _ => Feedback::Other,
            };
            self.feedback.push((now, feedback));
        }
        for (media, lost) in nacks {
            self.answer_nack(media, &lost);
        }
    }

    /// Retransmits what a NACK asks for, from the packets this client sent.
    fn answer_nack(&mut self, media: u32, lost: &[u16]) {
        if self.retransmit == Retransmit::Off {
            return;
        }
        let Some(index) = self.streams.iter().position(|s| s.ssrc == media) else {
            return;
        };
        for &seq in lost {
            let Some(plain) = self.history.get(&(media, seq)).cloned() else {
                continue;
            };
            let packet = match (self.retransmit, self.streams[index].rtx) {
                (Retransmit::Rtx, Some((rtx_ssrc, rtx_pt))) => {
                    let original = read_rtp(&plain).unwrap();
                    let stream = &mut self.streams[index];
                    let rtx_seq = stream.rtx_seq;
                    stream.rtx_seq = rtx_seq.wrapping_add(1);
                    let mut payload = seq.to_be_bytes().to_vec();
                    payload.extend_from_slice(original.payload);
                    let (mid, ts, marker) = (stream.mid, original.ts, original.marker);
                    self.write_rtp(rtx_ssrc, rtx_pt, rtx_seq, ts, marker, mid, &payload)
                }
                _ => plain,
            };
            let wire = self.protect_rtp(&packet);
            self.outbox.push(wire);
            self.retransmissions += 1;
        }
    }

    /// Notes a received sequence number for the gap search.
    fn track(&mut self, ssrc: u32, seq: u16) {
        let tracker = self.trackers.entry(ssrc).or_insert_with(|| {
            let first = (1 << 16) | u64::from(seq);
            Tracker {
                highest: ExtSeq(first),
                floor: first,
                seen: BTreeSet::new(),
                asked: HashMap::new(),
            }
        });
        let ext = ExtSeq::extend(SeqNo(seq), tracker.highest);
        tracker.highest = tracker.highest.max(ext);
        if ext.0 >= tracker.floor {
            tracker.seen.insert(ext.0);
        }
        while tracker.seen.remove(&tracker.floor) {
            tracker.asked.remove(&tracker.floor);
            tracker.floor += 1;
        }
    }

    /// The client's timers: DTLS retransmission, consent checks, NACK rounds.
    pub fn handle_timeout(&mut self, now: Instant, rng: &mut StdRng) {
        if self.dtls_timeout.is_some_and(|at| at <= now) {
            self.dtls_timeout = None;
            let _ = self.dtls.handle_timeout(now);
            self.poll_dtls();
        }
        if let Some(at) = self.next_keepalive.filter(|at| *at <= now) {
            self.next_keepalive = Some(at + KEEPALIVE);
            if self.keepalive {
                self.send_check(rng, false);
            }
        }
        if let Some(at) = self.next_nack_round.filter(|at| *at <= now) {
            self.next_nack_round = Some(at + NACK_ROUND);
            if self.nack_gaps && self.is_connected() {
                self.nack_round(now);
            }
        }
    }

    /// When [`Client::handle_timeout`] is next due.
    pub fn next_timeout(&self) -> Option<Instant> {
        [self.dtls_timeout, self.next_keepalive, self.next_nack_round]
            .into_iter()
            .flatten()
            .min()
    }

    fn nack_round(&mut self, now: Instant) {
        let mut requests = Vec::new();
        for (&ssrc, tracker) in &mut self.trackers {
            let mut lost = Vec::new();
            let end = tracker.highest.0.min(tracker.floor + 3000);
            for ext in tracker.floor..end {
                if lost.len() == 64 {
                    break;
                }
                if tracker.seen.contains(&ext) {
                    continue;
                }
                let due = tracker
                    .asked
                    .get(&ext)
                    .is_none_or(|at| now >= *at + NACK_RETRY);
                if due {
                    tracker.asked.insert(ext, now);
                    lost.push(ext as u16);
                }
            }
            if !lost.is_empty() {
                requests.push((ssrc, lost));
            }
        }
        requests.sort();
        for (ssrc, lost) in requests {
            self.send_nack(ssrc, &lost);
        }
    }

    /// Queues a receiver report and a generic NACK for `lost` of `media`.
    pub fn send_nack(&mut self, media: u32, lost: &[u16]) {
        let mut buf = [0u8; 1200];
        let sender = Ssrc(self.rtcp_ssrc);
        let head = wire::write_receiver_report(&mut buf, sender, &[]).unwrap();
        let seqs: Vec<SeqNo> = lost.iter().map(|s| SeqNo(*s)).collect();
        let n = wire::write_nack(&mut buf[head..], sender, Ssrc(media), &seqs).unwrap();
        self.send_rtcp(&buf[..head + n]);
        self.nacks_sent += 1;
    }

    /// Queues a plain RTCP compound packet, protected.
    pub fn send_rtcp(&mut self, plain: &[u8]) {
        let srtp = self.srtp_tx.as_mut().expect("connected");
        let mut buf = plain.to_vec();
        buf.resize(plain.len() + 64, 0);
        let n = srtp.protect_rtcp(&mut buf, plain.len()).unwrap();
        buf.truncate(n);
        self.outbox.push(buf);
    }

    /// Writes a plain RTP packet with MID and transport-wide sequence extensions.
    #[allow(clippy::too_many_arguments)]
    fn write_rtp(
        &mut self,
        ssrc: u32,
        pt: u8,
        seq: u16,
        ts: u32,
        marker: bool,
        mid: &str,
        payload: &[u8],
    ) -> Vec<u8> {
        let twcc = self.next_twcc;
        self.next_twcc = twcc.wrapping_add(1);
        let mut block = vec![(MID_EXT << 4) | (mid.len() as u8 - 1)];
        block.extend_from_slice(mid.as_bytes());
        block.push((TWCC_EXT << 4) | 1);
        block.extend_from_slice(&twcc.to_be_bytes());
        while block.len() % 4 != 0 {
            block.push(0);
        }
        let mut packet = vec![0x90, (u8::from(marker) << 7) | pt];
        packet.extend_from_slice(&seq.to_be_bytes());
        packet.extend_from_slice(&ts.to_be_bytes());
        packet.extend_from_slice(&ssrc.to_be_bytes());
        packet.extend_from_slice(&[0xbe, 0xde]);
        packet.extend_from_slice(&((block.len() / 4) as u16).to_be_bytes());
        packet.extend_from_slice(&block);
        packet.extend_from_slice(payload);
        packet
    }

    /// Protects a plain RTP packet with the client's SRTP session.
    pub fn protect_rtp(&mut self, plain: &[u8]) -> Vec<u8> {
        let srtp = self.srtp_tx.as_mut().expect("connected");
        let mut buf = plain.to_vec();
        buf.resize(plain.len() + 64, 0);
        let n = srtp.protect_rtp(&mut buf, plain.len()).unwrap();
        buf.truncate(n);
        buf
    }

    /// The next packet of stream `index`, plain, and its count; the stream moves on.
    pub fn next_rtp(&mut self, index: usize) -> (u32, Vec<u8>) {
        let stream = &mut self.streams[index];
        let counter = stream.sent;
        let (ssrc, pt, seq, ts, mid) = (stream.ssrc, stream.pt, stream.seq, stream.ts, stream.mid);
        stream.sent += 1;
        stream.seq = seq.wrapping_add(1);
        stream.ts = ts.wrapping_add(stream.ts_step);
        let body = payload(stream.tag, counter);
        let plain = self.write_rtp(ssrc, pt, seq, ts, true, mid, &body);
        if self.retransmit != Retransmit::Off {
            self.history.insert((ssrc, seq), plain.clone());
            self.history.remove(&(ssrc, seq.wrapping_sub(HISTORY)));
        }
        (counter, plain)
    }

    /// Queues the next packet of stream `index`, protected; returns its count and wire bytes.
    pub fn send_rtp(&mut self, index: usize) -> (u32, Vec<u8>) {
        let (counter, plain) = self.next_rtp(index);
        let wire = self.protect_rtp(&plain);
        self.outbox.push(wire.clone());
        (counter, wire)
    }

    /// Queues raw bytes as if the client had sent them.
    pub fn push_raw(&mut self, bytes: Vec<u8>) {
        self.outbox.push(bytes);
    }

    /// Everything the client has to send.
    pub fn take_outbox(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.outbox)
    }

    /// The packets received on `ssrc`, RTX unwrapped.
    pub fn received_on(&self, ssrc: u32) -> impl Iterator<Item = &Received> + '_ {
        self.received.iter().filter(move |r| r.ssrc == ssrc)
    }

    /// NACKs received about `media`, and the sequence numbers they named.
    pub fn nacks_about(&self, media: u32) -> Vec<u16> {
        self.feedback
            .iter()
            .filter_map(|(_, f)| match f {
                Feedback::Nack { media: m, lost } if *m == media => Some(lost.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    /// Arrival times of the PLIs received about `media`.
    pub fn plis_about(&self, media: u32) -> Vec<Instant> {
        self.feedback
            .iter()
            .filter(|(_, f)| *f == Feedback::Pli { media })
            .map(|(at, _)| *at)
            .collect()
    }

    /// The slot the session answered on `mid`: (SSRC, RTX SSRC).
    pub fn slot(&self, mid: &str) -> (u32, Option<u32>) {
        let slot = self.answer.as_ref().expect("answer").slot(mid);
        (slot.ssrc, slot.rtx_ssrc)
    }
}
