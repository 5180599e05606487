//! The codecs of an m-line: `a=rtpmap` (RFC 8866 section 6.6), `a=fmtp`, `a=rtcp-fb`
//! (RFC 4585 section 4.2) and RTX association by `apt` (RFC 4588 section 8.6).
//!
//! Only codecs the forwarder can route are kept (Opus, VP8, VP9, H.264, AV1); RED, FEC,
//! comfort noise, DTMF and the G.711/G.722 family are ignored, as is an RTX format whose
//! primary was ignored.

use rtc_sdp::description::common::Attribute;

use super::text;
use crate::ids::{Codec, MediaKind, Pt};

/// The RTCP feedback messages negotiated for one codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Feedback {
    /// Generic NACK (RFC 4585 section 6.2.1), `a=rtcp-fb:<pt> nack`.
    pub nack: bool,
    /// Picture loss indication (RFC 4585 section 6.3.1), `nack pli`.
    pub nack_pli: bool,
    /// Full intra request (RFC 5104 section 4.3.1), `ccm fir`.
    pub ccm_fir: bool,
    /// Transport-wide congestion control feedback, `transport-cc`.
    pub transport_cc: bool,
    /// Receiver estimated maximum bitrate, `goog-remb`.
    pub goog_remb: bool,
}

impl Feedback {
    /// Records one `a=rtcp-fb` value (after the payload type); unknown types are ignored.
    fn add(&mut self, kind: &str) {
        let mut words = kind.split_ascii_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("nack"), None, _) => self.nack = true,
            (Some("nack"), Some("pli"), None) => self.nack_pli = true,
            (Some("ccm"), Some("fir"), None) => self.ccm_fir = true,
            (Some("transport-cc"), None, _) => self.transport_cc = true,
            (Some("goog-remb"), None, _) => self.goog_remb = true,
            _ => {}
        }
    }

    /// The `a=rtcp-fb` values (after the payload type) for the messages set here.
    pub(super) fn sdp_values(&self) -> impl Iterator<Item = &'static str> {
        [
            (self.goog_remb, "goog-remb"),
            (self.transport_cc, "transport-cc"),
            (self.ccm_fir, "ccm fir"),
            (self.nack, "nack"),
            (self.nack_pli, "nack pli"),
        ]
        .into_iter()
        .filter_map(|(on, value)| on.then_some(value))
    }
}

/// One usable codec of an m-line, as offered or as answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecConfig {
    /// Which codec this is.
    pub codec: Codec,
    /// Its payload type on this m-line.
    pub pt: Pt,
    /// RTP clock rate from `a=rtpmap`.
    pub clock_rate: u32,
    /// Audio channels from `a=rtpmap` (always 2 for Opus, RFC 7587 section 7); 0 for video.
    pub channels: u8,
    /// The `a=fmtp` parameters verbatim, empty when there were none.
    pub fmtp: String,
    /// The payload type of the RTX format whose `apt` names this codec.
    pub rtx_pt: Option<Pt>,
    /// The RTCP feedback offered for this codec.
    pub feedback: Feedback,
}

impl CodecConfig {
    /// Whether a stream sent with `other`'s parameters can be forwarded unchanged to an
    /// endpoint that negotiated `self`: the same codec, and for H.264 the same profile and
    /// packetization mode (RFC 6184 section 8.2.2), for VP9 the same profile (RFC 9628).
    pub fn compatible_with(&self, other: &CodecConfig) -> bool {
        if self.codec != other.codec {
            return false;
        }
        match self.codec {
            Codec::H264 => {
                let mode = |c: &CodecConfig| {
                    text::fmtp_param(&c.fmtp, "packetization-mode").unwrap_or("0") == "1"
                };
                mode(self) == mode(other) && h264_profile(&self.fmtp) == h264_profile(&other.fmtp)
            }
            Codec::Vp9 => {
                let profile = |c: &CodecConfig| {
                    text::fmtp_param(&c.fmtp, "profile-id")
                        .unwrap_or("0")
                        .to_string()
                };
                profile(self) == profile(other)
            }
            _ => true,
        }
    }
}

/// The H.264 profiles we route (RFC 6184 section 8.1, `profile-level-id`); others, such as
/// High 10 or the 4:4:4 profiles, are ignored because not every viewer can decode them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum H264Profile {
    /// Constrained Baseline, what every WebRTC endpoint decodes.
    ConstrainedBaseline,
    /// Baseline.
    Baseline,
    /// Main.
    Main,
    /// High, including Constrained High.
    High,
}

/// The H.264 profile an `a=fmtp` parameter list declares, or `None` for a profile we do not
/// route or a malformed `profile-level-id`.
///
/// Without `profile-level-id` the stream is Baseline level 1 (RFC 6184 section 8.1). The
/// constrained-baseline rules are those of RFC 6184 table 5: `profile_idc` 0x42 with
/// constraint_set1, 0x4D with constraint_set0, or 0x58 with both.
pub fn h264_profile(fmtp: &str) -> Option<H264Profile> {
    let Some(id) = text::fmtp_param(fmtp, "profile-level-id") else {
        return Some(H264Profile::Baseline);
    };
    if id.len() != 6 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let idc = u8::from_str_radix(id.get(0..2)?, 16).ok()?;
    let iop = u8::from_str_radix(id.get(2..4)?, 16).ok()?;

    match idc {
        0x42 if iop & 0x40 != 0 => Some(H264Profile::ConstrainedBaseline),
        0x42 => Some(H264Profile::Baseline),
        0x4D if iop & 0x80 != 0 => Some(H264Profile::ConstrainedBaseline),
        0x4D => Some(H264Profile::Main),
        0x58 if iop & 0xC0 == 0xC0 => Some(H264Profile::ConstrainedBaseline),
        0x64 => Some(H264Profile::High),
        _ => None,
    }
}

/// Whether an H.264 format can be routed: a profile from [`H264Profile`] and
/// packetization-mode 0 (also the default) or 1 (RFC 6184 section 6); mode 2 interleaves
/// NAL units across packets, which the forwarder does not reorder.
fn h264_routable(fmtp: &str) -> bool {
    let mode_ok = matches!(
        text::fmtp_param(fmtp, "packetization-mode"),
        None | Some("0" | "1")
    );
    mode_ok && h264_profile(fmtp).is_some()
}

/// An `a=rtpmap` entry: `<encoding name>/<clock rate>[/<channels>]`.
struct RtpMap<'a> {
    name: &'a str,
    clock_rate: u32,
    channels: Option<&'a str>,
}

fn parse_rtpmap(encoding: &str) -> Option<RtpMap<'_>> {
    let mut parts = encoding.split('/');
    let name = parts.next()?.trim();
    let clock_rate = parts.next()?.trim().parse().ok()?;
    let channels = parts.next().map(str::trim);
    Some(RtpMap {
        name,
        clock_rate,
        channels,
    })
}

/// The attributes of one m-line that describe its payload types.
struct Formats<'a> {
    attributes: &'a [Attribute],
}

impl<'a> Formats<'a> {
    fn rtpmap(&self, pt: u8) -> Option<RtpMap<'a>> {
        self.with_pt("rtpmap", pt).next().and_then(parse_rtpmap)
    }

    fn fmtp(&self, pt: u8) -> &'a str {
        self.with_pt("fmtp", pt).next().unwrap_or("")
    }

    fn feedback(&self, pt: u8) -> Feedback {
        let mut feedback = Feedback::default();
        for value in text::values(self.attributes, "rtcp-fb") {
            match text::split_pt(value) {
                Some((None, kind)) => feedback.add(kind),
                Some((Some(p), kind)) if p == pt => feedback.add(kind),
                _ => {}
            }
        }
        feedback
    }

    /// The values (after the payload type) of the attributes `key` that name `pt`.
    fn with_pt(&self, key: &'a str, pt: u8) -> impl Iterator<Item = &'a str> + 'a {
        text::values(self.attributes, key)
            .filter_map(text::split_pt)
            .filter_map(move |(p, rest)| (p == Some(pt)).then_some(rest))
    }
}

/// The usable codecs of an m-line of `kind`, in the order of its format list, with their
/// RTX formats attached.
pub(super) fn read_codecs(
    attributes: &[Attribute],
    format_list: &[String],
    kind: MediaKind,
) -> Vec<CodecConfig> {
    let formats = Formats { attributes };
    let mut pts: Vec<u8> = Vec::new();
    for pt in format_list.iter().filter_map(|f| f.parse::<u8>().ok()) {
        if pt <= 127 && !pts.contains(&pt) {
            pts.push(pt);
        }
    }

    let mut codecs: Vec<CodecConfig> = pts
        .iter()
        .filter_map(|&pt| read_primary(&formats, pt, kind))
        .collect();
    for &pt in &pts {
        attach_rtx(&formats, pt, &mut codecs);
    }

    codecs
}

/// A routable codec at `pt`, or `None` when the format is something we ignore.
fn read_primary(formats: &Formats<'_>, pt: u8, kind: MediaKind) -> Option<CodecConfig> {
    let rtpmap = formats.rtpmap(pt)?;
    let codec = Codec::from_sdp_name(rtpmap.name).filter(|c| c.kind() == kind)?;
    if rtpmap.clock_rate != codec.clock_rate() {
        return None;
    }
    let channels = match (codec, rtpmap.channels) {
        (Codec::Opus, None | Some("2")) => 2,
        (Codec::Opus, Some(_)) => return None,
        (_, None) => 0,
        (_, Some(_)) => return None,
    };

    let fmtp = formats.fmtp(pt);
    if codec == Codec::H264 && !h264_routable(fmtp) {
        return None;
    }

    Some(CodecConfig {
        codec,
        pt: Pt(pt),
        clock_rate: rtpmap.clock_rate,
        channels,
        fmtp: fmtp.to_owned(),
        rtx_pt: None,
        feedback: formats.feedback(pt),
    })
}

/// Attaches the RTX format at `pt` (`rtx/<clock>` with `apt=<primary>`) to its primary when
/// the primary was kept, has the same clock rate, and has no RTX yet.
fn attach_rtx(formats: &Formats<'_>, pt: u8, codecs: &mut [CodecConfig]) {
    let Some(rtpmap) = formats.rtpmap(pt) else {
        return;
    };
    if !rtpmap.name.eq_ignore_ascii_case("rtx") {
        return;
    }
    let Some(apt) = text::fmtp_param(formats.fmtp(pt), "apt").and_then(|a| a.parse::<u8>().ok())
    else {
        return;
    };

    let primary = codecs.iter_mut().find(|c| c.pt == Pt(apt));
    if let Some(primary) = primary {
        if primary.rtx_pt.is_none() && primary.clock_rate == rtpmap.clock_rate {
            primary.rtx_pt = Some(Pt(pt));
        }
    }
}
