//! Batched UDP without io_uring: `recvmmsg(2)` and `sendmmsg(2)` behind safe
//! calls, with UDP generic segmentation offload (`UDP_SEGMENT`, Linux 4.18)
//! on send and generic receive offload (`UDP_GRO`, Linux 5.0) on receive.
//!
//! Each call borrows everything the kernel reads or writes for the length of
//! the call only: the message headers, addresses and control buffers live on
//! its stack frame, the payloads in the caller's slices. Nothing outlives the
//! system call, so there is nothing to own across calls.
//!
//! ```no_run
//! # fn main() -> std::io::Result<()> {
//! use std::net::UdpSocket;
//! use std::os::fd::AsFd;
//! use revio_uring::udp::{self, Datagram, RecvMeta};
//!
//! let sock = UdpSocket::bind("127.0.0.1:0")?;
//! sock.set_nonblocking(true)?;
//! let to = "127.0.0.1:9".parse().unwrap();
//! let sent = udp::send_mmsg(sock.as_fd(), &[Datagram { data: b"ping", to, segment: 0 }])?;
//! assert_eq!(sent, 1);
//! let mut storage = vec![0u8; 4 * 2048];
//! let mut meta = [RecvMeta::default(); 4];
//! let n = udp::recv_mmsg(sock.as_fd(), &mut storage, 2048, &mut meta).unwrap_or(0);
//! for m in &meta[..n] {
//!     println!("{} bytes from {:?}", m.len, m.from);
//! }
//! # Ok(())
//! # }
//! ```

use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr;

use libc::{c_int, c_void, sockaddr_in, sockaddr_in6, sockaddr_storage, socklen_t};

/// The most datagrams one [`recv_mmsg`] or [`send_mmsg`] call moves.
pub const BATCH: usize = 32;

/// The most datagrams one segmented send may carry (the kernel's
/// `UDP_MAX_SEGMENTS` is 64 before Linux 6.10 and 128 since).
pub const MAX_SEGMENTS: usize = 64;

/// The most payload one segmented send may carry (an IP datagram's limit).
pub const MAX_SEGMENTED: usize = 65_507;

// Not in every libc target's constants: linux/udp.h.
const UDP_SEGMENT: c_int = 103;
const UDP_GRO: c_int = 104;

/// Room for one `UDP_SEGMENT` or `UDP_GRO` control message (a 16-byte
/// header and an int, aligned).
const CONTROL: usize = 32;

/// The control space a receive needs for a `UDP_GRO` segment size
/// (`CMSG_SPACE` of an int): what a multishot `recvmsg` reserves in each
/// provided buffer, after the header and the address.
pub const GRO_CONTROL: usize = 24;

#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct Control([u8; CONTROL]);

/// One datagram [`recv_mmsg`] received: its length, its sender, and what the
/// kernel said of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecvMeta {
    /// Bytes received into its slot (at most the slot's size).
    pub len: usize,
    /// The sender; `None` for an address family other than IPv4 or IPv6.
    pub from: Option<SocketAddr>,
    /// The datagram was larger than its slot; the rest was dropped.
    pub truncated: bool,
    /// With [`set_gro`]: the kernel coalesced several datagrams of this size
    /// (the last may be shorter) from one sender into the slot; 0 when it
    /// holds one datagram.
    pub segment: usize,
}

/// One datagram (or, with `segment`, a run of them) for [`send_mmsg`].
#[derive(Clone, Copy, Debug)]
pub struct Datagram<'a> {
    /// The payload.
    pub data: &'a [u8],
    /// Where it goes.
    pub to: SocketAddr,
    /// Non-zero: the kernel splits `data` into datagrams of this size (the
    /// last may be shorter), sent as one (`UDP_SEGMENT`); at most
    /// [`MAX_SEGMENTS`] of them and [`MAX_SEGMENTED`] bytes in all.
    pub segment: u16,
}

/// Receives up to [`BATCH`] datagrams from `fd` in one system call, without
/// blocking: datagram `i` lands in `storage[i * slot..]` and is described by
/// `meta[i]`. Returns how many arrived; `WouldBlock` when none is waiting.
pub fn recv_mmsg(
    fd: BorrowedFd<'_>,
    storage: &mut [u8],
    slot: usize,
    meta: &mut [RecvMeta],
) -> io::Result<usize> {
    if slot == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "recv_mmsg: a slot of 0 bytes",
        ));
    }
    let n = meta.len().min(BATCH).min(storage.len() / slot);
    if n == 0 {
        return Ok(0);
    }
    // SAFETY: these are plain C structs for which all-zero bytes are a valid
    // value (null pointers, zero lengths, family AF_UNSPEC).
    let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { mem::zeroed() };
    // SAFETY: as above.
    let mut addrs: [sockaddr_storage; BATCH] = unsafe { mem::zeroed() };
    // SAFETY: as above.
    let mut iovs: [libc::iovec; BATCH] = unsafe { mem::zeroed() };
    let mut controls = [Control([0; CONTROL]); BATCH];
    for (i, chunk) in storage.chunks_exact_mut(slot).take(n).enumerate() {
        iovs[i] = libc::iovec {
            iov_base: chunk.as_mut_ptr().cast::<c_void>(),
            iov_len: slot,
        };
    }
    for (i, h) in hdrs.iter_mut().take(n).enumerate() {
        let m = &mut h.msg_hdr;
        m.msg_name = ptr::from_mut(&mut addrs[i]).cast::<c_void>();
        m.msg_namelen = mem::size_of::<sockaddr_storage>() as socklen_t;
        m.msg_iov = ptr::from_mut(&mut iovs[i]);
        m.msg_iovlen = 1;
        m.msg_control = controls[i].0.as_mut_ptr().cast::<c_void>();
        m.msg_controllen = CONTROL as _;
    }
    // SAFETY: each of the first `n` headers points at memory exclusively
    // borrowed for this call with its true length: a distinct `slot`-sized
    // chunk of `storage` (through its iovec), an address and a control
    // buffer on this frame. The kernel writes within them only during the
    // call, and nothing here reads them until it returns.
    let r = unsafe {
        libc::recvmmsg(
            fd.as_raw_fd(),
            hdrs.as_mut_ptr(),
            n as _,
            libc::MSG_DONTWAIT as _,
            ptr::null_mut(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    let got = r as usize;
    for (i, m) in meta.iter_mut().take(got).enumerate() {
        let h = &hdrs[i].msg_hdr;
        *m = RecvMeta {
            len: (hdrs[i].msg_len as usize).min(slot),
            from: socket_addr(&addrs[i], h.msg_namelen),
            truncated: h.msg_flags & libc::MSG_TRUNC != 0,
            segment: gro_segment(h),
        };
    }
    Ok(got)
}

/// Sends `msgs` from `fd` in one system call (at most [`BATCH`] of them),
/// without blocking. Returns how many the kernel took, in order; an error
/// only when it took none (the first datagram's error: `WouldBlock` when the
/// socket's send buffer is full).
pub fn send_mmsg(fd: BorrowedFd<'_>, msgs: &[Datagram<'_>]) -> io::Result<usize> {
    let n = msgs.len().min(BATCH);
    if n == 0 {
        return Ok(0);
    }
    // SAFETY: plain C structs; all-zero bytes are a valid value of each.
    let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { mem::zeroed() };
    // SAFETY: as above.
    let mut addrs: [sockaddr_storage; BATCH] = unsafe { mem::zeroed() };
    // SAFETY: as above.
    let mut iovs: [libc::iovec; BATCH] = unsafe { mem::zeroed() };
    let mut controls = [Control([0; CONTROL]); BATCH];
    for (i, d) in msgs.iter().take(n).enumerate() {
        let namelen = put_socket_addr(&d.to, &mut addrs[i]);
        iovs[i] = libc::iovec {
            // The kernel only reads a send's payload.
            iov_base: d.data.as_ptr().cast_mut().cast::<c_void>(),
            iov_len: d.data.len(),
        };
        let m = &mut hdrs[i].msg_hdr;
        m.msg_name = ptr::from_mut(&mut addrs[i]).cast::<c_void>();
        m.msg_namelen = namelen;
        m.msg_iov = ptr::from_mut(&mut iovs[i]);
        m.msg_iovlen = 1;
        if d.segment != 0 && d.data.len() > d.segment as usize {
            put_segment(m, &mut controls[i], d.segment);
        }
    }
    // SAFETY: each of the first `n` headers points at memory borrowed for
    // this call with its true length: a payload the caller lends (read
    // only), and an address and a control message on this frame. The kernel
    // reads them only during the call.
    let r = unsafe { libc::sendmmsg(fd.as_raw_fd(), hdrs.as_mut_ptr(), n as _, libc::MSG_DONTWAIT as _) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r as usize)
}

/// Whether this kernel has `recvmmsg` for `fd`: a peek that takes nothing
/// (a datagram already waiting stays where it is).
pub fn mmsg_supported(fd: BorrowedFd<'_>) -> bool {
    let mut byte = [0u8; 1];
    // SAFETY: plain C structs; all-zero bytes are a valid value of each.
    let mut hdr: libc::mmsghdr = unsafe { mem::zeroed() };
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast::<c_void>(),
        iov_len: 1,
    };
    hdr.msg_hdr.msg_iov = ptr::from_mut(&mut iov);
    hdr.msg_hdr.msg_iovlen = 1;
    // SAFETY: the header points at one byte and its iovec on this frame,
    // borrowed for the call; MSG_PEEK leaves the datagram queued.
    let r = unsafe {
        libc::recvmmsg(
            fd.as_raw_fd(),
            &mut hdr,
            1,
            (libc::MSG_DONTWAIT | libc::MSG_PEEK) as _,
            ptr::null_mut(),
        )
    };
    r >= 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ENOSYS)
}

/// Whether this kernel takes segmented sends (`UDP_SEGMENT`) on `fd`.
pub fn gso_supported(fd: BorrowedFd<'_>) -> bool {
    // Setting the socket's default segment size (0: none) succeeds exactly
    // where the option exists.
    setsockopt_int(fd, libc::SOL_UDP, UDP_SEGMENT, 0).is_ok()
}

/// Turns generic receive offload on `fd` on or off: with it, the kernel may
/// coalesce datagrams of one sender into one receive ([`RecvMeta::segment`]).
pub fn set_gro(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    setsockopt_int(fd, libc::SOL_UDP, UDP_GRO, c_int::from(on))
}

fn setsockopt_int(fd: BorrowedFd<'_>, level: c_int, name: c_int, value: c_int) -> io::Result<()> {
    // SAFETY: the option value is an int on this frame, with its true size;
    // the kernel reads it during the call only.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            ptr::from_ref(&value).cast::<c_void>(),
            mem::size_of::<c_int>() as socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Writes a `UDP_SEGMENT` control message into `control` and points `m` at it.
fn put_segment(m: &mut libc::msghdr, control: &mut Control, segment: u16) {
    m.msg_control = control.0.as_mut_ptr().cast::<c_void>();
    // SAFETY: CMSG_SPACE only computes a size.
    m.msg_controllen = unsafe { libc::CMSG_SPACE(mem::size_of::<u16>() as u32) } as _;
    // SAFETY: `m` points at `control`, which is aligned for a cmsghdr and
    // larger than CMSG_SPACE(2), so the first header and its data fit in it.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(m);
        (*c).cmsg_level = libc::SOL_UDP;
        (*c).cmsg_type = UDP_SEGMENT;
        (*c).cmsg_len = libc::CMSG_LEN(mem::size_of::<u16>() as u32) as _;
        ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u16>(), segment);
    }
}

/// The `UDP_GRO` segment size in a received message's control data, or 0.
// `msg_controllen` is a `usize` with glibc and a `u32` with musl.
#[allow(clippy::unnecessary_cast)]
fn gro_segment(m: &libc::msghdr) -> usize {
    if m.msg_control.is_null() || (m.msg_controllen as usize) < mem::size_of::<libc::cmsghdr>() {
        return 0;
    }
    // SAFETY: the kernel wrote `msg_controllen` bytes of control messages
    // into the buffer `msg_control` points at (still borrowed by the
    // caller); CMSG_FIRSTHDR/NXTHDR stay within that length.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(m);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_UDP && (*c).cmsg_type == UDP_GRO {
                let size = ptr::read_unaligned(libc::CMSG_DATA(c).cast::<c_int>());
                return usize::try_from(size).unwrap_or(0);
            }
            c = libc::CMSG_NXTHDR(m, c);
        }
    }
    0
}

/// The `UDP_GRO` segment size in control data as the kernel lays it out
/// (a `cmsghdr`, then its int, each aligned to a `usize`), or 0; read from
/// plain bytes, as a multishot `recvmsg` hands them over in its buffer.
pub(crate) fn gro_segment_in(control: &[u8]) -> usize {
    const WORD: usize = mem::size_of::<usize>();
    // cmsg_len (a size_t), cmsg_level and cmsg_type (ints): 16 bytes.
    const HEADER: usize = WORD + 8;
    let mut rest = control;
    while rest.len() >= HEADER {
        let len = usize::from_ne_bytes(rest[..WORD].try_into().unwrap_or([0; WORD]));
        let level = c_int::from_ne_bytes(rest[WORD..WORD + 4].try_into().unwrap_or([0; 4]));
        let kind = c_int::from_ne_bytes(rest[WORD + 4..WORD + 8].try_into().unwrap_or([0; 4]));
        if len < HEADER || len > rest.len() {
            return 0;
        }
        if level == libc::SOL_UDP && kind == UDP_GRO && len >= HEADER + 4 {
            let size = c_int::from_ne_bytes(rest[HEADER..HEADER + 4].try_into().unwrap_or([0; 4]));
            return usize::try_from(size).unwrap_or(0);
        }
        let step = len.div_ceil(WORD) * WORD;
        rest = rest.get(step..).unwrap_or(&[]);
    }
    0
}

/// The socket address a kernel wrote into `s`, if it is IPv4 or IPv6.
fn socket_addr(s: &sockaddr_storage, len: socklen_t) -> Option<SocketAddr> {
    let len = len as usize;
    match c_int::from(s.ss_family) {
        libc::AF_INET if len >= mem::size_of::<sockaddr_in>() => {
            // SAFETY: the family says `s` holds a sockaddr_in, which is
            // smaller than and aligned within sockaddr_storage.
            let a = unsafe { &*ptr::from_ref(s).cast::<sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddrV4::new(ip, u16::from_be(a.sin_port)).into())
        }
        libc::AF_INET6 if len >= mem::size_of::<sockaddr_in6>() => {
            // SAFETY: as above, for a sockaddr_in6.
            let a = unsafe { &*ptr::from_ref(s).cast::<sockaddr_in6>() };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddrV6::new(ip, u16::from_be(a.sin6_port), a.sin6_flowinfo, a.sin6_scope_id).into())
        }
        _ => None,
    }
}

/// Writes `a` into `s` as the kernel reads it; returns its length.
fn put_socket_addr(a: &SocketAddr, s: &mut sockaddr_storage) -> socklen_t {
    match a {
        SocketAddr::V4(v4) => {
            // SAFETY: all-zero bytes are a valid sockaddr_in.
            let mut sin: sockaddr_in = unsafe { mem::zeroed() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = v4.port().to_be();
            sin.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
            // SAFETY: sockaddr_storage is larger than and aligned for a
            // sockaddr_in.
            unsafe { ptr::write(ptr::from_mut(s).cast::<sockaddr_in>(), sin) };
            mem::size_of::<sockaddr_in>() as socklen_t
        }
        SocketAddr::V6(v6) => {
            // SAFETY: all-zero bytes are a valid sockaddr_in6.
            let mut sin6: sockaddr_in6 = unsafe { mem::zeroed() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = v6.port().to_be();
            sin6.sin6_addr.s6_addr = v6.ip().octets();
            sin6.sin6_flowinfo = v6.flowinfo();
            sin6.sin6_scope_id = v6.scope_id();
            // SAFETY: as above, for a sockaddr_in6.
            unsafe { ptr::write(ptr::from_mut(s).cast::<sockaddr_in6>(), sin6) };
            mem::size_of::<sockaddr_in6>() as socklen_t
        }
    }
}

#[cfg(test)]
mod tests;
