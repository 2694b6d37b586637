//! How datagrams move: batching and offloads (Linux's epoll and io_uring
//! backends; elsewhere each datagram is one system call).

use super::Config;
use crate::driver::UdpOptions;

impl Config {
    /// UDP generic receive offload (`UDP_GRO`, Linux 5.0): the kernel may
    /// hand several datagrams of one sender over in one receive, and the
    /// backend splits them back at their size, so that each is still its own
    /// `data` call. It saves work per datagram on streams of equal-sized
    /// datagrams (QUIC, media). Off by default; where the kernel refuses it,
    /// a warning is logged and datagrams come one by one. Only the epoll
    /// and io_uring backends on Linux use it.
    ///
    /// Whatever this says, on Linux the epoll and io_uring backends take up
    /// to 32 datagrams per `recvmmsg` call and send the datagrams written
    /// during a turn when it ends, in `sendmmsg` batches, with a run of
    /// datagrams to one remote sent as one segmented send (`UDP_SEGMENT`,
    /// Linux 4.18) where the kernel supports it. Each UDP listener then
    /// reserves 32 receive slots of [`Config::read_buffer`] bytes (64 KiB
    /// with this offload) of address space, of which only the pages
    /// datagrams touch become resident.
    ///
    /// ```no_run
    /// # use revio::{Action, Conn, Handler};
    /// # struct Echo;
    /// # impl Handler for Echo {
    /// #     type State = ();
    /// #     fn data(&mut self, c: &mut Conn<'_, ()>, d: &[u8]) -> Action { c.write(d); Action::None }
    /// # }
    /// revio::Config::new().udp_gro(true).serve(Echo, ["udp://0.0.0.0:4433"]).unwrap();
    /// ```
    pub fn udp_gro(mut self, on: bool) -> Config {
        self.udp_gro = on;
        self
    }

    /// Test hook, not for applications: each datagram is received and sent
    /// with its own system call, as where batching is missing.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn __udp_one_by_one(mut self) -> Config {
        self.udp_batch = false;
        self
    }

    /// Test hook, not for applications: segmented sends look unsupported.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn __no_udp_segmentation(mut self) -> Config {
        self.udp_gso = false;
        self
    }

    pub(super) fn udp_options(&self) -> UdpOptions {
        UdpOptions {
            batch: self.udp_batch,
            gso: self.udp_batch && self.udp_gso,
            gro: self.udp_batch && self.udp_gro,
        }
    }
}
