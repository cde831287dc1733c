//! The verifier's benchmark (issue 4): builds a synthetic, fully signed export of N entries
//! (disclosures of one STIX indicator, each acknowledged, a checkpoint every 16 entries),
//! writes it to a file, then verifies that file the way `borderlog verify FILE` does and
//! reports wall time, CPU time and peak memory:
//!
//! ```sh
//! cargo run --release --example verify_bench -- 1000000 /tmp/1m.export [--payloads] [--keep] [--spill-after=N]
//! /usr/bin/time -v target/release/borderlog verify /tmp/1m.export   # the same, from outside
//! ```
//!
//! Without `--payloads` the export is an auditor's (commitments only); with it, the sender's
//! (payloads, so every item is also replayed through the guard). The file is removed after the
//! run unless `--keep` is given. CPU time and peak RSS are read from /proc (Linux); the peak is
//! the whole process's, building included (building streams to the file and stays small).

use std::io::{BufReader, BufWriter};
use std::time::Instant;

use borderlog::audit::export::{RecordReader, RecordWriter};
use borderlog::audit::synthetic::{Builder, indicator};
use borderlog::audit::verify::{Auditor, VerifyOptions};
use borderlog::pb::export_record::Record;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let entries: u64 = args.get(1).map_or(Ok(1_000_000), |s| s.parse())?;
    let path = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| "verify-bench.export".into());
    let payloads = args.iter().any(|a| a == "--payloads");
    let keep = args.iter().any(|a| a == "--keep");
    // `--spill-after=N`: the verifier's memory budget in claims (default DEFAULT_SPILL_AFTER).
    let spill_after = args
        .iter()
        .find_map(|a| a.strip_prefix("--spill-after="))
        .map(str::parse)
        .transpose()?;
    // Genesis + policy, then (disclosure, receipt) pairs.
    let pairs = entries.saturating_sub(2) / 2;
    let size = 2 + 2 * pairs;

    let started = Instant::now();
    let mut b = Builder::new(payloads);
    if let Some(Record::Header(h)) = &mut b.records[0].record {
        h.tree_size = size;
    }
    b.checkpoint();
    let mut out = RecordWriter::new(BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(&path)?,
    ));
    for n in 0..pairs {
        let (i, leaf) = b.disclosure(n, &[indicator(n)]);
        b.receipt(i, &leaf);
        if (n + 1) % 8 == 0 || n + 1 == pairs {
            b.checkpoint();
            for r in b.records.drain(..) {
                out.write(&r)?;
            }
        }
    }
    for r in b.records.drain(..) {
        out.write(&r)?;
    }
    out.finish()?;
    eprintln!(
        "wrote {size} entries ({}) to {path} in {:.1} s; peak RSS so far {} MiB",
        if payloads {
            "with payloads"
        } else {
            "commitments only"
        },
        started.elapsed().as_secs_f64(),
        peak_rss_kib().unwrap_or(0) / 1024
    );

    // Verify it as `borderlog verify FILE` does: one reader, workers on every core.
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let mut auditor = Auditor::new(VerifyOptions {
        threads,
        spill_after,
        ..Default::default()
    });
    let mut reader = RecordReader::new(BufReader::with_capacity(
        1 << 20,
        std::fs::File::open(&path)?,
    ));
    while let Some(record) = reader.next_record()? {
        auditor.push(record)?;
    }
    let report = auditor.finish()?;
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds().zip(cpu_before).map(|(a, b)| a - b);
    println!(
        "verified {} entries ({} signatures, guard replays: {} items, {} bodies) with {threads} worker threads: \
         {wall:.2} s wall, {} CPU, peak RSS {}; {} claims checked by the sort-merge on disk",
        report.entries,
        report.signatures,
        report.replays_passed,
        report.body_replays_passed,
        cpu.map_or("?".into(), |c| format!("{c:.2} s")),
        peak_rss_kib().map_or("?".into(), |k| format!("{} MiB", k / 1024)),
        report.claims_spilled,
    );
    if !keep {
        std::fs::remove_file(&path)?;
    }
    Ok(())
}

/// The process's peak resident set (VmHWM), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User + system CPU time of the whole process (all threads), in seconds.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    // Clock ticks; Linux has used 100 per second on every mainstream architecture.
    Some((utime + stime) / 100.0)
}
