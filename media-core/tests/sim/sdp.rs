//! The simulated clients' SDP: offers written as text the way a browser would write them,
//! and the few facts a client needs from the session's answer.

/// Opus payload type in every offer.
pub const OPUS_PT: u8 = 111;
/// VP8 payload type in every offer.
pub const VP8_PT: u8 = 96;
/// VP8's RTX payload type (RFC 4588) in every offer.
pub const RTX_PT: u8 = 97;
/// Transport-wide sequence number extension id in every offer.
pub const TWCC_EXT: u8 = 3;
/// The transport-wide congestion control extension's URI.
const TWCC_URI: &str = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";
/// MID extension id in every offer.
pub const MID_EXT: u8 = 4;

/// The SSRCs a publishing client declares: audio, video and video's RTX.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishedSsrcs {
    /// Opus SSRC (mid 0).
    pub audio: u32,
    /// VP8 SSRC (mid 1).
    pub video: u32,
    /// VP8 RTX SSRC.
    pub rtx: u32,
}

/// One slot as the answer describes it: what the session will send on an m-line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnsweredSlot {
    /// The m-line's mid.
    pub mid: String,
    /// The SSRC the session sends media with.
    pub ssrc: u32,
    /// The SSRC the session sends retransmissions with.
    pub rtx_ssrc: Option<u32>,
}

/// What a client reads from the session's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerInfo {
    /// The session's ICE username fragment.
    pub ice_ufrag: String,
    /// The session's ICE password.
    pub ice_pwd: String,
    /// The slots the session sends on.
    pub slots: Vec<AnsweredSlot>,
}

impl AnswerInfo {
    /// The slot on `mid`.
    pub fn slot(&self, mid: &str) -> &AnsweredSlot {
        self.slots
            .iter()
            .find(|s| s.mid == mid)
            .unwrap_or_else(|| panic!("the answer has a slot on mid {mid}"))
    }
}

/// An offer for audio (mid 0) and video (mid 1): sendonly with `a=ssrc` lines when
/// `publish` is given, else recvonly.
pub fn offer(ufrag: &str, pwd: &str, fingerprint: &str, publish: Option<PublishedSsrcs>) -> String {
    let direction = if publish.is_some() {
        "sendonly"
    } else {
        "recvonly"
    };
    let mut sdp = String::new();
    let mut line = |text: &str| {
        sdp.push_str(text);
        sdp.push_str("\r\n");
    };
    line("v=0");
    line("o=- 4611731400430051336 2 IN IP4 127.0.0.1");
    line("s=-");
    line("t=0 0");
    line("a=group:BUNDLE 0 1");
    line("a=extmap-allow-mixed");
    line("a=msid-semantic: WMS sim");
    for (mid, media) in [("0", "audio"), ("1", "video")] {
        let pts = if media == "audio" {
            format!("{OPUS_PT}")
        } else {
            format!("{VP8_PT} {RTX_PT}")
        };
        line(&format!("m={media} 9 UDP/TLS/RTP/SAVPF {pts}"));
        line("c=IN IP4 0.0.0.0");
        line("a=rtcp:9 IN IP4 0.0.0.0");
        line(&format!("a=ice-ufrag:{ufrag}"));
        line(&format!("a=ice-pwd:{pwd}"));
        line("a=ice-options:trickle");
        line(&format!("a=fingerprint:{fingerprint}"));
        line("a=setup:actpass");
        line(&format!("a=mid:{mid}"));
        line(&format!("a=extmap:{TWCC_EXT} {TWCC_URI}"));
        line(&format!(
            "a=extmap:{MID_EXT} urn:ietf:params:rtp-hdrext:sdes:mid"
        ));
        line(&format!("a={direction}"));
        line("a=rtcp-mux");
        line("a=rtcp-rsize");
        if media == "audio" {
            line(&format!("a=rtpmap:{OPUS_PT} opus/48000/2"));
            line(&format!("a=rtcp-fb:{OPUS_PT} transport-cc"));
            line(&format!("a=fmtp:{OPUS_PT} minptime=10;useinbandfec=1"));
        } else {
            line(&format!("a=rtpmap:{VP8_PT} VP8/90000"));
            for fb in ["transport-cc", "ccm fir", "nack", "nack pli"] {
                line(&format!("a=rtcp-fb:{VP8_PT} {fb}"));
            }
            line(&format!("a=rtpmap:{RTX_PT} rtx/90000"));
            line(&format!("a=fmtp:{RTX_PT} apt={VP8_PT}"));
        }
        if let Some(ssrcs) = publish {
            write_ssrcs(&mut line, media, ssrcs);
        }
    }
    sdp
}

fn write_ssrcs(line: &mut impl FnMut(&str), media: &str, ssrcs: PublishedSsrcs) {
    if media == "audio" {
        line(&format!("a=ssrc:{} cname:sim", ssrcs.audio));
        return;
    }
    line(&format!("a=ssrc-group:FID {} {}", ssrcs.video, ssrcs.rtx));
    line(&format!("a=ssrc:{} cname:sim", ssrcs.video));
    line(&format!("a=ssrc:{} cname:sim", ssrcs.rtx));
}

/// Reads the session's ICE credentials and each slot's SSRCs from its answer.
pub fn parse_answer(sdp: &str) -> AnswerInfo {
    let mut ufrag = None;
    let mut pwd = None;
    let mut slots: Vec<AnsweredSlot> = Vec::new();
    let mut mid: Option<String> = None;
    for line in sdp.lines().map(str::trim_end) {
        if line.starts_with("m=") {
            mid = None;
        } else if let Some(value) = line.strip_prefix("a=mid:") {
            mid = Some(value.to_owned());
        } else if let Some(value) = line.strip_prefix("a=ice-ufrag:") {
            ufrag.get_or_insert_with(|| value.to_owned());
        } else if let Some(value) = line.strip_prefix("a=ice-pwd:") {
            pwd.get_or_insert_with(|| value.to_owned());
        } else if let (Some(value), Some(mid)) = (line.strip_prefix("a=ssrc-group:FID "), &mid) {
            let ssrcs: Vec<u32> = value.split(' ').map(|s| s.parse().unwrap()).collect();
            slots.push(AnsweredSlot {
                mid: mid.clone(),
                ssrc: ssrcs[0],
                rtx_ssrc: Some(ssrcs[1]),
            });
        } else if let (Some(value), Some(mid)) = (line.strip_prefix("a=ssrc:"), &mid) {
            let ssrc: u32 = value.split(' ').next().unwrap().parse().unwrap();
            let known = slots
                .iter()
                .any(|s| s.ssrc == ssrc || s.rtx_ssrc == Some(ssrc));
            if !known {
                slots.push(AnsweredSlot {
                    mid: mid.clone(),
                    ssrc,
                    rtx_ssrc: None,
                });
            }
        }
    }
    AnswerInfo {
        ice_ufrag: ufrag.expect("the answer has a=ice-ufrag"),
        ice_pwd: pwd.expect("the answer has a=ice-pwd"),
        slots,
    }
}
