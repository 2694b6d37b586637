//! The proxy's TLS modes, with `--features tls`: it terminates TLS on its
//! listener (`--tls-cert/--tls-key`), originates TLS to the upstream
//! (`--upstream-tls --ca FILE [--sni NAME]`), or both, which re-encrypts.
//! The relay itself (`main.rs`) sees plaintext either way: the handler is
//! wrapped in a [`Translate`](revio::Translate) whose accepted connections
//! speak TLS when the proxy terminates it, and whose dialed connections
//! bring their own client translator. A PROXY header for the upstream goes
//! first, in the clear before the TLS hello (`TlsTranslator::preface`), as
//! HAProxy sends it.

use std::io;
use std::time::Duration;

use revio::{ConnId, Server};

/// How the proxy speaks TLS to its upstream: as a client whose server
/// certificate must chain to the given roots, for the upstream's host name
/// or the name given.
#[cfg(feature = "tls")]
#[derive(Clone, Debug)]
pub struct UpstreamTls(revio::TlsClient);

#[cfg(feature = "tls")]
impl UpstreamTls {
    /// A TLS upstream verified against `client`'s roots.
    pub fn new(client: revio::TlsClient) -> UpstreamTls {
        UpstreamTls(client)
    }

    /// From the command line: `--ca FILE` (required: the library bundles
    /// no roots) and `--sni NAME` (default: the upstream's host).
    pub fn from_flags(ca: Option<&str>, sni: Option<&str>) -> io::Result<UpstreamTls> {
        let ca = ca.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "--upstream-tls needs --ca FILE: the CA certificates (PEM) the upstream's certificate must chain to",
            )
        })?;
        let mut client = revio::TlsClient::from_ca_file(ca)?;
        if let Some(name) = sni {
            client = client.server_name(name)?;
        }
        Ok(UpstreamTls(client))
    }

    /// Dials `upstream` and starts TLS on it, `preface` (a PROXY header)
    /// sent first in the clear.
    pub fn dial(
        &self,
        server: &Server,
        upstream: &str,
        timeout: Duration,
        preface: &[u8],
    ) -> io::Result<ConnId> {
        let translator = self.0.connect(host(upstream))?.preface(preface);
        server.dial_translated(upstream, Some(timeout), translator)
    }
}

/// The host of an upstream address (`host:port`, `tcp://host:port`,
/// `[v6]:port`), the name a TLS upstream's certificate is checked for when
/// no `--sni` is given.
#[cfg(feature = "tls")]
fn host(upstream: &str) -> &str {
    let a = upstream.strip_prefix("tcp://").unwrap_or(upstream);
    let a = a.split('?').next().unwrap_or(a);
    let host = a.rsplit_once(':').map_or(a, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// `proxy` behind a [`Translate`](revio::Translate): accepted connections
/// speak TLS with `terminate`'s certificate when it is given, dialed ones
/// bring their own translator (a TLS upstream), plain ones pass as they are.
#[cfg(feature = "tls")]
pub fn wrap(proxy: super::Proxy, terminate: Option<revio::Tls>) -> impl revio::Handler {
    let accept = terminate.is_some();
    revio::Translate::new(proxy, move |_| match &terminate {
        Some(tls) => tls.accept(),
        None => Err(io::Error::other("the proxy does not terminate TLS")),
    })
    .when(move |c| accept && !c.is_dialed())
}

/// Without the `tls` feature there is no TLS upstream.
#[cfg(not(feature = "tls"))]
#[derive(Clone, Debug)]
pub enum UpstreamTls {}

#[cfg(not(feature = "tls"))]
impl UpstreamTls {
    pub fn dial(&self, _: &Server, _: &str, _: Duration, _: &[u8]) -> io::Result<ConnId> {
        match *self {}
    }
}
