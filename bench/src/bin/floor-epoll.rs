//! The floor: a minimal epoll PING responder, written for the suite.
//!
//! `floor-epoll --port N` answers `+PONG\r\n` for every PING it sees
//! (inline `PING\r\n` or multi-bulk `*1\r\n$4\r\nPING\r\n`, by counting lines
//! that end in `G`), with one `read` and one `write` per readiness event and no
//! parsing beyond that. It is what a request costs when user space does
//! almost nothing: the lower bound for every server in the PING rows.

use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, IntoRawFd};

use revio_bench::args::Args;

const PONG: &[u8] = b"+PONG\r\n";

fn main() {
    let args = Args::parse("floor-epoll --port N");
    let port: u16 = args.req("--port");
    if let Err(e) = run(port) {
        eprintln!("floor-epoll: {e}");
        std::process::exit(1);
    }
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn run(port: u16) -> io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    listener.set_nonblocking(true)?;
    let lfd = listener.as_raw_fd();
    // SAFETY: plain syscalls on descriptors this function owns; buffers
    // passed to the kernel are live and sized as stated.
    let ep = check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
    add(ep, lfd)?;
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    let mut buf = vec![0u8; 64 * 1024];
    let mut replies = PONG.repeat(64);
    // The last two bytes seen on each fd, so a `G\r\n` split by reads still counts.
    let mut tail: Vec<[u8; 2]> = Vec::new();
    loop {
        // SAFETY: events has room for the count passed.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, -1) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for ev in &events[..n as usize] {
            let fd = ev.u64 as i32;
            if fd == lfd {
                loop {
                    match listener.accept() {
                        Ok((s, _)) => {
                            s.set_nodelay(true)?;
                            s.set_nonblocking(true)?;
                            let cfd = s.into_raw_fd();
                            add(ep, cfd)?;
                            if tail.len() <= cfd as usize {
                                tail.resize(cfd as usize + 1, [0; 2]);
                            }
                            tail[cfd as usize] = [0; 2];
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(_) => break,
                    }
                }
                continue;
            }
            // SAFETY: buf is live and at least buf.len() bytes long.
            let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            if r <= 0 {
                if r == 0 || io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock {
                    // SAFETY: fd is a connection this loop accepted.
                    unsafe { libc::close(fd) };
                }
                continue;
            }
            let got = &buf[..r as usize];
            let t = &mut tail[fd as usize];
            let mut pings = 0;
            let (mut a, mut b) = (t[0], t[1]);
            for &c in got {
                if c == b'\n' && b == b'\r' && a == b'G' {
                    pings += 1;
                }
                a = b;
                b = c;
            }
            *t = [a, b];
            if pings > 0 {
                let len = pings * PONG.len();
                if replies.len() < len {
                    replies = PONG.repeat(pings);
                }
                // One write; loopback takes a few hundred bytes at once, and a
                // short write only short-changes this minimal responder's client.
                // SAFETY: replies holds at least len bytes.
                unsafe { libc::write(fd, replies.as_ptr().cast(), len) };
            }
        }
    }
}

fn add(ep: i32, fd: i32) -> io::Result<()> {
    let mut ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: fd as u64,
    };
    // SAFETY: ev is a valid epoll_event for the duration of the call.
    check(unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev) })?;
    Ok(())
}
