//! ICE credentials: the username fragment and password of one side of a session
//! (RFC 8445 section 5.3, grammar in RFC 8839 section 5.4).

use std::fmt;

use rand::Rng;

use super::IceError;

/// Length of a generated username fragment (RFC 8839 requires at least 4 characters).
const UFRAG_LEN: usize = 8;

/// Length of a generated password: 24 characters of 6 bits each, 144 bits of entropy
/// (RFC 8445 section 5.3 asks for at least 128 bits).
const PWD_LEN: usize = 24;

/// The 64 `ice-char`s of RFC 8839 section 5.4 (ALPHA / DIGIT / "+" / "/").
const ICE_CHARS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The local username fragment and password of one participant's ICE session.
///
/// The password is secret: it is never printed by `Debug` and should never be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct IceCredentials {
    /// Username fragment, sent in the clear in SDP and in every check's USERNAME.
    pub ufrag: String,
    pwd: String,
}

impl IceCredentials {
    /// Generates a random username fragment (8 ice-chars) and password (24 ice-chars).
    pub fn generate() -> IceCredentials {
        IceCredentials {
            ufrag: random_ice_string(UFRAG_LEN),
            pwd: random_ice_string(PWD_LEN),
        }
    }

    /// Builds credentials from known values, checking the RFC 8839 section 5.4 grammar:
    /// a ufrag of 4 to 256 ice-chars and a password of 22 to 256 ice-chars.
    pub fn new(ufrag: &str, pwd: &str) -> Result<IceCredentials, IceError> {
        if !is_ice_string(ufrag, 4) || !is_ice_string(pwd, 22) {
            return Err(IceError::InvalidCredentials);
        }

        Ok(IceCredentials {
            ufrag: ufrag.to_owned(),
            pwd: pwd.to_owned(),
        })
    }

    /// The password, for the SDP answer and the integrity key.
    pub fn pwd(&self) -> &str {
        &self.pwd
    }
}

impl fmt::Debug for IceCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IceCredentials")
            .field("ufrag", &self.ufrag)
            .field("pwd", &"<redacted>")
            .finish()
    }
}

/// Whether `value` is `min..=256` ice-chars.
pub(crate) fn is_ice_string(value: &str, min: usize) -> bool {
    (min..=256).contains(&value.len()) && value.bytes().all(|b| ICE_CHARS.contains(&b))
}

/// A string of `len` ice-chars drawn from the thread-local CSPRNG; each byte's low six bits
/// pick one of exactly 64 characters, so the choice is unbiased.
fn random_ice_string(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| {
            let index = usize::from(rng.random::<u8>() & 0x3F);
            ICE_CHARS.get(index).map_or('A', |&b| char::from(b))
        })
        .collect()
}
