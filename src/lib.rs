//! The healthcore suite: the workspace's top-level examples, benches and
//! end-to-end tests, and [`healthd`], the standalone daemon's library (its
//! `main` is `examples/healthd.rs`). The README's quickstart is compiled
//! here as a doctest.
#![forbid(unsafe_code)]
#![doc = include_str!("../README.md")]

pub mod healthd;
