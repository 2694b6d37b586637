//! The tokio baseline that echoes every byte, on a current-thread runtime.
//!
//! `tokio-echo --port N [--copy]` serves 127.0.0.1:N until killed. It sends
//! from its read buffer; with `--copy` it first copies each read into its
//! output buffer, as a revio handler's `conn.write(input)` does.

use revio_bench::args::Args;
use revio_bench::tokio_conn::Echo;

fn main() {
    let args = Args::parse("tokio-echo --port N [--copy]");
    let port: u16 = args.req("--port");
    let copy = args.flag("--copy");
    if let Err(e) = revio_bench::tokio_conn::serve(port, move || Echo { copy }) {
        eprintln!("tokio-echo: {e}");
        std::process::exit(1);
    }
}
