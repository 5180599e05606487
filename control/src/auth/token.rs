//! Secrets the API hands out: bearer tokens, join tokens and six-digit PINs.
//!
//! A [`BearerToken`] (256 random bits) authenticates an API client after sign-in; a
//! [`JoinToken`] (128 random bits) lets a customer join one support session from a link; a
//! [`Pin`] lets a customer join by typing six digits an agent reads out. Tokens travel as
//! URL-safe base64 without padding (RFC 4648 section 5) and are stored only as their
//! SHA-256 digest ([`TokenHash`]): a stolen store yields nothing that can be presented.
//! A plain digest suffices because tokens are uniformly random and too long to search.
//!
//! A PIN has only 10^6 values: it must be short-lived and its attempts rate-limited.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::REDACTED;

/// Random bytes in a bearer token: 256 bits.
pub const BEARER_TOKEN_BYTES: usize = 32;

/// Random bytes in a join token: 128 bits.
pub const JOIN_TOKEN_BYTES: usize = 16;

/// Digits in a PIN.
pub const PIN_DIGITS: usize = 6;

/// Number of distinct PINs.
const PIN_VALUES: usize = 1_000_000;

/// A stored digest that is not 64 hexadecimal digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("token hash must be 64 hexadecimal digits")]
pub struct MalformedTokenHash;

/// SHA-256 digest of a token, the only form in which tokens are stored.
///
/// Equality is constant-time.
#[derive(Clone, Copy, Eq)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// The digest of a presented or newly issued token.
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// A digest read back from storage as bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A digest read back from storage as 64 hexadecimal digits (either case).
    pub fn from_hex(hex: &str) -> Result<Self, MalformedTokenHash> {
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(MalformedTokenHash);
        }

        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| MalformedTokenHash)?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| MalformedTokenHash)?;
        }
        Ok(Self(bytes))
    }

    /// The digest's bytes, for storage.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The digest as 64 lowercase hexadecimal digits, for storage.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Whether `presented` is the token this digest was made from; constant-time.
    pub fn matches(&self, presented: &str) -> bool {
        *self == TokenHash::of(presented)
    }

    /// Index of the digest in `stored` that `presented` matches. Every entry is compared in
    /// constant time, with no early exit, so timing does not tell how far the match was.
    pub fn find(presented: &str, stored: &[TokenHash]) -> Option<usize> {
        let digest = TokenHash::of(presented);
        let mut found = None;
        for (index, candidate) in stored.iter().enumerate() {
            if *candidate == digest {
                found = Some(index);
            }
        }
        found
    }
}

impl PartialEq for TokenHash {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for TokenHash {
    /// Prints the first 8 hex digits, enough to tell digests apart in a test failure.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.to_hex();
        write!(f, "TokenHash({}…)", hex.get(..8).unwrap_or_default())
    }
}

/// `N` random bytes as URL-safe base64 without padding.
fn random_base64<const N: usize>() -> String {
    let bytes: [u8; N] = super::random_bytes();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A 256-bit API bearer token: give it to the client once, store only [`BearerToken::hash`].
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(String);

impl BearerToken {
    /// A fresh token from the operating system's random source.
    pub fn generate() -> Self {
        Self(random_base64::<BEARER_TOKEN_BYTES>())
    }

    /// The token's 43 characters, to send to the client.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digest to store.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BearerToken").field(&REDACTED).finish()
    }
}

/// A 128-bit token in a customer's join link: store only [`JoinToken::hash`].
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken(String);

impl JoinToken {
    /// A fresh token from the operating system's random source.
    pub fn generate() -> Self {
        Self(random_base64::<JOIN_TOKEN_BYTES>())
    }

    /// The token's 22 characters, to put in the link.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digest to store.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("JoinToken").field(&REDACTED).finish()
    }
}

/// A six-digit PIN, 000000 to 999999 drawn uniformly, leading zeros kept.
#[derive(Clone, PartialEq, Eq)]
pub struct Pin(String);

impl Pin {
    /// A fresh PIN from the operating system's random source.
    pub fn generate() -> Self {
        let value = super::random_index(PIN_VALUES);
        Self(format!("{value:0width$}", width = PIN_DIGITS))
    }

    /// The PIN's six digits, for the agent to read out.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the customer's submission is this PIN; constant-time, spaces ignored.
    pub fn matches(&self, submitted: &str) -> bool {
        let submitted: String = submitted.chars().filter(|c| !c.is_whitespace()).collect();
        // Slices of different lengths compare unequal at once; the length is not secret.
        submitted.as_bytes().ct_eq(self.0.as_bytes()).into()
    }

    /// The digest to store, if PINs are kept beyond the agent's screen.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Pin").field(&REDACTED).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn is_url_safe(token: &str) -> bool {
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }

    #[test]
    fn bearer_tokens_are_256_bits_url_safe() {
        let token = BearerToken::generate();
        assert_eq!(token.as_str().len(), 43);
        assert!(is_url_safe(token.as_str()));
        let decoded = URL_SAFE_NO_PAD.decode(token.as_str()).unwrap();
        assert_eq!(decoded.len(), BEARER_TOKEN_BYTES);
    }

    #[test]
    fn join_tokens_are_128_bits_url_safe() {
        let token = JoinToken::generate();
        assert_eq!(token.as_str().len(), 22);
        assert!(is_url_safe(token.as_str()));
        let decoded = URL_SAFE_NO_PAD.decode(token.as_str()).unwrap();
        assert_eq!(decoded.len(), JOIN_TOKEN_BYTES);
    }

    #[test]
    fn tokens_unique_over_thousands_of_draws() {
        let bearer: HashSet<String> = (0..5000)
            .map(|_| BearerToken::generate().as_str().to_owned())
            .collect();
        let join: HashSet<String> = (0..5000)
            .map(|_| JoinToken::generate().as_str().to_owned())
            .collect();
        assert_eq!(bearer.len(), 5000);
        assert_eq!(join.len(), 5000);
    }

    #[test]
    fn pins_are_six_digits_and_spread() {
        let pins: Vec<Pin> = (0..5000).map(|_| Pin::generate()).collect();
        for pin in &pins {
            assert_eq!(pin.as_str().len(), PIN_DIGITS);
            assert!(pin.as_str().bytes().all(|b| b.is_ascii_digit()));
        }

        // Leading zeros are kept: about 10% start with 0 (500 expected, 6 sigma band).
        let leading_zero = pins.iter().filter(|p| p.as_str().starts_with('0')).count();
        assert!((370..=630).contains(&leading_zero), "{leading_zero}");

        // 5000 draws from 10^6 values: about 12 collisions expected, far from all.
        let distinct: HashSet<&str> = pins.iter().map(Pin::as_str).collect();
        assert!(distinct.len() > 4900, "{}", distinct.len());
    }

    #[test]
    fn pin_matches_only_itself() {
        let pin = Pin(String::from("004217"));
        assert!(pin.matches("004217"));
        assert!(pin.matches("004 217"));
        assert!(!pin.matches("4217"));
        assert!(!pin.matches("004218"));
        assert!(!pin.matches("0042170"));
        assert!(!pin.matches(""));
    }

    #[test]
    fn stored_hash_finds_token() {
        let tokens: Vec<BearerToken> = (0..50).map(|_| BearerToken::generate()).collect();
        let stored: Vec<TokenHash> = tokens.iter().map(BearerToken::hash).collect();

        assert_eq!(TokenHash::find(tokens[17].as_str(), &stored), Some(17));
        assert_eq!(
            TokenHash::find(BearerToken::generate().as_str(), &stored),
            None
        );
        assert!(stored[3].matches(tokens[3].as_str()));
        assert!(!stored[3].matches(tokens[4].as_str()));
    }

    #[test]
    fn hash_is_sha256_and_round_trips_through_hex() {
        // FIPS 180-2 appendix B.1: SHA-256("abc").
        let abc = TokenHash::of("abc");
        assert_eq!(
            abc.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(TokenHash::from_hex(&abc.to_hex()), Ok(abc));
        assert_eq!(TokenHash::from_hex(&abc.to_hex().to_uppercase()), Ok(abc));
        assert_eq!(TokenHash::from_bytes(*abc.as_bytes()), abc);
    }

    #[test]
    fn malformed_hex_refused() {
        let valid = TokenHash::of("abc").to_hex();
        let bad = [
            String::new(),
            valid[..62].to_owned(),
            format!("{valid}00"),
            format!("zz{}", &valid[2..]),
            format!("+1{}", &valid[2..]),
            format!("é{}", &valid[2..]),
        ];
        for hex in &bad {
            assert_eq!(TokenHash::from_hex(hex), Err(MalformedTokenHash), "{hex}");
        }
    }

    #[test]
    fn secrets_not_in_debug() {
        let bearer = BearerToken::generate();
        let join = JoinToken::generate();
        let pin = Pin::generate();
        assert!(!format!("{bearer:?}").contains(bearer.as_str()));
        assert!(!format!("{join:?}").contains(join.as_str()));
        assert!(!format!("{pin:?}").contains(pin.as_str()));
        let hash = format!("{:?}", bearer.hash());
        assert!(!hash.contains(&bearer.hash().to_hex()), "{hash}");
    }
}
