//! revio serving the tokio RESP baseline's own protocol code (`resp.rs`):
//! the like-for-like peer of `tokio-resp` and the floor, on one loop.
//!
//! `revio-resp --port N [--backend poll|uring]` serves 127.0.0.1:N until killed.

fn main() {
    revio_bench::revio_conn::main::<revio_bench::resp::Resp>(
        "revio-resp",
        "revio-resp --port N [--backend poll|uring]",
    );
}
