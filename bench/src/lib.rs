//! Shared parts of the benchmark suite: the connection driver of the tokio
//! baselines, the protocols they speak, `/proc` readers and flag parsing.
//!
//! The binaries in `src/bin` are the peers and load generators; `src/main.rs`
//! is the runner that starts them, pinned, and writes `results/RESULTS.md`,
//! with one module per comparison in `src/runner/`.

pub mod args;
pub mod http;
pub mod procfs;
pub mod resp;
pub mod tokio_conn;
