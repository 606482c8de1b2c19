//! `tracing` output for the daemon: pretty on a terminal, compact text
//! otherwise, JSON lines with `--log-format json`. Logs go to stderr (stdout
//! carries the dashboard URL, `check-config` and `replay` output). The
//! filter comes from `RUST_LOG` (default `info`).

use std::io::IsTerminal;

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

use crate::healthd::error::HealthdError;

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
#[non_exhaustive]
pub enum LogFormat {
    /// Pretty on a terminal, compact text otherwise.
    #[default]
    Auto,
    /// Multi-line, coloured.
    Pretty,
    /// One line per event, no colour.
    Compact,
    /// One JSON object per line.
    Json,
}

/// Installs the global subscriber. Fails if one is already installed.
pub fn init(format: LogFormat) -> Result<(), HealthdError> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let terminal = std::io::stderr().is_terminal();
    let format = match format {
        LogFormat::Auto if terminal => LogFormat::Pretty,
        LogFormat::Auto => LogFormat::Compact,
        f => f,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Pretty => builder.pretty().with_ansi(terminal).try_init(),
        _ => builder.compact().with_ansi(false).try_init(),
    };
    result.map_err(|e| HealthdError::Logging(e.to_string()))
}
