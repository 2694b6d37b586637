//! Whether this kernel gives revio everything it needs from io_uring, found
//! out by using it rather than by reading version numbers: seccomp profiles
//! refuse io_uring on kernels that have it, and distributions backport.

use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crate::ring::{Event, Ring};

/// How long the probe waits for its receive to deliver.
const PROBE_WAIT: Duration = Duration::from_secs(2);

/// Checks that io_uring works here as revio uses it: a ring can be made
/// (`ENOSYS` or `EPERM` when refused), every opcode revio submits is known,
/// a provided buffer ring registers, and a multishot receive on a socketpair
/// delivers a chunk into it and stays armed. `Ok` means all of that worked.
pub fn probe() -> io::Result<()> {
    let mut ring = Ring::new(8)?;
    if let Some(op) = ring.missing_opcode()? {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("io_uring lacks the {op} operation"),
        ));
    }
    let group = ring.add_group(2, 64)?;
    let (mut ours, theirs) = UnixStream::pair()?;
    let sock = ring.add(OwnedFd::from(theirs));
    ring.recv_multi(sock, group, 1)?;
    ring.waker(2)?.wake()?;
    ours.write_all(b"probe")?;
    let deadline = Instant::now() + PROBE_WAIT;
    let (mut received, mut woken) = (false, false);
    while !(received && woken) {
        let now = Instant::now();
        if now >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "io_uring: the probe's multishot receive did not deliver",
            ));
        }
        ring.enter(Some(deadline - now))?;
        while let Some(c) = ring.next_completion() {
            match c.event {
                Event::Received { buf, len } => {
                    let ok = ring.buf(&buf)[..len] == *b"probe" && c.more;
                    ring.give_back(buf);
                    if !ok {
                        return Err(io::Error::new(
                            io::ErrorKind::Unsupported,
                            "io_uring: multishot receive into a buffer ring misbehaves",
                        ));
                    }
                    received = true;
                }
                Event::Woken => woken = true,
                Event::Failed(e) => return Err(e),
                other => {
                    return Err(io::Error::other(format!("io_uring probe: unexpected {other:?}")));
                }
            }
        }
    }
    ring.close(sock);
    Ok(())
}
