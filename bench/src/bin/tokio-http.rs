//! The tokio HTTP baseline: `Hello World!` for every HTTP/1.1 request, with
//! keep-alive and pipelining, on a current-thread runtime.
//!
//! `tokio-http --port N` serves 127.0.0.1:N until killed.

use revio_bench::args::Args;
use revio_bench::http::Hello;

fn main() {
    let args = Args::parse("tokio-http --port N");
    let port: u16 = args.req("--port");
    if let Err(e) = revio_bench::tokio_conn::serve(port, Hello::default) {
        eprintln!("tokio-http: {e}");
        std::process::exit(1);
    }
}
