//! Offers from an independent stack (webrtc-rs `rtc`), whose own parser then takes our
//! answer as its remote description.

use std::time::Instant;

use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::{MediaEngine, MIME_TYPE_VP8};
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::RTCPeerConnectionBuilder;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};

use super::*;

#[test]
fn webrtc_rs_viewer_accepts_our_answer() {
    let mut media_engine = MediaEngine::default();
    media_engine.register_default_codecs().unwrap();
    let mut viewer = RTCPeerConnectionBuilder::new()
        .with_media_engine(media_engine)
        .build(Instant::now())
        .unwrap();
    viewer
        .add_transceiver_from_kind(RtpCodecKind::Audio, None)
        .unwrap();
    viewer
        .add_transceiver_from_kind(RtpCodecKind::Video, None)
        .unwrap();
    let offer = viewer.create_offer(None).unwrap();
    viewer
        .set_local_description(Instant::now(), offer.clone())
        .unwrap();

    let parsed = parse_offer(&offer.sdp).unwrap();
    assert!(parsed
        .media
        .iter()
        .all(|m| m.direction == Direction::RecvOnly));
    let (answer, asked) = answer_with(&parsed, &|_, _| true, false).unwrap();
    assert_eq!(asked.len(), 2);
    check_answer(&parsed, &answer);

    let remote = RTCSessionDescription::answer(answer.sdp.clone()).unwrap();
    viewer
        .set_remote_description(Instant::now(), remote)
        .unwrap();
}

#[test]
fn webrtc_rs_publisher_with_data_channel_accepts_our_answer() {
    let mut media_engine = MediaEngine::default();
    media_engine.register_default_codecs().unwrap();
    let mut publisher = RTCPeerConnectionBuilder::new()
        .with_media_engine(media_engine)
        .build(Instant::now())
        .unwrap();
    let encoding = RTCRtpEncodingParameters {
        rtp_coding_parameters: RTCRtpCodingParameters {
            ssrc: Some(0x1234_5678),
            ..Default::default()
        },
        codec: RTCRtpCodec {
            mime_type: MIME_TYPE_VP8.to_owned(),
            clock_rate: 90_000,
            ..Default::default()
        },
        ..Default::default()
    };
    let track = MediaStreamTrack::new(
        "camera".to_owned(),
        "camera-video".to_owned(),
        "camera-video".to_owned(),
        RtpCodecKind::Video,
        vec![encoding],
    );
    publisher.add_track(track).unwrap();
    publisher.create_data_channel("chat", None).unwrap();
    let offer = publisher.create_offer(None).unwrap();
    publisher
        .set_local_description(Instant::now(), offer.clone())
        .unwrap();

    let parsed = parse_offer(&offer.sdp).unwrap();
    assert!(parsed.media[0].direction.sends());
    assert!(parsed.media[0].ssrcs.contains(&Ssrc(0x1234_5678)));
    let (answer, _) = answer_with(&parsed, &|_, _| true, true).unwrap();
    check_answer(&parsed, &answer);
    assert_eq!(answer.media.len(), 1, "the data channel is rejected");

    let remote = RTCSessionDescription::answer(answer.sdp.clone()).unwrap();
    publisher
        .set_remote_description(Instant::now(), remote)
        .unwrap();
}
