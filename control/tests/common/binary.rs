//! The built `sightline` binary, for the tests that run it as an operator would.

use std::path::Path;
use std::process::{Command, Stdio};

/// The binary on `data_dir`, with cheap password hashing and no `SIGHTLINE_` variable
/// inherited from the environment the tests run in.
pub fn sightline(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sightline"));
    for (name, _) in std::env::vars() {
        if name.starts_with("SIGHTLINE_") {
            command.env_remove(name);
        }
    }
    command
        .env("SIGHTLINE_DATA_DIR", data_dir)
        .env("SIGHTLINE_ARGON2_MEMORY_KIB", "256")
        .env("SIGHTLINE_ARGON2_PASSES", "1")
        .stdin(Stdio::null());
    command
}
