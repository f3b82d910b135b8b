//! What one run measured: per-request records, the summary line and the optional CSV log.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::args::Args;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Outcome {
    Status(u16),
    /// No full answer within --timeout.
    Timeout,
    /// The TCP connection was refused or failed.
    Connect,
    /// The connection broke during the exchange.
    Io,
    /// Still queued when sending stopped (duration + timeout): the target fell that far behind.
    Late,
}

impl Outcome {
    fn label(self) -> String {
        match self {
            Outcome::Status(s) => s.to_string(),
            Outcome::Timeout => "timeout".into(),
            Outcome::Connect => "connect".into(),
            Outcome::Io => "io".into(),
            Outcome::Late => "late".into(),
        }
    }
}

pub struct Record {
    pub seq: u64,
    pub due: Instant,
    /// From the due time to the end of the answer (or of the failure).
    pub latency: Duration,
    pub outcome: Outcome,
}

/// The value at quantile Q (0..1) of SORTED (nearest rank), in milliseconds.
fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

/// The OPENLOOP_JSON object: latency over every answer (any status), errors by kind, statuses by
/// class. `rate_achieved` is answers per second of the whole run.
pub fn summary(args: &Args, records: &[Record], elapsed: Duration) -> String {
    let mut latencies: Vec<Duration> = Vec::with_capacity(records.len());
    let mut classes: BTreeMap<String, u64> = BTreeMap::new();
    let mut errors: BTreeMap<String, u64> =
        ["timeout", "connect", "io", "late"].iter().map(|k| (k.to_string(), 0)).collect();
    for r in records {
        match r.outcome {
            Outcome::Status(s) => {
                latencies.push(r.latency);
                *classes.entry(format!("{}xx", s / 100)).or_default() += 1;
            }
            other => *errors.entry(other.label()).or_default() += 1,
        }
    }
    latencies.sort_unstable();
    let answers = latencies.len() as u64;
    let mean = if latencies.is_empty() {
        0.0
    } else {
        latencies.iter().map(Duration::as_secs_f64).sum::<f64>() * 1000.0 / answers as f64
    };
    let obj = |m: &BTreeMap<String, u64>| {
        let parts: Vec<String> = m.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        format!("{{{}}}", parts.join(","))
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "{{\"rate\":{},\"duration_s\":{},\"connections\":{},\"keepalive\":{},\"timeout_s\":{},\
         \"requests\":{},\"answers\":{},\"errors\":{},\"error_kinds\":{},\"status\":{},\
         \"elapsed_s\":{:.3},\"rate_achieved\":{:.1},\
         \"latency_ms\":{{\"mean\":{:.3},\"p50\":{:.3},\"p90\":{:.3},\"p95\":{:.3},\"p99\":{:.3},\"p999\":{:.3},\"max\":{:.3}}}}}",
        args.rate,
        args.duration,
        args.connections,
        args.keepalive,
        args.timeout.as_secs_f64(),
        records.len(),
        answers,
        records.len() as u64 - answers,
        obj(&errors),
        obj(&classes),
        elapsed.as_secs_f64(),
        answers as f64 / elapsed.as_secs_f64().max(1e-9),
        mean,
        quantile_ms(&latencies, 0.50),
        quantile_ms(&latencies, 0.90),
        quantile_ms(&latencies, 0.95),
        quantile_ms(&latencies, 0.99),
        quantile_ms(&latencies, 0.999),
        latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
    );
    out
}

/// seq,due_unix_s,latency_ms,outcome, in due order.
pub fn write_log(path: &Path, records: &[Record], start: Instant, wall_start: Duration) -> std::io::Result<()> {
    let mut sorted: Vec<&Record> = records.iter().collect();
    sorted.sort_by_key(|r| r.seq);
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(f, "seq,due_unix_s,latency_ms,outcome")?;
    for r in sorted {
        // `start` is 20 ms after wall_start was read; due times before `start` do not occur.
        let due = wall_start.as_secs_f64() + 0.020 + r.due.saturating_duration_since(start).as_secs_f64();
        writeln!(f, "{},{:.6},{:.3},{}", r.seq, due, r.latency.as_secs_f64() * 1000.0, r.outcome.label())?;
    }
    f.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<Duration> = (1..=1000).map(Duration::from_millis).collect();
        assert_eq!(quantile_ms(&v, 0.5), 500.0);
        assert_eq!(quantile_ms(&v, 0.99), 990.0);
        assert_eq!(quantile_ms(&v, 0.999), 999.0);
        assert_eq!(quantile_ms(&[], 0.5), 0.0);
    }
}
