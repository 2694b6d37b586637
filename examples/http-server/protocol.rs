//! HTTP/1.1 as this example speaks it: pure functions over bytes, a
//! request parser (with `httparse`) and a response writer.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use revio::{Bytes, Output};

/// The longest request head accepted (request line and headers).
pub const MAX_HEAD: usize = 8 * 1024;
/// The largest request body accepted.
pub const MAX_BODY: usize = 1024 * 1024;
/// The most headers one request may have.
const MAX_HEADERS: usize = 64;

/// What a complete request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Hello,
    NotFound,
}

/// The result of parsing the start of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// A whole request of `len` bytes (head and body). `head`: a HEAD
    /// request (the response has no body). `close`: `Connection: close`, or
    /// HTTP/1.0 without keep-alive.
    Complete {
        len: usize,
        route: Route,
        head: bool,
        close: bool,
    },
    /// Not all there yet; `head_complete` when only the body is missing,
    /// `expect_continue` when the head asks for `100 Continue`.
    Partial {
        expect_continue: bool,
        head_complete: bool,
    },
    /// Answer with this status and close.
    Error(&'static str),
}

/// Parses one request at the start of `input`: a pure function over bytes.
pub fn parse(input: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(input) {
        Ok(httparse::Status::Complete(n)) if n > MAX_HEAD => {
            return Parsed::Error("431 Request Header Fields Too Large");
        }
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if input.len() > MAX_HEAD => {
            return Parsed::Error("431 Request Header Fields Too Large");
        }
        Ok(httparse::Status::Partial) => {
            return Parsed::Partial {
                expect_continue: false,
                head_complete: false,
            };
        }
        Err(httparse::Error::TooManyHeaders) => return Parsed::Error("431 Request Header Fields Too Large"),
        Err(_) => return Parsed::Error("400 Bad Request"),
    };
    let http10 = req.version == Some(0);
    let mut close = http10;
    let mut body: Option<usize> = None;
    let mut expect_continue = false;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = match std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
            {
                Some(n) => n,
                None => return Parsed::Error("400 Bad Request"),
            };
            if body.is_some_and(|b| b != n) {
                return Parsed::Error("400 Bad Request");
            }
            body = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Parsed::Error("501 Not Implemented");
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && http10 {
                    close = false;
                }
            }
        } else if h.name.eq_ignore_ascii_case("expect")
            && h.value.trim_ascii().eq_ignore_ascii_case(b"100-continue")
        {
            expect_continue = true;
        }
    }
    let body = body.unwrap_or(0);
    if body > MAX_BODY {
        return Parsed::Error("413 Content Too Large");
    }
    let len = head_len + body;
    if input.len() < len {
        return Parsed::Partial {
            expect_continue,
            head_complete: true,
        };
    }
    let path = req.path.unwrap_or("/");
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let route = if path == "/" {
        Route::Hello
    } else {
        Route::NotFound
    };
    Parsed::Complete {
        len,
        route,
        head: req.method == Some("HEAD"),
        close,
    }
}

/// A response body.
#[derive(Debug, Clone, Copy)]
pub enum Body<'a> {
    Full(&'a [u8]),
    /// A body built once and shared by every response: queued as a
    /// reference (`Output::write_shared`), sent without a copy from
    /// `Output::COPY_BELOW` (4 KiB) up; a shorter one is copied.
    Shared(&'a Bytes),
    /// The answer to HEAD: the length of this body, without the body.
    HeadOf(&'a [u8]),
}

/// Appends one response to `out` (no allocation beyond `out` growing).
pub fn respond(out: &mut Output<'_>, date: &[u8], status: &str, body: Body<'_>, close: bool) {
    let len = match body {
        Body::Full(b) | Body::HeadOf(b) => b.len(),
        Body::Shared(b) => b.len(),
    };
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_bytes());
    out.extend_from_slice(b"\r\nServer: revio\r\nDate: ");
    out.extend_from_slice(date);
    out.extend_from_slice(b"\r\nContent-Type: text/plain\r\nContent-Length: ");
    out.extend_from_slice(decimal(len, &mut [0; 20]));
    if close {
        out.extend_from_slice(b"\r\nConnection: close");
    }
    out.extend_from_slice(b"\r\n\r\n");
    match body {
        Body::Full(b) => out.extend_from_slice(b),
        Body::Shared(b) => out.write_shared(b.clone()),
        Body::HeadOf(_) => {}
    }
}

/// `n` in decimal, without `core::fmt` (which cost as much as the rest of
/// the response under pipelining: bench/results/PERF.md), in `buf`.
pub fn decimal(mut n: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110's IMF-fixdate).
pub fn http_date(t: SystemTime) -> [u8; 29] {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Days to a civil date (Howard Hinnant's algorithm), from 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut d = [0u8; 29];
    let mut w = &mut d[..];
    let _ = write!(
        w,
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[(days % 7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        hh,
        mm,
        ss
    );
    d
}
