//! many connections: the redis and echo comparisons again at 1,000
//! connections, where one enter per turn for all of them pays.

use super::Ctx;
use super::echo::echo;
use super::redis::redis;
use super::report::Table;

/// The redis table, then the echo table, at 1,000 connections.
pub fn many(ctx: &Ctx) -> Vec<Table> {
    vec![redis(ctx, 1000), echo(ctx, 1000)]
}
