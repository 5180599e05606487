//! Tracks, slots, and forwarding one decrypted packet to every slot its track fills.
//!
//! A subscriber's negotiated send m-lines are its slots. [`Session::reroute`] fills each empty
//! slot with a matching source track of another participant (same kind, a codec the slot
//! accepts), and keeps filled slots as they are, so that a source's stream is not moved
//! around while it flows. When a slot's source changes, the slot's rewriter re-bases the
//! sequence numbers and timestamps so that the subscriber sees one continuous stream.

use std::time::Instant;

use super::participant::ConnectionState;
use super::{Session, SessionConfig, SessionEvent, SlotStats, TrackStats};
use crate::feedback::{KeyframeRequestLimiter, NackGenerator, ReceiveStats, RtxCache};
use crate::ids::{ExtId, ExtSeq, MediaKind, Mid, Pt, RtpTime, SeqNo, Ssrc, TrackId, TwccSeq};
use crate::output::{scratch, TxQueue, MAX_DATAGRAM};
use crate::rtp::rtcp::ReportBlock;
use crate::rtp::{self, ExtMap, RewriteSpec, RtpHeader};
use crate::sdp::{CodecConfig, ExtensionUri, NegotiatedMedia};

/// Slots one track may fill at most (every other participant of a full session).
const MAX_FANOUT: usize = super::MAX_PARTICIPANTS;

/// A track published by a participant: one m-line it sends on.
pub(super) struct Track {
    pub(super) id: TrackId,
    pub(super) kind: MediaKind,
    pub(super) mid: Mid,
    pub(super) codec: CodecConfig,
    pub(super) ssrc: Option<Ssrc>,
    pub(super) rtx_ssrc: Option<Ssrc>,
    extensions: Vec<(ExtId, ExtensionUri)>,
    pub(super) gate_open: bool,
    pub(super) receive: ReceiveStats,
    pub(super) nack: Option<NackGenerator>,
    pub(super) cache: Option<RtxCache>,
    pub(super) keyframe_limiter: KeyframeRequestLimiter,
    pub(super) keyframe_wanted: bool,
    last_report: Option<ReportBlock>,
    /// (participant index, slot index) of every slot this track fills.
    pub(super) subscribers: Vec<(usize, usize)>,
    pub(super) stats: TrackStats,
}

impl Track {
    pub(super) fn new(
        id: TrackId,
        media: &NegotiatedMedia,
        gate_open: bool,
        config: &SessionConfig,
    ) -> Option<Track> {
        let codec = media.codecs.first()?.clone();
        let video = media.kind == MediaKind::Video;
        Some(Track {
            id,
            kind: media.kind,
            mid: media.mid,
            ssrc: media.remote_ssrcs.first().copied(),
            rtx_ssrc: media.remote_rtx_ssrc.map(|(_, rtx)| rtx),
            extensions: media.extensions.clone(),
            gate_open,
            receive: ReceiveStats::new(codec.clock_rate),
            nack: (video && codec.feedback.nack).then(NackGenerator::default),
            cache: video.then(|| {
                RtxCache::new(config.rtx_cache_packets, MAX_DATAGRAM, config.rtx_cache_age)
            }),
            keyframe_limiter: KeyframeRequestLimiter::default(),
            keyframe_wanted: video,
            last_report: None,
            subscribers: Vec::with_capacity(MAX_FANOUT),
            stats: TrackStats {
                id: Some(id),
                kind: Some(media.kind),
                ..TrackStats::default()
            },
            codec,
        })
    }

    pub(super) fn ext_id(&self, uri: ExtensionUri) -> Option<ExtId> {
        self.extensions
            .iter()
            .find(|(_, u)| *u == uri)
            .map(|(id, _)| *id)
    }

    /// A new report block for this track (RFC 3550 section 6.4.2), also kept for the
    /// compound packets that carry feedback until the next one.
    pub(super) fn fresh_report(&mut self, now: Instant) -> Option<ReportBlock> {
        let ssrc = self.ssrc?;
        let v = self.receive.report_block(ssrc, now);
        let block = ReportBlock {
            ssrc,
            fraction_lost: v.fraction_lost,
            cumulative_lost: v.cumulative_lost,
            highest_seq: v.extended_highest_seq,
            jitter: v.jitter,
            last_sr: v.last_sr,
            delay_since_last_sr: v.delay_since_last_sr,
        };
        self.last_report = Some(block);
        Some(block)
    }

    /// The report block to put in front of feedback: the last one sent, or a first one.
    pub(super) fn report_for_feedback(&mut self, now: Instant) -> Option<ReportBlock> {
        match self.last_report {
            Some(block) => Some(block),
            None => self.fresh_report(now),
        }
    }

    pub(super) fn stats(&self) -> TrackStats {
        let counters = self.receive.counters();
        TrackStats {
            gate_open: self.gate_open,
            packets: counters.packets,
            bytes: counters.bytes,
            lost: counters.lost,
            jitter_ms: counters.jitter_ms,
            ..self.stats.clone()
        }
    }
}

/// Room past a packet's end that an in-place rewrite may need: the MID and transport-wide
/// extensions it may add, and the SRTP tag.
const IN_PLACE_ROOM: usize = 64;

/// A decrypted packet on its way to the slots its track fills.
struct Forwarded<'a> {
    /// The source's extended sequence number.
    ext: ExtSeq,
    hdr: &'a RtpHeader,
    /// The receive buffer: the packet, then room to grow in place.
    buf: &'a mut [u8],
    len: usize,
}

impl Forwarded<'_> {
    fn room(&self) -> usize {
        self.buf.len().saturating_sub(self.len)
    }
}

/// Keeps a slot's outgoing sequence numbers and timestamps continuous across source changes.
#[derive(Debug, Clone, Copy, Default)]
struct Rewriter {
    /// Added (wrapping) to the source's sequence numbers.
    seq_offset: u16,
    /// Added (wrapping) to the source's timestamps.
    ts_offset: u32,
    /// The first source packet (extended) of the current source; older ones are dropped.
    start: Option<ExtSeq>,
    last_seq: u16,
    last_ts: u32,
    started: bool,
}

impl Rewriter {
    /// Maps a source packet, re-basing on the first packet of a new source.
    fn map(&mut self, ext: ExtSeq, ts: RtpTime, frame_step: u32) -> Option<(SeqNo, RtpTime)> {
        match self.start {
            None => {
                let (seq_base, ts_base) = if self.started {
                    (
                        self.last_seq.wrapping_add(1),
                        self.last_ts.wrapping_add(frame_step),
                    )
                } else {
                    (rand::random::<u16>() & 0x7fff, rand::random::<u32>())
                };
                self.seq_offset = seq_base.wrapping_sub(ext.wire().0);
                self.ts_offset = ts_base.wrapping_sub(ts.0);
                self.start = Some(ext);
            }
            Some(start) if ext < start => return None,
            Some(_) => {}
        }
        let seq = ext.wire().0.wrapping_add(self.seq_offset);
        let ts = ts.0.wrapping_add(self.ts_offset);
        if !self.started || seq.wrapping_sub(self.last_seq) < 0x8000 {
            self.last_seq = seq;
            self.last_ts = ts;
        }
        self.started = true;
        Some((SeqNo(seq), RtpTime(ts)))
    }

    /// The source sequence number behind an outgoing one, for answering NACKs.
    fn source_seq(&self, out: SeqNo) -> SeqNo {
        SeqNo(out.0.wrapping_sub(self.seq_offset))
    }

    /// Forgets the current source; the next packet re-bases the stream.
    fn detach(&mut self) {
        self.start = None;
    }
}

/// A subscriber's m-line that the router fills with someone else's track.
pub(super) struct Slot {
    pub(super) mid: Mid,
    pub(super) kind: MediaKind,
    codecs: Vec<CodecConfig>,
    extensions: Vec<(ExtId, ExtensionUri)>,
    pub(super) ssrc: Ssrc,
    pub(super) rtx_ssrc: Option<Ssrc>,
    pub(super) source: Option<TrackId>,
    /// Whether the slot's current emptiness was already reported.
    empty_announced: bool,
    /// The payload types and header-extension mapping for the current source.
    pt: Pt,
    rtx_pt: Option<Pt>,
    ext_map: ExtMap,
    mid_ext: Option<ExtId>,
    rewriter: Rewriter,
    next_rtx_seq: u16,
    pub(super) last_rtp_ts: (RtpTime, Option<Instant>),
    pub(super) stats: SlotStats,
}

impl Slot {
    pub(super) fn new(media: &NegotiatedMedia) -> Option<Slot> {
        let (ssrc, rtx_ssrc) = media.local_ssrc?;
        Some(Slot {
            mid: media.mid,
            kind: media.kind,
            codecs: media.codecs.clone(),
            extensions: media.extensions.clone(),
            ssrc,
            rtx_ssrc,
            source: None,
            empty_announced: false,
            pt: Pt(0),
            rtx_pt: None,
            ext_map: ExtMap::new(),
            mid_ext: media
                .extensions
                .iter()
                .find(|(_, u)| *u == ExtensionUri::SdesMid)
                .map(|(id, _)| *id),
            rewriter: Rewriter::default(),
            next_rtx_seq: rand::random::<u16>() & 0x7fff,
            last_rtp_ts: (RtpTime(0), None),
            stats: SlotStats {
                mid: Some(media.mid),
                ..SlotStats::default()
            },
        })
    }

    pub(super) fn ext_id(&self, uri: ExtensionUri) -> Option<ExtId> {
        self.extensions
            .iter()
            .find(|(_, u)| *u == uri)
            .map(|(id, _)| *id)
    }

    /// The slot's negotiated configuration for a source codec, if it takes it.
    fn matching(&self, codec: &CodecConfig) -> Option<&CodecConfig> {
        self.codecs
            .iter()
            .find(|c| c.codec == codec.codec && c.compatible_with(codec))
    }

    pub(super) fn accepts(&self, codec: &CodecConfig) -> bool {
        self.matching(codec).is_some()
    }

    /// Attaches a source track: payload types and extension ids are mapped for it.
    fn attach(&mut self, track: &Track) -> bool {
        let Some((pt, rtx_pt)) = self.matching(&track.codec).map(|c| (c.pt, c.rtx_pt)) else {
            return false;
        };
        self.pt = pt;
        self.rtx_pt = rtx_pt.filter(|_| self.rtx_ssrc.is_some());
        let mut map = ExtMap::new();
        for (src, uri) in &track.extensions {
            if matches!(uri, ExtensionUri::SdesMid | ExtensionUri::TransportCc) {
                continue;
            }
            if let Some(dst) = self.ext_id(*uri) {
                map.set(*src, dst);
            }
        }
        self.ext_map = map;
        self.source = Some(track.id);
        self.empty_announced = false;
        self.rewriter.detach();
        true
    }

    fn detach(&mut self) {
        self.source = None;
        self.rewriter.detach();
    }

    pub(super) fn stats(&self) -> SlotStats {
        SlotStats {
            source: self.source,
            ..self.stats.clone()
        }
    }

    fn frame_step(&self) -> u32 {
        match self.kind {
            MediaKind::Audio => 960,
            MediaKind::Video => 3000,
        }
    }
}

impl Session {
    /// Fills empty slots with matching tracks and rebuilds every track's subscriber list.
    pub(super) fn reroute(&mut self) {
        let mut changes = Vec::new();
        for (pi, p) in self.participants.iter().enumerate() {
            for (si, slot) in p.slots.iter().enumerate() {
                let current = slot.source.and_then(|id| self.find_track(id));
                let keep = current.is_some_and(|(tp, _)| tp != pi);
                if keep {
                    continue;
                }
                changes.push((pi, si, self.pick_source(pi, si)));
            }
        }
        for (pi, si, choice) in changes {
            self.apply_slot_choice(pi, si, choice);
        }
        self.rebuild_subscriber_lists();
    }

    fn pick_source(&self, pi: usize, si: usize) -> Result<(usize, usize), String> {
        let slot = &self.participants[pi].slots[si];
        let taken = |tp: usize, ti: usize| {
            let id = self.participants[tp].tracks[ti].id;
            self.participants[pi]
                .slots
                .iter()
                .any(|s| s.source == Some(id))
        };
        let person = self.participants[pi].person;
        let mut kind_seen = false;
        for (tp, p) in self.participants.iter().enumerate() {
            if tp == pi || (person.is_some() && p.person == person) {
                continue;
            }
            for (ti, t) in p.tracks.iter().enumerate() {
                if t.kind != slot.kind || taken(tp, ti) {
                    continue;
                }
                kind_seen = true;
                if slot.accepts(&t.codec) {
                    return Ok((tp, ti));
                }
            }
        }
        Err(if kind_seen {
            "no published track has a codec this slot accepts".to_string()
        } else {
            "no matching track is published yet".to_string()
        })
    }

    fn apply_slot_choice(&mut self, pi: usize, si: usize, choice: Result<(usize, usize), String>) {
        let participant = self.participants[pi].id;
        let mid = self.participants[pi].slots[si].mid;
        match choice {
            Ok((tp, ti)) => {
                let track = &mut self.participants[tp].tracks[ti];
                track.keyframe_wanted = true;
                let track_id = track.id;
                if attach_across(&mut self.participants, (pi, si), (tp, ti)) {
                    self.events.push_back(SessionEvent::SlotFilled {
                        participant,
                        mid,
                        track: track_id,
                    });
                }
            }
            Err(reason) => {
                let slot = &mut self.participants[pi].slots[si];
                let was_filled = slot.source.is_some();
                slot.detach();
                // Said once when a slot empties, not again at every later join or leave.
                if was_filled || !slot.empty_announced {
                    slot.empty_announced = true;
                    self.events.push_back(SessionEvent::SlotEmpty {
                        participant,
                        mid,
                        reason,
                    });
                }
            }
        }
    }

    fn find_track(&self, id: TrackId) -> Option<(usize, usize)> {
        self.participants
            .iter()
            .enumerate()
            .find_map(|(pi, p)| p.tracks.iter().position(|t| t.id == id).map(|ti| (pi, ti)))
    }

    fn rebuild_subscriber_lists(&mut self) {
        for p in &mut self.participants {
            for t in &mut p.tracks {
                t.subscribers.clear();
            }
        }
        let mut links = Vec::new();
        for (pi, p) in self.participants.iter().enumerate() {
            for (si, slot) in p.slots.iter().enumerate() {
                if let Some((tp, ti)) = slot.source.and_then(|id| self.find_track(id)) {
                    links.push((tp, ti, pi, si));
                }
            }
        }
        for (tp, ti, pi, si) in links {
            self.participants[tp].tracks[ti].subscribers.push((pi, si));
        }
    }

    /// The SRTP packet path; see the module documentation of [`super`].
    pub(super) fn handle_rtp(
        &mut self,
        pi: usize,
        buf: &mut [u8],
        len: usize,
        now: Instant,
        tx: &mut TxQueue,
    ) {
        let Some(plain_len) = self.participants[pi].unprotect(&mut buf[..len], false, now) else {
            return;
        };
        let Ok(mut hdr) = RtpHeader::parse(&buf[..plain_len]) else {
            tracing::trace!(target: "rtp", "dropped malformed RTP after decryption");
            return;
        };
        let Some(ti) = self.identify_track(pi, &hdr, &buf[..plain_len]) else {
            tracing::trace!(target: "rtp", ssrc = hdr.ssrc.0, "dropped RTP of an unknown SSRC");
            return;
        };
        let mut plain_len = plain_len;
        if Some(hdr.ssrc) == self.participants[pi].tracks[ti].rtx_ssrc {
            let track = &self.participants[pi].tracks[ti];
            let (Some(primary), pt) = (track.ssrc, track.codec.pt) else {
                return;
            };
            match unwrap_rtx(buf, plain_len, &hdr, primary, pt) {
                Some((n, h)) => {
                    plain_len = n;
                    hdr = h;
                }
                None => return,
            }
        }
        self.record_twcc_arrival(pi, &hdr, &buf[..plain_len], now);
        let Some(ext) = self.on_track_packet(pi, ti, &hdr, &buf[..plain_len], now) else {
            return;
        };
        let packet = Forwarded {
            ext,
            hdr: &hdr,
            buf,
            len: plain_len,
        };
        self.fan_out(pi, ti, packet, now, tx);
    }

    /// Finds the track a packet belongs to: by SSRC, else by the MID extension, else by a
    /// payload type that only one track uses; the SSRC is then remembered.
    fn identify_track(&mut self, pi: usize, hdr: &RtpHeader, packet: &[u8]) -> Option<usize> {
        let p = &mut self.participants[pi];
        if let Some(ti) = p
            .tracks
            .iter()
            .position(|t| t.ssrc == Some(hdr.ssrc) || t.rtx_ssrc == Some(hdr.ssrc))
        {
            return Some(ti);
        }
        let by_mid = p.tracks.iter().position(|t| {
            t.ext_id(ExtensionUri::SdesMid)
                .and_then(|id| hdr.extension(packet, id))
                .is_some_and(|v| v == t.mid.as_bytes())
        });
        let ti = by_mid.or_else(|| {
            let mut matching = p
                .tracks
                .iter()
                .enumerate()
                .filter(|(_, t)| t.codec.pt == hdr.pt || t.codec.rtx_pt == Some(hdr.pt));
            let first = matching.next().map(|(i, _)| i);
            first.filter(|_| matching.next().is_none())
        })?;
        let track = &mut p.tracks[ti];
        if track.codec.rtx_pt == Some(hdr.pt) {
            track.rtx_ssrc.get_or_insert(hdr.ssrc);
        } else if track.ssrc.is_none() {
            track.ssrc = Some(hdr.ssrc);
        } else {
            return None;
        }
        Some(ti)
    }

    fn record_twcc_arrival(&mut self, pi: usize, hdr: &RtpHeader, packet: &[u8], now: Instant) {
        let p = &mut self.participants[pi];
        let Some((id, receiver)) = p.twcc_in.as_mut() else {
            return;
        };
        if let Some(&[a, b]) = hdr.extension(packet, *id) {
            receiver.on_packet(TwccSeq(u16::from_be_bytes([a, b])), now);
        }
    }

    /// Updates the track's receive state; returns the extended sequence number, or None for a
    /// packet that must not be forwarded (a duplicate, or the gate is closed).
    fn on_track_packet(
        &mut self,
        pi: usize,
        ti: usize,
        hdr: &RtpHeader,
        packet: &[u8],
        now: Instant,
    ) -> Option<ExtSeq> {
        let track = &mut self.participants[pi].tracks[ti];
        let ext = track
            .receive
            .on_packet(hdr.seq, hdr.ts, now, hdr.payload_len)?;
        if let Some(nack) = track.nack.as_mut() {
            nack.on_packet(ext, now);
        }
        if rtp::codec::is_keyframe(track.codec.codec, hdr.payload(packet)) {
            track.stats.keyframes += 1;
            track.keyframe_limiter.on_keyframe(now);
            // A keyframe that arrives on its own answers any request not yet sent.
            track.keyframe_wanted = false;
        }
        if !track.gate_open {
            track.stats.gated += 1;
            return None;
        }
        // Only what passed the gate is cached: a NACK must not fetch gated media.
        if let Some(cache) = track.cache.as_mut() {
            cache.insert(ext, packet, now);
        }
        Some(ext)
    }

    fn fan_out(
        &mut self,
        pi: usize,
        ti: usize,
        mut packet: Forwarded<'_>,
        now: Instant,
        tx: &mut TxQueue,
    ) {
        let track = &self.participants[pi].tracks[ti];
        let mut targets = [(0usize, 0usize); MAX_FANOUT];
        let count = track.subscribers.len().min(MAX_FANOUT);
        targets[..count].copy_from_slice(&track.subscribers[..count]);
        let ready = |s: &Session, (sp, _): (usize, usize)| {
            s.participants[sp].state == ConnectionState::Connected
        };
        let ready_count = targets[..count].iter().filter(|t| ready(self, **t)).count();
        let mut sent = 0;
        for &(sp, si) in &targets[..count] {
            if !ready(self, (sp, si)) {
                continue;
            }
            sent += 1;
            // The last subscriber gets the received buffer itself when it has room to grow.
            let in_place = sent == ready_count && packet.room() >= IN_PLACE_ROOM;
            self.send_to_slot((sp, si), &mut packet, in_place, now, tx);
        }
    }

    fn send_to_slot(
        &mut self,
        (sp, si): (usize, usize),
        packet: &mut Forwarded<'_>,
        in_place: bool,
        now: Instant,
        tx: &mut TxQueue,
    ) {
        let subscriber = &mut self.participants[sp];
        let Some(remote) = subscriber.remote() else {
            return;
        };
        let hdr = packet.hdr;
        let twcc = subscriber.take_twcc_seq(packet.len, now);
        let slot = &mut subscriber.slots[si];
        let step = slot.frame_step();
        let Some((seq, ts)) = slot.rewriter.map(packet.ext, hdr.ts, step) else {
            return;
        };
        let spec = RewriteSpec {
            pt: slot.pt,
            seq,
            ts,
            ssrc: slot.ssrc,
            marker: hdr.marker,
            ext_map: &slot.ext_map,
            mid: slot.mid_ext.map(|id| (id, slot.mid)),
            twcc,
        };
        let Some(srtp) = subscriber.srtp_out.as_mut() else {
            return;
        };
        let written = if in_place {
            let buf = &mut *packet.buf;
            rtp::rewrite_in_place(buf, packet.len, hdr, &spec)
                .ok()
                .and_then(|n| srtp.protect_rtp(buf, n).ok())
                .map(|n| tx.commit_in_place(n, remote))
        } else {
            let out = tx.buffer();
            rtp::rewrite(&packet.buf[..packet.len], hdr, &spec, out)
                .ok()
                .and_then(|n| srtp.protect_rtp(out, n).ok())
                .map(|n| tx.commit(n, remote))
        };
        let slot = &mut self.participants[sp].slots[si];
        if written.is_some() {
            slot.last_rtp_ts = (ts, Some(now));
            slot.stats.packets += 1;
            slot.stats.bytes += hdr.payload_len as u64;
        } else {
            tracing::trace!(target: "rtp", "could not rewrite a packet for a subscriber");
        }
    }

    /// Answers a subscriber's NACK from the source track's retransmission cache.
    pub(super) fn retransmit(
        &mut self,
        sp: usize,
        si: usize,
        lost: SeqNo,
        now: Instant,
        tx: &mut TxQueue,
    ) {
        let Some(source) = self.participants[sp].slots[si].source else {
            return;
        };
        let Some((tp, ti)) = self.find_track(source) else {
            return;
        };
        let slot = &self.participants[sp].slots[si];
        let src_seq = slot.rewriter.source_seq(lost);
        let track = &self.participants[tp].tracks[ti];
        let (Some(cache), Some(highest)) = (track.cache.as_ref(), track.receive.highest()) else {
            return;
        };
        let ext = ExtSeq::extend(src_seq, highest);
        // A NACK for a packet of an earlier source must not fetch one of this source's.
        if slot.rewriter.start.is_none_or(|start| ext < start) {
            return;
        }
        let Some(packet) = cache.get(ext, now) else {
            return;
        };
        let mut copy = scratch();
        let n = packet.len().min(copy.len());
        copy[..n].copy_from_slice(&packet[..n]);
        let Ok(hdr) = RtpHeader::parse(&copy[..n]) else {
            return;
        };
        self.send_retransmission((sp, si), lost, (&hdr, &copy[..n]), now, tx);
    }

    /// Sends a cached packet again as sequence number `lost` of the slot, over RTX when the
    /// subscriber negotiated it (RFC 4588).
    fn send_retransmission(
        &mut self,
        (sp, si): (usize, usize),
        lost: SeqNo,
        (hdr, packet): (&RtpHeader, &[u8]),
        now: Instant,
        tx: &mut TxQueue,
    ) {
        let subscriber = &mut self.participants[sp];
        let Some(remote) = subscriber.remote() else {
            return;
        };
        let twcc = subscriber.take_twcc_seq(packet.len(), now);
        let slot = &mut subscriber.slots[si];
        let ts = RtpTime(hdr.ts.0.wrapping_add(slot.rewriter.ts_offset));
        let mut spec = RewriteSpec {
            pt: slot.pt,
            seq: lost,
            ts,
            ssrc: slot.ssrc,
            marker: hdr.marker,
            ext_map: &slot.ext_map,
            mid: slot.mid_ext.map(|id| (id, slot.mid)),
            twcc,
        };
        let out = tx.buffer();
        let written = match (slot.rtx_ssrc, slot.rtx_pt) {
            (Some(rtx_ssrc), Some(rtx_pt)) => {
                spec.ssrc = rtx_ssrc;
                spec.pt = rtx_pt;
                spec.seq = SeqNo(slot.next_rtx_seq);
                slot.next_rtx_seq = slot.next_rtx_seq.wrapping_add(1);
                rtp::write_rtx(packet, hdr, &spec, lost, out)
            }
            _ => rtp::rewrite(packet, hdr, &spec, out),
        };
        let Some(srtp) = subscriber.srtp_out.as_mut() else {
            return;
        };
        if let Some(n) = written.ok().and_then(|n| srtp.protect_rtp(out, n).ok()) {
            tx.commit(n, remote);
            subscriber.slots[si].stats.retransmitted += 1;
        }
    }
}

/// Attaches track `(tp, ti)` to slot `(pi, si)`; the two belong to different participants.
fn attach_across(
    participants: &mut [super::participant::Participant],
    (pi, si): (usize, usize),
    (tp, ti): (usize, usize),
) -> bool {
    if pi == tp {
        return false;
    }
    let (a, b) = if pi < tp {
        let (left, right) = participants.split_at_mut(tp);
        (&mut left[pi], &right[0])
    } else {
        let (left, right) = participants.split_at_mut(pi);
        (&mut right[0], &left[tp])
    };
    a.slots[si].attach(&b.tracks[ti])
}

/// Turns an RTX packet (RFC 4588 section 4) back into the original packet in place: the
/// original sequence number comes out of the payload, SSRC and payload type are the primary's.
fn unwrap_rtx(
    buf: &mut [u8],
    len: usize,
    hdr: &RtpHeader,
    primary: Ssrc,
    pt: Pt,
) -> Option<(usize, RtpHeader)> {
    let (osn, payload_start) = rtp::parse_rtx_osn(&buf[..len], hdr).ok()?;
    let payload_end = hdr.header_len + hdr.payload_len;
    if payload_start > payload_end {
        return None;
    }
    buf.copy_within(payload_start..payload_end, hdr.header_len);
    let new_len = payload_end - 2;
    // Padding is gone with the move; restoring the header also clears its padding bit.
    rtp::restore_original(&mut buf[..new_len], pt, osn, primary).ok()?;
    let hdr = RtpHeader::parse(&buf[..new_len]).ok()?;
    Some((new_len, hdr))
}
