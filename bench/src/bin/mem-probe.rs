//! The idle-connection memory probe: how much a server's resident memory
//! grows per open, idle connection.
//!
//! `mem-probe --pid PID --addr 127.0.0.1:PORT [--conns 10000] [--payload PING] [--settle 3]`
//! reads the server's VmRSS, opens the connections (spreading their source
//! addresses over 127.0.0.1, 127.0.0.2, ... when there are more than one
//! address's ephemeral ports), waits until the server holds them all and
//! reads VmRSS (connections open, never used); then sends the payload plus
//! CRLF on each and reads a reply (each connection served once), leaves them
//! idle for `--settle` seconds (servers that trim idle buffers on a timer get
//! to run it) and reads VmRSS again. Prints
//! `conns=N rss_before=B open_per_conn=X served_per_conn=Y`.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::thread::sleep;
use std::time::{Duration, Instant};

use revio_bench::args::Args;
use revio_bench::procfs::{open_fds, raise_nofile, vm_rss};
use socket2::{Domain, Socket, Type};

/// Connections per source address: well under the 28,000 ephemeral ports.
const PER_SOURCE: usize = 20_000;

fn main() {
    let args = Args::parse("mem-probe --pid PID --addr HOST:PORT [--conns N] [--payload WORD]");
    let pid: u32 = args.req("--pid");
    let addr: SocketAddr = args.req("--addr");
    let conns: usize = args.get("--conns", 10_000);
    let payload: String = args.get("--payload", "PING".to_string());
    let settle: f64 = args.get("--settle", 3.0);
    raise_nofile(conns as u64 + 1024);
    if let Err(e) = run(pid, addr, conns, &payload, settle) {
        eprintln!("mem-probe: {e}");
        std::process::exit(1);
    }
}

fn run(pid: u32, addr: SocketAddr, conns: usize, payload: &str, settle: f64) -> io::Result<()> {
    let fds_before = open_fds(pid)?;
    let before = vm_rss(pid)?;
    let mut streams = Vec::with_capacity(conns);
    for i in 0..conns {
        let source = Ipv4Addr::new(127, 0, 0, 1 + (i / PER_SOURCE) as u8);
        let sock = Socket::new(Domain::IPV4, Type::STREAM, None)?;
        if conns > PER_SOURCE {
            no_port_at_bind(&sock)?;
            sock.bind(&SocketAddr::V4(SocketAddrV4::new(source, 0)).into())?;
        }
        sock.connect(&addr.into())?;
        let s: TcpStream = sock.into();
        s.set_nodelay(true)?;
        streams.push(s);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while open_fds(pid)? < fds_before + conns && Instant::now() < deadline {
        sleep(Duration::from_millis(50));
    }
    sleep(Duration::from_millis(300));
    let opened = vm_rss(pid)?;
    let msg = format!("{payload}\r\n");
    let mut buf = [0u8; 64];
    // Write to all first, then read all: the server answers in parallel.
    for s in streams.iter_mut() {
        s.write_all(msg.as_bytes())?;
    }
    for s in streams.iter_mut() {
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        if s.read(&mut buf)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed a connection",
            ));
        }
    }
    sleep(Duration::from_secs_f64(settle));
    let served = vm_rss(pid)?;
    let per = |rss: u64| (rss as f64 - before as f64) / conns as f64;
    println!(
        "conns={conns} rss_before={before} open_per_conn={:.0} served_per_conn={:.0}",
        per(opened),
        per(served)
    );
    drop(streams);
    Ok(())
}

/// Lets `connect`, not `bind`, pick the source port, so that each source
/// address has its full range of ports for this one destination.
fn no_port_at_bind(sock: &Socket) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: setsockopt reads an int-sized option from a live local.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
