//! # healthcore-probes
//!
//! Concrete [`Checker`] implementations for
//! healthcore: the active checks that seeds 002, 003 and 004 name. Each
//! probe lives in its own module behind its own cargo feature:
//!
//! | kind | checker | feature | default |
//! | --- | --- | --- | --- |
//! | `tcp` | [`TcpChecker`] | `tcp` | yes |
//! | `command` | [`CommandChecker`] | `command` | yes |
//! | `disk` | [`DiskChecker`] | `disk` | yes |
//! | `icmp` | [`IcmpChecker`] | `icmp` | no |
//! | `ssh` | [`SshChecker`] | `ssh` | no |
//! | `dns` | [`DnsChecker`] | `dns` | no |
//! | `redis` | [`RedisChecker`] | `redis` | no |
//! | `tls` | [`TlsChecker`] | `tls` | no |
//!
//! With the `command` feature, [`CommandHealer`] carries out heal actions
//! by running operator-configured argv commands with the same process
//! handling, and [`ConfiguredLogs`] serves the "last N log lines" quick
//! action from a log file or a command per target.
//!
//! The `all` feature turns every probe on. The HTTP probe lives in
//! `healthcore-http` and the Postgres probe in `healthcore-sqlx`.
//!
//! Every probe:
//!
//! - parses `spec.params` into a typed, `deny_unknown_fields` params struct
//!   (documented on each module), and refuses bad params at
//!   [`Checker::validate`] naming
//!   the field as `params.<field>`;
//! - treats `spec.timeout` as **one** deadline for the whole probe
//!   (resolve, connect, send, read);
//! - tells `unreachable` (host or network: refused, connect timeout) from
//!   `fail` (reached, service bad) and from `unknown` (checker-side fault:
//!   no permission, unresolvable name, bad params), per DESIGN.md §7;
//! - returns an [`Observation`](healthcore::model::Observation) with the
//!   latency measured by [`std::time::Instant`], a short message and
//!   structured details.
//!
//! ```
//! # #[cfg(feature = "tcp")] {
//! use healthcore::checker::Checker;
//! use healthcore::model::CheckSpec;
//! use healthcore_probes::TcpChecker;
//!
//! let spec = CheckSpec::new("tcp")
//!     .with_params(serde_json::json!({"host": "127.0.0.1", "port": 0}));
//! let err = TcpChecker::new().validate(&spec).unwrap_err();
//! assert_eq!(err.field(), "params.port");
//! # }
//! ```
//!
//! This crate does I/O and uses tokio; the rules that judge observations
//! live in the pure `healthcore` core, never here.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

use std::sync::Arc;

use healthcore::checker::Checker;

mod common;

#[cfg(feature = "command")]
#[cfg_attr(docsrs, doc(cfg(feature = "command")))]
pub mod command;
#[cfg(feature = "command")]
#[cfg_attr(docsrs, doc(cfg(feature = "command")))]
pub mod command_healer;
#[cfg(feature = "disk")]
#[cfg_attr(docsrs, doc(cfg(feature = "disk")))]
pub mod disk;
#[cfg(feature = "dns")]
#[cfg_attr(docsrs, doc(cfg(feature = "dns")))]
pub mod dns;
#[cfg(feature = "icmp")]
#[cfg_attr(docsrs, doc(cfg(feature = "icmp")))]
pub mod icmp;
#[cfg(feature = "command")]
#[cfg_attr(docsrs, doc(cfg(feature = "command")))]
pub mod logs;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;
#[cfg(feature = "ssh")]
#[cfg_attr(docsrs, doc(cfg(feature = "ssh")))]
pub mod ssh;
#[cfg(feature = "tcp")]
#[cfg_attr(docsrs, doc(cfg(feature = "tcp")))]
pub mod tcp;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub mod tls;

#[cfg(feature = "command")]
pub use command::{CommandChecker, CommandParams};
#[cfg(feature = "command")]
pub use command_healer::{CommandHealer, HealCommand};
#[cfg(feature = "disk")]
pub use disk::{ByteSize, DiskChecker, DiskParams};
#[cfg(feature = "dns")]
pub use dns::{DnsChecker, DnsParams};
#[cfg(feature = "icmp")]
pub use icmp::{IcmpChecker, IcmpParams};
#[cfg(feature = "command")]
pub use logs::{ConfiguredLogs, LogSpec};
#[cfg(feature = "redis")]
pub use redis::{RedisChecker, RedisParams};
#[cfg(feature = "ssh")]
pub use ssh::{SshChecker, SshParams};
#[cfg(feature = "tcp")]
pub use tcp::{TcpChecker, TcpParams};
#[cfg(feature = "tls")]
pub use tls::{TlsChecker, TlsParams};

/// One checker of every kind compiled in, ready to register with the
/// engine.
///
/// ```
/// let kinds: Vec<String> = healthcore_probes::all_checkers()
///     .iter()
///     .map(|c| c.kind().to_owned())
///     .collect();
/// # #[cfg(feature = "tcp")]
/// assert!(kinds.iter().any(|k| k == "tcp"));
/// ```
#[allow(clippy::vec_init_then_push)]
pub fn all_checkers() -> Vec<Arc<dyn Checker>> {
    #[allow(unused_mut)]
    let mut v: Vec<Arc<dyn Checker>> = Vec::new();
    #[cfg(feature = "tcp")]
    v.push(Arc::new(TcpChecker::new()));
    #[cfg(feature = "command")]
    v.push(Arc::new(CommandChecker::new()));
    #[cfg(feature = "disk")]
    v.push(Arc::new(DiskChecker::new()));
    #[cfg(feature = "icmp")]
    v.push(Arc::new(IcmpChecker::new()));
    #[cfg(feature = "ssh")]
    v.push(Arc::new(SshChecker::new()));
    #[cfg(feature = "dns")]
    v.push(Arc::new(DnsChecker::new()));
    #[cfg(feature = "redis")]
    v.push(Arc::new(RedisChecker::new()));
    #[cfg(feature = "tls")]
    v.push(Arc::new(TlsChecker::new()));
    v
}
