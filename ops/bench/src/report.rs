//! One result line per comparison, and the summary table of a whole run.

use std::fmt;
use std::time::Duration;

/// A measured quantity, shown in its natural unit.
#[derive(Debug, Clone, Copy)]
pub enum Quantity {
    /// Things per second (commands, events); higher is better.
    Rate(f64),
    /// Elapsed time or latency; lower is better.
    Time(Duration),
}

impl Quantity {
    fn value(self) -> f64 {
        match self {
            Quantity::Rate(rate) => rate,
            Quantity::Time(time) => time.as_secs_f64(),
        }
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Quantity::Rate(rate) => write!(f, "{rate:.0}/s"),
            Quantity::Time(time) if time >= Duration::from_secs(1) => write!(f, "{:.1}s", time.as_secs_f64()),
            Quantity::Time(time) => write!(f, "{:.2}ms", time.as_secs_f64() * 1e3),
        }
    }
}

/// What the ratio maestro / reference should be.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    AtLeast(f64),
    AtMost(f64),
    /// Reported for information only.
    None,
}

impl Target {
    fn met(self, ratio: f64) -> Option<bool> {
        match self {
            Target::AtLeast(bound) => Some(ratio >= bound),
            Target::AtMost(bound) => Some(ratio <= bound),
            Target::None => None,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::AtLeast(bound) => write!(f, "target >= {bound}"),
            Target::AtMost(bound) => write!(f, "target <= {bound}"),
            Target::None => f.write_str("no target"),
        }
    }
}

/// Maestro beside its reference, measured in the same run.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub name: &'static str,
    pub maestro: Quantity,
    pub reference: Quantity,
    pub target: Target,
}

impl Comparison {
    pub fn ratio(&self) -> f64 {
        self.maestro.value() / self.reference.value()
    }

    pub fn met(&self) -> Option<bool> {
        self.target.met(self.ratio())
    }

    /// e.g. `append-single      maestro 5234/s  reference 10800/s  ratio 0.48  (target >= 0.5: MISSED)`
    pub fn line(&self) -> String {
        let verdict = match self.met() {
            Some(true) => ": met",
            Some(false) => ": MISSED",
            None => "",
        };
        format!(
            "{:<18} maestro {:>9}  reference {:>9}  ratio {:>5.2}  ({}{verdict})",
            self.name,
            self.maestro.to_string(),
            self.reference.to_string(),
            self.ratio(),
            self.target,
        )
    }
}

/// A detail beside the result lines: what was measured, sizes, counts.
pub fn note(text: impl fmt::Display) {
    println!("   {text}");
}

pub fn print_summary(results: &[Comparison], failed: &[&str]) {
    println!();
    println!("== summary");
    results.iter().for_each(|c| println!("{}", c.line()));
    failed
        .iter()
        .for_each(|name| println!("{name:<18} FAILED (see the error above)"));
    let missed = results.iter().filter(|c| c.met() == Some(false)).count();
    let checked = results.iter().filter(|c| c.met().is_some()).count();
    println!("{} of {checked} targets met", checked - missed);
}
