//! `healthd replay --config FILE --input FILE.jsonl`: drive the engine's
//! rules with recorded observations on a simulated clock and print the
//! decisions it would have taken (backtesting a policy).
//!
//! The replay driver itself is `healthcore::replay` (being written on the
//! `replay` branch). Until it is merged here, this module builds the
//! setup it takes from the configuration ([`ReplayInputs`], the same
//! fields as its planned `ReplaySetup`) and the subcommand refuses to run
//! with a clear message: it never prints made-up decisions.

use std::path::Path;

use healthcore::fleet::FleetConfig;
use healthcore::heal::HealPolicy;
use healthcore::maintenance::MaintenanceWindow;
use healthcore::model::{CheckSpec, Target, TargetId};
use healthcore::notify::Audience;
use healthcore::store::AlertChannelConfig;

use crate::healthd::config::{Config, ConfigFile};
use crate::healthd::error::HealthdError;

/// What a replay needs from the configuration: the rules, the targets
/// with their checks, heal policies, maintenance windows, alert routes and
/// the names of the external channels.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayInputs {
    /// The fleet's rules (`[engine.rules]`).
    pub rules: FleetConfig,
    /// The targets.
    pub targets: Vec<Target>,
    /// Every check with its target.
    pub checks: Vec<(TargetId, CheckSpec)>,
    /// Heal policies.
    pub heal_policies: Vec<HealPolicy>,
    /// Maintenance windows.
    pub maintenance: Vec<MaintenanceWindow>,
    /// Alert routes.
    pub channels: Vec<AlertChannelConfig>,
    /// Names of the channels that serve the external audience.
    pub external_channels: Vec<String>,
}

impl Config {
    /// The replay inputs of this configuration.
    pub fn replay_inputs(&self) -> ReplayInputs {
        ReplayInputs {
            rules: self.engine.rules.clone(),
            targets: self.targets.iter().map(|t| t.target()).collect(),
            checks: self.checks(),
            heal_policies: self.heal_policies.clone(),
            maintenance: self.maintenance.clone(),
            channels: self.alert_routes(),
            external_channels: self
                .alerts
                .channels
                .iter()
                .filter(|c| c.audience() == Audience::External)
                .map(|c| c.name().to_owned())
                .collect(),
        }
    }
}

/// Runs a replay of `input` under the configuration at `config`, writing
/// decision lines to `out`.
pub fn run(config: &Path, input: &Path, _out: &mut dyn std::io::Write) -> Result<(), HealthdError> {
    let file = ConfigFile::load(config)?;
    file.validate()?;
    let _inputs = file.config.replay_inputs();
    std::fs::File::open(input).map_err(|source| HealthdError::Read {
        path: input.to_owned(),
        source,
    })?;
    Err(HealthdError::Replay(
        "this build has no replay driver yet (healthcore::replay is not merged); \
         the configuration and input file were checked, nothing was replayed"
            .into(),
    ))
}
