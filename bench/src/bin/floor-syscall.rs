//! The floor in syscalls: one `write` plus one `read` of a small message on a
//! connected loopback TCP pair, in a tight loop on one thread. The least CPU
//! a request/response server can spend on an unbatched request (the write
//! also pays for the loopback delivery to the other end).
//!
//! `floor-syscall [--secs 1] [--size 64]` prints
//! `pairs=N cpu_s=S ns_per_pair=X pairs_per_cpu_s=Y`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use revio_bench::args::Args;

fn main() {
    let args = Args::parse("floor-syscall [--secs S] [--size BYTES]");
    let secs: f64 = args.get("--secs", 1.0);
    let size: usize = args.get("--size", 64);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut a = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let (mut b, _) = listener.accept().expect("accept");
    a.set_nodelay(true).expect("nodelay");
    b.set_nodelay(true).expect("nodelay");
    let msg = vec![b'x'; size];
    let mut buf = vec![0u8; size.max(4096)];
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let cpu0 = cpu_now();
    let mut pairs: u64 = 0;
    while !pairs.is_multiple_of(1024) || Instant::now() < deadline {
        a.write_all(&msg).expect("write");
        let mut got = 0;
        while got < size {
            got += b.read(&mut buf[..size - got]).expect("read");
        }
        pairs += 1;
    }
    let cpu = cpu_now() - cpu0;
    println!(
        "pairs={pairs} cpu_s={cpu:.3} ns_per_pair={:.0} pairs_per_cpu_s={:.0}",
        cpu * 1e9 / pairs as f64,
        pairs as f64 / cpu
    );
}

/// User plus system CPU seconds of this process, from getrusage.
fn cpu_now() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}
