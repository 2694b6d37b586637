//! The HTTP/1.1 side of the tokio baseline: `Hello World!` for every request,
//! keep-alive and pipelining, parsed with httparse.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::protocol::{Out, Protocol};

/// Answers every complete request with `200 OK` and `Hello World!`.
#[derive(Default)]
pub struct Hello {
    date: DateCache,
}

impl Protocol for Hello {
    fn process<O: Out>(&mut self, input: &[u8], out: &mut O) -> Option<usize> {
        let mut used = 0;
        while used < input.len() {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&input[used..]) {
                Ok(httparse::Status::Complete(n)) => {
                    // A body (Content-Length) is skipped, not read: GETs only here.
                    let body = req
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                        .and_then(|h| std::str::from_utf8(h.value).ok())
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if input.len() - used - n < body {
                        break;
                    }
                    used += n + body;
                    out.extend_from_slice(b"HTTP/1.1 200 OK\r\nServer: tokio-baseline\r\nDate: ");
                    out.extend_from_slice(self.date.now());
                    out.extend_from_slice(
                        b"\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nHello World!",
                    );
                }
                Ok(httparse::Status::Partial) => break,
                Err(_) => {
                    out.extend_from_slice(
                        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    return None;
                }
            }
        }
        Some(used)
    }
}

/// The `Date` header's value, formatted at most once a second.
#[derive(Default)]
pub struct DateCache {
    secs: u64,
    text: [u8; 29],
}

impl DateCache {
    /// The current time as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
    pub fn now(&mut self) -> &[u8] {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if secs != self.secs || self.text[0] == 0 {
            self.secs = secs;
            self.text = imf_fixdate(secs);
        }
        &self.text
    }
}

/// Formats seconds since the Unix epoch as an IMF-fixdate.
pub fn imf_fixdate(secs: u64) -> [u8; 29] {
    const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days as i64);
    let mut t = [b' '; 29];
    t[..3].copy_from_slice(DAYS[(days % 7) as usize]);
    t[3] = b',';
    put2(&mut t[5..7], day);
    t[8..11].copy_from_slice(MONTHS[(month - 1) as usize]);
    put2(&mut t[12..14], (year / 100) as u32);
    put2(&mut t[14..16], (year % 100) as u32);
    put2(&mut t[17..19], (rem / 3600) as u32);
    t[19] = b':';
    put2(&mut t[20..22], (rem / 60 % 60) as u32);
    t[22] = b':';
    put2(&mut t[23..25], (rem % 60) as u32);
    t[26..29].copy_from_slice(b"GMT");
    t
}

fn put2(dst: &mut [u8], v: u32) {
    dst[0] = b'0' + (v / 10 % 10) as u8;
    dst[1] = b'0' + (v % 10) as u8;
}

/// Year, month (1-12) and day (1-31) of a day count since 1970-01-01, in the
/// proleptic Gregorian calendar (eras of 400 years, March-based years).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_imf_fixdate() {
        assert_eq!(&imf_fixdate(784_111_777), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(&imf_fixdate(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(&imf_fixdate(1_709_164_800), b"Thu, 29 Feb 2024 00:00:00 GMT");
    }

    #[test]
    fn answers_pipelined_requests_and_keeps_a_partial_one() {
        let mut h = Hello::default();
        let mut out = Vec::new();
        let two = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HT";
        let used = h.process(two, &mut out);
        assert_eq!(used, Some(two.len() - 8));
        assert_eq!(out.windows(12).filter(|w| w == b"Hello World!").count(), 2);
    }
}
