//! The figures, the remarks beside them, and how numbers are written.

use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Figure {
    scope: String,
    name: String,
    value: String,
    unit: String,
    notes: String,
}

#[derive(Debug, Default)]
pub struct Report {
    figures: Vec<Figure>,
    /// Things worth reading beside the figures (errors, server log lines).
    remarks: Vec<String>,
}

impl Report {
    pub fn add(&mut self, scope: &str, name: impl Into<String>, value: String, unit: &str, notes: impl Into<String>) {
        let figure =
            Figure { scope: scope.to_owned(), name: name.into(), value, unit: unit.to_owned(), notes: notes.into() };
        eprintln!("  -> {} | {} | {} {} | {}", figure.scope, figure.name, figure.value, figure.unit, figure.notes);
        self.figures.push(figure);
    }

    pub fn remark(&mut self, text: impl Into<String>) {
        let text = text.into();
        eprintln!("  !! {text}");
        self.remarks.push(text);
    }

    pub fn print(&self) {
        let width =
            |f: fn(&Figure) -> &str, min: usize| self.figures.iter().map(|x| f(x).len()).max().unwrap_or(0).max(min);
        let (ws, wn, wv, wu) =
            (width(|f| &f.scope, 5), width(|f| &f.name, 6), width(|f| &f.value, 5), width(|f| &f.unit, 4));
        println!("{:<ws$}  {:<wn$}  {:>wv$}  {:<wu$}  notes", "scope", "figure", "value", "unit");
        println!("{}", "-".repeat(ws + wn + wv + wu + 16));
        for f in &self.figures {
            println!("{:<ws$}  {:<wn$}  {:>wv$}  {:<wu$}  {}", f.scope, f.name, f.value, f.unit, f.notes);
        }
        if !self.remarks.is_empty() {
            println!();
            println!("remarks:");
            for remark in &self.remarks {
                println!("  - {remark}");
            }
        }
    }
}

pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The value at quantile `q` (0..=1) of sorted samples (nearest rank).
pub fn quantile<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// "none", or "HTTP 503 ×12, timeout ×3".
pub fn describe_errors(errors: &BTreeMap<String, usize>) -> String {
    if errors.is_empty() {
        return "errors: none".to_owned();
    }
    let parts: Vec<String> = errors.iter().map(|(kind, count)| format!("{kind} x{count}")).collect();
    format!("ERRORS: {}", parts.join(", "))
}

pub struct Stats {
    pub mean: f64,
    pub p50: f64,
    pub p99: f64,
}

pub fn stats(samples: &[Duration]) -> Stats {
    let mut sorted: Vec<f64> = samples.iter().map(|d| ms(*d)).collect();
    sorted.sort_by(f64::total_cmp);
    let mean = sorted.iter().sum::<f64>() / sorted.len().max(1) as f64;
    Stats { mean, p50: quantile(&sorted, 0.5).unwrap_or(0.0), p99: quantile(&sorted, 0.99).unwrap_or(0.0) }
}

pub fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}
