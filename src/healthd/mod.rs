//! `healthd`: the healthcore engine as a standalone daemon.
//!
//! - [`cli`]: the command line (`serve`, `check-config`, `replay`);
//! - [`config`]: the TOML configuration, validated whole (every error
//!   names its field and, where the file writes it, its line);
//! - [`build`]: configuration → store, checkers, notifiers, healer, tokens,
//!   and the targets, checks, SLOs and policies put into the engine;
//! - [`serve`]: the running daemon (HTTP API and dashboard, reporters,
//!   graceful shutdown on SIGINT/SIGTERM);
//! - [`demo`]: the built-in demo configuration (`demo.toml`);
//! - [`reporter`]: the built-in heartbeat reporter;
//! - [`replay`]: backtesting recorded observations;
//! - [`logging`]: `tracing` output (pretty, compact or JSON);
//! - [`error`]: the errors.
//!
//! `examples/healthd.rs` is the binary: `healthcore_suite::healthd::cli::main()`.
//! See `docs/healthd.md` for the configuration reference.

pub mod build;
pub mod cli;
pub mod config;
pub mod demo;
pub mod error;
pub mod logging;
pub mod replay;
pub mod reporter;
pub mod serve;
