//! The `sightline` daemon and its operator commands; see [`sightline_control::cli`].

fn main() -> std::process::ExitCode {
    sightline_control::cli::main()
}
