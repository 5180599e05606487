//! Small lexical helpers shared by the offer reader and the answer writer: SDP attribute
//! lookups, `a=fmtp` parameter lists, and the character classes of RFC 8839 and RFC 8830.

use rtc_sdp::description::common::Attribute;

/// The value of the first attribute named `key`, or `None` when absent or valueless.
pub(super) fn value<'a>(attributes: &'a [Attribute], key: &str) -> Option<&'a str> {
    attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_deref())
        .map(str::trim)
}

/// The values of every attribute named `key`, in order.
pub(super) fn values<'a>(
    attributes: &'a [Attribute],
    key: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    attributes
        .iter()
        .filter(move |a| a.key == key)
        .filter_map(|a| a.value.as_deref())
        .map(str::trim)
}

/// Whether a flag attribute such as `a=rtcp-mux` is present.
pub(super) fn has(attributes: &[Attribute], key: &str) -> bool {
    attributes.iter().any(|a| a.key == key)
}

/// Splits the `<pt> <rest>` that `a=rtpmap`, `a=fmtp` and `a=rtcp-fb` values start with.
/// The payload type is `None` for the `*` wildcard of `a=rtcp-fb` (RFC 4585 section 4.2).
pub(super) fn split_pt(value: &str) -> Option<(Option<u8>, &str)> {
    let (pt, rest) = value.trim().split_once(|c: char| c.is_ascii_whitespace())?;
    if pt == "*" {
        return Some((None, rest.trim()));
    }
    let pt = pt.parse::<u8>().ok().filter(|pt| *pt <= 127)?;
    Some((Some(pt), rest.trim()))
}

/// Looks a parameter up in an `a=fmtp` list (`key=value;key=value`), ignoring the case
/// of the key (RFC 6184 section 8.1 and RFC 4588 section 8.6 names are case-insensitive).
pub(super) fn fmtp_param<'a>(fmtp: &'a str, key: &str) -> Option<&'a str> {
    fmtp.split(';')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(key))
        .map(|(_, v)| v.trim())
}

/// RFC 8839 section 5.4: `ice-char = ALPHA / DIGIT / "+" / "/"`, here with the length
/// bounds of `ice-ufrag` (4 to 256) or `ice-pwd` (22 to 256).
pub(super) fn is_ice_credential(value: &str, min_len: usize) -> bool {
    (min_len..=256).contains(&value.len()) && value.bytes().all(is_ice_char)
}

/// RFC 8839 section 5.1: `foundation = 1*32ice-char`.
pub(super) fn is_foundation(value: &str) -> bool {
    (1..=32).contains(&value.len()) && value.bytes().all(is_ice_char)
}

fn is_ice_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}

/// RFC 8830 section 2 (`msid-id`, `msid-appdata`): 1 to 64 `token-char`s (RFC 8866
/// section 9); also what we allow in a CNAME we write, which must not break the line.
pub(super) fn is_token(value: &str) -> bool {
    (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"\"(),/:;<=>?@[\\]".contains(&b))
}
