//! The server name a client asks for (SNI). rustls's unbuffered server
//! connection (0.23) keeps it but has no accessor for it; the certificate
//! resolver is shown it, while the connection reads the ClientHello, on the
//! thread that drives it. So the configuration's resolver is wrapped in one
//! that notes the name in a thread-local slot, which the connection that was
//! reading takes as soon as rustls returns (see [`Noted`]).

use std::cell::Cell;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

thread_local! {
    /// Set by [`NoteServerName::resolve`]: `Some(name)` once a ClientHello
    /// was read (`name` is `None` when the client sent no SNI).
    static NOTED: Cell<Option<Option<Box<str>>>> = const { Cell::new(None) };
}

/// `config` with its certificate resolver wrapped in a [`NoteServerName`].
pub(super) fn noting(config: Arc<ServerConfig>) -> Arc<ServerConfig> {
    let mut config = Arc::unwrap_or_clone(config);
    config.cert_resolver = Arc::new(NoteServerName(config.cert_resolver));
    Arc::new(config)
}

/// Notes the server name of each ClientHello it is shown, then defers to
/// the resolver it wraps.
#[derive(Debug)]
struct NoteServerName(Arc<dyn ResolvesServerCert>);

impl ResolvesServerCert for NoteServerName {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        NOTED.set(Some(hello.server_name().map(Box::from)));
        self.0.resolve(hello)
    }

    fn only_raw_public_keys(&self) -> bool {
        self.0.only_raw_public_keys()
    }
}

/// One connection's server name, until and after its ClientHello is read.
#[derive(Debug, Default)]
pub(super) enum Noted {
    /// The ClientHello has not been read yet.
    #[default]
    Waiting,
    /// Read: the name the client asked for, if any.
    Read(Option<Box<str>>),
}

impl Noted {
    /// Runs `f`, a call into rustls that may read this connection's
    /// ClientHello, and takes the name the resolver noted meanwhile.
    pub(super) fn around<R>(&mut self, f: impl FnOnce() -> R) -> R {
        if !matches!(self, Noted::Waiting) {
            return f();
        }
        // Nothing left over from a connection that did not take its name
        // (one driven outside this translator, say).
        NOTED.take();
        let r = f();
        if let Some(name) = NOTED.take() {
            *self = Noted::Read(name);
        }
        r
    }

    /// The name, once the ClientHello is read.
    pub(super) fn get(&self) -> Option<&str> {
        match self {
            Noted::Read(name) => name.as_deref(),
            Noted::Waiting => None,
        }
    }
}
