//! Two-factor authentication: TOTP codes (RFC 6238) and single-use recovery codes.
//!
//! Codes are HMAC-SHA-1, six digits, 30-second steps, as every authenticator app supports;
//! the arithmetic is the `totp-rs` crate's. [`verify`] accepts one step of clock skew either
//! side (RFC 6238 section 5.2) and refuses a code whose step is not after the last accepted
//! one, so an observed code cannot be replayed; the caller stores the step it returns.
//!
//! Recovery codes stand in for the authenticator when it is lost. Only their SHA-256
//! digests are stored. Ten characters from a 31-letter alphabet give about 49.5 bits, too
//! few against an offline search of a stolen store, but such a thief also holds the TOTP
//! secret that the codes back up, so a slow hash would protect nothing more.

use std::fmt;

use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Builder, Totp};

use super::token::TokenHash;
use super::REDACTED;

/// Issuer shown in authenticator apps.
pub const ISSUER: &str = "Sightline";

/// Digits of a TOTP code.
pub const CODE_DIGITS: u8 = 6;

/// Seconds per time step (RFC 6238 section 5.2 recommends 30).
pub const STEP_SECONDS: u64 = 30;

/// Steps of clock skew accepted on each side of the current one.
const SKEW_STEPS: u64 = 1;

/// Length of a generated secret: 160 bits, as RFC 4226 section 4 recommends.
pub const SECRET_BYTES: usize = 20;

/// Shortest secret accepted from storage: RFC 4226 section 4 requires 128 bits.
const MIN_SECRET_BYTES: usize = 16;

/// Recovery codes issued at once.
pub const RECOVERY_CODE_COUNT: usize = 10;

/// Characters in one recovery code.
pub const RECOVERY_CODE_LEN: usize = 10;

/// Recovery code alphabet: digits and capitals without 0, 1, I, L and O, which people
/// confuse when reading codes from paper.
const RECOVERY_ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// Why a TOTP enrolment could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EnrolError {
    /// The account email is empty or has a colon, which the otpauth label cannot carry.
    #[error("the account email cannot be used in an authenticator label")]
    InvalidAccount,
}

/// Why a stored TOTP secret was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("TOTP secret of {len} bytes is shorter than {MIN_SECRET_BYTES}")]
pub struct SecretTooShort {
    /// Length of the refused secret.
    pub len: usize,
}

/// Why a submitted TOTP code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodeRejected {
    /// Not six digits.
    #[error("enter the 6-digit code from your authenticator app")]
    Malformed,
    /// Six digits, but not the code of any step near now.
    #[error("wrong code")]
    Wrong,
    /// The code of a step at or before the last one accepted.
    #[error("this code was already used; wait for the next one")]
    Replayed,
}

/// A TOTP time step: Unix time divided by [`STEP_SECONDS`] (RFC 6238 section 4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TotpStep(pub u64);

/// The shared secret of one user's authenticator. Store it encrypted; never log it.
#[derive(Clone)]
pub struct TotpSecret(Box<[u8]>);

impl TotpSecret {
    /// A fresh 160-bit secret from the operating system's random source.
    pub fn generate() -> Self {
        let bytes: [u8; SECRET_BYTES] = super::random_bytes();
        Self(Box::new(bytes))
    }

    /// A secret read back from storage; at least 128 bits.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SecretTooShort> {
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(SecretTooShort { len: bytes.len() });
        }
        Ok(Self(bytes.into()))
    }

    /// The raw secret, for storage.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The secret in base32 (RFC 4648, no padding), for typing into an app by hand.
    pub fn to_base32(&self) -> String {
        totp_rs::Secret::from(self.as_bytes()).to_base32()
    }

    /// A `totp-rs` generator for this secret with the given digits and no skew.
    fn generator(&self, algorithm: Algorithm, digits: u8) -> Totp {
        Builder::new()
            .with_algorithm(algorithm)
            .with_digits(digits)
            .with_skew(0)
            .with_step_duration(STEP_SECONDS)
            .with_secret(self.as_bytes())
            .build_noncompliant()
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TotpSecret").field(&REDACTED).finish()
    }
}

/// A new authenticator enrolment: the secret to store once the user has confirmed a code,
/// and the `otpauth://` URI to show as a QR code.
#[derive(Clone)]
pub struct Enrolment {
    /// The new shared secret.
    pub secret: TotpSecret,
    uri: String,
}

impl Enrolment {
    /// The `otpauth://totp/Sightline:<email>?secret=…&issuer=Sightline` URI. It holds the
    /// secret: show it to the user, never log it.
    pub fn uri(&self) -> &str {
        &self.uri
    }
}

impl fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Enrolment")
            .field("secret", &self.secret)
            .field("uri", &REDACTED)
            .finish()
    }
}

/// Starts TOTP enrolment for `account_email` with a fresh secret.
pub fn enrol(account_email: &str) -> Result<Enrolment, EnrolError> {
    let secret = TotpSecret::generate();
    let uri = Builder::new()
        .with_digits(CODE_DIGITS)
        .with_step_duration(STEP_SECONDS)
        .with_secret(secret.as_bytes())
        .with_issuer(Some(ISSUER))
        .with_account_name(account_email.trim())
        .build()
        .and_then(|totp| totp.to_url())
        .map_err(|_| EnrolError::InvalidAccount)?;

    Ok(Enrolment { secret, uri })
}

/// Checks a submitted 6-digit `code` at `now_unix` (seconds since the Unix epoch), given the
/// last step accepted for this user, and returns the step it matched: store it.
///
/// Spaces in the code are ignored. The three candidate steps are all computed, so the time
/// taken does not depend on which one matched.
pub fn verify(
    secret: &TotpSecret,
    code: &str,
    now_unix: u64,
    last_accepted: Option<TotpStep>,
) -> Result<TotpStep, CodeRejected> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != usize::from(CODE_DIGITS) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CodeRejected::Malformed);
    }

    let totp = secret.generator(Algorithm::SHA1, CODE_DIGITS);
    let current = now_unix / STEP_SECONDS;
    let candidates = current.saturating_sub(SKEW_STEPS)..=current.saturating_add(SKEW_STEPS);
    let matched: Vec<TotpStep> = candidates
        .filter_map(|step| {
            totp.check(&code, step.saturating_mul(STEP_SECONDS))
                .map(TotpStep)
        })
        .collect();

    let fresh = |step: &&TotpStep| last_accepted.is_none_or(|last| **step > last);
    match (matched.iter().find(fresh), matched.is_empty()) {
        (Some(step), _) => Ok(*step),
        (None, false) => Err(CodeRejected::Replayed),
        (None, true) => Err(CodeRejected::Wrong),
    }
}

/// One recovery code, shown to the user once. `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl RecoveryCode {
    /// The code's ten characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RecoveryCode").field(&REDACTED).finish()
    }
}

/// Ten fresh recovery codes, and their digests to store in their place.
pub fn generate_recovery_codes() -> (Vec<RecoveryCode>, Vec<TokenHash>) {
    let codes: Vec<RecoveryCode> = (0..RECOVERY_CODE_COUNT)
        .map(|_| RecoveryCode(random_recovery_code()))
        .collect();
    let hashes = codes.iter().map(|c| TokenHash::of(c.as_str())).collect();
    (codes, hashes)
}

/// Ten characters drawn uniformly from the recovery alphabet.
fn random_recovery_code() -> String {
    (0..RECOVERY_CODE_LEN)
        .map(|_| {
            let index = super::random_index(RECOVERY_ALPHABET.len());
            char::from(RECOVERY_ALPHABET.get(index).copied().unwrap_or(b'2'))
        })
        .collect()
}

/// Redeems a submitted recovery code: if it matches one of `stored`, that digest is removed
/// (each code works once) and the result is `true`.
///
/// Case, spaces and hyphens in the submission are ignored. Every stored digest is compared
/// in constant time, with no early exit.
pub fn redeem(code: &str, stored: &mut Vec<TokenHash>) -> bool {
    let normalised: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let presented = TokenHash::of(&normalised);

    let mut found = None;
    for (index, hash) in stored.iter().enumerate() {
        if bool::from(hash.as_bytes().ct_eq(presented.as_bytes())) {
            found = Some(index);
        }
    }

    match found {
        Some(index) => {
            stored.swap_remove(index);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B: the seeds of the reference implementation.
    const SEED_SHA1: &[u8] = b"12345678901234567890";
    const SEED_SHA256: &[u8] = b"12345678901234567890123456789012";
    const SEED_SHA512: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

    /// RFC 6238 Appendix B test vectors: (Unix time, SHA-1, SHA-256, SHA-512), 8 digits.
    const APPENDIX_B: [(u64, &str, &str, &str); 6] = [
        (59, "94287082", "46119246", "90693936"),
        (1111111109, "07081804", "68084774", "25091201"),
        (1111111111, "14050471", "67062674", "99943326"),
        (1234567890, "89005924", "91819424", "93441116"),
        (2000000000, "69279037", "90698825", "38618901"),
        (20000000000, "65353130", "77737706", "47863826"),
    ];

    fn rfc_generator(seed: &[u8], algorithm: Algorithm) -> Totp {
        TotpSecret::from_bytes(seed)
            .unwrap()
            .generator(algorithm, 8)
    }

    #[test]
    fn rfc6238_appendix_b_vectors() {
        let sha1 = rfc_generator(SEED_SHA1, Algorithm::SHA1);
        let sha256 = rfc_generator(SEED_SHA256, Algorithm::SHA256);
        let sha512 = rfc_generator(SEED_SHA512, Algorithm::SHA512);
        for (time, code_sha1, code_sha256, code_sha512) in APPENDIX_B {
            assert_eq!(
                sha1.generate(time).to_string(),
                code_sha1,
                "SHA-1 at {time}"
            );
            assert_eq!(
                sha256.generate(time).to_string(),
                code_sha256,
                "SHA-256 at {time}"
            );
            assert_eq!(
                sha512.generate(time).to_string(),
                code_sha512,
                "SHA-512 at {time}"
            );
            assert!(sha1.check(code_sha1, time).is_some());
        }
    }

    /// The current 6-digit code of `secret` at `time`.
    fn code_at(secret: &TotpSecret, time: u64) -> String {
        secret
            .generator(Algorithm::SHA1, 6)
            .generate(time)
            .to_string()
    }

    #[test]
    fn rfc6238_appendix_b_sha1_six_digits_through_verify() {
        // The same vectors truncated to six digits (RFC 4226 section 5.3 takes the value
        // modulo 10^digits), accepted by `verify` at the vector's time.
        let secret = TotpSecret::from_bytes(SEED_SHA1).unwrap();
        for (time, code_sha1, _, _) in APPENDIX_B {
            let six = &code_sha1[2..];
            let step = verify(&secret, six, time, None).unwrap();
            assert_eq!(step, TotpStep(time / 30));
        }
    }

    #[test]
    fn one_step_of_skew_either_side() {
        let secret = TotpSecret::generate();
        let now = 1_700_000_015;
        let step = now / 30;
        for offset in [-1i64, 0, 1] {
            let time = (now as i64 + offset * 30) as u64;
            let accepted = verify(&secret, &code_at(&secret, time), now, None);
            assert_eq!(accepted, Ok(TotpStep((step as i64 + offset) as u64)));
        }
        for offset in [-2i64, 2] {
            let time = (now as i64 + offset * 30) as u64;
            let code = code_at(&secret, time);
            // A code of a step two away may coincide with a nearby one by chance (10^-6).
            if [now - 30, now, now + 30]
                .iter()
                .all(|t| code_at(&secret, *t) != code)
            {
                assert_eq!(verify(&secret, &code, now, None), Err(CodeRejected::Wrong));
            }
        }
    }

    #[test]
    fn accepted_code_cannot_be_replayed() {
        let secret = TotpSecret::generate();
        let now = 1_700_000_000;
        let code = code_at(&secret, now);
        let step = verify(&secret, &code, now, None).unwrap();

        assert_eq!(
            verify(&secret, &code, now, Some(step)),
            Err(CodeRejected::Replayed)
        );
        assert_eq!(
            verify(&secret, &code, now + 10, Some(step)),
            Err(CodeRejected::Replayed)
        );

        // An older code is refused once a newer step was accepted.
        let older = code_at(&secret, now - 30);
        if older != code {
            assert_eq!(
                verify(&secret, &older, now, Some(step)),
                Err(CodeRejected::Replayed)
            );
        }

        // The next step's code is fresh.
        let next = code_at(&secret, now + 30);
        assert_eq!(
            verify(&secret, &next, now + 30, Some(step)),
            Ok(TotpStep(step.0 + 1))
        );
    }

    #[test]
    fn malformed_codes_refused() {
        let secret = TotpSecret::generate();
        for code in [
            "",
            "12345",
            "1234567",
            "12345a",
            "+12345",
            "１２３４５６",
            "12 34 5",
        ] {
            assert_eq!(
                verify(&secret, code, 59, None),
                Err(CodeRejected::Malformed),
                "{code}"
            );
        }
        let spaced = code_at(&secret, 59);
        let spaced = format!("{} {}", &spaced[..3], &spaced[3..]);
        assert!(verify(&secret, &spaced, 59, None).is_ok());
    }

    #[test]
    fn verify_at_time_zero_does_not_underflow() {
        let secret = TotpSecret::generate();
        let code = code_at(&secret, 0);
        assert_eq!(verify(&secret, &code, 0, None), Ok(TotpStep(0)));
    }

    #[test]
    fn enrolment_uri_for_authenticator_apps() {
        let enrolment = enrol(" alice@example.com ").unwrap();
        let base32 = enrolment.secret.to_base32();
        assert_eq!(enrolment.secret.as_bytes().len(), 20);
        assert_eq!(base32.len(), 32);
        assert_eq!(
            enrolment.uri(),
            format!(
                "otpauth://totp/Sightline:alice%40example.com?secret={base32}&issuer=Sightline"
            )
        );
        assert_ne!(
            enrol("alice@example.com").unwrap().secret.as_bytes(),
            enrolment.secret.as_bytes()
        );
    }

    #[test]
    fn enrolment_refuses_unusable_accounts() {
        assert!(matches!(enrol(""), Err(EnrolError::InvalidAccount)));
        assert!(matches!(
            enrol("a:b@example.com"),
            Err(EnrolError::InvalidAccount)
        ));
    }

    #[test]
    fn secrets_not_printed() {
        let enrolment = enrol("alice@example.com").unwrap();
        let debug = format!("{enrolment:?}");
        assert!(!debug.contains(&enrolment.secret.to_base32()), "{debug}");
        assert!(!debug.contains("otpauth"), "{debug}");
        assert!(TotpSecret::from_bytes(&[0; 15]).is_err());
    }

    #[test]
    fn recovery_codes_shape() {
        let (codes, hashes) = generate_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODE_COUNT);
        assert_eq!(hashes.len(), RECOVERY_CODE_COUNT);
        for code in &codes {
            assert_eq!(code.as_str().len(), RECOVERY_CODE_LEN);
            assert!(code
                .as_str()
                .bytes()
                .all(|b| RECOVERY_ALPHABET.contains(&b)));
            assert!(!format!("{code:?}").contains(code.as_str()));
        }
        let mut unique: Vec<&str> = codes.iter().map(RecoveryCode::as_str).collect();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), RECOVERY_CODE_COUNT);
    }

    #[test]
    fn recovery_codes_are_single_use() {
        let (codes, mut stored) = generate_recovery_codes();
        let first = codes[0].as_str();

        assert!(redeem(first, &mut stored));
        assert_eq!(stored.len(), RECOVERY_CODE_COUNT - 1);
        assert!(!redeem(first, &mut stored));

        let friendly = format!("{}-{}", &codes[1].as_str()[..5], &codes[1].as_str()[5..]);
        assert!(redeem(&friendly.to_lowercase(), &mut stored));
        assert!(!redeem("2222222222", &mut stored));
        assert!(!redeem("", &mut stored));
        assert_eq!(stored.len(), RECOVERY_CODE_COUNT - 2);
    }
}
