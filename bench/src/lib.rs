//! Shared parts of the benchmark suite: the protocols the baselines speak,
//! their two drivers (tokio's, and revio's for the like-for-like rows),
//! `/proc` readers and flag parsing.
//!
//! The binaries in `src/bin` are the peers and load generators; `src/main.rs`
//! is the runner that starts them, pinned, and writes `results/RESULTS.md`,
//! with one module per comparison in `src/runner/`.

pub mod args;
pub mod http;
pub mod procfs;
pub mod protocol;
pub mod resp;
pub mod revio_conn;
pub mod tokio_conn;
