//! healthd's errors: configuration problems (each naming its field and,
//! where the file says it, the line) and the failures of a running daemon.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::healthd::config::spans::Position;

/// One configuration problem: where (file, line, field path) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file (or `<demo>` for the built-in config).
    pub origin: String,
    /// Line and column, when the field is written in the file.
    pub position: Option<Position>,
    /// The field path, such as `targets[2].checks[0].timeout`.
    pub field: String,
    /// What is wrong, in words.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(p) => write!(
                f,
                "{}:{}:{}: {}: {}",
                self.origin, p.line, p.column, self.field, self.message
            ),
            None => write!(f, "{}: {}: {}", self.origin, self.field, self.message),
        }
    }
}

/// Every problem found in one configuration (at least one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// The problems.
    pub fn errors(&self) -> &[ConfigError] {
        &self.0
    }

    /// Whether some problem names exactly this field.
    pub fn names_field(&self, field: &str) -> bool {
        self.0.iter().any(|e| e.field == field)
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Why healthd could not do what it was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HealthdError {
    /// The configuration is invalid.
    #[error("invalid configuration:\n{0}")]
    Config(#[from] ConfigErrors),
    /// A file could not be read.
    #[error("could not read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The store could not be opened.
    #[error("could not open the store: {0}")]
    Store(String),
    /// The engine refused something.
    #[error("engine: {0}")]
    Engine(#[from] healthcore::engine::EngineError),
    /// The listen address could not be bound.
    #[error("could not listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The HTTP server failed.
    #[error("HTTP server: {0}")]
    Serve(std::io::Error),
    /// Replay failed.
    #[error("replay: {0}")]
    Replay(String),
    /// The OS gave no random bytes for the demo's admin token.
    #[error("could not make a random token: {0}")]
    Random(std::io::Error),
    /// Logging could not be set up.
    #[error("logging: {0}")]
    Logging(String),
}
