//! # healthcore
//!
//! An embeddable engine for the health of fleets: provisioned nodes, pods,
//! VPSs and platform services.
//!
//! The crate has two halves:
//!
//! - the **pure core** — [`model`], [`machine`], [`staleness`], [`score`],
//!   [`breaker`], [`flap`], [`lifecycle`], [`alert`], [`maintenance`],
//!   [`dependency`], [`heal`], [`uptime`], [`rollup`], [`slo`]: plain data
//!   in, plain data out, `now` passed as an argument, no I/O, no clock;
//! - the **traits and engine** that schedule probes, feed their results
//!   through the pure core and hand decisions to stores, notifiers,
//!   healers and the event bus.
//!
//! Every rule lives once, in the pure core, and is property-tested.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod alert;
pub mod breaker;
pub mod checker;
pub mod clock;
pub mod dependency;
#[cfg(feature = "runtime")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime")))]
pub mod engine;
pub mod error;
pub mod event;
pub mod flap;
pub mod fleet;
pub mod heal;
pub mod healer;
pub mod lifecycle;
pub mod machine;
pub mod maintenance;
pub mod memory;
pub mod model;
pub mod notify;
pub mod replay;
pub mod report;
pub mod rollup;
pub mod score;
pub mod slo;
pub mod staleness;
pub mod store;
pub mod summary;
#[cfg(feature = "testkit")]
#[cfg_attr(docsrs, doc(cfg(feature = "testkit")))]
pub mod testkit;
pub mod uptime;

pub use error::ValidationError;
