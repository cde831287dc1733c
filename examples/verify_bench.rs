//! Builds a synthetic, fully signed export of N entries (disclosures of one STIX indicator,
//! each acknowledged, a checkpoint every 16 entries) and writes it to a file, so that
//! `borderlog verify FILE` can be timed on it:
//!
//! ```sh
//! cargo run --release --example verify_bench -- 1000000 /tmp/1m.export [--payloads]
//! /usr/bin/time -v target/release/borderlog verify /tmp/1m.export
//! ```
//!
//! Without `--payloads` the export is an auditor's (commitments only); with it, the sender's
//! (payloads, so every item is also replayed through the guard).

use std::io::BufWriter;

use borderlog::audit::export::RecordWriter;
use borderlog::audit::synthetic::{Builder, indicator};
use borderlog::pb::export_record::Record;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let entries: u64 = args.get(1).map_or(Ok(1_000_000), |s| s.parse())?;
    let path = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| "verify-bench.export".into());
    let payloads = args.iter().any(|a| a == "--payloads");
    // Genesis + policy, then (disclosure, receipt) pairs.
    let pairs = entries.saturating_sub(2) / 2;
    let size = 2 + 2 * pairs;

    let started = std::time::Instant::now();
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
        "wrote {size} entries ({}) to {path} in {:.1} s",
        if payloads {
            "with payloads"
        } else {
            "commitments only"
        },
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
