//! Reading a WebRTC offer: the shared transport (ICE credentials, RFC 8839 section 5.4;
//! DTLS fingerprint and role, RFC 8842), BUNDLE (RFC 8843) and rtcp-mux (RFC 5761) rules,
//! and each m-line's direction (RFC 3264 section 6.1), codecs, extensions and SSRCs
//! (RFC 5576).

use std::fmt;
use std::io::Cursor;

use rtc_sdp::description::common::Attribute;
use rtc_sdp::{MediaDescription, SessionDescription};

use super::codec::{read_codecs, CodecConfig};
use super::extension::{read_extmaps, ExtensionUri};
use super::{malformed, text, unsupported, SdpError, MAX_MEDIA_SECTIONS, MAX_OFFER_LEN};
use crate::fingerprint::{Fingerprint, FingerprintError};
use crate::ids::{ExtId, MediaKind, Mid, Ssrc};

/// The direction an m-line's media flows, from the point of view of whoever wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Both ways.
    SendRecv,
    /// The writer only sends.
    SendOnly,
    /// The writer only receives.
    RecvOnly,
    /// Neither.
    Inactive,
}

impl Direction {
    /// The attribute name, `a=sendrecv` and so on.
    pub fn sdp_name(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    fn from_sdp_name(name: &str) -> Option<Direction> {
        [
            Direction::SendRecv,
            Direction::SendOnly,
            Direction::RecvOnly,
            Direction::Inactive,
        ]
        .into_iter()
        .find(|d| d.sdp_name() == name)
    }

    /// Whether the writer sends media: in an offer, the m-line is a published track.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether the writer receives media: in an offer, the m-line is a slot to fill.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The direction of a writer that sends and receives as told.
    pub fn from_flags(sends: bool, receives: bool) -> Direction {
        match (sends, receives) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// The direction the answerer writes for this offered one (RFC 3264 section 6.1).
    pub fn mirrored(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            other => other,
        }
    }
}

/// The DTLS role the offerer proposes (RFC 8842 section 5.2); we always answer `passive`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Setup {
    /// `a=setup:actpass`, what JSEP offerers send.
    Actpass,
    /// `a=setup:active`, or no `a=setup` at all (RFC 4145 section 4 default).
    Active,
}

/// A parsed offer: the transport shared by every bundled m-line and the audio and video
/// m-lines in offer order.
#[derive(Clone)]
pub struct Offer {
    /// The offerer's ICE username fragment.
    pub ice_ufrag: String,
    /// The offerer's ICE password; a credential, never logged.
    pub ice_pwd: String,
    /// The offerer's DTLS certificate fingerprint.
    pub fingerprint: Fingerprint,
    /// The audio and video m-lines, in offer order, including the ones we reject.
    pub media: Vec<OfferedMedia>,
    /// The offer's BUNDLE group covering its media, in the offerer's order.
    pub bundle: Vec<Mid>,
    /// The DTLS role the offerer proposed.
    pub setup: Setup,
    /// Every m-line in order, for the answer, which must repeat them all.
    pub(super) sections: Vec<Section>,
}

impl Offer {
    /// The MIDs of every m-line, including data channels and other rejected ones.
    pub fn mids(&self) -> impl Iterator<Item = Mid> + '_ {
        self.sections.iter().map(|s| s.mid)
    }
}

impl fmt::Debug for Offer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Offer")
            .field("ice_ufrag", &self.ice_ufrag)
            .field("ice_pwd", &"<redacted>")
            .field("fingerprint", &self.fingerprint)
            .field("media", &self.media)
            .field("bundle", &self.bundle)
            .field("setup", &self.setup)
            .finish()
    }
}

/// One m-line of an offer as written, so that the answer can repeat or reject it.
#[derive(Debug, Clone)]
pub(super) struct Section {
    pub(super) mid: Mid,
    /// The `<media>` token, such as `audio` or `application`.
    pub(super) media_type: String,
    /// The `<proto>` token, such as `UDP/TLS/RTP/SAVPF`.
    pub(super) proto: String,
    /// The first `<fmt>` token, which a rejected m-line repeats.
    pub(super) first_format: String,
    /// Index into [`Offer::media`] for audio and video m-lines.
    pub(super) media: Option<usize>,
}

/// One audio or video m-line of an offer.
#[derive(Debug, Clone)]
pub struct OfferedMedia {
    /// Its media identification tag.
    pub mid: Mid,
    /// Audio or video.
    pub kind: MediaKind,
    /// The offerer's direction: it publishes a track when it sends, and opens a slot for
    /// someone else's track when it receives.
    pub direction: Direction,
    /// The codecs we can route, in offer (preference) order.
    pub codecs: Vec<CodecConfig>,
    /// The accepted header extensions with the offer's ids.
    pub extensions: Vec<(ExtId, ExtensionUri)>,
    /// Every SSRC the offerer declared with `a=ssrc`, RTX ones included.
    pub ssrcs: Vec<Ssrc>,
    /// `(primary, rtx)` from the first `a=ssrc-group:FID` (RFC 5576 section 4.2).
    pub rtx_ssrc: Option<(Ssrc, Ssrc)>,
    /// `a=msid` (`<stream id> <track id>`, RFC 8830), or the `msid:` of an `a=ssrc`.
    pub msid: Option<String>,
    /// Whether the offerer asked for reduced-size RTCP (RFC 5506).
    pub rtcp_rsize: bool,
    /// Whether the m-line cannot be used whatever the router decides: port 0, a non-RTP
    /// or unencrypted profile, or no codec we can route.
    pub rejected: bool,
}

/// Parses and checks an offer.
///
/// The offer must fit in [`MAX_OFFER_LEN`] bytes and [`MAX_MEDIA_SECTIONS`] m-lines, carry
/// ICE credentials and a SHA-2 fingerprint (session or media level), propose `actpass` or
/// `active`, and bundle every usable m-line with rtcp-mux. At least one m-line must have a
/// codec we can route.
pub fn parse_offer(sdp: &str) -> Result<Offer, SdpError> {
    let result = read_offer(sdp);
    if let Err(error) = &result {
        tracing::debug!(target: "api", %error, "SDP offer refused");
    }
    result
}

fn read_offer(sdp: &str) -> Result<Offer, SdpError> {
    if sdp.len() > MAX_OFFER_LEN {
        return Err(malformed(format!(
            "offer longer than {MAX_OFFER_LEN} bytes"
        )));
    }
    check_characters(sdp)?;
    let desc = SessionDescription::unmarshal(&mut Cursor::new(sdp.as_bytes()))
        .map_err(|e| malformed(shorten(&e.to_string())))?;
    if desc.media_descriptions.len() > MAX_MEDIA_SECTIONS {
        return Err(unsupported(format!(
            "more than {MAX_MEDIA_SECTIONS} m-lines"
        )));
    }
    if text::has(&desc.attributes, "ice-lite") {
        return Err(unsupported("offerer is ICE-lite, and so are we"));
    }

    let (sections, media) = read_sections(&desc)?;
    let tag = tag_section(&desc, &sections);
    let transport = read_transport(&desc, tag)?;

    check_usable(&media)?;
    let bundle = covering_bundle(&desc.attributes, &media)?;
    check_rtcp_mux(&desc, &sections, &media)?;

    Ok(Offer {
        ice_ufrag: transport.ice_ufrag,
        ice_pwd: transport.ice_pwd,
        fingerprint: transport.fingerprint,
        media,
        bundle,
        setup: transport.setup,
        sections,
    })
}

/// Refuses control characters other than tab and CRLF line ends (RFC 8866 section 9
/// grammar), so that nothing echoed from the offer can split a line of the answer for a
/// parser that ends lines at a bare CR.
fn check_characters(sdp: &str) -> Result<(), SdpError> {
    let bytes = sdp.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let bare_cr = b == b'\r' && bytes.get(i + 1) != Some(&b'\n');
        let control = (b < 0x20 && b != b'\t' && b != b'\r' && b != b'\n') || b == 0x7F;
        if bare_cr || control {
            return Err(malformed(format!("control character at byte {i}")));
        }
    }
    Ok(())
}

/// Keeps an error message from the parser short; it may quote the offer.
fn shorten(message: &str) -> String {
    message.chars().take(120).collect()
}

fn read_sections(desc: &SessionDescription) -> Result<(Vec<Section>, Vec<OfferedMedia>), SdpError> {
    let session_direction = read_direction(&desc.attributes).unwrap_or(Direction::SendRecv);
    let mut sections: Vec<Section> = Vec::new();
    let mut media = Vec::new();

    for (index, md) in desc.media_descriptions.iter().enumerate() {
        let mid = read_mid(md, index)?;
        if sections.iter().any(|s| s.mid == mid) {
            return Err(malformed(format!("a=mid:{mid} appears twice")));
        }
        let kind = match md.media_name.media.as_str() {
            "audio" => Some(MediaKind::Audio),
            "video" => Some(MediaKind::Video),
            _ => None,
        };
        let media_index = match kind {
            Some(kind) => {
                media.push(read_media(md, mid, kind, session_direction)?);
                Some(media.len() - 1)
            }
            None => None,
        };
        sections.push(Section {
            mid,
            media_type: md.media_name.media.clone(),
            proto: md.media_name.protos.join("/"),
            first_format: md.media_name.formats.first().cloned().unwrap_or_default(),
            media: media_index,
        });
    }

    Ok((sections, media))
}

/// The m-line's MID, required because BUNDLE names m-lines by it (RFC 8843 section 9.2).
fn read_mid(md: &MediaDescription, index: usize) -> Result<Mid, SdpError> {
    let value = text::value(&md.attributes, "mid")
        .ok_or_else(|| unsupported(format!("m-line {index} has no a=mid, BUNDLE needs one")))?;
    if !text::is_token(value) {
        return Err(malformed(format!("m-line {index} has an invalid a=mid")));
    }
    Mid::new(value.as_bytes()).ok_or_else(|| {
        unsupported(format!(
            "m-line {index} has an a=mid over {} bytes",
            Mid::MAX_LEN
        ))
    })
}

fn read_direction(attributes: &[Attribute]) -> Option<Direction> {
    attributes
        .iter()
        .filter(|a| a.value.is_none())
        .find_map(|a| Direction::from_sdp_name(&a.key))
}

fn read_media(
    md: &MediaDescription,
    mid: Mid,
    kind: MediaKind,
    session_direction: Direction,
) -> Result<OfferedMedia, SdpError> {
    let attributes = md.attributes.as_slice();
    let codecs = read_codecs(attributes, &md.media_name.formats, kind);
    let (ssrcs, msid_of_ssrc) = read_ssrcs(attributes)?;
    let port_open = md.media_name.port.value != 0 || text::has(attributes, "bundle-only");
    let secure_rtp = md.media_name.protos.join("/").ends_with("RTP/SAVPF");

    Ok(OfferedMedia {
        mid,
        kind,
        direction: read_direction(attributes).unwrap_or(session_direction),
        rejected: !port_open || !secure_rtp || codecs.is_empty(),
        codecs,
        extensions: read_extmaps(attributes, kind),
        ssrcs,
        rtx_ssrc: read_fid_group(attributes)?,
        msid: text::value(attributes, "msid")
            .map(str::to_owned)
            .or(msid_of_ssrc),
        rtcp_rsize: text::has(attributes, "rtcp-rsize"),
    })
}

/// The SSRCs of `a=ssrc:<ssrc> <attribute>` lines in order, and the first `msid:` among
/// their attributes (what Plan B era senders write instead of a media-level `a=msid`).
fn read_ssrcs(attributes: &[Attribute]) -> Result<(Vec<Ssrc>, Option<String>), SdpError> {
    let mut ssrcs = Vec::new();
    let mut msid = None;
    for value in text::values(attributes, "ssrc") {
        let (id, attribute) = value.split_once(' ').unwrap_or((value, ""));
        let ssrc = parse_ssrc(id)?;
        if !ssrcs.contains(&ssrc) {
            ssrcs.push(ssrc);
        }
        if let Some(stream_and_track) = attribute.trim().strip_prefix("msid:") {
            msid.get_or_insert_with(|| stream_and_track.trim().to_owned());
        }
    }
    Ok((ssrcs, msid))
}

/// The first `a=ssrc-group:FID <primary> <rtx>` (RFC 5576 section 4.2, RFC 4588 section 8).
fn read_fid_group(attributes: &[Attribute]) -> Result<Option<(Ssrc, Ssrc)>, SdpError> {
    for value in text::values(attributes, "ssrc-group") {
        let mut fields = value.split_ascii_whitespace();
        if fields.next() != Some("FID") {
            continue;
        }
        let (Some(primary), Some(rtx)) = (fields.next(), fields.next()) else {
            return Err(malformed("a=ssrc-group:FID needs two SSRCs"));
        };
        return Ok(Some((parse_ssrc(primary)?, parse_ssrc(rtx)?)));
    }
    Ok(None)
}

fn parse_ssrc(value: &str) -> Result<Ssrc, SdpError> {
    value
        .parse::<u32>()
        .map(Ssrc)
        .map_err(|_| malformed(format!("SSRC {} is not a 32-bit number", shorten(value))))
}

/// The m-line whose transport attributes count: the first MID of the first BUNDLE group
/// (the offerer's tagged m-line, RFC 8843 section 7.2), else the first m-line.
fn tag_section<'a>(
    desc: &'a SessionDescription,
    sections: &[Section],
) -> Option<&'a MediaDescription> {
    let tag_mid = bundle_groups(&desc.attributes)
        .next()
        .and_then(|group| group.first().copied());
    let index = tag_mid
        .and_then(|mid| sections.iter().position(|s| s.mid == mid))
        .unwrap_or(0);
    desc.media_descriptions.get(index)
}

fn bundle_groups(attributes: &[Attribute]) -> impl Iterator<Item = Vec<Mid>> + '_ {
    text::values(attributes, "group").filter_map(|value| {
        let mut fields = value.split_ascii_whitespace();
        (fields.next() == Some("BUNDLE"))
            .then(|| fields.filter_map(|mid| Mid::new(mid.as_bytes())).collect())
    })
}

struct Transport {
    ice_ufrag: String,
    ice_pwd: String,
    fingerprint: Fingerprint,
    setup: Setup,
}

/// ICE credentials, fingerprint and DTLS role: media level on the tagged m-line, else
/// session level (RFC 8839 section 5.4, RFC 8122 section 5).
fn read_transport(
    desc: &SessionDescription,
    tag: Option<&MediaDescription>,
) -> Result<Transport, SdpError> {
    let tag_attributes = tag.map(|md| md.attributes.as_slice()).unwrap_or_default();
    let lookup =
        |key: &str| text::value(tag_attributes, key).or_else(|| text::value(&desc.attributes, key));

    let ice_ufrag = lookup("ice-ufrag").ok_or_else(|| malformed("no a=ice-ufrag"))?;
    let ice_pwd = lookup("ice-pwd").ok_or_else(|| malformed("no a=ice-pwd"))?;
    if !text::is_ice_credential(ice_ufrag, 4) || !text::is_ice_credential(ice_pwd, 22) {
        return Err(malformed("ICE credentials break RFC 8839 section 5.4"));
    }

    let fingerprints = if text::has(tag_attributes, "fingerprint") {
        tag_attributes
    } else {
        &desc.attributes
    };

    Ok(Transport {
        ice_ufrag: ice_ufrag.to_owned(),
        ice_pwd: ice_pwd.to_owned(),
        fingerprint: read_fingerprint(fingerprints)?,
        setup: read_setup(desc, lookup("setup"))?,
    })
}

/// The first fingerprint with a hash function we accept; several may be offered
/// (RFC 8122 section 5), aiortc sends SHA-256, SHA-384 and SHA-512.
fn read_fingerprint(attributes: &[Attribute]) -> Result<Fingerprint, SdpError> {
    let mut first_error = None;
    for value in text::values(attributes, "fingerprint") {
        match value.parse::<Fingerprint>() {
            Ok(fingerprint) => return Ok(fingerprint),
            Err(FingerprintError::UnsupportedHash) => {
                let name = value.split(' ').next().unwrap_or_default();
                first_error
                    .get_or_insert(unsupported(format!("fingerprint hash function {name:.16}")));
            }
            Err(FingerprintError::Malformed) => {
                first_error.get_or_insert(malformed(
                    "a=fingerprint is not a hash name and a digest of its length",
                ));
            }
        }
    }
    Err(first_error.unwrap_or_else(|| malformed("no a=fingerprint")))
}

/// The DTLS role: we are always passive (the server), so the offerer must be able to be
/// active (RFC 8842 section 5.3). Every `a=setup` in the offer is checked, not only the
/// tagged one, since each names the role for the one shared DTLS association.
fn read_setup(desc: &SessionDescription, tagged: Option<&str>) -> Result<Setup, SdpError> {
    let all = desc
        .media_descriptions
        .iter()
        .map(|md| md.attributes.as_slice());
    for attributes in std::iter::once(desc.attributes.as_slice()).chain(all) {
        for value in text::values(attributes, "setup") {
            parse_setup(value)?;
        }
    }
    tagged.map_or(Ok(Setup::Active), parse_setup)
}

fn parse_setup(value: &str) -> Result<Setup, SdpError> {
    match value {
        "actpass" => Ok(Setup::Actpass),
        "active" => Ok(Setup::Active),
        "passive" => Err(unsupported("a=setup:passive, but we are the DTLS server")),
        "holdconn" => Err(unsupported("a=setup:holdconn")),
        _ => Err(malformed(
            "a=setup is not actpass, active, passive or holdconn",
        )),
    }
}

fn check_usable(media: &[OfferedMedia]) -> Result<(), SdpError> {
    if media.iter().any(|m| !m.rejected) {
        return Ok(());
    }
    Err(unsupported(
        "no audio or video m-line offers a codec we route (Opus, VP8, VP9, H.264, AV1)",
    ))
}

/// The BUNDLE group that holds every usable m-line (RFC 8843); we run one transport.
fn covering_bundle(attributes: &[Attribute], media: &[OfferedMedia]) -> Result<Vec<Mid>, SdpError> {
    let usable: Vec<Mid> = media
        .iter()
        .filter(|m| !m.rejected)
        .map(|m| m.mid)
        .collect();
    bundle_groups(attributes)
        .find(|group| usable.iter().all(|mid| group.contains(mid)))
        .ok_or_else(|| unsupported("no a=group:BUNDLE holds every usable m-line"))
}

/// Every usable m-line that carries its own transport must have `a=rtcp-mux` (RFC 8843
/// section 9.3 requires it with BUNDLE); `bundle-only` m-lines may leave it out.
fn check_rtcp_mux(
    desc: &SessionDescription,
    sections: &[Section],
    media: &[OfferedMedia],
) -> Result<(), SdpError> {
    for (section, md) in sections.iter().zip(&desc.media_descriptions) {
        let usable = section
            .media
            .and_then(|i| media.get(i))
            .is_some_and(|m| !m.rejected);
        let attributes = md.attributes.as_slice();
        if usable && !text::has(attributes, "rtcp-mux") && !text::has(attributes, "bundle-only") {
            return Err(unsupported(format!(
                "a=mid:{} has no a=rtcp-mux",
                section.mid
            )));
        }
    }
    Ok(())
}
