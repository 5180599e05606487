//! Sans-IO security primitives for signing in and joining support sessions.
//!
//! Nothing here reads a clock, a socket or a database: callers pass `now` in and persist
//! what the functions return. [`password`] checks and hashes passwords (Argon2id),
//! [`lockout`] counts failed sign-ins per email and throttles source addresses, [`totp`]
//! implements two-factor codes (RFC 6238) and recovery codes, and [`token`] makes the
//! bearer tokens, join tokens and PINs that the API hands out.
//!
//! Secrets never appear in `Debug` or `Display` output: types that hold one print a
//! placeholder, and errors say what is wrong without echoing what was submitted.
//!
//! Randomness comes from the operating system ([`rand::rngs::OsRng`]). Generators panic if
//! that source fails, as `rand`'s own thread RNG does; on Linux `getrandom(2)` does not
//! fail once the kernel's pool is initialised, which happens before any daemon starts.

pub mod lockout;
pub mod password;
pub mod token;
pub mod totp;

mod idle_table;

use rand::rngs::OsRng;
use rand::{Rng, TryRngCore};

/// Placeholder printed by `Debug` in place of a secret.
const REDACTED: &str = "<redacted>";

/// Returns `N` bytes from the operating system's random source.
fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.unwrap_err().fill(&mut bytes[..]);
    bytes
}

/// Returns a uniformly drawn index below `bound` from the operating system's random source.
fn random_index(bound: usize) -> usize {
    OsRng.unwrap_err().random_range(0..bound)
}
