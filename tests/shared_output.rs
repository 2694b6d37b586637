//! Output from shared buffers (`Output::write_shared`, the `bytes` feature):
//! kept in order with copied output, sent in part and finished after
//! `writable`, released once sent, and counted by the limits like copied
//! bytes. Over real sockets, on every backend.
#![cfg(feature = "bytes")]

mod common;

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use common::*;
use revio::{Action, Backend, Bytes, Config, Conn, Handler};
use socket2::SockRef;

/// A pattern that shows a byte out of place.
fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8 ^ seed).collect()
}

// ----- interleaved with copied output, in order ----------------------------

/// Each `go` line is answered with copied bytes, a large shared buffer,
/// copied bytes, a small shared buffer (copied under `COPY_BELOW`), a second
/// large one sharing the first's memory, and copied bytes again.
struct Interleave {
    big: Bytes,
}

impl Interleave {
    fn reply(big: &Bytes, i: usize) -> Vec<u8> {
        let mut r = format!("<{i}>").into_bytes();
        r.extend_from_slice(big);
        r.extend_from_slice(b"<mid>");
        r.extend_from_slice(&big[..100]);
        r.extend_from_slice(&big[1000..9192]);
        r.extend_from_slice(b"<end>\n");
        r
    }
}

impl Handler for Interleave {
    type State = usize;
    fn data(&mut self, conn: &mut Conn<'_, usize>, input: &[u8]) -> Action {
        for _ in input.iter().filter(|&&b| b == b'\n') {
            let i = *conn.state();
            *conn.state() += 1;
            conn.write(format!("<{i}>").as_bytes());
            conn.write_shared(self.big.clone());
            conn.write(b"<mid>");
            conn.write_shared(self.big.slice(..100));
            conn.output().write_shared(self.big.slice(1000..9192));
            conn.write(b"<end>\n");
        }
        Action::None
    }
}

/// Checked to fail without the feature: with the pieces sent after the
/// copied bytes (or `write_shared` dropping them), the bytes differ.
fn shared_output_interleaved_with_copied_output_arrives_in_order(b: Backend) {
    let big = Bytes::from(pattern(256 << 10, 0x5a));
    let srv = start(b, Interleave { big: big.clone() }, &["tcp://127.0.0.1:0"]);
    let mut c = srv.connect(0);
    let want: Vec<u8> = (0..5).flat_map(|i| Interleave::reply(&big, i)).collect();
    // Pipelined: five replies queued in one call.
    c.write_all(b"go\ngo\ngo\n").unwrap();
    c.write_all(b"go\ngo\n").unwrap();
    let got = read_n(&mut c, want.len());
    assert!(got == want, "the output came out of order");
    srv.stop().unwrap();
}

// ----- sent in part, then the rest after `writable` ------------------------

/// Answers `get` with one shared buffer, handed over (the handler keeps no
/// reference), and logs the sends that left output queued.
struct Large {
    value: Arc<Mutex<Option<Bytes>>>,
    log: Log,
}

impl Handler for Large {
    type State = ();
    fn data(&mut self, conn: &mut Conn<'_, ()>, _input: &[u8]) -> Action {
        if let Some(v) = self.value.lock().unwrap().take() {
            conn.write(b"VALUE\n");
            conn.write_shared(v);
            conn.write(b"\nEND\n");
            self.log.push(format!("queued {}", conn.queued()));
        }
        Action::None
    }
    fn postwrite(&mut self, _conn: &mut Conn<'_, ()>, _amount: usize, remaining: usize) -> Action {
        if remaining > 0 {
            self.log.push("partial");
        }
        Action::None
    }
}

/// Checked to fail without the feature: a shared buffer copied and dropped
/// at once is unique before the peer reads; one never released is never
/// unique again (the last wait times out).
fn a_large_shared_buffer_is_sent_in_part_then_whole_and_released(b: Backend) {
    const LEN: usize = 8 << 20;
    let value = Bytes::from(pattern(LEN, 0x33));
    let log = Log::default();
    let h = Large {
        value: Arc::new(Mutex::new(Some(value.clone()))),
        log: log.clone(),
    };
    let srv = start(b, h, &["tcp://127.0.0.1:0"]);
    let mut c = srv.connect(0);
    // A small window that does not grow: the socket takes a part only.
    SockRef::from(&c).set_recv_buffer_size(64 << 10).unwrap();
    c.write_all(b"get\n").unwrap();
    log.wait_count("partial", 1);
    assert_eq!(log.starting("queued"), [format!("queued {}", LEN + 11)]);
    assert!(!value.is_unique(), "the loop holds the buffer while it sends");
    let got = read_n(&mut c, LEN + 11);
    assert_eq!(&got[..6], b"VALUE\n");
    assert!(got[6..6 + LEN] == value[..], "the value arrived altered");
    assert_eq!(&got[6 + LEN..], b"\nEND\n");
    wait_until("the loop to release the buffer", || value.is_unique());
    srv.stop().unwrap();
}

// ----- the limits count it -------------------------------------------------

/// Writes `hello`, then a shared buffer of `len` bytes, and logs how it
/// counted and how the connection ended.
struct Counted {
    len: usize,
    value: Arc<Mutex<Option<Bytes>>>,
    log: Log,
}

impl Handler for Counted {
    type State = ();
    fn data(&mut self, conn: &mut Conn<'_, ()>, _input: &[u8]) -> Action {
        let Some(value) = self.value.lock().unwrap().take() else {
            return Action::None;
        };
        conn.write(b"hello");
        let loop_before = conn.loop_queued();
        conn.write_shared(value.slice(..self.len));
        let out = conn.output();
        self.log.push(format!(
            "queued {} over {} congested {} loop +{}",
            out.queued(),
            out.is_over_limit(),
            conn.is_congested(),
            conn.loop_queued() - loop_before,
        ));
        Action::None
    }
    fn closed(&mut self, _conn: &mut Conn<'_, ()>, error: Option<io::Error>) {
        self.log.push(format!("closed {}", describe(&error)));
    }
}

fn counted(b: Backend, len: usize) -> (Running, Log, Bytes) {
    let value = Bytes::from(pattern(4 << 20, 0x11));
    let log = Log::default();
    let h = Counted {
        len,
        value: Arc::new(Mutex::new(Some(value.clone()))),
        log: log.clone(),
    };
    let cfg = Config::new().max_output(1 << 20).high_water(64 << 10);
    (start_with(b, cfg, h, &["tcp://127.0.0.1:0"]), log, value)
}

/// Checked to fail without the feature: shared bytes left out of `queued`
/// show `queued 5`, and the connection is not congested.
fn shared_bytes_count_in_queued_and_the_high_water_mark(b: Backend) {
    let (srv, log, value) = counted(b, 512 << 10);
    let mut c = srv.connect(0);
    c.write_all(b"x").unwrap();
    log.wait_count("queued", 1);
    let bytes = 5 + (512 << 10);
    assert_eq!(
        log.starting("queued"),
        [format!(
            "queued {bytes} over false congested true loop +{}",
            512 << 10
        )]
    );
    let got = read_n(&mut c, bytes);
    assert!(got[5..] == value[..512 << 10]);
    drop(c);
    log.wait_count("closed", 1);
    srv.stop().unwrap();
}

/// Checked to fail without the feature: a shared buffer that skipped the
/// limit is sent (the peer reads more than `hello`, and no reset).
fn a_shared_buffer_past_max_output_is_dropped_and_the_connection_closed(b: Backend) {
    let (srv, log, value) = counted(b, 2 << 20);
    let mut c = srv.connect(0);
    c.write_all(b"x").unwrap();
    log.wait_count("closed", 1);
    let l = log.snapshot();
    assert_eq!(l[0], "queued 5 over true congested false loop +0");
    assert!(l[1].contains("OutputLimit { limit: 1048576 }"), "{l:?}");
    let (got, end) = read_until_end(&mut c);
    assert!(got.is_empty(), "{} bytes sent past the limit", got.len());
    assert_reset(end, "a connection closed at its limit");
    wait_until("the dropped buffer to be released", || value.is_unique());
    srv.stop().unwrap();
}

per_backend!(
    shared_output_interleaved_with_copied_output_arrives_in_order,
    a_large_shared_buffer_is_sent_in_part_then_whole_and_released,
    shared_bytes_count_in_queued_and_the_high_water_mark,
    a_shared_buffer_past_max_output_is_dropped_and_the_connection_closed,
);
