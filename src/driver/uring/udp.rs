//! Datagrams out: what the loop writes during a turn waits in the driver's
//! [`Outbox`](crate::driver::datagrams::Outbox) and leaves in `sendmmsg`
//! batches (segmented where it can) when `poll` is next called. Sending
//! them as ring operations instead would need each datagram's bytes and
//! address owned until its completion, for no fewer system calls: the
//! batch is one call either way.

use std::io;
use std::net::SocketAddr;

use socket2::{SockAddr, SockRef};

use super::{SEND_FLAGS, UringDriver};

impl UringDriver {
    /// Queues one datagram (or, with batching off, sends it now).
    pub(super) fn queue_datagram(
        &mut self,
        listener: usize,
        buf: &[u8],
        to: SocketAddr,
    ) -> io::Result<usize> {
        let fd = self.listener_fd(listener)?;
        if !self.udp_options.batch {
            // A full send buffer drops the datagram rather than blocking the loop.
            return SockRef::from(&fd).send_to_with_flags(
                buf,
                &SockAddr::from(to),
                SEND_FLAGS | libc::MSG_DONTWAIT,
            );
        }
        if !self.outbox.has_room(buf.len()) {
            self.flush_datagrams();
        }
        self.outbox.push(listener, buf, to);
        Ok(buf.len())
    }

    /// Sends the datagrams written since the last `poll`.
    pub(super) fn flush_datagrams(&mut self) {
        let UringDriver {
            outbox,
            ring,
            listeners,
            ..
        } = self;
        outbox.flush(|l| ring.fd(listeners.get(l)?.as_ref()?.sock));
    }
}

impl Drop for UringDriver {
    /// Datagrams written in the loop's last turn still go out.
    fn drop(&mut self) {
        self.flush_datagrams();
    }
}
