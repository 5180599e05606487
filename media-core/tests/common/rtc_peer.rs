//! A synchronous WebRTC test peer built on the webrtc-rs sans-IO `rtc` crate.
//!
//! Its ICE, DTLS (rtc-dtls) and SRTP (rtc-srtp) share no code with media-core, so a
//! connection between it and the forwarder checks the forwarder against an independent
//! implementation. The peer owns one UDP socket on 127.0.0.1 and is driven from the test
//! thread: [`RtcPeer::poll`] does one non-blocking round of I/O and timers, and
//! [`RtcPeer::run_until`] / [`run_all_until`] repeat it until a condition holds or time
//! runs out. Calling convention: build, negotiate (`create_offer` then `apply_answer`, or
//! `create_answer`), then drive; sending and the accessors work between drives.
//!
//! Media it sends are [`payload_for`](super::payload::payload_for) stamps, one RTP packet per
//! frame, with the MID header extension (RFC 8843) when it was negotiated.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

use media_core::ids::{Codec, MediaKind, Pt, SeqNo, Ssrc};
use media_core::srtp::SrtpProfile;
use rtc::peer_connection::event::RTCPeerConnectionEvent;
use rtc::peer_connection::message::{RTCMessage, TaggedRTCMessage};
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::peer_connection::RTCPeerConnection;
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::{
    RTCRtpReceiverId, RTCRtpSenderId, RTCRtpTransceiverDirection, RTCRtpTransceiverInit,
};
use rtc::sansio::Protocol;
use rtc::sdp::extmap::SDES_MID_URI;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use rtc::statistics::StatsSelector;

use super::payload::{check_payload, payload_for};
use super::rtc_setup::{
    add_host_candidate, build_connection, media_kind, mime_of, new_track, rtc_kind,
};

/// Largest datagram the peer reads; anything longer is truncated and then fails to parse.
const RECV_BUFFER: usize = 2048;
/// How long a round of [`run_all_until`] sleeps when no peer had anything to do.
const IDLE_SLEEP: Duration = Duration::from_millis(1);
/// Audio frame spacing while streaming: 20 ms of Opus.
const AUDIO_FRAME: Duration = Duration::from_millis(20);
/// Video frame spacing while streaming: about 30 frames per second.
const VIDEO_FRAME: Duration = Duration::from_millis(33);

/// What a test peer sends and receives and how it negotiates.
#[derive(Debug, Clone)]
pub struct PeerOptions {
    /// Offer (or answer with) an audio track that sends.
    pub send_audio: bool,
    /// Offer (or answer with) a video track that sends.
    pub send_video: bool,
    /// Receive audio (offer a receiving audio m-line).
    pub recv_audio: bool,
    /// Receive video (offer a receiving video m-line).
    pub recv_video: bool,
    /// SRTP profiles the DTLS handshake offers, in preference order; empty means rtc's
    /// own list (AES-128-GCM, AES-256-GCM, AES-CM-SHA1-80, AES-CM-SHA1-32).
    pub srtp_profiles: Vec<SrtpProfile>,
    /// The only video codec registered (so the only one offered). Opus is the audio codec.
    pub video_codec: Codec,
    /// When answering, take the DTLS client role (`a=setup:active`); otherwise answer
    /// `a=setup:passive`. An offer is always `a=setup:actpass`, as rtc allows nothing else.
    pub dtls_role_client: bool,
    /// While streaming, send a video keyframe every this many frames; 0 sends one only as
    /// the first frame and after each PLI or FIR, as browsers do.
    pub keyframe_every: u32,
}

impl Default for PeerOptions {
    fn default() -> Self {
        PeerOptions {
            send_audio: false,
            send_video: false,
            recv_audio: false,
            recv_video: false,
            srtp_profiles: vec![SrtpProfile::AeadAes128Gcm, SrtpProfile::Aes128CmSha1_80],
            video_codec: Codec::Vp8,
            dtls_role_client: false,
            keyframe_every: 0,
        }
    }
}

impl PeerOptions {
    /// A publisher: sends audio and video, receives nothing.
    pub fn sender() -> Self {
        PeerOptions {
            send_audio: true,
            send_video: true,
            ..Default::default()
        }
    }

    /// A viewer: receives audio and video, sends nothing.
    pub fn receiver() -> Self {
        PeerOptions {
            recv_audio: true,
            recv_video: true,
            ..Default::default()
        }
    }

    /// The same options restricted to one SRTP profile.
    pub fn with_profile(mut self, profile: SrtpProfile) -> Self {
        self.srtp_profiles = vec![profile];
        self
    }
}

/// One RTP packet as the peer's application layer received it, after SRTP.
#[derive(Debug, Clone)]
pub struct ReceivedPacket {
    /// The kind of the receiving track.
    pub kind: MediaKind,
    /// RTP SSRC.
    pub ssrc: Ssrc,
    /// RTP sequence number.
    pub seq: SeqNo,
    /// RTP payload type.
    pub pt: Pt,
    /// RTP timestamp.
    pub timestamp: u32,
    /// RTP marker bit.
    pub marker: bool,
    /// The payload, header extensions and padding removed.
    pub payload: Vec<u8>,
    /// When the datagram was read from the socket.
    pub at: Instant,
}

/// A sending track and its RTP state.
struct Outbound {
    kind: MediaKind,
    codec: Codec,
    sender: RTCRtpSenderId,
    ssrc: u32,
    seq: u16,
    timestamp: u32,
    next_index: u32,
    keyframe_wanted: bool,
    next_due: Option<Instant>,
    /// Payload type and MID extension, read from the sender once negotiation is done.
    negotiated: Option<(u8, Option<(u8, String)>)>,
}

/// A WebRTC peer on rtc 0.21 with its own UDP socket on 127.0.0.1.
pub struct RtcPeer {
    pc: RTCPeerConnection,
    socket: UdpSocket,
    local_addr: SocketAddr,
    opts: PeerOptions,
    state: RTCPeerConnectionState,
    outbound: Vec<Outbound>,
    track_kinds: HashMap<String, MediaKind>,
    received: Vec<ReceivedPacket>,
    rtcp_packets: usize,
    keyframe_requests: usize,
    dtls_error: Option<String>,
    errors: Vec<String>,
    ever_connected: bool,
    streaming: bool,
    buf: Vec<u8>,
}

impl RtcPeer {
    /// Builds a peer with a fresh ECDSA certificate, binds 127.0.0.1:0 and registers that
    /// address as its only ICE candidate (no STUN or TURN servers).
    pub fn new(opts: PeerOptions) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        socket.set_nonblocking(true).expect("non-blocking socket");
        let local_addr = socket.local_addr().expect("socket address");
        let mut pc = build_connection(&opts);
        add_host_candidate(&mut pc, local_addr);
        RtcPeer {
            pc,
            socket,
            local_addr,
            opts,
            state: RTCPeerConnectionState::New,
            outbound: Vec::new(),
            track_kinds: HashMap::new(),
            received: Vec::new(),
            rtcp_packets: 0,
            keyframe_requests: 0,
            dtls_error: None,
            errors: Vec::new(),
            ever_connected: false,
            streaming: false,
            buf: vec![0; RECV_BUFFER],
        }
    }

    /// The peer's socket address, which is also its ICE host candidate.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Adds the transceivers the options ask for and returns the offer SDP, which already
    /// carries the host candidate and `a=end-of-candidates`.
    pub fn create_offer(&mut self) -> String {
        self.add_offer_transceivers();
        let offer = self.pc.create_offer(None).expect("create offer");
        self.pc
            .set_local_description(Instant::now(), offer)
            .expect("set local offer");
        self.local_sdp()
    }

    /// Applies the remote answer to this peer's offer.
    pub fn apply_answer(&mut self, sdp: &str) -> Result<(), String> {
        let answer = RTCSessionDescription::answer(sdp.to_owned()).map_err(|e| e.to_string())?;
        self.pc
            .set_remote_description(Instant::now(), answer)
            .map_err(|e| e.to_string())
    }

    /// Answers a remote offer (for peer-to-peer tests; the forwarder is always the answerer).
    ///
    /// The sending tracks attach to the offer's m-lines of their kind; the offer's other
    /// m-lines are answered receive-only.
    pub fn create_answer(&mut self, offer: &str) -> Result<String, String> {
        let offer = RTCSessionDescription::offer(offer.to_owned()).map_err(|e| e.to_string())?;
        self.pc
            .set_remote_description(Instant::now(), offer)
            .map_err(|e| e.to_string())?;
        for kind in self.send_kinds() {
            let (track, ssrc) = new_track(kind, self.codec_of(kind));
            let sender = self.pc.add_track(track).map_err(|e| e.to_string())?;
            self.outbound
                .push(Outbound::new(kind, self.codec_of(kind), sender, ssrc));
        }
        let answer = self.pc.create_answer(None).map_err(|e| e.to_string())?;
        self.pc
            .set_local_description(Instant::now(), answer)
            .map_err(|e| e.to_string())?;
        Ok(self.local_sdp())
    }

    /// Drives I/O and timers until `pred` holds or `timeout` passes; returns whether `pred`
    /// held. Other peers are not driven meanwhile: use [`run_all_until`] for several.
    pub fn run_until(&mut self, timeout: Duration, mut pred: impl FnMut(&RtcPeer) -> bool) -> bool {
        run_all_until(&mut [self], timeout, |peers| pred(peers[0]))
    }

    /// One non-blocking round: sends what rtc queued, reads every datagram waiting on the
    /// socket, fires due timers, sends due frames while streaming, and collects events and
    /// media. Returns whether any datagram was read.
    pub fn poll(&mut self) -> bool {
        self.flush();
        let read_any = self.read_socket();
        self.fire_timers();
        self.drain_events();
        self.drain_messages();
        self.send_due_frames();
        self.flush();
        read_any
    }

    /// Whether ICE and DTLS are up (the connection state is `connected`).
    pub fn is_connected(&self) -> bool {
        self.state == RTCPeerConnectionState::Connected
    }

    /// Whether the connection state went to `failed` (ICE or DTLS gave up).
    pub fn is_failed(&self) -> bool {
        self.state == RTCPeerConnectionState::Failed
    }

    /// Whether the DTLS handshake failed: before the connection came up, a fatal DTLS alert
    /// went either way (the remote refused us, or rtc refused a certificate that does not
    /// match the remote fingerprint), rtc rejected a DTLS record, or the state is `failed`.
    /// A remote that refuses silently shows only as a connection that never comes up.
    pub fn dtls_failed(&self) -> bool {
        self.dtls_error.is_some() || self.is_failed()
    }

    /// What made [`RtcPeer::dtls_failed`] true first, if anything.
    pub fn dtls_error(&self) -> Option<&str> {
        self.dtls_error.as_deref()
    }

    /// Every error rtc returned while driving (non-DTLS ones included), oldest first.
    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    /// The SRTP profile the DTLS handshake chose, once connected; `None` before, or for a
    /// profile media-core does not know (AES-256-GCM, AES-CM-SHA1-32).
    pub fn negotiated_srtp_profile(&mut self) -> Option<SrtpProfile> {
        let report = self.pc.get_stats(Instant::now(), StatsSelector::None);
        match report.transport()?.srtp_cipher.as_str() {
            "SRTP_AEAD_AES_128_GCM" => Some(SrtpProfile::AeadAes128Gcm),
            "SRTP_AES128_CM_HMAC_SHA1_80" => Some(SrtpProfile::Aes128CmSha1_80),
            "SRTP_AEAD_AES_256_GCM" => Some(SrtpProfile::AeadAes256Gcm),
            _ => None,
        }
    }

    /// Every RTP packet received so far, oldest first.
    pub fn received(&self) -> &[ReceivedPacket] {
        &self.received
    }

    /// Received packets of `kind` whose payload is an intact [`payload_for`] stamp of `kind`.
    pub fn verified(&self, kind: MediaKind) -> usize {
        self.received
            .iter()
            .filter(|p| p.kind == kind)
            .filter(|p| check_payload(&p.payload).is_some_and(|s| s.kind() == kind))
            .count()
    }

    /// Received packets that carry the stamp magic but fail the check (altered in transit).
    pub fn corrupt(&self) -> usize {
        self.received
            .iter()
            .filter(|p| p.payload.windows(4).any(|w| w == super::payload::MAGIC))
            .filter(|p| check_payload(&p.payload).is_none())
            .count()
    }

    /// RTCP packets (compound parts) received for this peer's tracks.
    pub fn rtcp_received(&self) -> usize {
        self.rtcp_packets
    }

    /// PLI and FIR requests received for this peer's sending tracks.
    pub fn keyframe_requests(&self) -> usize {
        self.keyframe_requests
    }

    /// Frames sent so far on the sending track of `kind` (0 if there is none).
    pub fn sent(&self, kind: MediaKind) -> u32 {
        self.outbound
            .iter()
            .find(|o| o.kind == kind)
            .map_or(0, |o| o.next_index)
    }

    /// The SSRC of the sending track of `kind`, if the peer sends that kind.
    pub fn sending_ssrc(&self, kind: MediaKind) -> Option<Ssrc> {
        self.outbound
            .iter()
            .find(|o| o.kind == kind)
            .map(|o| Ssrc(o.ssrc))
    }

    /// From now on, [`RtcPeer::poll`] sends a frame of each sending kind when one is due
    /// (audio every 20 ms, video every 33 ms), once connected.
    pub fn start_streaming(&mut self) {
        self.streaming = true;
    }

    /// Stops the frames that [`RtcPeer::start_streaming`] started.
    pub fn stop_streaming(&mut self) {
        self.streaming = false;
    }

    /// Sends the next stamped frame of `kind` now and returns its index. A video frame is a
    /// keyframe when it is the first, when one was requested, or per `keyframe_every`.
    pub fn send_frame(&mut self, kind: MediaKind) -> Result<u32, String> {
        let every = self.opts.keyframe_every;
        let out = self.outbound_of(kind)?;
        let index = out.next_index;
        let keyframe = index == 0 || out.keyframe_wanted || (every > 0 && index % every == 0);
        let payload = payload_for(out.codec, index, keyframe);
        self.send_payload(kind, &payload)?;
        let out = self.outbound_of(kind)?;
        out.keyframe_wanted &= !keyframe;
        Ok(index)
    }

    /// Sends `payload` as one RTP packet of the sending track of `kind`: a whole frame, so
    /// video packets carry the marker bit and each call advances the RTP timestamp by one
    /// frame (3000 ticks at 90 kHz for video, 960 at 48 kHz for audio).
    pub fn send_payload(&mut self, kind: MediaKind, payload: &[u8]) -> Result<(), String> {
        self.resolve_negotiated(kind)?;
        let out = self.outbound_of(kind)?;
        let packet = out.next_packet(payload);
        let sender = out.sender;
        let mut rtp_sender = self.pc.rtp_sender(sender).ok_or("sender vanished")?;
        rtp_sender
            .write_rtp(Instant::now(), packet)
            .map_err(|e| format!("write_rtp {kind:?}: {e}"))?;
        self.flush();
        Ok(())
    }

    /// Sends a PLI (RFC 4585 section 6.3.1) for the newest incoming stream of `kind`;
    /// returns whether there was such a stream.
    pub fn send_pli(&mut self, kind: MediaKind) -> bool {
        let Some(ssrc) = self
            .received
            .iter()
            .rev()
            .find(|p| p.kind == kind)
            .map(|p| p.ssrc.0)
        else {
            return false;
        };
        let Some(receiver) = self.receiver_with_ssrc(ssrc) else {
            return false;
        };
        let pli = PictureLossIndication {
            sender_ssrc: 0,
            media_ssrc: ssrc,
        };
        let sent = self
            .pc
            .rtp_receiver(receiver)
            .is_some_and(|mut r| r.write_rtcp(Instant::now(), vec![Box::new(pli)]).is_ok());
        self.flush();
        sent
    }

    /// Closes the connection (DTLS close_notify goes out) and flushes it to the socket.
    pub fn close(&mut self) {
        if self.pc.close().is_ok() {
            self.flush();
        }
    }

    fn local_sdp(&self) -> String {
        self.pc
            .local_description()
            .map(|d| d.sdp)
            .expect("local description set")
    }

    fn codec_of(&self, kind: MediaKind) -> Codec {
        match kind {
            MediaKind::Audio => Codec::Opus,
            MediaKind::Video => self.opts.video_codec,
        }
    }

    fn send_kinds(&self) -> Vec<MediaKind> {
        let mut kinds = Vec::new();
        if self.opts.send_audio {
            kinds.push(MediaKind::Audio);
        }
        if self.opts.send_video {
            kinds.push(MediaKind::Video);
        }
        kinds
    }

    fn add_offer_transceivers(&mut self) {
        let o = &self.opts;
        let wanted = [
            (MediaKind::Audio, o.send_audio, o.recv_audio),
            (MediaKind::Video, o.send_video, o.recv_video),
        ];
        for (kind, send, recv) in wanted {
            let direction = RTCRtpTransceiverDirection::from_send_recv(send, recv);
            if send {
                let (track, ssrc) = new_track(kind, self.codec_of(kind));
                let init = RTCRtpTransceiverInit {
                    direction,
                    streams: vec![],
                    send_encodings: vec![],
                };
                let id = self
                    .pc
                    .add_transceiver_from_track(track, Some(init))
                    .expect("add sending transceiver");
                self.outbound
                    .push(Outbound::new(kind, self.codec_of(kind), id.into(), ssrc));
            } else if recv {
                let init = RTCRtpTransceiverInit {
                    direction,
                    streams: vec![],
                    send_encodings: vec![],
                };
                self.pc
                    .add_transceiver_from_kind(rtc_kind(kind), Some(init))
                    .expect("add receiving transceiver");
            }
        }
    }

    fn outbound_of(&mut self, kind: MediaKind) -> Result<&mut Outbound, String> {
        self.outbound
            .iter_mut()
            .find(|o| o.kind == kind)
            .ok_or_else(|| format!("this peer does not send {kind:?}"))
    }

    /// Reads the negotiated payload type and MID extension of the sender of `kind` once.
    fn resolve_negotiated(&mut self, kind: MediaKind) -> Result<(), String> {
        let out = self.outbound_of(kind)?;
        if out.negotiated.is_some() {
            return Ok(());
        }
        let (sender, mime) = (out.sender, mime_of(out.codec));
        let mid = self
            .pc
            .rtp_transceiver(sender.into())
            .and_then(|t| t.mid().clone());
        let mut rtp_sender = self.pc.rtp_sender(sender).ok_or("sender vanished")?;
        let params = &rtp_sender.get_parameters().rtp_parameters;
        let pt = params
            .codecs
            .iter()
            .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(mime))
            .map(|c| c.payload_type)
            .ok_or_else(|| format!("{mime} was not negotiated"))?;
        let mid_ext = params
            .header_extensions
            .iter()
            .find(|h| h.uri == SDES_MID_URI)
            .and_then(|h| Some((u8::try_from(h.id).ok()?, mid.clone()?)));
        self.outbound_of(kind)?.negotiated = Some((pt, mid_ext));
        Ok(())
    }

    fn flush(&mut self) {
        while let Some(out) = self.pc.poll_write() {
            self.note_dtls_alert("sent", &out.message);
            if let Err(e) = self.socket.send_to(&out.message, out.transport.peer_addr) {
                self.errors
                    .push(format!("send_to {}: {e}", out.transport.peer_addr));
            }
        }
    }

    fn read_socket(&mut self) -> bool {
        let mut read_any = false;
        loop {
            let (len, peer_addr) = match self.socket.recv_from(&mut self.buf) {
                Ok(got) => got,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return read_any,
                Err(e) => {
                    self.errors.push(format!("recv_from: {e}"));
                    return read_any;
                }
            };
            read_any = true;
            let datagram = self.buf[..len].to_vec();
            self.note_dtls_alert("received", &datagram);
            let is_dtls = matches!(datagram.first(), Some(20..=63));
            let tagged = TaggedBytesMut {
                now: Instant::now(),
                transport: TransportContext {
                    local_addr: self.local_addr,
                    peer_addr,
                    ecn: None,
                    transport_protocol: TransportProtocol::UDP,
                },
                message: datagram.as_slice().into(),
            };
            if let Err(e) = self.pc.handle_read(tagged) {
                self.record_error(format!("handle_read from {peer_addr}: {e}"), is_dtls);
            }
            self.flush();
        }
    }

    /// Records a fatal or encrypted DTLS alert seen before the connection first came up.
    fn note_dtls_alert(&mut self, direction: &str, datagram: &[u8]) {
        if self.ever_connected || self.dtls_error.is_some() {
            return;
        }
        if let Some(alert) = dtls_fatal_alert(datagram) {
            self.dtls_error = Some(format!("{direction} DTLS alert ({alert})"));
        }
    }

    fn record_error(&mut self, error: String, is_dtls: bool) {
        // RFC 7983 section 7: first byte 20..=63 is DTLS.
        if is_dtls && self.dtls_error.is_none() {
            self.dtls_error = Some(error.clone());
        }
        self.errors.push(error);
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        if self.pc.poll_timeout().is_some_and(|due| due <= now) {
            if let Err(e) = self.pc.handle_timeout(now) {
                self.errors.push(format!("handle_timeout: {e}"));
            }
        }
    }

    fn drain_events(&mut self) {
        while let Some(event) = self.pc.poll_event() {
            if let RTCPeerConnectionEvent::OnConnectionStateChangeEvent(state) = event {
                self.state = state;
                self.ever_connected |= state == RTCPeerConnectionState::Connected;
            }
        }
    }

    fn drain_messages(&mut self) {
        while let Some(TaggedRTCMessage { now, message }) = self.pc.poll_read() {
            match message {
                RTCMessage::RtpPacket(track_id, packet) => {
                    let Some(kind) = self.kind_of_track(&track_id) else {
                        self.errors
                            .push(format!("RTP for unknown track {track_id}"));
                        continue;
                    };
                    let h = &packet.header;
                    self.received.push(ReceivedPacket {
                        kind,
                        ssrc: Ssrc(h.ssrc),
                        seq: SeqNo(h.sequence_number),
                        pt: Pt(h.payload_type),
                        timestamp: h.timestamp,
                        marker: h.marker,
                        payload: packet.payload.to_vec(),
                        at: now,
                    });
                }
                RTCMessage::RtcpPacket(_, packets) => {
                    for packet in &packets {
                        self.rtcp_packets += 1;
                        self.note_keyframe_request(packet.as_any());
                    }
                }
                _ => {}
            }
        }
    }

    fn note_keyframe_request(&mut self, packet: &dyn std::any::Any) {
        let ssrcs: Vec<u32> = if let Some(pli) = packet.downcast_ref::<PictureLossIndication>() {
            vec![pli.media_ssrc]
        } else if let Some(fir) = packet.downcast_ref::<FullIntraRequest>() {
            fir.fir.iter().map(|entry| entry.ssrc).collect()
        } else {
            return;
        };
        for out in self.outbound.iter_mut().filter(|o| ssrcs.contains(&o.ssrc)) {
            out.keyframe_wanted = true;
            self.keyframe_requests += 1;
        }
    }

    fn kind_of_track(&mut self, track_id: &str) -> Option<MediaKind> {
        if let Some(kind) = self.track_kinds.get(track_id) {
            return Some(*kind);
        }
        let receivers: Vec<RTCRtpReceiverId> = self.pc.get_receivers().collect();
        let kind = receivers.into_iter().find_map(|id| {
            let receiver = self.pc.rtp_receiver(id)?;
            let track = receiver.track();
            (track.track_id() == track_id).then(|| media_kind(track.kind()))?
        })?;
        self.track_kinds.insert(track_id.to_owned(), kind);
        Some(kind)
    }

    fn receiver_with_ssrc(&mut self, ssrc: u32) -> Option<RTCRtpReceiverId> {
        let receivers: Vec<RTCRtpReceiverId> = self.pc.get_receivers().collect();
        receivers.into_iter().find(|id| {
            self.pc
                .rtp_receiver(*id)
                .is_some_and(|r| r.track().ssrcs().any(|s| s == ssrc))
        })
    }

    fn send_due_frames(&mut self) {
        if !self.streaming || !self.is_connected() {
            return;
        }
        let now = Instant::now();
        for kind in self.send_kinds() {
            let Ok(out) = self.outbound_of(kind) else {
                continue;
            };
            if out.next_due.is_some_and(|due| due > now) {
                continue;
            }
            let spacing = if kind == MediaKind::Audio {
                AUDIO_FRAME
            } else {
                VIDEO_FRAME
            };
            // Keep the cadence, but after a stall start again from now instead of bursting.
            let planned = out.next_due.unwrap_or(now) + spacing;
            out.next_due = Some(if planned <= now {
                now + spacing
            } else {
                planned
            });
            if let Err(e) = self.send_frame(kind) {
                self.errors.push(e);
            }
        }
    }
}

impl Drop for RtcPeer {
    fn drop(&mut self) {
        self.close();
    }
}

impl Outbound {
    fn new(kind: MediaKind, codec: Codec, sender: RTCRtpSenderId, ssrc: u32) -> Self {
        Outbound {
            kind,
            codec,
            sender,
            ssrc,
            seq: rand::random(),
            timestamp: rand::random(),
            next_index: 0,
            keyframe_wanted: false,
            next_due: None,
            negotiated: None,
        }
    }

    /// Builds the next RTP packet and advances sequence number, timestamp and frame index.
    fn next_packet(&mut self, payload: &[u8]) -> rtc::rtp::packet::Packet {
        let (pt, mid_ext) = self.negotiated.clone().unwrap_or((0, None));
        let mut header = rtc::rtp::header::Header {
            version: 2,
            marker: self.kind == MediaKind::Video,
            payload_type: pt,
            sequence_number: self.seq,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
            ..Default::default()
        };
        if let Some((id, mid)) = mid_ext {
            header
                .set_extension(id, mid.into_bytes().into())
                .expect("MID fits one-byte form");
        }
        self.seq = self.seq.wrapping_add(1);
        let step = if self.kind == MediaKind::Audio {
            960
        } else {
            3000
        };
        self.timestamp = self.timestamp.wrapping_add(step);
        self.next_index += 1;
        rtc::rtp::packet::Packet {
            header,
            payload: payload.to_vec().into(),
        }
    }
}

/// Drives every peer in turn until `pred` holds or `timeout` passes; returns whether
/// `pred` held. Sleeps 1 ms in rounds where no peer read anything.
pub fn run_all_until(
    peers: &mut [&mut RtcPeer],
    timeout: Duration,
    mut pred: impl FnMut(&[&mut RtcPeer]) -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let mut busy = false;
        for peer in peers.iter_mut() {
            busy |= peer.poll();
        }
        if pred(peers) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        if !busy {
            thread::sleep(IDLE_SLEEP);
        }
    }
}

/// Replaces the value of every `a=fingerprint` line with the bitwise complement of its
/// bytes, so the SDP names a certificate its sender does not have. A DTLS peer that checks
/// the fingerprint (RFC 8122 section 5) must then refuse the handshake.
pub fn tamper_fingerprints(sdp: &str) -> String {
    let lines: Vec<String> = sdp
        .split("\r\n")
        .map(|line| match line.strip_prefix("a=fingerprint:") {
            Some(rest) => {
                let (hash, value) = rest.split_once(' ').expect("fingerprint has a hash name");
                let flipped: Vec<String> = value
                    .split(':')
                    .map(|byte| u8::from_str_radix(byte, 16).expect("hex fingerprint byte"))
                    .map(|byte| format!("{:02X}", !byte))
                    .collect();
                format!("a=fingerprint:{hash} {}", flipped.join(":"))
            }
            None => line.to_owned(),
        })
        .collect();
    lines.join("\r\n")
}

/// Describes the first fatal DTLS alert in `datagram`, or `None` when it has none.
///
/// Walks the DTLS records (RFC 6347 section 4.1: 13-byte header, content type 21 is an
/// alert). An epoch-0 alert is plaintext, level then description (RFC 5246 section 7.2),
/// and counts when its level is fatal (2); a later epoch's alert is encrypted and counts.
fn dtls_fatal_alert(datagram: &[u8]) -> Option<String> {
    if !matches!(datagram.first(), Some(20..=63)) {
        return None;
    }
    let mut rest = datagram;
    while rest.len() >= 13 {
        let epoch = u16::from_be_bytes([rest[3], rest[4]]);
        let len = usize::from(u16::from_be_bytes([rest[11], rest[12]]));
        let body = rest.get(13..13 + len)?;
        if rest[0] == 21 {
            match (epoch, body) {
                (0, [2, description, ..]) => {
                    return Some(format!("fatal, description {description}"))
                }
                (0, _) => {}
                _ => return Some("encrypted".to_owned()),
            }
        }
        rest = &rest[13 + len..];
    }
    None
}
