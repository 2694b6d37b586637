//! The tokio RESP baseline: the subset of redis-benchmark (PING, SET, GET,
//! INCR), on a current-thread runtime.
//!
//! `tokio-resp --port N` serves 127.0.0.1:N until killed.

use revio_bench::args::Args;
use revio_bench::resp::Resp;

fn main() {
    let args = Args::parse("tokio-resp --port N");
    let port: u16 = args.req("--port");
    if let Err(e) = revio_bench::tokio_conn::serve(port, || Resp) {
        eprintln!("tokio-resp: {e}");
        std::process::exit(1);
    }
}
