//! Version 2 TLVs (type, 16-bit length, value): their registered types, the
//! nested SSL TLV, validation at parse time, and the CRC32C checksum.

use super::Error;

/// The TLV types registered by the specification (`PP2_TYPE_*`,
/// `PP2_SUBTYPE_SSL_*`).
pub mod kind {
    /// Application-Layer Protocol Negotiation: the ALPN protocol, e.g. `h2`.
    pub const ALPN: u8 = 0x01;
    /// The host name the client asked for (TLS SNI), UTF-8.
    pub const AUTHORITY: u8 = 0x02;
    /// CRC32C of the whole header, big-endian, computed with this field zero.
    pub const CRC32C: u8 = 0x03;
    /// Padding, to be ignored.
    pub const NOOP: u8 = 0x04;
    /// An opaque id of the connection, at most 128 bytes.
    pub const UNIQUE_ID: u8 = 0x05;
    /// TLS details: client flags (1 byte), verify result (4), sub-TLVs.
    pub const SSL: u8 = 0x20;
    /// SSL sub-TLV: the TLS version, e.g. `TLSv1.3`.
    pub const SSL_VERSION: u8 = 0x21;
    /// SSL sub-TLV: the Common Name of the client certificate.
    pub const SSL_CN: u8 = 0x22;
    /// SSL sub-TLV: the cipher, e.g. `ECDHE-RSA-AES128-GCM-SHA256`.
    pub const SSL_CIPHER: u8 = 0x23;
    /// SSL sub-TLV: the signature algorithm of the balancer's certificate.
    pub const SSL_SIG_ALG: u8 = 0x24;
    /// SSL sub-TLV: the key algorithm of the balancer's certificate.
    pub const SSL_KEY_ALG: u8 = 0x25;
    /// The network namespace's name.
    pub const NETNS: u8 = 0x30;
}

/// One TLV: a type and its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tlv<'a> {
    /// The type, one of [`kind`] or an application's own (0xE0 to 0xEF).
    pub kind: u8,
    /// The value.
    pub value: &'a [u8],
}

/// Iterates over TLVs already checked to fill their bytes exactly, from
/// [`Header::tlvs`](super::Header::tlvs) or [`Ssl::tlvs`].
#[derive(Clone, Debug)]
pub struct Tlvs<'a> {
    rest: &'a [u8],
}

impl<'a> Tlvs<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Tlvs { rest: bytes }
    }
}

impl<'a> Iterator for Tlvs<'a> {
    type Item = Tlv<'a>;

    fn next(&mut self) -> Option<Tlv<'a>> {
        let [kind, hi, lo, rest @ ..] = self.rest else {
            self.rest = &[];
            return None;
        };
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        let Some((value, rest)) = rest.split_at_checked(len) else {
            self.rest = &[];
            return None;
        };
        self.rest = rest;
        Some(Tlv { kind: *kind, value })
    }
}

/// The `PP2_TYPE_SSL` TLV: how the client connected to the balancer.
///
/// ```
/// use revio::proxy_protocol::{Addresses, Encoder, Parser, Status, Tlv, Transport, kind};
///
/// // client flags: SSL and a certificate; verify 0: verified; then TLSv1.3.
/// let mut ssl = vec![0x03, 0, 0, 0, 0, kind::SSL_VERSION, 0, 7];
/// ssl.extend_from_slice(b"TLSv1.3");
/// let tlvs = [Tlv { kind: kind::SSL, value: &ssl }];
/// let mut out = Vec::new();
/// Encoder::proxy(Transport::Stream, Addresses::Unspecified).tlvs(&tlvs).write_v2(&mut out).unwrap();
/// let Ok(Status::Complete { header, .. }) = Parser::default().parse(&out) else { panic!() };
/// let ssl = header.ssl().unwrap();
/// assert!(ssl.client_ssl() && ssl.client_cert_conn() && ssl.verify() == 0);
/// assert_eq!(ssl.version(), Some("TLSv1.3"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ssl<'a> {
    client: u8,
    verify: u32,
    sub: &'a [u8],
}

impl<'a> Ssl<'a> {
    /// `PP2_CLIENT_SSL`: the client connected over SSL/TLS.
    pub const CLIENT_SSL: u8 = 0x01;
    /// `PP2_CLIENT_CERT_CONN`: the client sent a certificate on this connection.
    pub const CLIENT_CERT_CONN: u8 = 0x02;
    /// `PP2_CLIENT_CERT_SESS`: the client sent a certificate at least once in
    /// this TLS session.
    pub const CLIENT_CERT_SESS: u8 = 0x04;

    /// Reads an SSL TLV's value; `None` if shorter than its 5 fixed bytes.
    pub(super) fn new(value: &'a [u8]) -> Option<Ssl<'a>> {
        let [client, v0, v1, v2, v3, sub @ ..] = value else {
            return None;
        };
        Some(Ssl {
            client: *client,
            verify: u32::from_be_bytes([*v0, *v1, *v2, *v3]),
            sub,
        })
    }

    /// The `client` bit field: [`CLIENT_SSL`](Ssl::CLIENT_SSL),
    /// [`CLIENT_CERT_CONN`](Ssl::CLIENT_CERT_CONN),
    /// [`CLIENT_CERT_SESS`](Ssl::CLIENT_CERT_SESS).
    pub fn client(&self) -> u8 {
        self.client
    }

    /// Whether the client connected over SSL/TLS.
    pub fn client_ssl(&self) -> bool {
        self.client & Self::CLIENT_SSL != 0
    }

    /// Whether the client presented a certificate on this connection.
    pub fn client_cert_conn(&self) -> bool {
        self.client & Self::CLIENT_CERT_CONN != 0
    }

    /// Whether the client presented a certificate in this TLS session.
    pub fn client_cert_sess(&self) -> bool {
        self.client & Self::CLIENT_CERT_SESS != 0
    }

    /// The `verify` field: 0 when the client's certificate was presented and
    /// verified, non-zero otherwise.
    pub fn verify(&self) -> u32 {
        self.verify
    }

    /// The sub-TLVs.
    pub fn tlvs(&self) -> Tlvs<'a> {
        Tlvs::new(self.sub)
    }

    fn text(&self, kind: u8) -> Option<&'a str> {
        let t = self.tlvs().find(|t| t.kind == kind)?;
        std::str::from_utf8(t.value).ok()
    }

    /// The TLS version, e.g. `TLSv1.3` (`PP2_SUBTYPE_SSL_VERSION`).
    pub fn version(&self) -> Option<&'a str> {
        self.text(kind::SSL_VERSION)
    }

    /// The client certificate's Common Name (`PP2_SUBTYPE_SSL_CN`).
    pub fn cn(&self) -> Option<&'a str> {
        self.text(kind::SSL_CN)
    }

    /// The cipher (`PP2_SUBTYPE_SSL_CIPHER`).
    pub fn cipher(&self) -> Option<&'a str> {
        self.text(kind::SSL_CIPHER)
    }

    /// The balancer certificate's signature algorithm (`PP2_SUBTYPE_SSL_SIG_ALG`).
    pub fn sig_alg(&self) -> Option<&'a str> {
        self.text(kind::SSL_SIG_ALG)
    }

    /// The balancer certificate's key algorithm (`PP2_SUBTYPE_SSL_KEY_ALG`).
    pub fn key_alg(&self) -> Option<&'a str> {
        self.text(kind::SSL_KEY_ALG)
    }
}

/// Checks the lengths of the TLVs in `avail`, the first bytes of a TLV area of
/// `area_len` bytes starting `base` bytes into the header: each must end
/// within the area. Stops quietly where `avail` ends, so it can reject a
/// header before the rest of it arrives.
pub(super) fn check_lengths(avail: &[u8], area_len: usize, base: usize) -> Result<(), Error> {
    let mut at = 0;
    while at < area_len {
        let overrun = Error::V2TlvOverrun { offset: base + at };
        if area_len - at < 3 {
            return Err(overrun);
        }
        let Some(&[_, hi, lo]) = avail.get(at..at + 3) else {
            return Ok(());
        };
        let end = at + 3 + usize::from(u16::from_be_bytes([hi, lo]));
        if end > area_len {
            return Err(overrun);
        }
        at = end;
    }
    Ok(())
}

/// Validates a complete TLV area starting `base` bytes into the header: the
/// lengths, and the values of the types that have a shape. Returns where the
/// CRC32C value sits in the header and that value, if there is one.
pub(super) fn validate(area: &[u8], base: usize) -> Result<Option<(usize, u32)>, Error> {
    check_lengths(area, area.len(), base)?;
    let mut crc = None;
    let mut at = base;
    for tlv in Tlvs::new(area) {
        let value_at = at + 3;
        at = value_at + tlv.value.len();
        let bad = Error::V2TlvValue { kind: tlv.kind };
        let ok = match tlv.kind {
            kind::CRC32C => match <[u8; 4]>::try_from(tlv.value) {
                Ok(v) => crc.replace((value_at, u32::from_be_bytes(v))).is_none(),
                Err(_) => false,
            },
            kind::UNIQUE_ID => tlv.value.len() <= 128,
            kind::AUTHORITY | kind::NETNS => std::str::from_utf8(tlv.value).is_ok(),
            kind::SSL => {
                let ssl = Ssl::new(tlv.value).ok_or(bad)?;
                check_lengths(ssl.sub, ssl.sub.len(), value_at + 5)?;
                ssl.tlvs().all(|sub| match sub.kind {
                    kind::SSL_VERSION..=kind::SSL_KEY_ALG => std::str::from_utf8(sub.value).is_ok(),
                    _ => true,
                })
            }
            _ => true,
        };
        if !ok {
            return Err(bad);
        }
    }
    Ok(crc)
}

/// The CRC32C (Castagnoli) table, reflected polynomial 0x82F63B78.
const CRC32C_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// CRC32C of `header` (RFC 4960, appendix B) as if the 4 bytes at `zeroed`
/// were 0, which is how the checksum TLV is computed and verified.
pub(super) fn crc32c(header: &[u8], zeroed: usize) -> u32 {
    let update = |crc: u32, b: u8| CRC32C_TABLE[usize::from(crc as u8 ^ b)] ^ (crc >> 8);
    let zeros = zeroed..zeroed.saturating_add(4);
    let crc = header.iter().enumerate().fold(!0, |crc, (i, &b)| {
        update(crc, if zeros.contains(&i) { 0 } else { b })
    });
    !crc
}
