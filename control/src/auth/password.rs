//! Password policy and password hashing.
//!
//! [`check_policy`] decides whether a new password is acceptable: a length range, a letter
//! and a digit, and a zxcvbn strength score of at least 3 given what we know about the user.
//! Passwords are stored as Argon2id (RFC 9106) PHC strings, with the parameters that OWASP's
//! Password Storage Cheat Sheet recommends by default (19 MiB, 2 passes, 1 lane).
//!
//! Sign-in for an email that has no account runs [`verify_dummy`], which costs one Argon2id
//! hash like a real [`verify_password`], so response times do not tell who has an account.

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, PasswordVerifier, Version, ARGON2ID_IDENT};
use zxcvbn::Score;

/// Fewest characters (Unicode scalar values) a password may have.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Most bytes a password may have; longer input is refused before any hashing.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Lowest zxcvbn score accepted: 3 means "safely unguessable", over 10^8 guesses.
const MIN_SCORE: Score = Score::Three;

/// Largest Argon2 memory cost (KiB) that verification will run from a stored hash, so a
/// corrupted record cannot make the daemon allocate without limit.
const MAX_VERIFY_MEMORY_KIB: u32 = 1024 * 1024;

/// Largest Argon2 pass count that verification will run from a stored hash.
const MAX_VERIFY_PASSES: u32 = 64;

/// Largest Argon2 lane count that verification will run from a stored hash.
const MAX_VERIFY_LANES: u32 = 64;

/// Fixed salt of the dummy verification; it protects nothing, it only costs time.
const DUMMY_SALT: &[u8; 16] = b"sightline-dummy!";

/// Why a new password was refused, in words to show the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRejected {
    /// Fewer than [`MIN_PASSWORD_CHARS`] characters.
    #[error("too short: at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    /// More than [`MAX_PASSWORD_BYTES`] bytes.
    #[error("too long: at most {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    /// No letter in any script.
    #[error("add a letter")]
    NoLetter,
    /// No digit.
    #[error("add a digit")]
    NoDigit,
    /// zxcvbn estimates it falls to fewer than 10^8 guesses; `hint` is its advice.
    #[error("too easy to guess: {hint}")]
    TooGuessable {
        /// zxcvbn's warning, or its first suggestion when it gives no warning.
        hint: String,
    },
}

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Argon2 refused the cost parameters (caller misuse).
    #[error("invalid Argon2 parameters: {0}")]
    Params(argon2::Error),
    /// The password is longer than [`MAX_PASSWORD_BYTES`].
    #[error("password longer than {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    /// Argon2 failed while hashing (a bug in this module or the crate).
    #[error("Argon2id hashing failed: {0}")]
    Hashing(argon2::password_hash::Error),
}

/// Argon2id cost parameters for new hashes.
///
/// Verification always uses the parameters recorded in the stored PHC string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params(argon2::Params);

impl Params {
    /// OWASP's recommended Argon2id parameters: m=19456 KiB, t=2, p=1.
    pub const OWASP: Params = Params(argon2::Params::DEFAULT);

    /// Custom parameters: memory in KiB, passes, lanes. Tests use cheap ones.
    pub fn new(memory_kib: u32, passes: u32, lanes: u32) -> Result<Self, HashError> {
        argon2::Params::new(memory_kib, passes, lanes, None)
            .map(Params)
            .map_err(HashError::Params)
    }

    fn hasher(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.0.clone())
    }
}

impl Default for Params {
    fn default() -> Self {
        Self::OWASP
    }
}

/// Checks a new password against the policy; `user_inputs` are the user's email, name and
/// other words an attacker would try first.
pub fn check_policy(password: &str, user_inputs: &[&str]) -> Result<(), PasswordRejected> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordRejected::TooLong);
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordRejected::TooShort);
    }
    if !password.chars().any(char::is_alphabetic) {
        return Err(PasswordRejected::NoLetter);
    }
    if !password.chars().any(char::is_numeric) {
        return Err(PasswordRejected::NoDigit);
    }

    let words = user_words(user_inputs);
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let entropy = zxcvbn::zxcvbn(password, &words);
    if entropy.score() < MIN_SCORE {
        return Err(PasswordRejected::TooGuessable {
            hint: guessability_hint(entropy.feedback()),
        });
    }

    match without_user_words(password, &words) {
        Some(rest) if zxcvbn::zxcvbn(&rest, &words).score() < MIN_SCORE => {
            Err(PasswordRejected::TooGuessable {
                hint: "it is mostly your name or email".to_owned(),
            })
        }
        _ => Ok(()),
    }
}

/// The lowercased password with the user's words of four or more characters cut out, if it
/// contained any. zxcvbn prices a separator between two known words as random characters,
/// so "first.last1" scores well; what is left once the words are gone must be strong alone.
fn without_user_words(password: &str, words: &[&str]) -> Option<String> {
    let mut rest = password.to_lowercase();
    let mut by_length: Vec<&str> = words
        .iter()
        .copied()
        .filter(|w| w.chars().count() >= 4)
        .collect();
    by_length.sort_by_key(|w| std::cmp::Reverse(w.len()));

    let mut cut = false;
    for word in by_length {
        if rest.contains(word) {
            rest = rest.replace(word, "");
            cut = true;
        }
    }
    cut.then_some(rest)
}

/// The user's inputs plus their parts, so that "alice" in "alice.smith@example.com" counts
/// as a known word: zxcvbn only matches whole user inputs.
fn user_words(user_inputs: &[&str]) -> Vec<String> {
    let mut words = Vec::new();
    for input in user_inputs {
        let input = input.trim().to_lowercase();
        for part in input.split(|c: char| !c.is_alphanumeric()) {
            if part.chars().count() >= 3 && part != input {
                words.push(part.to_owned());
            }
        }
        words.push(input);
    }
    words
}

/// zxcvbn's advice as one sentence, with a fallback when it has none.
fn guessability_hint(feedback: Option<&zxcvbn::feedback::Feedback>) -> String {
    let warning = feedback.and_then(|f| f.warning()).map(|w| w.to_string());
    let suggestion = feedback.and_then(|f| f.suggestions().first().map(|s| s.to_string()));

    warning
        .or(suggestion)
        .unwrap_or_else(|| "add another word or two; uncommon words are better".to_owned())
}

/// Hashes `password` with Argon2id and a fresh 128-bit salt into a PHC string
/// (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
pub fn hash_password(password: &str, params: &Params) -> Result<String, HashError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(HashError::TooLong);
    }

    let salt: [u8; 16] = super::random_bytes();
    argon2::PasswordHasher::hash_password_with_salt(&params.hasher(), password.as_bytes(), &salt)
        .map(|phc| phc.to_string())
        .map_err(HashError::Hashing)
}

/// Whether `password` matches the stored Argon2id PHC string `phc`.
///
/// Any malformed, non-Argon2id or implausibly expensive stored hash gives `false`.
pub fn verify_password(password: &str, phc: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    if parsed.algorithm != ARGON2ID_IDENT || !affordable(&parsed) {
        return false;
    }

    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// Whether the cost recorded in a stored hash is within what verification will spend.
fn affordable(parsed: &PasswordHash) -> bool {
    match argon2::Params::try_from(parsed) {
        Ok(params) => {
            params.m_cost() <= MAX_VERIFY_MEMORY_KIB
                && params.t_cost() <= MAX_VERIFY_PASSES
                && params.p_cost() <= MAX_VERIFY_LANES
        }
        Err(_) => false,
    }
}

/// Spends the time of one [`verify_password`] with `params` and returns `false`; used when
/// the submitted email has no account, so that sign-in takes as long as for a real one.
pub fn verify_dummy(password: &str, params: &Params) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }

    let mut output = [0u8; argon2::Params::DEFAULT_OUTPUT_LEN];
    let outcome = params
        .hasher()
        .hash_password_into(password.as_bytes(), DUMMY_SALT, &mut output);
    // Keep the work observable so the optimiser cannot drop it.
    std::hint::black_box((outcome.is_ok(), &output));
    false
}

/// Whether a stored hash was made with other parameters than `params` (or another
/// algorithm) and should be replaced after the next successful sign-in.
pub fn needs_rehash(phc: &str, params: &Params) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return true;
    };
    if parsed.algorithm != ARGON2ID_IDENT || parsed.version != Some(Version::V0x13.into()) {
        return true;
    }

    match argon2::Params::try_from(&parsed) {
        Ok(stored) => {
            stored.m_cost() != params.0.m_cost()
                || stored.t_cost() != params.0.t_cost()
                || stored.p_cost() != params.0.p_cost()
        }
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Params {
        Params::new(8, 1, 1).unwrap()
    }

    #[test]
    fn policy_messages_say_what_to_fix() {
        let cases = [
            ("Ab1", "too short: at least 8 characters"),
            ("abcdefghijklmnop", "add a digit"),
            ("1234567890", "add a letter"),
            ("!!!!!!!!7", "add a letter"),
        ];
        for (password, message) in cases {
            let rejected = check_policy(password, &[]).unwrap_err();
            assert_eq!(rejected.to_string(), message, "{password}");
        }
    }

    #[test]
    fn policy_counts_characters_not_bytes() {
        // Eight characters, sixteen bytes: long enough.
        assert_ne!(
            check_policy("жжжжжжж7", &[]),
            Err(PasswordRejected::TooShort)
        );
        assert_eq!(
            check_policy("жжжжжж7", &[]),
            Err(PasswordRejected::TooShort)
        );
    }

    #[test]
    fn policy_refuses_over_1024_bytes() {
        let long = "Xq7vRt2mLp".repeat(103);
        assert_eq!(check_policy(&long, &[]), Err(PasswordRejected::TooLong));
        assert_eq!(
            PasswordRejected::TooLong.to_string(),
            "too long: at most 1024 bytes"
        );
    }

    #[test]
    fn weak_passwords_refused_with_zxcvbn_advice() {
        for password in ["password1", "abcd1234", "qwerty123", "Password2024"] {
            match check_policy(password, &[]) {
                Err(PasswordRejected::TooGuessable { hint }) => assert!(!hint.is_empty()),
                other => panic!("{password}: {other:?}"),
            }
        }
        let message = check_policy("password1", &[]).unwrap_err().to_string();
        assert!(message.starts_with("too easy to guess: "), "{message}");
    }

    #[test]
    fn strong_password_accepted() {
        assert_eq!(check_policy("correct horse battery staple 9", &[]), Ok(()));
        assert_eq!(check_policy("tUrq8-vamp-Kelp", &["a@b.example"]), Ok(()));
    }

    #[test]
    fn email_and_name_derived_passwords_refused() {
        let inputs = ["marguerite.okonkwo@example.com", "Marguerite Okonkwo"];
        let derived = [
            "Okonkwo2024",
            "marguerite.okonkwo1",
            "okonkwo.marguerite7",
            "MargueriteOkonkwo!9",
            "marguerite.okonkwo@example.com1",
        ];
        for password in derived {
            assert!(
                matches!(
                    check_policy(password, &inputs),
                    Err(PasswordRejected::TooGuessable { .. })
                ),
                "{password}"
            );
        }
        match check_policy("Marguerite.Okonkwo1", &inputs) {
            Err(rejected) => assert_eq!(
                rejected.to_string(),
                "too easy to guess: it is mostly your name or email"
            ),
            Ok(()) => panic!("accepted a password made of the user's name"),
        }
        // The same shape without the user's words passes, and so does a strong password
        // that happens to contain a name.
        assert_eq!(check_policy("Vellichor2024-Quist", &inputs), Ok(()));
        assert_eq!(check_policy("marguerite-tUrq8-vamp-Kelp", &inputs), Ok(()));
    }

    #[test]
    fn hash_and_verify_round_trip() {
        let phc = hash_password("tUrq8-vamp-Kelp", &cheap()).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=8,t=1,p=1$"), "{phc}");
        assert!(verify_password("tUrq8-vamp-Kelp", &phc));
        assert!(!verify_password("tUrq8-vamp-kelp", &phc));
        assert!(!verify_password("", &phc));
    }

    #[test]
    fn salts_differ_between_hashes() {
        let a = hash_password("same password 1", &cheap()).unwrap();
        let b = hash_password("same password 1", &cheap()).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn owasp_parameters_recorded_in_phc() {
        assert_eq!(Params::default(), Params::OWASP);
        let phc = hash_password("tUrq8-vamp-Kelp", &Params::OWASP).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(!needs_rehash(&phc, &Params::OWASP));
        assert!(needs_rehash(&phc, &cheap()));
    }

    #[test]
    fn malformed_phc_strings_verify_false() {
        let good = hash_password("tUrq8-vamp-Kelp", &cheap()).unwrap();
        let argon2i = good.replacen("$argon2id$", "$argon2i$", 1);
        let truncated = &good[..good.len() - 10];
        let huge = "$argon2id$v=19$m=4294967295,t=4294967295,p=1$c2FsdHNhbHQ$\
                    aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
        let malformed = [
            "",
            "$",
            "not a hash",
            "$argon2id$",
            "$argon2id$v=19$m=8,t=1,p=1$",
            "$argon2id$v=19$m=0,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
            "$argon2id$v=99$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
            "$2b$12$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXY",
            huge,
            &argon2i,
            truncated,
            "$argon2id$v=19$m=8,t=1,p=1$!!!!$????",
        ];
        for phc in malformed {
            assert!(!verify_password("tUrq8-vamp-Kelp", phc), "{phc}");
            assert!(needs_rehash(phc, &cheap()), "{phc}");
        }
    }

    #[test]
    fn overlong_password_refused_before_hashing() {
        let long = "a1".repeat(600);
        assert!(matches!(
            hash_password(&long, &cheap()),
            Err(HashError::TooLong)
        ));
        assert!(!verify_password(
            &long,
            "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA"
        ));
        assert!(!verify_dummy(&long, &cheap()));
    }

    #[test]
    fn dummy_verification_never_matches() {
        assert!(!verify_dummy("tUrq8-vamp-Kelp", &cheap()));
        assert!(!verify_dummy("", &cheap()));
    }

    #[test]
    fn invalid_params_rejected() {
        assert!(matches!(Params::new(0, 1, 1), Err(HashError::Params(_))));
        assert!(matches!(Params::new(8, 0, 1), Err(HashError::Params(_))));
        assert!(matches!(Params::new(8, 1, 0), Err(HashError::Params(_))));
    }
}
