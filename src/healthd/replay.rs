//! `healthd replay --config FILE --input FILE.jsonl`: drive the engine's
//! rules ([`healthcore::replay`]) with recorded input on a simulated clock
//! and print, one JSON line each, the decisions they would have taken
//! (backtesting a policy). No probe, heal or notification runs.
//!
//! The configuration gives the rules (`[engine.rules]`), targets and
//! checks, heal policies, maintenance windows, alert routes and the names
//! of the external channels; the input format is described in
//! `docs/replay.md`.

use std::io::BufReader;
use std::path::Path;

use healthcore::notify::Audience;
use healthcore::replay::{DASHBOARD_CHANNEL, Replay, ReplayError, ReplayReport, ReplaySetup};

use crate::healthd::config::{Config, ConfigFile};
use crate::healthd::error::HealthdError;

impl Config {
    /// The replay setup of this configuration.
    pub fn replay_setup(&self) -> ReplaySetup {
        ReplaySetup {
            rules: self.engine.rules.clone(),
            targets: self.targets.iter().map(|t| t.target()).collect(),
            checks: self.checks(),
            heal_policies: self.heal_policies.clone(),
            maintenance: self.maintenance.clone(),
            channels: self.replay_routes(),
            external_channels: self
                .alerts
                .channels
                .iter()
                .filter(|c| c.audience() == Audience::External)
                .map(|c| c.name().to_owned())
                .collect(),
        }
    }

    /// The alert routes with every dashboard-audience channel's name (such
    /// as `log`) written `dashboard`: replay reports those channels as one,
    /// `dashboard`, and routes them by that name.
    fn replay_routes(&self) -> Vec<healthcore::store::AlertChannelConfig> {
        let dashboard: Vec<&str> = self
            .alerts
            .channels
            .iter()
            .filter(|c| c.audience() == Audience::Dashboard)
            .map(|c| c.name())
            .collect();
        let mut routes = self.alert_routes();
        for r in &mut routes {
            for c in &mut r.channels {
                if dashboard.contains(&c.as_str()) {
                    *c = DASHBOARD_CHANNEL.to_owned();
                }
            }
        }
        routes
    }
}

/// An input error as `FILE:LINE: FIELD: MESSAGE` (`FILE: input is empty: …`
/// for an input with nothing to replay); `healthd` prints it after
/// `replay: `. docs/replay.md documents exactly this form.
fn replay_error(input: &Path, e: ReplayError) -> HealthdError {
    match e {
        ReplayError::Input {
            line,
            field,
            message,
        } => HealthdError::Replay(format!("{}:{line}: {field}: {message}", input.display())),
        e @ ReplayError::Empty => HealthdError::Replay(format!("{}: {e}", input.display())),
        other => HealthdError::Replay(other.to_string()),
    }
}

/// Replays `input` under the configuration at `config`, writing decision
/// lines to `out`. The configuration is validated whole first, except that
/// secrets are not read ([`ConfigFile::validate_without_secrets`]): the
/// replay sends nothing, so it needs no token, webhook secret or URL.
pub fn run(
    config: &Path,
    input: &Path,
    out: &mut dyn std::io::Write,
) -> Result<ReplayReport, HealthdError> {
    let file = ConfigFile::load(config)?;
    let config = file.validate_without_secrets()?;
    let reader = std::fs::File::open(input).map_err(|source| HealthdError::Read {
        path: input.to_owned(),
        source,
    })?;
    let replay = Replay::new(config.replay_setup()).map_err(|e| replay_error(input, e))?;
    let report = replay
        .run(BufReader::new(reader), out)
        .map_err(|e| replay_error(input, e))?;
    out.flush()
        .map_err(|e| HealthdError::Replay(format!("writing output: {e}")))?;
    Ok(report)
}
