//! How the rtc test peer's connection is configured: codecs, header extensions,
//! interceptors, SRTP profiles, DTLS role and its one host candidate.
//!
//! Kept apart from [`super::rtc_peer`] so that the driver reads without the builder noise.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use media_core::ids::{Codec, MediaKind};
use media_core::srtp::SrtpProfile;
use rtc::dtls::extension::extension_use_srtp::SrtpProtectionProfile;
use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::{
    configure_nack, configure_rtcp_reports, Registry, Slot,
};
use rtc::peer_connection::configuration::media_engine::{
    MediaEngine, MIME_TYPE_AV1, MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_VP8, MIME_TYPE_VP9,
};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::transport::{
    CandidateConfig, CandidateHostConfig, RTCDtlsRole, RTCIceCandidate, RTCIceCandidateInit,
};
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RTCRtpHeaderExtensionCapability, RtpCodecKind,
};
use rtc::sansio::Protocol;
use rtc::sdp::extmap::SDES_MID_URI;

use super::rtc_peer::PeerOptions;

/// Interceptor position of [`RtcpTap`]: nearer the wire than every built-in one.
const RTCP_TAP_SLOT: usize = 500;

/// Builds the peer connection: a fresh ECDSA certificate (rtc's default), Opus and the one
/// video codec, the MID extension, NACK and RTCP report interceptors plus [`RtcpTap`].
pub(super) fn build_connection(opts: &PeerOptions) -> RTCPeerConnection {
    let mut media_engine = MediaEngine::default();
    register_codecs(&mut media_engine, opts.video_codec);
    for kind in [RtpCodecKind::Audio, RtpCodecKind::Video] {
        let mid = RTCRtpHeaderExtensionCapability {
            uri: SDES_MID_URI.to_owned(),
        };
        media_engine
            .register_header_extension(mid, kind, None)
            .expect("register MID extension");
    }
    let registry = configure_rtcp_reports(configure_nack(Registry::new(), &mut media_engine))
        .with(Slot::from(RTCP_TAP_SLOT), RtcpTap::default());
    let answering_role = if opts.dtls_role_client {
        RTCDtlsRole::Client
    } else {
        RTCDtlsRole::Server
    };
    let mut settings = SettingEngineBuilder::new().with_answering_dtls_role(answering_role);
    if !opts.srtp_profiles.is_empty() {
        let profiles = opts.srtp_profiles.iter().map(|p| rtc_profile(*p)).collect();
        settings = settings.with_srtp_protection_profiles(profiles);
    }
    RTCPeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_media_engine(media_engine)
        .with_setting_engine(settings.build())
        .with_interceptor_registry(registry)
        .build(Instant::now())
        .expect("build rtc peer connection")
}

/// Registers Opus and the one video codec, with the payload types browsers commonly use.
fn register_codecs(media_engine: &mut MediaEngine, video: Codec) {
    let opus = RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    };
    let (video_pt, fmtp) = match video {
        Codec::Vp8 => (96, ""),
        Codec::Vp9 => (98, "profile-id=0"),
        Codec::H264 => (
            102,
            "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
        ),
        Codec::Av1 => (45, ""),
        Codec::Opus => panic!("video_codec must be a video codec"),
    };
    let feedback = |typ: &str, parameter: &str| RTCPFeedback {
        typ: typ.to_owned(),
        parameter: parameter.to_owned(),
    };
    let video = RTCRtpCodec {
        mime_type: mime_of(video).to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: fmtp.to_owned(),
        rtcp_feedback: vec![feedback("nack", "pli"), feedback("ccm", "fir")],
    };
    for (codec, pt, kind) in [
        (opus, 111, RtpCodecKind::Audio),
        (video, video_pt, RtpCodecKind::Video),
    ] {
        let params = RTCRtpCodecParameters {
            rtp_codec: codec,
            payload_type: pt,
        };
        media_engine
            .register_codec(params, kind)
            .expect("register codec");
    }
}

pub(super) fn add_host_candidate(pc: &mut RTCPeerConnection, addr: SocketAddr) {
    let candidate = CandidateHostConfig {
        base_config: CandidateConfig {
            network: "udp".to_owned(),
            address: addr.ip().to_string(),
            port: addr.port(),
            component: 1,
            ..Default::default()
        },
        ..Default::default()
    }
    .new_candidate_host()
    .expect("host candidate");
    let init = RTCIceCandidate::from(&candidate)
        .to_json()
        .expect("candidate to json");
    pc.add_local_candidate(init).expect("add host candidate");
    // An empty candidate ends gathering, so the offer says a=end-of-candidates.
    pc.add_local_candidate(RTCIceCandidateInit::default())
        .expect("end of candidates");
}

pub(super) fn new_track(kind: MediaKind, codec: Codec) -> (MediaStreamTrack, u32) {
    let ssrc = rand::random::<u32>();
    let encoding = RTCRtpEncodingParameters {
        rtp_coding_parameters: RTCRtpCodingParameters {
            ssrc: Some(ssrc),
            ..Default::default()
        },
        codec: RTCRtpCodec {
            mime_type: mime_of(codec).to_owned(),
            ..Default::default()
        },
        ..Default::default()
    };
    let name = format!("{kind:?}-{ssrc:08x}").to_lowercase();
    let track = MediaStreamTrack::new(
        "sightline-test".to_owned(),
        name.clone(),
        name,
        rtc_kind(kind),
        vec![encoding],
    );
    (track, ssrc)
}

pub(super) fn mime_of(codec: Codec) -> &'static str {
    match codec {
        Codec::Opus => MIME_TYPE_OPUS,
        Codec::Vp8 => MIME_TYPE_VP8,
        Codec::Vp9 => MIME_TYPE_VP9,
        Codec::H264 => MIME_TYPE_H264,
        Codec::Av1 => MIME_TYPE_AV1,
    }
}

pub(super) fn rtc_kind(kind: MediaKind) -> RtpCodecKind {
    match kind {
        MediaKind::Audio => RtpCodecKind::Audio,
        MediaKind::Video => RtpCodecKind::Video,
    }
}

pub(super) fn media_kind(kind: RtpCodecKind) -> Option<MediaKind> {
    match kind {
        RtpCodecKind::Audio => Some(MediaKind::Audio),
        RtpCodecKind::Video => Some(MediaKind::Video),
        _ => None,
    }
}

fn rtc_profile(profile: SrtpProfile) -> SrtpProtectionProfile {
    match profile {
        SrtpProfile::AeadAes128Gcm => SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm,
        SrtpProfile::Aes128CmSha1_80 => SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80,
        SrtpProfile::AeadAes256Gcm => SrtpProtectionProfile::Srtp_Aead_Aes_256_Gcm,
    }
}

/// Lets every inbound RTCP packet through to the application.
///
/// rtc's interceptor chain ends in a terminus that drops inbound RTCP unless an interceptor
/// marked it for the application; this one marks all of it, so that the peer can count
/// reports and answer PLI and FIR. The interceptors after it still see every packet.
#[derive(Default)]
struct RtcpTap {
    reads: VecDeque<TaggedPacket>,
    writes: VecDeque<TaggedPacket>,
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for RtcpTap {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if matches!(&msg.message.packet, Packet::Rtcp(packets) if !packets.is_empty()) {
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.reads.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.reads.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.writes.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.writes.pop_front()
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }
}

impl Interceptor for RtcpTap {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}
