//! Writing our answer (RFC 3264 section 6, JSEP RFC 8829 section 5.3): an ICE-lite,
//! DTLS-passive endpoint that accepts one BUNDLE group (RFC 8843 section 7.3), mirrors
//! each m-line's direction, and keeps the offer's payload types, fmtp and extension ids.
//!
//! The answer is written as text; the tests check that it re-parses with `rtc-sdp`.

use std::fmt::{self, Write as _};
use std::net::SocketAddr;

use super::codec::CodecConfig;
use super::extension::ExtensionUri;
use super::offer::{Offer, OfferedMedia, Section};
use super::{text, unsupported, SdpError};
use crate::fingerprint::Fingerprint;
use crate::ids::{ExtId, MediaKind, Mid, Ssrc};

/// The transport protocol of one of our ICE candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CandidateTransport {
    /// UDP.
    Udp,
    /// TCP, always `tcptype passive`: we only accept connections (RFC 6544 section 4.5).
    Tcp,
}

/// One of our host candidates, written as `a=candidate` (RFC 8839 section 5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The relay port's public address.
    pub addr: SocketAddr,
    /// UDP, or passive TCP.
    pub transport: CandidateTransport,
    /// ICE priority (RFC 8445 section 5.1.2).
    pub priority: u32,
    /// ICE foundation, 1 to 32 `ice-char`s.
    pub foundation: String,
}

/// What [`build_answer`] needs besides the offer: our transport, the router's codec policy,
/// and the SSRCs we will send on each slot.
pub struct AnswerOptions<'a> {
    /// Our ICE username fragment, 4 to 256 `ice-char`s.
    pub ice_ufrag: &'a str,
    /// Our ICE password, 22 to 256 `ice-char`s.
    pub ice_pwd: &'a str,
    /// Our DTLS certificate fingerprint.
    pub fingerprint: &'a Fingerprint,
    /// Our host candidates; the answer carries them all and then `a=end-of-candidates`.
    pub candidates: &'a [Candidate],
    /// The router's codec policy: whether this offered codec may be used on this m-line.
    pub accept: &'a dyn Fn(&OfferedMedia, &CodecConfig) -> bool,
    /// When set, an m-line on which the remote publishes answers only its first accepted
    /// codec (and that codec's RTX), so the publisher cannot switch codecs mid-stream.
    pub single_codec_for_tracks: bool,
    /// The SSRC (and RTX SSRC) we will send on a slot; called once per accepted slot.
    pub slot_ssrc: &'a mut dyn FnMut(&OfferedMedia) -> (Ssrc, Option<Ssrc>),
    /// The RTCP CNAME written on our `a=ssrc` lines (RFC 7022).
    pub cname: &'a str,
    /// The media stream id of our `a=msid` lines (RFC 8830), a token of 1 to 64 chars.
    pub stream_id: &'a str,
}

/// Our answer and what was agreed on each accepted m-line.
#[derive(Clone)]
pub struct Answer {
    /// The answer SDP; it carries our ICE password, so it is not printed by `Debug`.
    pub sdp: String,
    /// The accepted audio and video m-lines, in offer order; rejected ones are left out.
    pub media: Vec<NegotiatedMedia>,
}

impl fmt::Debug for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Answer")
            .field("sdp", &format_args!("<{} bytes>", self.sdp.len()))
            .field("media", &self.media)
            .finish()
    }
}

/// One accepted m-line as answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedMedia {
    /// Its media identification tag.
    pub mid: Mid,
    /// Audio or video.
    pub kind: MediaKind,
    /// The remote sends on it: it is a published track.
    pub receives: bool,
    /// We send on it: it is a slot the router fills with someone else's track.
    pub sends: bool,
    /// The codecs in the answer, in offer order, with their RTX.
    pub codecs: Vec<CodecConfig>,
    /// The header extensions in the answer with their ids.
    pub extensions: Vec<(ExtId, ExtensionUri)>,
    /// The SSRCs the remote declared.
    pub remote_ssrcs: Vec<Ssrc>,
    /// The remote's `(primary, rtx)` SSRC pair.
    pub remote_rtx_ssrc: Option<(Ssrc, Ssrc)>,
    /// For a slot, the SSRC we send and our RTX SSRC when an answered codec has RTX.
    pub local_ssrc: Option<(Ssrc, Option<Ssrc>)>,
}

/// Answers a parsed offer.
///
/// An m-line is accepted when it was usable in the offer and the router accepts at least
/// one of its codecs; the others get port 0. The answer's BUNDLE group holds the accepted
/// MIDs in the offer's group order, so its first MID is our tagged m-line (RFC 8843
/// section 7.3.1), which carries the candidates. Refused with [`SdpError::Unsupported`]
/// when no m-line is accepted, and [`SdpError::InvalidOptions`] when `opts` cannot be
/// written into SDP.
pub fn build_answer(offer: &Offer, mut opts: AnswerOptions<'_>) -> Result<Answer, SdpError> {
    check_options(&opts)?;

    let negotiated: Vec<Option<NegotiatedMedia>> = offer
        .media
        .iter()
        .map(|m| negotiate(m, &mut opts))
        .collect();
    let bundle = answer_bundle(offer, &negotiated);
    let Some(&tag) = bundle.first() else {
        return Err(unsupported("the router accepts none of the offered codecs"));
    };

    let mut writer = Writer::default();
    writer.session(&opts, &bundle, negotiated.iter().flatten().any(|n| n.sends));
    for section in &offer.sections {
        match section.media.and_then(|i| negotiated.get(i)?.as_ref()) {
            Some(media) => writer.media(section, media, offer, &opts, media.mid == tag),
            None => writer.rejected(section),
        }
    }

    Ok(Answer {
        sdp: writer.sdp,
        media: negotiated.into_iter().flatten().collect(),
    })
}

/// The accepted MIDs in the order of the offer's BUNDLE group, then any accepted MID the
/// group lacks (only possible if the caller edited the [`Offer`]), so that every accepted
/// m-line shares the transport.
fn answer_bundle(offer: &Offer, negotiated: &[Option<NegotiatedMedia>]) -> Vec<Mid> {
    let accepted: Vec<Mid> = negotiated.iter().flatten().map(|n| n.mid).collect();
    let mut bundle: Vec<Mid> = offer
        .bundle
        .iter()
        .copied()
        .filter(|mid| accepted.contains(mid))
        .collect();
    for mid in accepted {
        if !bundle.contains(&mid) {
            bundle.push(mid);
        }
    }
    bundle
}

fn check_options(opts: &AnswerOptions<'_>) -> Result<(), SdpError> {
    let invalid = |what: &str| Err(SdpError::InvalidOptions(what.to_owned()));
    if !text::is_ice_credential(opts.ice_ufrag, 4) || !text::is_ice_credential(opts.ice_pwd, 22) {
        return invalid("ICE credentials break RFC 8839 section 5.4");
    }
    if !opts.fingerprint.is_well_formed() {
        return invalid("fingerprint length does not match its hash function");
    }
    if opts
        .candidates
        .iter()
        .any(|c| !text::is_foundation(&c.foundation))
    {
        return invalid("candidate foundation is not 1 to 32 ice-chars");
    }
    let cname_ok =
        (1..=255).contains(&opts.cname.len()) && opts.cname.bytes().all(|b| b.is_ascii_graphic());
    if !cname_ok || !text::is_token(opts.stream_id) {
        return invalid("CNAME or stream id has characters SDP does not allow");
    }
    Ok(())
}

/// What we agree to on one offered m-line, or `None` to reject it.
fn negotiate(offered: &OfferedMedia, opts: &mut AnswerOptions<'_>) -> Option<NegotiatedMedia> {
    if offered.rejected {
        return None;
    }
    let mut codecs: Vec<CodecConfig> = offered
        .codecs
        .iter()
        .filter(|c| (opts.accept)(offered, c))
        .cloned()
        .collect();
    if codecs.is_empty() {
        return None;
    }
    if opts.single_codec_for_tracks && offered.direction.sends() {
        codecs.truncate(1);
    }

    let local_ssrc = offered.direction.receives().then(|| {
        let (ssrc, rtx) = (opts.slot_ssrc)(offered);
        let has_rtx = codecs.iter().any(|c| c.rtx_pt.is_some());
        (ssrc, rtx.filter(|_| has_rtx))
    });

    Some(NegotiatedMedia {
        mid: offered.mid,
        kind: offered.kind,
        receives: offered.direction.sends(),
        sends: offered.direction.receives(),
        codecs,
        extensions: offered.extensions.clone(),
        remote_ssrcs: offered.ssrcs.clone(),
        remote_rtx_ssrc: offered.rtx_ssrc,
        local_ssrc,
    })
}

/// The address and port for `m=` and `c=` lines: our highest-priority UDP candidate, or
/// the JSEP placeholder `0.0.0.0:9` (RFC 8829 section 5.3.1) when there is none.
fn default_address(candidates: &[Candidate]) -> Option<SocketAddr> {
    candidates
        .iter()
        .filter(|c| c.transport == CandidateTransport::Udp)
        .max_by_key(|c| c.priority)
        .map(|c| c.addr)
}

/// Accumulates answer lines, each ended with CRLF (RFC 8866 section 5).
#[derive(Default)]
struct Writer {
    sdp: String,
}

impl Writer {
    fn line(&mut self, args: fmt::Arguments<'_>) {
        // Writing into a String cannot fail.
        let _ = self.sdp.write_fmt(args);
        self.sdp.push_str("\r\n");
    }

    fn session(&mut self, opts: &AnswerOptions<'_>, bundle: &[Mid], has_slots: bool) {
        let session_id = rand::random::<u64>() >> 1;
        self.line(format_args!("v=0"));
        self.line(format_args!("o=- {session_id} 1 IN IP4 0.0.0.0"));
        self.line(format_args!("s=-"));
        self.line(format_args!("t=0 0"));
        self.line(format_args!("a=ice-lite"));
        let mut group = String::from("BUNDLE");
        for mid in bundle {
            group.push(' ');
            group.push_str(mid.as_str());
        }
        self.line(format_args!("a=group:{group}"));
        if has_slots {
            self.line(format_args!("a=msid-semantic:WMS {}", opts.stream_id));
        }
    }

    /// A rejected m-line: port 0, the offer's media, proto and one format, and the MID
    /// (RFC 3264 section 6; RFC 8843 section 7.3.3 removes it from the BUNDLE group).
    fn rejected(&mut self, section: &Section) {
        let format = if section.first_format.is_empty() {
            "0"
        } else {
            &section.first_format
        };
        self.line(format_args!(
            "m={} 0 {} {format}",
            section.media_type, section.proto
        ));
        self.line(format_args!("c=IN IP4 0.0.0.0"));
        self.line(format_args!("a=mid:{}", section.mid));
    }

    fn media(
        &mut self,
        section: &Section,
        media: &NegotiatedMedia,
        offer: &Offer,
        opts: &AnswerOptions<'_>,
        tagged: bool,
    ) {
        let offered = section.media.and_then(|i| offer.media.get(i));
        self.m_line(section, media, opts.candidates);
        self.transport(opts, media.mid);
        let direction = offered.map(|o| o.direction.mirrored());
        if let Some(direction) = direction {
            self.line(format_args!("a={}", direction.sdp_name()));
        }
        self.line(format_args!("a=rtcp-mux"));
        if offered.is_some_and(|o| o.rtcp_rsize) {
            self.line(format_args!("a=rtcp-rsize"));
        }
        for (id, uri) in &media.extensions {
            self.line(format_args!("a=extmap:{} {}", id.0, uri.uri()));
        }
        for codec in &media.codecs {
            self.codec(codec);
        }
        if let Some(local) = media.local_ssrc {
            self.slot(media, local, opts);
        }
        if tagged {
            self.candidates(opts.candidates);
        }
    }

    fn m_line(&mut self, section: &Section, media: &NegotiatedMedia, candidates: &[Candidate]) {
        let mut formats = String::new();
        for codec in &media.codecs {
            let _ = write!(formats, " {}", codec.pt.0);
            if let Some(rtx) = codec.rtx_pt {
                let _ = write!(formats, " {}", rtx.0);
            }
        }
        let (port, family, ip) = match default_address(candidates) {
            Some(SocketAddr::V4(a)) => (a.port(), "IP4", a.ip().to_string()),
            Some(SocketAddr::V6(a)) => (a.port(), "IP6", a.ip().to_string()),
            None => (9, "IP4", "0.0.0.0".to_owned()),
        };
        self.line(format_args!(
            "m={} {port} {}{formats}",
            section.media_type, section.proto
        ));
        self.line(format_args!("c=IN {family} {ip}"));
    }

    /// The transport attributes, repeated on every accepted m-line as browsers do; they are
    /// identical, so each bundled m-line names the same transport.
    fn transport(&mut self, opts: &AnswerOptions<'_>, mid: Mid) {
        self.line(format_args!("a=mid:{mid}"));
        self.line(format_args!("a=ice-ufrag:{}", opts.ice_ufrag));
        self.line(format_args!("a=ice-pwd:{}", opts.ice_pwd));
        self.line(format_args!("a=fingerprint:{}", opts.fingerprint));
        self.line(format_args!("a=setup:passive"));
    }

    fn codec(&mut self, codec: &CodecConfig) {
        let (pt, name, clock) = (codec.pt.0, codec.codec.sdp_name(), codec.clock_rate);
        if codec.channels > 0 {
            self.line(format_args!(
                "a=rtpmap:{pt} {name}/{clock}/{}",
                codec.channels
            ));
        } else {
            self.line(format_args!("a=rtpmap:{pt} {name}/{clock}"));
        }
        if !codec.fmtp.is_empty() {
            self.line(format_args!("a=fmtp:{pt} {}", codec.fmtp));
        }
        for feedback in codec.feedback.sdp_values() {
            self.line(format_args!("a=rtcp-fb:{pt} {feedback}"));
        }
        if let Some(rtx) = codec.rtx_pt {
            self.line(format_args!("a=rtpmap:{} rtx/{clock}", rtx.0));
            self.line(format_args!("a=fmtp:{} apt={pt}", rtx.0));
        }
    }

    /// What we send on a slot: `a=msid` (RFC 8830) and the SSRCs with their CNAME and
    /// RTX pairing (RFC 5576 sections 4.1 and 4.2).
    fn slot(
        &mut self,
        media: &NegotiatedMedia,
        local: (Ssrc, Option<Ssrc>),
        opts: &AnswerOptions<'_>,
    ) {
        let kind = match media.kind {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
        };
        let (stream, track) = (opts.stream_id, format!("{kind}-{}", media.mid));
        self.line(format_args!("a=msid:{stream} {track}"));
        let (primary, rtx) = local;
        if let Some(rtx) = rtx {
            self.line(format_args!("a=ssrc-group:FID {} {}", primary.0, rtx.0));
        }
        for ssrc in std::iter::once(primary).chain(rtx) {
            self.line(format_args!("a=ssrc:{} cname:{}", ssrc.0, opts.cname));
            self.line(format_args!("a=ssrc:{} msid:{stream} {track}", ssrc.0));
        }
    }

    /// RFC 8839 section 5.1 `candidate-attribute`, host candidates of component 1 (RTP; with
    /// rtcp-mux there is no other), then `a=end-of-candidates` (section 5.3): we gather
    /// nothing later.
    fn candidates(&mut self, candidates: &[Candidate]) {
        for c in candidates {
            let (transport, tcptype) = match c.transport {
                CandidateTransport::Udp => ("udp", ""),
                CandidateTransport::Tcp => ("tcp", " tcptype passive"),
            };
            let (ip, port) = (c.addr.ip(), c.addr.port());
            self.line(format_args!(
                "a=candidate:{} 1 {transport} {} {ip} {port} typ host{tcptype}",
                c.foundation, c.priority
            ));
        }
        self.line(format_args!("a=end-of-candidates"));
    }
}
