//! One connection's TLS session, either side: rustls's unbuffered server or
//! client connection (a [`Side`], in `side`), driven as a [`Translator`].
//! Everything here is the same for both sides: the two differ only in how
//! rustls is called (`Side::process`) and in early data, which only a
//! server reads.
//!
//! rustls says what it needs through a state per call of
//! `process_tls_records`: a record to encode (handshake messages, alerts,
//! tickets), application data to read, room to write application data, or
//! more input. Each call may also consume input from the front of the
//! buffer it was given (`discard`); what it has not consumed must come back,
//! unchanged, at the front of the next call's buffer: rustls may be joining
//! the fragments of a handshake message there.
//!
//! Copies: inbound, the translate layer copies the loop's bytes into its
//! buffer (the loop lends them read-only); rustls decrypts each record in
//! place there, then (in 0.23, whose `ReadTraffic` leaves in-place reads to
//! a later version) copies the plaintext into a vector of its own, which is
//! copied here to the front of the same buffer, over records already
//! consumed; the wrapped handler reads it there. Outbound, rustls encrypts
//! into a vector of its own and copies the record into the connection's
//! output, with no queue in between.

use std::fmt;
use std::io;
use std::mem;
use std::time::Duration;

use rustls::unbuffered::{
    AppDataRecord, ConnectionState, EncodeError, EncodeTlsData, EncryptError, ReadTraffic, UnbufferedStatus,
    WriteTraffic,
};

pub(super) use super::side::Side;
use crate::translate::Decoded;

/// The largest handshake message rustls takes (a longer one is refused when
/// its header is read), reported as the limit when it refuses one.
pub(super) const RUSTLS_MESSAGE_LIMIT: usize = 64 * 1024;

/// The most a record adds to its plaintext: a 5-byte header, an explicit
/// nonce (8, TLS 1.2), the content type (1, TLS 1.3) and the tag (16).
const RECORD_OVERHEAD: usize = 32;

/// The most plaintext one record carries.
const MAX_FRAGMENT: usize = 16 * 1024;

pub(super) fn tls_error(e: rustls::Error, handshaking: bool) -> io::Error {
    if let rustls::Error::InvalidCertificate(c) = &e {
        let check = certificate_check(c);
        return crate::Error::Certificate {
            check,
            detail: e.to_string(),
        }
        .into();
    }
    let what = if handshaking {
        "TLS handshake failed"
    } else {
        "TLS error"
    };
    io::Error::new(io::ErrorKind::InvalidData, format!("{what}: {e}"))
}

/// Which check a certificate rustls refused failed.
fn certificate_check(e: &rustls::CertificateError) -> crate::CertificateCheck {
    use crate::CertificateCheck as Check;
    use rustls::CertificateError as E;
    match e {
        E::NotValidForName | E::NotValidForNameContext { .. } => Check::Name,
        E::UnknownIssuer | E::BadSignature => Check::Trust,
        E::Expired | E::ExpiredContext { .. } => Check::Expired,
        E::NotValidYet | E::NotValidYetContext { .. } => Check::NotYetValid,
        E::Revoked => Check::Revoked,
        E::InvalidPurpose | E::InvalidPurposeContext { .. } => Check::Purpose,
        _ => Check::Other,
    }
}

pub(super) fn internal(what: &str) -> rustls::Error {
    rustls::Error::General(what.to_string())
}

type State<'c, 'i, D> = ConnectionState<'c, 'i, D>;

/// One connection's TLS session on side `C`: wire records in, plaintext out
/// and back. [`TlsTranslator`](super::TlsTranslator) holds one, of either
/// side, and implements [`Translator`](crate::Translator) with it.
pub(super) struct Session<C> {
    pub(super) conn: C,
    /// Plaintext written while rustls could not encrypt it yet: during the
    /// handshake, or while `joining`. Sent once it can be.
    pub(super) unsent: Vec<u8>,
    /// The input left unused holds more than one incomplete record: rustls
    /// is joining the fragments of a handshake message there, so it cannot
    /// be driven without that input, and writes wait for the next read.
    joining: bool,
    /// `close` was called (and a `close_notify` sent, if rustls could send
    /// one yet), or the session failed: nothing more is encrypted.
    closed: bool,
    /// rustls failed, or a limit was passed: it is not driven again.
    failed: bool,
    pub(super) limits: Limits,
    /// Input consumed before the handshake completed.
    handshake_bytes: usize,
}

impl<C: Side> fmt::Debug for Session<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("handshaking", &self.conn.common().is_handshaking())
            .field("closed", &self.closed)
            .field("unsent", &self.unsent.len())
            .finish_non_exhaustive()
    }
}

/// The limits a session runs under, from [`Tls`](super::Tls) or
/// [`TlsClient`](super::TlsClient).
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub(super) handshake_timeout: Option<Duration>,
    pub(super) record_timeout: Option<Duration>,
    pub(super) max_handshake_bytes: usize,
}

impl Default for Limits {
    /// 10 s for the handshake and for an incomplete record, 64 KiB of
    /// handshake.
    fn default() -> Limits {
        Limits {
            handshake_timeout: Some(Duration::from_secs(10)),
            record_timeout: Some(Duration::from_secs(10)),
            max_handshake_bytes: RUSTLS_MESSAGE_LIMIT,
        }
    }
}

impl<C: Side> Session<C> {
    pub(super) fn new(conn: C, limits: Limits) -> Session<C> {
        Session {
            conn,
            unsent: Vec::new(),
            joining: false,
            closed: false,
            failed: false,
            limits,
            handshake_bytes: 0,
        }
    }

    pub(super) fn is_handshaking(&self) -> bool {
        self.conn.common().is_handshaking()
    }

    /// Fails the session with `e`: it is not driven again.
    fn fail(&mut self, e: io::Error) -> io::Error {
        self.failed = true;
        self.closed = true;
        e
    }

    /// The error rustls reported, as `closed` gets it.
    fn rustls_failed(&mut self, e: rustls::Error, handshaking: bool) -> io::Error {
        let e = match e {
            rustls::Error::InvalidMessage(rustls::InvalidMessage::HandshakePayloadTooLarge) => {
                let limit = self.limits.max_handshake_bytes.min(RUSTLS_MESSAGE_LIMIT);
                crate::Error::HandshakeTooLarge { limit }.into()
            }
            e => tls_error(e, handshaking),
        };
        self.fail(e)
    }

    /// Drives rustls without input (everything lent so far is processed)
    /// to where it can send application data, encoding what it queued on the
    /// way, and calls `f` there. Returns `false` if rustls is in no state to
    /// send application data. Not while `joining`: rustls would look for its
    /// fragments in the empty input.
    fn at_write_traffic(
        &mut self,
        wire: &mut Vec<u8>,
        f: impl FnOnce(&mut WriteTraffic<'_, C::Data>, &mut Vec<u8>, &mut Vec<u8>) -> Result<(), rustls::Error>,
    ) -> io::Result<bool> {
        debug_assert!(!self.joining && !self.failed);
        let mut f = Some(f);
        loop {
            let UnbufferedStatus { state, .. } = self.conn.process(&mut []);
            let done = match state {
                Ok(ConnectionState::EncodeTlsData(e)) => encode(e, wire).map(|()| None),
                Ok(ConnectionState::TransmitTlsData(t)) => {
                    // Already in `wire`: the loop sends it.
                    t.done();
                    Ok(None)
                }
                Ok(ConnectionState::WriteTraffic(mut w)) => match f.take() {
                    Some(f) => f(&mut w, &mut self.unsent, wire).map(|()| Some(true)),
                    None => Ok(Some(true)),
                },
                Ok(_) => Ok(Some(false)),
                Err(e) => Err(e),
            };
            match done {
                Ok(None) => {}
                Ok(Some(sent)) => return Ok(sent),
                Err(e) => return Err(self.rustls_failed(e, false)),
            }
        }
    }
}

/// Lets `f` write at most `room` bytes at the end of `wire`, and keeps
/// what it wrote. (The room is zeroed first: rustls writes into a slice.)
fn append<E>(
    wire: &mut Vec<u8>,
    room: usize,
    f: impl FnOnce(&mut [u8]) -> Result<usize, E>,
) -> Result<(), E> {
    let start = wire.len();
    wire.resize(start + room, 0);
    let r = f(&mut wire[start..]);
    wire.truncate(start + r.as_ref().map_or(0, |n| *n));
    r.map(|_| ())
}

/// Encodes the record rustls has ready (a handshake message, an alert, a
/// ticket) at the end of `wire`.
fn encode<D>(mut e: EncodeTlsData<'_, D>, wire: &mut Vec<u8>) -> Result<(), rustls::Error> {
    // Asked with no room, rustls says how much it needs.
    let need = match e.encode(&mut []) {
        Ok(_) => return Ok(()),
        Err(EncodeError::InsufficientSize(s)) => s.required_size,
        Err(EncodeError::AlreadyEncoded) => return Err(internal("a TLS record was encoded twice")),
    };
    append(wire, need, |b| e.encode(b)).map_err(|_| internal("rustls needed more room than it said"))
}

/// Has `f` encrypt records at the end of `wire`, given `room` or as much as
/// rustls asks for: more if it fragments finer than the most, or if records
/// it queued before (a key update) go first.
fn encrypt_with(
    wire: &mut Vec<u8>,
    mut room: usize,
    mut f: impl FnMut(&mut [u8]) -> Result<usize, EncryptError>,
) -> Result<(), rustls::Error> {
    loop {
        match append(wire, room, &mut f) {
            Ok(()) => return Ok(()),
            Err(EncryptError::InsufficientSize(s)) if s.required_size > room => room = s.required_size,
            Err(EncryptError::EncryptExhausted) => return Err(rustls::Error::EncryptError),
            Err(_) => return Err(internal("rustls needed more room than it said")),
        }
    }
}

/// Encrypts `plain` into records at the end of `wire`.
fn encrypt<D>(w: &mut WriteTraffic<'_, D>, plain: &[u8], wire: &mut Vec<u8>) -> Result<(), rustls::Error> {
    if plain.is_empty() {
        return Ok(());
    }
    let room = plain.len() + (plain.len() / MAX_FRAGMENT + 1) * RECORD_OVERHEAD;
    encrypt_with(wire, room, |b| w.encrypt(plain, b))
}

/// Sends the plaintext that waited for the handshake (or for a handshake
/// message to be whole).
fn flush<D>(
    w: &mut WriteTraffic<'_, D>,
    unsent: &mut Vec<u8>,
    wire: &mut Vec<u8>,
) -> Result<(), rustls::Error> {
    if !unsent.is_empty() {
        encrypt(w, unsent, wire)?;
        // Its capacity goes too: an idle connection holds no buffer.
        *unsent = Vec::new();
    }
    Ok(())
}

/// Encrypts a `close_notify` alert at the end of `wire`.
fn close_notify<D>(w: &mut WriteTraffic<'_, D>, wire: &mut Vec<u8>) -> Result<(), rustls::Error> {
    encrypt_with(wire, RECORD_OVERHEAD, |b| w.queue_close_notify(b))
}

/// The application data records rustls has decrypted, the ordinary ones
/// and early (0-RTT) ones alike.
pub(super) trait Records {
    fn peek_len(&self) -> Option<usize>;
    fn next_record(&mut self) -> Option<Result<AppDataRecord<'_>, rustls::Error>>;
}

impl<D> Records for ReadTraffic<'_, '_, D> {
    fn peek_len(&self) -> Option<usize> {
        ReadTraffic::peek_len(self).map(|n| n.get())
    }
    fn next_record(&mut self) -> Option<Result<AppDataRecord<'_>, rustls::Error>> {
        ReadTraffic::next_record(self)
    }
}

/// Copies the plaintext of decrypted records to `front[*plain..]`, while
/// they fit: `front` is input already consumed, so once the records' own
/// bytes are discarded there is room. Returns how many more bytes to
/// discard, and whether all records were taken.
pub(super) fn take_records(
    r: &mut impl Records,
    front: &mut [u8],
    plain: &mut usize,
) -> Result<(usize, bool), rustls::Error> {
    let mut discard = 0;
    while let Some(n) = r.peek_len() {
        if front.len() - *plain < n {
            return Ok((discard, false));
        }
        match r.next_record() {
            Some(Ok(rec)) => {
                front[*plain..*plain + n].copy_from_slice(rec.payload);
                *plain += n;
                discard += rec.discard;
            }
            Some(Err(e)) => return Err(e),
            None => break,
        }
    }
    Ok((discard, true))
}

/// What one state of rustls, met while reading, came to.
enum Step {
    /// Go on: more to do. `discard`: input consumed besides the status's.
    Again { discard: usize },
    /// Decrypted records wait for room at the front: go on once the
    /// status's discard has made some.
    Room { discard: usize },
    /// Nothing more to do until more input comes.
    Done,
}

/// Whether `unused` (input rustls did not consume) is one incomplete record
/// at most, rather than fragments of a handshake message being joined.
pub(super) fn one_incomplete_record(unused: &[u8]) -> bool {
    match unused {
        [_, _, _, hi, lo, ..] => unused.len() < 5 + u16::from_be_bytes([*hi, *lo]) as usize,
        _ => true,
    }
}

/// Handles one state met while reading: plaintext to `front[*plain..]`,
/// records to send to `out`.
fn read_step<C: Side>(
    state: State<'_, '_, C::Data>,
    front: &mut [u8],
    d: &mut Decoded,
    unsent: &mut Vec<u8>,
    closed: bool,
    out: &mut Vec<u8>,
) -> Result<Step, rustls::Error> {
    let taken = |(discard, all): (usize, bool)| match all {
        true => Step::Again { discard },
        false => Step::Room { discard },
    };
    Ok(match state {
        State::ReadTraffic(mut r) => taken(take_records(&mut r, front, &mut d.plain)?),
        State::ReadEarlyData(mut r) => taken(C::read_early(&mut r, front, &mut d.plain)?),
        State::EncodeTlsData(e) => {
            encode(e, out)?;
            Step::Again { discard: 0 }
        }
        State::TransmitTlsData(t) => {
            // Already in `out`: the loop sends it.
            t.done();
            Step::Again { discard: 0 }
        }
        State::PeerClosed => {
            d.ended = true;
            Step::Again { discard: 0 }
        }
        State::WriteTraffic(mut w) => {
            // All input is processed: what waited for the handshake goes now.
            if !closed {
                flush(&mut w, unsent, out)?;
            }
            Step::Done
        }
        // BlockedHandshake (more input needed), Closed (both ends sent
        // close_notify).
        _ => Step::Done,
    })
}

impl<C: Side> Session<C> {
    /// After rustls failed: sends the alert it queued for the peer (one
    /// record). Only one call: the next would deframe `input` again, and
    /// meet the same error.
    fn send_alert(&mut self, input: &mut [u8], out: &mut Vec<u8>) {
        let UnbufferedStatus { state, .. } = self.conn.process(input);
        if let Ok(ConnectionState::EncodeTlsData(e)) = state {
            let _ = encode(e, out);
        }
    }

    /// Sends what the side says first, before any input: a client's hello
    /// (a server has nothing to say yet).
    pub(super) fn start(&mut self, wire: &mut Vec<u8>) -> io::Result<()> {
        loop {
            let UnbufferedStatus { state, .. } = self.conn.process(&mut []);
            let done = match state {
                Ok(ConnectionState::EncodeTlsData(e)) => encode(e, wire).map(|()| false),
                Ok(ConnectionState::TransmitTlsData(t)) => {
                    t.done();
                    Ok(false)
                }
                Ok(_) => Ok(true),
                Err(e) => Err(e),
            };
            match done {
                Ok(false) => {}
                Ok(true) => return Ok(()),
                Err(e) => return Err(self.rustls_failed(e, true)),
            }
        }
    }
}

/// The [`Translator`](crate::Translator) methods, for either side.
impl<C: Side> Session<C> {
    pub(super) fn read(&mut self, wire: &mut [u8], out: &mut Vec<u8>) -> io::Result<Decoded> {
        if self.failed {
            // Closing: nothing more is read.
            return Ok(Decoded {
                used: wire.len(),
                ..Decoded::default()
            });
        }
        let mut d = Decoded::default();
        loop {
            let handshaking = self.is_handshaking();
            // rustls sees no more of a handshake than the limit allows: it
            // must not complete (and act on) a message past it.
            let end = match handshaking {
                true => wire.len().min(
                    d.used
                        + self
                            .limits
                            .max_handshake_bytes
                            .saturating_sub(self.handshake_bytes),
                ),
                false => wire.len(),
            };
            // Plaintext goes to the front, over input already consumed.
            let (front, rest) = wire[..end].split_at_mut(d.used);
            let UnbufferedStatus { discard, state } = self.conn.process(rest);
            let step =
                state.and_then(|s| read_step::<C>(s, front, &mut d, &mut self.unsent, self.closed, out));
            d.used += discard;
            if handshaking {
                self.handshake_bytes += discard;
            }
            match step {
                Ok(Step::Again { discard }) => d.used += discard,
                Ok(Step::Room { discard: more }) if discard + more > 0 => d.used += more,
                Ok(Step::Room { .. }) => {
                    let e = tls_error(internal("no room for decrypted records"), handshaking);
                    return Err(self.fail(e));
                }
                // The handshake completed within the limit: on with the rest.
                Ok(Step::Done) if end < wire.len() && !self.is_handshaking() => {}
                Ok(Step::Done) => break,
                Err(e) => {
                    let e = self.rustls_failed(e, handshaking);
                    self.send_alert(&mut wire[d.used..], out);
                    return Err(e);
                }
            }
        }
        let unused = &wire[d.used..];
        if self.is_handshaking() && self.handshake_bytes + unused.len() > self.limits.max_handshake_bytes {
            let limit = self.limits.max_handshake_bytes;
            return Err(self.fail(crate::Error::HandshakeTooLarge { limit }.into()));
        }
        self.joining = !d.ended && !one_incomplete_record(unused);
        Ok(d)
    }

    pub(super) fn write(&mut self, plain: &[u8], wire: &mut Vec<u8>) -> io::Result<()> {
        if self.closed {
            log::debug!(
                "revio: {} bytes written after TLS close_notify dropped",
                plain.len()
            );
            return Ok(());
        }
        if self.is_handshaking() || self.joining {
            self.unsent.extend_from_slice(plain);
            return Ok(());
        }
        let sent = self.at_write_traffic(wire, |w, unsent, wire| {
            flush(w, unsent, wire)?;
            encrypt(w, plain, wire)
        })?;
        if !sent {
            self.unsent.extend_from_slice(plain);
        }
        Ok(())
    }

    pub(super) fn close(&mut self, wire: &mut Vec<u8>) {
        if mem::replace(&mut self.closed, true) || self.failed {
            return;
        }
        if self.is_handshaking() || self.joining {
            // rustls sends alerts only once it can encrypt them.
            log::debug!("revio: TLS closed before it could send close_notify");
            return;
        }
        let sent = self.at_write_traffic(wire, |w, unsent, wire| {
            flush(w, unsent, wire)?;
            close_notify(w, wire)
        });
        if let Err(e) = sent {
            log::debug!("revio: TLS close_notify not sent: {e}");
        }
    }
}
