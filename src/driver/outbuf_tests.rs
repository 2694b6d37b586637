//! `OutBuf` with shared pieces: order, partial sends, release, rollback.

use std::io::IoSlice;

use bytes::Bytes;

use super::*;

/// Output `"ab"`, a shared `"SHARED"`, `"cd"`, a shared `"XY"`.
fn mixed() -> (OutBuf, Bytes) {
    let shared = Bytes::from(b"SHARED".to_vec());
    let mut o = OutBuf::default();
    o.buf.extend_from_slice(b"ab");
    o.pieces.push(o.buf.len(), shared.clone());
    o.buf.extend_from_slice(b"cd");
    o.pieces.push(o.buf.len(), Bytes::from(b"XY".to_vec()));
    (o, shared)
}

/// Everything left, in order, as `slices` gives it.
fn flat(o: &OutBuf) -> Vec<u8> {
    let mut s = [IoSlice::new(&[]); 8];
    let n = o.slices(&mut s);
    s[..n].iter().flat_map(|s| s.iter().copied()).collect()
}

#[test]
fn runs_keep_the_order_of_the_writes() {
    let (o, _) = mixed();
    assert_eq!(o.len(), 12);
    assert_eq!(o.pieces.len(), 8);
    assert_eq!(flat(&o), b"abSHAREDcdXY");
    assert_eq!(o.front(), b"ab");
}

#[test]
fn consuming_across_runs_sends_each_byte_once_and_releases_pieces() {
    let (mut o, shared) = mixed();
    o.consume(1);
    assert_eq!(flat(&o), b"bSHAREDcdXY");
    o.consume(4); // "b" and "SHA"
    assert_eq!(o.front(), b"RED");
    o.consume(3);
    assert!(shared.is_unique(), "a piece sent whole is released");
    assert_eq!(o.front(), b"cd");
    o.consume(3);
    assert_eq!(flat(&o), b"Y");
    o.consume(1);
    assert!(o.is_empty());
    assert_eq!((o.buf.len(), o.head), (0, 0));
    assert!(o.pieces.0.is_none(), "no list is kept once it is empty");
}

#[test]
fn a_vectored_write_stops_at_the_slices_it_is_given() {
    let (o, _) = mixed();
    let mut s = [IoSlice::new(&[]); 2];
    assert_eq!(o.slices(&mut s), 2);
    assert_eq!((&*s[0], &*s[1]), (&b"ab"[..], &b"SHARED"[..]));
}

#[test]
fn compacting_moves_the_pieces_with_the_copied_bytes() {
    let mut o = OutBuf::default();
    o.buf.extend_from_slice(b"0123456789");
    o.pieces.push(o.buf.len(), Bytes::from_static(b"P"));
    o.buf.extend_from_slice(b"z");
    o.consume(8); // more than half: the copied bytes move down
    assert_eq!(o.head, 0);
    assert_eq!(flat(&o), b"89Pz");
}

#[test]
fn a_mark_drops_what_came_after_it() {
    let (mut o, shared) = mixed();
    o.truncate(Mark { buf: 2, pieces: 0 });
    assert_eq!(flat(&o), b"ab");
    assert_eq!(o.len(), 2);
    assert!(shared.is_unique());
    let (mut o, _) = mixed();
    let m = o.mark();
    o.buf.extend_from_slice(b"late");
    o.pieces.push(o.buf.len(), Bytes::from_static(b"LATE"));
    o.truncate(m);
    assert_eq!(flat(&o), b"abSHAREDcdXY");
}

#[test]
fn a_short_sends_rest_goes_back_in_front() {
    let (mut o, _) = mixed();
    let rest = b"__rest".to_vec();
    let old = o.put_back(rest, 2);
    assert!(old.is_empty() || old.capacity() > 0);
    assert_eq!(flat(&o), b"restabSHAREDcdXY");
    o.put_back_shared(Bytes::from_static(b"!"));
    assert_eq!(flat(&o), b"!restabSHAREDcdXY");
}

#[test]
fn runs_taken_one_by_one_are_the_output_in_order() {
    let (mut o, shared) = mixed();
    let mut got = Vec::new();
    let mut taken = Vec::new();
    loop {
        let runs = o.take_front_runs(2);
        if runs.is_empty() {
            break;
        }
        for run in runs {
            got.extend_from_slice(&run);
            taken.push(run);
        }
        if taken.len() == 2 {
            // Written while the first runs are in flight: after them.
            o.buf.extend_from_slice(b"+");
        }
    }
    got.extend_from_slice(o.front());
    assert_eq!(got, b"abSHAREDcdXY+");
    drop(taken);
    assert!(shared.is_unique());
}

#[test]
fn clearing_releases_every_piece() {
    let (mut o, shared) = mixed();
    o.clear();
    assert!(o.is_empty());
    assert!(shared.is_unique());
}
