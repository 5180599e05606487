//! One support session: its participants, their tracks and slots, and the packet path.
//!
//! A [`Session`] is sans-IO. The worker that owns it feeds it every datagram that arrives on
//! the session's relay port ([`Session::handle_datagram`]) and calls
//! [`Session::handle_timeout`] when [`Session::poll_timeout`] says so; the session answers
//! by queueing datagrams in a [`TxQueue`] and events in its event queue
//! ([`Session::poll_event`]). Control calls (add a participant, open a gate) come in between.
//! Nothing here reads a clock or a socket, so tests drive it on virtual time.
//!
//! The packet path for one SRTP packet from a publisher:
//! 1. the source address picks the participant (only addresses that passed an ICE check);
//! 2. the packet is decrypted in place, once;
//! 3. its SSRC picks the published track, whose receive statistics, NACK state and
//!    retransmission cache are updated;
//! 4. if the track's gate is open, every slot the track fills gets a rewritten copy
//!    (SSRC, sequence number, timestamp, payload type, header extension ids), encrypted for
//!    that subscriber; the last subscriber gets the received buffer itself, rewritten in place.

mod participant;
mod routing;
mod rtcp;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::demux::{classify, PacketKind};
use crate::dtls::DtlsCert;
use crate::ice::{self, IceCredentials};
use crate::ids::{MediaKind, Mid, ParticipantId, PersonId, SessionId, TrackId};
use crate::output::TxQueue;
use crate::sdp::{self, Candidate, SdpError};

pub use participant::ConnectionState;
use participant::{Join, Participant};

/// How many participants one session holds at most (a customer, agents and supervisors).
pub const MAX_PARTICIPANTS: usize = 16;

/// Settings that every session of an engine shares.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Drop a participant after this long without authenticated traffic (RFC 7675).
    pub consent_timeout: Duration,
    /// How long a DTLS handshake may take before the participant is dropped.
    pub handshake_timeout: Duration,
    /// How long the retransmission cache keeps a packet.
    pub rtx_cache_age: Duration,
    /// Packets the retransmission cache of one video track holds.
    pub rtx_cache_packets: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            consent_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(20),
            rtx_cache_age: Duration::from_millis(1000),
            rtx_cache_packets: 512,
        }
    }
}

/// What a new participant may do, decided by the control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParticipantOptions {
    /// Whether the gates of this participant's audio tracks start open.
    pub audio_gate_open: bool,
    /// Whether the gates of this participant's video tracks start open.
    pub video_gate_open: bool,
    /// The person this participant belongs to: no slot of a participant is filled with a
    /// track of another participant of the same person. `None` is a person of its own.
    pub person: Option<PersonId>,
    /// Which ways its media may flow; the offer's directions are narrowed to them.
    pub flows: Flows,
}

/// Which ways a participant's media may flow. An offered m-line that goes further is
/// narrowed (an answerer may narrow a direction, RFC 3264 section 6.1): a WHIP publisher's
/// `sendrecv` m-line is answered `recvonly`, an m-line left with no direction `inactive`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flows {
    /// It may publish audio tracks.
    pub publish_audio: bool,
    /// It may publish video tracks.
    pub publish_video: bool,
    /// It may receive (have slots).
    pub receive: bool,
}

impl Flows {
    /// Anything the offer asks for.
    pub const ALL: Flows = Flows {
        publish_audio: true,
        publish_video: true,
        receive: true,
    };
    /// Publishing only (a WHIP resource).
    pub const PUBLISH_ONLY: Flows = Flows {
        publish_audio: true,
        publish_video: true,
        receive: false,
    };
    /// Receiving only (a WHEP resource).
    pub const RECEIVE_ONLY: Flows = Flows {
        publish_audio: false,
        publish_video: false,
        receive: true,
    };

    /// Narrows the directions of `offer`'s m-lines; an offer with nothing left is unusable.
    fn narrow(self, offer: &mut sdp::Offer) -> Result<(), JoinError> {
        let mut left = false;
        for media in &mut offer.media {
            let may_publish = match media.kind {
                MediaKind::Audio => self.publish_audio,
                MediaKind::Video => self.publish_video,
            };
            let sends = media.direction.sends() && may_publish;
            let receives = media.direction.receives() && self.receive;
            media.direction = sdp::Direction::from_flags(sends, receives);
            left |= !media.rejected && (sends || receives);
        }
        if left {
            Ok(())
        } else {
            Err(JoinError::Unusable(
                "no m-line of the offer goes a way this participant may use".to_string(),
            ))
        }
    }
}

impl Default for Flows {
    fn default() -> Self {
        Flows::ALL
    }
}

impl Default for ParticipantOptions {
    fn default() -> Self {
        ParticipantOptions {
            audio_gate_open: true,
            video_gate_open: true,
            person: None,
            flows: Flows::ALL,
        }
    }
}

/// A successful offer/answer for a new participant.
#[derive(Debug, Clone)]
pub struct JoinAnswer {
    /// The participant's handle.
    pub participant: ParticipantId,
    /// The SDP answer to return to the participant.
    pub sdp: String,
    /// The tracks the participant will publish, one per m-line it sends on.
    pub tracks: Vec<TrackInfo>,
    /// The m-lines the participant receives on (its slots).
    pub slots: Vec<Mid>,
}

/// A published track as the control plane sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackInfo {
    /// The track's handle.
    pub id: TrackId,
    /// Audio or video.
    pub kind: MediaKind,
    /// The m-line it was offered on.
    pub mid: Mid,
}

/// Why a participant could not join.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// The offer could not be parsed.
    #[error("malformed offer: {0}")]
    Malformed(String),
    /// The offer parsed but asks for something the forwarder does not do.
    #[error("unusable offer: {0}")]
    Unusable(String),
    /// Our own answer options were invalid: a bug on our side.
    #[error("cannot build an answer: {0}")]
    Internal(String),
    /// The session already has [`MAX_PARTICIPANTS`] participants.
    #[error("the session is full")]
    SessionFull,
}

impl From<SdpError> for JoinError {
    fn from(e: SdpError) -> Self {
        match e {
            SdpError::Malformed(m) => JoinError::Malformed(m),
            SdpError::Unsupported(m) => JoinError::Unusable(m),
            SdpError::InvalidOptions(m) => JoinError::Internal(m),
        }
    }
}

/// Something that happened in a session that the control plane may want to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// ICE and DTLS completed; media can flow.
    Connected {
        /// Who connected.
        participant: ParticipantId,
        /// Their selected remote address.
        remote: SocketAddr,
    },
    /// The participant was dropped: DTLS failed, or its consent expired.
    Disconnected {
        /// Who was dropped.
        participant: ParticipantId,
        /// Why, in words for the log.
        reason: String,
    },
    /// A slot now carries a source track.
    SlotFilled {
        /// The subscriber.
        participant: ParticipantId,
        /// The subscriber's m-line.
        mid: Mid,
        /// The track that fills it.
        track: TrackId,
    },
    /// A slot has no source (anymore), and why.
    SlotEmpty {
        /// The subscriber.
        participant: ParticipantId,
        /// The subscriber's m-line.
        mid: Mid,
        /// Why it is empty.
        reason: String,
    },
}

/// Counters of one published track.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrackStats {
    /// The track.
    pub id: Option<TrackId>,
    /// Audio or video.
    pub kind: Option<MediaKind>,
    /// Whether its gate is open.
    pub gate_open: bool,
    /// Packets received from the publisher.
    pub packets: u64,
    /// Payload bytes received.
    pub bytes: u64,
    /// Packets lost on the publisher's uplink (RFC 3550 cumulative loss).
    pub lost: i64,
    /// Interarrival jitter in milliseconds.
    pub jitter_ms: f64,
    /// NACKs the forwarder sent to the publisher.
    pub nacks_sent: u64,
    /// Keyframe requests (PLI) sent to the publisher.
    pub plis_sent: u64,
    /// Keyframes received.
    pub keyframes: u64,
    /// Packets dropped because the gate was closed.
    pub gated: u64,
}

/// Counters of one slot (a subscriber's receive m-line).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlotStats {
    /// The subscriber's m-line.
    pub mid: Option<Mid>,
    /// The track filling it, if any.
    pub source: Option<TrackId>,
    /// Packets sent to the subscriber.
    pub packets: u64,
    /// Payload bytes sent.
    pub bytes: u64,
    /// NACKs received from the subscriber.
    pub nacks_received: u64,
    /// Packets retransmitted in answer to NACKs.
    pub retransmitted: u64,
    /// Keyframe requests (PLI or FIR) received from the subscriber.
    pub plis_received: u64,
    /// Round-trip time from the subscriber's receiver reports.
    pub rtt_ms: Option<f64>,
    /// Loss the subscriber reported (fraction, 0..=1).
    pub loss_fraction: f64,
}

/// Counters of one participant.
#[derive(Debug, Clone, PartialEq)]
pub struct ParticipantStats {
    /// The participant.
    pub id: ParticipantId,
    /// Where its connection stands.
    pub state: ConnectionState,
    /// Its selected remote address once ICE picked one.
    pub remote: Option<SocketAddr>,
    /// Its published tracks.
    pub tracks: Vec<TrackStats>,
    /// Its slots.
    pub slots: Vec<SlotStats>,
    /// SRTP or SRTCP packets that failed authentication.
    pub auth_failures: u64,
    /// Downlink estimate from transport-wide feedback, bits per second.
    pub downlink_bps: Option<u64>,
}

/// A support session's media state; see the module documentation for the calling convention.
pub struct Session {
    id: SessionId,
    config: SessionConfig,
    cert: Arc<DtlsCert>,
    candidates: Vec<Candidate>,
    participants: Vec<Participant>,
    by_addr: HashMap<SocketAddr, usize>,
    events: VecDeque<SessionEvent>,
    next_handle: u64,
}

impl Session {
    /// A new, empty session whose participants will reach it at `candidates`.
    pub fn new(
        id: SessionId,
        config: SessionConfig,
        cert: Arc<DtlsCert>,
        candidates: Vec<Candidate>,
    ) -> Session {
        Session {
            id,
            config,
            cert,
            candidates,
            participants: Vec::new(),
            by_addr: HashMap::new(),
            events: VecDeque::new(),
            next_handle: 1,
        }
    }

    /// The session's handle.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// Number of participants.
    pub fn participant_count(&self) -> usize {
        self.participants.len()
    }

    /// Adds a participant from its SDP offer and returns the answer.
    ///
    /// Its published tracks fill the matching empty slots of the other participants, and its
    /// slots are filled from the tracks already published.
    pub fn add_participant(
        &mut self,
        offer_sdp: &str,
        options: ParticipantOptions,
        now: Instant,
    ) -> Result<JoinAnswer, JoinError> {
        if self.participants.len() >= MAX_PARTICIPANTS {
            return Err(JoinError::SessionFull);
        }
        let mut offer = sdp::parse_offer(offer_sdp)?;
        options.flows.narrow(&mut offer)?;
        let credentials = IceCredentials::generate();
        let first_handle = self.next_handle;
        let join = Join {
            id: ParticipantId(first_handle),
            cert: &self.cert,
            candidates: &self.candidates,
            config: &self.config,
            options,
            others: &self.participants,
            first_track_handle: first_handle + 1,
            now,
        };
        let (participant, answer) = Participant::negotiate(&offer, credentials, join)?;
        self.next_handle += 1 + participant.tracks.len() as u64;
        let join = JoinAnswer {
            participant: participant.id,
            sdp: answer,
            tracks: participant.track_infos(),
            slots: participant.slots.iter().map(|s| s.mid).collect(),
        };
        self.participants.push(participant);
        self.reroute();
        Ok(join)
    }

    /// Removes a participant; the slots its tracks filled become empty or take another source.
    pub fn remove_participant(&mut self, id: ParticipantId, reason: &str) -> bool {
        let Some(index) = self.participants.iter().position(|p| p.id == id) else {
            return false;
        };
        self.participants.remove(index);
        self.rebuild_addr_index();
        self.events.push_back(SessionEvent::Disconnected {
            participant: id,
            reason: reason.to_string(),
        });
        self.reroute();
        true
    }

    /// Restarts ICE for a participant whose client sent new credentials with `remote_ufrag`
    /// (RFC 8839 section 4.4.1.1.1): returns our new credentials, or `None` for an unknown
    /// participant. DTLS and SRTP keep running; the current path stays until new checks.
    pub fn restart_ice(&mut self, id: ParticipantId, remote_ufrag: &str) -> Option<IceCredentials> {
        let p = self.participants.iter_mut().find(|p| p.id == id)?;
        Some(p.restart_ice(remote_ufrag))
    }

    /// Opens or closes the gates of a participant's tracks of one kind (all kinds when `None`).
    ///
    /// While a gate is closed nothing of that track reaches any subscriber. Returns false when
    /// the participant is unknown.
    pub fn set_gate(&mut self, id: ParticipantId, kind: Option<MediaKind>, open: bool) -> bool {
        let Some(p) = self.participants.iter_mut().find(|p| p.id == id) else {
            return false;
        };
        let mut reopened = false;
        for track in p
            .tracks
            .iter_mut()
            .filter(|t| kind.is_none_or(|k| k == t.kind))
        {
            reopened |= open && !track.gate_open;
            track.gate_open = open;
        }
        if reopened {
            // Subscribers decode from a keyframe after a gap.
            p.request_keyframes_now();
        }
        true
    }

    /// Opens or closes one track's gate. Returns false when the track is unknown.
    pub fn set_track_gate(&mut self, track: TrackId, open: bool) -> bool {
        for p in &mut self.participants {
            if let Some(t) = p.tracks.iter_mut().find(|t| t.id == track) {
                // Subscribers decode from a keyframe after a gap, as in `set_gate`.
                t.keyframe_wanted |= open && !t.gate_open;
                t.gate_open = open;
                return true;
            }
        }
        false
    }

    /// Handles one datagram from `from`. `buf[..len]` is the datagram; `buf` may be longer, and
    /// the bytes after `len` are room to rewrite it in place for the last subscriber.
    pub fn handle_datagram(
        &mut self,
        from: SocketAddr,
        buf: &mut [u8],
        len: usize,
        now: Instant,
        tx: &mut TxQueue,
    ) {
        let Some(datagram) = buf.get(..len) else {
            return;
        };
        let kind = classify(datagram);
        match kind {
            PacketKind::Stun => return self.handle_stun(from, datagram, now, tx),
            PacketKind::Unknown => {
                return tracing::trace!(target: "rtp", len, "dropped datagram of unknown kind");
            }
            _ => {}
        }
        // Everything but STUN comes only from addresses that passed an ICE check.
        let Some(&pi) = self.by_addr.get(&from) else {
            return tracing::trace!(target: "rtp", "dropped datagram from an unchecked address");
        };
        match kind {
            PacketKind::Dtls => {
                self.participants[pi].handle_dtls(&buf[..len], now, tx, &mut self.events)
            }
            PacketKind::Rtp => self.handle_rtp(pi, buf, len, now, tx),
            _ => self.handle_rtcp(pi, buf, len, now, tx),
        }
    }

    /// The next time [`Session::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.participants.iter().map(|p| p.poll_timeout()).min()
    }

    /// Runs the timers that are due: retransmissions, reports, feedback, consent expiry.
    pub fn handle_timeout(&mut self, now: Instant, tx: &mut TxQueue) {
        let mut expired = Vec::new();
        for index in 0..self.participants.len() {
            if let Some(reason) = self.participants[index].expiry(now) {
                expired.push((self.participants[index].id, reason));
                continue;
            }
            self.participants[index].handle_timeout(now, tx, &mut self.events);
            self.send_publisher_feedback(index, now, tx);
        }
        for (id, reason) in expired {
            self.remove_participant(id, reason);
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// Counters of every participant.
    pub fn stats(&self) -> Vec<ParticipantStats> {
        self.participants.iter().map(|p| p.stats()).collect()
    }

    fn handle_stun(&mut self, from: SocketAddr, datagram: &[u8], now: Instant, tx: &mut TxQueue) {
        let Some(ufrag) = ice::peek_local_ufrag(datagram) else {
            tracing::trace!(target: "ice", "dropped STUN message without a usable username");
            return;
        };
        let Some(index) = self
            .participants
            .iter()
            .position(|p| p.local_ufrag() == ufrag)
        else {
            tracing::trace!(target: "ice", "dropped STUN message for an unknown username");
            return;
        };
        if self.participants[index].handle_stun(from, datagram, now, tx)
            && self.by_addr.insert(from, index).is_none()
            && self.by_addr.len() > self.participants.len() * ice::MAX_VALIDATED
        {
            // ICE forgets the oldest addresses of a participant that keeps moving; so does
            // the index, so that it stays bounded.
            self.rebuild_addr_index();
        }
    }

    fn rebuild_addr_index(&mut self) {
        self.by_addr.clear();
        for (index, p) in self.participants.iter().enumerate() {
            for addr in p.checked_addresses() {
                self.by_addr.insert(addr, index);
            }
        }
    }
}

#[cfg(test)]
mod flows_tests {
    use super::{Flows, JoinError};
    use crate::ids::MediaKind;
    use crate::sdp::{self, Direction};

    /// Firefox offers audio and video `sendrecv`.
    const FIREFOX: &str = include_str!("../../tests/fixtures/sdp/firefox_sendrecv.sdp");

    fn narrowed(flows: Flows, offer: &str) -> Result<Vec<(MediaKind, Direction)>, JoinError> {
        let mut offer = sdp::parse_offer(offer).unwrap();
        flows.narrow(&mut offer)?;
        Ok(offer.media.iter().map(|m| (m.kind, m.direction)).collect())
    }

    #[test]
    fn a_publisher_sendrecv_offer_is_narrowed_to_sending() {
        let media = narrowed(Flows::PUBLISH_ONLY, FIREFOX).unwrap();
        assert_eq!(
            media,
            [
                (MediaKind::Audio, Direction::SendOnly),
                (MediaKind::Video, Direction::SendOnly)
            ]
        );
    }

    #[test]
    fn a_viewer_sendrecv_offer_is_narrowed_to_receiving() {
        let media = narrowed(Flows::RECEIVE_ONLY, FIREFOX).unwrap();
        assert!(media.iter().all(|(_, d)| *d == Direction::RecvOnly));
    }

    #[test]
    fn video_a_participant_may_not_publish_becomes_inactive() {
        let audio_only = Flows {
            publish_video: false,
            ..Flows::PUBLISH_ONLY
        };
        let media = narrowed(audio_only, FIREFOX).unwrap();
        assert_eq!(
            media,
            [
                (MediaKind::Audio, Direction::SendOnly),
                (MediaKind::Video, Direction::Inactive)
            ]
        );
    }

    #[test]
    fn an_offer_left_with_nothing_is_unusable() {
        let receive_only_offer = FIREFOX.replace("a=sendrecv", "a=recvonly");
        let result = narrowed(Flows::PUBLISH_ONLY, &receive_only_offer);
        assert!(matches!(result, Err(JoinError::Unusable(_))), "{result:?}");
    }
}
