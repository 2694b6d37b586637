//! revio serving the tokio HTTP baseline's own protocol code (`http.rs`):
//! the like-for-like peer of `tokio-http`, on one loop.
//!
//! `revio-http --port N [--backend poll|uring]` serves 127.0.0.1:N until killed.

fn main() {
    revio_bench::revio_conn::main::<revio_bench::http::Hello>(
        "revio-http",
        "revio-http --port N [--backend poll|uring]",
    );
}
