//! Reading the http-server example's responses off a raw socket, for the
//! test files that drive it (`http`, `http_timeouts`).
#![allow(dead_code)] // each test file uses a part

use std::io::Read;

/// One parsed response: status, body, whether it said `Connection: close`.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    pub close: bool,
}

/// Reads until `n` whole responses have arrived, or the stream ends.
pub fn read_responses(r: &mut impl Read, n: usize) -> Vec<Response> {
    let (mut buf, mut out, mut off) = (Vec::new(), Vec::new(), 0);
    let mut chunk = [0u8; 4096];
    while out.len() < n {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut resp = httparse::Response::new(&mut headers);
        if let Ok(httparse::Status::Complete(head)) = resp.parse(&buf[off..]) {
            let value = |name: &str| {
                resp.headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case(name))
                    .map(|h| String::from_utf8_lossy(h.value).to_string())
            };
            let len: usize = value("content-length").map_or(0, |v| v.parse().unwrap());
            if buf.len() >= off + head + len {
                out.push(Response {
                    status: resp.code.unwrap(),
                    body: buf[off + head..off + head + len].to_vec(),
                    close: value("connection").is_some_and(|v| v.eq_ignore_ascii_case("close")),
                });
                off += head + len;
                continue;
            }
        }
        match r.read(&mut chunk) {
            Ok(0) => break,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
            Err(e) => panic!("reading responses ({} so far): {e}", out.len()),
        }
    }
    out
}

/// Whether the peer closes the stream (after anything still unread).
pub fn closes(r: &mut impl Read) -> bool {
    let mut rest = Vec::new();
    match r.read_to_end(&mut rest) {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}
