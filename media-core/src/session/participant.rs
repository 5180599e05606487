//! One participant's transport: ICE-lite, DTLS, SRTP, and its tracks and slots.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;

use super::routing::{Slot, Track};
use super::{ParticipantOptions, ParticipantStats, SessionConfig, SessionEvent, TrackInfo};
use crate::dtls::{DtlsCert, DtlsEvent, DtlsTransport};
use crate::feedback::{TwccReceiver, TwccSendLog};
use crate::ice::{IceAgent, IceCredentials};
use crate::ids::{ExtId, ParticipantId, PersonId, Ssrc, TrackId, TwccSeq};
use crate::output::TxQueue;
use crate::sdp::{self, AnswerOptions, Candidate, CodecConfig, ExtensionUri, Offer, OfferedMedia};
use crate::srtp::{SrtpKeys, SrtpSession};

/// What a new participant is negotiated against.
pub(super) struct Join<'a> {
    pub(super) id: ParticipantId,
    pub(super) cert: &'a Arc<DtlsCert>,
    pub(super) candidates: &'a [Candidate],
    pub(super) config: &'a SessionConfig,
    pub(super) options: ParticipantOptions,
    /// The session's other participants, for the codec policy.
    pub(super) others: &'a [Participant],
    /// The handle of the participant's first track; the others follow.
    pub(super) first_track_handle: u64,
    pub(super) now: Instant,
}

/// Where a participant's connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// Waiting for ICE checks and the DTLS handshake.
    Connecting,
    /// SRTP keys are in place; media flows.
    Connected,
}

/// One participant of a session.
pub(super) struct Participant {
    pub(super) id: ParticipantId,
    /// The person it belongs to, if the control plane said.
    pub(super) person: Option<PersonId>,
    ice: IceAgent,
    local_ufrag: Vec<u8>,
    dtls: DtlsTransport,
    pub(super) srtp_in: Option<SrtpSession>,
    pub(super) srtp_out: Option<SrtpSession>,
    pub(super) state: ConnectionState,
    created: Instant,
    handshake_timeout: Duration,
    pub(super) tracks: Vec<Track>,
    pub(super) slots: Vec<Slot>,
    /// Our SSRC as the sender of RTCP to this participant.
    pub(super) rtcp_ssrc: Ssrc,
    /// Transport-wide sequence numbers the participant stamps on what it publishes.
    pub(super) twcc_in: Option<(ExtId, TwccReceiver)>,
    /// Transport-wide sequence numbers we stamp on what we send it, and its feedback.
    pub(super) twcc_out: Option<(ExtId, TwccSendLog)>,
    pub(super) next_twcc_seq: u16,
    pub(super) auth_failures: u64,
    dtls_failed: bool,
    pub(super) next_report: Instant,
    pub(super) next_feedback: Instant,
}

impl Participant {
    /// Takes a parsed offer, applies the codec policy against the other participants, and
    /// builds the participant with its answer.
    pub(super) fn negotiate(
        offer: &Offer,
        credentials: IceCredentials,
        join: Join<'_>,
    ) -> Result<(Participant, String), crate::session::JoinError> {
        let Join {
            id,
            cert,
            candidates,
            config,
            options,
            others,
            first_track_handle,
            now,
        } = join;
        let accept = |media: &OfferedMedia, codec: &CodecConfig| codec_policy(others, media, codec);
        let mut rng = rand::rng();
        let mut slot_ssrc = |_: &OfferedMedia| (Ssrc(rng.random()), Some(Ssrc(rng.random())));
        let cname = format!("sightline-{}", id.0);
        let answer = sdp::build_answer(
            offer,
            AnswerOptions {
                ice_ufrag: &credentials.ufrag,
                ice_pwd: credentials.pwd(),
                fingerprint: cert.fingerprint(),
                candidates,
                accept: &accept,
                single_codec_for_tracks: true,
                slot_ssrc: &mut slot_ssrc,
                cname: &cname,
                stream_id: &cname,
            },
        )?;
        let mut tracks = Vec::new();
        let mut slots = Vec::new();
        for media in &answer.media {
            if media.receives {
                let handle = TrackId(first_track_handle + tracks.len() as u64);
                let open = match media.kind {
                    crate::ids::MediaKind::Audio => options.audio_gate_open,
                    crate::ids::MediaKind::Video => options.video_gate_open,
                };
                if let Some(track) = Track::new(handle, media, open, config) {
                    tracks.push(track);
                }
            }
            if media.sends {
                if let Some(slot) = Slot::new(media) {
                    slots.push(slot);
                }
            }
        }
        let twcc_in = tracks
            .iter()
            .find_map(|t| t.ext_id(ExtensionUri::TransportCc))
            .map(|id| (id, TwccReceiver::default()));
        let twcc_out = slots
            .iter()
            .find_map(|s| s.ext_id(ExtensionUri::TransportCc))
            .map(|id| (id, TwccSendLog::default()));
        let remote_ufrag = offer.ice_ufrag.clone();
        let fingerprint = offer.fingerprint.clone();
        let participant = Participant {
            person: options.person,
            id,
            local_ufrag: credentials.ufrag.as_bytes().to_vec(),
            ice: IceAgent::new(credentials, remote_ufrag, config.consent_timeout, now),
            dtls: DtlsTransport::new(Arc::clone(cert), fingerprint, now),
            srtp_in: None,
            srtp_out: None,
            state: ConnectionState::Connecting,
            created: now,
            handshake_timeout: config.handshake_timeout,
            tracks,
            slots,
            rtcp_ssrc: Ssrc(rand::rng().random()),
            twcc_in,
            twcc_out,
            next_twcc_seq: 1,
            auth_failures: 0,
            dtls_failed: false,
            next_report: now + Duration::from_millis(500),
            next_feedback: now + Duration::from_millis(20),
        };
        Ok((participant, answer.sdp))
    }

    pub(super) fn local_ufrag(&self) -> &[u8] {
        &self.local_ufrag
    }

    /// Restarts ICE with fresh local credentials for a client that now uses `remote_ufrag`;
    /// returns the new credentials for the answer.
    pub(super) fn restart_ice(&mut self, remote_ufrag: &str) -> IceCredentials {
        let credentials = IceCredentials::generate();
        self.local_ufrag = credentials.ufrag.as_bytes().to_vec();
        self.ice.restart(credentials.clone(), remote_ufrag);
        credentials
    }

    pub(super) fn track_infos(&self) -> Vec<TrackInfo> {
        self.tracks
            .iter()
            .map(|t| TrackInfo {
                id: t.id,
                kind: t.kind,
                mid: t.mid,
            })
            .collect()
    }

    /// Remote addresses that passed an ICE check.
    pub(super) fn checked_addresses(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.ice.validated_addresses()
    }

    /// The address media goes to.
    pub(super) fn remote(&self) -> Option<SocketAddr> {
        self.ice.selected()
    }

    /// Answers a connectivity check. Returns true when `from` is now a checked address.
    pub(super) fn handle_stun(
        &mut self,
        from: SocketAddr,
        datagram: &[u8],
        now: Instant,
        tx: &mut TxQueue,
    ) -> bool {
        let out = tx.buffer();
        match self.ice.handle_binding_request(datagram, from, now, out) {
            Ok(reply) => {
                tx.commit(reply.len, from);
                self.ice.is_valid_source(from)
            }
            Err(e) => {
                tracing::trace!(target: "ice", participant = %self.id, error = %e, "dropped check");
                false
            }
        }
    }

    pub(super) fn handle_dtls(
        &mut self,
        datagram: &[u8],
        now: Instant,
        tx: &mut TxQueue,
        events: &mut std::collections::VecDeque<SessionEvent>,
    ) {
        if let Err(e) = self.dtls.handle_datagram(datagram, now) {
            tracing::debug!(target: "dtls", participant = %self.id, error = %e, "DTLS record refused");
        }
        self.drain_dtls(tx, events);
    }

    fn drain_dtls(
        &mut self,
        tx: &mut TxQueue,
        events: &mut std::collections::VecDeque<SessionEvent>,
    ) {
        let Some(remote) = self.remote() else {
            return;
        };
        while let Some(record) = self.dtls.poll_transmit() {
            tx.push(&record, remote);
        }
        while let Some(event) = self.dtls.poll_event() {
            match event {
                DtlsEvent::Connected {
                    profile,
                    keying_material,
                } => {
                    match SrtpKeys::from_keying_material(profile, &keying_material, true).and_then(
                        |keys| {
                            Ok((
                                SrtpSession::new(profile, &keys.remote)?,
                                SrtpSession::new(profile, &keys.local)?,
                            ))
                        },
                    ) {
                        Ok((inbound, outbound)) => {
                            self.srtp_in = Some(inbound);
                            self.srtp_out = Some(outbound);
                            self.state = ConnectionState::Connected;
                            tracing::debug!(target: "dtls", participant = %self.id, ?profile, "SRTP keyed");
                            events.push_back(SessionEvent::Connected {
                                participant: self.id,
                                remote,
                            });
                        }
                        Err(e) => {
                            tracing::error!(target: "srtp", error = %e, "cannot key SRTP from DTLS");
                        }
                    }
                }
                DtlsEvent::Failed(e) => {
                    tracing::warn!(target: "dtls", participant = %self.id, error = %e, "DTLS failed");
                    self.dtls_failed = true;
                }
            }
        }
    }

    /// Why this participant must be dropped now, if it must.
    pub(super) fn expiry(&self, now: Instant) -> Option<&'static str> {
        if self.dtls_failed {
            return Some("DTLS handshake failed");
        }
        if self.ice.is_expired(now) {
            return Some("consent expired: no authenticated traffic");
        }
        if self.state == ConnectionState::Connecting && now >= self.created + self.handshake_timeout
        {
            return Some("connection not established in time");
        }
        None
    }

    pub(super) fn poll_timeout(&self) -> Instant {
        if self.dtls_failed {
            return self.created; // due at once: the participant is dropped
        }
        let mut next = self.ice.poll_timeout();
        if let Some(t) = self.dtls.poll_timeout() {
            next = next.min(t);
        }
        match self.state {
            ConnectionState::Connecting => next.min(self.created + self.handshake_timeout),
            ConnectionState::Connected => next.min(self.next_report).min(self.next_feedback),
        }
    }

    pub(super) fn handle_timeout(
        &mut self,
        now: Instant,
        tx: &mut TxQueue,
        events: &mut std::collections::VecDeque<SessionEvent>,
    ) {
        self.dtls.handle_timeout(now);
        self.drain_dtls(tx, events);
        if self.state == ConnectionState::Connected && now >= self.next_report {
            self.next_report = now + Duration::from_millis(1000);
            self.send_reports(now, tx);
        }
    }

    /// Authenticates and decrypts an SRTP (or, with `rtcp`, SRTCP) packet in place; returns
    /// the plain length. Authenticated traffic counts as consent (RFC 7675 section 5.1).
    pub(super) fn unprotect(
        &mut self,
        packet: &mut [u8],
        rtcp: bool,
        now: Instant,
    ) -> Option<usize> {
        let srtp = self.srtp_in.as_mut()?;
        let result = if rtcp {
            srtp.unprotect_rtcp(packet)
        } else {
            srtp.unprotect_rtp(packet)
        };
        match result {
            Ok(n) => {
                self.ice.on_authenticated_traffic(now);
                Some(n)
            }
            Err(e) => {
                self.auth_failures += 1;
                tracing::trace!(target: "srtp", participant = %self.id, rtcp, error = %e, "dropped");
                None
            }
        }
    }

    /// Asks every video track's publisher for a keyframe at the next feedback round.
    pub(super) fn request_keyframes_now(&mut self) {
        for track in &mut self.tracks {
            track.keyframe_wanted = true;
        }
    }

    /// Encrypts `buf[..len]` as SRTCP and queues it for the participant.
    pub(super) fn send_rtcp(&mut self, buf: &mut [u8], len: usize, tx: &mut TxQueue) {
        let remote = self.remote();
        let (Some(srtp), Some(remote)) = (self.srtp_out.as_mut(), remote) else {
            return;
        };
        match srtp.protect_rtcp(buf, len) {
            Ok(n) => tx.push(&buf[..n], remote),
            Err(e) => tracing::error!(target: "srtp", error = %e, "cannot protect RTCP"),
        }
    }

    /// Takes the next transport-wide sequence number for a packet to this participant.
    pub(super) fn take_twcc_seq(&mut self, bytes: usize, now: Instant) -> Option<(ExtId, TwccSeq)> {
        let (id, log) = self.twcc_out.as_mut()?;
        let seq = TwccSeq(self.next_twcc_seq);
        self.next_twcc_seq = self.next_twcc_seq.wrapping_add(1);
        log.on_send(seq, bytes, now);
        Some((*id, seq))
    }

    pub(super) fn stats(&self) -> ParticipantStats {
        ParticipantStats {
            id: self.id,
            state: self.state,
            remote: self.remote(),
            tracks: self.tracks.iter().map(|t| t.stats()).collect(),
            slots: self.slots.iter().map(|s| s.stats()).collect(),
            auth_failures: self.auth_failures,
            downlink_bps: self
                .twcc_out
                .as_ref()
                .map(|(_, log)| log.estimate().bitrate_bps),
        }
    }
}

/// The codec policy: a subscriber's slot takes every codec it offers that the forwarder
/// routes; a publisher's track takes a codec that the session's current subscribers of that
/// kind accept (any codec when there are none yet).
fn codec_policy(others: &[Participant], media: &OfferedMedia, codec: &CodecConfig) -> bool {
    if !media.direction.sends() {
        return true;
    }
    let all_accept = |c: &CodecConfig| {
        others
            .iter()
            .flat_map(|p| p.slots.iter())
            .filter(|s| s.kind == media.kind)
            .all(|s| s.accepts(c))
    };
    // When no offered codec suits every subscriber, take the publisher's preference anyway:
    // the slots that cannot take it stay empty and say so.
    if media.codecs.iter().any(all_accept) {
        all_accept(codec)
    } else {
        true
    }
}
