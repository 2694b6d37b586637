//! The tokio baseline that echoes every byte, on a current-thread runtime.
//!
//! `tokio-echo --port N` serves 127.0.0.1:N until killed.

use revio_bench::args::Args;
use revio_bench::tokio_conn::Echo;

fn main() {
    let args = Args::parse("tokio-echo --port N");
    let port: u16 = args.req("--port");
    if let Err(e) = revio_bench::tokio_conn::serve(port, || Echo) {
        eprintln!("tokio-echo: {e}");
        std::process::exit(1);
    }
}
