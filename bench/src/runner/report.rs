//! Samples, medians, ratios taken within each round, the markdown tables and
//! the chart.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;

/// One measurement of one peer on one test in one round.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    /// Requests (or messages) per second, as the client saw them.
    pub rate: f64,
    /// Requests (or messages) served per second of server CPU (user + sys).
    pub per_cpu: f64,
    /// Further figures by name (p50, p99 in ms; MB/s).
    pub extra: BTreeMap<&'static str, f64>,
}

/// A peer in a comparison, present or skipped with a reason.
#[derive(Clone, Debug)]
pub struct Peer {
    pub name: String,
    pub skipped: Option<String>,
}

/// One comparison: tests by peers by rounds.
pub struct Table {
    pub title: String,
    /// "req" or "msg".
    pub unit: &'static str,
    pub note: String,
    pub tests: Vec<String>,
    pub peers: Vec<Peer>,
    /// Index of revio among `peers`.
    pub revio: usize,
    /// Extra figures to show, in order.
    pub extra_cols: Vec<&'static str>,
    /// (test, peer) -> one entry per round.
    pub samples: BTreeMap<(usize, usize), Vec<Sample>>,
    /// Per test, which peers take part (the floor answers PINGs only).
    pub applies: BTreeMap<(usize, usize), bool>,
    /// (test, peer) -> the error the peer answered, shown instead of its figures.
    pub errors: BTreeMap<(usize, usize), String>,
    /// What the ratio columns divide: "revio ÷ peer" unless said otherwise.
    pub ratio_of: String,
    /// Peer -> the row its ratio divides into that peer's, and what the pair
    /// compares ("like for like", "redis example vs redis-server"). While
    /// this is empty, every peer but `revio` is divided into `revio`'s row;
    /// once a pair is named, only the peers named have a ratio.
    pub against: BTreeMap<usize, (usize, String)>,
    /// Whether the chart has a panel for this table.
    pub in_chart: bool,
}

impl Table {
    pub fn new(title: &str, unit: &'static str, tests: Vec<String>, peers: Vec<Peer>) -> Table {
        Table {
            title: title.to_string(),
            unit,
            note: String::new(),
            tests,
            peers,
            revio: 0,
            extra_cols: Vec::new(),
            samples: BTreeMap::new(),
            applies: BTreeMap::new(),
            errors: BTreeMap::new(),
            ratio_of: "revio ÷ peer".to_string(),
            against: BTreeMap::new(),
            in_chart: true,
        }
    }

    /// Drops the tests that no peer ran (no sample and no error), keeping the
    /// order of the others.
    pub fn retain_measured(&mut self) {
        let keep: Vec<usize> = (0..self.tests.len())
            .filter(|&t| self.samples.keys().any(|&(x, _)| x == t))
            .collect();
        let new = |t: usize| keep.iter().position(|&k| k == t);
        let remap = |&(t, p): &(usize, usize)| new(t).map(|n| (n, p));
        self.tests = keep.iter().map(|&t| self.tests[t].clone()).collect();
        self.samples = std::mem::take(&mut self.samples)
            .into_iter()
            .filter_map(|(k, v)| Some((remap(&k)?, v)))
            .collect();
        self.applies = std::mem::take(&mut self.applies)
            .into_iter()
            .filter_map(|(k, v)| Some((remap(&k)?, v)))
            .collect();
        self.errors = std::mem::take(&mut self.errors)
            .into_iter()
            .filter_map(|(k, v)| Some((remap(&k)?, v)))
            .collect();
    }

    pub fn applies(&self, test: usize, peer: usize) -> bool {
        self.peers[peer].skipped.is_none() && *self.applies.get(&(test, peer)).unwrap_or(&true)
    }

    /// Records the sample of `round` (rounds with a failed sample keep a gap).
    pub fn record(&mut self, test: usize, peer: usize, round: usize, sample: Option<Sample>) {
        let v = self.samples.entry((test, peer)).or_default();
        while v.len() <= round {
            v.push(Sample {
                rate: f64::NAN,
                per_cpu: f64::NAN,
                extra: BTreeMap::new(),
            });
        }
        if let Some(s) = sample {
            v[round] = s;
        }
    }

    fn column(&self, test: usize, peer: usize, f: impl Fn(&Sample) -> f64) -> Vec<f64> {
        self.samples
            .get(&(test, peer))
            .map(|v| v.iter().map(&f).collect())
            .unwrap_or_default()
    }

    /// Median over rounds of a figure.
    pub fn median_of(&self, test: usize, peer: usize, f: impl Fn(&Sample) -> f64) -> f64 {
        median(&self.column(test, peer, f))
    }

    /// The index of the peer called `name`.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.peers.iter().position(|p| p.name == name)
    }

    /// Makes the first of `names` that started the row the ratios are taken
    /// from (revio on epoll, or on io_uring where epoll did not start).
    pub fn prefer_revio(&mut self, names: &[&str]) {
        if let Some(i) = names
            .iter()
            .filter_map(|n| self.index(n))
            .find(|&i| self.peers[i].skipped.is_none())
            .or_else(|| names.iter().find_map(|n| self.index(n)))
        {
            self.revio = i;
        }
    }

    /// The ratio in `peer`'s row is `over`'s figure divided by its own, and
    /// the pair is called `label`; nothing if either peer is not in the table.
    pub fn compare(&mut self, over: &str, peer: &str, label: &str) {
        if let (Some(o), Some(p)) = (self.index(over), self.index(peer)) {
            self.against.insert(p, (o, label.to_string()));
        }
    }

    /// The row whose figures `peer`'s ratio divides by its own, if any.
    pub fn over(&self, peer: usize) -> Option<usize> {
        match self.against.get(&peer) {
            Some(&(o, _)) => Some(o),
            None => (self.against.is_empty() && peer != self.revio).then_some(self.revio),
        }
    }

    /// What the ratio in `peer`'s row compares, as the tables and the summary say it.
    pub fn label(&self, peer: usize) -> String {
        match self.against.get(&peer) {
            Some((_, label)) => label.clone(),
            None => self.ratio_of.clone(),
        }
    }

    /// Median over rounds of the figure of the row `peer` is compared with
    /// (see [`Table::over`]) divided by the peer's, both from the same round.
    pub fn ratio(&self, test: usize, peer: usize, f: impl Fn(&Sample) -> f64 + Copy) -> f64 {
        self.over(peer)
            .map_or(f64::NAN, |o| self.ratio_between(test, o, peer, f))
    }

    /// Median over rounds of `over`'s figure divided by `peer`'s, both from the same round.
    pub fn ratio_between(
        &self,
        test: usize,
        over: usize,
        peer: usize,
        f: impl Fn(&Sample) -> f64 + Copy,
    ) -> f64 {
        let a = self.column(test, over, f);
        let b = self.column(test, peer, f);
        let r: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x / y).collect();
        median(&r)
    }

    /// The table as markdown.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "### {}\n", self.title);
        if !self.note.is_empty() {
            let _ = writeln!(s, "{}\n", self.note);
        }
        let u = self.unit;
        let mut head = format!("| test | peer | {u}/s | k {u}/CPU-s | µs CPU/{u} |");
        let mut rule = "|---|---|---:|---:|---:|".to_string();
        for c in &self.extra_cols {
            let _ = write!(head, " {c} |");
            rule.push_str("---:|");
        }
        if self.against.is_empty() {
            let r = &self.ratio_of;
            let _ = write!(head, " {r}, {u}/s | {r}, per CPU-s |");
            rule.push_str("---:|---:|");
        } else {
            let _ = write!(head, " ratio of | ratio, {u}/s | ratio, per CPU-s |");
            rule.push_str("---|---:|---:|");
        }
        let _ = writeln!(s, "{head}\n{rule}");
        for (t, test) in self.tests.iter().enumerate() {
            for (p, peer) in self.peers.iter().enumerate() {
                if let Some(why) = &peer.skipped {
                    if t == 0 {
                        let _ = writeln!(s, "| (all) | {} | skipped: {why} |", peer.name);
                    }
                    continue;
                }
                if self.applies(t, p) {
                    let _ = writeln!(s, "| {test} | {} | {}", peer.name, self.row(t, p));
                }
            }
        }
        s
    }

    /// The cells of a row after the test and the peer: the figures, or the
    /// error the peer answered.
    fn row(&self, t: usize, p: usize) -> String {
        if let Some(e) = self.errors.get(&(t, p)) {
            let named = usize::from(!self.against.is_empty());
            let blanks = " |".repeat(4 + named + self.extra_cols.len());
            return format!("**error**: {} |{blanks}", e.replace('|', "\\|"));
        }
        let per_cpu = self.median_of(t, p, |x| x.per_cpu);
        let mut row = format!(
            "{} | {} | {} |",
            fmt_k(self.median_of(t, p, |x| x.rate)),
            fmt_num(per_cpu / 1e3),
            fmt_num(1e6 / per_cpu)
        );
        for c in &self.extra_cols {
            let v = self.median_of(t, p, |x| *x.extra.get(c).unwrap_or(&f64::NAN));
            let _ = write!(row, " {} |", fmt_num(v));
        }
        let over = self.over(p).filter(|&o| self.applies(t, o));
        if !self.against.is_empty() {
            match over {
                Some(o) => {
                    let _ = write!(row, " {}: {} ÷ this |", self.label(p), self.peers[o].name);
                }
                None => row.push_str(" |"),
            }
        }
        if over.is_none() {
            row.push_str(" | |");
        } else {
            let _ = write!(
                row,
                " {} | {} |",
                fmt_ratio(self.ratio(t, p, |x| x.rate)),
                fmt_ratio(self.ratio(t, p, |x| x.per_cpu))
            );
        }
        row
    }
}

pub fn median(v: &[f64]) -> f64 {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

pub fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        "n/a".into()
    } else if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

pub fn fmt_k(x: f64) -> String {
    if !x.is_finite() {
        "n/a".into()
    } else {
        format!("{}k", fmt_num(x / 1e3))
    }
}

pub fn fmt_ratio(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.2}x")
    } else {
        "n/a".into()
    }
}

/// Draws µs of server CPU per request (median), one panel per table, one bar
/// per peer and test.
pub fn chart(path: &Path, tables: &[&Table]) -> Result<(), String> {
    let tables: Vec<&&Table> = tables
        .iter()
        .filter(|t| t.in_chart && !t.samples.is_empty())
        .collect();
    if tables.is_empty() {
        return Ok(());
    }
    let height = 330 * tables.len() as u32;
    let root = SVGBackend::new(path, (1100, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let panels = root.split_evenly((tables.len(), 1));
    let colors = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(214, 39, 40),
        RGBColor(127, 127, 127),
        RGBColor(23, 190, 207),
    ];
    for (table, area) in tables.iter().zip(panels.iter()) {
        panel(table, area, &colors)?;
    }
    root.present().map_err(|e| e.to_string())
}

/// One panel of the chart: a bar per peer and test.
fn panel(
    table: &Table,
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    colors: &[RGBColor],
) -> Result<(), String> {
    let peers: Vec<usize> = (0..table.peers.len())
        .filter(|&p| table.peers[p].skipped.is_none())
        .collect();
    let (bottom, top) = extent(table, &peers);
    if top <= 0.0 {
        return Ok(());
    }
    // A log scale: pipelined requests cost a tenth of unpipelined ones.
    let floor = bottom / 2.0;
    let n = table.tests.len();
    let tests = table.tests.clone();
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!(
                "{}: µs of server CPU per {} (lower is better)",
                table.title, table.unit
            ),
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..n as f64, (floor..top * 2.0).log_scale())
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - i as f64 - 0.5).abs() < 0.01 && i < tests.len() {
                tests[i].clone()
            } else {
                String::new()
            }
        })
        .y_desc("µs CPU (log scale)")
        .draw()
        .map_err(|e| e.to_string())?;
    let width = 0.8 / peers.len().max(1) as f64;
    for (k, &p) in peers.iter().enumerate() {
        let color = colors[k % colors.len()];
        let bars: Vec<Rectangle<(f64, f64)>> = (0..n)
            .filter(|&t| table.applies(t, p))
            .filter_map(|t| {
                let v = 1e6 / table.median_of(t, p, |x| x.per_cpu);
                let x0 = t as f64 + 0.1 + k as f64 * width;
                v.is_finite()
                    .then(|| Rectangle::new([(x0, floor), (x0 + width * 0.9, v)], color.filled()))
            })
            .collect();
        chart
            .draw_series(bars)
            .map_err(|e| e.to_string())?
            .label(table.peers[p].name.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// The least and the most µs of server CPU per request among `peers`.
fn extent(table: &Table, peers: &[usize]) -> (f64, f64) {
    let (mut top, mut bottom) = (0f64, f64::INFINITY);
    for t in 0..table.tests.len() {
        for &p in peers {
            let v = 1e6 / table.median_of(t, p, |x| x.per_cpu);
            if v.is_finite() && v > 0.0 && table.applies(t, p) {
                top = top.max(v);
                bottom = bottom.min(v);
            }
        }
    }
    (bottom, top)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retain_measured_keeps_order_and_errors() {
        let peers = vec![Peer {
            name: "p".into(),
            skipped: None,
        }];
        let tests = ["a", "b", "c", "d"].map(String::from).to_vec();
        let mut t = Table::new("t", "req", tests, peers);
        t.record(1, 0, 0, Some(Sample::default()));
        t.record(3, 0, 0, None);
        t.errors.insert((3, 0), "ERR".into());
        t.retain_measured();
        assert_eq!(t.tests, ["b", "d"]);
        assert!(t.samples.contains_key(&(0, 0)) && t.samples.contains_key(&(1, 0)));
        assert_eq!(t.errors.get(&(1, 0)).map(String::as_str), Some("ERR"));
        assert!(t.markdown().contains("| d | p | **error**: ERR |"));
    }
}
