//! The comparisons of the benchmark suite, one module each, and what they
//! share: the run's context ([`Ctx`]), starting peers and alternating rounds
//! (`peers`), processes (`procs`) and tables (`report`).

pub mod alloc;
pub mod echo;
pub mod floor;
pub mod haproxy;
pub mod header;
pub mod http;
pub mod many;
pub mod memory;
pub mod peers;
pub mod procs;
pub mod redis;
pub mod redis_default;
pub mod redis_large;
pub mod report;
pub mod summary;
pub mod syscalls;
pub mod udp;

use std::path::PathBuf;

use procs::Procs;

/// What every comparison needs: the mode, where the binaries are, and the
/// processes started so far.
pub struct Ctx {
    pub quick: bool,
    pub rounds: usize,
    pub bins: PathBuf,
    pub examples: PathBuf,
    pub procs: Procs,
    pub only: Option<Vec<String>>,
}

impl Ctx {
    pub fn wants(&self, section: &str) -> bool {
        self.only.as_ref().is_none_or(|o| o.iter().any(|s| s == section))
    }

    pub fn bin(&self, name: &str) -> PathBuf {
        self.bins.join(name)
    }

    /// A revio example, or why it is missing.
    pub fn example(&self, name: &str) -> Result<PathBuf, String> {
        let p = self.examples.join(name);
        if p.is_file() {
            Ok(p)
        } else {
            Err(format!("example {name} not built (missing from this checkout)"))
        }
    }
}

/// The value after `key=` in a `key=value` line.
pub fn field(out: &str, key: &str) -> Option<f64> {
    out.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
}
