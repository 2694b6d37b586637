//! [`Clock`]: the loop's time, read once per turn, for handlers that need
//! "now" per request without a clock read each (an expiry check, a log
//! stamp), and [`Tick`], what the ticker sees of its loop.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::server::Server;

/// How often the loop reads the wall clock again (between, it follows the
/// monotonic clock, which it reads every turn).
const WALL_EVERY: Duration = Duration::from_secs(1);

/// The loop's clock: the time the current turn started, the same time its
/// timers (idle timeouts, deadlines, the ticker) are measured with. Reach it
/// with [`Conn::clock`](crate::Conn::clock) or [`Tick::clock`].
///
/// It is coarse by design: it moves once per turn of the loop (a turn serves
/// every event that was ready, so all the requests of one read see the same
/// time), which costs one monotonic clock read per turn whatever the number
/// of requests. The wall clock ([`Clock::system_time`]) is read again once a
/// second and follows the monotonic clock in between, so it lags a step of
/// the system's clock by at most a second.
///
/// ```
/// use revio::{Action, Conn, Handler};
///
/// /// Answers each request with the loop's wall-clock time, in ms.
/// struct Stamp;
/// impl Handler for Stamp {
///     type State = ();
///     fn data(&mut self, conn: &mut Conn<'_, ()>, _input: &[u8]) -> Action {
///         let ms = conn.clock().unix_millis();
///         conn.write(format!("{ms}\n").as_bytes());
///         Action::None
///     }
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    now: Instant,
    /// The wall clock at `anchor`, read at most once per [`WALL_EVERY`].
    wall: SystemTime,
    anchor: Instant,
}

impl Clock {
    /// A clock reading the time now.
    pub(crate) fn start() -> Clock {
        let now = Instant::now();
        Clock {
            now,
            wall: SystemTime::now(),
            anchor: now,
        }
    }

    /// Moves the clock to `now` (a new turn).
    pub(crate) fn advance(&mut self, now: Instant) {
        self.now = now;
        if now.saturating_duration_since(self.anchor) >= WALL_EVERY {
            self.wall = SystemTime::now();
            self.anchor = now;
        }
    }

    /// The monotonic time the current turn started.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The wall-clock time the current turn started (see the type's docs for
    /// how closely it follows the system's clock).
    pub fn system_time(&self) -> SystemTime {
        self.wall + self.now.saturating_duration_since(self.anchor)
    }

    /// [`Clock::system_time`] in milliseconds since the Unix epoch (0 for a
    /// system clock set before 1970).
    pub fn unix_millis(&self) -> u64 {
        self.system_time()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }
}

/// What [`Handler::tick`](crate::Handler::tick) sees of its loop: the server
/// handle, which loop it runs on, and the loop's clock.
///
/// Every loop ticks its own handler (see
/// [`Config::loops`](crate::Config::loops)). A job meant to run once per
/// server, not once per loop, runs where [`Tick::loop_index`] is 0:
///
/// ```
/// use std::time::Duration;
/// use revio::{Action, Handler, Tick};
///
/// struct Sweeper;
/// impl Handler for Sweeper {
///     type State = ();
///     fn tick(&mut self, tick: &Tick<'_>) -> (Option<Duration>, Action) {
///         if tick.loop_index() != 0 {
///             return (None, Action::None); // loop 0 sweeps for everyone
///         }
///         // ... sweep shared state, log tick.server().loops() loops ...
///         (Some(Duration::from_secs(1)), Action::None)
///     }
/// }
/// ```
#[derive(Debug)]
pub struct Tick<'a> {
    pub(crate) server: &'a Server,
    pub(crate) loop_index: usize,
    pub(crate) clock: Clock,
}

impl Tick<'_> {
    /// The server handle (wake, dial, close, shut down).
    pub fn server(&self) -> &Server {
        self.server
    }

    /// The index of the loop this tick runs on, `0..server().loops()`.
    pub fn loop_index(&self) -> usize {
        self.loop_index
    }

    /// The loop's clock (see [`Clock`]).
    pub fn clock(&self) -> Clock {
        self.clock
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wall_clock_follows_the_monotonic_one_between_reads() {
        let mut c = Clock::start();
        let w0 = c.system_time();
        let later = c.now() + Duration::from_millis(300);
        c.advance(later);
        assert_eq!(c.now(), later);
        // Not read again yet (under a second): it moved by the monotonic step.
        assert_eq!(c.system_time(), w0 + Duration::from_millis(300));
        c.advance(later + WALL_EVERY);
        assert!(c.system_time() >= w0);
        assert!(c.unix_millis() > 1_600_000_000_000);
    }
}
