//! RESP, the Redis protocol, as pure functions and state machines over byte
//! slices: the command parser (`parse`, `inline`), the reply encoders for
//! RESP2 and RESP3 (`reply`), and numbers as Redis reads and prints them
//! (`number`). No sockets and no clock here.

mod inline;
pub mod number;
pub mod parse;
pub mod reply;

#[cfg(test)]
mod parse_tests;

pub use number::{parse_f64, parse_f64_lenient, parse_i64};
pub use parse::{Args, Limits, Parser, Span};
pub use reply::{Proto, Reply, Sink};
