//! `samordna-relay`: see the library crate.

fn main() -> std::process::ExitCode {
    samordna_relay::cli::run()
}
