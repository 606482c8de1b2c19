//! `[server]` (the HTTP listener) and `[probes]` (what outbound probes may
//! reach).

use std::net::SocketAddr;

use healthcore_http::client::EgressPolicy;
use serde::Deserialize;

use super::Problems;

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// The HTTP listener.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on (default `127.0.0.1:8080`).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Let nodes post lifecycle reports (`POST /report`) without a token,
    /// as seed 001's installers do (default false).
    #[serde(default)]
    pub public_reports: bool,
}

fn default_listen() -> SocketAddr {
    DEFAULT_LISTEN.parse().expect("literal address parses")
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            public_reports: false,
        }
    }
}

/// The egress policy of the `http` probe, and of the destinations of
/// checks defined through the API (every kind: `host`, `server`, `url`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbesConfig {
    /// Let probes reach private, unique-local and CGNAT addresses.
    #[serde(default)]
    pub allow_private: bool,
    /// Ranges probes may reach whatever their class, such as
    /// `127.0.0.0/8` for loopback services.
    #[serde(default)]
    pub allow: Vec<String>,
}

impl ProbesConfig {
    /// The policy, or the problems with `probes.allow[i]`.
    pub(crate) fn policy(&self, p: &mut Problems) -> EgressPolicy {
        let mut policy = EgressPolicy::probes().allow_private(self.allow_private);
        for (i, cidr) in self.allow.iter().enumerate() {
            match policy.clone().allow_cidr(cidr) {
                Ok(next) => policy = next,
                Err(e) => p.push(format!("probes.allow[{i}]"), e.rule().to_owned()),
            }
        }
        policy
    }
}
