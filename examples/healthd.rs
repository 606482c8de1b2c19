//! healthd, the standalone daemon: `cargo run --release --example healthd`
//! runs the built-in demo (then open http://127.0.0.1:8080). See
//! `docs/healthd.md`.

fn main() -> std::process::ExitCode {
    healthcore_suite::healthd::cli::main()
}
