//! Replay tests: the seed stories, bad input, determinism.
