//! Which backend runs: `Backend::Auto` takes epoll (measured the better
//! default); `Backend::Uring` takes io_uring where the kernel gives it, and
//! falls back to epoll where io_uring is refused (forced here by a test hook,
//! as a container's seccomp profile would).
#![cfg(target_os = "linux")]

mod common;

use common::*;
use revio::Backend;
#[cfg(feature = "test-hooks")]
use revio::Config;

#[cfg(feature = "test-hooks")] // Config::__refuse_uring
#[test]
fn uring_falls_back_to_epoll_when_io_uring_is_refused() {
    let srv = start_with(
        Backend::Uring,
        Config::new().__refuse_uring(),
        Echo,
        &["tcp://127.0.0.1:0"],
    );
    assert_eq!(srv.server.backend(), Backend::Poll);
    let mut c = srv.connect(0);
    assert_eq!(roundtrip(&mut c, b"still served"), b"still served");
    srv.stop().unwrap();
}

#[test]
fn uring_takes_io_uring_where_it_works() {
    let want = if Backend::Uring.is_available() {
        Backend::Uring
    } else {
        Backend::Poll
    };
    let srv = start(Backend::Uring, Echo, &["tcp://127.0.0.1:0"]);
    assert_eq!(srv.server.backend(), want);
    let mut c = srv.connect(0);
    assert_eq!(roundtrip(&mut c, b"hello"), b"hello");
    srv.stop().unwrap();
}

#[test]
fn auto_takes_epoll() {
    let srv = start(Backend::Auto, Echo, &["tcp://127.0.0.1:0"]);
    assert_eq!(srv.server.backend(), Backend::Poll);
    srv.stop().unwrap();
}

#[test]
fn every_backend_says_what_it_is() {
    for &b in BACKENDS {
        if !available(b) {
            continue;
        }
        let srv = start(b, Echo, &["tcp://127.0.0.1:0"]);
        assert_eq!(srv.server.backend(), b);
        srv.stop().unwrap();
    }
}

#[test]
fn backend_names_parse() {
    assert_eq!("uring".parse::<Backend>().unwrap(), Backend::Uring);
    assert_eq!("io_uring".parse::<Backend>().unwrap(), Backend::Uring);
    assert_eq!("poll".parse::<Backend>().unwrap(), Backend::Poll);
    let e = "kqueue2".parse::<Backend>().unwrap_err();
    assert!(e.to_string().contains("uring"), "{e}");
}
