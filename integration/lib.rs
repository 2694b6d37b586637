//! Nothing here: the tests are in `tests/`. They live in their own package so
//! that their dependencies (the `redis` crate, ureq, rcgen, proptest) are
//! built only by `cargo test --workspace`, never by `cargo run --example`.
