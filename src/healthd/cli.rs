//! The command line (clap): `healthd serve [--config FILE]`,
//! `healthd check-config FILE`, `healthd replay --config FILE --input FILE.jsonl`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::healthd::config::ConfigFile;
use crate::healthd::error::HealthdError;
use crate::healthd::logging::{self, LogFormat};
use crate::healthd::serve::{self, ServeOptions};

/// healthd: the healthcore engine as a standalone daemon.
#[derive(Debug, Parser)]
#[command(
    name = "healthd",
    version,
    about = "healthd: the healthcore engine as a standalone daemon (with no command: `serve` on the built-in demo config)",
    long_about = None
)]
pub struct Cli {
    /// Log format on stderr (auto: pretty on a terminal, compact otherwise).
    #[arg(long, value_enum, default_value_t = LogFormat::Auto, global = true)]
    pub log_format: LogFormat,
    /// What to do; none is `serve` with the built-in demo config (what
    /// `cargo run --release --example healthd` runs).
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// The command to run: the one given, else `serve` on the demo.
    pub fn command(self) -> Command {
        self.command.unwrap_or(Command::Serve {
            config: None,
            listen: None,
            db: None,
        })
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum Command {
    /// Run the daemon (the built-in demo when no --config is given).
    Serve {
        /// The TOML configuration file.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Listen on this address instead of `server.listen`
        /// (127.0.0.1:0 picks a free port).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// The SQLite database file (overrides `store.path`).
        #[arg(long)]
        db: Option<PathBuf>,
    },
    /// Validate a configuration file and exit (0: valid, 2: invalid).
    CheckConfig {
        /// The TOML configuration file.
        file: PathBuf,
    },
    /// Replay recorded observations through the rules and print decisions.
    Replay {
        /// The TOML configuration file (its rules, targets and policies).
        #[arg(long, short)]
        config: PathBuf,
        /// Recorded input, one JSON object per line.
        #[arg(long, short)]
        input: PathBuf,
    },
}

/// Exit code for an invalid configuration.
pub const EXIT_INVALID_CONFIG: u8 = 2;

fn exit_for(e: &HealthdError) -> ExitCode {
    match e {
        HealthdError::Config(_) => ExitCode::from(EXIT_INVALID_CONFIG),
        _ => ExitCode::FAILURE,
    }
}

/// `check-config`: prints `FILE: ok (…)` or every problem, one a line.
pub fn check_config(file: &std::path::Path) -> Result<String, HealthdError> {
    let cfg = ConfigFile::load(file)?;
    let plan = cfg.validate()?;
    let c = &plan.config;
    Ok(format!(
        "{}: ok ({} targets, {} checks, {} heal policies, {} actions, {} channels, {} maintenance windows, {} checklist items, {} tokens)",
        cfg.origin,
        c.targets.len(),
        c.checks().len(),
        c.heal_policies.len(),
        c.actions.len(),
        c.alerts.channels.len(),
        c.maintenance.len(),
        c.checklist.len(),
        c.tokens.len(),
    ))
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    run(cli)
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    let log_format = cli.log_format;
    match cli.command() {
        Command::CheckConfig { file } => match check_config(&file) {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                exit_for(&e)
            }
        },
        Command::Replay { config, input } => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            match crate::healthd::replay::run(&config, &input, &mut out) {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("{e}");
                    exit_for(&e)
                }
            }
        }
        Command::Serve { config, listen, db } => {
            if let Err(e) = logging::init(log_format) {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("could not start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let opts = ServeOptions { config, listen, db };
            match runtime.block_on(serve::run(opts)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "healthd failed");
                    eprintln!("{e}");
                    exit_for(&e)
                }
            }
        }
    }
}
