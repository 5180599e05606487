//! The `sightline` daemon (placeholder while its command line is written).

fn main() {
    eprintln!("sightline: not built yet");
    std::process::exit(2);
}
