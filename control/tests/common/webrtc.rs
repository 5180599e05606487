//! Real WebRTC clients for the API tests: media-core's test peer on the webrtc-rs `rtc`
//! crate (ICE, DTLS and SRTP independent of the forwarder), used by path rather than
//! copied, and helpers that publish (WHIP) and receive (WHEP) through a [`TestDaemon`].
//!
//! The peers are synchronous; [`drive`] runs them on the test thread with
//! `block_in_place`, so tests need the multi-thread runtime.

#![allow(dead_code, clippy::unwrap_used)]

#[path = "../../../media-core/tests/common/payload.rs"]
pub mod payload;
#[path = "../../../media-core/tests/common/rtc_peer.rs"]
pub mod rtc_peer;
#[path = "../../../media-core/tests/common/rtc_setup.rs"]
pub mod rtc_setup;

use std::time::Duration;

use hyper::header::HeaderMap;
use hyper::Method;
pub use media_core::ids::MediaKind;
pub use rtc_peer::{run_all_until, PeerOptions, RtcPeer};

use crate::common::{Reply, TestDaemon};

/// How long a connection may take to come up on a loaded machine.
pub const CONNECT: Duration = Duration::from_secs(20);

/// A publisher of `audio` and `video`.
pub fn publisher(audio: bool, video: bool) -> RtcPeer {
    RtcPeer::new(PeerOptions {
        send_audio: audio,
        send_video: video,
        ..PeerOptions::default()
    })
}

/// A viewer of `audio` and `video`.
pub fn viewer(audio: bool, video: bool) -> RtcPeer {
    RtcPeer::new(PeerOptions {
        recv_audio: audio,
        recv_video: video,
        ..PeerOptions::default()
    })
}

/// Posts `peer`'s offer to `/v1/sessions/{session}/{endpoint}` (`whip` or `whep`) and
/// applies the answer when it is a 201.
pub async fn offer(
    daemon: &TestDaemon,
    session: &str,
    endpoint: &str,
    token: &str,
    peer: &mut RtcPeer,
) -> Reply {
    let sdp = peer.create_offer();
    let path = format!("/v1/sessions/{session}/{endpoint}");
    let reply = send_sdp(daemon, &path, token, sdp).await;
    if reply.status == 201 {
        let answer = std::str::from_utf8(&reply.body).unwrap();
        peer.apply_answer(answer).unwrap();
    }
    reply
}

/// Posts an SDP text as `application/sdp`.
pub async fn send_sdp(daemon: &TestDaemon, path: &str, token: &str, sdp: String) -> Reply {
    daemon
        .send(
            Method::POST,
            path,
            Some(token),
            Some("application/sdp"),
            sdp.into_bytes(),
            HeaderMap::new(),
        )
        .await
}

/// Drives `peers` until `pred` holds or `timeout` passes, off the async scheduler.
pub fn drive(
    peers: &mut [&mut RtcPeer],
    timeout: Duration,
    pred: impl FnMut(&[&mut RtcPeer]) -> bool,
) -> bool {
    tokio::task::block_in_place(|| run_all_until(peers, timeout, pred))
}

/// Drives `peers` for `span`, whatever happens.
pub fn drive_for(peers: &mut [&mut RtcPeer], span: Duration) {
    drive(peers, span, |_| false);
}

/// Drives `peers` until all are connected.
pub fn connect(peers: &mut [&mut RtcPeer]) {
    let up = drive(peers, CONNECT, |p| p.iter().all(|p| p.is_connected()));
    assert!(up, "peers did not connect");
}
