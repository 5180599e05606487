//! RTCP: what the forwarder answers and what it sends on its own (RFC 3550, RFC 4585).
//!
//! - From subscribers: NACKs are answered from the source track's retransmission cache,
//!   PLI and FIR become one keyframe request to the publisher per 500 ms, receiver reports
//!   give the slot's round-trip time and loss, transport-wide feedback feeds the downlink
//!   estimate.
//! - From publishers: sender reports are remembered for the receiver reports' LSR/DLSR.
//! - On timers: receiver reports to publishers, sender reports to subscribers, NACKs for
//!   uplink loss, keyframe requests, and transport-wide feedback so that the publisher's
//!   bandwidth estimate ramps up.
//!
//! Everything we send is a compound packet that starts with a report (RFC 3550 section 6.1).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::participant::{ConnectionState, Participant};
use super::Session;
use crate::feedback::{parse_twcc, rtt_from_report};
use crate::ids::{MediaKind, SeqNo, Ssrc};
use crate::output::{scratch, TxQueue};
use crate::rtp::rtcp::{self as wire, ReportBlock, RtcpPacket};

/// The most sequence numbers one NACK round asks for.
const MAX_NACKS: usize = 64;

impl Session {
    /// Decrypts and acts on an SRTCP compound packet from `from`.
    pub(super) fn handle_rtcp(
        &mut self,
        pi: usize,
        buf: &mut [u8],
        len: usize,
        now: Instant,
        tx: &mut TxQueue,
    ) {
        let Some(plain) = self.participants[pi].unprotect(&mut buf[..len], true, now) else {
            return;
        };
        for packet in wire::compound(&buf[..plain]) {
            let Ok(packet) = packet else {
                tracing::trace!(target: "rtcp", "stopped at a malformed RTCP packet");
                break;
            };
            self.handle_rtcp_packet(pi, packet, now, tx);
        }
    }

    fn handle_rtcp_packet(
        &mut self,
        pi: usize,
        packet: RtcpPacket<'_>,
        now: Instant,
        tx: &mut TxQueue,
    ) {
        match packet {
            RtcpPacket::SenderReport(sr) => {
                let p = &mut self.participants[pi];
                if let Some(track) = p.tracks.iter_mut().find(|t| t.ssrc == Some(sr.ssrc)) {
                    track.receive.on_sender_report(sr.ntp, now);
                }
                self.on_report_blocks(pi, sr.blocks, now);
            }
            RtcpPacket::ReceiverReport(rr) => self.on_report_blocks(pi, rr.blocks, now),
            RtcpPacket::Nack { media, fci, .. } => {
                let Some(si) = self.slot_by_ssrc(pi, media) else {
                    return;
                };
                let mut lost = [SeqNo(0); MAX_NACKS];
                let mut count = 0;
                for seq in fci.lost() {
                    if count < MAX_NACKS {
                        lost[count] = seq;
                        count += 1;
                    }
                }
                self.participants[pi].slots[si].stats.nacks_received += 1;
                for seq in &lost[..count] {
                    self.retransmit(pi, si, *seq, now, tx);
                }
            }
            RtcpPacket::Pli { media, .. } => self.on_keyframe_request(pi, media),
            RtcpPacket::Fir { mut entries, .. } => {
                if let Some(entry) = entries.next() {
                    self.on_keyframe_request(pi, entry.ssrc);
                }
            }
            RtcpPacket::TransportCc { fci, .. } => {
                let p = &mut self.participants[pi];
                if let (Some((_, log)), Ok(feedback)) = (p.twcc_out.as_mut(), parse_twcc(fci)) {
                    log.on_feedback(&feedback, now);
                }
            }
            _ => {}
        }
    }

    fn on_report_blocks(
        &mut self,
        pi: usize,
        blocks: impl Iterator<Item = ReportBlock>,
        now: Instant,
    ) {
        let now_ntp = ntp_time(now);
        let p = &mut self.participants[pi];
        for block in blocks {
            let Some(slot) = p.slots.iter_mut().find(|s| s.ssrc == block.ssrc) else {
                continue;
            };
            slot.stats.loss_fraction = f64::from(block.fraction_lost) / 256.0;
            if let Some(rtt) = rtt_from_report(block.last_sr, block.delay_since_last_sr, now_ntp) {
                slot.stats.rtt_ms = Some(rtt.as_secs_f64() * 1000.0);
            }
        }
    }

    fn slot_by_ssrc(&self, pi: usize, ssrc: Ssrc) -> Option<usize> {
        self.participants[pi]
            .slots
            .iter()
            .position(|s| s.ssrc == ssrc || s.rtx_ssrc == Some(ssrc))
    }

    /// A subscriber asked for a keyframe on one of its slots: flag the source track.
    fn on_keyframe_request(&mut self, pi: usize, media: Ssrc) {
        let Some(si) = self.slot_by_ssrc(pi, media) else {
            return;
        };
        let slot = &mut self.participants[pi].slots[si];
        slot.stats.plis_received += 1;
        let Some(source) = slot.source else {
            return;
        };
        for p in &mut self.participants {
            if let Some(track) = p.tracks.iter_mut().find(|t| t.id == source) {
                track.keyframe_wanted = true;
            }
        }
    }

    /// NACKs, keyframe requests and transport-wide feedback to a publisher, when due.
    pub(super) fn send_publisher_feedback(&mut self, pi: usize, now: Instant, tx: &mut TxQueue) {
        let p = &mut self.participants[pi];
        if p.state != ConnectionState::Connected || now < p.next_feedback {
            return;
        }
        p.next_feedback = now + Duration::from_millis(20);
        let mut scratch = scratch();
        let sender = p.rtcp_ssrc;
        for ti in 0..p.tracks.len() {
            // Every compound starts with a report (RFC 3550 section 6.1); one that names the
            // track also lets receivers that route RTCP by its first SSRC find the track.
            let Some(block) = p.tracks[ti].report_for_feedback(now) else {
                continue;
            };
            let Ok(head) = wire::write_receiver_report(&mut scratch, sender, &[block]) else {
                return;
            };
            let len = head + feedback_for_track(p, ti, sender, now, &mut scratch[head..]);
            if len > head {
                p.send_rtcp(&mut scratch, len, tx);
            }
        }
        let block = p.tracks.iter_mut().find_map(|t| t.report_for_feedback(now));
        if let (Some((_, receiver)), Some(block)) = (p.twcc_in.as_mut(), block) {
            let Ok(head) = wire::write_receiver_report(&mut scratch, sender, &[block]) else {
                return;
            };
            if let Some(n) = receiver.poll_feedback(now, sender, block.ssrc, &mut scratch[head..]) {
                p.send_rtcp(&mut scratch, head + n, tx);
            }
        }
    }
}

/// Writes the NACK and PLI this track needs now into `dst`; returns the bytes written.
fn feedback_for_track(
    p: &mut Participant,
    ti: usize,
    sender: Ssrc,
    now: Instant,
    dst: &mut [u8],
) -> usize {
    let track = &mut p.tracks[ti];
    let Some(media) = track.ssrc else {
        return 0;
    };
    let mut len = 0;
    if let Some(nack) = track.nack.as_mut() {
        let mut lost = [SeqNo(0); MAX_NACKS];
        let count = nack.poll(now, &mut lost);
        if count > 0 {
            if let Ok(n) = wire::write_nack(&mut dst[len..], sender, media, &lost[..count]) {
                len += n;
                track.stats.nacks_sent += 1;
            }
        }
    }
    // PLI asks a video encoder for a keyframe (RFC 4585 section 6.3.1); audio has none.
    let video = track.kind == MediaKind::Video;
    if video && track.keyframe_wanted && track.keyframe_limiter.should_send(now) {
        if let Ok(n) = wire::write_pli(&mut dst[len..], sender, media) {
            len += n;
            track.keyframe_wanted = false;
            track.stats.plis_sent += 1;
        }
    }
    len
}

impl Participant {
    /// Receiver reports for the tracks it publishes and sender reports for its slots.
    pub(super) fn send_reports(&mut self, now: Instant, tx: &mut TxQueue) {
        let mut scratch = scratch();
        let mut blocks = [ReportBlock::default(); 8];
        let mut count = 0;
        for track in self.tracks.iter_mut().take(blocks.len()) {
            if let Some(block) = track.fresh_report(now) {
                blocks[count] = block;
                count += 1;
            }
        }
        let ntp = ntp_time(now);
        let mut len = 0;
        for slot in self.slots.iter().filter(|s| s.stats.packets > 0) {
            let rtp_ts = extrapolate(slot.last_rtp_ts, now, slot.kind);
            let Ok(n) = wire::write_sender_report(
                &mut scratch[len..],
                slot.ssrc,
                ntp,
                rtp_ts,
                // The sender report's counts are 32 bits and wrap (RFC 3550 section 6.4.1).
                slot.stats.packets as u32,
                slot.stats.bytes as u32,
                &[],
            ) else {
                break;
            };
            len += n;
        }
        if let Ok(n) =
            wire::write_receiver_report(&mut scratch[len..], self.rtcp_ssrc, &blocks[..count])
        {
            len += n;
        }
        if let Ok(n) = wire::write_sdes_cname(&mut scratch[len..], self.rtcp_ssrc, "sightline") {
            len += n;
        }
        if len > 0 {
            self.send_rtcp(&mut scratch, len, tx);
        }
    }
}

/// The RTP timestamp a slot would carry now, from the last packet sent and the clock rate.
fn extrapolate(
    last: (crate::ids::RtpTime, Option<Instant>),
    now: Instant,
    kind: crate::ids::MediaKind,
) -> crate::ids::RtpTime {
    let rate: u64 = match kind {
        crate::ids::MediaKind::Audio => 48_000,
        crate::ids::MediaKind::Video => 90_000,
    };
    let Some(at) = last.1 else {
        return last.0;
    };
    let elapsed = now.saturating_duration_since(at);
    let ticks = (elapsed.as_micros() as u64).saturating_mul(rate) / 1_000_000;
    crate::ids::RtpTime(last.0 .0.wrapping_add(ticks as u32))
}

/// The 64-bit NTP timestamp (RFC 5905) of `now`, from the wall clock read once per process
/// and the monotonic clock after that, so that reports never jump backwards.
pub(crate) fn ntp_time(now: Instant) -> u64 {
    use std::sync::OnceLock;
    static BASE: OnceLock<(Instant, Duration)> = OnceLock::new();
    let (base_instant, base_wall) = *BASE.get_or_init(|| {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        (Instant::now(), wall)
    });
    let since_unix = base_wall + now.saturating_duration_since(base_instant);
    const NTP_UNIX_OFFSET: u64 = 2_208_988_800;
    let secs = since_unix.as_secs() + NTP_UNIX_OFFSET;
    let frac = (u64::from(since_unix.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}
