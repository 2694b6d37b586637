//! The tokio UDP baseline: one socket on a current-thread runtime, each
//! datagram echoed to its sender as a tokio user writes it.
//!
//! `tokio-udp --port N` serves 127.0.0.1:N until killed. A TCP listener on
//! the same port says it is up (the suite waits for a TCP accept).

use std::io;

use revio_bench::args::Args;

fn main() {
    let args = Args::parse("tokio-udp --port N");
    let port: u16 = args.req("--port");
    let rt = tokio::runtime::Builder::new_current_thread().enable_io().build();
    let r = rt.and_then(|rt| {
        rt.block_on(async {
            let sock = tokio::net::UdpSocket::bind(("127.0.0.1", port)).await?;
            let _ready = std::net::TcpListener::bind(("127.0.0.1", port))?;
            let mut buf = vec![0u8; 65_536];
            loop {
                let (n, from) = sock.recv_from(&mut buf).await?;
                if let Err(e) = sock.send_to(&buf[..n], from).await {
                    eprintln!("tokio-udp: send: {e}");
                }
            }
            #[allow(unreachable_code)]
            Ok::<(), io::Error>(())
        })
    });
    if let Err(e) = r {
        eprintln!("tokio-udp: {e}");
        std::process::exit(1);
    }
}
