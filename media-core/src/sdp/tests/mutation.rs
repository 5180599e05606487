//! Random edits of the fixtures: parsing never panics, and any answer re-parses.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

/// Applies one random edit: drop, repeat or swap lines, change or insert bytes, truncate.
fn mutate(rng: &mut StdRng, sdp: &mut Vec<u8>) {
    const ALPHABET: &[u8] = b" :/=;-0123456789aAzZ\r\n*.{}";
    if sdp.is_empty() {
        return;
    }
    let at = rng.random_range(0..sdp.len());
    match rng.random_range(0..7) {
        0 => sdp[at] = ALPHABET[rng.random_range(0..ALPHABET.len())],
        1 => sdp.insert(at, ALPHABET[rng.random_range(0..ALPHABET.len())]),
        2 => sdp.truncate(at),
        3 => sdp
            .splice(at..at, b"4294967296".iter().copied())
            .for_each(drop),
        _ => {
            let text = String::from_utf8_lossy(sdp).into_owned();
            let mut lines: Vec<&str> = text.split("\r\n").collect();
            let (i, j) = (
                rng.random_range(0..lines.len()),
                rng.random_range(0..lines.len()),
            );
            match rng.random_range(0..3) {
                0 => drop(lines.remove(i)),
                1 => lines.insert(i, lines[j]),
                _ => lines.swap(i, j),
            }
            *sdp = lines.join("\r\n").into_bytes();
        }
    }
}

#[test]
fn random_mutations_never_panic_and_answers_reparse() {
    let mut rng = StdRng::seed_from_u64(0x5d9_0ffe2);
    let mut answered = 0;
    for fixture in [
        CHROMIUM_WHIP,
        CHROMIUM_WHEP,
        FIREFOX,
        GSTREAMER,
        AIORTC,
        OBS,
    ] {
        for _ in 0..400 {
            let mut sdp = crlf(fixture).into_bytes();
            for _ in 0..rng.random_range(1..5) {
                mutate(&mut rng, &mut sdp);
            }
            let Ok(offer) = parse_offer(&String::from_utf8_lossy(&sdp)) else {
                continue;
            };
            let single = rng.random_bool(0.5);
            if let Ok((answer, _)) = answer_with(&offer, &|_, _| true, single) {
                reparse(&answer.sdp);
                answered += 1;
            }
        }
    }
    assert!(
        answered > 100,
        "mutations should leave many offers usable, got {answered}"
    );
}
