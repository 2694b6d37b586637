//! Minimal `--flag value` parsing for the suite's small binaries.

use std::process::exit;
use std::str::FromStr;

/// The command line as `--name value` pairs and bare `--switch`es.
pub struct Args {
    pairs: Vec<(String, Option<String>)>,
    usage: &'static str,
}

impl Args {
    /// Parses `std::env::args()`; a flag followed by another flag (or nothing)
    /// is a switch.
    pub fn parse(usage: &'static str) -> Args {
        let raw: Vec<String> = std::env::args().skip(1).collect();
        let mut pairs = Vec::new();
        let mut i = 0;
        while i < raw.len() {
            let name = raw[i].clone();
            if name == "-h" || name == "--help" {
                eprintln!("usage: {usage}");
                exit(0);
            }
            if !name.starts_with("--") {
                fail(usage, &format!("unexpected argument {name}"));
            }
            let value = raw.get(i + 1).filter(|v| !v.starts_with("--")).cloned();
            i += if value.is_some() { 2 } else { 1 };
            pairs.push((name, value));
        }
        Args { pairs, usage }
    }

    /// The value of `--name`, parsed, or `default` when absent.
    pub fn get<T: FromStr>(&self, name: &str, default: T) -> T {
        match self.pairs.iter().rev().find(|(n, _)| n == name) {
            None => default,
            Some((_, Some(v))) => v
                .parse()
                .unwrap_or_else(|_| fail(self.usage, &format!("bad value for {name}: {v}"))),
            Some((_, None)) => fail(self.usage, &format!("{name} needs a value")),
        }
    }

    /// The value of `--name`, which must be given.
    pub fn req<T: FromStr>(&self, name: &str) -> T {
        match self.pairs.iter().rev().find(|(n, _)| n == name) {
            Some((_, Some(v))) => v
                .parse()
                .unwrap_or_else(|_| fail(self.usage, &format!("bad value for {name}: {v}"))),
            _ => fail(self.usage, &format!("{name} is required")),
        }
    }

    /// Whether the switch `--name` is present.
    pub fn flag(&self, name: &str) -> bool {
        self.pairs.iter().any(|(n, _)| n == name)
    }
}

fn fail(usage: &str, msg: &str) -> ! {
    eprintln!("{msg}\nusage: {usage}");
    exit(2)
}
