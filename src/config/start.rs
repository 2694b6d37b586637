//! Start-up: parses the addresses, picks the backend, binds, builds one
//! backend and loop per thread, runs them and joins them.

use std::io;
use std::mem;
use std::sync::Arc;

use super::{Balance, Config};
use crate::addr::Address;
use crate::backend::{Backend, Chosen};
use crate::driver::Driver;
use crate::driver::poll::PollDriver;
use crate::driver::stdnet::StdDriver;
#[cfg(target_os = "linux")]
use crate::driver::uring::UringDriver;
use crate::event_loop::bind::{Listeners, bind_all};
use crate::event_loop::{Limits, Listening, Loop, panic_error};
use crate::events::Handler;
use crate::mailbox::Mailbox;
use crate::server::{Server, Shared};

impl Config {
    /// Parses the addresses, picks the backend, binds, and runs the loops.
    pub(super) fn start<L: Launch, I, A>(self, addrs: I, launch: L) -> io::Result<()>
    where
        I: IntoIterator<Item = A>,
        A: AsRef<str>,
    {
        let addresses = parse(addrs)?;
        match self.backend.choose(self.refuse_uring)? {
            Chosen::Std => self.start_on(&addresses, Backend::Std, StdDriver::new, launch),
            Chosen::Poll => {
                let udp = self.udp_options();
                self.start_on(&addresses, Backend::Poll, || PollDriver::new(udp), launch)
            }
            #[cfg(target_os = "linux")]
            Chosen::Uring => {
                let (sizes, udp) = (self.uring_sizes(), self.udp_options());
                self.start_on(
                    &addresses,
                    Backend::Uring,
                    || UringDriver::new(sizes, udp),
                    launch,
                )
            }
        }
    }

    fn start_on<D: Driver + Send, L: Launch>(
        &self,
        addresses: &[Address],
        backend: Backend,
        new_driver: impl Fn() -> io::Result<D>,
        launch: L,
    ) -> io::Result<()> {
        let (prepared, listeners) = prepare(self, addresses, backend, new_driver)?;
        let result = launch.launch(prepared);
        listeners.cleanup();
        result
    }
}

/// What runs a server's prepared loops: one handler, or a handler factory.
pub(super) trait Launch {
    fn launch<D: Driver + Send>(self, prepared: Prepared<D>) -> io::Result<()>;
}

/// One handler on one loop, on the calling thread.
pub(super) struct One<H>(pub(super) H);

impl<H: Handler> Launch for One<H> {
    fn launch<D: Driver + Send>(self, prepared: Prepared<D>) -> io::Result<()> {
        prepared.run_single(self.0)
    }
}

/// One handler per loop, each made on its loop's thread.
pub(super) struct Many<'f, F>(pub(super) &'f F);

impl<H: Handler, F: Fn(usize) -> H + Sync> Launch for Many<'_, F> {
    fn launch<D: Driver + Send>(self, prepared: Prepared<D>) -> io::Result<()> {
        prepared.run_many(self.0)
    }
}

/// Makes loop `i`'s handler on this thread and runs the loop. A panic in the
/// factory stops the whole server (no loop may be left without a handler,
/// or connections handed to it would never be served) and is returned.
fn run_loop<H: Handler, D: Driver, F: Fn(usize) -> H>(
    i: usize,
    factory: &F,
    driver: D,
    server: Server,
    listening: Listening,
    limits: Limits,
) -> io::Result<()> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| factory(i))) {
        Ok(handler) => Loop::new(i, handler, driver, server, listening, limits).run(),
        Err(p) => {
            server.shared.mailboxes[i].lock().stopped = true;
            server.shutdown();
            Err(panic_error(p))
        }
    }
}

fn parse<I, A>(addrs: I) -> io::Result<Vec<Address>>
where
    I: IntoIterator<Item = A>,
    A: AsRef<str>,
{
    let addresses = addrs
        .into_iter()
        .map(|a| a.as_ref().parse::<Address>())
        .collect::<io::Result<Vec<_>>>()?;
    if addresses.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "serve needs at least one address",
        ));
    }
    Ok(addresses)
}

/// Everything a server's loops need, built before any of them starts.
pub(super) struct Prepared<D> {
    drivers: Vec<D>,
    server: Server,
    listening: Listening,
    limits: Limits,
}

/// Binds the addresses and builds every loop's backend and mailbox, so that
/// every setup error comes out of `serve` before anything runs.
fn prepare<D: Driver>(
    cfg: &Config,
    addresses: &[Address],
    backend: Backend,
    new_driver: impl Fn() -> io::Result<D>,
) -> io::Result<(Prepared<D>, Listeners)> {
    let n = cfg.loop_count();
    let per_loop = cfg.balance == Balance::ReusePort && cfg!(any(target_os = "linux", target_os = "android"));
    let mut listeners = bind_all(addresses, n, per_loop, cfg.backlog)?;
    let built = (|| {
        let mut drivers = Vec::with_capacity(n);
        let mut mailboxes = Vec::with_capacity(n);
        for sockets in mem::take(&mut listeners.sockets) {
            let mut d = new_driver()?;
            mailboxes.push(Mailbox::new(d.notifier()?, cfg.first_generation));
            for (i, s) in sockets {
                d.listen(i, s)?;
            }
            drivers.push(d);
        }
        Ok(Prepared {
            drivers,
            server: Server {
                shared: Arc::new(Shared::new(mailboxes, listeners.addrs.clone(), backend)),
            },
            listening: Listening {
                networks: addresses.iter().map(|a| a.network()).collect(),
                balanced: listeners.balanced.clone(),
                balance: cfg.balance,
                // Loop 0 owns every unix listener, so it removes their files.
                unix_files: listeners.unix_files.clone(),
                proxy: addresses.iter().map(|a| a.proxy_protocol()).collect(),
            },
            limits: cfg.limits(),
        })
    })();
    match built {
        Ok(p) => Ok((p, listeners)),
        Err(e) => {
            listeners.cleanup();
            Err(e)
        }
    }
}

impl<D: Driver> Prepared<D> {
    fn run_single<H: Handler>(mut self, handler: H) -> io::Result<()> {
        let driver = self.drivers.pop().expect("one loop has one driver");
        Loop::new(0, handler, driver, self.server, self.listening, self.limits).run()
    }

    fn run_many<H: Handler, F: Fn(usize) -> H + Sync>(self, factory: &F) -> io::Result<()>
    where
        D: Send,
    {
        let Prepared {
            drivers,
            server,
            listening,
            limits,
        } = self;
        let mut drivers = drivers.into_iter().enumerate();
        let Some((_, first)) = drivers.next() else {
            return Ok(());
        };
        std::thread::scope(|scope| {
            let mut threads = Vec::new();
            for (i, driver) in drivers {
                let s = server.clone();
                let n = Listening {
                    unix_files: Vec::new(),
                    ..listening.clone()
                };
                let spawned = std::thread::Builder::new()
                    .name(format!("revio-loop-{i}"))
                    .spawn_scoped(scope, move || run_loop(i, factory, driver, s, n, limits));
                match spawned {
                    Ok(t) => threads.push(t),
                    Err(e) => {
                        server.shutdown();
                        return Err(e);
                    }
                }
            }
            let mut result = run_loop(0, factory, first, server.clone(), listening, limits);
            for t in threads {
                let r = t
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("an event loop thread panicked")));
                if result.is_ok() {
                    result = r;
                }
            }
            result
        })
    }
}
