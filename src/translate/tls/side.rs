//! The two sides of a TLS session, behind one small interface: how rustls's
//! unbuffered connection is called ([`Side::process`]), its common state,
//! and early (0-RTT) data, which only a server reads. Everything else (the
//! records, the handshake limits, `close_notify`) is the same for both and
//! lives in `session`.

use rustls::client::{ClientConnectionData, UnbufferedClientConnection};
use rustls::server::{ServerConnectionData, UnbufferedServerConnection};
use rustls::unbuffered::{ReadEarlyData, UnbufferedStatus};
use rustls::{CommonState, Error};

use super::server_name::Noted;
use super::session::{Records, internal, take_records};

/// One side of a TLS session: a rustls unbuffered connection.
pub(crate) trait Side {
    /// rustls's per-side connection data.
    type Data;

    /// rustls's `process_tls_records` on this side.
    fn process<'c, 'i>(&'c mut self, input: &'i mut [u8]) -> UnbufferedStatus<'c, 'i, Self::Data>;

    /// The state both sides share: handshake, ALPN, peer certificates.
    fn common(&self) -> &CommonState;

    /// Copies the plaintext of early data records to `front[*plain..]` (see
    /// `session::take_records`).
    fn read_early(
        r: &mut ReadEarlyData<'_, '_, Self::Data>,
        front: &mut [u8],
        plain: &mut usize,
    ) -> Result<(usize, bool), Error>;
}

/// The server side: the connection, and the server name its client asked
/// for, noted while rustls reads the ClientHello (see `server_name`).
pub(crate) struct ServerSide {
    pub(super) conn: UnbufferedServerConnection,
    pub(super) server_name: Noted,
}

impl Side for ServerSide {
    type Data = ServerConnectionData;

    fn process<'c, 'i>(&'c mut self, input: &'i mut [u8]) -> UnbufferedStatus<'c, 'i, Self::Data> {
        let conn = &mut self.conn;
        self.server_name.around(move || conn.process_tls_records(input))
    }

    fn common(&self) -> &CommonState {
        &self.conn
    }

    fn read_early(
        r: &mut ReadEarlyData<'_, '_, Self::Data>,
        front: &mut [u8],
        plain: &mut usize,
    ) -> Result<(usize, bool), Error> {
        take_records(r, front, plain)
    }
}

impl Records for ReadEarlyData<'_, '_, ServerConnectionData> {
    fn peek_len(&self) -> Option<usize> {
        ReadEarlyData::peek_len(self).map(|n| n.get())
    }
    fn next_record(&mut self) -> Option<Result<rustls::unbuffered::AppDataRecord<'_>, Error>> {
        ReadEarlyData::next_record(self)
    }
}

impl Side for UnbufferedClientConnection {
    type Data = ClientConnectionData;

    fn process<'c, 'i>(&'c mut self, input: &'i mut [u8]) -> UnbufferedStatus<'c, 'i, Self::Data> {
        self.process_tls_records(input)
    }

    fn common(&self) -> &CommonState {
        self
    }

    fn read_early(
        _: &mut ReadEarlyData<'_, '_, Self::Data>,
        _: &mut [u8],
        _: &mut usize,
    ) -> Result<(usize, bool), Error> {
        // rustls gives a client no early data to read.
        Err(internal("early data offered to a TLS client"))
    }
}
