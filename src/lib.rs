//! The healthcore suite: the workspace's top-level examples, benches and
//! end-to-end tests. It has no API of its own; the README's quickstart is
//! compiled here as a doctest.
#![forbid(unsafe_code)]
#![doc = include_str!("../README.md")]
