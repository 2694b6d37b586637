//! The tokio echo baseline on the multi-thread (work-stealing) runtime, for
//! the scaling comparison: `tokio-echo-mt --port N --threads T`.
//!
//! Written as a tokio user would: one task per connection, a read buffer of
//! 16 KiB per connection, `write_all` of what was read.

use revio_bench::args::Args;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn main() {
    let args = Args::parse("tokio-echo-mt --port N [--threads T]");
    let port: u16 = args.req("--port");
    let threads: usize = args.get("--threads", 2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_io()
        .build()
        .expect("a tokio runtime");
    let result: std::io::Result<()> = rt.block_on(async move {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                tokio::task::yield_now().await;
                continue;
            };
            let _ = s.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    let n = match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if s.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    if let Err(e) = result {
        eprintln!("tokio-echo-mt: {e}");
        std::process::exit(1);
    }
}
