//! recvmmsg, sendmmsg, GSO and GRO over loopback.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use super::{BATCH, Datagram, RecvMeta, gso_supported, recv_mmsg, send_mmsg, set_gro};

fn pair(ip: &str) -> (UdpSocket, UdpSocket) {
    let a = UdpSocket::bind(format!("{ip}:0")).unwrap();
    let b = UdpSocket::bind(format!("{ip}:0")).unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

/// Receives on `sock` until `want` datagrams have come (bounded).
fn recv_all(sock: &UdpSocket, slot: usize, want: usize) -> Vec<(Vec<u8>, RecvMeta)> {
    let mut storage = vec![0u8; BATCH * slot];
    let mut meta = [RecvMeta::default(); BATCH];
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while got.len() < want {
        assert!(
            Instant::now() < deadline,
            "{} of {want} datagrams came",
            got.len()
        );
        match recv_mmsg(sock.as_fd(), &mut storage, slot, &mut meta) {
            Ok(n) => {
                for (i, m) in meta[..n].iter().enumerate() {
                    got.push((storage[i * slot..i * slot + m.len].to_vec(), *m));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(e) => panic!("recv_mmsg: {e}"),
        }
    }
    got
}

#[test]
fn a_batch_goes_and_comes_in_order_with_its_senders() {
    for ip in ["127.0.0.1", "[::1]"] {
        let (a, b) = pair(ip);
        let to = b.local_addr().unwrap();
        let payloads: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 1 + i as usize * 7]).collect();
        let msgs: Vec<Datagram<'_>> = payloads
            .iter()
            .map(|p| Datagram {
                data: p,
                to,
                segment: 0,
            })
            .collect();
        let mut sent = 0;
        while sent < msgs.len() {
            sent += send_mmsg(a.as_fd(), &msgs[sent..]).unwrap();
        }
        let got = recv_all(&b, 2048, payloads.len());
        for ((data, meta), want) in got.iter().zip(&payloads) {
            assert_eq!(data, want);
            assert_eq!(meta.from, Some(a.local_addr().unwrap()));
            assert!(!meta.truncated);
            assert_eq!(meta.segment, 0);
        }
    }
}

#[test]
fn a_datagram_over_its_slot_is_marked_truncated() {
    let (a, b) = pair("127.0.0.1");
    a.send_to(&[7u8; 3000], b.local_addr().unwrap()).unwrap();
    let got = recv_all(&b, 1024, 1);
    assert_eq!(got[0].0.len(), 1024);
    assert!(got[0].1.truncated);
}

#[test]
fn nothing_waiting_is_would_block_and_empty_input_is_nothing() {
    let (a, b) = pair("127.0.0.1");
    let mut storage = vec![0u8; 4096];
    let mut meta = [RecvMeta::default(); 2];
    let e = recv_mmsg(b.as_fd(), &mut storage, 2048, &mut meta).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
    assert_eq!(send_mmsg(a.as_fd(), &[]).unwrap(), 0);
    assert_eq!(
        recv_mmsg(b.as_fd(), &mut storage[..10], 2048, &mut meta).unwrap(),
        0
    );
    assert!(recv_mmsg(b.as_fd(), &mut storage, 0, &mut meta).is_err());
}

#[test]
fn a_segmented_send_arrives_as_separate_datagrams_and_gro_coalesces_them() {
    let (a, b) = pair("127.0.0.1");
    if !gso_supported(a.as_fd()) {
        eprintln!("UDP_SEGMENT is not supported here: skipped");
        return;
    }
    let to: SocketAddr = b.local_addr().unwrap();
    let mut run = Vec::new();
    for i in 0..10u8 {
        run.extend(std::iter::repeat_n(i, if i == 9 { 500 } else { 1200 }));
    }
    let sent = send_mmsg(
        a.as_fd(),
        &[Datagram {
            data: &run,
            to,
            segment: 1200,
        }],
    )
    .unwrap();
    assert_eq!(sent, 1);
    let got = recv_all(&b, 2048, 10);
    for (i, (data, meta)) in got.iter().enumerate() {
        assert_eq!(data.len(), if i == 9 { 500 } else { 1200 });
        assert!(data.iter().all(|&x| x == i as u8), "datagram {i}");
        assert_eq!(meta.segment, 0);
    }
    // With GRO on, the kernel may hand the same run back as one buffer of
    // 1200-byte segments (loopback coalesces GSO sends).
    set_gro(b.as_fd(), true).unwrap();
    send_mmsg(
        a.as_fd(),
        &[Datagram {
            data: &run,
            to,
            segment: 1200,
        }],
    )
    .unwrap();
    let mut bytes = 0;
    let mut pieces = Vec::new();
    while bytes < run.len() {
        let got = recv_all(&b, 65536, 1);
        bytes += got[0].0.len();
        pieces.push(got[0].clone());
    }
    let joined: Vec<u8> = pieces.iter().flat_map(|(d, _)| d.clone()).collect();
    assert_eq!(joined, run);
    for (d, m) in &pieces {
        assert!(m.segment == 0 || (m.segment == 1200 && d.len() > 1200), "{m:?}");
    }
}
